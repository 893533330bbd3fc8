//! The notification delivery loop of `baton serve`: the operations layer's worker for the
//! current project, replaced (after finishing its attempts) when `baton.yaml` is reloaded, so
//! channel edits apply without a restart.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::server::Server;
use crate::triggers::RELOAD_EVERY;

/// Deliver until `stop` (cancelled after the runs have drained, so that the notices of runs
/// ending during the drain go out too).
pub async fn deliver_loop(server: Arc<Server>, stop: CancellationToken) {
    loop {
        let ops = server.ops();
        let worker_stop = stop.child_token();
        let worker = tokio::spawn({
            let ops = ops.clone();
            let worker_stop = worker_stop.clone();
            async move { ops.deliver_notifications(worker_stop).await }
        });
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    let _ = worker.await;
                    return;
                }
                _ = tokio::time::sleep(RELOAD_EVERY) => {}
            }
            if !Arc::ptr_eq(&server.ops(), &ops) {
                tracing::info!("notifications: channels reloaded");
                break;
            }
        }
        worker_stop.cancel();
        let _ = worker.await;
    }
}
