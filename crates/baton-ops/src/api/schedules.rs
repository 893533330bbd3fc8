//! Schedules as front ends see them (`schedules --json`, later the REST body): each schedule
//! trigger with its next times and what the store recorded for its pipeline's slots.
//!
//! Times are RFC 3339 strings in UTC (`2026-03-29T01:00:00Z`): an instant that any client can
//! parse and show in the zone it likes; the trigger's zone travels beside them.

use baton_store::RunId;
use serde::{Deserialize, Serialize};

/// One schedule trigger of a pipeline (`baton schedules`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    pub pipeline: String,
    /// The cron expression as written.
    pub cron: String,
    /// The IANA zone the expression is evaluated in; `UTC` when none is written.
    pub timezone: String,
    /// After downtime, the newest missed slot runs once (true) or is skipped (false).
    pub catch_up: bool,
    /// The next times it fires, soonest first (RFC 3339, UTC).
    pub next: Vec<String>,
    /// The newest slot of the pipeline that started a run (on time or caught up). Slots belong
    /// to the pipeline: two of its schedules due at the same instant make one slot, so every
    /// schedule of a pipeline shows the same `last_fired` and `missed`.
    pub last_fired: Option<FiredSlot>,
    /// Recent slots of the pipeline that did not run (downtime), newest first, at most 10
    /// (RFC 3339, UTC).
    pub missed: Vec<String>,
}

/// A slot that started a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FiredSlot {
    /// When it was due (RFC 3339, UTC).
    pub slot: String,
    /// The run it started; `None` while the run is being created (or when creating it failed).
    pub run: Option<RunId>,
}
