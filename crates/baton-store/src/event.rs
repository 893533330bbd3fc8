//! The event stream: what the engine reports, the store logs, the terminal and dashboard show.
//!
//! Events are self-describing (they carry names, not row ids) so a consumer that joins late, or
//! another process reading the store, can render them without extra lookups.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::record::{RunId, Status};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    pub run: RunId,
    pub at: Millis,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Which part of a run a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Main,
    Rollback,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Main => "main",
            Phase::Rollback => "rollback",
        }
    }
}

/// One step of a stage on one target: the unit that has a status, an exit code and a log.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StepRef {
    pub stage: String,
    pub target: String,
    pub phase: Phase,
    /// Position of the step in the stage (0-based).
    pub index: u32,
    /// 1 for the first try; retries count up.
    pub attempt: u32,
    /// What the step does, e.g. `run: cargo test`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted,
    RunFinished {
        status: Status,
        reason: Option<String>,
    },
    StageStarted {
        stage: String,
        /// How many nodes it runs on, when it is a targeted stage (progress: `3/5 nodes`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        targets: Option<u32>,
    },
    StageFinished {
        stage: String,
        status: Status,
        reason: Option<String>,
    },
    StepStarted {
        step: StepRef,
    },
    StepFinished {
        step: StepRef,
        status: Status,
        exit_code: Option<i32>,
        signal: Option<i32>,
        reason: Option<String>,
        /// Why it failed when the command's own result is not the answer; `None` for a
        /// command that ran and ended (or was cancelled).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<FailureCause>,
    },
    /// A chunk of a step's output (stdout and stderr interleaved as written). Bytes, not text:
    /// programs may print invalid UTF-8. Chunks end at line boundaries unless a line is huge.
    Output {
        step: StepRef,
        #[serde(with = "lossy_bytes")]
        data: Vec<u8>,
    },
    ArtifactStored {
        stage: String,
        name: String,
        version: i64,
        sha256: String,
        size: u64,
    },
    /// A note for people: queued behind another run, rollback starting, …
    Message {
        text: String,
    },
}

/// A step failure that is not the command's own exit: front ends classify on this, never on
/// the reason's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// The target could not be reached: the command never started.
    Unreachable,
    /// The connection was lost while the command ran: it may have finished or not.
    OutcomeUnknown,
}

impl FailureCause {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::Unreachable => "unreachable",
            FailureCause::OutcomeUnknown => "outcome_unknown",
        }
    }

    pub fn parse(text: &str) -> Option<FailureCause> {
        [FailureCause::Unreachable, FailureCause::OutcomeUnknown]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

impl EventKind {
    /// A short name, as stored in the event log's `kind` column.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStarted => "run_started",
            EventKind::RunFinished { .. } => "run_finished",
            EventKind::StageStarted { .. } => "stage_started",
            EventKind::StageFinished { .. } => "stage_finished",
            EventKind::StepStarted { .. } => "step_started",
            EventKind::StepFinished { .. } => "step_finished",
            EventKind::Output { .. } => "output",
            EventKind::ArtifactStored { .. } => "artifact_stored",
            EventKind::Message { .. } => "message",
        }
    }
}

/// Output travels as text on the wire (JSON, SSE); invalid UTF-8 becomes U+FFFD there only.
mod lossy_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(String::deserialize(d)?.into_bytes())
    }
}
