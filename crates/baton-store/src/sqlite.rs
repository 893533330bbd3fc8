//! The embedded backend: one SQLite database in WAL mode under `.baton/`.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};

use crate::event::{Event, EventKind, Phase, StepRef};
use crate::now_millis;
use crate::owner::Owner;
use crate::record::*;
use crate::store::{Store, StoreError, StoreResult};

/// Schema versions, oldest first. Never edit a released migration: append a new one.
const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001_runs.sql")),
    M::up(include_str!("migrations/002_configs.sql")),
    M::up(include_str!("migrations/003_infra.sql")),
    M::up(include_str!("migrations/004_promotions.sql")),
    M::up(include_str!("migrations/005_lifecycle.sql")),
    M::up(include_str!("migrations/006_config_intents.sql")),
    M::up(include_str!("migrations/007_rollback_link.sql")),
    M::up(include_str!("migrations/008_server.sql")),
    M::up(include_str!("migrations/009_monitoring.sql")),
    M::up(include_str!("migrations/010_notifications.sql")),
    M::up(include_str!("migrations/011_step_cause.sql")),
    M::up(include_str!("migrations/012_config_encrypted.sql")),
];

pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Events recorded but not committed yet (group commit): one transaction per event made a
    /// 1,000-resource apply three times as many commits as resources. They are committed, in
    /// order and in one transaction, before any other use of the run tables (so this process
    /// always reads its own writes), when [`GROUP_COMMIT`] of them wait, and with the run's
    /// end. Every run polls its cancel request every 200 ms, which commits them too: another
    /// process sees an event at most that late, and a kill -9 loses at most that much of a
    /// run's projection (the run is then marked interrupted anyway).
    pending: Mutex<Vec<Event>>,
    path: PathBuf,
    /// Step output, one file per step: `logs/RUN/STEP.log`.
    logs: PathBuf,
}

impl Drop for SqliteStore {
    /// Nothing recorded is left behind when the store closes normally.
    fn drop(&mut self) {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self.commit_pending(&mut conn);
    }
}

/// How many events may wait for one commit.
const GROUP_COMMIT: usize = 64;

/// Largest piece `log_chunks` returns at once.
const LOG_READ_PIECE: i64 = 1024 * 1024;

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    if e.raw_os_error() == Some(28) {
        StoreError::DiskFull(format!("{}: {e}", path.display()))
    } else {
        StoreError::Database(format!("{}: {e}", path.display()))
    }
}

