//! Monitoring as front ends see it: `metrics --json` (a node's series), `alerts --json` (what
//! is pending and firing, with `--all` the history), silences, the live readings of
//! `nodes --watch`, and the monitor's events (alert transitions, node up/down) as `baton
//! monitor` prints them and a live stream would send them. Times are unix ms, as in runs.

use std::collections::BTreeMap;

use baton_store::{
    AlertChange, MonitorEvent, MonitorEventKind, NodeChange, NodeState, SeriesPoint, SilenceRecord,
};
use serde::{Deserialize, Serialize};

/// A node's metrics from a time on (`baton metrics NODE`, `GET /api/nodes/NAME/metrics`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Metrics {
    /// [`super::VERSION`].
    pub api: u32,
    pub node: String,
    /// The start of the range (unix ms).
    pub since: i64,
    /// `raw` (every sample, the last 24 h), `minute` or `hour` (roll-ups), the finest kept
    /// for the whole range.
    pub resolution: String,
    /// One per metric with data (`cpu`, `memory`, `load1`, `disk`, `up`, `check:NAME`…).
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Series {
    pub metric: String,
    /// Oldest first.
    pub points: Vec<Point>,
    /// Over the points; `None`s when there are none.
    pub summary: Summary,
}

/// A sample, or a roll-up bucket (`at` its start; `value` its average).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Point {
    pub at: i64,
    pub value: f64,
    pub min: f64,
    pub max: f64,
    /// Samples in it (1 for a raw sample).
    pub count: u32,
}

