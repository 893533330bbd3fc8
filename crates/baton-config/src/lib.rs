//! Configurations (SPEC §3): render a config per target node and environment, validate every
//! rendering before anything is written, write atomically, run `on_change`, keep versions, show
//! drift as unified diffs, roll back to any version.
//!
//! Targets are reached only through [`baton_engine::Targets`] and [`baton_exec::Executor`]:
//! reading a target is one probe command (`remote.rs`), writing is an upload of a staged copy
//! beside the file and one command that checks its sha256 and renames it into place.
//!
//! Deliberate choices (docs/decisions.md, "Configurations"):
//! - **Symbolic links** at a target path are refused with an error naming the link and where it
//!   points: following one could write outside the path the config names, replacing it would
//!   silently break whatever relied on it. Point `path:` at the real file instead.
//! - **Backups** are the store's versions (version 0 = what each node held first), not
//!   `.bak` files beside the target, which directories read whole (`interfaces.d/`,
//!   `sudoers.d/`, systemd drop-ins) would pick up.
//! - **One lock per (config, environment)** in the store: a second apply waits for it; the lock
//!   of a dead process is recognised as stale and broken.

mod diff;
pub mod remote;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_engine::Targets;
use baton_exec::{CancellationToken, Executor};
use baton_model::{
    Config, ConfigKind, ConfigSource, LOCAL_NODE, Project, ServiceState, Validator, template,
};
use baton_store::{
    ConfigAction, ConfigTarget, LockInfo, NewConfigVersion, Owner, Store, StoreError,
};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub use diff::unified;
use remote::{Current, Probe};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no config named `{0}` in the project")]
    UnknownConfig(String),
    #[error("no environment named `{0}` in the project")]
    UnknownEnvironment(String),
    #[error("config `{config}`: {message}")]
    Targets { config: String, message: String },
    /// Rendering or validation failed on some target: nothing was written anywhere.
    #[error("config `{config}` is invalid; nothing was written:\n{}", list(.problems))]
    Invalid {
        config: String,
        problems: Vec<Problem>,
    },
    /// A target cannot take the file (a symbolic link, a directory, no systemd): nothing was
    /// written anywhere.
    #[error("config `{config}` cannot be applied; nothing was written:\n{}", list(.problems))]
    Refused {
        config: String,
        problems: Vec<Problem>,
    },
    #[error("config `{config}`: {message}")]
    NoVersion { config: String, message: String },
    #[error("config `{0}` is locked by {1}")]
    Locked(String, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConfigError {
    /// Bad usage (exit 2) rather than a failed operation (exit 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ConfigError::UnknownConfig(_)
                | ConfigError::UnknownEnvironment(_)
                | ConfigError::Targets { .. }
                | ConfigError::NoVersion { .. }
        )
    }
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {}: {}: {}", p.node, p.path, p.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One thing wrong with one target.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub node: String,
    pub path: String,
    pub message: String,
}

/// Where a config is applied: the environment, extra variables (a pipeline's vars and
/// `--var`s), and optionally only some of its targets.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub env: Option<String>,
    pub vars: IndexMap<String, Value>,
    /// The `run` object of templates; empty values outside a pipeline.
    pub run: Option<Value>,
    /// Limit to these of the config's targets (a pipeline step on one node).
    pub only: Option<Vec<String>>,
}

impl Scope {
    pub fn env(env: Option<&str>) -> Scope {
        Scope {
            env: env.map(str::to_string),
            ..Scope::default()
        }
    }

    /// The store's key for the environment: `""` for none.
    pub fn env_key(&self) -> &str {
        self.env.as_deref().unwrap_or("")
    }
}

/// What happened on one target.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub node: String,
    pub path: String,
    /// `unchanged`, `changed` (written; in check mode: would be), `removed`, `failed`.
    pub result: &'static str,
    pub reason: Option<String>,
    /// Unified diff from what the target held to what it should hold (empty when equal).
    pub diff: String,
    /// Output of `on_change` (and of the service actions) when they ran.
    pub on_change: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub config: String,
    pub env: String,
    /// The version recorded by this action, if it changed something.
    pub version: Option<i64>,
    /// The newest version after this action.
    pub current: i64,
    pub nodes: Vec<NodeReport>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.nodes.iter().filter(|n| n.result == "failed").count()
    }

    pub fn changed(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.result == "changed" || n.result == "removed")
            .count()
    }
}

/// A progress note for the user (waiting for a lock, a broken stale lock…).
pub type Notes = Arc<dyn Fn(&str) + Send + Sync>;

pub struct ConfigManager {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    targets: Arc<dyn Targets>,
    /// Local directory for the files handed to `Executor::upload`.
    scratch: PathBuf,
    /// `user@host` recorded with versions.
    pub who: String,
    /// How long an apply waits for another one on the same config and environment.
    pub lock_wait: Duration,
    pub notes: Notes,
    pub cancel: CancellationToken,
}

