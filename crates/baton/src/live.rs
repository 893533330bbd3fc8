//! Live progress of a run on the terminal: a spinner per running stage with its latest output
//! line on a terminal, plain lines when piped. Failed steps show the tail of their output.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use baton_engine::EventSink;
use baton_store::{Event, EventKind, Millis, Status, StepRef};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::{Style, Ui};
use crate::output;

/// Bytes of output kept per step to show when it fails.
const TAIL_BYTES: usize = 8 * 1024;
/// Lines of that tail shown.
const TAIL_LINES: usize = 15;

pub struct LiveView {
    ui: Ui,
    /// Printed before the first event, once the run number is known.
    header: Mutex<Option<String>>,
    verbose: bool,
    name_width: usize,
    bars: Option<MultiProgress>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    started: HashMap<String, Millis>,
    spinners: HashMap<String, ProgressBar>,
    tails: HashMap<StepRef, Vec<u8>>,
    /// Failed steps of each stage, shown when the stage finishes.
    failures: HashMap<String, Vec<(StepRef, Option<String>)>>,
    /// Partial last line of each step's output, for verbose streaming.
    partial: HashMap<StepRef, Vec<u8>>,
    /// Targeted stages: how many nodes, and which have started (`deploy  3/5 nodes`).
    nodes: HashMap<String, (u32, std::collections::HashSet<String>)>,
}

impl LiveView {
    pub fn new(
        ui: Ui,
        header: String,
        verbose: bool,
        stage_names: impl Iterator<Item = usize>,
    ) -> LiveView {
        let name_width = stage_names.max().unwrap_or(8).max(8);
        let bars = ui
            .stdout_tty
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stdout()));
        LiveView {
            ui,
            header: Mutex::new(Some(header)),
            verbose,
            name_width,
            bars,
            state: Mutex::new(State::default()),
        }
    }

    fn print(&self, line: String) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(line);
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        }
    }

    fn who(&self, step: &StepRef) -> String {
        if step.target == baton_model::LOCAL_NODE {
            step.stage.clone()
        } else {
            format!("{}@{}", step.stage, step.target)
        }
    }

    fn stage_started(&self, state: &mut State, stage: &str, targets: Option<u32>, at: Millis) {
        state.started.insert(stage.to_string(), at);
        if let Some(total) = targets {
            state
                .nodes
                .insert(stage.to_string(), (total, Default::default()));
        }
        match &self.bars {
            Some(bars) => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(&format!(
                        "  {{spinner:.cyan}} {{prefix:<{}}}  {{elapsed:>4}}  {{wide_msg:.dim}}",
                        self.name_width
                    ))
                    .expect("static template")
                    .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
                );
                bar.set_prefix(stage.to_string());
                bar.enable_steady_tick(Duration::from_millis(100));
                state.spinners.insert(stage.to_string(), bar);
            }
            None => {
                let name = format!("{stage:<w$}", w = self.name_width);
                self.print(format!(
                    "  {} {name}  {}",
                    output::mark(Status::Running),
                    self.ui.paint(Style::Dim, "started")
                ));
            }
        }
    }

    fn output(&self, state: &mut State, step: &StepRef, data: &[u8]) {
        let tail = state.tails.entry(step.clone()).or_default();
        tail.extend_from_slice(data);
        if tail.len() > TAIL_BYTES * 2 {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
        if let Some(bar) = state.spinners.get(&step.stage)
            && let Some(line) = last_line(data)
        {
            bar.set_message(line);
        }
        if self.verbose {
            let partial = state.partial.entry(step.clone()).or_default();
            partial.extend_from_slice(data);
            if let Some(end) = partial.iter().rposition(|b| *b == b'\n') {
                let complete: Vec<u8> = partial.drain(..=end).collect();
                let who = self.ui.paint(Style::Dim, &format!("{} │", self.who(step)));
                for line in String::from_utf8_lossy(&complete).lines() {
                    self.print(format!("  {who} {line}"));
                }
            }
        }
    }

    fn stage_finished(
        &self,
        state: &mut State,
        stage: &str,
        status: Status,
        reason: Option<&str>,
        at: Millis,
    ) {
        let elapsed = state
            .started
            .remove(stage)
            .map(|s| output::duration(at - s))
            .unwrap_or_default();
        if let Some(bar) = state.spinners.remove(stage) {
            bar.finish_and_clear();
        }
        let mark = self
            .ui
            .paint(output::status_style(status), output::mark(status));
        let name = format!("{stage:<w$}", w = self.name_width);
        let word = format!("{:<9}", status.as_str());
        let mut line = format!(
            "  {mark} {name}  {}  {elapsed:>6}",
            self.ui.paint(output::status_style(status), &word)
        );
        if let Some(reason) = reason {
            line.push_str(&format!("  {}", self.ui.paint(Style::Dim, reason)));
        }
        self.print(line);
        if self.verbose {
            return;
        }
        for (step, _) in state.failures.remove(stage).unwrap_or_default() {
            let Some(tail) = state.tails.get(&step) else {
                continue;
            };
            let text = String::from_utf8_lossy(tail);
            let lines: Vec<&str> = text.lines().collect();
            let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
            if shown.is_empty() {
                continue;
            }
            let header = if step.target == baton_model::LOCAL_NODE {
                step.label.clone()
            } else {
                format!("{} on {}", step.label, step.target)
            };
            self.print(format!(
                "      {}",
                self.ui.paint(Style::Dim, &format!("┌ {header}"))
            ));
            for l in shown {
                self.print(format!("      {} {l}", self.ui.paint(Style::Dim, "│")));
            }
        }
    }
}

