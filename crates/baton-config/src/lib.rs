//! Configurations (SPEC §3): render a config per target node and environment, validate every
//! rendering before anything is written, write atomically, run `on_change`, keep versions, show
//! drift as unified diffs, roll back to any version.
//!
//! Targets are reached only through [`baton_engine::Targets`] and [`baton_exec::Executor`]:
//! reading a target is one probe command (`remote.rs`), writing is an upload of a staged copy
//! beside the file and one command that checks its sha256 and renames it into place.
//!
//! Modules, by concept: `render` (the one template context, renderings), `probe` (reading and
//! comparing targets), `write` (installing one target), `converge` (writes, `on_change`,
//! versions), `intents` (what a killed apply left: recorded before writing, reconciled by the
//! next command), `lock`, `apply` (validate/diff/apply/drift), `rollback`, `progress` (what an
//! action reports while it works, as events of a run or lines of a step's log), `secrets` (the
//! `secrets:` a content reads: loaded, masked, stored encrypted) and `step` (the `config:`
//! pipeline step).
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

mod apply;
mod converge;
mod diff;
mod facts;
mod intents;
mod lock;
mod probe;
pub mod progress;
pub mod remote;
mod render;
mod rollback;
mod secrets;
mod step;
pub mod validate;
mod write;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_engine::{Mask, SecretSource, Targets};
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

use converge::*;
pub use diff::unified;
use probe::*;
pub use progress::{EventProgress, NodeStep, Progress};
use remote::{Current, Probe};
pub use step::StepApplier;
use write::*;

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
    /// A secret the config reads is not set in the environment: nothing was written.
    #[error("config `{config}`: {message}; nothing was written")]
    MissingSecret { config: String, message: String },
    /// Secrets (or an encrypted stored version) cannot be read or written: no identity, a
    /// wrong one, no recipients. Nothing was written.
    #[error("config `{config}`: {message}; nothing was written")]
    Secrets { config: String, message: String },
    #[error("config `{0}` is locked by {1}")]
    Locked(String, String),
    /// Cancelled before it could take the lock: nothing was written.
    #[error("config `{0}`: cancelled before anything was written")]
    Cancelled(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ConfigError {
    /// The config itself is invalid (exit 2, like an invalid project).
    pub fn is_invalid(&self) -> bool {
        matches!(
            self,
            ConfigError::Invalid { .. } | ConfigError::MissingSecret { .. }
        )
    }

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
    /// The run this action belongs to (recorded with versions and intents).
    pub run_id: Option<i64>,
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
    /// A handler left pending by run N (interrupted there) ran in this action.
    pub pending_from: Option<Option<i64>>,
    /// This action's handler was interrupted: it stays pending for the next apply.
    pub pending: bool,
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

    /// Targets whose `on_change` an interruption left pending (they run on the next apply).
    pub fn pending(&self) -> usize {
        self.nodes.iter().filter(|n| n.pending).count()
    }

    pub fn changed(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.result == "changed" || n.result == "removed")
            .count()
    }
}

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
    /// Who asked (recorded on versions and intents).
    pub actor: String,
    /// Where progress goes: the events of a `config` run, or the log of a `config:` step.
    pub progress: Arc<dyn Progress>,
    pub cancel: CancellationToken,
    /// `node.facts` of this manager's targets, gathered once when a template reads them.
    facts: Arc<baton_exec::facts::FactsCache>,
    /// Where the `secrets:` of configs come from, and what encrypts their stored copies.
    pub secrets: Option<Arc<dyn SecretSource>>,
    /// Secret values loaded (or found in stored versions): masked in reports and errors. Share
    /// the run's (its emitter's) so events never show them either.
    pub mask: Mask,
    /// Encrypted copies made by this manager, by the sha256 of what they hold: one content on
    /// fifty nodes is stored once.
    sealed: std::sync::Mutex<BTreeMap<String, Vec<u8>>>,
}

/// The secrets environment of a scope's key (`""` = none, the `default` one).
fn secrets_env(env: &str) -> Option<String> {
    (!env.is_empty()).then(|| env.to_string())
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
    /// The secret values `content` holds: `Some` when it is stored encrypted.
    secrets: Option<Vec<String>>,
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
            actor: baton_store::os_user(),
            progress: Arc::new(progress::Silent),
            cancel: CancellationToken::new(),
            facts: Default::default(),
            secrets: None,
            mask: Mask::default(),
            sealed: Default::default(),
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

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

pub(crate) fn env_suffix(env: &str) -> String {
    if env.is_empty() {
        String::new()
    } else {
        format!(" in environment `{env}`")
    }
}