impl SqliteStore {
    /// Open (creating and migrating as needed) the store database `dir/baton.db`.
    ///
    /// Several baton processes may open a fresh store at the same moment (two `baton run`s in a
    /// new project). Switching to WAL and migrating take locks for which SQLite does not always
    /// wait on its own, so a busy or locked database is retried here, for a bounded time.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        let open_err = |reason: String| StoreError::Open {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let path = dir.join("baton.db");
        // One opener at a time: the migration library reads the schema version before taking
        // a write lock, so two fresh openers would both create the tables. The OS releases
        // this lock when the file is closed, even if the process is killed.
        let guard = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("open.lock"))
            .map_err(|e| open_err(e.to_string()))?;
        guard.lock().map_err(|e| open_err(e.to_string()))?;
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match open_connection(&path) {
                Ok(conn) => {
                    return Ok(SqliteStore {
                        logs: dir.join("logs"),
                        conn: Mutex::new(conn),
                        pending: Mutex::new(Vec::new()),
                        path,
                    });
                }
                Err(OpenFailure::Busy(_)) if started.elapsed() < OPEN_PATIENCE => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(OpenFailure::Busy(reason) | OpenFailure::Other(reason)) => {
                    return Err(open_err(reason));
                }
                Err(OpenFailure::Migration(reason)) => return Err(StoreError::Migration(reason)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SQLite's own consistency check: `ok` when the database is sound.
    pub fn integrity_check(&self) -> StoreResult<String> {
        self.with(|conn| conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    }

    fn log_path(&self, run: RunId, step: StepId) -> PathBuf {
        self.logs.join(run.to_string()).join(format!("{step}.log"))
    }

    /// When each piece of a step's output arrived: 16-byte records (offset, unix ms), little
    /// endian, appended before the length is committed. A record past the committed length, or
    /// one a crash cut short, is ignored by readers; of two for one offset the later counts.
    fn times_path(&self, run: RunId, step: StepId) -> PathBuf {
        self.logs
            .join(run.to_string())
            .join(format!("{step}.times"))
    }

    /// Output goes to a file per step, the byte count to the database. Bytes are written at the
    /// recorded length (not appended), then the length is committed: after a crash between the
    /// two, readers still stop at the committed length and the next write overwrites the rest.
    /// A gigabyte of output stays out of the database and its write-ahead log.
    fn append_output(
        &self,
        run: RunId,
        step: &StepRef,
        data: &[u8],
        at: crate::Millis,
    ) -> StoreResult<()> {
        let (r, stage, target, phase, idx, attempt) = step_key(run, step);
        let found: Option<(StepId, i64)> = self.with(|conn| {
            conn.prepare_cached(&format!("SELECT id, log_bytes FROM steps WHERE {STEP_KEY}"))?
                .query_row(params![r, stage, target, phase, idx, attempt], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
        })?;
        let Some((id, length)) = found else {
            return Ok(());
        };
        let path = self.log_path(run, id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        file.write_all_at(data, length as u64)
            .map_err(|e| io_error(&path, e))?;
        let times = self.times_path(run, id);
        let mut record = [0u8; 16];
        record[..8].copy_from_slice(&(length as u64).to_le_bytes());
        record[8..].copy_from_slice(&at.to_le_bytes());
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&times)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &record))
            .map_err(|e| io_error(&times, e))?;
        self.with(|conn| {
            conn.prepare_cached("UPDATE steps SET log_bytes = ?2 WHERE id = ?1")?
                .execute(params![id, length + data.len() as i64])?;
            Ok(())
        })
    }

    /// Run `f` on the connection after committing the events waiting (a barrier: the run
    /// tables then hold everything this process recorded).
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        self.commit_pending(&mut conn)?;
        f(&mut conn).map_err(map_err)
    }

    /// Run `f` on tables events never touch (config versions, infra state): no barrier.
    pub(crate) fn with_own_tables<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(map_err)
    }

    /// Commit the waiting events in one transaction. On failure (a full disk) they stay
    /// waiting, in order, for the next commit.
    fn commit_pending(&self, conn: &mut Connection) -> StoreResult<()> {
        let events = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if events.is_empty() {
            return Ok(());
        }
        let committed = (|| {
            let tx = conn.transaction()?;
            for event in &events {
                record_event(&tx, event)?;
            }
            tx.commit()
        })();
        if let Err(e) = committed {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            let newer = std::mem::replace(&mut *pending, events);
            pending.extend(newer);
            return Err(map_err(e));
        }
        Ok(())
    }
}

/// How long opening waits for other processes that hold the database during their own open.
const OPEN_PATIENCE: Duration = Duration::from_secs(30);

enum OpenFailure {
    Busy(String),
    Migration(String),
    Other(String),
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn open_connection(path: &Path) -> Result<Connection, OpenFailure> {
    let fail = |e: rusqlite::Error| {
        if is_busy(&e) {
            OpenFailure::Busy(e.to_string())
        } else {
            OpenFailure::Other(e.to_string())
        }
    };
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.busy_timeout(Duration::from_secs(30)).map_err(fail)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(fail)?;
    // NORMAL in WAL mode: a power cut may lose the last commits, never corrupt the database.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(fail)?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(fail)?;
    // Another process may be migrating the same fresh store: its lock surfaces as busy here.
    match Migrations::from_slice(MIGRATIONS).to_latest(&mut conn) {
        Ok(()) => Ok(conn),
        Err(rusqlite_migration::Error::RusqliteError { err, .. }) if is_busy(&err) => {
            Err(OpenFailure::Busy(err.to_string()))
        }
        Err(e) if e.to_string().contains("locked") || e.to_string().contains("busy") => {
            Err(OpenFailure::Busy(e.to_string()))
        }
        Err(e) => Err(OpenFailure::Migration(e.to_string())),
    }
}

fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::DiskFull(e.to_string()),
        _ => StoreError::Database(e.to_string()),
    }
}

fn owner_json(owner: &Owner) -> String {
    serde_json::to_string(owner).expect("owner serializes")
}

fn parse_owner(text: String) -> Owner {
    serde_json::from_str(&text).unwrap_or(Owner {
        pid: 0,
        start_ticks: 0,
        host: String::new(),
        user: String::new(),
    })
}

const RUN_COLUMNS: &str = "id, kind, name, status, trigger, env, branch, commit_sha, params, retry_of, \
     queued_at, started_at, finished_at, reason, workspace, owner, actor, cancel_requested_by, rollback_of";

