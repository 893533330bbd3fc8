//! [`NotifyStore`] for the SQLite backend (tables in `migrations/010_notifications.sql`).
//!
//! A claim is one `UPDATE … WHERE id IN (due rows) RETURNING`: SQLite takes the write lock
//! before it reads, so two processes cannot both pick the same due row. Outcomes check the
//! claimant in their `WHERE`, inside one transaction with the attempt's row.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use crate::Millis;
use crate::notify_store::{
    DeliveryAttempt, DeliveryFilter, DeliveryId, DeliveryRecord, DeliveryStatus, NewDelivery,
    NotifyStore,
};
use crate::sqlite::SqliteStore;
use crate::store::StoreResult;

const DELIVERY_COLUMNS: &str = "id, channel, origin, subject, body, payload, status, attempts, \
     max_retries, next_attempt_at, last_error, created_at, sent_at, claimed_by, lease_until";

fn delivery_from_row(r: &Row) -> rusqlite::Result<DeliveryRecord> {
    let payload: String = r.get(5)?;
    let status: String = r.get(6)?;
    Ok(DeliveryRecord {
        id: r.get(0)?,
        channel: r.get(1)?,
        origin: r.get(2)?,
        subject: r.get(3)?,
        body: r.get(4)?,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        // Only this code writes the column; an unknown value would be a newer baton's.
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Failed),
        attempts: r.get(7)?,
        max_retries: r.get(8)?,
        next_attempt_at: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        sent_at: r.get(12)?,
        claimed_by: r.get(13)?,
        lease_until: r.get(14)?,
    })
}

fn limit_arg(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Record one attempt's outcome if `worker` still holds the claim: the row's new state and the
/// attempt, together or not at all.
fn record_outcome(
    conn: &mut rusqlite::Connection,
    id: DeliveryId,
    worker: &str,
    at: Millis,
    ok: bool,
    reply: Option<&str>,
    retry_at: Option<Millis>,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let attempts: Option<u32> = if ok {
        tx.prepare_cached(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = ?3, \
             claimed_by = NULL, lease_until = NULL \
             WHERE id = ?1 AND claimed_by = ?2 AND status IN ('queued', 'retrying') \
             RETURNING attempts",
        )?
        .query_row(params![id, worker, at], |r| r.get(0))
        .optional()?
    } else {
        tx.prepare_cached(
            "UPDATE deliveries SET \
               status = CASE WHEN ?4 IS NULL THEN 'failed' ELSE 'retrying' END, \
               attempts = attempts + 1, last_error = ?3, \
               next_attempt_at = COALESCE(?4, next_attempt_at), \
               claimed_by = NULL, lease_until = NULL \
             WHERE id = ?1 AND claimed_by = ?2 AND status IN ('queued', 'retrying') \
             RETURNING attempts",
        )?
        .query_row(params![id, worker, reply, retry_at], |r| r.get(0))
        .optional()?
    };
    let Some(attempt) = attempts else {
        return Ok(false);
    };
    tx.prepare_cached(
        "INSERT INTO delivery_attempts (delivery, attempt, at, ok, reply, worker) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, attempt, at, ok, reply, worker])?;
    tx.commit()?;
    Ok(true)
}

impl NotifyStore for SqliteStore {
    fn enqueue_delivery(&self, d: &NewDelivery) -> StoreResult<DeliveryId> {
        self.with_own_tables(|conn| {
            let now = crate::now_millis();
            conn.prepare_cached(
                "INSERT INTO deliveries (channel, origin, subject, body, payload, status, \
                 max_retries, next_attempt_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?7) RETURNING id",
            )?
            .query_row(
                params![
                    d.channel,
                    d.origin,
                    d.subject,
                    d.body,
                    d.payload.to_string(),
                    d.max_retries,
                    now
                ],
                |r| r.get(0),
            )
        })
    }

    fn claim_deliveries(
        &self,
        worker: &str,
        now: Millis,
        lease_ms: i64,
        limit: usize,
        only: Option<&[DeliveryId]>,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let only = only.map(|ids| serde_json::to_string(ids).expect("ids serialize"));
        let mut claimed = self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "UPDATE deliveries SET claimed_by = ?1, lease_until = ?2 + ?3 \
                 WHERE id IN ( \
                   SELECT id FROM deliveries \
                   WHERE status IN ('queued', 'retrying') AND next_attempt_at <= ?2 \
                     AND (lease_until IS NULL OR lease_until <= ?2) \
                     AND (?5 IS NULL OR id IN (SELECT value FROM json_each(?5))) \
                   ORDER BY next_attempt_at, id LIMIT ?4) \
                 RETURNING {DELIVERY_COLUMNS}"
            ))?;
            let rows = stmt.query_map(
                params![worker, now, lease_ms, limit_arg(limit), only],
                delivery_from_row,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        // RETURNING gives no order.
        claimed.sort_by_key(|d| (d.next_attempt_at, d.id));
        Ok(claimed)
    }

    fn delivery_sent(
        &self,
        id: DeliveryId,
        worker: &str,
        at: Millis,
        reply: Option<&str>,
    ) -> StoreResult<bool> {
        self.with_own_tables(|conn| record_outcome(conn, id, worker, at, true, reply, None))
    }

    fn delivery_failed(
        &self,
        id: DeliveryId,
        worker: &str,
        at: Millis,
        error: &str,
        retry_at: Option<Millis>,
    ) -> StoreResult<bool> {
        self.with_own_tables(|conn| {
            record_outcome(conn, id, worker, at, false, Some(error), retry_at)
        })
    }

    fn delivery(&self, id: DeliveryId) -> StoreResult<Option<DeliveryRecord>> {
        self.with_own_tables(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
            ))?
            .query_row(params![id], delivery_from_row)
            .optional()
        })
    }

    fn deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<DeliveryRecord>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries \
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR channel = ?2) \
                   AND (?3 IS NULL OR origin = ?3) AND (?4 IS NULL OR id < ?4) \
                 ORDER BY id DESC LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.status.map(DeliveryStatus::as_str),
                    filter.channel,
                    filter.origin,
                    filter.before,
                    limit_arg(filter.limit.unwrap_or(usize::MAX)),
                ],
                delivery_from_row,
            )?;
            rows.collect()
        })
    }

    fn delivery_attempts(&self, id: DeliveryId) -> StoreResult<Vec<DeliveryAttempt>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT delivery, attempt, at, ok, reply, worker FROM delivery_attempts \
                 WHERE delivery = ?1 ORDER BY attempt",
            )?;
            let rows = stmt.query_map(params![id], |r| {
                Ok(DeliveryAttempt {
                    delivery: r.get(0)?,
                    attempt: r.get(1)?,
                    at: r.get(2)?,
                    ok: r.get(3)?,
                    reply: r.get(4)?,
                    worker: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    fn next_delivery_due(&self) -> StoreResult<Option<Millis>> {
        self.with_own_tables(|conn| {
            conn.query_row(
                "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM deliveries \
                 WHERE status IN ('queued', 'retrying')",
                [],
                |r| r.get(0),
            )
        })
    }
}
