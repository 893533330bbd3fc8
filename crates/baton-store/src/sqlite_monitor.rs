//! [`MonitorStore`] for the SQLite backend (tables in `migrations/009_monitoring.sql`).
//!
//! Every read of a series walks one primary key range (series, time); compaction loops over the
//! series so pruning and rolling up never scan the whole sample table.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::Millis;
use crate::monitor_store::*;
use crate::sqlite::SqliteStore;
use crate::store::StoreResult;

const EVENT_COLUMNS: &str = "seq, at, kind, alert, node, state, value, severity, condition, \
     detail, since, notify, notified_at";

fn event_from_row(r: &Row) -> rusqlite::Result<MonitorEvent> {
    let kind: String = r.get(2)?;
    let state: String = r.get(5)?;
    let node: String = r.get(4)?;
    let kind = if kind == "node" {
        MonitorEventKind::Node(NodeChange {
            node,
            up: state == "up",
            detail: r.get(9)?,
        })
    } else {
        let notify: Option<String> = r.get(11)?;
        MonitorEventKind::Alert(AlertChange {
            alert: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            node,
            // Only this code writes the column; an unknown value would be a newer baton's.
            to: Transition::parse(&state).unwrap_or(Transition::Inactive),
            value: r.get(6)?,
            severity: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            condition: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            detail: r.get(9)?,
            since: r.get(10)?,
            notify: notify.as_deref().and_then(NotifyStatus::parse),
            notified_at: r.get(12)?,
        })
    };
    Ok(MonitorEvent {
        seq: r.get(0)?,
        at: r.get(1)?,
        kind,
    })
}

const STATE_COLUMNS: &str = "alert, node, state, since, active_since, value, last_notified";

fn state_from_row(r: &Row) -> rusqlite::Result<AlertState> {
    let phase: String = r.get(2)?;
    Ok(AlertState {
        alert: r.get(0)?,
        node: r.get(1)?,
        phase: AlertPhase::parse(&phase).unwrap_or(AlertPhase::Inactive),
        since: r.get(3)?,
        active_since: r.get(4)?,
        value: r.get(5)?,
        last_notified: r.get(6)?,
    })
}

const SILENCE_COLUMNS: &str = "id, alert, node, until, actor, created_at";

