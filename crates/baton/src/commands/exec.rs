//! `baton exec SELECTOR -- CMD`: an ad-hoc command on nodes in parallel; output grouped per
//! node (or streamed with `--stream`), then a summary. Exit 1 if any node failed or was
//! unreachable.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use baton_engine::{Engine, EventSink, ExecRequest};
use baton_store::{Event, EventKind, Millis, Status};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Style, Ui};
use crate::cli::{Cli, ExecArgs};
use crate::output;
use baton_ops::NodeTargets;

#[derive(Debug, Clone, Serialize)]
struct NodeResult {
    node: String,
    /// `ok`, `failed` or `unreachable`.
    result: &'static str,
    status: Status,
    exit_code: Option<i32>,
    signal: Option<i32>,
    reason: Option<String>,
    duration_ms: i64,
    output: String,
}

#[derive(Default)]
struct Collected {
    started: HashMap<String, Millis>,
    output: HashMap<String, Vec<u8>>,
    partial: HashMap<String, Vec<u8>>,
    results: Vec<NodeResult>,
}

/// Collects per-node output and prints it as the mode asks.
struct ExecView {
    ui: Ui,
    stream: bool,
    quiet: bool,
    width: usize,
    state: Mutex<Collected>,
}

impl ExecView {
    fn print_block(&self, result: &NodeResult) {
        let mut out = std::io::stdout().lock();
        let mark = self.ui.paint(
            output::status_style(result.status),
            output::mark(result.status),
        );
        let detail = match (result.result, &result.reason) {
            ("ok", _) => format!("exit 0, {}", output::duration(result.duration_ms)),
            (_, Some(reason)) => format!("{reason}, {}", output::duration(result.duration_ms)),
            _ => output::duration(result.duration_ms),
        };
        let _ = writeln!(
            out,
            "{mark} {} {}",
            self.ui.paint(Style::Bold, &result.node),
            self.ui.paint(Style::Dim, &detail)
        );
        for line in result.output.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
}

impl EventSink for ExecView {
    fn event(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &event.kind {
            EventKind::StepStarted { step } => {
                state.started.insert(step.target.clone(), event.at);
            }
            EventKind::Output { step, data } => {
                if self.stream && !self.quiet {
                    let partial = state.partial.entry(step.target.clone()).or_default();
                    partial.extend_from_slice(data);
                    if let Some(end) = partial.iter().rposition(|b| *b == b'\n') {
                        let complete: Vec<u8> = partial.drain(..=end).collect();
                        let prefix = self.ui.paint(
                            Style::Dim,
                            &format!("{:<w$} │", step.target, w = self.width),
                        );
                        let mut out = std::io::stdout().lock();
                        for line in String::from_utf8_lossy(&complete).lines() {
                            let _ = writeln!(out, "{prefix} {line}");
                        }
                    }
                } else {
                    state
                        .output
                        .entry(step.target.clone())
                        .or_default()
                        .extend_from_slice(data);
                }
            }
            EventKind::StepFinished {
                step,
                status,
                exit_code,
                signal,
                reason,
            } => {
                let started = state.started.get(&step.target).copied().unwrap_or(event.at);
                let result = match (status, reason) {
                    (Status::Success, _) => "ok",
                    (_, Some(r)) if r.starts_with("unreachable") => "unreachable",
                    _ => "failed",
                };
                let bytes = state.output.remove(&step.target).unwrap_or_default();
                let result = NodeResult {
                    node: step.target.clone(),
                    result,
                    status: *status,
                    exit_code: *exit_code,
                    signal: *signal,
                    reason: reason
                        .clone()
                        .map(|r| r.trim_start_matches("unreachable: ").to_string()),
                    duration_ms: event.at - started,
                    output: String::from_utf8_lossy(&bytes).into_owned(),
                };
                if !self.stream && !self.quiet {
                    self.print_block(&result);
                }
                state.results.push(result);
            }
            _ => {}
        }
    }
}

pub fn run(cli: &Cli, ui: &Ui, args: &ExecArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let targets = Arc::new(NodeTargets::new(&app.project));
    let width = app
        .project
        .nodes
        .keys()
        .map(|n| n.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let view = Arc::new(ExecView {
        ui: *ui,
        stream: args.stream,
        quiet: args.json,
        width,
        state: Mutex::default(),
    });
    let engine = Engine::new(
        app.project.clone(),
        app.store.clone(),
        targets.clone(),
        vec![view.clone()],
        app.state_dir.clone(),
    );
    let request = ExecRequest {
        selector: args.selector.clone(),
        command: args.command.join(" "),
        timeout: args.timeout,
        env: args.env.clone(),
        actor: baton_ops::cli_actor(),
    };
    let runtime = crate::app::runtime()?;
    let outcome = runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::commands::run::watch_signals(cancel.clone());
        let outcome = engine.exec(request, cancel).await;
        targets.disconnect_all().await;
        outcome
    })?;
    runtime.shutdown_background();

    let mut results = view
        .state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .results
        .clone();
    let order: Vec<&String> = app.project.nodes.keys().collect();
    results.sort_by_key(|r| {
        order
            .iter()
            .position(|n| **n == r.node)
            .unwrap_or(usize::MAX)
    });
    let count = |what: &str| results.iter().filter(|r| r.result == what).count();
    let (ok, failed, unreachable) = (count("ok"), count("failed"), count("unreachable"));
    if args.json {
        output::print_json(&serde_json::json!({
            "run": outcome.run,
            "nodes": results,
            "summary": { "ok": ok, "failed": failed, "unreachable": unreachable },
        }));
    } else {
        if args.stream {
            for r in results.iter().filter(|r| r.result != "ok") {
                let why = r.reason.clone().unwrap_or_default();
                println!(
                    "{} {} {}",
                    ui.paint(Style::Bad, output::mark(r.status)),
                    r.node,
                    ui.paint(Style::Dim, &why)
                );
            }
        }
        let part = |n: usize, word: &str, style: Style| {
            let text = format!("{n} {word}");
            if n > 0 { ui.paint(style, &text) } else { text }
        };
        println!(
            "{} · {} · {}   (run {})",
            part(ok, "ok", Style::Ok),
            part(failed, "failed", Style::Bad),
            part(unreachable, "unreachable", Style::Bad),
            outcome.run
        );
    }
    Ok(if failed + unreachable == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}
