//! Configuration operations: list, validate, diff, apply (or check), rollback, history. An
//! apply or a rollback is a run (kind `config`): a stage per config, a step per node, its
//! progress as events, cancellable by `baton cancel RUN` from anywhere.

use std::sync::Arc;

use baton_config::{ConfigError, ConfigManager, EventProgress, Report, Scope, progress};
use baton_engine::{EventSink, JobRun};
use baton_store::{NewRun, Owner, RunKind, Status};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::api::{self, config as dto};
use crate::error::{ErrorKind, OpsError, OpsResult};
use crate::open::Ops;

/// Which configs an operation acts on.
#[derive(Debug, Clone, Default)]
pub struct ConfigWhich {
    /// `None`: every config of the project (`--all`).
    pub name: Option<String>,
    pub env: Option<String>,
    /// `--limit SELECTOR`: only the targets it matches.
    pub limit: Option<String>,
}

impl From<ConfigError> for OpsError {
    fn from(e: ConfigError) -> OpsError {
        let message = e.to_string();
        match e {
            ConfigError::UnknownConfig(_) => {
                OpsError::usage(message).with_hint("`baton config list` lists them")
            }
            ConfigError::UnknownEnvironment(_)
            | ConfigError::Targets { .. }
            | ConfigError::NoVersion { .. } => OpsError::usage(message),
            ConfigError::Invalid { .. } | ConfigError::MissingSecret { .. } => {
                OpsError::new(ErrorKind::Invalid, message)
            }
            ConfigError::Secrets { .. } => OpsError::failed(message),
            ConfigError::Refused { .. } | ConfigError::Locked(..) => OpsError::conflict(message),
            ConfigError::Cancelled(_) => OpsError::failed(message),
            ConfigError::Store(store) => store.into(),
        }
    }
}

fn node_dto(n: &baton_config::NodeReport) -> dto::NodeResult {
    dto::NodeResult {
        node: n.node.clone(),
        path: n.path.clone(),
        result: n.result.to_string(),
        reason: n.reason.clone(),
        diff: n.diff.clone(),
        on_change: n.on_change.clone(),
        pending_from: n.pending_from,
        pending: n.pending,
    }
}

fn report_dto(r: &Report) -> dto::ConfigReport {
    dto::ConfigReport {
        config: r.config.clone(),
        env: r.env.clone(),
        version: r.version,
        current: r.current,
        nodes: r.nodes.iter().map(node_dto).collect(),
        summary: progress::summary_line(r),
    }
}

impl Ops {
    fn config_manager(&self, targets: Arc<crate::NodeTargets>) -> ConfigManager {
        let mut manager = ConfigManager::new(
            self.project.clone(),
            self.store.clone(),
            targets,
            self.scratch_dir(),
        );
        manager.secrets = Some(self.secret_source());
        manager
    }

    /// The scope of `which`: its environment and, with `--limit`, the nodes it matches (a
    /// limit matching no node is a usage error before any work).
    fn config_scope(&self, which: &ConfigWhich) -> OpsResult<Scope> {
        let only = self.limit_nodes(which.limit.as_deref())?;
        Ok(Scope {
            only,
            ..Scope::env(which.env.as_deref())
        })
    }

    /// The configs named, checked up front so a typo fails before any work.
    fn config_names(&self, which: &ConfigWhich) -> OpsResult<Vec<String>> {
        if let Some(env) = &which.env
            && !self.project.environments.contains_key(env)
        {
            return Err(OpsError::usage(format!(
                "no environment named `{env}` in the project"
            )));
        }
        match &which.name {
            None => Ok(self.project.configs.keys().cloned().collect()),
            Some(name) if self.project.configs.contains_key(name) => Ok(vec![name.clone()]),
            Some(name) => Err(ConfigError::UnknownConfig(name.clone()).into()),
        }
    }

