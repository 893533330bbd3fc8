//! Pipeline runs: admission (concurrency queue), the stage DAG, rollback, retry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use baton_model::diagnostic::did_you_mean;
use baton_model::{Environment, LOCAL_NODE, Pipeline, Project, Stage, template};
use baton_store::{BlobStore, EventKind, NewRun, Owner, RunId, RunKind, Status, Store};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::context::{RunContext, merge_vars};
use crate::emitter::{Emitter, EventSink};
use crate::error::EngineError;
use crate::stage::{StageOutcome, run_rollback, run_stage};
use crate::step::StepEnv;
use crate::targets::Targets;

/// How often a queued run checks whether it may start.
const QUEUE_POLL: Duration = Duration::from_millis(100);

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub pipeline: String,
    /// `--env`; else the pipeline's `env:`.
    pub env: Option<String>,
    /// `--var`s, overriding every other layer.
    pub vars: IndexMap<String, Value>,
    pub trigger: String,
    /// Detected from the project's git checkout when not given.
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// Who asks: an OS user for the CLI, an API token's name for the server.
    pub actor: String,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunId,
    pub status: Status,
    pub reason: Option<String>,
}

pub struct Engine {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    targets: Arc<dyn Targets>,
    sinks: Arc<Vec<Arc<dyn EventSink>>>,
    state_dir: PathBuf,
    http: reqwest::Client,
    pub log_limit: u64,
    infra: Option<Arc<dyn crate::infra::InfraRunner>>,
    configs: Option<Arc<dyn crate::configs::ConfigApplier>>,
    secrets: Option<Arc<dyn crate::secrets::SecretSource>>,
}

/// What a run does besides the plain DAG walk.
enum Mode {
    Normal {
        reuse: HashMap<String, RunId>,
    },
    /// Roll back the given stages (in this order) on their targets.
    Rollback {
        of: RunId,
        stages: Vec<(String, Vec<String>)>,
    },
}

