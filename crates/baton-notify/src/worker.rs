//! The delivery worker: claim due deliveries under a lease, send each, record the attempt
//! (the server's reply on failure) and schedule the next one with backoff, or give up.
//!
//! One worker per process is the rule (a server, `baton monitor`), but any number may share a
//! store: a claim is exclusive while its lease lasts (see `baton_store::NotifyStore`). The
//! lease outlasts the longest possible attempt, so a live worker's delivery is never taken
//! over; a dead worker's is, once its lease ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baton_model::{Channel, Project};
use baton_store::{DeliveryId, DeliveryRecord, Millis, NewDelivery, Owner, Store, now_millis};
use tokio_util::sync::CancellationToken;

use crate::NotifyError;
use crate::smtp::{self, Mail};
use crate::webhook;

/// Wait before attempt n + 1 after the n-th failed one; the last repeats.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
];

/// How often an idle worker looks for deliveries queued by other processes.
const POLL: Duration = Duration::from_secs(1);

/// Deliveries claimed at once (and sent concurrently).
const BATCH: usize = 16;

/// Where channel secrets (`password_secret`, a webhook's `secret`) come from.
pub trait SecretLookup: Send + Sync {
    /// The value of baton secret `name`; `Err` says why there is none.
    fn secret(&self, name: &str) -> Result<String, String>;
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub delivery: DeliveryId,
    pub channel: String,
    pub ok: bool,
    /// The server's reply, or why it could not be reached.
    pub reply: String,
    /// Whether another attempt is scheduled (after a failure).
    pub will_retry: bool,
}

/// Sends deliveries of one project's channels. Cheap to clone: each clone is the same worker.
#[derive(Clone)]
pub struct DeliveryWorker {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretLookup>,
    /// Names this worker's claims: host, pid and a number unique in the process.
    name: Arc<str>,
}

static WORKERS: AtomicU64 = AtomicU64::new(0);

