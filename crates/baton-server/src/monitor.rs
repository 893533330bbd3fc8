//! The monitor of `baton serve`: the operations layer's monitor for the current project (node
//! metrics, checks, alerts), restarted when `baton.yaml` is reloaded. A `baton monitor`
//! already running on the store holds its lock: the server says so and tries again later.
//! Its transitions reach `/api/events` through the store, as every other event.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::server::Server;
use crate::triggers::RELOAD_EVERY;

/// How long the server waits before trying again to take the monitor lock.
const LOCK_RETRY: Duration = Duration::from_secs(10);

/// Monitor until `stop`.
pub async fn monitor_loop(server: Arc<Server>, stop: CancellationToken) {
    let mut told_held = false;
    loop {
        let ops = server.ops();
        let watch_stop = stop.child_token();
        let watch = tokio::spawn({
            let ops = ops.clone();
            let watch_stop = watch_stop.clone();
            async move {
                ops.watch(
                    &watch_stop,
                    |started| {
                        tracing::info!(
                            "monitor: {} nodes, {} checks, {} alerts",
                            started.nodes,
                            started.checks,
                            started.alerts
                        )
                    },
                    |note| match note {
                        baton_ops::MonitorNote::Event(e) => tracing::info!(
                            "monitor: {} {} {}",
                            e.alert.as_deref().unwrap_or("node"),
                            e.node,
                            e.state
                        ),
                        baton_ops::MonitorNote::Problem(p) => tracing::warn!("monitor: {p}"),
                    },
                )
                .await
            }
        });
        let mut retry = false;
        let mut watch = Some(watch);
        loop {
            let finished = watch.as_ref().is_some_and(|w| w.is_finished());
            if finished && let Ok(Err(e)) = watch.take().expect("checked").await {
                if !told_held {
                    tracing::warn!("monitor not started: {e}");
                    told_held = true;
                }
                retry = true;
            }
            tokio::select! {
                _ = stop.cancelled() => {
                    watch_stop.cancel();
                    if let Some(w) = watch {
                        let _ = w.await;
                    }
                    return;
                }
                _ = tokio::time::sleep(if retry { LOCK_RETRY } else { RELOAD_EVERY }) => {}
            }
            if retry || !Arc::ptr_eq(&server.ops(), &ops) {
                break;
            }
        }
        watch_stop.cancel();
        if let Some(w) = watch {
            let _ = w.await;
        }
        if !retry {
            tracing::info!("monitor: project reloaded");
        }
    }
}