impl Engine {
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        targets: Arc<dyn Targets>,
        sinks: Vec<Arc<dyn EventSink>>,
        state_dir: PathBuf,
    ) -> Engine {
        // reqwest is built without a default TLS provider so that one (ring) is chosen once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Engine {
            project,
            store,
            targets,
            sinks: Arc::new(sinks),
            state_dir,
            http,
            log_limit: crate::DEFAULT_LOG_LIMIT,
            infra: None,
            configs: None,
            secrets: None,
        }
    }

    /// Let stages' `secrets:` load through `source` (composed by the binary, like `with_infra`;
    /// the engine does not depend on age).
    pub fn with_secrets(mut self, source: Arc<dyn crate::secrets::SecretSource>) -> Engine {
        self.secrets = Some(source);
        self
    }

    /// Let `infra:` steps run through `runner` (the binary composes it; the engine cannot
    /// depend on the infrastructure crate, which builds on this one).
    pub fn with_infra(mut self, runner: Arc<dyn crate::infra::InfraRunner>) -> Engine {
        self.infra = Some(runner);
        self
    }

    /// Let `config:` steps apply through `applier` (composed by the binary, like `with_infra`).
    pub fn with_configs(mut self, applier: Arc<dyn crate::configs::ConfigApplier>) -> Engine {
        self.configs = Some(applier);
        self
    }

    /// Run a pipeline now; returns when it finished (or was cancelled).
    pub async fn run(
        &self,
        request: RunRequest,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        self.start(
            request,
            None,
            Mode::Normal {
                reuse: HashMap::new(),
            },
            cancel,
        )
        .await
    }

    /// Re-run the failed stages of a finished run and their dependents, reusing what succeeded.
    pub async fn retry(
        &self,
        run: RunId,
        actor: String,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let original = self.finished_run(run, "retrying it")?;
        if original.status == Status::Success {
            return Err(EngineError::RunState {
                run,
                status: original.status.to_string(),
                what:
                    "nothing failed, so there is nothing to retry; use `baton run` to run it again"
                        .into(),
            });
        }
        let reuse = self
            .store
            .stages(run)?
            .into_iter()
            .filter(|s| s.status == Status::Success)
            .map(|s| (s.name, s.reused_from.unwrap_or(run)))
            .collect();
        let mut request = request_from_params(
            &original.name,
            &original.params,
            "retry",
            original.branch,
            original.commit,
        );
        request.actor = actor;
        self.start(request, Some(run), Mode::Normal { reuse }, cancel)
            .await
    }

    /// Run the `rollback:` commands of a finished run's successful stages, in reverse completion
    /// order, on the targets where each had succeeded. Recorded as a new run.
    pub async fn rollback(
        &self,
        run: RunId,
        actor: String,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let original = self.finished_run(run, "rolling it back")?;
        let mut stages = self.store.stages(run)?;
        stages.retain(|s| s.completed_seq.is_some() && s.reused_from.is_none());
        stages.sort_by_key(|s| std::cmp::Reverse(s.completed_seq));
        let steps = self.store.steps(run)?;
        let plan = stages
            .into_iter()
            .map(|s| {
                let targets = succeeded_targets(&steps, &s.name);
                (s.name, targets)
            })
            .collect();
        let mut request = request_from_params(
            &original.name,
            &original.params,
            "rollback",
            original.branch,
            original.commit,
        );
        request.trigger = "rollback".into();
        request.actor = actor;
        self.start(
            request,
            None,
            Mode::Rollback {
                of: run,
                stages: plan,
            },
            cancel,
        )
        .await
    }

    /// A run that exists and has finished: the precondition of retry and rollback.
    fn finished_run(
        &self,
        run: RunId,
        action: &str,
    ) -> Result<baton_store::RunRecord, EngineError> {
        let record = self.store.run(run)?.ok_or(EngineError::UnknownRun(run))?;
        if !record.status.is_finished() {
            return Err(EngineError::RunState {
                run,
                status: record.status.to_string(),
                what: format!("wait for it to finish (or `baton cancel` it) before {action}"),
            });
        }
        Ok(record)
    }

    async fn start(
        &self,
        request: RunRequest,
        retry_of: Option<RunId>,
        mode: Mode,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let pipeline = self.pipeline(&request.pipeline)?;
        let env_name = request
            .env
            .clone()
            .or_else(|| pipeline.env.as_ref().map(|e| e.value.clone()));
        let environment = self.environment(env_name.as_deref())?;
        let (branch, commit) = match (&request.branch, &request.commit) {
            (None, None) => git_head(&self.project.root),
            _ => (request.branch.clone(), request.commit.clone()),
        };
        let params = json!({ "env": env_name, "vars": request.vars, "trigger": request.trigger });
        let run = self.store.create_run(&NewRun {
            kind: RunKind::Pipeline,
            name: pipeline.name.clone(),
            trigger: request.trigger.clone(),
            env: env_name.clone(),
            branch: branch.clone(),
            commit: commit.clone(),
            params,
            retry_of,
            owner: Owner::current(),
            actor: request.actor.clone(),
        })?;
        let emitter = Emitter::new(run, self.store.clone(), self.sinks.clone());
        // This run's own token: `baton cancel RUN` (from any process) stops this run only.
        let (cancel, _watch) = crate::lifecycle::run_cancellation(self.store.clone(), run, &cancel);
        if !self.admit(&emitter, pipeline, &cancel).await? {
            let reason = format!(
                "{} while queued",
                crate::lifecycle::cancel_reason(self.store.as_ref(), run)
            );
            return Ok(finish(&emitter, Status::Cancelled, Some(reason)));
        }

        let workspace = self.workspace(run)?;

        let empty = IndexMap::new();
        let env_vars = environment.map(|e| &e.vars).unwrap_or(&empty);
        let mut lineage = vec![run];
        let mut previous = retry_of;
        while let Some(id) = previous {
            lineage.push(id);
            previous = self.store.run(id)?.and_then(|r| r.retry_of);
        }
        let rc = RunContext {
            project: self.project.clone(),
            run,
            lineage,
            pipeline: pipeline.name.clone(),
            trigger: request.trigger.clone(),
            branch: branch.clone(),
            commit,
            env_name: env_name.clone(),
            vars: merge_vars([&self.project.vars, &pipeline.vars, env_vars, &request.vars]),
            env_vars: env_vars.clone(),
            workspace,
            workdir: self.project.root.clone(),
        };
        let shelf = branch
            .as_deref()
            .and_then(|b| {
                self.project
                    .environments
                    .values()
                    .find(|e| e.branch.as_deref() == Some(b))
            })
            .map(|e| e.name.clone());
        let mut env = self.step_env(rc, &emitter, &cancel);
        let secrets = self.stage_secrets(pipeline, env_name.as_deref(), &emitter);
        emitter.emit(EventKind::RunStarted);
        match secrets {
            Ok(secrets) => {
                Arc::get_mut(&mut env)
                    .expect("the run's step environment is not shared yet")
                    .secrets = secrets;
            }
            Err((stage, reason)) => {
                // Nothing has run yet: the stage naming the secret fails, and the run with it.
                emitter.emit(EventKind::StageStarted {
                    stage: stage.clone(),
                });
                emitter.emit(EventKind::StageFinished {
                    stage: stage.clone(),
                    status: Status::Failed,
                    reason: Some(reason.clone()),
                });
                let reason = format!("stage `{stage}` failed: {reason}");
                return Ok(finish(&emitter, Status::Failed, Some(reason)));
            }
        }
        let (status, reason) = match mode {
            Mode::Normal { reuse } => {
                Walk::new(self, pipeline, env.clone(), shelf, reuse)
                    .run()
                    .await
            }
            Mode::Rollback { of, stages } => self.rollback_stages(pipeline, &env, of, stages).await,
        };
        let reason = if status == Status::Cancelled {
            Some(crate::lifecycle::cancel_reason(self.store.as_ref(), run))
        } else {
            reason
        };
        Ok(finish(&emitter, status, reason))
    }

    /// Every secret the pipeline's stages name, loaded (and masked) before any stage runs, so a
    /// missing one fails the run before it does anything. Err: (stage, reason).
    fn stage_secrets(
        &self,
        pipeline: &Pipeline,
        env_name: Option<&str>,
        emitter: &Emitter,
    ) -> Result<crate::secrets::StageSecrets, (String, String)> {
        let env = env_name.unwrap_or(crate::secrets::DEFAULT_SECRETS_ENV);
        let mut names: Vec<String> = pipeline
            .stages
            .values()
            .flat_map(|s| s.secrets.iter().map(|n| n.value.clone()))
            .collect();
        names.sort();
        names.dedup();
        let Some(first) = pipeline.stages.values().find(|s| !s.secrets.is_empty()) else {
            return Ok(HashMap::new());
        };
        let Some(source) = &self.secrets else {
            return Err((
                first.name.clone(),
                "`secrets:` are not available in this build of baton".into(),
            ));
        };
        let values = match source.load(env, &names) {
            Ok(values) => values,
            Err(crate::secrets::SecretLoadError::Failed(reason)) => {
                return Err((first.name.clone(), reason));
            }
            Err(crate::secrets::SecretLoadError::Missing(missing)) => {
                let stage = pipeline
                    .stages
                    .values()
                    .find(|s| s.secrets.iter().any(|n| missing.contains(&n.value)))
                    .unwrap_or(first);
                let missing: Vec<&String> = stage
                    .secrets
                    .iter()
                    .map(|n| &n.value)
                    .filter(|n| missing.contains(n))
                    .collect();
                let fix: Vec<String> = missing
                    .iter()
                    .map(|n| format!("`baton secret set {n} --env {env}`"))
                    .collect();
                let list: Vec<String> = missing.iter().map(|n| format!("`{n}`")).collect();
                return Err((
                    stage.name.clone(),
                    format!(
                        "secret {} not set in environment `{env}`; set it with {}",
                        list.join(", "),
                        fix.join(", ")
                    ),
                ));
            }
        };
        for (_, value) in &values {
            emitter.mask().add(value);
        }
        let values: HashMap<String, String> = values.into_iter().collect();
        Ok(pipeline
            .stages
            .values()
            .filter(|s| !s.secrets.is_empty())
            .map(|s| {
                let vars = s
                    .secrets
                    .iter()
                    .filter_map(|n| values.get(&n.value).map(|v| (n.value.clone(), v.clone())))
                    .collect();
                (s.name.clone(), vars)
            })
            .collect())
    }

    /// The named environment, if any; naming one that does not exist is an error.
    pub(crate) fn environment(
        &self,
        name: Option<&str>,
    ) -> Result<Option<&Environment>, EngineError> {
        let Some(name) = name else { return Ok(None) };
        self.project
            .environments
            .get(name)
            .map(Some)
            .ok_or_else(|| EngineError::UnknownEnvironment {
                name: name.to_string(),
                suggestion: did_you_mean(
                    name,
                    self.project.environments.keys().map(String::as_str),
                )
                .map(str::to_string),
            })
    }

    /// Create the run's own directory and record it.
    pub(crate) fn workspace(&self, run: RunId) -> Result<PathBuf, EngineError> {
        let workspace = self.state_dir.join("workspaces").join(run.to_string());
        std::fs::create_dir_all(&workspace).map_err(|e| EngineError::Workspace {
            path: workspace.display().to_string(),
            reason: e.to_string(),
        })?;
        self.store
            .set_run_workspace(run, &workspace.display().to_string())?;
        Ok(workspace)
    }

    pub(crate) fn step_env(
        &self,
        rc: RunContext,
        emitter: &Emitter,
        cancel: &CancellationToken,
    ) -> Arc<StepEnv> {
        Arc::new(StepEnv {
            rc,
            emitter: emitter.clone(),
            targets: self.targets.clone(),
            http: self.http.clone(),
            blobs: BlobStore::new(self.state_dir.join("artifacts")),
            http_cache: self.state_dir.join("http-cache"),
            cancel: cancel.clone(),
            log_limit: self.log_limit,
            infra: self.infra.clone(),
            configs: self.configs.clone(),
            secrets: HashMap::new(),
        })
    }

    pub(crate) fn project(&self) -> &Arc<Project> {
        &self.project
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn sinks(&self) -> &Arc<Vec<Arc<dyn EventSink>>> {
        &self.sinks
    }

    fn pipeline(&self, name: &str) -> Result<&Pipeline, EngineError> {
        self.project
            .pipelines
            .get(name)
            .ok_or_else(|| EngineError::UnknownPipeline {
                name: name.to_string(),
                suggestion: did_you_mean(name, self.project.pipelines.keys().map(String::as_str))
                    .map(str::to_string),
            })
    }

    /// Wait until the pipeline's `concurrency` lets this run start. Returns false if cancelled.
    async fn admit(
        &self,
        emitter: &Emitter,
        pipeline: &Pipeline,
        cancel: &CancellationToken,
    ) -> Result<bool, EngineError> {
        let limit = pipeline.concurrency.max(1);
        let mut announced = false;
        let mut polls = 0u32;
        loop {
            if self.store.try_start_run(emitter.run(), limit)? {
                return Ok(true);
            }
            if !announced {
                emitter.message(format!(
                    "queued: `{}` allows {limit} run(s) at once; waiting for the earlier ones to finish",
                    pipeline.name
                ));
                announced = true;
            }
            polls += 1;
            // A run ahead of us whose process died would block the queue forever.
            if polls.is_multiple_of(10) {
                crate::recovery::recover_interrupted_runs(self.store.as_ref())?;
            }
            tokio::select! {
                _ = tokio::time::sleep(QUEUE_POLL) => {}
                _ = cancel.cancelled() => return Ok(false),
            }
        }
    }

    async fn rollback_stages(
        &self,
        pipeline: &Pipeline,
        env: &Arc<StepEnv>,
        of: RunId,
        stages: Vec<(String, Vec<String>)>,
    ) -> (Status, Option<String>) {
        let mut failed = Vec::new();
        let mut done = 0;
        for (name, targets) in stages {
            let Some(stage) = pipeline.stages.get(&name) else {
                env.emitter.message(format!(
                    "stage `{name}` is no longer in the pipeline; not rolled back"
                ));
                continue;
            };
            if stage.rollback.is_empty() || targets.is_empty() {
                continue;
            }
            done += 1;
            let stage = Arc::new(stage.clone());
            env.emitter.emit(EventKind::StageStarted {
                stage: name.clone(),
            });
            // A template error in `env:` already failed the stage when it ran.
            let vars = Arc::new(stage_env(&stage));
            let ok = run_rollback(
                env.clone(),
                stage,
                targets,
                vars,
                self.project.ssh.forks as usize,
            )
            .await;
            let status = if ok { Status::Success } else { Status::Failed };
            env.emitter.emit(EventKind::StageFinished {
                stage: name.clone(),
                status,
                reason: None,
            });
            if !ok {
                failed.push(name);
            }
        }
        if env.cancel.is_cancelled() {
            return (Status::Cancelled, Some("cancelled".into()));
        }
        if failed.is_empty() {
            let what = if done == 0 {
                "nothing to roll back"
            } else {
                "rolled back"
            };
            (Status::Success, Some(format!("{what} (run {of})")))
        } else {
            (
                Status::Failed,
                Some(format!("rollback failed for: {}", failed.join(", "))),
            )
        }
    }
}

