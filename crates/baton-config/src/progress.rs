//! What an apply or rollback reports while it works. In a `config` run ([`EventProgress`]) a
//! config is a stage and each target node a step, so `baton runs/show/logs/cancel` and the
//! terminal's event renderer treat it like any run. Inside a pipeline's `config:` step the same
//! reports become lines of that step's log ([`StepLog`]), written by the same [`node_line`].

use std::collections::HashMap;
use std::sync::Mutex;

use baton_engine::Emitter;
use baton_store::{EventKind, Phase, Status, StepRef};
use tokio::sync::mpsc::UnboundedSender;

use crate::{ConfigError, NodeReport, Report};

/// One node's step of one config: what events name it by.
#[derive(Debug, Clone)]
pub struct NodeStep {
    pub config: String,
    pub node: String,
    /// The node's position among the config's targets.
    pub index: u32,
    /// What the step does, e.g. `apply nginx.conf`.
    pub label: String,
}

/// Receives the progress of config actions. Called from concurrent tasks.
pub trait Progress: Send + Sync {
    fn config_started(&self, _config: &str) {}
    fn node_started(&self, _step: &NodeStep) {}
    fn node_output(&self, _step: &NodeStep, _data: &[u8]) {}
    /// A handler of `step` runs in local process group `pgid`: recorded so that, should this
    /// process die, the next command kills it (an interrupted `on_change` must not go on).
    fn node_process_group(&self, _step: &NodeStep, _pgid: i32) {}
    fn node_finished(&self, _step: &NodeStep, _report: &NodeReport) {}
    fn config_finished(&self, _config: &str, _result: Result<&Report, &ConfigError>) {}
    /// A note for people: waiting for a lock, a lock taken over, pending handlers found.
    fn note(&self, _text: &str) {}
}

/// Reports nowhere (validate, diff, check).
pub struct Silent;

impl Progress for Silent {}

/// The line a node's outcome is logged as, in a run's step and in a `config:` step alike.
pub fn node_line(report: &NodeReport) -> String {
    let reason = report
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!(
        "{} {} {}{reason}\n",
        report.node, report.path, report.result
    )
}

/// The status of a node's step.
pub fn node_status(report: &NodeReport) -> Status {
    match report.result {
        "failed" => Status::Failed,
        "cancelled" => Status::Cancelled,
        _ => Status::Success,
    }
}

/// The last line of a config's stage log.
pub fn summary_line(report: &Report) -> String {
    let count = |what: &[&str]| {
        report
            .nodes
            .iter()
            .filter(|n| what.contains(&n.result))
            .count()
    };
    let mut line = format!(
        "{} changed · {} unchanged · {} failed",
        report.changed(),
        count(&["unchanged"]),
        count(&["failed"])
    );
    let cancelled = count(&["cancelled"]);
    if cancelled > 0 {
        line.push_str(&format!(" · {cancelled} cancelled"));
    }
    match report.version {
        Some(v) => line.push_str(&format!(" → version {v}")),
        None => line.push_str(&format!(" (version {} unchanged)", report.current)),
    }
    if let Some(pending) = pending_line(report) {
        line.push_str(&format!(" · {pending}"));
    }
    line
}

