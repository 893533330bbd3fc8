//! Notification deliveries as front ends see them (`notify log --json`, `notify test --json`,
//! later the REST bodies).

use baton_store::{DeliveryRecord, Millis};
use serde::{Deserialize, Serialize};

/// One queued, sent or failed message to one channel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub channel: String,
    /// What it is about: `run:42` (a run's end), `run-start:42`, `step:42` (a `notify:` step
    /// of run 42), `alert:NAME@NODE`, `test`.
    pub origin: String,
    pub subject: String,
    /// `queued`, `retrying`, `sent` or `failed` (given up).
    pub status: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Attempts allowed after the first.
    pub retries: u32,
    #[schema(value_type = i64)]
    pub created_at: Millis,
    #[schema(value_type = Option<i64>)]
    pub sent_at: Option<Millis>,
    /// When the next attempt is due, while one is.
    #[schema(value_type = Option<i64>)]
    pub next_attempt_at: Option<Millis>,
    /// The server's reply (or the connection error) of the last failed attempt.
    pub last_error: Option<String>,
}

impl From<&DeliveryRecord> for Delivery {
    fn from(d: &DeliveryRecord) -> Delivery {
        Delivery {
            id: d.id,
            channel: d.channel.clone(),
            origin: d.origin.clone(),
            subject: d.subject.clone(),
            status: d.status.as_str().to_string(),
            attempts: d.attempts,
            retries: d.max_retries,
            created_at: d.created_at,
            sent_at: d.sent_at,
            next_attempt_at: (!d.status.is_final()).then_some(d.next_attempt_at),
            last_error: d.last_error.clone(),
        }
    }
}

/// `baton notify test CHANNEL`: what the server said.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NotifyTest {
    pub channel: String,
    pub delivery: i64,
    pub ok: bool,
    /// The server's reply (`250 …`, `HTTP 200`) or why it failed.
    pub reply: String,
}