/// Record how a run ended; a store failure during the run turns it into a failure.
pub(crate) fn finish(
    emitter: &Emitter,
    mut status: Status,
    mut reason: Option<String>,
) -> RunOutcome {
    if let Some(store_error) = emitter.store_error() {
        status = Status::Failed;
        reason = Some(format!("the store could not record the run: {store_error}"));
    }
    // The caller prints it: masked like the event.
    let reason = reason.map(|r| emitter.mask().text(&r));
    emitter.emit(EventKind::RunFinished {
        status,
        reason: reason.clone(),
    });
    RunOutcome {
        run: emitter.run(),
        status,
        reason,
    }
}

/// Targets where stage `stage` fully succeeded, from a run's step records.
fn succeeded_targets(steps: &[baton_store::StepRecord], stage: &str) -> Vec<String> {
    let mut last_attempt: IndexMap<&str, u32> = IndexMap::new();
    for s in steps
        .iter()
        .filter(|s| s.stage == stage && s.phase == baton_store::Phase::Main)
    {
        let entry = last_attempt.entry(s.target.as_str()).or_insert(0);
        *entry = (*entry).max(s.attempt);
    }
    last_attempt
        .into_iter()
        .filter(|(target, attempt)| {
            steps
                .iter()
                .filter(|s| {
                    s.stage == stage
                        && s.target == *target
                        && s.attempt == *attempt
                        && s.phase == baton_store::Phase::Main
                })
                .all(|s| s.status == Status::Success)
        })
        .map(|(t, _)| t.to_string())
        .collect()
}