/// What a target should end up holding.
#[derive(Debug, Clone)]
struct Desired {
    node: String,
    path: String,
    /// `None`: no file (a rollback to "absent").
    content: Option<Vec<u8>>,
    mode: Option<u32>,
    owner: Option<String>,
    /// `on_change` rendered for this node.
    on_change: Option<String>,
}

/// A target probed and compared.
struct Planned {
    desired: Desired,
    probe: Result<Probe, String>,
    changed: bool,
    diff: String,
}

impl ConfigManager {
    pub fn new(
        project: Arc<Project>,
        store: Arc<dyn Store>,
        targets: Arc<dyn Targets>,
        scratch: PathBuf,
    ) -> ConfigManager {
        ConfigManager {
            project,
            store,
            targets,
            scratch,
            who: Owner::current().who(),
            lock_wait: Duration::from_secs(600),
            notes: Arc::new(|_| {}),
            cancel: CancellationToken::new(),
        }
    }

    pub fn project(&self) -> &Project {
        &self.project
    }

    pub fn config(&self, name: &str) -> Result<&Config, ConfigError> {
        self.project
            .configs
            .get(name)
            .ok_or_else(|| ConfigError::UnknownConfig(name.to_string()))
    }

    /// The config's target nodes, in inventory order (`local` when it names none).
    pub fn target_nodes(&self, config: &Config) -> Result<Vec<String>, ConfigError> {
        match &config.targets {
            None => Ok(vec![LOCAL_NODE.to_string()]),
            Some(selector) => {
                selector
                    .value
                    .resolve(self.project.as_ref())
                    .map_err(|e| ConfigError::Targets {
                        config: config.name.clone(),
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Render and validate (here) the config for every target; every problem is returned.
    fn render_all(&self, config: &Config, scope: &Scope) -> Result<Vec<Desired>, ConfigError> {
        let env_vars = match &scope.env {
            None => IndexMap::new(),
            Some(name) => self
                .project
                .environments
                .get(name)
                .map(|e| e.vars.clone())
                .ok_or_else(|| ConfigError::UnknownEnvironment(name.clone()))?,
        };
        let mut nodes = self.target_nodes(config)?;
        if let Some(only) = &scope.only {
            nodes.retain(|n| only.contains(n));
        }
        let template_text = match &config.source {
            ConfigSource::Template(path) => {
                let file = self.project.root.join(&path.value);
                match std::fs::read_to_string(&file) {
                    Ok(text) => Some(text),
                    Err(e) => {
                        return Err(ConfigError::Invalid {
                            config: config.name.clone(),
                            problems: vec![Problem {
                                node: "*".into(),
                                path: path.value.clone(),
                                message: format!(
                                    "cannot read the template `{}`: {e}",
                                    file.display()
                                ),
                            }],
                        });
                    }
                }
            }
            _ => None,
        };
        let mut vars = self.project.vars.clone();
        for (k, v) in env_vars.iter().chain(scope.vars.iter()) {
            vars.insert(k.clone(), v.clone());
        }
        let mut desired = Vec::new();
        let mut problems = Vec::new();
        for node in nodes {
            let ctx = json!({
                "vars": vars,
                "env": { "name": scope.env.clone().unwrap_or_default(), "vars": env_vars },
                "node": self.node_value(&node),
                "run": scope.run.clone().unwrap_or_else(|| json!({
                    "id": 0, "pipeline": "", "branch": "", "commit": "", "trigger": "manual"
                })),
            });
            let path_template = config.path.as_ref().map(|p| p.value.as_str()).unwrap_or("");
            let path = match template::render(path_template, &ctx) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(Problem {
                        node: node.clone(),
                        path: path_template.to_string(),
                        message: format!("in `path`: {}", e.message),
                    });
                    continue;
                }
            };
            if !path.starts_with('/') {
                problems.push(Problem {
                    node: node.clone(),
                    path: path.clone(),
                    message: "`path` must be absolute".into(),
                });
                continue;
            }
            let rendered = match render_content(config, template_text.as_deref(), &ctx) {
                Ok(text) => text.into_bytes(),
                Err(message) => {
                    problems.push(Problem {
                        node: node.clone(),
                        path,
                        message,
                    });
                    continue;
                }
            };
            let checked = if config.kind == ConfigKind::Env {
                validate::check_env(&rendered)
            } else {
                Ok(())
            }
            .and_then(|()| {
                validate::check(&validate::effective(&config.validate, &path), &rendered)
            });
            if let Err(invalid) = checked {
                problems.push(Problem {
                    node: node.clone(),
                    path,
                    message: format!("{} ({})", invalid, validator_name(&config.validate, config)),
                });
                continue;
            }
            let on_change = match &config.on_change {
                None => None,
                Some(text) => match template::render(&text.value, &ctx) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        problems.push(Problem {
                            node: node.clone(),
                            path,
                            message: format!("in `on_change`: {}", e.message),
                        });
                        continue;
                    }
                },
            };
            desired.push(Desired {
                node,
                path,
                content: Some(rendered),
                mode: config.mode,
                owner: asked_owner(config),
                on_change,
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            });
        }
        Ok(desired)
    }

    fn node_value(&self, node: &str) -> Value {
        match self.project.nodes.get(node) {
            Some(n) => json!({
                "name": n.name, "host": n.host, "roles": n.roles, "labels": n.labels,
                "vars": n.vars, "facts": {},
            }),
            None => json!({
                "name": LOCAL_NODE, "host": "127.0.0.1", "roles": [], "labels": {},
                "vars": {}, "facts": {},
            }),
        }
    }

    /// Render and validate every target, including `validate: COMMAND` on the targets (on a
    /// temporary copy). Writes nothing.
    pub async fn validate(&self, name: &str, scope: &Scope) -> Result<usize, ConfigError> {
        let config = self.config(name)?;
        let desired = self.render_all(config, scope)?;
        let all: Vec<&Desired> = desired.iter().collect();
        self.validate_on_targets(config, &all).await?;
        Ok(desired.len())
    }

    /// What `apply` would change: per target, a diff from what it holds to the rendering.
    pub async fn diff(&self, name: &str, scope: &Scope) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        let desired = self.render_all(config, scope)?;
        let planned = self.plan(config, desired).await;
        Ok(self.report(config, scope, &planned, None, true))
    }