/// "1 pending handler from run 7 ran" / "2 handlers left pending (they run on the next
/// apply)".
pub fn pending_line(report: &Report) -> Option<String> {
    let mut parts = Vec::new();
    let ran: Vec<Option<i64>> = report.nodes.iter().filter_map(|n| n.pending_from).collect();
    if !ran.is_empty() {
        let mut runs: Vec<String> = ran
            .iter()
            .map(|r| {
                r.map(|r| format!("run {r}"))
                    .unwrap_or("an earlier run".into())
            })
            .collect();
        runs.dedup();
        let s = if ran.len() == 1 { "" } else { "s" };
        parts.push(format!(
            "{} pending handler{s} from {} ran",
            ran.len(),
            runs.join(", ")
        ));
    }
    let left = report.pending();
    if left > 0 {
        let s = if left == 1 { "" } else { "s" };
        parts.push(format!(
            "{left} handler{s} left pending (they run on the next apply)"
        ));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// Progress as the events of a `config` run: a stage per config, a step per node. The
/// emitter masks secret values before the store or any sink sees them.
pub struct EventProgress {
    emitter: Emitter,
    started: Mutex<HashMap<(String, String), StepRef>>,
}

impl EventProgress {
    pub fn new(emitter: Emitter) -> EventProgress {
        EventProgress {
            emitter,
            started: Mutex::default(),
        }
    }

    fn step(&self, step: &NodeStep) -> StepRef {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        started
            .entry((step.config.clone(), step.node.clone()))
            .or_insert_with(|| StepRef {
                stage: step.config.clone(),
                target: step.node.clone(),
                phase: Phase::Main,
                index: step.index,
                attempt: 1,
                label: step.label.clone(),
            })
            .clone()
    }
}

impl Progress for EventProgress {
    fn config_started(&self, config: &str) {
        self.emitter.emit(EventKind::StageStarted {
            stage: config.to_string(),
            targets: None,
        });
    }

    fn node_started(&self, step: &NodeStep) {
        let step = self.step(step);
        self.emitter.emit(EventKind::StepStarted { step });
    }

    fn node_output(&self, step: &NodeStep, data: &[u8]) {
        let step = self.step(step);
        self.emitter.emit(EventKind::Output {
            step,
            data: data.to_vec(),
        });
    }

    fn node_process_group(&self, step: &NodeStep, pgid: i32) {
        let step = self.step(step);
        // Best effort: the run still stops with its process; only a kill -9 needs this row.
        let _ = self
            .emitter
            .store()
            .set_step_process_group(self.emitter.run(), &step, pgid);
    }

    fn node_finished(&self, step: &NodeStep, report: &NodeReport) {
        let known = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&(step.config.clone(), step.node.clone()));
        if !known {
            self.node_started(step);
        }
        self.node_output(step, node_line(report).as_bytes());
        let step = self.step(step);
        let status = node_status(report);
        self.emitter.emit(EventKind::StepFinished {
            step,
            status,
            exit_code: None,
            signal: None,
            reason: (status != Status::Success)
                .then(|| report.reason.clone())
                .flatten(),
            cause: None,
        });
    }

    fn config_finished(&self, config: &str, result: Result<&Report, &ConfigError>) {
        let (status, reason) = match result {
            Ok(report) => {
                self.emitter
                    .message(format!("config {config}: {}", summary_line(report)));
                let status = if report.failed() > 0 {
                    Status::Failed
                } else if report.nodes.iter().any(|n| n.result == "cancelled") {
                    Status::Cancelled
                } else {
                    Status::Success
                };
                let reason = match status {
                    Status::Failed => Some(failed_reason(report)),
                    Status::Cancelled => Some("cancelled".to_string()),
                    _ => None,
                };
                (status, reason)
            }
            Err(ConfigError::Cancelled(_)) => (Status::Cancelled, Some("cancelled".into())),
            Err(e) => (Status::Failed, Some(e.to_string())),
        };
        self.emitter.emit(EventKind::StageFinished {
            stage: config.to_string(),
            status,
            reason,
        });
    }

    fn note(&self, text: &str) {
        self.emitter.message(text.to_string());
    }
}

/// Why a config failed, naming each failed node with its own reason.
pub fn failed_reason(report: &Report) -> String {
    let failed: Vec<String> = report
        .nodes
        .iter()
        .filter(|n| n.result == "failed")
        .map(|n| match &n.reason {
            Some(r) => format!("{}: {r}", n.node),
            None => n.node.clone(),
        })
        .collect();
    format!("config `{}` failed on {}", report.config, failed.join("; "))
}

/// Progress as lines of a `config:` step's log (the step is the parent run's; its output is
/// the step's output events). Lines go through a channel to the step, which owns the writer.
pub struct StepLog {
    pub lines: UnboundedSender<Vec<u8>>,
}

impl Progress for StepLog {
    fn node_output(&self, _step: &NodeStep, data: &[u8]) {
        let _ = self.lines.send(data.to_vec());
    }

    fn node_finished(&self, _step: &NodeStep, report: &NodeReport) {
        let _ = self.lines.send(node_line(report).into_bytes());
    }

    fn config_finished(&self, config: &str, result: Result<&Report, &ConfigError>) {
        if let Ok(report) = result {
            let _ = self
                .lines
                .send(format!("config `{config}`: {}\n", summary_line(report)).into_bytes());
        }
    }

    fn note(&self, text: &str) {
        let _ = self.lines.send(format!("note: {text}\n").into_bytes());
    }
}
