//! The loops that start runs without a request: the project reload watcher, the schedule
//! firing loop and the commit pollers.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::server::{Reload, Server};

/// How often the project files are checked for edits.
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

pub fn spawn(server: Arc<Server>) -> JoinSet<()> {
    let mut loops = JoinSet::new();
    loops.spawn(reload_loop(server));
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