impl EventSink for LiveView {
    fn event(&self, event: &Event) {
        if let Some(header) = self.header.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.print(format!("{header} · run {}", event.run));
        }
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &event.kind {
            EventKind::StageStarted { stage, targets } => {
                self.stage_started(&mut state, stage, *targets, event.at)
            }
            EventKind::Output { step, data } => self.output(&mut state, step, data),
            EventKind::StepFinished {
                step,
                status,
                reason,
                ..
            } => {
                if status.is_failure() && *status != Status::Cancelled {
                    state
                        .failures
                        .entry(step.stage.clone())
                        .or_default()
                        .push((step.clone(), reason.clone()));
                } else if step.phase == baton_store::Phase::Main {
                    state.tails.remove(step);
                }
                state.partial.remove(step);
            }
            EventKind::StageFinished {
                stage,
                status,
                reason,
            } => self.stage_finished(&mut state, stage, *status, reason.as_deref(), event.at),
            EventKind::Message { text } => {
                self.print(format!(
                    "  {} {}",
                    self.ui.paint(Style::Dim, "·"),
                    self.ui.paint(Style::Dim, text)
                ));
            }
            EventKind::ArtifactStored {
                name,
                version,
                size,
                ..
            } => {
                self.print(format!(
                    "  {} {}",
                    self.ui.paint(Style::Dim, "·"),
                    self.ui.paint(
                        Style::Dim,
                        &format!("artifact {name} v{version} stored ({size} bytes)")
                    )
                ));
            }
            EventKind::StepStarted { step } => {
                if let Some((total, seen)) = state.nodes.get_mut(&step.stage) {
                    seen.insert(step.target.clone());
                    let prefix = format!("{}  {}/{total} nodes", step.stage, seen.len());
                    if let Some(bar) = state.spinners.get(&step.stage) {
                        bar.set_prefix(prefix);
                    }
                }
            }
            EventKind::RunStarted | EventKind::RunFinished { .. } => {}
        }
    }
}

/// The last non-empty line of a chunk, for the spinner's message. Only the chunk's tail is
/// decoded: chunks can be half a megabyte.
fn last_line(data: &[u8]) -> Option<String> {
    let tail = &data[data.len().saturating_sub(1024)..];
    let text = String::from_utf8_lossy(tail);
    let line = text.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(line.chars().take(200).collect())
}