fn run_from_row(row: &Row) -> rusqlite::Result<RunRecord> {
    let kind: String = row.get(1)?;
    let status: String = row.get(3)?;
    let params: String = row.get(8)?;
    Ok(RunRecord {
        id: row.get(0)?,
        kind: RunKind::parse(&kind).unwrap_or(RunKind::Pipeline),
        name: row.get(2)?,
        status: Status::parse(&status).unwrap_or(Status::Failed),
        trigger: row.get(4)?,
        env: row.get(5)?,
        branch: row.get(6)?,
        commit: row.get(7)?,
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        retry_of: row.get(9)?,
        queued_at: row.get(10)?,
        started_at: row.get(11)?,
        finished_at: row.get(12)?,
        reason: row.get(13)?,
        workspace: row.get(14)?,
        owner: parse_owner(row.get(15)?),
        actor: row.get(16)?,
        cancel_requested_by: row.get(17)?,
        rollback_of: row.get(18)?,
    })
}

pub(crate) const STEP_KEY: &str =
    "run_id = ?1 AND stage = ?2 AND target = ?3 AND phase = ?4 AND idx = ?5 AND attempt = ?6";

pub(crate) const STEP_COLUMNS: &str = "id, run_id, stage, target, phase, idx, attempt, label, status, \
     exit_code, signal, reason, started_at, finished_at, log_bytes, cause";

pub(crate) fn step_from_row(r: &Row) -> rusqlite::Result<StepRecord> {
    let phase: String = r.get(4)?;
    let status: String = r.get(8)?;
    Ok(StepRecord {
        id: r.get(0)?,
        run: r.get(1)?,
        stage: r.get(2)?,
        target: r.get(3)?,
        phase: if phase == "rollback" {
            Phase::Rollback
        } else {
            Phase::Main
        },
        index: r.get(5)?,
        attempt: r.get(6)?,
        label: r.get(7)?,
        status: Status::parse(&status).unwrap_or(Status::Failed),
        exit_code: r.get(9)?,
        signal: r.get(10)?,
        reason: r.get(11)?,
        started_at: r.get(12)?,
        finished_at: r.get(13)?,
        log_bytes: r.get(14)?,
        cause: r
            .get::<_, Option<String>>(15)?
            .and_then(|c| crate::event::FailureCause::parse(&c)),
    })
}

/// The text and arguments of `runs(filter)`. Only the filters given are in the text, so each
/// combination is planned on the index that serves it (a `?1 IS NULL OR name = ?1` term can
/// use none: every listing read the whole table). Newest first, so the index walk stops after
/// `limit` matching rows; see `migrations/008_server.sql`.
///
/// SQLite has no statistics here (nothing runs ANALYZE), so it cannot know that a name is more
/// selective than a kind or a status; given a name with one of them, it would walk the kind's or
/// status's index. A unary `+` keeps those terms off the index then (SQLite's documented way),
/// so the walk is over that name's runs. With all three, `runs_by_name` matches exactly.
pub(crate) fn runs_query(filter: &RunFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut terms = Vec::new();
    let mut args = Vec::new();
    let by_name = filter.name.is_some() && (filter.kind.is_none() || filter.status.is_none());
    let unindexed = if by_name { "+" } else { "" };
    if let Some(name) = &filter.name {
        args.push(Value::Text(name.clone()));
        terms.push(format!("name = ?{}", args.len()));
    }
    if let Some(kind) = filter.kind {
        args.push(Value::Text(kind.as_str().to_string()));
        terms.push(format!("{unindexed}kind = ?{}", args.len()));
    }
    if let Some(status) = filter.status {
        args.push(Value::Text(status.as_str().to_string()));
        terms.push(format!("{unindexed}status = ?{}", args.len()));
    }
    if let Some(before) = filter.before {
        args.push(Value::Integer(before));
        terms.push(format!("id < ?{}", args.len()));
    }
    let filter_text = if terms.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", terms.join(" AND "))
    };
    args.push(Value::Integer(
        filter
            .limit
            .map(|l| i64::try_from(l).unwrap_or(i64::MAX))
            .unwrap_or(-1),
    ));
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs{filter_text} ORDER BY id DESC LIMIT ?{}",
        args.len()
    );
    (sql, args)
}

pub(crate) fn step_key(run: RunId, step: &StepRef) -> (RunId, &str, &str, &'static str, u32, u32) {
    (
        run,
        &step.stage,
        &step.target,
        step.phase.as_str(),
        step.index,
        step.attempt,
    )
}