    /// Render and validate every target (`validate: COMMAND` on the targets). Writes nothing.
    pub async fn config_validate(
        &self,
        which: &ConfigWhich,
    ) -> OpsResult<Vec<dto::ValidateResult>> {
        let names = self.config_names(which)?;
        let targets = self.targets();
        let manager = self.config_manager(targets.clone());
        let scope = self.config_scope(which)?;
        let mut results = Vec::new();
        for name in names {
            let result = match manager.validate(&name, &scope).await {
                Ok(count) => dto::ValidateResult {
                    config: name,
                    valid: true,
                    targets: Some(count),
                    error: None,
                },
                Err(
                    e @ (ConfigError::Invalid { .. }
                    | ConfigError::MissingSecret { .. }
                    | ConfigError::Store(_)),
                ) => dto::ValidateResult {
                    config: name,
                    valid: false,
                    targets: None,
                    error: Some(e.to_string()),
                },
                Err(e) => {
                    targets.disconnect_all().await;
                    return Err(e.into());
                }
            };
            results.push(result);
        }
        targets.disconnect_all().await;
        Ok(results)
    }

    /// What an apply would change, per target, as unified diffs. Writes nothing.
    pub async fn config_diff(&self, which: &ConfigWhich) -> OpsResult<dto::ApplyResult> {
        self.config_check(which, true).await
    }

    async fn config_check(&self, which: &ConfigWhich, diff: bool) -> OpsResult<dto::ApplyResult> {
        let names = self.config_names(which)?;
        let targets = self.targets();
        let manager = self.config_manager(targets.clone());
        let scope = self.config_scope(which)?;
        let mut result = dto::ApplyResult {
            api: api::VERSION,
            run: None,
            status: None,
            configs: Vec::new(),
            errors: Vec::new(),
        };
        for name in names {
            let outcome = if diff {
                manager.diff(&name, &scope).await
            } else {
                manager.apply(&name, &scope, true).await
            };
            if let Err(e) = collect(&mut result, &name, outcome) {
                targets.disconnect_all().await;
                return Err(e);
            }
        }
        targets.disconnect_all().await;
        Ok(result)
    }

