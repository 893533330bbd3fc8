//! The loops that start runs without a request: the project reload watcher, the schedule
//! firing loop and the commit pollers.

use std::sync::Arc;
use std::time::Duration;

use baton_ops::runs::{RunAction, StartRun};
use baton_store::SlotOutcome;
use chrono::Utc;
use tokio::task::JoinSet;

use crate::server::{Reload, Server};

/// How often the commit loop looks for watches that are due.
const COMMIT_TICK: Duration = Duration::from_secs(1);

/// The longest the schedule loop sleeps: an edit of `baton.yaml` may bring a sooner slot.
const SCHEDULE_RECHECK: Duration = Duration::from_secs(5);

/// How often the project files are checked for edits.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

pub fn spawn(server: Arc<Server>) -> JoinSet<()> {
    let mut loops = JoinSet::new();
    loops.spawn(reload_loop(server.clone()));
    loops.spawn(schedule_loop(server.clone()));
    loops.spawn(commit_loop(server));
    loops
}

async fn reload_loop(server: Arc<Server>) {
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tokio::time::sleep(RELOAD_EVERY) => {}
        }
        let s = server.clone();
        match tokio::task::spawn_blocking(move || s.reload_if_changed()).await {
            Ok(Reload::Reloaded) => tracing::info!("baton.yaml changed: reloaded"),
            Ok(Reload::Invalid(message)) => tracing::error!(
                "baton.yaml changed but is invalid; the previous version stays in use:\n{message}"
            ),
            Ok(Reload::Unchanged | Reload::StillInvalid) => {}
            Err(e) => tracing::error!("the reload check failed: {e}"),
        }
    }
}

/// Fire what is due, then sleep until the next due time (or a few seconds, to see edits).
/// Slots are claimed in the store, so a restart or a second process never fires one twice.
async fn schedule_loop(server: Arc<Server>) {
    let since = server.started_at;
    loop {
        let ops = server.ops();
        let now = Utc::now();
        let o = ops.clone();
        let due = match tokio::task::spawn_blocking(move || o.claim_due_slots(since, now)).await {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::error!("schedules: {}", e.message);
                Vec::new()
            }
            Err(e) => {
                tracing::error!("schedules: {e}");
                Vec::new()
            }
        };
        for slot in due {
            fire(&server, &slot).await;
        }
        let now = Utc::now();
        let wait = ops
            .next_schedule_due(now)
            .and_then(|next| (next - now).to_std().ok())
            .map_or(SCHEDULE_RECHECK, |d| d.min(SCHEDULE_RECHECK));
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn fire(server: &Arc<Server>, slot: &baton_ops::schedule::DueSlot) {
    let ops = server.ops();
    let action = RunAction::Run(StartRun {
        pipeline: slot.pipeline.clone(),
        trigger: "schedule".into(),
        actor: "schedule".into(),
        ..StartRun::default()
    });
    let started = match ops.plan_run(action) {
        Ok(plan) => server.start_run(plan).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(run) => {
            let lag = (Utc::now() - slot.due).num_milliseconds() as f64 / 1000.0;
            server.metrics.schedule_lag(&slot.pipeline, lag);
            if let Err(e) = ops.store.set_slot_run(&slot.pipeline, slot.slot, run) {
                tracing::warn!(
                    "schedule of `{}`: run {run} not linked to its slot: {e}",
                    slot.pipeline
                );
            }
            let how = if slot.outcome == SlotOutcome::CaughtUp {
                " (caught up after downtime)"
            } else {
                ""
            };
            tracing::info!(
                "schedule: `{}` due {} started run {run}{how}",
                slot.pipeline,
                slot.due.to_rfc3339()
            );
        }
        Err(e) => tracing::error!(
            "schedule: `{}` could not start: {}",
            slot.pipeline,
            e.message
        ),
    }
}

/// Poll each commit trigger every `interval` (watches follow edits of `baton.yaml`); one run
/// per new head, in a checkout of it. Polls run one at a time: a slow remote delays the others
/// rather than piling up git processes.
async fn commit_loop(server: Arc<Server>) {
    let mut last: std::collections::HashMap<(String, String), tokio::time::Instant> =
        std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = server.shutdown.cancelled() => return,
            _ = tokio::time::sleep(COMMIT_TICK) => {}
        }
        let ops = server.ops();
        for watch in ops.commit_watches() {
            let key = (watch.pipeline.clone(), watch.repo.clone());
            let now = tokio::time::Instant::now();
            if last
                .get(&key)
                .is_some_and(|at| now.duration_since(*at) < watch.interval)
            {
                continue;
            }
            last.insert(key, now);
            let heads = tokio::select! {
                _ = server.shutdown.cancelled() => return,
                heads = ops.poll_commits(&watch) => heads,
            };
            match heads {
                Ok(heads) => {
                    for head in heads {
                        start_for_head(&server, &head).await;
                    }
                }
                Err(e) => tracing::warn!("commit trigger of `{}`: {}", watch.pipeline, e.message),
            }
        }
    }
}

async fn start_for_head(server: &Arc<Server>, head: &baton_ops::NewHead) {
    let ops = server.ops();
    let action = RunAction::Run(StartRun {
        pipeline: head.pipeline.clone(),
        trigger: "commit".into(),
        actor: "commit".into(),
        branch: Some(head.branch.clone()),
        commit: Some(head.commit.clone()),
        checkout: Some(head.checkout()),
        ..StartRun::default()
    });
    let started = match ops.plan_run(action) {
        Ok(plan) => server.start_run(plan).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(run) => tracing::info!(
            "commit: `{}` {} moved to {}: run {run}",
            head.pipeline,
            head.branch,
            &head.commit[..head.commit.len().min(12)]
        ),
        Err(e) => tracing::error!("commit: `{}` could not start: {}", head.pipeline, e.message),
    }
}
