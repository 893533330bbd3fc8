//! What every run shares, whichever job it is: creation with an actor, cancellation requested
//! through the store, and the final event. Pipelines, exec, config and infra applies use it, so
//! `baton cancel`, `runs` and `show` treat them all alike.

use std::sync::Arc;
use std::time::Duration;

use baton_store::{EventKind, NewRun, RunId, Status, Store};
use tokio_util::sync::CancellationToken;

use crate::emitter::{Emitter, EventSink};
use crate::error::EngineError;
use crate::pipeline::RunOutcome;

/// How often a running run looks for a cancel request in the store. Cheap (one indexed read)
/// and short enough that `baton cancel` from another shell feels immediate.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// The token a run's work watches: cancelled by the caller's token (Ctrl-C in a terminal, a
/// server shutting down) or by a cancel request recorded in the store for this run only.
/// The watcher ends when the returned guard is dropped.
pub fn run_cancellation(
    store: Arc<dyn Store>,
    run: RunId,
    parent: &CancellationToken,
) -> (CancellationToken, CancelWatch) {
    let token = parent.child_token();
    let watched = token.clone();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = watched.cancelled() => return,
                _ = tokio::time::sleep(CANCEL_POLL) => {}
            }
            // A store that cannot be read is not a cancel request: keep running.
            if let Ok(Some(_)) = store.cancel_requested(run) {
                watched.cancel();
                return;
            }
        }
    });
    (token, CancelWatch(task))
}

/// Stops the cancel watcher of a run when the run is over.
pub struct CancelWatch(tokio::task::JoinHandle<()>);

impl Drop for CancelWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a cancelled run stopped, naming who asked when it was a request.
pub fn cancel_reason(store: &dyn Store, run: RunId) -> String {
    match store.cancel_requested(run) {
        Ok(Some(actor)) if !actor.is_empty() => format!("cancelled by {actor}"),
        _ => "cancelled".to_string(),
    }
}

/// A run of a job that is not a pipeline (a config apply, an infra apply): created, started at
/// once (those jobs serialize on their own locks, not on a queue), watched for cancel requests,
/// and finished with one `RunFinished` event.
pub struct JobRun {
    emitter: Emitter,
    cancel: CancellationToken,
    _watch: CancelWatch,
}

impl JobRun {
    /// Record `run` and start it; events go to the store, then `sinks`.
    pub fn begin(
        store: Arc<dyn Store>,
        sinks: Arc<Vec<Arc<dyn EventSink>>>,
        run: &NewRun,
        cancel: &CancellationToken,
    ) -> Result<JobRun, EngineError> {
        let id = store.create_run(run)?;
        store.try_start_run(id, u32::MAX)?;
        let emitter = Emitter::new(id, store.clone(), sinks);
        let (cancel, watch) = run_cancellation(store, id, cancel);
        emitter.emit(EventKind::RunStarted);
        Ok(JobRun {
            emitter,
            cancel,
            _watch: watch,
        })
    }

    pub fn run(&self) -> RunId {
        self.emitter.run()
    }

    pub fn emitter(&self) -> &Emitter {
        &self.emitter
    }

    /// Cancelled by Ctrl-C of the caller or by `baton cancel RUN` from anywhere.
    pub fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Record the outcome; a cancelled run's reason names who cancelled it.
    pub fn finish(self, status: Status, reason: Option<String>) -> RunOutcome {
        let reason = if status == Status::Cancelled && reason.is_none() {
            Some(cancel_reason(self.emitter.store().as_ref(), self.run()))
        } else {
            reason
        };
        crate::pipeline::finish(&self.emitter, status, reason)
    }
}
