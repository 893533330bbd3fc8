//! `/metrics` in the OpenMetrics text format (prometheus-client): run counts by pipeline and
//! status and the queue length (read from the store at scrape time, so they count every
//! process's runs), run durations (observed as runs finish, from the event stream), webhook
//! deliveries by result, schedule lag and live SSE clients.

use std::sync::Mutex;

use baton_store::{Event, EventKind, RunId, Store};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::events::Observer;

type Labels = Vec<(&'static str, String)>;

fn duration_histogram() -> Histogram {
    // 0.1 s … ~7 h.
    Histogram::new(exponential_buckets(0.1, 3.0, 12))
}

fn lag_histogram() -> Histogram {
    // 1 ms … ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    runs: Family<Labels, Gauge>,
    queued: Gauge,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    deliveries: Family<Labels, Counter>,
    schedule_lag: Family<Labels, Histogram, fn() -> Histogram>,
    clients: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("baton");
        let runs = Family::<Labels, Gauge>::default();
        let queued = Gauge::default();
        let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let deliveries = Family::<Labels, Counter>::default();
        let schedule_lag = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            lag_histogram as fn() -> Histogram,
        );
        let clients = Gauge::default();
        registry.register(
            "runs",
            "Runs in the store by kind, name and status",
            runs.clone(),
        );
        registry.register(
            "runs_queued",
            "Runs waiting for a free slot",
            queued.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Duration of runs that finished while this server watched",
            durations.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by pipeline and result",
            deliveries.clone(),
        );
        registry.register(
            "schedule_lag_seconds",
            "From a schedule's due time to its run's start",
            schedule_lag.clone(),
        );
        registry.register(
            "sse_clients",
            "Clients following /api/events",
            clients.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            runs,
            queued,
            durations,
            deliveries,
            schedule_lag,
            clients,
        }
    }

    pub fn delivery(&self, pipeline: &str, result: &'static str) {
        self.deliveries
            .get_or_create(&vec![
                ("pipeline", pipeline.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    pub fn schedule_lag(&self, pipeline: &str, seconds: f64) {
        self.schedule_lag
            .get_or_create(&vec![("pipeline", pipeline.to_string())])
            .observe(seconds.max(0.0));
    }

    pub fn set_clients(&self, n: usize) {
        self.clients.set(n as i64);
    }

    /// The text of `/metrics`, with the store-derived gauges read now.
    pub fn render(&self, store: &dyn Store) -> Result<String, String> {
        let counts = store.run_counts().map_err(|e| e.to_string())?;
        let queued = store.queued_runs().map_err(|e| e.to_string())?;
        self.runs.clear();
        for c in counts {
            self.runs
                .get_or_create(&vec![
                    ("kind", c.kind.as_str().to_string()),
                    ("name", c.name),
                    ("status", c.status.as_str().to_string()),
                ])
                .set(c.count as i64);
        }
        self.queued.set(queued as i64);
        let mut text = String::new();
        encode(&mut text, &self.registry.lock().expect("not poisoned"))
            .map_err(|e| e.to_string())?;
        Ok(text)
    }
}

impl Observer for Metrics {
    fn observe(&self, store: &dyn Store, run: RunId, event: &Event) {
        if !matches!(event.kind, EventKind::RunFinished { .. }) {
            return;
        }
        if let Ok(Some(record)) = store.run(run)
            && let Some(ms) = record.duration_ms()
        {
            self.durations
                .get_or_create(&vec![
                    ("kind", record.kind.as_str().to_string()),
                    ("name", record.name.clone()),
                ])
                .observe(ms as f64 / 1000.0);
        }
    }
}