fn silence_from_row(r: &Row) -> rusqlite::Result<SilenceRecord> {
    Ok(SilenceRecord {
        id: r.get(0)?,
        alert: r.get(1)?,
        node: r.get(2)?,
        until: r.get(3)?,
        actor: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn limit_arg(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The id of (node, metric), created on first use.
fn series_id(tx: &Connection, node: &str, metric: &str) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO metric_series (node, metric) VALUES (?1, ?2) \
         ON CONFLICT (node, metric) DO NOTHING",
    )?
    .execute(params![node, metric])?;
    tx.prepare_cached("SELECT id FROM metric_series WHERE node = ?1 AND metric = ?2")?
        .query_row(params![node, metric], |r| r.get(0))
}

fn find_series(conn: &Connection, node: &str, metric: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM metric_series WHERE node = ?1 AND metric = ?2")?
        .query_row(params![node, metric], |r| r.get(0))
        .optional()
}

fn all_series(tx: &Connection) -> rusqlite::Result<Vec<i64>> {
    let mut stmt = tx.prepare_cached("SELECT id FROM metric_series ORDER BY id")?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    ids.collect()
}

fn mark(tx: &Connection, width: Millis) -> rusqlite::Result<Option<Millis>> {
    tx.prepare_cached("SELECT done_until FROM metric_rollup_marks WHERE resolution = ?1")?
        .query_row(params![width], |r| r.get(0))
        .optional()
}

/// Roll up the buckets of width `width` in `[mark, end)`; the first time, from the oldest raw
/// sample. Returns the buckets written.
fn roll_up(tx: &Transaction, width: Millis, now: Millis) -> rusqlite::Result<u64> {
    let end = (now - ROLLUP_SLACK).div_euclid(width) * width;
    let start = match mark(tx, width)? {
        Some(done) => done,
        None => {
            // The oldest sample: the first of each series by its key, not a scan of them all.
            let oldest: Option<Millis> = tx.query_row(
                "SELECT min((SELECT at FROM metric_samples WHERE series = s.id ORDER BY at LIMIT 1)) \
                 FROM metric_series s",
                [],
                |r| r.get(0),
            )?;
            match oldest {
                Some(at) => at.div_euclid(width) * width,
                None => end,
            }
        }
    };
    let mut written = 0;
    if end > start {
        written = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO metric_rollups \
                   (resolution, series, bucket, avg, min, max, count) \
                 SELECT ?1, s.id, (m.at / ?1) * ?1, avg(m.value), min(m.value), max(m.value), count(*) \
                 FROM metric_series s \
                 JOIN metric_samples m ON m.series = s.id AND m.at >= ?2 AND m.at < ?3 \
                 GROUP BY s.id, m.at / ?1",
            )?
            .execute(params![width, start, end])? as u64;
    }
    tx.prepare_cached(
        "INSERT INTO metric_rollup_marks (resolution, done_until) VALUES (?1, ?2) \
         ON CONFLICT (resolution) DO UPDATE SET done_until = max(done_until, excluded.done_until)",
    )?
    .execute(params![width, end.max(start)])?;
    Ok(written)
}

impl MonitorStore for SqliteStore {
    fn record_samples(&self, samples: &[Sample]) -> StoreResult<()> {
        if samples.is_empty() {
            return Ok(());
        }
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for sample in samples {
                let series = series_id(&tx, &sample.node, &sample.metric)?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO metric_samples (series, at, value) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![series, sample.at, sample.value])?;
            }
            tx.commit()
        })
    }

    fn metric_names(&self, node: &str) -> StoreResult<Vec<String>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT metric FROM metric_series s WHERE node = ?1 AND (\
                   EXISTS (SELECT 1 FROM metric_samples WHERE series = s.id) OR \
                   EXISTS (SELECT 1 FROM metric_rollups WHERE resolution = 3600000 AND series = s.id)) \
                 ORDER BY metric",
            )?;
            let names = stmt.query_map(params![node], |r| r.get(0))?;
            names.collect()
        })
    }

    fn metric_points(
        &self,
        node: &str,
        metric: &str,
        since: Millis,
        resolution: Resolution,
    ) -> StoreResult<Vec<SeriesPoint>> {
        self.with_own_tables(|conn| {
            let Some(series) = find_series(conn, node, metric)? else {
                return Ok(Vec::new());
            };
            match resolution.bucket_ms() {
                None => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT at, value FROM metric_samples WHERE series = ?1 AND at >= ?2 \
                         ORDER BY at",
                    )?;
                    let points = stmt.query_map(params![series, since], |r| {
                        let value: f64 = r.get(1)?;
                        Ok(SeriesPoint {
                            at: r.get(0)?,
                            avg: value,
                            min: value,
                            max: value,
                            count: 1,
                        })
                    })?;
                    points.collect()
                }
                Some(width) => {
                    let mut stmt = conn.prepare_cached(
                        "SELECT bucket, avg, min, max, count FROM metric_rollups \
                         WHERE resolution = ?1 AND series = ?2 AND bucket >= ?3 ORDER BY bucket",
                    )?;
                    let first = since.div_euclid(width) * width;
                    let points = stmt.query_map(params![width, series, first], |r| {
                        Ok(SeriesPoint {
                            at: r.get(0)?,
                            avg: r.get(1)?,
                            min: r.get(2)?,
                            max: r.get(3)?,
                            count: r.get(4)?,
                        })
                    })?;
                    points.collect()
                }
            }
        })
    }

    fn compact_metrics(&self, now: Millis, retention: Millis) -> StoreResult<Compaction> {
        self.with_own_tables(|conn| {
            let mut done = Compaction::default();
            // Roll-ups first, each resolution its own transaction: the write lock is held for
            // one statement, and the collector's next round waits for that only.
            let mut rolled_until = Millis::MAX;
            for resolution in Resolution::ROLLUPS {
                let width = resolution.bucket_ms().expect("roll-ups have a width");
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                done.buckets_written += roll_up(&tx, width, now)?;
                rolled_until = rolled_until.min(mark(&tx, width)?.unwrap_or(Millis::MIN));
                tx.commit()?;
            }
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Raw samples go once both roll-ups hold them.
            let raw_cutoff = (now - RAW_KEPT).min(rolled_until);
            let rollup_cutoff = now - retention;
            for series in all_series(&tx)? {
                done.raw_deleted +=
                    tx.prepare_cached("DELETE FROM metric_samples WHERE series = ?1 AND at < ?2")?
                        .execute(params![series, raw_cutoff])? as u64;
                for resolution in Resolution::ROLLUPS {
                    let width = resolution.bucket_ms().expect("roll-ups have a width");
                    done.buckets_deleted += tx
                        .prepare_cached(
                            "DELETE FROM metric_rollups \
                             WHERE resolution = ?1 AND series = ?2 AND bucket < ?3",
                        )?
                        .execute(params![width, series, rollup_cutoff])?
                        as u64;
                }
            }
            done.events_deleted = tx
                .prepare_cached(
                    "DELETE FROM monitor_events \
                     WHERE at < ?1 AND (notify IS NULL OR notify != 'pending')",
                )?
                .execute(params![rollup_cutoff])? as u64;
            tx.commit()?;
            Ok(done)
        })
    }

    fn alert_states(&self) -> StoreResult<Vec<AlertState>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STATE_COLUMNS} FROM alert_states ORDER BY alert, node"
            ))?;
            let states = stmt.query_map([], state_from_row)?;
            states.collect()
        })
    }

    fn save_alert_state(
        &self,
        state: &AlertState,
        change: Option<(&AlertChange, Millis)>,
    ) -> StoreResult<Option<i64>> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO alert_states ({STATE_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                state.alert,
                state.node,
                state.phase.as_str(),
                state.since,
                state.active_since,
                state.value,
                state.last_notified
            ])?;
            let seq = match change {
                None => None,
                Some((c, at)) => {
                    tx.prepare_cached(
                        "INSERT INTO monitor_events (at, kind, alert, node, state, value, severity, \
                         condition, detail, since, notify, notified_at) \
                         VALUES (?1, 'alert', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )?
                    .execute(params![
                        at,
                        c.alert,
                        c.node,
                        c.to.as_str(),
                        c.value,
                        c.severity,
                        c.condition,
                        c.detail,
                        c.since,
                        c.notify.map(NotifyStatus::as_str),
                        c.notified_at
                    ])?;
                    Some(tx.last_insert_rowid())
                }
            };
            tx.commit()?;
            Ok(seq)
        })
    }

    fn mark_notified(&self, seq: i64, status: NotifyStatus, at: Millis) -> StoreResult<()> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "UPDATE monitor_events SET notify = ?2, notified_at = ?3 WHERE seq = ?1",
            )?
            .execute(params![seq, status.as_str(), at])?;
            if status == NotifyStatus::Sent {
                // Only a firing transition's notification dates the state (for `repeat`): a
                // resolved one leaves the inactive state without one.
                tx.prepare_cached(
                    "UPDATE alert_states SET last_notified = ?2 \
                     WHERE state = 'firing' AND (alert, node) IN \
                       (SELECT alert, node FROM monitor_events WHERE seq = ?1 AND state = 'firing')",
                )?
                .execute(params![seq, at])?;
            }
            tx.commit()
        })
    }

    fn unnotified_transitions(&self) -> StoreResult<Vec<MonitorEvent>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM monitor_events WHERE notify = 'pending' ORDER BY seq"
            ))?;
            let events = stmt.query_map([], event_from_row)?;
            events.collect()
        })
    }

    fn set_node_state(
        &self,
        node: &str,
        up: bool,
        at: Millis,
        detail: Option<&str>,
    ) -> StoreResult<Option<MonitorEvent>> {
        self.with_own_tables(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let was: Option<bool> = tx
                .prepare_cached("SELECT up FROM node_states WHERE node = ?1")?
                .query_row(params![node], |r| r.get(0))
                .optional()?;
            if was == Some(up) {
                return Ok(None);
            }
            tx.prepare_cached(
                "INSERT OR REPLACE INTO node_states (node, up, since, detail) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![node, up, at, detail])?;
            tx.prepare_cached(
                "INSERT INTO monitor_events (at, kind, node, state, detail) \
                 VALUES (?1, 'node', ?2, ?3, ?4)",
            )?
            .execute(params![at, node, if up { "up" } else { "down" }, detail])?;
            let seq = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Some(MonitorEvent {
                seq,
                at,
                kind: MonitorEventKind::Node(NodeChange {
                    node: node.to_string(),
                    up,
                    detail: detail.map(str::to_string),
                }),
            }))
        })
    }

    fn node_states(&self) -> StoreResult<Vec<NodeState>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT node, up, since, detail FROM node_states ORDER BY node")?;
            let states = stmt.query_map([], |r| {
                Ok(NodeState {
                    node: r.get(0)?,
                    up: r.get(1)?,
                    since: r.get(2)?,
                    detail: r.get(3)?,
                })
            })?;
            states.collect()
        })
    }

    fn add_silence(&self, silence: &NewSilence) -> StoreResult<SilenceRecord> {
        self.with_own_tables(|conn| {
            let created_at = crate::now_millis();
            conn.prepare_cached(
                "INSERT INTO alert_silences (alert, node, until, actor, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                silence.alert,
                silence.node,
                silence.until,
                silence.actor,
                created_at
            ])?;
            Ok(SilenceRecord {
                id: conn.last_insert_rowid(),
                alert: silence.alert.clone(),
                node: silence.node.clone(),
                until: silence.until,
                actor: silence.actor.clone(),
                created_at,
            })
        })
    }

    fn silences(&self, at: Option<Millis>) -> StoreResult<Vec<SilenceRecord>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE ?1 IS NULL OR until > ?1 \
                 ORDER BY id"
            ))?;
            let silences = stmt.query_map(params![at], silence_from_row)?;
            silences.collect()
        })
    }

    fn monitor_events_after(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<MonitorEvent>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM monitor_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let events = stmt.query_map(params![after_seq, limit_arg(limit)], event_from_row)?;
            events.collect()
        })
    }

    fn monitor_events_recent(&self, limit: usize) -> StoreResult<Vec<MonitorEvent>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM monitor_events ORDER BY seq DESC LIMIT ?1"
            ))?;
            let events = stmt.query_map(params![limit_arg(limit)], event_from_row)?;
            events.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    //! Query plans: a round's reads and the compaction walk series by their key, never the
    //! whole sample table.

    use super::*;

    fn plan(store: &SqliteStore, sql: &str) -> String {
        store
            .with_own_tables(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
            })
            .unwrap()
    }

    #[test]
    fn roll_ups_and_reads_walk_the_series_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let samples: Vec<Sample> = (0..2000)
            .map(|i| Sample {
                node: format!("n{}", i % 50),
                metric: "cpu".into(),
                at: 1_000_000 + (i / 50) * 1000,
                value: 1.0,
            })
            .collect();
        store.record_samples(&samples).unwrap();
        store
            .with_own_tables(|conn| conn.execute_batch("ANALYZE"))
            .unwrap();
        let rollup = plan(
            &store,
            "SELECT s.id, (m.at / 60000) * 60000, avg(m.value) FROM metric_series s \
             JOIN metric_samples m ON m.series = s.id AND m.at >= 0 AND m.at < 5000000 \
             GROUP BY s.id, m.at / 60000",
        );
        assert!(
            rollup.contains("SEARCH m USING PRIMARY KEY (series=? AND at>? AND at<?)"),
            "{rollup}"
        );
        let read = plan(
            &store,
            "SELECT at, value FROM metric_samples WHERE series = 3 AND at >= 0 ORDER BY at",
        );
        assert!(read.contains("PRIMARY KEY (series=? AND at>?)"), "{read}");
        assert!(!read.contains("TEMP B-TREE"), "{read}");
    }

    #[test]
    fn a_range_reads_the_finest_resolution_that_covers_it() {
        let now = 100 * MINUTE_SPAN;
        assert_eq!(Resolution::for_since(now - 3_600_000, now), Resolution::Raw);
        assert_eq!(Resolution::for_since(now - RAW_KEPT, now), Resolution::Raw);
        assert_eq!(
            Resolution::for_since(now - RAW_KEPT - 1, now),
            Resolution::Minute
        );
        assert_eq!(
            Resolution::for_since(now - MINUTE_SPAN, now),
            Resolution::Minute
        );
        assert_eq!(
            Resolution::for_since(now - MINUTE_SPAN - 1, now),
            Resolution::Hour
        );
        assert_eq!(Resolution::for_since(now + 5, now), Resolution::Raw);
    }
}