    /// Render, validate, and converge every target (or only show diffs with `check`).
    pub async fn apply(
        &self,
        name: &str,
        scope: &Scope,
        check: bool,
    ) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        let desired = self.render_all(config, scope)?;
        if check {
            let planned = self.plan(config, desired).await;
            return Ok(self.report(config, scope, &planned, None, true));
        }
        let _lock = self.lock(config, scope).await?;
        let planned = self.plan(config, desired).await;
        refuse_unfit(config, &planned)?;
        let changed: Vec<&Desired> = planned
            .iter()
            .filter(|p| p.changed && p.probe.is_ok())
            .map(|p| &p.desired)
            .collect();
        self.validate_on_targets(config, &changed).await?;
        self.converge(config, scope, planned, ConfigAction::Applied)
            .await
    }

    /// Bring every target back to version `to` (default: the one before the newest).
    pub async fn rollback(
        &self,
        name: &str,
        scope: &Scope,
        to: Option<i64>,
    ) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        if let Some(env) = &scope.env
            && !self.project.environments.contains_key(env)
        {
            return Err(ConfigError::UnknownEnvironment(env.clone()));
        }
        let _lock = self.lock(config, scope).await?;
        let env = scope.env_key();
        let current = self.store.config_current_version(name, env)?;
        let no_version = |message: String| ConfigError::NoVersion {
            config: name.to_string(),
            message,
        };
        if current == 0 {
            return Err(no_version(format!(
                "nothing to roll back: it was never applied{}",
                env_suffix(env)
            )));
        }
        let to = to.unwrap_or(current - 1);
        if to < 0 || to > current {
            return Err(no_version(format!(
                "there is no version {to}{} (versions are 0 to {current})",
                env_suffix(env)
            )));
        }
        let Some(version) = self.store.config_version(name, env, to)? else {
            return Err(no_version(format!("version {to} is not in the store")));
        };
        if let Some(t) = version.targets.iter().find(|t| t.redacted) {
            return Err(no_version(format!(
                "version {to} of {} holds secrets, which this build cannot render again",
                t.node
            )));
        }
        let mut desired = Vec::new();
        for t in version.targets {
            if scope
                .only
                .as_ref()
                .is_some_and(|only| !only.contains(&t.node))
            {
                continue;
            }
            desired.push(Desired {
                on_change: config.on_change.as_ref().and_then(|c| {
                    template::render(&c.value, &json!({ "node": self.node_value(&t.node), "vars": self.project.vars, "env": { "name": env, "vars": {} } })).ok()
                }),
                node: t.node,
                path: t.path,
                mode: t.content.as_ref().and(t.mode),
                owner: t.content.as_ref().and(t.owner),
                content: t.content,
            });
        }
        let planned = self.plan(config, desired).await;
        refuse_unfit(config, &planned)?;
        self.converge(
            config,
            scope,
            planned,
            ConfigAction::RolledBack { from: current, to },
        )
        .await
    }

    /// Probe every target at once (at most `ssh.forks` at a time) and compare.
    async fn plan(&self, config: &Config, desired: Vec<Desired>) -> Vec<Planned> {
        let limit = Arc::new(Semaphore::new(self.project.ssh.forks.max(1) as usize));
        let mut running = JoinSet::new();
        for (index, d) in desired.into_iter().enumerate() {
            let (limit, targets, cancel) =
                (limit.clone(), self.targets.clone(), self.cancel.clone());
            running.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore stays open");
                let probe = match targets.executor(&d.node) {
                    Ok(x) => probe(&x, &d.path, &cancel).await,
                    Err(e) => Err(e.to_string()),
                };
                (index, d, probe)
            });
        }
        let mut planned: Vec<(usize, Planned)> = Vec::new();
        while let Some(joined) = running.join_next().await {
            let (index, desired, probe) = joined.expect("probe task does not panic");
            let (changed, diff) = match &probe {
                Ok(p) => compare(config, &desired, p),
                Err(_) => (false, String::new()),
            };
            planned.push((
                index,
                Planned {
                    desired,
                    probe,
                    changed,
                    diff,
                },
            ));
        }
        planned.sort_by_key(|(i, _)| *i);
        planned.into_iter().map(|(_, p)| p).collect()
    }

    /// `validate: COMMAND` runs on each target against a temporary copy of its rendering.
    async fn validate_on_targets(
        &self,
        config: &Config,
        desired: &[&Desired],
    ) -> Result<(), ConfigError> {
        let Validator::Command(command) = &config.validate else {
            return Ok(());
        };
        let limit = Arc::new(Semaphore::new(self.project.ssh.forks.max(1) as usize));
        let mut running = JoinSet::new();
        for d in desired {
            let Some(content) = d.content.clone() else {
                continue;
            };
            let (limit, targets, cancel, scratch) = (
                limit.clone(),
                self.targets.clone(),
                self.cancel.clone(),
                self.scratch.clone(),
            );
            let (node, path, command) = (d.node.clone(), d.path.clone(), command.clone());
            running.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore stays open");
                let result = async {
                    let x = targets.executor(&node).map_err(|e| e.to_string())?;
                    let base = path.rsplit('/').next().unwrap_or("config").to_string();
                    let dir = format!(
                        "/tmp/.baton-validate-{}-{}",
                        std::process::id(),
                        hex::encode(&Sha256::digest(format!("{node}{path}"))[..6])
                    );
                    let copy = format!("{dir}/{base}");
                    remote::upload(&x, &scratch, &content, &copy, Some(0o600))
                        .await
                        .map_err(|e| e.to_string())?;
                    let script = format!(
                        "rc=0; ( {} ) || rc=$?; rm -rf -- {}; exit $rc",
                        command.replace("{path}", &remote::quote(&copy)),
                        remote::quote(&dir)
                    );
                    let (ok, out) = remote::run(&x, script, vec![], &cancel)
                        .await
                        .map_err(|e| e.to_string())?;
                    if ok {
                        Ok(())
                    } else {
                        Err(format!(
                            "`{command}` failed: {}",
                            String::from_utf8_lossy(&out).trim().replace(&copy, &path)
                        ))
                    }
                }
                .await;
                (node, path, result)
            });
        }
        let mut problems = Vec::new();
        while let Some(joined) = running.join_next().await {
            let (node, path, result) = joined.expect("validate task does not panic");
            if let Err(message) = result {
                problems.push(Problem {
                    node,
                    path,
                    message,
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            problems.sort_by(|a, b| a.node.cmp(&b.node));
            Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            })
        }
    }

    /// Write the targets that differ, run `on_change` where something changed, and record a
    /// version when anything did.
    async fn converge(
        &self,
        config: &Config,
        scope: &Scope,
        planned: Vec<Planned>,
        action: ConfigAction,
    ) -> Result<Report, ConfigError> {
        let env = scope.env_key();
        // Originals first: should this process die while writing, what the nodes held before
        // baton is already safe in the store.
        let originals: Vec<ConfigTarget> = planned
            .iter()
            .filter_map(|p| {
                p.probe
                    .as_ref()
                    .ok()
                    .map(|probe| state_of(&p.desired, probe))
            })
            .collect();
        self.store
            .record_config_originals(&config.name, env, &originals)?;

        let limit = Arc::new(Semaphore::new(self.project.ssh.forks.max(1) as usize));
        let mut running = JoinSet::new();
        for (index, p) in planned.iter().enumerate() {
            if !p.changed || p.probe.is_err() {
                continue;
            }
            let (limit, targets, cancel, scratch) = (
                limit.clone(),
                self.targets.clone(),
                self.cancel.clone(),
                self.scratch.clone(),
            );
            let d = p.desired.clone();
            let kind = config.kind;
            let state = config.state;
            let unit = config.unit_name.clone();
            let (name, env_name) = (config.name.clone(), env.to_string());
            running.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore stays open");
                let result: Result<(Installed, String), WriteFailure> = async {
                    let x = targets.executor(&d.node).map_err(|e| e.to_string())?;
                    let installed = write(&x, &scratch, &d, &cancel).await?;
                    let mut log = String::new();
                    let vars = vec![
                        ("BATON_CONFIG".to_string(), name.clone()),
                        ("BATON_CONFIG_PATH".to_string(), d.path.clone()),
                        ("BATON_ENV".to_string(), env_name.clone()),
                        ("BATON_NODE".to_string(), d.node.clone()),
                    ];
                    if kind == ConfigKind::Service {
                        let script = service_script(unit.as_deref().unwrap_or(&name), state);
                        let (ok, out) = remote::run(&x, script, vars.clone(), &cancel)
                            .await
                            .map_err(|e| {
                                WriteFailure::AfterWrite(installed.clone(), e.to_string())
                            })?;
                        log.push_str(&String::from_utf8_lossy(&out));
                        if !ok {
                            return Err(WriteFailure::AfterWrite(
                                installed,
                                format!(
                                    "systemctl failed: {}",
                                    String::from_utf8_lossy(&out).trim()
                                ),
                            ));
                        }
                    }
                    if let Some(command) = &d.on_change {
                        let (ok, out) = remote::run(&x, command.clone(), vars, &cancel)
                            .await
                            .map_err(|e| {
                                WriteFailure::AfterWrite(installed.clone(), e.to_string())
                            })?;
                        log.push_str(&String::from_utf8_lossy(&out));
                        if !ok {
                            return Err(WriteFailure::AfterWrite(
                                installed,
                                format!(
                                    "on_change failed: {}",
                                    String::from_utf8_lossy(&out).trim()
                                ),
                            ));
                        }
                    }
                    Ok((installed, log))
                }
                .await;
                (index, result)
            });
        }
        // Per changed target: the mode/owner it has now (when written) and what went wrong.
        let mut written: BTreeMap<usize, Written> = BTreeMap::new();
        while let Some(joined) = running.join_next().await {
            let (index, result) = joined.expect("write task does not panic");
            let entry = match result {
                Ok((installed, log)) => (Some(installed), Some(log), None),
                // Written, but on_change failed: the file is in place, the node reported.
                Err(WriteFailure::AfterWrite(installed, reason)) => {
                    (Some(installed), None, Some(reason))
                }
                Err(WriteFailure::Before(reason)) => (None, None, Some(reason)),
            };
            written.insert(index, entry);
        }

        let mut version_targets = Vec::new();
        let mut any_changed = false;
        for (index, p) in planned.iter().enumerate() {
            let Ok(probe) = &p.probe else { continue };
            match written.get(&index) {
                None => version_targets.push(state_of(&p.desired, probe)),
                Some((Some(installed), _, _)) => {
                    any_changed = true;
                    version_targets.push(target_record(&p.desired, installed.clone(), true));
                }
                Some((None, _, _)) => {}
            }
        }
        let version = if any_changed {
            Some(self.store.record_config_version(&NewConfigVersion {
                config: config.name.clone(),
                env: env.to_string(),
                who: self.who.clone(),
                action,
                targets: version_targets,
                originals: Vec::new(),
            })?)
        } else {
            None
        };
        let mut report = self.report(config, scope, &planned, version, false);
        for (index, (_, log, failure)) in written {
            let node = &mut report.nodes[index];
            node.on_change = log.filter(|l| !l.is_empty());
            if let Some(reason) = failure {
                node.result = "failed";
                node.reason = Some(reason);
            }
        }
        Ok(report)
    }

    fn report(
        &self,
        config: &Config,
        scope: &Scope,
        planned: &[Planned],
        version: Option<i64>,
        check: bool,
    ) -> Report {
        let env = scope.env_key();
        let current = self
            .store
            .config_current_version(&config.name, env)
            .unwrap_or(0);
        let _ = check;
        Report {
            config: config.name.clone(),
            env: env.to_string(),
            version,
            current,
            nodes: planned
                .iter()
                .map(|p| NodeReport {
                    node: p.desired.node.clone(),
                    path: p.desired.path.clone(),
                    result: match (&p.probe, p.changed, &p.desired.content) {
                        (Err(_), _, _) => "failed",
                        (Ok(_), false, _) => "unchanged",
                        (Ok(_), true, Some(_)) => "changed",
                        (Ok(_), true, None) => "removed",
                    },
                    reason: p.probe.as_ref().err().cloned(),
                    diff: p.diff.clone(),
                    on_change: None,
                })
                .collect(),
        }
    }

    /// Take the (config, environment) lock, waiting for a live holder and breaking a dead one's.
    async fn lock(&self, config: &Config, scope: &Scope) -> Result<LockGuard, ConfigError> {
        let name = format!("config:{}:{}", config.name, scope.env_key());
        let owner = Owner::current();
        let started = tokio::time::Instant::now();
        let mut told = false;
        loop {
            match self
                .store
                .acquire_lock(&name, "config apply", &owner, &owner.user)?
            {
                Ok(_) => {
                    return Ok(LockGuard {
                        store: self.store.clone(),
                        name,
                        owner,
                    });
                }
                Err(held) if held.is_stale() => {
                    (self.notes)(&format!(
                        "breaking the stale lock of config `{}`: {}",
                        config.name,
                        describe(&held)
                    ));
                    self.store.break_lock(&name)?;
                }
                Err(held) => {
                    if started.elapsed() >= self.lock_wait {
                        return Err(ConfigError::Locked(config.name.clone(), describe(&held)));
                    }
                    if !told {
                        (self.notes)(&format!(
                            "waiting for config `{}`: locked by {}",
                            config.name,
                            describe(&held)
                        ));
                        told = true;
                    }
                    // The store has no notification; a short poll keeps the wait cheap.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = self.cancel.cancelled() => {
                            return Err(ConfigError::Locked(config.name.clone(), describe(&held)));
                        }
                    }
                }
            }
        }
    }

    /// Every target's state compared to the newest version's sha256 (no rendering): drift is
    /// a target changed behind baton's back. `None` per node when it cannot be read.
    pub async fn drift(
        &self,
        name: &str,
        env: &str,
    ) -> Result<Vec<(String, Option<bool>)>, ConfigError> {
        let config = self.config(name)?;
        let current = self.store.config_current_version(name, env)?;
        let Some(version) = self.store.config_version(name, env, current)? else {
            return Ok(Vec::new());
        };
        if current == 0 {
            return Ok(Vec::new());
        }
        let desired: Vec<Desired> = version
            .targets
            .into_iter()
            .map(|t| Desired {
                node: t.node,
                path: t.path,
                content: t.content,
                mode: None,
                owner: None,
                on_change: None,
            })
            .collect();
        let planned = self.plan(config, desired).await;
        Ok(planned
            .into_iter()
            .map(|p| (p.desired.node, p.probe.ok().map(|_| p.changed)))
            .collect())
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

struct LockGuard {
    store: Arc<dyn Store>,
    name: String,
    owner: Owner,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // A failure to release leaves a lock that the next apply finds stale and breaks.
        let _ = self.store.release_lock(&self.name, &self.owner);
    }
}

