//! The notification delivery queue: every message baton sends (an alert, a run's end, a
//! `notify:` step, `baton notify test`) is a delivery row first, sent by a worker after.
//!
//! Implemented for SQLite in `sqlite_notify.rs` (tables in `migrations/010_notifications.sql`).
//!
//! ## Several workers, one store
//! A worker **claims** due deliveries with its owner name and a lease
//! ([`NotifyStore::claim_deliveries`]): one statement moves each row to the claimant, so two
//! workers (a server and a `baton run`, two servers) never both get a row while the lease holds.
//! A worker that dies mid-send leaves its claim to expire, and the row is claimed again. The
//! outcome ([`NotifyStore::delivery_sent`], [`NotifyStore::delivery_failed`]) is recorded only
//! by the current claimant: a worker whose lease was taken over cannot overwrite the record.
//! Each attempt is kept ([`NotifyStore::delivery_attempts`]) with the server's reply.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::store::StoreResult;

pub type DeliveryId = i64;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Queued,
    /// An attempt failed; another is due at `next_attempt_at`.
    Retrying,
    Sent,
    /// Every attempt failed: given up, `last_error` says why.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Retrying,
        DeliveryStatus::Sent,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Sent or failed: nothing more will be tried.
    pub fn is_final(self) -> bool {
        matches!(self, DeliveryStatus::Sent | DeliveryStatus::Failed)
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message to queue for one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// The channel's name in `notifications:`.
    pub channel: String,
    /// What it is about: `run:42`, `step:42`, `alert:high_cpu@web01`, `test`.
    pub origin: String,
    pub subject: String,
    pub body: String,
    /// The structured fields (a webhook's JSON body is built from them).
    pub payload: serde_json::Value,
    /// Attempts after the first before giving up.
    pub max_retries: u32,
}

/// A queued, sent or failed delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub channel: String,
    pub origin: String,
    pub subject: String,
    pub body: String,
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub max_retries: u32,
    /// When the next attempt is due (unix ms); meaningless once final.
    pub next_attempt_at: Millis,
    /// The server's reply (or the connection error) of the last failed attempt.
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    /// The worker holding it, while its lease lasts.
    pub claimed_by: Option<String>,
    pub lease_until: Option<Millis>,
}

/// One attempt at sending a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub delivery: DeliveryId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: Millis,
    pub ok: bool,
    /// The server's reply (a failure's reason; on success what the server said, if anything).
    pub reply: Option<String>,
    pub worker: String,
}

/// Which deliveries a listing shows, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub limit: Option<usize>,
    pub status: Option<DeliveryStatus>,
    pub channel: Option<String>,
    /// Only deliveries whose origin is exactly this.
    pub origin: Option<String>,
    /// Only ids strictly lower (the next page).
    pub before: Option<DeliveryId>,
}

/// The delivery queue. Part of [`crate::Store`]. Every write is one transaction; claims and
/// outcomes are atomic across processes sharing the store.
pub trait NotifyStore {
    /// Queue a delivery, due now.
    fn enqueue_delivery(&self, delivery: &NewDelivery) -> StoreResult<DeliveryId>;
    /// Claim up to `limit` deliveries that are due at `now` (queued or retrying, next attempt
    /// reached) and not held by a live lease, oldest due first, for `worker` until
    /// `now + lease_ms`. With `only`, just those ids (a `baton run` delivering its own run's).
    /// What one caller claims, no other caller gets until the lease ends.
    fn claim_deliveries(
        &self,
        worker: &str,
        now: Millis,
        lease_ms: i64,
        limit: usize,
        only: Option<&[DeliveryId]>,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Record a successful attempt by `worker`: `sent`. `false` (nothing written) when
    /// `worker` does not hold the claim any more.
    fn delivery_sent(
        &self,
        id: DeliveryId,
        worker: &str,
        at: Millis,
        reply: Option<&str>,
    ) -> StoreResult<bool>;
    /// Record a failed attempt by `worker` with the server's reply: `retrying` until
    /// `retry_at`, or `failed` for good with `None`. `false` (nothing written) when `worker`
    /// does not hold the claim any more.
    fn delivery_failed(
        &self,
        id: DeliveryId,
        worker: &str,
        at: Millis,
        error: &str,
        retry_at: Option<Millis>,
    ) -> StoreResult<bool>;
    fn delivery(&self, id: DeliveryId) -> StoreResult<Option<DeliveryRecord>>;
    /// Deliveries matching `filter`, newest first.
    fn deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>>;
    /// The attempts of one delivery, first first.
    fn delivery_attempts(&self, id: DeliveryId) -> StoreResult<Vec<DeliveryAttempt>>;
    /// The earliest `next_attempt_at` of a delivery still to try (a worker sleeps until then).
    fn next_delivery_due(&self) -> StoreResult<Option<Millis>>;
}
