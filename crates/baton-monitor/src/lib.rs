//! Monitoring (SPEC §5): node metrics gathered agentlessly, checks, and alerts that fire after
//! `for` and resolve, each telling its channels once.
//!
//! A [`Monitor`] runs four kinds of loops until cancelled:
//! - **collection**, every `monitoring.interval`: one probe per sampled node (`/proc/stat`,
//!   `/proc/meminfo`, `/proc/loadavg`, `df -P` for the mounts alerts name, in one shell
//!   command) over the node's held connection, all nodes at once (bounded by `ssh.forks`);
//!   the round's samples are written in one transaction, node up/down changes recorded, then
//!   metric alerts evaluated. An unreachable node is `up = 0`; no node can fail a round.
//! - **checks**, one loop per check on its own interval: results are samples too
//!   (`check:NAME`, 1 healthy / 0 failing) and feed the check's alerts.
//! - **maintenance**, every minute: roll-ups and pruning of the time series
//!   ([`baton_store::MonitorStore::compact_metrics`], never inside a round), and queueing again
//!   any notification a dead monitor left unqueued.
//!
//! Alerts follow Prometheus' state machine ([`rules`]), persisted per (alert, node) so a
//! restart neither fires a firing alert again nor forgets a pending timer. Notifications go to
//! the delivery queue of `baton-notify`; the monitor never waits on a mail server.
//!
//! Memory stays flat: per node one set of CPU counters, per (alert, node) one state, per command
//! at most 64 KiB of output; the history lives in the store.
//!
//! Architecture invariant: never prints (what happens goes to an [`Observer`]); reaches nodes
//! only through [`Executors`]; knows nothing of the CLI, HTTP or the engine.

mod alerting;
pub mod checks;
mod collect;
pub mod plan;
pub mod rules;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_model::{AlertCondition, Project};
use baton_store::{AlertState, MonitorEvent, Sample, SilenceRecord, Store, StoreError, now_millis};
use tokio_util::sync::CancellationToken;

pub use alerting::Reading;
pub use checks::CheckResult;
pub use collect::{Executors, NodeReading};
pub use plan::Plan;

/// How often the time series are rolled up and pruned, and unqueued notifications retried.
pub const MAINTENANCE_EVERY: Duration = Duration::from_secs(60);

