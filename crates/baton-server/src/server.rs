//! The server's shared state: the current project (reloaded when `baton.yaml` changes, the
//! last good one kept when an edit is invalid), the tokens, the runs this server started, and
//! the shutdown tokens.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use baton_ops::runs::RunPlan;
use baton_ops::{Ops, OpsResult};
use baton_store::RunId;
use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::Tokens;
use crate::events::Hub;
use crate::metrics::Metrics;

/// The actor recorded for shutdown cancellations.
pub const SHUTDOWN_ACTOR: &str = "server shutdown";

struct Current {
    ops: Arc<Ops>,
    tokens: Arc<Tokens>,
}

pub struct Server {
    file: PathBuf,
    current: RwLock<Current>,
    reload_error: Mutex<Option<String>>,
    env_token: Option<String>,
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    /// Runs started by this server, until they end.
    runs: TaskTracker,
    active: Mutex<HashSet<RunId>>,
    /// Cancels the runs this server started (the last step of a shutdown).
    run_cancel: CancellationToken,
    /// Stops accepting requests, ends event streams and the trigger loops.
    pub shutdown: CancellationToken,
    pub started_at: DateTime<Utc>,
    pub listen: String,
    /// Runs execute on their own runtime: the HTTP side (100 clients following a run's
    /// output) shares the CPU with them as threads, instead of crowding a run's tasks out of
    /// the same scheduler.
    runs_runtime: tokio::runtime::Handle,
}

impl Server {
    pub fn new(
        file: PathBuf,
        ops: Ops,
        env_token: Option<String>,
        listen: String,
        runs_runtime: tokio::runtime::Handle,
    ) -> Server {
        let tokens = Arc::new(Tokens::new(&ops.project, env_token.as_deref()));
        let ops = Arc::new(ops);
        Server {
            file,
            hub: Arc::new(Hub::new()),
            metrics: Arc::new(Metrics::new()),
            current: RwLock::new(Current { ops, tokens }),
            reload_error: Mutex::new(None),
            env_token,
            runs: TaskTracker::new(),
            active: Mutex::new(HashSet::new()),
            run_cancel: CancellationToken::new(),
            shutdown: CancellationToken::new(),
            started_at: Utc::now(),
            listen,
            runs_runtime,
        }
    }

    /// The project as last loaded successfully.
    pub fn ops(&self) -> Arc<Ops> {
        self.current.read().expect("not poisoned").ops.clone()
    }

    pub fn tokens(&self) -> Arc<Tokens> {
        self.current.read().expect("not poisoned").tokens.clone()
    }

    /// Why the last edit of the project was not taken, if it was not.
    pub fn reload_error(&self) -> Option<String> {
        self.reload_error.lock().expect("not poisoned").clone()
    }

    /// Whether any file of the project changed since it was loaded.
    fn changed(&self) -> bool {
        let ops = self.ops();
        ops.project
            .sources
            .files()
            .any(|(path, text)| std::fs::read_to_string(path).ok().as_deref() != Some(text))
    }

    /// Load the project again if its files changed: validated first, an invalid edit keeps
    /// the running project and is reported (log and `/api/status`). Returns what happened.
    pub fn reload_if_changed(&self) -> Reload {
        if !self.changed() {
            return Reload::Unchanged;
        }
        match baton_ops::validate_project(&self.file) {
            Ok(project) => {
                let ops = Arc::new(self.ops().reloaded(project));
                let tokens = Arc::new(Tokens::new(&ops.project, self.env_token.as_deref()));
                *self.current.write().expect("not poisoned") = Current { ops, tokens };
                *self.reload_error.lock().expect("not poisoned") = None;
                Reload::Reloaded
            }
            Err(e) => {
                let message = match &e.diagnostics {
                    Some(d) => d.render(false),
                    None => e.message.clone(),
                };
                let mut last = self.reload_error.lock().expect("not poisoned");
                let new = last.as_deref() != Some(message.as_str());
                *last = Some(message.clone());
                if new {
                    Reload::Invalid(message)
                } else {
                    Reload::StillInvalid
                }
            }
        }
    }

    /// Start `plan` in the background; its id once its row exists.
    pub async fn start_run(self: &Arc<Self>, plan: RunPlan) -> OpsResult<RunId> {
        let ops = self.ops();
        let cancel = self.run_cancel.child_token();
        // `Ops::start` spawns the run where it is called: on the runs' runtime.
        let started = self
            .runs_runtime
            .spawn(async move { ops.start(plan, Vec::new(), cancel).await })
            .await
            .map_err(|e| baton_ops::OpsError::failed(format!("the run's task failed: {e}")))??;
        let run = started.run;
        self.active.lock().expect("not poisoned").insert(run);
        let server = self.clone();
        self.runs.spawn(async move {
            let result = started.done.await;
            server.active.lock().expect("not poisoned").remove(&run);
            if let Ok(Err(e)) = result {
                tracing::warn!(run, "run ended with an error: {}", e.message);
            }
        });
        Ok(run)
    }

    /// The runs this server started that have not ended.
    pub fn active_runs(&self) -> Vec<RunId> {
        let mut runs: Vec<RunId> = self
            .active
            .lock()
            .expect("not poisoned")
            .iter()
            .copied()
            .collect();
        runs.sort_unstable();
        runs
    }

    /// Let this server's runs finish for `grace`, then cancel what is left (recorded as
    /// cancelled by the shutdown, never interrupted) and wait for them to settle.
    pub async fn drain_runs(&self, grace: std::time::Duration) {
        self.runs.close();
        if tokio::time::timeout(grace, self.runs.wait()).await.is_ok() {
            return;
        }
        let ops = self.ops();
        for run in self.active_runs() {
            if let Err(e) = ops.store.request_cancel(run, SHUTDOWN_ACTOR) {
                tracing::warn!(run, "cannot record the shutdown's cancel request: {e}");
            }
        }
        self.run_cancel.cancel();
        self.runs.wait().await;
    }
}

/// What [`Server::reload_if_changed`] did.
#[derive(Debug)]
pub enum Reload {
    Unchanged,
    Reloaded,
    /// An edit that does not validate (first seen): the old project stays.
    Invalid(String),
    StillInvalid,
}