/// Apply one event to the log and the projections, inside the caller's transaction.
fn record_event(tx: &Connection, event: &Event) -> rusqlite::Result<()> {
    let run = event.run;
    let at = event.at;
    match &event.kind {
        // Output never reaches this function: see `SqliteStore::append_output`.
        EventKind::Output { .. } => return Ok(()),
        EventKind::RunStarted => {
            tx.prepare_cached(
                "UPDATE runs SET started_at = COALESCE(started_at, ?2) WHERE id = ?1",
            )?
            .execute(params![run, at])?;
        }
        EventKind::RunFinished { status, reason } => {
            tx.prepare_cached(
                "UPDATE runs SET status = ?2, reason = ?3, finished_at = ?4, \
                 started_at = COALESCE(started_at, ?4) WHERE id = ?1",
            )?
            .execute(params![run, status.as_str(), reason, at])?;
        }
        EventKind::StageStarted { stage, .. } => {
            tx.prepare_cached(
                "INSERT INTO stages (run_id, name, status, started_at) VALUES (?1, ?2, 'running', ?3) \
                 ON CONFLICT (run_id, name) DO UPDATE SET status = 'running', started_at = ?3, \
                 finished_at = NULL, reason = NULL",
            )?
            .execute(params![run, stage, at])?;
        }
        EventKind::StageFinished {
            stage,
            status,
            reason,
        } => {
            let seq: Option<i64> = if *status == Status::Success {
                tx.prepare_cached(
                    "SELECT COALESCE(MAX(completed_seq), 0) + 1 FROM stages WHERE run_id = ?1",
                )?
                .query_row(params![run], |r| r.get(0))?
            } else {
                None
            };
            tx.prepare_cached(
                "INSERT INTO stages (run_id, name, status, finished_at, reason, completed_seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (run_id, name) DO UPDATE SET status = ?3, finished_at = ?4, \
                 reason = ?5, completed_seq = ?6",
            )?
            .execute(params![run, stage, status.as_str(), at, reason, seq])?;
        }
        EventKind::StepStarted { step } => {
            let (r, stage, target, phase, idx, attempt) = step_key(run, step);
            tx.prepare_cached(
                "INSERT INTO steps (run_id, stage, target, phase, idx, attempt, label, status, started_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)",
            )?
            .execute(params![r, stage, target, phase, idx, attempt, step.label, at])?;
        }
        EventKind::StepFinished {
            step,
            status,
            exit_code,
            signal,
            reason,
            cause,
        } => {
            let (r, stage, target, phase, idx, attempt) = step_key(run, step);
            tx.prepare_cached(&format!(
                "UPDATE steps SET status = ?7, exit_code = ?8, signal = ?9, reason = ?10, \
                 finished_at = ?11, pgid = NULL, cause = ?12 WHERE {STEP_KEY}"
            ))?
            .execute(params![
                r,
                stage,
                target,
                phase,
                idx,
                attempt,
                status.as_str(),
                exit_code,
                signal,
                reason,
                at,
                cause.map(|c| c.as_str())
            ])?;
        }
        EventKind::ArtifactStored { .. } | EventKind::Message { .. } => {}
    }
    let data = serde_json::to_string(event).expect("events serialize");
    tx.prepare_cached("INSERT INTO events (run_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![run, at, event.kind.name(), data])?;
    Ok(())
}

impl SqliteStore {
    fn insert_run(&self, run: &NewRun, rollback_of: Option<RunId>) -> StoreResult<RunId> {
        self.with(|conn| {
            conn.prepare_cached(
                "INSERT INTO runs (kind, name, status, trigger, env, branch, commit_sha, params, \
                 retry_of, queued_at, owner, actor, rollback_of) \
                 VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                run.kind.as_str(),
                run.name,
                run.trigger,
                run.env,
                run.branch,
                run.commit,
                run.params.to_string(),
                run.retry_of,
                now_millis(),
                owner_json(&run.owner),
                run.actor,
                rollback_of,
            ])?;
            Ok(conn.last_insert_rowid())
        })
    }
}

impl Store for SqliteStore {
    fn create_run(&self, run: &NewRun) -> StoreResult<RunId> {
        self.insert_run(run, None)
    }

    fn create_rollback_run(&self, run: &NewRun, of: RunId) -> StoreResult<RunId> {
        self.insert_run(run, Some(of))
    }

