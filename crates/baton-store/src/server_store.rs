//! Storage for `baton serve`: webhook replay protection, schedule slots, commit trigger heads,
//! and the queries the REST API, the live event stream (SSE) and `/metrics` read.
//!
//! Implemented for SQLite in `sqlite_server.rs` (tables in `migrations/008_server.sql`).
//!
//! ## Several servers, one store
//! Everything a trigger decides is decided here, by a unique key, so that servers restarted or
//! running side by side on one store start one run per event:
//! - a webhook **delivery** id is recorded once per pipeline ([`ServerStore::record_delivery`]):
//!   a replayed delivery is refused;
//! - a cron **slot** (the due time, unix seconds UTC) is claimed once per pipeline, whatever
//!   the outcome ([`ServerStore::claim_slot`]): fired, caught up after downtime, or missed;
//! - a **commit head** (pipeline, repo, branch) moves by compare-and-set
//!   ([`ServerStore::set_commit_head`]): of two pollers that saw the same new commit, one wins.
//!
//! ## Live events
//! [`ServerStore::events_after`] tails the event log of every run by sequence number, in the
//! order events were committed: sequence numbers only grow and are never reused, so a reader
//! that resumes after the last number it saw misses nothing. Output is not in the event log:
//! [`ServerStore::running_steps`] names the steps with output still growing and
//! [`crate::Store::log_chunks`] reads their bytes by offset. A process commits its queued events
//! before any read of the run tables, and every running run commits them at least every 200 ms
//! (its cancel poll), so events recorded by another process arrive at most about that late.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::event::{Event, StepRef};
use crate::record::{RunId, RunKind, Status, StepRecord};
use crate::store::StoreResult;

/// What became of a schedule slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlotOutcome {
    /// Its run was started on time.
    Fired,
    /// Its run was started late, after the server was down at the due time.
    CaughtUp,
    /// No run was started for it (the server was down and the schedule does not catch up).
    Missed,
}

impl SlotOutcome {
    pub const ALL: [SlotOutcome; 3] = [
        SlotOutcome::Fired,
        SlotOutcome::CaughtUp,
        SlotOutcome::Missed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlotOutcome::Fired => "fired",
            SlotOutcome::CaughtUp => "caught_up",
            SlotOutcome::Missed => "missed",
        }
    }

    pub fn parse(text: &str) -> Option<SlotOutcome> {
        SlotOutcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

impl std::fmt::Display for SlotOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One claimed schedule slot of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub pipeline: String,
    /// The due time, unix seconds UTC.
    pub slot: i64,
    pub outcome: SlotOutcome,
    /// The run started for it, once [`ServerStore::set_slot_run`] recorded it.
    pub run: Option<RunId>,
    /// When it was claimed (unix ms).
    pub recorded_at: Millis,
}

/// How many runs of one (kind, name) have one status: a `/metrics` sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCount {
    pub kind: RunKind,
    pub name: String,
    pub status: Status,
    pub count: u64,
}

/// What `baton serve` keeps and reads. Part of [`crate::Store`]. Every write is one transaction;
/// every check-and-write (delivery, slot, commit head) is atomic across processes sharing the
/// store.
pub trait ServerStore {
    // Webhook deliveries.
    /// Record webhook delivery `delivery` of `pipeline` (with the time it was received). `true`
    /// when it is new; `false` when this (pipeline, delivery) was recorded before: a replay, to
    /// be refused.
    fn record_delivery(&self, pipeline: &str, delivery: &str) -> StoreResult<bool>;

    // Schedule slots.
    /// Claim schedule slot `slot` (unix seconds UTC of the due time) of `pipeline` with its
    /// outcome. `true` when this caller claimed it (and must act on it); `false` when it was
    /// already claimed, by this process or any other.
    fn claim_slot(&self, pipeline: &str, slot: i64, outcome: SlotOutcome) -> StoreResult<bool>;
    /// Record the run started for a claimed slot. `NotFound` when the slot was never claimed.
    fn set_slot_run(&self, pipeline: &str, slot: i64, run: RunId) -> StoreResult<()>;
    /// The latest slot recorded for `pipeline` (the greatest `slot`, any outcome).
    fn last_slot(&self, pipeline: &str) -> StoreResult<Option<SlotRecord>>;
    /// The slots of `pipeline`, newest (greatest `slot`) first, at most `limit`.
    fn slots(&self, pipeline: &str, limit: usize) -> StoreResult<Vec<SlotRecord>>;

    // Commit trigger heads.
    /// The last commit of (repo, branch) that `pipeline`'s commit trigger acted on.
    fn commit_head(&self, pipeline: &str, repo: &str, branch: &str) -> StoreResult<Option<String>>;
    /// Compare-and-set: move the head of (pipeline, repo, branch) to `commit` only if it is
    /// still `previous` (`None`: no head recorded yet). `true` when this caller moved it (and
    /// starts the run); `false` when the stored head is not `previous` any more (another poller
    /// moved it first: read it again).
    fn set_commit_head(
        &self,
        pipeline: &str,
        repo: &str,
        branch: &str,
        commit: &str,
        previous: Option<&str>,
    ) -> StoreResult<bool>;

    // Live events.
    /// Events of every run with a sequence number above `after_seq` (0 = from the start), in
    /// sequence order, at most `limit`: `(seq, run, event)`. Output is not in the event log
    /// (see [`ServerStore::running_steps`]).
    fn events_after(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, RunId, Event)>>;
    /// The greatest sequence number in the event log, 0 when it is empty (where a new live
    /// stream starts).
    fn last_event_seq(&self) -> StoreResult<i64>;
    /// Steps of every run whose status is `running`, oldest first, with their committed
    /// `log_bytes`.
    fn running_steps(&self) -> StoreResult<Vec<StepRecord>>;
    /// The step of run `run` that `step` names (as a `StepStarted` / `StepFinished` event does).
    fn step_record(&self, run: RunId, step: &StepRef) -> StoreResult<Option<StepRecord>>;

    // Metrics.
    /// How many runs each (kind, name, status) has, ordered by kind, name and status (as
    /// stored: `as_str` text).
    fn run_counts(&self) -> StoreResult<Vec<RunCount>>;
    /// How many runs wait to start.
    fn queued_runs(&self) -> StoreResult<u64>;
}
