//! The engine and a pipeline run from request to final event; the parts live beside it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use baton_model::diagnostic::did_you_mean;
use baton_model::{Environment, Pipeline, Project};
use baton_store::{BlobStore, EventKind, NewRun, Owner, RunId, RunKind, Status, Store};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::context::{RunContext, merge_vars};
use crate::emitter::{Emitter, EventSink};
use crate::error::EngineError;
use crate::step::StepEnv;
use crate::targets::Targets;
use crate::workspace::Checkout;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub pipeline: String,
    /// `--env`; else the pipeline's `env:`.
    pub env: Option<String>,
    /// `--var`s, overriding every other layer.
    pub vars: IndexMap<String, Value>,
    pub trigger: String,
    /// Detected from the project's git checkout when neither is given and there is no
    /// `checkout`.
    pub branch: Option<String>,
    /// With a `checkout`, its commit when not given.
    pub commit: Option<String>,
    /// Run in a checkout of this commit (a triggered run) instead of the project root.
    pub checkout: Option<Checkout>,
    /// Who asks: an OS user for the CLI, an API token's name for the server.
    pub actor: String,
    /// `--limit SELECTOR`: narrow every targeted stage to these nodes.
    pub limit: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run: RunId,
    pub status: Status,
    pub reason: Option<String>,
}

pub struct Engine {
    pub(crate) project: Arc<Project>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) targets: Arc<dyn Targets>,
    pub(crate) sinks: Arc<Vec<Arc<dyn EventSink>>>,
    pub(crate) state_dir: PathBuf,
    pub log_limit: u64,
    pub(crate) infra: Option<Arc<dyn crate::infra::InfraRunner>>,
    pub(crate) configs: Option<Arc<dyn crate::configs::ConfigApplier>>,
    pub(crate) secrets: Option<Arc<dyn crate::secrets::SecretSource>>,
    pub(crate) notifier: Option<Arc<dyn crate::notify::Notifier>>,
    pub(crate) on_created: Option<RunCreated>,
}

/// Told the run's id as soon as its row exists (before it is admitted): a server answers
/// `201 { id }` without waiting for the run.
pub type RunCreated = Arc<dyn Fn(RunId) + Send + Sync>;

/// What a run does besides the plain DAG walk.
pub(crate) enum Mode {
    Normal {
        reuse: HashMap<String, RunId>,
        /// Said at the start of the run (why a stage of a retry runs again).
        notes: Vec<String>,
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
        Engine {
            project,
            store,
            targets,
            sinks: Arc::new(sinks),
            state_dir,
            log_limit: crate::DEFAULT_LOG_LIMIT,
            infra: None,
            configs: None,
            secrets: None,
            notifier: None,
            on_created: None,
        }
    }

    /// Let runs queue their notifications (`notify:` of pipelines and steps) through
    /// `notifier` (composed by the binary, like `with_infra`).
    pub fn with_notifier(mut self, notifier: Arc<dyn crate::notify::Notifier>) -> Engine {
        self.notifier = Some(notifier);
        self
    }

