//! Monitoring operations: run the monitor (one per store, under the store's `monitor` lock),
//! read a node's metrics, list alerts with their history, silence an alert, and probe nodes
//! once for a live view.

use std::sync::Arc;
use std::time::Duration;

use baton_engine::Targets;
use baton_model::diagnostic::did_you_mean;
use baton_model::{LOCAL_NODE, METRIC_NAMES, Metric};
use baton_monitor::{Monitor, Observed, Observer};
use baton_store::{AlertPhase, NewSilence, Owner, Resolution, now_millis};
use tokio_util::sync::CancellationToken;

use crate::api::monitor::{
    ActiveAlert, Alerts, Event, Metrics, NodeMetrics, Point, Series, Summary,
};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;
use crate::targets::NodeTargets;

/// The store lock a running monitor holds: one monitor per store, as one server.
pub const MONITOR_LOCK: &str = "monitor";

/// The history `alerts --all` lists, newest first.
pub const HISTORY_SHOWN: usize = 200;

/// What a running monitor reports, for a front end to show.
#[derive(Debug, Clone)]
pub enum MonitorNote {
    /// An alert transition or a node going down or up, as recorded.
    Event(Box<Event>),
    /// Something that did not stop the monitor (a store write refused, a notification that
    /// could not be queued yet).
    Problem(String),
}

/// What a started monitor watches, for a front end's first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorStarted {
    pub nodes: usize,
    pub checks: usize,
    pub alerts: usize,
}

impl Ops {
    /// A monitor of this project over `targets` (which hold its connections).
    pub fn monitor(&self, targets: Arc<NodeTargets>, observer: Observer) -> Monitor {
        let executors = move |node: &str| targets.executor(node);
        Monitor::new(
            self.project.clone(),
            self.store.clone(),
            Arc::new(executors),
            self.forks(),
            observer,
        )
    }

    /// Run the monitor and the notification delivery worker until `cancel` (`baton monitor`).
    /// Holds the store's [`MONITOR_LOCK`]: a second monitor on one store is refused, naming the
    /// first. `started` is called once the lock is held.
    pub async fn run_monitor(
        &self,
        cancel: &CancellationToken,
        started: impl FnOnce(&MonitorStarted),
        on_note: impl Fn(MonitorNote) + Send + Sync + 'static,
    ) -> OpsResult<()> {
        let owner = self.take_monitor_lock()?;
        // The delivery worker beside it: `baton monitor` delivers what it queues (the worker
        // finishes the attempts under way when `cancel` fires).
        let (ran, ()) = tokio::join!(
            self.watch_locked(&owner, cancel, started, on_note),
            self.deliver_notifications(cancel.clone())
        );
        ran
    }

    /// The monitor alone until `cancel`, under the store's [`MONITOR_LOCK`] (`baton serve`
    /// runs its own delivery worker).
    pub async fn watch(
        &self,
        cancel: &CancellationToken,
        started: impl FnOnce(&MonitorStarted),
        on_note: impl Fn(MonitorNote) + Send + Sync + 'static,
    ) -> OpsResult<()> {
        let owner = self.take_monitor_lock()?;
        self.watch_locked(&owner, cancel, started, on_note).await
    }

    /// Take the store's [`MONITOR_LOCK`], or say who holds it.
    fn take_monitor_lock(&self) -> OpsResult<Owner> {
        let owner = Owner::current();
        if let Err(held) =
            self.store
                .acquire_lock(MONITOR_LOCK, "baton monitor", &owner, &crate::cli_actor())?
        {
            return Err(OpsError::conflict(format!(
                "another monitor uses this store: {} (pid {} on {}, since {})",
                held.purpose,
                held.owner.pid,
                held.owner.host,
                chrono::DateTime::from_timestamp_millis(held.since)
                    .map(|d| d.to_rfc3339())
                    .unwrap_or_default(),
            ))
            .with_hint("stop it first (`baton serve` runs one too); one monitor per store"));
        }
        Ok(owner)
    }

