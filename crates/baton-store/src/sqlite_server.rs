//! [`ServerStore`] for the SQLite backend (tables in `migrations/008_server.sql`).
//!
//! Each check-and-write is one statement (`INSERT … ON CONFLICT DO NOTHING`, a conditional
//! `UPDATE`): its own transaction, taking the write lock before it reads, so two processes on
//! one database cannot both see "not there yet" and both act.

use rusqlite::{OptionalExtension, Row, params};

use crate::event::{Event, StepRef};
use crate::now_millis;
use crate::record::{RunId, RunKind, Status, StepRecord};
use crate::server_store::{RunCount, ServerStore, SlotOutcome, SlotRecord};
use crate::sqlite::{STEP_COLUMNS, STEP_KEY, SqliteStore, step_from_row, step_key};
use crate::store::{StoreError, StoreResult};

const SLOT_COLUMNS: &str = "pipeline, slot, outcome, run_id, recorded_at";

fn slot_from_row(r: &Row) -> rusqlite::Result<SlotRecord> {
    let outcome: String = r.get(2)?;
    Ok(SlotRecord {
        pipeline: r.get(0)?,
        slot: r.get(1)?,
        // Only this code writes the column; an unknown value would be a newer baton's.
        outcome: SlotOutcome::parse(&outcome).unwrap_or(SlotOutcome::Missed),
        run: r.get(3)?,
        recorded_at: r.get(4)?,
    })
}