impl From<&SeriesPoint> for Point {
    fn from(p: &SeriesPoint) -> Point {
        Point {
            at: p.at,
            value: p.avg,
            min: p.min,
            max: p.max,
            count: p.count,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Summary {
    pub last: Option<f64>,
    /// Weighted by the samples in each point.
    pub avg: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Summary {
    pub fn of(points: &[Point]) -> Summary {
        let samples: u64 = points.iter().map(|p| u64::from(p.count)).sum();
        if points.is_empty() || samples == 0 {
            return Summary::default();
        }
        let total: f64 = points.iter().map(|p| p.value * f64::from(p.count)).sum();
        Summary {
            last: points.last().map(|p| p.value),
            avg: Some(total / samples as f64),
            min: points.iter().map(|p| p.min).reduce(f64::min),
            max: points.iter().map(|p| p.max).reduce(f64::max),
        }
    }
}

/// `baton alerts`, `GET /api/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Alerts {
    /// [`super::VERSION`].
    pub api: u32,
    /// Pending and firing now, by alert then node.
    pub active: Vec<ActiveAlert>,
    /// Silences in force.
    pub silences: Vec<Silence>,
    /// The last known up/down state of every monitored node.
    pub nodes: Vec<NodeUp>,
    /// With `--all`: transitions and node changes, newest first.
    pub history: Vec<Event>,
}

/// An alert pending or firing on a node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ActiveAlert {
    pub alert: String,
    pub node: String,
    /// `pending` or `firing`.
    pub state: String,
    /// When it entered that state.
    pub since: i64,
    /// When its condition became true.
    pub active_since: Option<i64>,
    /// The value at the last transition (a metric's; none for checks).
    pub value: Option<f64>,
    pub severity: String,
    /// In words: `cpu above 80`.
    pub condition: String,
    /// A silence covers it now.
    pub silenced: bool,
    /// When its channels were last told it fires.
    pub last_notified: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Silence {
    pub id: i64,
    pub alert: String,
    /// `None`: every node of the alert.
    pub node: Option<String>,
    pub until: i64,
    /// Who silenced it.
    pub actor: String,
    pub created_at: i64,
}

impl From<&SilenceRecord> for Silence {
    fn from(s: &SilenceRecord) -> Silence {
        Silence {
            id: s.id,
            alert: s.alert.clone(),
            node: s.node.clone(),
            until: s.until,
            actor: s.actor.clone(),
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NodeUp {
    pub node: String,
    pub up: bool,
    pub since: i64,
    /// Why it is down.
    pub detail: Option<String>,
}

impl From<&NodeState> for NodeUp {
    fn from(n: &NodeState) -> NodeUp {
        NodeUp {
            node: n.node.clone(),
            up: n.up,
            since: n.since,
            detail: n.detail.clone(),
        }
    }
}

/// One entry of the monitor's event log: an alert transition or a node change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Event {
    /// Grows with every event, never reused: resume a stream after the last one seen.
    pub seq: i64,
    pub at: i64,
    /// `alert` or `node`.
    pub kind: String,
    /// The alert (`kind: alert`).
    pub alert: Option<String>,
    pub node: String,
    /// `pending`, `firing`, `resolved`, `inactive` (alerts); `up`, `down` (nodes).
    pub state: String,
    pub value: Option<f64>,
    pub severity: Option<String>,
    pub condition: Option<String>,
    /// A failed check's message, why a node is down.
    pub detail: Option<String>,
    /// When the alert's condition became true.
    pub since: Option<i64>,
    /// What became of its notification: `pending`, `sent` (queued for delivery), `silenced`,
    /// `dropped`; `None` when it owes none.
    pub notify: Option<String>,
    pub notified_at: Option<i64>,
}

impl From<&MonitorEvent> for Event {
    fn from(e: &MonitorEvent) -> Event {
        match &e.kind {
            MonitorEventKind::Alert(AlertChange {
                alert,
                node,
                to,
                value,
                severity,
                condition,
                detail,
                since,
                notify,
                notified_at,
            }) => Event {
                seq: e.seq,
                at: e.at,
                kind: "alert".into(),
                alert: Some(alert.clone()),
                node: node.clone(),
                state: to.as_str().into(),
                value: *value,
                severity: Some(severity.clone()),
                condition: Some(condition.clone()),
                detail: detail.clone(),
                since: *since,
                notify: notify.map(|n| n.as_str().to_string()),
                notified_at: *notified_at,
            },
            MonitorEventKind::Node(NodeChange { node, up, detail }) => Event {
                seq: e.seq,
                at: e.at,
                kind: "node".into(),
                alert: None,
                node: node.clone(),
                state: if *up { "up" } else { "down" }.into(),
                value: None,
                severity: None,
                condition: None,
                detail: detail.clone(),
                since: None,
                notify: None,
                notified_at: None,
            },
        }
    }
}

/// One round of `nodes --watch --json`: every watched node's reading (one JSON line a round).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NodesSample {
    /// [`super::VERSION`].
    pub api: u32,
    /// When the round started (ms since the epoch).
    pub at: i64,
    pub nodes: Vec<NodeMetrics>,
}

/// What one probe of a node read now (`nodes --watch`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NodeMetrics {
    pub node: String,
    pub up: bool,
    /// By metric name; `cpu` appears from the second reading on.
    pub metrics: BTreeMap<String, f64>,
    pub error: Option<String>,
}

impl From<&baton_monitor::NodeReading> for NodeMetrics {
    fn from(r: &baton_monitor::NodeReading) -> NodeMetrics {
        NodeMetrics {
            node: r.node.clone(),
            up: r.up,
            metrics: r.metrics.clone(),
            error: r.error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_weighs_buckets_by_their_samples() {
        let point = |value, min, max, count| Point {
            at: 0,
            value,
            min,
            max,
            count,
        };
        let summary = Summary::of(&[point(10.0, 5.0, 20.0, 1), point(40.0, 30.0, 50.0, 3)]);
        assert_eq!(summary.avg, Some(32.5));
        assert_eq!(
            (summary.min, summary.max, summary.last),
            (Some(5.0), Some(50.0), Some(40.0))
        );
        assert_eq!(Summary::of(&[]), Summary::default());
    }
}