    /// Monitor until `cancel` with [`MONITOR_LOCK`] held by `owner`; releases it.
    async fn watch_locked(
        &self,
        owner: &Owner,
        cancel: &CancellationToken,
        started: impl FnOnce(&MonitorStarted),
        on_note: impl Fn(MonitorNote) + Send + Sync + 'static,
    ) -> OpsResult<()> {
        let observer: Observer = Arc::new(move |observed| match observed {
            Observed::Event(event) => on_note(MonitorNote::Event(Box::new(event.into()))),
            Observed::Problem(text) => on_note(MonitorNote::Problem(text.to_string())),
        });
        let targets = self.targets();
        let monitor = self.monitor(targets.clone(), observer);
        let plan = monitor.plan();
        started(&MonitorStarted {
            nodes: plan.nodes.len(),
            checks: plan.checks.len(),
            alerts: plan.alerts.len(),
        });
        let ran = monitor.run(cancel).await;
        targets.disconnect_all().await;
        let _ = self.store.release_lock(MONITOR_LOCK, owner);
        ran.map_err(|e| OpsError::failed(format!("the monitor cannot start: {e}")))
    }

    /// A live view of `selector`'s nodes (every node and `local` by default): each
    /// [`NodeWatch::sample`] probes them all over connections held between samples, records
    /// nothing and fires no alert (`baton nodes --watch`).
    pub fn watch_nodes(&self, selector: Option<&str>) -> OpsResult<NodeWatch> {
        let nodes = self.nodes(selector)?.into_iter().map(|n| n.name).collect();
        let targets = self.targets();
        let monitor = self.monitor(targets.clone(), Arc::new(|_| {}));
        Ok(NodeWatch {
            monitor,
            targets,
            nodes,
        })
    }

    /// `node`'s metrics over the last `since` (every metric with data, or just `metric`), at
    /// the finest resolution kept for the whole range.
    pub fn metrics(&self, node: &str, metric: Option<&str>, since: Duration) -> OpsResult<Metrics> {
        self.known_node(node)?;
        let now = now_millis();
        let since_ms = now.saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
        let resolution = Resolution::for_since(since_ms, now);
        let names = match metric {
            Some(m) => vec![self.metric_name(m)?],
            None => self.store.metric_names(node)?,
        };
        let mut series = Vec::with_capacity(names.len());
        for name in names {
            let points: Vec<Point> = self
                .store
                .metric_points(node, &name, since_ms, resolution)?
                .iter()
                .map(Point::from)
                .collect();
            series.push(Series {
                metric: name,
                summary: Summary::of(&points),
                points,
            });
        }
        Ok(Metrics {
            api: crate::api::VERSION,
            node: node.to_string(),
            since: since_ms,
            resolution: resolution.as_str().to_string(),
            series,
        })
    }

    /// Alerts pending and firing now (of alerts the project still has), silences in force and
    /// node states; with `all`, the history too.
    pub fn alerts(&self, all: bool) -> OpsResult<Alerts> {
        let now = now_millis();
        let silences = self.store.silences(Some(now))?;
        let mut active: Vec<ActiveAlert> = self
            .store
            .alert_states()?
            .into_iter()
            .filter(|s| s.phase != AlertPhase::Inactive)
            .filter_map(|s| {
                let alert = self.project.alerts.get(&s.alert)?;
                Some(ActiveAlert {
                    silenced: silences.iter().any(|x| x.covers(&s.alert, &s.node, now)),
                    severity: alert.severity.as_str().to_string(),
                    condition: alert.condition.describe(),
                    state: s.phase.as_str().to_string(),
                    since: s.since,
                    active_since: s.active_since,
                    value: s.value,
                    last_notified: s.last_notified,
                    alert: s.alert,
                    node: s.node,
                })
            })
            .collect();
        active.sort_by(|a, b| (&a.alert, &a.node).cmp(&(&b.alert, &b.node)));
        let history = if all {
            self.store
                .monitor_events_recent(HISTORY_SHOWN)?
                .iter()
                .map(Event::from)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Alerts {
            api: crate::api::VERSION,
            active,
            silences: silences.iter().map(Into::into).collect(),
            nodes: self.store.node_states()?.iter().map(Into::into).collect(),
            history,
        })
    }