    /// Call `f` with the id of each run this engine creates, once its row is written.
    pub fn on_created(mut self, f: RunCreated) -> Engine {
        self.on_created = Some(f);
        self
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
                notes: Vec::new(),
            },
            cancel,
        )
        .await
    }

    /// The shelf a run's artifacts are published to: the environment its branch maps to, else
    /// its own environment, else `default`. An environment that receives promotions
    /// (`promote_from`) is never published to directly — that would skip its gates — so such a
    /// run publishes nowhere, and the note says why.
    fn publishing_shelf(
        &self,
        branch: Option<&str>,
        env: Option<&str>,
    ) -> (Option<String>, Option<String>) {
        let environments = &self.project.environments;
        if let Some(mapped) = branch.and_then(|b| {
            environments
                .values()
                .find(|e| e.branch.as_deref() == Some(b))
        }) {
            return (Some(mapped.name.clone()), None);
        }
        match env.and_then(|e| environments.get(e)) {
            Some(e) if !e.promote_from.is_empty() => (
                None,
                Some(format!(
                    "artifacts of this run are not published to `{}`: that shelf takes artifacts promoted to it (`baton artifact promote NAME --to {}`)",
                    e.name, e.name
                )),
            ),
            Some(e) => (Some(e.name.clone()), None),
            None => (Some(crate::artifacts::DEFAULT_SHELF.to_string()), None),
        }
    }

    /// Resolve `--limit SELECTOR`; matching no node is an error naming it.
    fn limit(&self, text: &str) -> Result<crate::walk::Limit, EngineError> {
        let nodes = self
            .project
            .limit_nodes(text)
            .map_err(EngineError::Selector)?;
        Ok(crate::walk::Limit {
            text: text.to_string(),
            nodes,
        })
    }

    /// Every pipeline run (new, retry, rollback) goes through here: its end is where its
    /// notifications are queued, after the final status is recorded.
    pub(crate) async fn start(
        &self,
        request: RunRequest,
        retry_of: Option<RunId>,
        mode: Mode,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let outcome = self.start_run(request, retry_of, mode, cancel).await?;
        if let Some(notifier) = &self.notifier {
            notifier.run_finished(outcome.run);
        }
        Ok(outcome)
    }

    async fn start_run(
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
        let (branch, commit) = match (&request.branch, &request.commit, &request.checkout) {
            // The project root's HEAD says nothing about a checked-out commit.
            (None, None, None) => crate::git::git_head(&self.project.root),
            (branch, commit, checkout) => (
                branch.clone(),
                commit
                    .clone()
                    .or_else(|| checkout.as_ref().map(|c| c.commit.clone())),
            ),
        };
        // Checked before the run exists: a limit that matches nothing is a usage error.
        let limit = match &request.limit {
            Some(text) => Some(Arc::new(self.limit(text)?)),
            None => None,
        };
        let mut params =
            json!({ "env": env_name, "vars": request.vars, "trigger": request.trigger });
        if let Some(limit) = &request.limit {
            params["limit"] = json!(limit);
        }
        if let Some(checkout) = &request.checkout {
            // A retry or rollback works in the same commit (see `replay.rs`).
            params["checkout"] = json!(checkout);
        }
        let new_run = NewRun {
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
        };
        let run = match &mode {
            Mode::Rollback { of, .. } => self.store.create_rollback_run(&new_run, *of)?,
            Mode::Normal { .. } => self.store.create_run(&new_run)?,
        };
        if let Some(created) = &self.on_created {
            created(run);
        }
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
        if let Some(notifier) = &self.notifier {
            notifier.run_started(run);
        }

        let workspace = self.workspace(run)?;
        if let Some(checkout) = &request.checkout
            && let Err((status, reason)) = self.check_out(checkout, &workspace, &cancel).await
        {
            emitter.emit(EventKind::RunStarted);
            let reason = match status {
                Status::Cancelled => Some(format!(
                    "{} while checking out commit {}",
                    crate::lifecycle::cancel_reason(self.store.as_ref(), run),
                    checkout.commit
                )),
                _ => reason,
            };
            return Ok(finish(&emitter, status, reason));
        }
        // A checked-out run works in its commit's tree; a manual one in the project root.
        let workdir = match &request.checkout {
            Some(_) => workspace.clone(),
            None => self.project.root.clone(),
        };

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
            workdir,
            facts: Default::default(),
        };
        let (shelf, shelf_note) = self.publishing_shelf(branch.as_deref(), env_name.as_deref());
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
                    targets: None,
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
            Mode::Normal { reuse, notes } => {
                for note in notes.into_iter().chain(shelf_note) {
                    emitter.message(note);
                }
                crate::walk::Walk::new(self, pipeline, env.clone(), shelf, reuse, limit)
                    .run()
                    .await
            }
            Mode::Rollback { of, mut stages } => {
                if let Some(limit) = &limit {
                    for (_, targets) in &mut stages {
                        targets.retain(|t| limit.nodes.contains(t));
                    }
                }
                self.rollback_stages(pipeline, &env, of, stages).await
            }
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
            blobs: BlobStore::new(self.state_dir.join("artifacts")),
            http_cache: self.state_dir.join("http-cache"),
            cancel: cancel.clone(),
            log_limit: self.log_limit,
            infra: self.infra.clone(),
            configs: self.configs.clone(),
            notifier: self.notifier.clone(),
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

    pub(crate) fn pipeline(&self, name: &str) -> Result<&Pipeline, EngineError> {
        self.project
            .pipelines
            .get(name)
            .ok_or_else(|| EngineError::UnknownPipeline {
                name: name.to_string(),
                suggestion: did_you_mean(name, self.project.pipelines.keys().map(String::as_str))
                    .map(str::to_string),
            })
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