    fn rollbacks_of(&self, run: RunId) -> StoreResult<Vec<RunRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE rollback_of = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![run], run_from_row)?;
            rows.collect()
        })
    }

    fn try_start_run(&self, run: RunId, limit: u32) -> StoreResult<bool> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (kind, name, status): (String, String, String) = tx.query_row(
                "SELECT kind, name, status FROM runs WHERE id = ?1",
                params![run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            if status != "queued" {
                return Ok(status == "running");
            }
            let (running, earlier): (i64, i64) = tx.query_row(
                "SELECT COALESCE(SUM(status = 'running'), 0), \
                        COALESCE(SUM(status = 'queued' AND id < ?3), 0) \
                 FROM runs WHERE kind = ?1 AND name = ?2",
                params![kind, name, run],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let start = running < limit as i64 && earlier == 0;
            if start {
                tx.execute(
                    "UPDATE runs SET status = 'running', started_at = ?2 WHERE id = ?1",
                    params![run, now_millis()],
                )?;
            }
            tx.commit()?;
            Ok(start)
        })
    }

    fn set_run_workspace(&self, run: RunId, workspace: &str) -> StoreResult<()> {
        self.with(|conn| {
            conn.execute(
                "UPDATE runs SET workspace = ?2 WHERE id = ?1",
                params![run, workspace],
            )?;
            Ok(())
        })
    }

    fn record(&self, event: &Event) -> StoreResult<()> {
        if let EventKind::Output { step, data } = &event.kind {
            return self.append_output(event.run, step, data, event.at);
        }
        let waiting = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(event.clone());
            pending.len()
        };
        // A run's end is committed at once: the caller reports it next.
        if waiting >= GROUP_COMMIT || matches!(event.kind, EventKind::RunFinished { .. }) {
            self.with(|_| Ok(()))?;
        }
        Ok(())
    }

    fn set_step_process_group(&self, run: RunId, step: &StepRef, pgid: i32) -> StoreResult<()> {
        self.with(|conn| {
            let (r, stage, target, phase, idx, attempt) = step_key(run, step);
            conn.prepare_cached(&format!("UPDATE steps SET pgid = ?7 WHERE {STEP_KEY}"))?
                .execute(params![r, stage, target, phase, idx, attempt, pgid])?;
            Ok(())
        })
    }

    fn record_reused_stage(&self, run: RunId, stage: &str, from: RunId) -> StoreResult<()> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let now = now_millis();
            let seq: i64 = tx.query_row(
                "SELECT COALESCE(MAX(completed_seq), 0) + 1 FROM stages WHERE run_id = ?1",
                params![run],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO stages (run_id, name, status, started_at, finished_at, completed_seq, reused_from) \
                 VALUES (?1, ?2, 'success', ?3, ?3, ?4, ?5)",
                params![run, stage, now, seq, from],
            )?;
            let event = Event {
                run,
                at: now,
                kind: EventKind::StageFinished {
                    stage: stage.to_string(),
                    status: Status::Success,
                    reason: Some(format!("reused from run {from}")),
                },
            };
            tx.execute(
                "INSERT INTO events (run_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)",
                params![run, now, event.kind.name(), serde_json::to_string(&event).expect("serializes")],
            )?;
            tx.commit()
        })
    }

    fn run(&self, id: RunId) -> StoreResult<Option<RunRecord>> {
        self.with(|conn| {
            conn.query_row(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                params![id],
                run_from_row,
            )
            .optional()
        })
    }

    fn runs(&self, filter: &RunFilter) -> StoreResult<Vec<RunRecord>> {
        self.with(|conn| {
            let (sql, args) = runs_query(filter);
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), run_from_row)?;
            rows.collect()
        })
    }

    fn stages(&self, run: RunId) -> StoreResult<Vec<StageRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT run_id, name, status, started_at, finished_at, reason, completed_seq, reused_from \
                 FROM stages WHERE run_id = ?1 ORDER BY COALESCE(started_at, finished_at), rowid",
            )?;
            let rows = stmt.query_map(params![run], |r| {
                let status: String = r.get(2)?;
                Ok(StageRecord {
                    run: r.get(0)?,
                    name: r.get(1)?,
                    status: Status::parse(&status).unwrap_or(Status::Failed),
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    reason: r.get(5)?,
                    completed_seq: r.get(6)?,
                    reused_from: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    fn steps(&self, run: RunId) -> StoreResult<Vec<StepRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![run], step_from_row)?;
            rows.collect()
        })
    }

    fn log_read(&self, step: StepId, offset: i64, max: usize) -> StoreResult<Vec<u8>> {
        let found: Option<(RunId, i64)> = self.with(|conn| {
            conn.prepare_cached("SELECT run_id, log_bytes FROM steps WHERE id = ?1")?
                .query_row(params![step], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })?;
        let Some((run, length)) = found else {
            return Ok(Vec::new());
        };
        let offset = offset.max(0);
        if offset >= length || max == 0 {
            return Ok(Vec::new());
        }
        let path = self.log_path(run, step);
        let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        // Only the committed length counts (see `log_chunks`).
        let mut piece = vec![0u8; ((length - offset) as usize).min(max)];
        file.read_exact_at(&mut piece, offset as u64)
            .map_err(|e| io_error(&path, e))?;
        Ok(piece)
    }

    fn log_times(&self, step: StepId) -> StoreResult<Vec<(i64, crate::Millis)>> {
        let found: Option<(RunId, i64)> = self.with(|conn| {
            conn.prepare_cached("SELECT run_id, log_bytes FROM steps WHERE id = ?1")?
                .query_row(params![step], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })?;
        let Some((run, length)) = found else {
            return Ok(Vec::new());
        };
        let path = self.times_path(run, step);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // Output recorded before times were kept has none.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&path, e)),
        };
        let mut times: Vec<(i64, crate::Millis)> = Vec::new();
        for record in bytes.chunks_exact(16) {
            let offset = u64::from_le_bytes(record[..8].try_into().expect("8 bytes")) as i64;
            let at = i64::from_le_bytes(record[8..].try_into().expect("8 bytes"));
            if offset >= length {
                continue;
            }
            // A rewrite after a crash restarts at an earlier offset: it replaces what followed.
            while times.last().is_some_and(|(o, _)| *o >= offset) {
                times.pop();
            }
            times.push((offset, at));
        }
        Ok(times)
    }

    fn log_chunks(&self, step: StepId, offset: i64) -> StoreResult<Vec<(i64, Vec<u8>)>> {
        let found: Option<(RunId, i64)> = self.with(|conn| {
            conn.prepare_cached("SELECT run_id, log_bytes FROM steps WHERE id = ?1")?
                .query_row(params![step], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })?;
        let Some((run, length)) = found else {
            return Ok(Vec::new());
        };
        if offset >= length {
            return Ok(Vec::new());
        }
        let path = self.log_path(run, step);
        let file = std::fs::File::open(&path).map_err(|e| io_error(&path, e))?;
        // Only the recorded length counts: bytes past it are from a write whose commit never
        // happened (a crash between the two), and will be overwritten.
        let mut out = Vec::new();
        let mut at = offset;
        while at < length {
            let size = (length - at).min(LOG_READ_PIECE) as usize;
            let mut piece = vec![0u8; size];
            file.read_exact_at(&mut piece, at as u64)
                .map_err(|e| io_error(&path, e))?;
            out.push((at, piece));
            at += size as i64;
        }
        Ok(out)
    }

    fn events(&self, run: RunId, after: i64) -> StoreResult<Vec<(i64, Event)>> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, data FROM events WHERE run_id = ?1 AND seq > ?2 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![run, after], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, data) = row?;
                if let Ok(event) = serde_json::from_str(&data) {
                    out.push((seq, event));
                }
            }
            Ok(out)
        })
    }

    fn request_cancel(&self, run: RunId, actor: &str) -> StoreResult<Option<RunRecord>> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The first request wins: a second `cancel` does not rename who asked.
            tx.execute(
                "UPDATE runs SET cancel_requested_at = ?2, cancel_requested_by = ?3 \
                 WHERE id = ?1 AND status IN ('queued', 'running') AND cancel_requested_at IS NULL",
                params![run, now_millis(), actor],
            )?;
            let record = tx
                .query_row(
                    &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
                    params![run],
                    run_from_row,
                )
                .optional()?;
            tx.commit()?;
            Ok(record)
        })
    }

    fn cancel_requested(&self, run: RunId) -> StoreResult<Option<String>> {
        self.with(|conn| {
            conn.prepare_cached(
                "SELECT cancel_requested_by FROM runs WHERE id = ?1 AND cancel_requested_at IS NOT NULL",
            )?
            .query_row(params![run], |r| r.get(0))
            .optional()
        })
    }

    fn interrupt_orphans(&self) -> StoreResult<Vec<InterruptedRun>> {
        self.with(|conn| {
            let candidates: Vec<(RunId, String)> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, owner FROM runs WHERE status IN ('queued', 'running')",
                )?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
            };
            let mut interrupted = Vec::new();
            for (run, owner) in candidates {
                let owner = parse_owner(owner);
                if owner.alive() {
                    continue;
                }
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Re-check under the write lock: another command may have handled it already.
                let status: String =
                    tx.query_row("SELECT status FROM runs WHERE id = ?1", params![run], |r| r.get(0))?;
                if status != "queued" && status != "running" {
                    continue;
                }
                let pgids: Vec<i32> = {
                    let mut stmt = tx.prepare(
                        "SELECT pgid FROM steps WHERE run_id = ?1 AND status = 'running' AND pgid IS NOT NULL",
                    )?;
                    stmt.query_map(params![run], |r| r.get(0))?.collect::<Result<_, _>>()?
                };
                let now = now_millis();
                let reason = format!(
                    "interrupted: the baton process (pid {} on {}) died while the run was {status}",
                    owner.pid, owner.host
                );
                tx.execute(
                    "UPDATE runs SET status = 'interrupted', reason = ?2, finished_at = ?3 WHERE id = ?1",
                    params![run, reason, now],
                )?;
                tx.execute(
                    "UPDATE stages SET status = 'interrupted', finished_at = ?2 WHERE run_id = ?1 AND status = 'running'",
                    params![run, now],
                )?;
                tx.execute(
                    "UPDATE steps SET status = 'interrupted', finished_at = ?2, pgid = NULL \
                     WHERE run_id = ?1 AND status = 'running'",
                    params![run, now],
                )?;
                let event = Event {
                    run,
                    at: now,
                    kind: EventKind::RunFinished { status: Status::Interrupted, reason: Some(reason) },
                };
                tx.execute(
                    "INSERT INTO events (run_id, at, kind, data) VALUES (?1, ?2, ?3, ?4)",
                    params![run, now, event.kind.name(), serde_json::to_string(&event).expect("serializes")],
                )?;
                tx.commit()?;
                interrupted.push(InterruptedRun { run, owner, process_groups: pgids });
            }
            Ok(interrupted)
        })
    }

    fn add_artifact(&self, a: &NewArtifact) -> StoreResult<ArtifactRecord> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM artifacts WHERE name = ?1",
                params![a.name],
                |r| r.get(0),
            )?;
            let now = now_millis();
            tx.execute(
                "INSERT INTO artifacts (name, version, sha256, size, run_id, pipeline, stage, commit_sha, \
                 branch, shelf, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    a.name, version, a.sha256, a.size as i64, a.run, a.pipeline, a.stage, a.commit,
                    a.branch, a.shelf, now
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(ArtifactRecord {
                id,
                name: a.name.clone(),
                version,
                sha256: a.sha256.clone(),
                size: a.size,
                run: a.run,
                pipeline: a.pipeline.clone(),
                stage: a.stage.clone(),
                commit: a.commit.clone(),
                branch: a.branch.clone(),
                shelf: a.shelf.clone(),
                created_at: now,
            })
        })
    }

    fn artifacts(&self, name: Option<&str>) -> StoreResult<Vec<ArtifactRecord>> {
        self.query_artifacts("(?1 IS NULL OR name = ?1)", params![name])
    }

    fn run_artifacts(&self, run: RunId) -> StoreResult<Vec<ArtifactRecord>> {
        self.query_artifacts("run_id = ?1", params![run])
    }

    fn add_promotion(&self, p: &NewPromotion) -> StoreResult<Option<PromotionRecord>> {
        let outcome = self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let artifact: Option<(String, i64, Option<String>)> = tx
                .query_row(
                    "SELECT name, version, shelf FROM artifacts WHERE id = ?1",
                    params![p.artifact_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((name, version, shelf)) = artifact else {
                return Ok(Err(()));
            };
            // Already on the shelf: published there, or promoted before. Checked inside the
            // write transaction so two promoters racing record it once.
            let promoted: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM promotions WHERE artifact_id = ?1 AND env = ?2)",
                params![p.artifact_id, p.env],
                |r| r.get(0),
            )?;
            if promoted || shelf.as_deref() == Some(p.env.as_str()) {
                return Ok(Ok(None));
            }
            let now = now_millis();
            tx.execute(
                "INSERT INTO promotions (artifact_id, env, from_env, by_who, run_id, tag, promoted_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![p.artifact_id, p.env, p.from, p.by, p.run, p.tag, now],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Ok(Some(PromotionRecord {
                id,
                artifact_id: p.artifact_id,
                name,
                version,
                env: p.env.clone(),
                from: p.from.clone(),
                by: p.by.clone(),
                run: p.run,
                tag: p.tag.clone(),
                promoted_at: now,
            })))
        })?;
        outcome.map_err(|()| StoreError::NotFound(format!("artifact id {}", p.artifact_id)))
    }

    fn promotions(&self, name: Option<&str>) -> StoreResult<Vec<PromotionRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT p.id, p.artifact_id, a.name, a.version, p.env, p.from_env, p.by_who, p.run_id, \
                 p.tag, p.promoted_at FROM promotions p JOIN artifacts a ON a.id = p.artifact_id \
                 WHERE (?1 IS NULL OR a.name = ?1) ORDER BY p.id",
            )?;
            let rows = stmt.query_map(params![name], |r| {
                Ok(PromotionRecord {
                    id: r.get(0)?,
                    artifact_id: r.get(1)?,
                    name: r.get(2)?,
                    version: r.get(3)?,
                    env: r.get(4)?,
                    from: r.get(5)?,
                    by: r.get(6)?,
                    run: r.get(7)?,
                    tag: r.get(8)?,
                    promoted_at: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }

    fn acquire_lock(
        &self,
        name: &str,
        purpose: &str,
        owner: &Owner,
        actor: &str,
    ) -> StoreResult<Result<Option<LockInfo>, LockInfo>> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut taken_over = None;
            if let Some(held) = query_lock(&tx, name)? {
                if !held.is_stale() {
                    return Ok(Err(held));
                }
                // Its holder died (kill -9, crash): take it over, leaving a trace of whose it was.
                tx.execute("DELETE FROM locks WHERE name = ?1", params![name])?;
                let detail = serde_json::json!({
                    "dead_holder": held.owner.who(),
                    "pid": held.owner.pid,
                    "actor": held.actor,
                    "purpose": held.purpose,
                    "since": held.since,
                });
                tx.execute(
                    "INSERT INTO audit (at, who, action, subject, detail) VALUES (?1, ?2, 'lock.takeover', ?3, ?4)",
                    params![now_millis(), actor, name, detail.to_string()],
                )?;
                taken_over = Some(held);
            }
            tx.execute(
                "INSERT INTO locks (name, owner, since, purpose, actor) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, owner_json(owner), now_millis(), purpose, actor],
            )?;
            tx.commit()?;
            Ok(Ok(taken_over))
        })
    }

    fn release_lock(&self, name: &str, owner: &Owner) -> StoreResult<()> {
        self.with(|conn| {
            conn.execute(
                "DELETE FROM locks WHERE name = ?1 AND owner = ?2",
                params![name, owner_json(owner)],
            )?;
            Ok(())
        })
    }

    fn break_lock(&self, name: &str) -> StoreResult<Option<LockInfo>> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held = query_lock(&tx, name)?;
            tx.execute("DELETE FROM locks WHERE name = ?1", params![name])?;
            tx.commit()?;
            Ok(held)
        })
    }

    fn lock(&self, name: &str) -> StoreResult<Option<LockInfo>> {
        self.with(|conn| query_lock(conn, name))
    }

    fn audit(
        &self,
        who: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> StoreResult<()> {
        self.with(|conn| {
            conn.execute(
                "INSERT INTO audit (at, who, action, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![now_millis(), who, action, subject, detail.to_string()],
            )?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, at, who, action, subject, detail FROM audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit as i64], |r| {
                let detail: String = r.get(5)?;
                Ok(AuditRecord {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    who: r.get(2)?,
                    action: r.get(3)?,
                    subject: r.get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })?;
            rows.collect()
        })
    }
}

