//! Cancelling a run: a request recorded in the store, which the process running it (this
//! one, another terminal, a server) watches. Nothing is signalled: a server running many runs
//! stops only the one asked for, and a queued run is cancelled before it starts.

use std::time::{Duration, Instant};

use baton_store::{RunId, Status};

use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// How long `cancel` waits for the run to stop before saying it has not yet.
pub const CANCEL_WAIT: Duration = Duration::from_secs(15);

/// What became of a cancel request.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Cancelled {
    #[schema(value_type = i64)]
    pub run: RunId,
    /// The run's status when `cancel` returned: `cancelled` once it stopped, else still
    /// `running` / `queued` (it stops at its next step boundary or kill).
    #[schema(value_type = crate::api::schema::Status)]
    pub status: Status,
    pub stopped: bool,
}

impl Ops {
    /// Ask run `run` to stop and wait (up to `wait`) until it has.
    pub fn cancel(&self, run: RunId, actor: &str, wait: Duration) -> OpsResult<Cancelled> {
        let record = self
            .store
            .request_cancel(run, actor)?
            .ok_or_else(|| OpsError::not_found(format!("no run {run}")))?;
        if record.status.is_finished() && record.cancel_requested_by.is_none() {
            return Err(OpsError::conflict(format!(
                "run {run} already finished ({})",
                record.status
            )));
        }
        let started = Instant::now();
        loop {
            let status = self
                .store
                .run(run)?
                .map(|r| r.status)
                .unwrap_or(Status::Cancelled);
            if status.is_finished() || started.elapsed() >= wait {
                return Ok(Cancelled {
                    run,
                    status,
                    stopped: status.is_finished(),
                });
            }
            // The run's owner may have died since: its run is then marked interrupted here.
            if started.elapsed() > Duration::from_secs(1) {
                let _ = baton_engine::recover_interrupted_runs(self.store.as_ref());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
