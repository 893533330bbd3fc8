//! What the store holds, as plain records.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::event::Phase;
use crate::owner::Owner;

pub type RunId = i64;
pub type StepId = i64;

/// Status of a run, a stage or a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Success,
    Failed,
    TimedOut,
    Skipped,
    Cancelled,
    /// The process running it died (killed, crashed, machine rebooted): a failure.
    Interrupted,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Queued,
        Status::Running,
        Status::Success,
        Status::Failed,
        Status::TimedOut,
        Status::Skipped,
        Status::Cancelled,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::TimedOut => "timed_out",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }

    /// Failed for the purpose of exit codes, dependents and rollback.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Status::Failed | Status::TimedOut | Status::Cancelled | Status::Interrupted
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of work a run is: the four jobs share one run table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Pipeline,
    Exec,
    Config,
    Infra,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Pipeline => "pipeline",
            RunKind::Exec => "exec",
            RunKind::Config => "config",
            RunKind::Infra => "infra",
        }
    }

    pub fn parse(text: &str) -> Option<RunKind> {
        [
            RunKind::Pipeline,
            RunKind::Exec,
            RunKind::Config,
            RunKind::Infra,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// A run about to be queued.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewRun {
    pub kind: RunKind,
    /// Pipeline name (or config name, or the exec selector).
    pub name: String,
    pub trigger: String,
    pub env: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// Extra parameters (`--var`s, …) as JSON, kept for retry.
    pub params: serde_json::Value,
    pub retry_of: Option<RunId>,
    pub owner: Owner,
    /// Who asked for the run: an OS user for the CLI, an API token's name for the server.
    pub actor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    pub kind: RunKind,
    pub name: String,
    pub status: Status,
    pub trigger: String,
    pub env: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub params: serde_json::Value,
    pub retry_of: Option<RunId>,
    pub queued_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub reason: Option<String>,
    pub workspace: Option<String>,
    pub owner: Owner,
    /// Who asked for the run (see [`NewRun::actor`]).
    pub actor: String,
    /// Who asked for it to be cancelled, once someone has.
    pub cancel_requested_by: Option<String>,
    /// The run this one rolled back (`baton rollback RUN`); `None` for every other run.
    #[serde(default)]
    pub rollback_of: Option<RunId>,
}

impl RunRecord {
    pub fn duration_ms(&self) -> Option<i64> {
        Some(self.finished_at? - self.started_at?)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StageRecord {
    pub run: RunId,
    pub name: String,
    pub status: Status,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    pub reason: Option<String>,
    /// Order in which stages finished successfully (for rollback in reverse).
    pub completed_seq: Option<i64>,
    /// Set when a retry reused this stage's success from an earlier run.
    pub reused_from: Option<RunId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepRecord {
    pub id: StepId,
    pub run: RunId,
    pub stage: String,
    pub target: String,
    pub phase: Phase,
    pub index: u32,
    pub attempt: u32,
    pub label: String,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
    pub log_bytes: i64,
    /// Why it failed when not by its command's own result (unreachable, outcome unknown).
    pub cause: Option<crate::event::FailureCause>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArtifactRecord {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: u64,
    pub run: RunId,
    pub pipeline: String,
    pub stage: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    /// The environment shelf it was published to, if the branch maps to one.
    pub shelf: Option<String>,
    pub created_at: Millis,
}

/// An artifact about to be recorded; the store assigns its version.
#[derive(Debug, Clone)]
pub struct NewArtifact {
    pub name: String,
    pub sha256: String,
    pub size: u64,
    pub run: RunId,
    pub pipeline: String,
    pub stage: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub shelf: Option<String>,
}

/// An artifact version put on another environment's shelf (nothing is copied: blobs are
/// content-addressed, the record is the promotion).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PromotionRecord {
    pub id: i64,
    pub artifact_id: i64,
    pub name: String,
    pub version: i64,
    /// The shelf it is on now.
    pub env: String,
    /// The shelf it was promoted from.
    pub from: String,
    /// `user@host` of the process that promoted it.
    pub by: String,
    /// The run whose `promote:` step promoted it, if a step did.
    pub run: Option<RunId>,
    pub tag: Option<String>,
    pub promoted_at: Millis,
}

/// A promotion about to be recorded.
#[derive(Debug, Clone)]
pub struct NewPromotion {
    pub artifact_id: i64,
    pub env: String,
    pub from: String,
    pub by: String,
    pub run: Option<RunId>,
    pub tag: Option<String>,
}

/// Who holds a named lock (infra state, a config apply, …).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockInfo {
    pub name: String,
    pub owner: Owner,
    pub since: Millis,
    pub purpose: String,
    /// Who took it, as people name them (an OS user, an API token's name).
    pub actor: String,
}

impl LockInfo {
    /// A lock whose holder process is gone: it can be broken safely.
    pub fn is_stale(&self) -> bool {
        !self.owner.alive()
    }
}

/// A run the store found abandoned by a dead process, marked interrupted.
#[derive(Debug, Clone)]
pub struct InterruptedRun {
    pub run: RunId,
    pub owner: Owner,
    /// Process groups of steps that were running, to be killed by the caller.
    pub process_groups: Vec<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: Millis,
    pub who: String,
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// Filter for listing runs (newest first). Build it with `..Default::default()`: it grows.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub name: Option<String>,
    pub kind: Option<RunKind>,
    pub limit: Option<usize>,
    /// Only runs with this status.
    pub status: Option<Status>,
    /// Only runs with an id strictly lower (the next page after the oldest run listed).
    pub before: Option<RunId>,
}