/// What the monitor reports as it goes: every event it recorded (an alert transition, a node
/// going down or coming back), and problems that did not stop it (a store write refused).
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    Event(&'a MonitorEvent),
    Problem(&'a str),
}

pub type Observer = Arc<dyn Fn(Observed<'_>) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The store could not be read at start (the saved alert states, node states).
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Monitor {
    inner: Arc<Inner>,
}

struct Inner {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    plan: Plan,
    executors: Arc<dyn Executors>,
    collector: collect::Collector,
    alerting: alerting::Alerting,
    forks: usize,
    observer: Observer,
    /// Each sampled node's last recorded up/down state.
    nodes_up: Mutex<HashMap<String, bool>>,
}

impl Monitor {
    /// A monitor of `project`'s nodes, reached through `executors` (which hold the
    /// connections), at most `forks` at once, reporting to `observer`.
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        executors: Arc<dyn Executors>,
        forks: usize,
        observer: Observer,
    ) -> Monitor {
        let plan = Plan::new(&project);
        // The probe answers in milliseconds; a slow node may take up to an interval, never
        // less than 5 s (an SSH connect) nor more than 30 s.
        let timeout = project
            .monitoring
            .interval
            .clamp(Duration::from_secs(5), Duration::from_secs(30));
        let collector = collect::Collector::new(executors.clone(), &plan.mounts, timeout, forks);
        let alerting = alerting::Alerting::new(project.clone(), store.clone(), observer.clone());
        Monitor {
            inner: Arc::new(Inner {
                project,
                store,
                plan,
                executors,
                collector,
                alerting,
                forks: forks.max(1),
                observer,
                nodes_up: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.inner.plan
    }

    /// Every (alert, node) that ever left `inactive`, as this monitor knows it now.
    pub fn alert_states(&self) -> Vec<AlertState> {
        self.inner.alerting.snapshot()
    }

    /// Monitor until `cancel`: collection rounds, checks, alerts, maintenance. Fails only when
    /// the store cannot be read at start.
    pub async fn run(&self, cancel: &CancellationToken) -> Result<(), MonitorError> {
        let inner = &self.inner;
        inner.alerting.load()?;
        {
            let mut up = inner.nodes_up.lock().unwrap_or_else(|p| p.into_inner());
            for state in inner.store.node_states()? {
                up.insert(state.node, state.up);
            }
        }
        inner.alerting.requeue(now_millis());
        let mut loops = tokio::task::JoinSet::new();
        let interval = inner.project.monitoring.interval;
        loops.spawn(every(
            inner.clone(),
            interval,
            cancel.clone(),
            |inner| -> Round { Box::pin(collection_round(inner)) },
        ));
        for index in 0..inner.plan.checks.len() {
            let interval = inner.plan.checks[index].check.interval;
            loops.spawn(every(
                inner.clone(),
                interval,
                cancel.clone(),
                move |inner| -> Round { Box::pin(check_round(inner, index)) },
            ));
        }
        loops.spawn(every(
            inner.clone(),
            MAINTENANCE_EVERY,
            cancel.clone(),
            |inner| -> Round { Box::pin(maintenance(inner)) },
        ));
        while loops.join_next().await.is_some() {}
        Ok(())
    }

    /// Probe `nodes` once and return what each read (nothing is stored). A node's `cpu` needs
    /// a previous probe by this monitor: a live view calling this repeatedly has it from the
    /// second call on.
    pub async fn sample_once(&self, nodes: &[String]) -> Vec<NodeReading> {
        self.inner.collector.round(nodes).await
    }
}

type Round = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Run `round` now and then every `period` until `cancel`. Each round is its own task: a
/// panic (a bug) is reported and the next round goes on; rounds never overlap (a slow one
/// delays the next tick instead of stacking up).
async fn every(
    inner: Arc<Inner>,
    period: Duration,
    cancel: CancellationToken,
    round: impl Fn(Arc<Inner>) -> Round + Send + 'static,
) {
    let mut ticks = tokio::time::interval(period.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let mut task = tokio::spawn(round(inner.clone()));
        tokio::select! {
            _ = cancel.cancelled() => {
                task.abort();
                return;
            }
            joined = &mut task => {
                if let Err(e) = joined
                    && e.is_panic()
                {
                    let why = baton_exec::panic_message(e.into_panic());
                    (inner.observer)(Observed::Problem(&format!("a monitor task failed (it goes on): {why}")));
                }
            }
        }
    }
}

impl Inner {
    fn problem(&self, text: String) {
        (self.observer)(Observed::Problem(&text));
    }

    fn silences(&self, now: i64) -> Vec<SilenceRecord> {
        self.store.silences(Some(now)).unwrap_or_else(|e| {
            self.problem(format!(
                "cannot read the silences (none apply this round): {e}"
            ));
            Vec::new()
        })
    }

    fn record(&self, samples: &[Sample]) {
        if let Err(e) = self.store.record_samples(samples) {
            self.problem(format!("cannot record {} samples: {e}", samples.len()));
        }
    }

    /// Record the nodes whose up/down state changed (memory saves the store a read per node).
    fn node_changes(&self, readings: &[NodeReading], at: i64) {
        for reading in readings {
            let known = self
                .nodes_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&reading.node)
                .copied();
            if known == Some(reading.up) {
                continue;
            }
            match self
                .store
                .set_node_state(&reading.node, reading.up, at, reading.error.as_deref())
            {
                Ok(event) => {
                    self.nodes_up
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(reading.node.clone(), reading.up);
                    if let Some(event) = event {
                        (self.observer)(Observed::Event(&event));
                    }
                }
                Err(e) => self.problem(format!(
                    "{}: cannot record that it is {}: {e}",
                    reading.node,
                    if reading.up { "up" } else { "down" }
                )),
            }
        }
    }
}

async fn collection_round(inner: Arc<Inner>) {
    if inner.plan.nodes.is_empty() {
        return;
    }
    let at = now_millis();
    let readings = inner.collector.round(&inner.plan.nodes).await;
    let samples: Vec<Sample> = readings.iter().flat_map(|r| r.samples(at)).collect();
    inner.record(&samples);
    inner.node_changes(&readings, at);
    let by_node: HashMap<&str, &NodeReading> =
        readings.iter().map(|r| (r.node.as_str(), r)).collect();
    let now = now_millis();
    let silences = inner.silences(now);
    for planned in &inner.plan.alerts {
        let AlertCondition::Metric {
            metric,
            above,
            below,
        } = &planned.alert.condition
        else {
            continue;
        };
        let name = metric.name();
        for node in &planned.nodes {
            let Some(reading) = by_node.get(node.as_str()) else {
                continue;
            };
            // No value (a down node's cpu, the first cpu reading): the state stays as it is.
            let Some(value) = reading.metrics.get(&name).copied() else {
                continue;
            };
            let evaluated = Reading {
                active: rules::condition_holds(*above, *below, value),
                value: Some(value),
                detail: reading.error.clone(),
            };
            inner
                .alerting
                .evaluate(&planned.alert, node, &evaluated, &silences, at);
        }
    }
}

async fn check_round(inner: Arc<Inner>, index: usize) {
    let planned = &inner.plan.checks[index];
    let at = now_millis();
    let shared = inner.clone();
    let results = baton_exec::fan_out(planned.nodes.clone(), inner.forks, move |node| {
        let inner = shared.clone();
        async move {
            let check = &inner.plan.checks[index].check;
            checks::run(
                check,
                &node,
                &inner.project,
                &baton_exec::http::client(),
                inner.executors.as_ref(),
            )
            .await
        }
    })
    .await;
    let results: Vec<(&String, CheckResult)> = planned
        .nodes
        .iter()
        .zip(results)
        .map(|(node, result)| {
            let result = result.unwrap_or_else(|panic| CheckResult {
                ok: false,
                detail: panic.to_string(),
            });
            (node, result)
        })
        .collect();
    let metric = format!("check:{}", planned.check.name);
    let samples: Vec<Sample> = results
        .iter()
        .map(|(node, result)| Sample {
            node: (*node).clone(),
            metric: metric.clone(),
            at,
            value: if result.ok { 1.0 } else { 0.0 },
        })
        .collect();
    inner.record(&samples);
    let now = now_millis();
    let silences = inner.silences(now);
    for alert in &inner.plan.alerts {
        let AlertCondition::Check(name) = &alert.alert.condition else {
            continue;
        };
        if name.value != planned.check.name {
            continue;
        }
        for (node, result) in &results {
            if !alert.nodes.contains(node) {
                continue;
            }
            let reading = Reading {
                active: !result.ok,
                value: None,
                detail: (!result.ok).then(|| result.detail.clone()),
            };
            inner
                .alerting
                .evaluate(&alert.alert, node, &reading, &silences, at);
        }
    }
}

async fn maintenance(inner: Arc<Inner>) {
    let store = inner.store.clone();
    let retention =
        i64::try_from(inner.project.monitoring.retention.as_millis()).unwrap_or(i64::MAX);
    // Compaction holds the store for a while: off the async threads.
    let compacted =
        tokio::task::spawn_blocking(move || store.compact_metrics(now_millis(), retention)).await;
    match compacted {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => inner.problem(format!("cannot roll up and prune the metrics: {e}")),
        Err(e) => inner.problem(format!("the metrics compaction failed: {e}")),
    }
    inner.alerting.requeue(now_millis());
}