fn limit_arg(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl ServerStore for SqliteStore {
    fn record_delivery(&self, pipeline: &str, delivery: &str) -> StoreResult<bool> {
        self.with_own_tables(|conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO server_deliveries (pipeline, delivery, received_at) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (pipeline, delivery) DO NOTHING",
                )?
                .execute(params![pipeline, delivery, now_millis()])?;
            Ok(inserted == 1)
        })
    }

    fn claim_slot(&self, pipeline: &str, slot: i64, outcome: SlotOutcome) -> StoreResult<bool> {
        self.with_own_tables(|conn| {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO schedule_slots (pipeline, slot, outcome, recorded_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (pipeline, slot) DO NOTHING",
                )?
                .execute(params![pipeline, slot, outcome.as_str(), now_millis()])?;
            Ok(inserted == 1)
        })
    }

    fn set_slot_run(&self, pipeline: &str, slot: i64, run: RunId) -> StoreResult<()> {
        // It names a run: after the barrier, like every use of the run tables.
        let updated = self.with(|conn| {
            conn.prepare_cached(
                "UPDATE schedule_slots SET run_id = ?3 WHERE pipeline = ?1 AND slot = ?2",
            )?
            .execute(params![pipeline, slot, run])
        })?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!(
                "schedule slot {slot} of pipeline `{pipeline}`"
            )));
        }
        Ok(())
    }

    fn last_slot(&self, pipeline: &str) -> StoreResult<Option<SlotRecord>> {
        self.with_own_tables(|conn| {
            conn.prepare_cached(&format!(
                "SELECT {SLOT_COLUMNS} FROM schedule_slots WHERE pipeline = ?1 \
                 ORDER BY slot DESC LIMIT 1"
            ))?
            .query_row(params![pipeline], slot_from_row)
            .optional()
        })
    }

    fn slots(&self, pipeline: &str, limit: usize) -> StoreResult<Vec<SlotRecord>> {
        self.with_own_tables(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {SLOT_COLUMNS} FROM schedule_slots WHERE pipeline = ?1 \
                 ORDER BY slot DESC LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![pipeline, limit_arg(limit)], slot_from_row)?;
            rows.collect()
        })
    }

    fn commit_head(&self, pipeline: &str, repo: &str, branch: &str) -> StoreResult<Option<String>> {
        self.with_own_tables(|conn| {
            conn.prepare_cached(
                "SELECT commit_sha FROM commit_heads \
                 WHERE pipeline = ?1 AND repo = ?2 AND branch = ?3",
            )?
            .query_row(params![pipeline, repo, branch], |r| r.get(0))
            .optional()
        })
    }

    fn set_commit_head(
        &self,
        pipeline: &str,
        repo: &str,
        branch: &str,
        commit: &str,
        previous: Option<&str>,
    ) -> StoreResult<bool> {
        self.with_own_tables(|conn| {
            let changed = match previous {
                None => conn
                    .prepare_cached(
                        "INSERT INTO commit_heads (pipeline, repo, branch, commit_sha, updated_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (pipeline, repo, branch) DO NOTHING",
                    )?
                    .execute(params![pipeline, repo, branch, commit, now_millis()])?,
                Some(previous) => conn
                    .prepare_cached(
                        "UPDATE commit_heads SET commit_sha = ?4, updated_at = ?5 \
                         WHERE pipeline = ?1 AND repo = ?2 AND branch = ?3 AND commit_sha = ?6",
                    )?
                    .execute(params![
                        pipeline,
                        repo,
                        branch,
                        commit,
                        now_millis(),
                        previous
                    ])?,
            };
            Ok(changed == 1)
        })
    }

    fn events_after(&self, after_seq: i64, limit: usize) -> StoreResult<Vec<(i64, RunId, Event)>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, run_id, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after_seq, limit_arg(limit)], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, RunId>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, run, data) = row?;
                // As `events`: a row this build cannot read (a newer baton's event) is skipped.
                if let Ok(event) = serde_json::from_str(&data) {
                    out.push((seq, run, event));
                }
            }
            Ok(out)
        })
    }

    fn last_event_seq(&self) -> StoreResult<i64> {
        self.with(|conn| {
            conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?
                .query_row([], |r| r.get(0))
        })
    }

    fn running_steps(&self) -> StoreResult<Vec<StepRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STEP_COLUMNS} FROM steps WHERE status = 'running' ORDER BY id"
            ))?;
            let rows = stmt.query_map([], step_from_row)?;
            rows.collect()
        })
    }

    fn step_record(&self, run: RunId, step: &StepRef) -> StoreResult<Option<StepRecord>> {
        self.with(|conn| {
            let (r, stage, target, phase, idx, attempt) = step_key(run, step);
            conn.prepare_cached(&format!(
                "SELECT {STEP_COLUMNS} FROM steps WHERE {STEP_KEY}"
            ))?
            .query_row(
                params![r, stage, target, phase, idx, attempt],
                step_from_row,
            )
            .optional()
        })
    }

    fn run_counts(&self) -> StoreResult<Vec<RunCount>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, name, status, COUNT(*) FROM runs \
                 GROUP BY kind, name, status ORDER BY kind, name, status",
            )?;
            let rows = stmt.query_map([], |r| {
                let kind: String = r.get(0)?;
                let status: String = r.get(2)?;
                Ok(RunCount {
                    kind: RunKind::parse(&kind).unwrap_or(RunKind::Pipeline),
                    name: r.get(1)?,
                    status: Status::parse(&status).unwrap_or(Status::Failed),
                    count: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }

    fn queued_runs(&self) -> StoreResult<u64> {
        self.with(|conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM runs WHERE status = 'queued'")?
                .query_row([], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    //! Query plans: what the server polls must read an index, never the whole table.

    use super::*;
    use crate::record::RunFilter;
    use crate::sqlite::runs_query;
    use crate::{NewRun, Owner, Store};

    fn plan(store: &SqliteStore, sql: &str, args: Vec<rusqlite::types::Value>) -> String {
        store
            .with(|conn| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let rows =
                    stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
            })
            .unwrap()
    }

    fn new_run(kind: RunKind, name: &str) -> NewRun {
        NewRun {
            kind,
            name: name.into(),
            trigger: "manual".into(),
            env: None,
            branch: None,
            commit: None,
            params: serde_json::json!({}),
            retry_of: None,
            owner: Owner::current(),
            actor: "tester".into(),
        }
    }

    #[test]
    fn run_listings_read_an_index_for_every_filter() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        // 10,000 runs in one transaction (create_run one by one would take a while).
        store
            .with(|conn| {
                let tx = conn.transaction()?;
                for i in 0..10_000 {
                    let (kind, name) = match i % 10 {
                        0 => ("exec", "web*"),
                        1 | 2 => ("config", "nginx"),
                        _ => ("pipeline", if i % 2 == 0 { "build" } else { "deploy" }),
                    };
                    let status = if i % 97 == 0 { "failed" } else { "success" };
                    tx.execute(
                        "INSERT INTO runs (kind, name, status, trigger, queued_at, owner) \
                         VALUES (?1, ?2, ?3, 'manual', 0, '{}')",
                        params![kind, name, status],
                    )?;
                }
                tx.commit()
            })
            .unwrap();
        let newest = store
            .create_run(&new_run(RunKind::Pipeline, "build"))
            .unwrap();
        for mask in 0..16u8 {
            let filter = RunFilter {
                name: (mask & 1 != 0).then(|| "build".to_string()),
                kind: (mask & 2 != 0).then_some(RunKind::Pipeline),
                status: (mask & 4 != 0).then_some(Status::Failed),
                before: (mask & 8 != 0).then_some(5_000),
                limit: Some(50),
            };
            let (sql, args) = runs_query(&filter);
            let plan = plan(&store, &sql, args);
            assert!(!plan.contains("TEMP B-TREE"), "{filter:?} sorts: {plan}");
            if mask != 0 {
                assert!(
                    plan.starts_with("SEARCH runs USING"),
                    "{filter:?} reads the whole table: {plan}"
                );
            }
            if filter.name.is_some() {
                // A name is the most selective filter: its runs are walked, not a kind's.
                assert!(plan.contains("INDEX runs_by_name"), "{filter:?}: {plan}");
            }
            let listed = store.runs(&filter).unwrap();
            assert!(listed.len() <= 50);
            assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "newest first");
            assert!(listed.iter().all(|r| {
                filter.name.as_ref().is_none_or(|n| &r.name == n)
                    && filter.kind.is_none_or(|k| r.kind == k)
                    && filter.status.is_none_or(|s| r.status == s)
                    && filter.before.is_none_or(|b| r.id < b)
            }));
            if mask == 0 {
                // No filter: the newest 50 by the primary key.
                assert_eq!(listed[0].id, newest);
                assert_eq!(listed.len(), 50);
            }
        }
    }

    #[test]
    fn what_the_server_polls_reads_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).unwrap();
        let cases: [(&str, Vec<rusqlite::types::Value>); 4] = [
            (
                "SELECT seq, run_id, data FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                vec![0.into(), 100.into()],
            ),
            (
                &format!("SELECT {STEP_COLUMNS} FROM steps WHERE status = 'running' ORDER BY id"),
                vec![],
            ),
            (
                &format!(
                    "SELECT {SLOT_COLUMNS} FROM schedule_slots WHERE pipeline = ?1 \
                     ORDER BY slot DESC LIMIT 1"
                ),
                vec!["nightly".to_string().into()],
            ),
            ("SELECT COUNT(*) FROM runs WHERE status = 'queued'", vec![]),
        ];
        for (sql, args) in cases {
            let plan = plan(&store, sql, args);
            assert!(
                !plan.contains("TEMP B-TREE") && plan.contains(" USING "),
                "{sql}: {plan}"
            );
        }
    }
}