impl DeliveryWorker {
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretLookup>,
    ) -> DeliveryWorker {
        let owner = Owner::current();
        let name = format!(
            "{}:{}:{}",
            owner.host,
            owner.pid,
            WORKERS.fetch_add(1, Ordering::Relaxed)
        );
        DeliveryWorker {
            project,
            store,
            secrets,
            name: name.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deliver until `cancel`: what is due now, then whatever becomes due (this process's or
    /// another's). Attempts under way when `cancel` fires are finished (each is bounded by
    /// its channel's timeouts), so none is left claimed.
    pub async fn run(&self, cancel: CancellationToken) {
        while !cancel.is_cancelled() {
            let claimed = match self.deliver_due(None).await {
                Ok(attempts) => attempts.len(),
                // The store is the record: with it unavailable (a full disk), wait and retry.
                Err(_) => 0,
            };
            if claimed >= BATCH {
                continue;
            }
            let wait = match self.store.next_delivery_due() {
                Ok(Some(due)) => Duration::from_millis((due - now_millis()).clamp(0, 1_000) as u64),
                _ => POLL,
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
        }
    }

    /// Claim what is due (of `only`, when given) and send it, concurrently; one [`Attempt`]
    /// per delivery claimed.
    pub async fn deliver_due(
        &self,
        only: Option<&[DeliveryId]>,
    ) -> Result<Vec<Attempt>, NotifyError> {
        let claimed =
            self.store
                .claim_deliveries(&self.name, now_millis(), self.lease_ms(), BATCH, only)?;
        let mut sends = tokio::task::JoinSet::new();
        for delivery in claimed {
            let worker = self.clone();
            sends.spawn(async move { worker.attempt(delivery).await });
        }
        let mut attempts = Vec::new();
        while let Some(done) = sends.join_next().await {
            match done {
                Ok(Ok(attempt)) => attempts.push(attempt),
                Ok(Err(e)) => return Err(e),
                // A panicking send leaves its claim to expire; it is tried again then.
                Err(_) => {}
            }
        }
        attempts.sort_by_key(|a| a.delivery);
        Ok(attempts)
    }

    /// Deliver `ids` (a run's own notices, from a CLI that is about to exit) until each is
    /// sent or failed for good, or `bound` has passed: what is left stays queued for a server
    /// or monitor. Returns the ids still pending.
    pub async fn deliver_these(&self, ids: &[DeliveryId], bound: Duration) -> Vec<DeliveryId> {
        let deadline = tokio::time::Instant::now() + bound;
        let work = async {
            loop {
                let _ = self.deliver_due(Some(ids)).await;
                let pending = self.pending(ids);
                let next = pending.iter().map(next_try).min();
                let Some(next) = next else { return };
                let wait = Duration::from_millis((next - now_millis()).max(50) as u64);
                if tokio::time::Instant::now() + wait > deadline {
                    return;
                }
                tokio::time::sleep(wait).await;
            }
        };
        let _ = tokio::time::timeout_at(deadline, work).await;
        self.pending(ids).iter().map(|d| d.id).collect()
    }

    fn pending(&self, ids: &[DeliveryId]) -> Vec<DeliveryRecord> {
        ids.iter()
            .filter_map(|id| self.store.delivery(*id).ok().flatten())
            .filter(|d| !d.status.is_final())
            .collect()
    }

    /// `baton notify test`: queue a test message for `channel` (no retries) and send it now.
    pub async fn test(&self, channel: &str) -> Result<(DeliveryRecord, Attempt), NotifyError> {
        let project = &self.project;
        if !project.notifications.contains_key(channel) {
            return Err(NotifyError::unknown_channel(channel, project));
        }
        let name = project
            .name
            .as_ref()
            .map(|n| n.value.as_str())
            .unwrap_or("baton");
        let message = crate::Message {
            subject: format!("[baton] test notification from {name}"),
            body: format!(
                "This is a test of notification channel {channel}, sent by `baton notify test` at {}.\n",
                crate::message::human_time(now_millis())
            ),
            payload: serde_json::json!({ "kind": "test", "project": name, "channel": channel }),
        };
        let id = self.store.enqueue_delivery(&NewDelivery {
            channel: channel.to_string(),
            origin: "test".into(),
            subject: message.subject,
            body: message.body,
            payload: message.payload,
            max_retries: 0,
        })?;
        let attempt = self
            .deliver_due(Some(&[id]))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| NotifyError::Send(format!("delivery {id} was claimed elsewhere")))?;
        let record = self
            .store
            .delivery(id)?
            .ok_or_else(|| NotifyError::Send(format!("delivery {id} vanished")))?;
        Ok((record, attempt))
    }

    /// Longer than any attempt can take: connect and each command are bounded by the
    /// channel's timeout, and an attempt as a whole by [`Self::attempt_bound`].
    fn lease_ms(&self) -> i64 {
        let longest = self
            .project
            .notifications
            .values()
            .map(|n| attempt_bound(&n.channel))
            .max()
            .unwrap_or(Duration::ZERO);
        (longest * 2).max(Duration::from_secs(300)).as_millis() as i64
    }

    async fn attempt(&self, delivery: DeliveryRecord) -> Result<Attempt, NotifyError> {
        let result = match self.project.notifications.get(&delivery.channel) {
            None => Err(format!(
                "notification channel `{}` is no longer defined in baton.yaml",
                delivery.channel
            )),
            Some(channel) => {
                let bound = attempt_bound(&channel.channel);
                match tokio::time::timeout(bound, self.send(&channel.channel, &delivery)).await {
                    Ok(result) => result,
                    Err(_) => Err(format!("timed out: not done after {}s", bound.as_secs())),
                }
            }
        };
        let at = now_millis();
        let attempt_no = delivery.attempts + 1;
        let (ok, reply, will_retry) = match result {
            Ok(reply) => {
                self.store
                    .delivery_sent(delivery.id, &self.name, at, Some(&reply))?;
                (true, reply, false)
            }
            Err(reason) => {
                let retry_at = (attempt_no <= delivery.max_retries)
                    .then(|| at + backoff(attempt_no).as_millis() as Millis);
                self.store
                    .delivery_failed(delivery.id, &self.name, at, &reason, retry_at)?;
                (false, reason, retry_at.is_some())
            }
        };
        Ok(Attempt {
            delivery: delivery.id,
            channel: delivery.channel,
            ok,
            reply,
            will_retry,
        })
    }

    async fn send(&self, channel: &Channel, delivery: &DeliveryRecord) -> Result<String, String> {
        match channel {
            Channel::Smtp(smtp) => {
                let password = match &smtp.password_secret {
                    Some(name) => Some(self.secrets.secret(&name.value)?),
                    None => None,
                };
                let mail = Mail {
                    subject: &delivery.subject,
                    body: &delivery.body,
                };
                smtp::send(smtp, &self.project.root, password, mail).await
            }
            Channel::Webhook(hook) => {
                let secret = match &hook.secret {
                    Some(name) => Some(self.secrets.secret(&name.value)?),
                    None => None,
                };
                let context = serde_json::json!({ "vars": self.project.vars });
                let url = baton_model::template::render(&hook.url.value, &context)
                    .map_err(|e| format!("url: {e}"))?;
                let body = webhook::body(
                    hook.format,
                    &delivery.subject,
                    &delivery.body,
                    &delivery.payload,
                );
                webhook::send(
                    &baton_exec::http::client(),
                    hook,
                    &url,
                    secret.as_deref(),
                    delivery.id,
                    body,
                )
                .await
            }
        }
    }
}

/// When a pending delivery may be tried next: its due time, or the end of a live lease.
fn next_try(d: &DeliveryRecord) -> Millis {
    d.next_attempt_at.max(d.lease_until.unwrap_or(0))
}

/// An attempt's whole deadline, a backstop: SMTP's phases are bounded one by one (connect,
/// STARTTLS, AUTH, twice the timeout for the message).
fn attempt_bound(channel: &Channel) -> Duration {
    match channel {
        Channel::Smtp(s) => s.timeout * 6,
        Channel::Webhook(w) => w.timeout + Duration::from_secs(5),
    }
}

/// The wait after the n-th failed attempt (1-based).
pub fn backoff(failed_attempts: u32) -> Duration {
    let index = (failed_attempts.max(1) as usize - 1).min(BACKOFF.len() - 1);
    let wait = BACKOFF[index];
    // Test hook (debug builds only): the suite checks retries without waiting minutes.
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("BATON_TEST_NOTIFY_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_millis(ms);
    }
    wait
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_repeats_its_last_step() {
        let waits: Vec<u64> = (1..=7).map(|n| BACKOFF[(n - 1).min(4)].as_secs()).collect();
        assert_eq!(waits, [10, 30, 120, 600, 1800, 1800, 1800]);
    }
}