    /// Apply the configs (`check`: only report what differs, writing nothing and creating no
    /// run). The apply is a run of kind `config` named after the config (or `--all`).
    pub async fn config_apply(
        &self,
        which: &ConfigWhich,
        check: bool,
        actor: &str,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: &CancellationToken,
    ) -> OpsResult<dto::ApplyResult> {
        if check {
            return self.config_check(which, false).await;
        }
        let names = self.config_names(which)?;
        let scope = self.config_scope(which)?;
        let run_name = which.name.clone().unwrap_or_else(|| "--all".into());
        let job = self.config_run(&run_name, which.env.as_ref(), "apply", actor, sinks, cancel)?;
        let targets = self.targets();
        let manager = self.job_manager(targets.clone(), &job, actor);
        let scope = Scope {
            run_id: Some(job.run()),
            ..scope
        };
        let mut result = dto::ApplyResult {
            api: api::VERSION,
            run: Some(job.run()),
            status: None,
            configs: Vec::new(),
            errors: Vec::new(),
        };
        let mut usage = None;
        for name in names {
            if job.cancel().is_cancelled() {
                break;
            }
            let outcome = manager.apply(&name, &scope, false).await;
            if let Err(e) = collect(&mut result, &name, outcome) {
                usage = Some(e);
                break;
            }
        }
        targets.disconnect_all().await;
        let cancelled = job.cancel().is_cancelled();
        let (status, reason) = run_status(&result, cancelled);
        let outcome = job.finish(status, reason);
        result.status = Some(outcome.status.as_str().to_string());
        match usage {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// Bring a config's targets (those of `which.limit`, else all) back to version `to`
    /// (default: the previous one), as a run.
    pub async fn config_rollback(
        &self,
        which: &ConfigWhich,
        to: Option<i64>,
        actor: &str,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: &CancellationToken,
    ) -> OpsResult<dto::RollbackResult> {
        let Some(name) = which.name.as_deref() else {
            return Err(OpsError::usage("config rollback needs a config name"));
        };
        let env = which.env.as_deref();
        self.config_names(which)?;
        let scope = self.config_scope(which)?;
        let env_key = env.unwrap_or("");
        // Nothing recorded and nothing a killed apply left to reconcile: a usage error, no run.
        if self.store.config_current_version(name, env_key)? == 0
            && self.store.config_intents(name, env_key)?.is_empty()
        {
            let suffix = env
                .map(|e| format!(" in environment `{e}`"))
                .unwrap_or_default();
            return Err(OpsError::usage(format!(
                "config `{name}`: nothing to roll back: it was never applied{suffix}"
            )));
        }
        let job = self.config_run(
            name,
            env.map(str::to_string).as_ref(),
            "rollback",
            actor,
            sinks,
            cancel,
        )?;
        let targets = self.targets();
        let manager = self.job_manager(targets.clone(), &job, actor);
        let scope = Scope {
            run_id: Some(job.run()),
            ..scope
        };
        let outcome = manager.rollback(name, &scope, to).await;
        targets.disconnect_all().await;
        let cancelled = job.cancel().is_cancelled();
        match outcome {
            Ok(report) => {
                let mut result = dto::ApplyResult {
                    api: api::VERSION,
                    run: Some(job.run()),
                    status: None,
                    configs: vec![report_dto(&report)],
                    errors: Vec::new(),
                };
                let (status, reason) = run_status(&result, cancelled);
                let finished = job.finish(status, reason);
                result.status = Some(finished.status.as_str().to_string());
                Ok(dto::RollbackResult {
                    api: api::VERSION,
                    run: finished.run,
                    status: finished.status.as_str().to_string(),
                    report: result.configs.remove(0),
                })
            }
            Err(e) => {
                let status = if cancelled {
                    Status::Cancelled
                } else {
                    Status::Failed
                };
                job.finish(status, Some(e.to_string()));
                Err(e.into())
            }
        }
    }

    /// Versions, oldest first; `None` = every config / environment.
    pub fn config_history(
        &self,
        name: Option<&str>,
        env: Option<&str>,
    ) -> OpsResult<Vec<dto::HistoryEntry>> {
        if let Some(name) = name {
            self.config_names(&ConfigWhich {
                name: Some(name.to_string()),
                ..ConfigWhich::default()
            })?;
        }
        Ok(self
            .store
            .config_history(name, env)?
            .into_iter()
            .map(|r| dto::HistoryEntry {
                encrypted: r.targets.iter().any(|t| t.encrypted),
                changed: r
                    .targets
                    .iter()
                    .filter(|t| t.changed)
                    .map(|t| t.node.clone())
                    .collect(),
                targets: r.targets.len(),
                action: r.action.to_string(),
                config: r.config,
                env: r.env,
                version: r.version,
                at: r.at,
                who: r.who,
                actor: r.actor,
                run: r.run,
            })
            .collect())
    }

    /// Every config with its newest version per environment and its drift.
    pub async fn config_list(&self, env: Option<&str>) -> OpsResult<Vec<dto::ListEntry>> {
        self.config_names(&ConfigWhich {
            env: env.map(str::to_string),
            ..ConfigWhich::default()
        })?;
        let envs: Vec<String> = match env {
            Some(env) => vec![env.to_string()],
            None => std::iter::once(String::new())
                .chain(self.project.environments.keys().cloned())
                .collect(),
        };
        let targets = self.targets();
        let manager = self.config_manager(targets.clone());
        let mut rows = Vec::new();
        for (name, config) in &self.project.configs {
            let mut versions = Vec::new();
            for e in &envs {
                let current = self.store.config_current_version(name, e)?;
                if current == 0 && env.is_none() {
                    continue;
                }
                let drift = match manager.drift(name, e).await {
                    Ok(d) => d,
                    Err(err) => {
                        targets.disconnect_all().await;
                        return Err(err.into());
                    }
                };
                let pick = |want: Option<bool>| -> Vec<String> {
                    let mut nodes: Vec<String> = drift
                        .iter()
                        .filter(|(_, d)| *d == want)
                        .map(|(n, _)| n.clone())
                        .collect();
                    nodes.sort();
                    nodes
                };
                versions.push(dto::EnvVersion {
                    env: e.clone(),
                    version: current,
                    drift: pick(Some(true)),
                    unreachable: pick(None),
                });
            }
            rows.push(dto::ListEntry {
                name: name.clone(),
                kind: serde_json::to_value(config.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                targets: config
                    .targets
                    .as_ref()
                    .map(|s| s.value.source.clone())
                    .unwrap_or_else(|| "local".into()),
                path: config.path.as_ref().map(|p| p.value.clone()),
                versions,
            });
        }
        targets.disconnect_all().await;
        Ok(rows)
    }

    fn config_run(
        &self,
        name: &str,
        env: Option<&String>,
        action: &str,
        actor: &str,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: &CancellationToken,
    ) -> OpsResult<JobRun> {
        Ok(JobRun::begin(
            self.store.clone(),
            Arc::new(sinks),
            &NewRun {
                kind: RunKind::Config,
                name: name.to_string(),
                trigger: "manual".into(),
                env: env.cloned(),
                branch: None,
                commit: None,
                params: json!({ "action": action, "env": env }),
                retry_of: None,
                owner: Owner::current(),
                actor: actor.to_string(),
            },
            cancel,
        )?)
    }

    fn job_manager(
        &self,
        targets: Arc<crate::NodeTargets>,
        job: &JobRun,
        actor: &str,
    ) -> ConfigManager {
        let mut manager = self.config_manager(targets);
        manager.cancel = job.cancel().clone();
        // The run's mask: what the config's secrets are, its events never show.
        manager.mask = job.emitter().mask().clone();
        manager.actor = actor.to_string();
        manager.progress = Arc::new(EventProgress::new(job.emitter().clone()));
        manager
    }
}

/// Add one config's outcome; a usage error (unknown name…) stops everything, other failures
/// are recorded so `--all` tries the other configs.
fn collect(
    result: &mut dto::ApplyResult,
    name: &str,
    outcome: Result<Report, ConfigError>,
) -> OpsResult<()> {
    match outcome {
        Ok(report) => result.configs.push(report_dto(&report)),
        Err(
            e @ (ConfigError::UnknownConfig(_)
            | ConfigError::UnknownEnvironment(_)
            | ConfigError::Targets { .. }
            | ConfigError::NoVersion { .. }),
        ) => return Err(e.into()),
        Err(e) => result.errors.push(dto::ConfigFailure {
            config: name.to_string(),
            invalid: e.is_invalid(),
            error: e.to_string(),
        }),
    }
    Ok(())
}

/// A run's honest final status: cancelled when asked to stop, failed when any config or node
/// failed (naming them), else success.
fn run_status(result: &dto::ApplyResult, cancelled: bool) -> (Status, Option<String>) {
    let mut reasons: Vec<String> = result
        .errors
        .iter()
        .map(|e| e.error.lines().next().unwrap_or("").to_string())
        .collect();
    for c in &result.configs {
        let failed: Vec<String> = c
            .nodes
            .iter()
            .filter(|n| n.result == "failed")
            .map(|n| match &n.reason {
                Some(r) => format!("{}: {r}", n.node),
                None => n.node.clone(),
            })
            .collect();
        if !failed.is_empty() {
            reasons.push(format!(
                "config `{}` failed on {}",
                c.config,
                failed.join("; ")
            ));
        }
    }
    if cancelled
        || result
            .configs
            .iter()
            .any(|c| c.nodes.iter().any(|n| n.result == "cancelled"))
    {
        (Status::Cancelled, None)
    } else if !reasons.is_empty() {
        (Status::Failed, Some(reasons.join("; ")))
    } else {
        (Status::Success, None)
    }
}
