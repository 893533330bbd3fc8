//! Storage of configuration versions (SPEC §3): per (config, environment), each version keeps the
//! rendered content per target, when, who and the action.
//!
//! Implemented for SQLite in `sqlite_config.rs` (tables in `migrations/002_configs.sql`).
//!
//! ## Model
//! - A **version** (1, 2, …) is recorded only when an apply or a rollback changed at least one
//!   target. It lists every target that is in the desired state after the action (changed or
//!   already right), with its content, mode and owner as they are on the node afterwards. A
//!   target that failed (node down) is absent from the version: the next apply converges it.
//! - **Version 0** is what each node held before baton first wrote it, "absent" included. It is
//!   captured per node the first time that node is written ([`NewConfigVersion::originals`]) and
//!   never overwritten, so a node added to the targets later gets its own original too.
//! - Versions are per environment: `env` is the environment's name, `""` for none.
//!
//! ## Secrets
//! A rendered config may contain secret values; the store must never hold them in plaintext.
//! A content that holds secrets is stored **encrypted**: [`ConfigTarget::content`] is an age
//! file (for the project's `secrets.recipients`, made by the config engine through
//! `baton_engine::SecretSource`) and [`ConfigTarget::encrypted`] says so. Then:
//! - history and listings show that the version is encrypted, never its bytes;
//! - [`ConfigTarget::sha256`] is still the hash of the bytes really written, so drift is found by
//!   comparing the node's hash with it, without the identity;
//! - a rollback decrypts it (with the identity) and restores the exact bytes, secret values of
//!   that version included.
//!
//! The store treats the encrypted bytes as opaque: a backend keeps them and the flag as given
//! (versions, originals and intents alike).
//!
//! ## Intents
//! Writing a target and recording the version that lists it cannot be one transaction (one is
//! on a node, the other here), so before a target is written its **intent** is recorded: the
//! desired content (and hash), and whether its `on_change` must run. A version clears the
//! intents of the targets it records whose handler has run. What a killed process leaves is
//! reconciled by the next command on that (config, env): a target that holds the intended hash
//! was written (a version is recorded for it), one that does not was left untouched. An intent
//! whose handler did not finish stays, so the handler runs on the next apply even though the
//! file is then unchanged (Ansible's `--force-handlers`).
//!
//! Originals (version 0) may hold secrets baton never rendered; they are stored as read, like
//! etckeeper's first commit, and are shown only as diffs the user asks for.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::store::StoreResult;

/// What one target held (or holds) in a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigTarget {
    pub node: String,
    pub path: String,
    /// The bytes (an age file when `encrypted`); `None` = no file there.
    pub content: Option<Vec<u8>>,
    /// sha256 (hex) of the bytes really on the node; `None` when absent.
    pub sha256: Option<String>,
    /// Permission bits.
    pub mode: Option<u32>,
    /// `user:group`.
    pub owner: Option<String>,
    /// `content` is encrypted (the file holds secrets): only a rollback, with the identity,
    /// reads it.
    pub encrypted: bool,
    /// This action wrote (or removed) the file on this node.
    pub changed: bool,
}

impl ConfigTarget {
    pub fn present(&self) -> bool {
        self.content.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfigAction {
    Applied,
    RolledBack { from: i64, to: i64 },
}

impl std::fmt::Display for ConfigAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigAction::Applied => write!(f, "applied"),
            ConfigAction::RolledBack { from, to } => write!(f, "rolled back from v{from} to v{to}"),
        }
    }
}

/// A version to record, with the originals of nodes written for the first time.
#[derive(Debug, Clone)]
pub struct NewConfigVersion {
    pub config: String,
    /// `""` for no environment.
    pub env: String,
    /// `user@host`.
    pub who: String,
    /// Who asked: the OS user for the CLI, an API token's name for the server.
    pub actor: String,
    /// The run that made this version (a `config` run, or the pipeline run of a `config:`
    /// step).
    pub run: Option<i64>,
    pub action: ConfigAction,
    pub targets: Vec<ConfigTarget>,
    /// What nodes held before this action; kept as version 0 only for nodes that have none yet.
    pub originals: Vec<ConfigTarget>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigVersionRecord {
    pub config: String,
    pub env: String,
    pub version: i64,
    pub at: Millis,
    pub who: String,
    pub actor: String,
    pub run: Option<i64>,
    pub action: ConfigAction,
    /// Sorted by node; contents are filled by [`ConfigStore::config_version`] only.
    pub targets: Vec<ConfigTarget>,
}

/// What a write was about to do to one target (see "Intents" above).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigIntent {
    pub config: String,
    pub env: String,
    /// The desired state; `target.sha256` is the hash the node holds once written.
    pub target: ConfigTarget,
    /// The target's `on_change` (or service action) still has to run.
    pub handler: bool,
    /// The write is known to have happened (only the handler is pending).
    pub written: bool,
    pub run: Option<i64>,
    pub actor: String,
    pub at: Millis,
}

/// Configuration versions. Part of [`crate::Store`]. Each write is one transaction.
pub trait ConfigStore {
    /// Record the next version of (config, env) and the originals not yet known; returns its
    /// number.
    fn record_config_version(&self, version: &NewConfigVersion) -> StoreResult<i64>;
    /// Keep what nodes hold before they are first written, as version 0 (nodes that already
    /// have an original keep it). Called before writing, so a killed apply cannot lose them.
    fn record_config_originals(
        &self,
        config: &str,
        env: &str,
        originals: &[ConfigTarget],
    ) -> StoreResult<()>;
    /// Versions newest last, with targets but without their contents; `None` = every config /
    /// every environment.
    fn config_history(
        &self,
        config: Option<&str>,
        env: Option<&str>,
    ) -> StoreResult<Vec<ConfigVersionRecord>>;
    /// One version with contents. Version 0 is synthesized from the originals (`who` empty).
    fn config_version(
        &self,
        config: &str,
        env: &str,
        version: i64,
    ) -> StoreResult<Option<ConfigVersionRecord>>;
    /// The newest version number, 0 when nothing was ever recorded.
    fn config_current_version(&self, config: &str, env: &str) -> StoreResult<i64>;
    /// Record (replace) the intent of a target before writing it. A handler still pending from
    /// an earlier write of that target stays pending.
    fn record_config_intent(&self, intent: &ConfigIntent) -> StoreResult<()>;
    /// Mark the intent of `node` as written (`handler`: whether its handler is still pending).
    fn config_intent_written(
        &self,
        config: &str,
        env: &str,
        node: &str,
        handler: bool,
    ) -> StoreResult<()>;
    /// Forget the intent of `node` (untouched after all, or its pending handler ran).
    fn clear_config_intent(&self, config: &str, env: &str, node: &str) -> StoreResult<()>;
    /// The intents of (config, env), by node, with their contents.
    fn config_intents(&self, config: &str, env: &str) -> StoreResult<Vec<ConfigIntent>>;
}
