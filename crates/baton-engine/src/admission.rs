//! Admission: a run waits in the store's queue until its pipeline's `concurrency` lets it start.

use std::time::Duration;

use baton_model::Pipeline;
use tokio_util::sync::CancellationToken;

use crate::emitter::Emitter;
use crate::error::EngineError;
use crate::pipeline::Engine;

/// How often a queued run checks whether it may start.
const QUEUE_POLL: Duration = Duration::from_millis(100);

impl Engine {
    /// Wait until the pipeline's `concurrency` lets this run start. Returns false if cancelled.
    pub(crate) async fn admit(
        &self,
        emitter: &Emitter,
        pipeline: &Pipeline,
        cancel: &CancellationToken,
    ) -> Result<bool, EngineError> {
        let limit = pipeline.concurrency.max(1);
        let mut announced = false;
        let mut polls = 0u32;
        loop {
            if self.store.try_start_run(emitter.run(), limit)? {
                return Ok(true);
            }
            if !announced {
                emitter.message(format!(
                    "queued: `{}` allows {limit} run(s) at once; waiting for the earlier ones to finish",
                    pipeline.name
                ));
                announced = true;
            }
            polls += 1;
            // A run ahead of us whose process died would block the queue forever.
            if polls.is_multiple_of(10) {
                crate::recovery::recover_interrupted_runs(self.store.as_ref())?;
            }
            tokio::select! {
                _ = tokio::time::sleep(QUEUE_POLL) => {}
                _ = cancel.cancelled() => return Ok(false),
            }
        }
    }
}
