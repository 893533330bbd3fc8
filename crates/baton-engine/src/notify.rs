//! Notifications as the engine sees them: a run's start and end, and the `notify:` step. The
//! notification crate (channels, queue, worker) is composed by the binary, so the engine sees
//! it only through this trait, as it sees infrastructure through `InfraRunner`.
//!
//! Every method only queues (a store write); nothing here waits on a mail server, and no
//! implementation's failure changes a run's result except a `notify:` step that could not
//! queue its message.

use baton_store::RunId;

/// What a `notify:` step asks for, its message already rendered with the step's context.
pub struct NotifyStepRequest<'a> {
    pub run: RunId,
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub target: &'a str,
    pub channels: &'a [String],
    /// `None`: the step gave no `message`, the notifier's default is used.
    pub message: Option<String>,
}

pub trait Notifier: Send + Sync {
    /// Run `run` was admitted and starts (`notify.on_start`).
    fn run_started(&self, run: RunId);
    /// Run `run` has its final status recorded (`on_failure`, `on_success`, `on_change`).
    /// Problems are the notifier's to record; the run is over.
    fn run_finished(&self, run: RunId);
    /// Queue a `notify:` step's message; `Ok` is the line for the step's log (which channels),
    /// `Err` why nothing was queued (the step fails).
    fn step_message(&self, request: NotifyStepRequest<'_>) -> Result<String, String>;
}
