//! Storage for monitoring: node metrics as time series, alert state per (alert, node), the
//! history of alert transitions and node up/down changes, and silences.
//!
//! Implemented for SQLite in `sqlite_monitor.rs` (tables in `migrations/009_monitoring.sql`).
//!
//! ## Time series
//! A collection round writes all its samples in one transaction ([`MonitorStore::record_samples`]).
//! Raw samples are kept [`RAW_KEPT`] (24 h); 1-minute and 1-hour roll-ups (avg, min, max, count)
//! are kept until the retention. Roll-ups are computed and old rows pruned by
//! [`MonitorStore::compact_metrics`], which a background job calls — never a write of samples,
//! so a round costs one insert per sample whatever the history holds. A query names a
//! [`Resolution`]; [`Resolution::for_since`] picks the finest one that covers the range.
//!
//! ## Alert state and events
//! Per (alert, node) the state (`inactive`, `pending`, `firing`), since when, when its condition
//! became true, the last value and the last notification are kept, so a restarted monitor goes
//! on where the last one stopped: a firing alert does not fire again, a pending one keeps its
//! timer. A transition is written with the state in one transaction, as an event with a
//! sequence number that only grows and is never reused (node up/down changes are events too):
//! [`MonitorStore::monitor_events_after`] tails them for live streams, and
//! [`MonitorStore::monitor_events_recent`] lists the history.
//!
//! ## Notifications
//! A transition that must notify is written `pending`; once its notification is queued it is
//! marked `sent` ([`MonitorStore::mark_notified`]). A monitor starting finds the transitions
//! still `pending` (it died in between) with [`MonitorStore::unnotified_transitions`] and queues
//! them again.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::store::StoreResult;

/// How long raw samples are kept.
pub const RAW_KEPT: Millis = 24 * 3600 * 1000;
/// Ranges up to this long read 1-minute roll-ups (at most 10,080 points per series); longer
/// ones read 1-hour roll-ups.
pub const MINUTE_SPAN: Millis = 7 * 24 * 3600 * 1000;
/// Buckets are rolled up only once they ended this long ago: a round stamps its samples when
/// it starts and writes them when it ends, so a bucket that just closed may still get some.
pub const ROLLUP_SLACK: Millis = 2 * 60 * 1000;

/// One value of one metric of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub node: String,
    /// `cpu`, `memory`, `load1`, `disk:/var`, `up`, `check:NAME`…
    pub metric: String,
    pub at: Millis,
    pub value: f64,
}

/// How finely a series is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// Every sample (the last [`RAW_KEPT`]).
    Raw,
    /// 1-minute roll-ups.
    Minute,
    /// 1-hour roll-ups.
    Hour,
}

impl Resolution {
    pub const ROLLUPS: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Raw => "raw",
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
        }
    }

    /// The width of a roll-up bucket in ms; `None` for raw samples.
    pub fn bucket_ms(self) -> Option<Millis> {
        match self {
            Resolution::Raw => None,
            Resolution::Minute => Some(60_000),
            Resolution::Hour => Some(3_600_000),
        }
    }

    /// The finest resolution kept for all of `[since, now]`.
    pub fn for_since(since: Millis, now: Millis) -> Resolution {
        let span = now.saturating_sub(since);
        if span <= RAW_KEPT {
            Resolution::Raw
        } else if span <= MINUTE_SPAN {
            Resolution::Minute
        } else {
            Resolution::Hour
        }
    }
}

/// A point of a series: a raw sample (avg = min = max, count 1) or a roll-up bucket (`at` its
/// start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub at: Millis,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
    pub count: u32,
}

/// What one compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// Roll-up buckets written (1-minute and 1-hour).
    pub buckets_written: u64,
    pub raw_deleted: u64,
    pub buckets_deleted: u64,
    pub events_deleted: u64,
}

/// Where an alert stands on one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertPhase {
    Inactive,
    Pending,
    Firing,
}

impl AlertPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertPhase::Inactive => "inactive",
            AlertPhase::Pending => "pending",
            AlertPhase::Firing => "firing",
        }
    }

    pub fn parse(text: &str) -> Option<AlertPhase> {
        [
            AlertPhase::Inactive,
            AlertPhase::Pending,
            AlertPhase::Firing,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }
}

/// The persisted state of one alert on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    pub alert: String,
    pub node: String,
    pub phase: AlertPhase,
    /// When it entered `phase`.
    pub since: Millis,
    /// When the condition became true (pending and firing), the start of the `for` timer.
    pub active_since: Option<Millis>,
    /// The last value evaluated (a metric's; 0/1 for a check).
    pub value: Option<f64>,
    /// When a notification of this firing was last queued (`None` once resolved).
    pub last_notified: Option<Millis>,
}

/// What an alert did on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// The condition became true; waiting for `for`.
    Pending,
    Firing,
    /// It was firing and the condition is false again.
    Resolved,
    /// It was pending and the condition went false before `for`.
    Inactive,
}

impl Transition {
    pub const ALL: [Transition; 4] = [
        Transition::Pending,
        Transition::Firing,
        Transition::Resolved,
        Transition::Inactive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Pending => "pending",
            Transition::Firing => "firing",
            Transition::Resolved => "resolved",
            Transition::Inactive => "inactive",
        }
    }

    pub fn parse(text: &str) -> Option<Transition> {
        Transition::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// What became of a transition's notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyStatus {
    /// To be queued (a monitor that dies before queueing it leaves it so).
    Pending,
    /// Queued for delivery.
    Sent,
    /// A silence covered it: recorded, not sent.
    Silenced,
    /// Not sent: the alert is gone from the project, or names no channel any more.
    Dropped,
}