    /// Silence `alert` (on `node`, else on every node) for `duration`, recorded with `actor`:
    /// its state is still tracked, its notifications are not sent.
    pub fn silence(
        &self,
        alert: &str,
        node: Option<&str>,
        duration: Duration,
        actor: &str,
    ) -> OpsResult<crate::api::monitor::Silence> {
        if !self.project.alerts.contains_key(alert) {
            let names: Vec<&str> = self.project.alerts.keys().map(String::as_str).collect();
            let mut e = OpsError::not_found(format!("no alert `{alert}`"));
            e = match did_you_mean(alert, names.iter().copied()) {
                Some(s) => e.with_hint(format!("did you mean `{s}`?")),
                None if names.is_empty() => e.with_hint("the project defines no `alerts:`"),
                None => e.with_hint(format!("alerts: {}", names.join(", "))),
            };
            return Err(e);
        }
        if duration.is_zero() {
            return Err(OpsError::usage(
                "a silence needs a duration, e.g. `--for 2h`",
            ));
        }
        if let Some(node) = node {
            let plan = baton_monitor::Plan::new(&self.project);
            let watched = plan
                .alerts
                .iter()
                .find(|a| a.alert.name == alert)
                .map(|a| a.nodes.clone())
                .unwrap_or_default();
            if !watched.iter().any(|n| n == node) {
                return Err(OpsError::usage(format!(
                    "alert `{alert}` does not watch node `{node}`"
                ))
                .with_hint(format!("it watches: {}", watched.join(", "))));
            }
        }
        let until =
            now_millis().saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        let record = self.store.add_silence(&NewSilence {
            alert: alert.to_string(),
            node: node.map(str::to_string),
            until,
            actor: actor.to_string(),
        })?;
        let detail = serde_json::json!({ "node": node, "until": until });
        self.store.audit(actor, "alert.silence", alert, &detail)?;
        Ok((&record).into())
    }

    fn known_node(&self, node: &str) -> OpsResult<()> {
        if node == LOCAL_NODE || self.project.nodes.contains_key(node) {
            return Ok(());
        }
        let names: Vec<&str> = self
            .project
            .nodes
            .keys()
            .map(String::as_str)
            .chain([LOCAL_NODE])
            .collect();
        let e = OpsError::not_found(format!("no node `{node}`"));
        Err(match did_you_mean(node, names.iter().copied()) {
            Some(s) => e.with_hint(format!("did you mean `{s}`?")),
            None => e.with_hint(format!("nodes: {}", names.join(", "))),
        })
    }

    /// A metric as the store names it (`load` is `load1`), or `check:NAME` of a check.
    fn metric_name(&self, text: &str) -> OpsResult<String> {
        if let Some(metric) = Metric::parse(text) {
            return Ok(metric.name());
        }
        if let Some(check) = text.strip_prefix("check:")
            && self.project.checks.contains_key(check)
        {
            return Ok(text.to_string());
        }
        let checks: Vec<String> = self
            .project
            .checks
            .keys()
            .map(|c| format!("check:{c}"))
            .collect();
        let known: Vec<&str> = METRIC_NAMES
            .iter()
            .copied()
            .chain(checks.iter().map(String::as_str))
            .collect();
        let e = OpsError::usage(format!("no metric `{text}`"));
        Err(match did_you_mean(text, known.iter().copied()) {
            Some(s) => e.with_hint(format!("did you mean `{s}`?")),
            None => e.with_hint(format!(
                "metrics: {}, or disk:/PATH for another mount",
                known.join(", ")
            )),
        })
    }
}

/// The nodes a live view samples, with their connections held (see [`Ops::watch_nodes`]).
pub struct NodeWatch {
    monitor: Monitor,
    targets: Arc<NodeTargets>,
    nodes: Vec<String>,
}

impl NodeWatch {
    /// The nodes watched, in inventory order.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// One reading of every node (`cpu` from the second sample on: it is a difference).
    pub async fn sample(&self) -> Vec<NodeMetrics> {
        self.monitor
            .sample_once(&self.nodes)
            .await
            .iter()
            .map(NodeMetrics::from)
            .collect()
    }

    /// Close the held connections.
    pub async fn close(self) {
        self.targets.disconnect_all().await;
    }
}
