//! The storage interface the engines use. Backends: [`crate::SqliteStore`] (embedded, default);
//! a PostgreSQL backend for teams running several servers implements the same trait.

use crate::event::{Event, StepRef};
use crate::owner::Owner;
use crate::record::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Database(String),
    #[error("the store's disk is full: {0}")]
    DiskFull(String),
    #[error("store schema migration failed: {0}")]
    Migration(String),
    #[error("cannot open the store at `{path}`: {reason}")]
    Open { path: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything baton keeps between commands. Methods are synchronous and short; every write is
/// one transaction, so a killed process leaves each record either before or after, never between.
pub trait Store:
    crate::ConfigStore
    + crate::StateStore
    + crate::ServerStore
    + crate::MonitorStore
    + crate::NotifyStore
    + Send
    + Sync
{
    // Runs.
    /// Record a new run as `queued`, owned by `run.owner`.
    fn create_run(&self, run: &NewRun) -> StoreResult<RunId>;
    /// Record a new run as `queued` that rolls back run `of` (the link is part of the insert:
    /// a rollback run always knows what it rolled back).
    fn create_rollback_run(&self, run: &NewRun, of: RunId) -> StoreResult<RunId>;
    /// The rollback runs of run `run`, oldest first.
    fn rollbacks_of(&self, run: RunId) -> StoreResult<Vec<RunRecord>>;
    /// Move a queued run to `running` when fewer than `limit` runs of the same name run and no
    /// earlier run of it is still queued (first come, first served). Returns whether it started.
    fn try_start_run(&self, run: RunId, limit: u32) -> StoreResult<bool>;
    fn set_run_workspace(&self, run: RunId, workspace: &str) -> StoreResult<()>;
    /// Append an event to the log and update the runs/stages/steps it describes, atomically.
    fn record(&self, event: &Event) -> StoreResult<()>;
    /// Remember the process group of a running step so a later command can kill its leftovers.
    fn set_step_process_group(&self, run: RunId, step: &StepRef, pgid: i32) -> StoreResult<()>;
    /// Record a stage of a retry as succeeded by reuse of an earlier run's result.
    fn record_reused_stage(&self, run: RunId, stage: &str, from: RunId) -> StoreResult<()>;
    fn run(&self, id: RunId) -> StoreResult<Option<RunRecord>>;
    fn runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>>;
    fn stages(&self, run: RunId) -> StoreResult<Vec<StageRecord>>;
    fn steps(&self, run: RunId) -> StoreResult<Vec<StepRecord>>;
    /// Log chunks of a step starting at byte `offset`: `(offset, bytes)` in order.
    /// Up to `max` committed bytes of a step's log from `offset` (empty past the end): a
    /// reader streams a huge log piece by piece instead of holding it.
    fn log_read(&self, step: StepId, offset: i64, max: usize) -> StoreResult<Vec<u8>>;
    fn log_chunks(&self, step: StepId, offset: i64) -> StoreResult<Vec<(i64, Vec<u8>)>>;
    /// When each piece of a step's output arrived: (byte offset where it starts, unix ms), in
    /// offset order, within the committed length.
    fn log_times(&self, step: StepId) -> StoreResult<Vec<(i64, crate::Millis)>>;
    /// Events of a run after sequence number `after` (0 = all).
    fn events(&self, run: RunId, after: i64) -> StoreResult<Vec<(i64, Event)>>;
    /// Ask for a queued or running run to be cancelled: recorded in the store, so the process
    /// running it (this one, another terminal, a server) sees it and stops that run only.
    /// Returns the run as it is now (`None` when it does not exist); finished runs are left
    /// as they are.
    fn request_cancel(&self, run: RunId, actor: &str) -> StoreResult<Option<RunRecord>>;
    /// Who asked for run `run` to be cancelled, if anyone did.
    fn cancel_requested(&self, run: RunId) -> StoreResult<Option<String>>;
    /// Mark runs whose owning process died as `interrupted`; return them so the caller can kill
    /// what they left running.
    fn interrupt_orphans(&self) -> StoreResult<Vec<InterruptedRun>>;

    // Artifacts.
    fn add_artifact(&self, artifact: &NewArtifact) -> StoreResult<ArtifactRecord>;
    fn artifacts(&self, name: Option<&str>) -> StoreResult<Vec<ArtifactRecord>>;
    fn run_artifacts(&self, run: RunId) -> StoreResult<Vec<ArtifactRecord>>;
    /// Record that an artifact version is on shelf `env` now. `Ok(None)` when it already was
    /// (published or promoted there): checked and written in one transaction, so two promoters
    /// racing record it once. `NotFound` when the artifact id does not exist.
    fn add_promotion(&self, promotion: &NewPromotion) -> StoreResult<Option<PromotionRecord>>;
    /// Promotions of artifact `name` (all when `None`), in the order they were recorded.
    fn promotions(&self, name: Option<&str>) -> StoreResult<Vec<PromotionRecord>>;

    // Locks.
    /// Take lock `name`, or return who holds it (`Err`). A lock whose holder process died is
    /// taken over in the same transaction, with an audit entry (`lock.takeover`) naming the
    /// dead holder: `Ok(Some(dead))`.
    fn acquire_lock(
        &self,
        name: &str,
        purpose: &str,
        owner: &Owner,
        actor: &str,
    ) -> StoreResult<Result<Option<LockInfo>, LockInfo>>;
    fn release_lock(&self, name: &str, owner: &Owner) -> StoreResult<()>;
    /// Remove lock `name` whoever holds it, returning what it was.
    fn break_lock(&self, name: &str) -> StoreResult<Option<LockInfo>>;
    fn lock(&self, name: &str) -> StoreResult<Option<LockInfo>>;

    // Audit trail.
    fn audit(
        &self,
        who: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> StoreResult<()>;
    fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditRecord>>;
}