fn describe(held: &LockInfo) -> String {
    format!(
        "{} (pid {}) since {}",
        held.owner.who(),
        held.owner.pid,
        held.since
    )
}

fn env_suffix(env: &str) -> String {
    if env.is_empty() {
        String::new()
    } else {
        format!(" in environment `{env}`")
    }
}

fn validator_name(v: &Validator, config: &Config) -> String {
    let path = config.path.as_ref().map(|p| p.value.as_str()).unwrap_or("");
    match validate::effective(v, path) {
        Validator::Json => "json".into(),
        Validator::Yaml => "yaml".into(),
        Validator::Toml => "toml".into(),
        Validator::Ini => "ini".into(),
        Validator::Sh => "bash -n".into(),
        _ if config.kind == ConfigKind::Env => "env file".into(),
        _ => "validator".into(),
    }
}

/// The text of a config for one node.
fn render_content(
    config: &Config,
    template_text: Option<&str>,
    ctx: &Value,
) -> Result<String, String> {
    let located = |what: &str, e: template::TemplateError| match e.line {
        Some(line) => format!("{what} line {line}: {}", e.message),
        None => format!("{what}: {}", e.message),
    };
    match &config.source {
        ConfigSource::Content(text) => {
            template::render(&text.value, ctx).map_err(|e| located("in `content`", e))
        }
        ConfigSource::Template(path) => template::render(template_text.unwrap_or(""), ctx)
            .map_err(|e| located(&format!("in template `{}`", path.value), e)),
        ConfigSource::Vars(vars) => {
            let mut out = String::new();
            for (name, value) in vars {
                let value = template::render(&value.value, ctx)
                    .map_err(|e| located(&format!("in `vars.{name}`"), e))?;
                if value.contains('\0') {
                    return Err(format!("`vars.{name}` contains a NUL byte"));
                }
                out.push_str(&format!("{name}={}\n", validate::quote_env_value(&value)));
            }
            Ok(out)
        }
    }
}