fn request_from_params(
    pipeline: &str,
    params: &Value,
    trigger: &str,
    branch: Option<String>,
    commit: Option<String>,
) -> RunRequest {
    RunRequest {
        pipeline: pipeline.to_string(),
        env: params["env"].as_str().map(str::to_string),
        vars: params["vars"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        trigger: trigger.to_string(),
        branch,
        commit,
        actor: String::new(),
    }
}

/// Branch and commit of the project's git checkout, if it is one.
fn git_head(root: &Path) -> (Option<String>, Option<String>) {
    if !root.ancestors().any(|dir| dir.join(".git").exists()) {
        return (None, None);
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines().map(str::to_string);
            // `--abbrev-ref` applies to the arguments after it: the hash comes first.
            let commit = lines.next();
            let branch = lines.next().filter(|b| b != "HEAD");
            (branch, commit)
        }
        _ => (None, None),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StageState {
    Pending,
    Running,
    Done(Status),
}

/// One walk of a pipeline's stage DAG.
struct Walk<'e> {
    engine: &'e Engine,
    pipeline: &'e Pipeline,
    env: Arc<StepEnv>,
    shelf: Option<String>,
    reuse: HashMap<String, RunId>,
    states: IndexMap<String, StageState>,
    /// Stages that failed but have `continue_on_error`: their dependents still run.
    tolerated: Vec<String>,
    /// Successful stages (and partly successful targeted ones) in completion order.
    completed: Vec<(String, Vec<String>)>,
    first_failure: Option<(String, Option<String>)>,
}

impl<'e> Walk<'e> {
    fn new(
        engine: &'e Engine,
        pipeline: &'e Pipeline,
        env: Arc<StepEnv>,
        shelf: Option<String>,
        reuse: HashMap<String, RunId>,
    ) -> Self {
        let states = pipeline
            .stages
            .keys()
            .map(|k| (k.clone(), StageState::Pending))
            .collect();
        Walk {
            engine,
            pipeline,
            env,
            shelf,
            reuse,
            states,
            tolerated: Vec::new(),
            completed: Vec::new(),
            first_failure: None,
        }
    }

    async fn run(mut self) -> (Status, Option<String>) {
        self.reuse_stages();
        let mut running: JoinSet<(String, StageOutcome)> = JoinSet::new();
        loop {
            self.start_ready(&mut running);
            let Some(joined) = running.join_next().await else {
                break;
            };
            let (name, outcome) = joined.expect("stage tasks do not panic");
            self.finish(&name, outcome);
        }
        self.conclude().await
    }

    /// Stages that succeeded in the run being retried count as done.
    fn reuse_stages(&mut self) {
        for (name, from) in std::mem::take(&mut self.reuse) {
            if !self.states.contains_key(&name) {
                continue;
            }
            if let Err(e) =
                self.env
                    .emitter
                    .store()
                    .record_reused_stage(self.env.rc.run, &name, from)
            {
                self.env.emitter.note_store_error(e);
            }
            self.env
                .emitter
                .message(format!("stage `{name}`: reusing the success of run {from}"));
            self.states.insert(name, StageState::Done(Status::Success));
        }
    }

    fn satisfied(&self, need: &str) -> Option<bool> {
        match self.states.get(need) {
            Some(StageState::Done(Status::Success)) => Some(true),
            Some(StageState::Done(_)) if self.tolerated.iter().any(|t| t == need) => Some(true),
            Some(StageState::Done(_)) => Some(false),
            _ => None,
        }
    }

    fn start_ready(&mut self, running: &mut JoinSet<(String, StageOutcome)>) {
        // Skipping a stage can make its dependents decidable: repeat until nothing changes.
        loop {
            let mut changed = false;
            let pending: Vec<String> = self
                .states
                .iter()
                .filter(|(_, s)| **s == StageState::Pending)
                .map(|(k, _)| k.clone())
                .collect();
            for name in pending {
                if self.env.cancel.is_cancelled() {
                    self.skip(&name, Status::Cancelled, "the run was cancelled".into());
                    changed = true;
                    continue;
                }
                let stage = &self.pipeline.stages[&name];
                let needs: Vec<Option<bool>> =
                    stage.needs.iter().map(|n| self.satisfied(n)).collect();
                if let Some(pos) = needs.iter().position(|n| *n == Some(false)) {
                    let need = &stage.needs[pos].value;
                    let reason = format!("needs `{need}`, which did not succeed");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                if needs.iter().any(Option::is_none) {
                    continue;
                }
                if self.pipeline.fail_fast
                    && let Some((failed, _)) = &self.first_failure
                {
                    let reason = format!("not started: stage `{failed}` failed (fail_fast)");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                // A run the store cannot record (disk full) must not go on doing work.
                if let Some(error) = self.env.emitter.store_error() {
                    let reason = format!("not started: the store cannot record the run ({error})");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                self.launch(&name, running);
                changed = true;
            }
            if !changed {
                break;
            }
        }
    }

    fn skip(&mut self, name: &str, status: Status, reason: String) {
        self.states
            .insert(name.to_string(), StageState::Done(status));
        self.env.emitter.emit(EventKind::StageFinished {
            stage: name.to_string(),
            status,
            reason: Some(reason),
        });
    }

    fn launch(&mut self, name: &str, running: &mut JoinSet<(String, StageOutcome)>) {
        let stage = &self.pipeline.stages[name];
        if let Some(condition) = &stage.condition {
            match template::render(condition, &self.env.rc.template_context(LOCAL_NODE)) {
                Ok(value) if !template::is_truthy(&value) => {
                    self.skip(
                        name,
                        Status::Skipped,
                        format!("`if: {}` is false", condition.value),
                    );
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    self.states.insert(name.to_string(), StageState::Running);
                    self.env.emitter.emit(EventKind::StageStarted {
                        stage: name.to_string(),
                    });
                    self.finish(
                        name,
                        failed_outcome(format!("`if` template error: {}", e.message)),
                    );
                    return;
                }
            }
        }
        self.states.insert(name.to_string(), StageState::Running);
        self.env.emitter.emit(EventKind::StageStarted {
            stage: name.to_string(),
        });
        let targets = match &stage.targets {
            None => Ok(vec![LOCAL_NODE.to_string()]),
            Some(selector) => self
                .engine
                .project
                .select(selector)
                .map_err(|e| e.to_string()),
        };
        let targets = match targets {
            Ok(t) => t,
            Err(reason) => {
                self.finish(name, failed_outcome(reason));
                return;
            }
        };
        let env = self.env.clone();
        let stage = Arc::new(stage.clone());
        let forks = self.engine.project.ssh.forks as usize;
        let shelf = self.shelf.clone();
        let name = name.to_string();
        let extra_env = Arc::new(stage_env(&stage));
        running.spawn(async move {
            let mut outcome =
                run_stage(env.clone(), stage.clone(), targets, extra_env, forks).await;
            if outcome.status == Status::Success && !stage.artifacts.is_empty() {
                let stored = crate::artifacts::collect(&env.rc.workdir, &stage.artifacts).and_then(
                    |files| crate::artifacts::store(&env, &name, &files, shelf.as_deref()),
                );
                if let Err(reason) = stored {
                    outcome = StageOutcome {
                        status: Status::Failed,
                        reason: Some(reason),
                        succeeded: outcome.succeeded,
                    };
                }
            }
            (name, outcome)
        });
    }

    fn finish(&mut self, name: &str, outcome: StageOutcome) {
        let stage = &self.pipeline.stages[name];
        let mut reason = outcome.reason.clone();
        if outcome.status == Status::Success || !outcome.succeeded.is_empty() {
            self.completed
                .push((name.to_string(), outcome.succeeded.clone()));
        }
        if outcome.status.is_failure() && outcome.status != Status::Cancelled {
            if stage.continue_on_error {
                self.tolerated.push(name.to_string());
                reason = Some(format!(
                    "{} (continue_on_error)",
                    reason.unwrap_or_else(|| outcome.status.to_string())
                ));
            } else if self.first_failure.is_none() {
                self.first_failure = Some((name.to_string(), outcome.reason.clone()));
            }
        }
        self.states
            .insert(name.to_string(), StageState::Done(outcome.status));
        self.env.emitter.emit(EventKind::StageFinished {
            stage: name.to_string(),
            status: outcome.status,
            reason,
        });
    }

    async fn conclude(self) -> (Status, Option<String>) {
        if self.env.cancel.is_cancelled() {
            return (Status::Cancelled, Some("cancelled".into()));
        }
        let Some((failed, why)) = self.first_failure.clone() else {
            return (Status::Success, None);
        };
        let mut reason = format!(
            "stage `{failed}` failed{}",
            why.map(|w| format!(": {w}")).unwrap_or_default()
        );
        let rollback_failed = self.rollback_completed().await;
        if !rollback_failed.is_empty() {
            reason.push_str(&format!(
                "; rollback failed for: {}",
                rollback_failed.join(", ")
            ));
        }
        (Status::Failed, Some(reason))
    }

    /// Roll back what had succeeded, newest first; returns the stages whose rollback failed.
    async fn rollback_completed(&self) -> Vec<String> {
        let to_undo: Vec<&(String, Vec<String>)> = self
            .completed
            .iter()
            .rev()
            .filter(|(name, targets)| {
                !self.pipeline.stages[name].rollback.is_empty() && !targets.is_empty()
            })
            .collect();
        if to_undo.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = to_undo.iter().map(|(n, _)| n.as_str()).collect();
        self.env
            .emitter
            .message(format!("run failed: rolling back {}", names.join(", ")));
        let mut failed = Vec::new();
        for (name, targets) in to_undo {
            let stage = Arc::new(self.pipeline.stages[name].clone());
            let vars = Arc::new(stage_env(&stage));
            let ok = run_rollback(
                self.env.clone(),
                stage,
                targets.clone(),
                vars,
                self.engine.project.ssh.forks as usize,
            )
            .await;
            if !ok {
                failed.push(name.clone());
            }
        }
        failed
    }
}

fn failed_outcome(reason: String) -> StageOutcome {
    StageOutcome {
        status: Status::Failed,
        reason: Some(reason),
        succeeded: Vec::new(),
    }
}

/// The stage's own environment variables (name, template).
fn stage_env(stage: &Stage) -> Vec<(String, String)> {
    // Values stay templates here: each target renders them with its own `node`.
    stage
        .env
        .iter()
        .map(|(name, value)| (name.clone(), value.value.clone()))
        .collect()
}