impl NotifyStatus {
    pub const ALL: [NotifyStatus; 4] = [
        NotifyStatus::Pending,
        NotifyStatus::Sent,
        NotifyStatus::Silenced,
        NotifyStatus::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyStatus::Pending => "pending",
            NotifyStatus::Sent => "sent",
            NotifyStatus::Silenced => "silenced",
            NotifyStatus::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<NotifyStatus> {
        NotifyStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// An alert transition as recorded (and as a notification is built from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertChange {
    pub alert: String,
    pub node: String,
    pub to: Transition,
    pub value: Option<f64>,
    /// `info`, `warning`, `critical` at the time.
    pub severity: String,
    /// The condition in words at the time: `cpu above 80`.
    pub condition: String,
    /// More about it: a failed check's error.
    pub detail: Option<String>,
    /// When the condition became true.
    pub since: Option<Millis>,
    /// `None` when the transition notifies nobody (pending, inactive, no channels).
    pub notify: Option<NotifyStatus>,
    pub notified_at: Option<Millis>,
}

/// A node answering the probe again, or not any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeChange {
    pub node: String,
    pub up: bool,
    /// Why it is down.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum MonitorEventKind {
    Alert(AlertChange),
    Node(NodeChange),
}

/// One entry of the monitoring event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorEvent {
    /// Grows with every event, never reused.
    pub seq: i64,
    pub at: Millis,
    pub kind: MonitorEventKind,
}

/// The last known up/down state of a monitored node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub node: String,
    pub up: bool,
    /// Since when it is in this state.
    pub since: Millis,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSilence {
    pub alert: String,
    /// `None`: every node of the alert.
    pub node: Option<String>,
    pub until: Millis,
    pub actor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceRecord {
    pub id: i64,
    pub alert: String,
    pub node: Option<String>,
    pub until: Millis,
    pub actor: String,
    pub created_at: Millis,
}

impl SilenceRecord {
    /// Whether it silences `alert` on `node` at `at`.
    pub fn covers(&self, alert: &str, node: &str, at: Millis) -> bool {
        self.alert == alert && self.node.as_deref().is_none_or(|n| n == node) && at < self.until
    }
}

/// What the monitor keeps and reads. Part of [`crate::Store`]. Every write is one transaction.
pub trait MonitorStore {
    // Time series.
    /// Append one collection round's samples, in one transaction.
    fn record_samples(&self, samples: &[Sample]) -> StoreResult<()>;
    /// The metrics of `node` that have data, sorted by name.
    fn metric_names(&self, node: &str) -> StoreResult<Vec<String>>;
    /// The points of (node, metric) from `since` (unix ms) on, oldest first, at `resolution`
    /// (a roll-up's buckets that start at or after `since`'s bucket).
    fn metric_points(
        &self,
        node: &str,
        metric: &str,
        since: Millis,
        resolution: Resolution,
    ) -> StoreResult<Vec<SeriesPoint>>;
    /// Roll up every bucket ended [`ROLLUP_SLACK`] before `now` and not rolled up yet, delete
    /// raw samples older than [`RAW_KEPT`] (once rolled up), and delete roll-ups and events
    /// older than `retention` (except transitions still to notify). The background job.
    fn compact_metrics(&self, now: Millis, retention: Millis) -> StoreResult<Compaction>;

    // Alert state.
    /// Every persisted (alert, node) state.
    fn alert_states(&self) -> StoreResult<Vec<AlertState>>;
    /// Save `state`, and the transition that led to it (as an event) in the same transaction.
    /// Returns the event's sequence number.
    fn save_alert_state(
        &self,
        state: &AlertState,
        change: Option<(&AlertChange, Millis)>,
    ) -> StoreResult<Option<i64>>;
    /// Record what became of the notification of transition `seq`; `Sent` also records `at`
    /// as the last notification of its (alert, node) state. One transaction.
    fn mark_notified(&self, seq: i64, status: NotifyStatus, at: Millis) -> StoreResult<()>;
    /// Transitions whose notification is still `pending`, oldest first.
    fn unnotified_transitions(&self) -> StoreResult<Vec<MonitorEvent>>;

    // Nodes.
    /// Record that `node` is up or down at `at`. An event (returned) only when that changes
    /// what was recorded, or the node was never seen.
    fn set_node_state(
        &self,
        node: &str,
        up: bool,
        at: Millis,
        detail: Option<&str>,
    ) -> StoreResult<Option<MonitorEvent>>;
    fn node_states(&self) -> StoreResult<Vec<NodeState>>;

    // Silences.
    fn add_silence(&self, silence: &NewSilence) -> StoreResult<SilenceRecord>;
    /// Silences still in force at `at` (every one when `None`), oldest first.
    fn silences(&self, at: Option<Millis>) -> StoreResult<Vec<SilenceRecord>>;

    // Events.
    /// Events with a sequence number above `after_seq`, in order, at most `limit`.
    fn monitor_events_after(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<MonitorEvent>>;
    /// The newest events, newest first, at most `limit`.
    fn monitor_events_recent(&self, limit: usize) -> StoreResult<Vec<MonitorEvent>>;
}