impl SqliteStore {
    fn query_artifacts(
        &self,
        condition: &str,
        args: impl rusqlite::Params,
    ) -> StoreResult<Vec<ArtifactRecord>> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT id, name, version, sha256, size, run_id, pipeline, stage, commit_sha, branch, shelf, \
                 created_at FROM artifacts WHERE {condition} ORDER BY name, version"
            ))?;
            let rows = stmt.query_map(args, |r| {
                Ok(ArtifactRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    sha256: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                    run: r.get(5)?,
                    pipeline: r.get(6)?,
                    stage: r.get(7)?,
                    commit: r.get(8)?,
                    branch: r.get(9)?,
                    shelf: r.get(10)?,
                    created_at: r.get(11)?,
                })
            })?;
            rows.collect()
        })
    }
}

fn query_lock(conn: &Connection, name: &str) -> rusqlite::Result<Option<LockInfo>> {
    conn.query_row(
        "SELECT name, owner, since, purpose, actor FROM locks WHERE name = ?1",
        params![name],
        |r| {
            Ok(LockInfo {
                name: r.get(0)?,
                owner: parse_owner(r.get(1)?),
                since: r.get(2)?,
                purpose: r.get(3)?,
                actor: r.get(4)?,
            })
        },
    )
    .optional()
}
