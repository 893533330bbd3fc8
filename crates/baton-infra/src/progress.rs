//! The one rendering of an apply's progress, from its step events: the terminal paints these
//! lines, the `infra:` pipeline step writes them to its log. Both read the same events, so
//! both say the same thing.

use std::collections::HashMap;
use std::sync::Mutex;

use baton_store::{Event, EventKind, Millis, Status, StepRef};

use crate::plan::Action;

/// What a line says, so a terminal can colour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressKind {
    Started,
    Done,
    Failed,
    Skipped,
    Cancelled,
}

/// One line of progress: `resource: <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressLine {
    pub resource: String,
    pub kind: ProgressKind,
    /// `creating…`, `creation complete`, `failed:`, `skipped:`, `cancelled`.
    pub head: String,
    /// Elapsed time (`Done`) or the reason (`Failed`, `Skipped`).
    pub tail: Option<String>,
}

impl ProgressLine {
    /// As plain text, without a newline.
    pub fn plain(&self) -> String {
        match &self.tail {
            Some(tail) => format!("{}: {} {tail}", self.resource, self.head),
            None => format!("{}: {}", self.resource, self.head),
        }
    }
}

/// Turns step events of an apply or destroy into lines; remembers start times for elapsed.
#[derive(Default)]
pub struct Progress {
    started: Mutex<HashMap<StepRef, Millis>>,
}

impl Progress {
    pub fn line(&self, event: &Event) -> Option<ProgressLine> {
        match &event.kind {
            EventKind::StepStarted { step } => {
                self.started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(step.clone(), event.at);
                let action = Action::from_verb(&step.label)?;
                Some(ProgressLine {
                    resource: step.target.clone(),
                    kind: ProgressKind::Started,
                    head: format!("{}…", progressive(action)),
                    tail: None,
                })
            }
            EventKind::StepFinished {
                step,
                status,
                reason,
                ..
            } => {
                let started = self
                    .started
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(step);
                let action = Action::from_verb(&step.label)?;
                let (kind, head, tail) = match status {
                    Status::Success => (
                        ProgressKind::Done,
                        format!("{} complete", noun(action)),
                        started.map(|s| format!("after {}", elapsed(event.at - s))),
                    ),
                    Status::Skipped => (
                        ProgressKind::Skipped,
                        "skipped:".to_string(),
                        reason.clone(),
                    ),
                    Status::Cancelled => (
                        ProgressKind::Cancelled,
                        format!("{} cancelled", noun(action)),
                        None,
                    ),
                    _ => (ProgressKind::Failed, "failed:".to_string(), reason.clone()),
                };
                Some(ProgressLine {
                    resource: step.target.clone(),
                    kind,
                    head,
                    tail,
                })
            }
            _ => None,
        }
    }
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "modifying",
        Action::Replace => "replacing",
        Action::Destroy => "destroying",
        Action::NoOp => "checking",
    }
}

fn noun(action: Action) -> &'static str {
    match action {
        Action::Create => "creation",
        Action::Update => "modifications",
        Action::Replace => "replacement",
        Action::Destroy => "destruction",
        Action::NoOp => "check",
    }
}

/// `340ms`, `2.5s`, `3m05s`, `1h02m` (as the CLI's tables show durations).
fn elapsed(ms: Millis) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    } else {
        format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60)
    }
}
