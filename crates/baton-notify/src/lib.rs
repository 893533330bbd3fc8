//! Notifications: what baton tells people (an alert firing or resolving, a run's end, a
//! `notify:` step's message) through the channels of `notifications:` (SMTP mail, webhooks).
//!
//! Nothing here sends inline: every message becomes one delivery row per channel in the store's
//! queue ([`baton_store::NotifyStore`]), rendered from a template when it is queued, and a
//! worker claims and sends due deliveries, retrying with backoff, recording every attempt.
//! Callers (the monitor, the run paths, the `notify:` step) never wait on a mail server and no
//! notification failure reaches a run's result.
//!
//! Architecture invariant: depends on the model (channels) and the store (the queue) only; never
//! prints; secrets come through [`SecretLookup`], so the crate knows nothing of age files.

mod alert;
mod error;
mod message;
mod queue;
mod run;
mod smtp;
mod webhook;
mod worker;

pub use alert::{AlertNotice, enqueue_alert};
pub use error::NotifyError;
pub use message::Message;
pub use queue::enqueue_message;
pub use run::{
    LOG_TAIL_LINES, StepNotice, enqueue_run_end, enqueue_run_start, enqueue_step_message,
    run_origin, run_start_origin, step_origin,
};
pub use webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, signature};
pub use worker::{Attempt, BACKOFF, DeliveryWorker, SecretLookup, backoff};