fn asked_owner(config: &Config) -> Option<String> {
    match (&config.owner, &config.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

/// Whether `current` (`user:group`) is what `asked` (`user`, `user:group` or `:group`) asks.
fn owner_matches(asked: &str, current: &str) -> bool {
    let (cu, cg) = current.split_once(':').unwrap_or((current, ""));
    match asked.split_once(':') {
        Some(("", g)) => g == cg,
        Some((u, g)) => u == cu && g == cg,
        None => asked == cu,
    }
}

fn compare(config: &Config, d: &Desired, probe: &Probe) -> (bool, String) {
    let label = format!("{}:{}", d.node, d.path);
    match (&probe.current, &d.content) {
        (Current::Absent, None) => (false, String::new()),
        (Current::Absent, Some(new)) => (true, diff::unified(&label, None, Some(new))),
        (
            Current::File {
                content,
                mode,
                owner,
            },
            want,
        ) => {
            let mut text = String::new();
            let mut changed = false;
            if want.as_deref() != Some(content.as_slice()) {
                changed = true;
                text.push_str(&diff::unified(&label, Some(content), want.as_deref()));
            }
            if want.is_some() {
                if let Some(m) = d.mode
                    && m != *mode
                {
                    changed = true;
                    text.push_str(&format!("{label}: mode {mode:o} → {m:o}\n"));
                }
                if let Some(o) = &d.owner
                    && !owner_matches(o, owner)
                {
                    changed = true;
                    text.push_str(&format!("{label}: owner {owner} → {o}\n"));
                }
            }
            let _ = config;
            (changed, text)
        }
        // Refused before anything is written (refuse_unfit).
        (Current::Symlink(_) | Current::NotAFile(_), _) => (true, String::new()),
    }
}

/// Targets that cannot take the file make the whole apply fail before any write.
fn refuse_unfit(config: &Config, planned: &[Planned]) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    for p in planned {
        let Ok(probe) = &p.probe else { continue };
        let problem = match &probe.current {
            Current::Symlink(to) => Some(format!(
                "is a symbolic link to `{to}`; baton does not follow or replace links: set `path` to the real file"
            )),
            Current::NotAFile(kind) => Some(format!("is a {kind}, not a regular file")),
            _ if config.kind == ConfigKind::Service && p.changed && !probe.systemd => Some(
                "has no systemd (no `systemctl`, or /run/systemd/system is missing): a service config needs it"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(message) = problem {
            problems.push(Problem {
                node: p.desired.node.clone(),
                path: p.desired.path.clone(),
                message,
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Refused {
            config: config.name.clone(),
            problems,
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a probe found, as a store record (an original, or an unchanged target).
fn state_of(d: &Desired, probe: &Probe) -> ConfigTarget {
    let (content, mode, owner) = match &probe.current {
        Current::File {
            content,
            mode,
            owner,
        } => (Some(content.clone()), Some(*mode), Some(owner.clone())),
        _ => (None, None, None),
    };
    ConfigTarget {
        node: d.node.clone(),
        path: d.path.clone(),
        sha256: content.as_deref().map(sha256_hex),
        content,
        mode,
        owner,
        redacted: false,
        changed: false,
    }
}

/// The record of a target this action wrote. Secrets: this is where the rendering would be
/// redacted (see baton_store's config_store.rs); `sha256` stays that of the real bytes.
fn target_record(d: &Desired, installed: Option<(u32, String)>, changed: bool) -> ConfigTarget {
    ConfigTarget {
        node: d.node.clone(),
        path: d.path.clone(),
        sha256: d.content.as_deref().map(sha256_hex),
        content: d.content.clone(),
        mode: installed.as_ref().map(|(m, _)| *m),
        owner: installed.map(|(_, o)| o),
        redacted: false,
        changed,
    }
}

/// Mode and owner of a file after it was written; `None` when it was removed.
type Installed = Option<(u32, String)>;

/// Per written target: what it is now (when the write happened), the output of `on_change`,
/// and the failure.
type Written = (Option<Installed>, Option<String>, Option<String>);

enum WriteFailure {
    Before(String),
    AfterWrite(Installed, String),
}

impl From<String> for WriteFailure {
    fn from(reason: String) -> Self {
        WriteFailure::Before(reason)
    }
}

async fn probe(
    executor: &Arc<dyn Executor>,
    path: &str,
    cancel: &CancellationToken,
) -> Result<Probe, String> {
    let (ok, output) = remote::run(executor, remote::probe_script(path), vec![], cancel)
        .await
        .map_err(|e| e.to_string())?;
    if !ok {
        return Err(format!(
            "cannot read `{path}`: {}",
            String::from_utf8_lossy(&output).trim()
        ));
    }
    remote::parse_probe(&output)
}

/// Put the desired state in place: a staged copy verified and renamed, or a removal. Returns
/// the mode and owner the file has afterwards (`None` when removed).
async fn write(
    executor: &Arc<dyn Executor>,
    scratch: &std::path::Path,
    d: &Desired,
    cancel: &CancellationToken,
) -> Result<Option<(u32, String)>, String> {
    let Some(content) = &d.content else {
        let (ok, out) = remote::run(executor, remote::remove_script(&d.path), vec![], cancel)
            .await
            .map_err(|e| e.to_string())?;
        return if ok {
            Ok(None)
        } else {
            Err(String::from_utf8_lossy(&out).trim().to_string())
        };
    };
    let stage = remote::stage_path(&d.path);
    remote::upload(executor, scratch, content, &stage, Some(0o600))
        .await
        .map_err(|e| e.to_string())?;
    let script = remote::install_script(
        &stage,
        &d.path,
        &sha256_hex(content),
        d.mode,
        d.owner.as_deref(),
    );
    let (ok, out) = remote::run(executor, script, vec![], cancel)
        .await
        .map_err(|e| e.to_string())?;
    if !ok {
        return Err(format!(
            "cannot write `{}`: {}",
            d.path,
            String::from_utf8_lossy(&out).trim()
        ));
    }
    Ok(remote::parse_installed(&out))
}

/// After a unit file changed: reload systemd, then bring the unit to its `state`. The probe
/// already refused nodes without systemd; this re-checks, so it never pretends.
fn service_script(unit: &str, state: Option<ServiceState>) -> String {
    let u = remote::quote(&format!("{unit}.service"));
    let action = match state {
        None => String::new(),
        Some(ServiceState::Started) => format!("systemctl start {u}; "),
        Some(ServiceState::Stopped) => format!("systemctl stop {u}; "),
        Some(ServiceState::Restarted) => format!("systemctl restart {u}; "),
        Some(ServiceState::Enabled) => format!("systemctl enable {u}; "),
    };
    format!(
        "if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then \
         echo 'no systemd on this node'; exit 1; fi; systemctl daemon-reload; {action}"
    )
}

/// The `config: NAME` pipeline step ([`baton_engine::ConfigApplier`]): applies the config in
/// the run's environment with the run's vars. On a stage target that is one of the config's
/// targets, only that node is applied (so rolling `strategy:` batches work); on `local`, when
/// the config does not target `local`, every target of the config is applied at once.
pub struct StepApplier {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
    pub targets: Arc<dyn Targets>,
    pub scratch: PathBuf,
}

impl baton_engine::ConfigApplier for StepApplier {
    fn apply<'a>(
        &'a self,
        step: baton_engine::ConfigStep<'a>,
        output: &'a mut (dyn FnMut(&[u8]) + Send),
        cancel: &'a CancellationToken,
    ) -> baton_engine::ConfigFuture<'a> {
        Box::pin(async move {
            let notes: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
            let mut manager = ConfigManager::new(
                self.project.clone(),
                self.store.clone(),
                self.targets.clone(),
                self.scratch.clone(),
            );
            manager.cancel = cancel.clone();
            let sink = notes.clone();
            manager.notes = Arc::new(move |note: &str| {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(note.to_string())
            });
            let config = manager.config(step.config).map_err(|e| e.to_string())?;
            let nodes = manager.target_nodes(config).map_err(|e| e.to_string())?;
            let only = if nodes.iter().any(|n| n == step.target) {
                Some(vec![step.target.to_string()])
            } else if step.target == LOCAL_NODE {
                None
            } else {
                return Err(format!(
                    "config `{}` does not target node `{}` (its targets: {})",
                    step.config,
                    step.target,
                    nodes.join(", ")
                ));
            };
            let scope = Scope {
                env: step.env.map(str::to_string),
                vars: step.vars.clone(),
                run: Some(step.run),
                only,
            };
            let result = manager.apply(step.config, &scope, false).await;
            for note in notes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                output(format!("note: {note}\n").as_bytes());
            }
            let report = result.map_err(|e| e.to_string())?;
            for node in &report.nodes {
                let reason = node
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default();
                output(format!("{} {} {}{reason}\n", node.node, node.path, node.result).as_bytes());
                if let Some(log) = &node.on_change {
                    output(log.as_bytes());
                }
            }
            match report.version {
                Some(v) => output(format!("config `{}`: version {v}\n", report.config).as_bytes()),
                None => output(
                    format!(
                        "config `{}`: unchanged (version {})\n",
                        report.config, report.current
                    )
                    .as_bytes(),
                ),
            }
            let failed: Vec<&str> = report
                .nodes
                .iter()
                .filter(|n| n.result == "failed")
                .map(|n| n.node.as_str())
                .collect();
            if failed.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "config `{}` failed on {}",
                    report.config,
                    failed.join(", ")
                ))
            }
        })
    }
}
