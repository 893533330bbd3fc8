//! The versioned types of configuration operations: `baton config … --json` prints these, the
//! REST API will return them. Converted from baton-config's reports and the store's version
//! records here, never printed from them directly.

use serde::{Deserialize, Serialize};

/// What happened (or would happen) on one target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeResult {
    pub node: String,
    pub path: String,
    /// `unchanged`, `changed` (in check/diff: differs), `removed`, `failed`, `cancelled`.
    pub result: String,
    pub reason: Option<String>,
    /// Unified diff from what the target held to what it should hold.
    pub diff: String,
    /// Output of `on_change` and service actions, when they ran.
    pub on_change: Option<String>,
    /// A handler an earlier run left pending ran here: that run (`null` inside: unknown run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_from: Option<Option<i64>>,
    /// Its handler was interrupted here and runs on the next apply.
    #[serde(default)]
    pub pending: bool,
}

/// One config's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigReport {
    pub config: String,
    pub env: String,
    /// The version this action recorded, if it changed something.
    pub version: Option<i64>,
    /// The newest version afterwards.
    pub current: i64,
    pub nodes: Vec<NodeResult>,
    /// e.g. "2 changed · 1 unchanged · 0 failed → version 3 · 1 pending handler from run 7 ran".
    pub summary: String,
}

/// A config that could not be acted on at all.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigFailure {
    pub config: String,
    pub error: String,
    /// The config itself is invalid (a rendering or validation failed): nothing was written.
    #[serde(default)]
    pub invalid: bool,
}

/// `config apply`, `config apply --check`, `config diff`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApplyResult {
    pub api: u32,
    /// The `config` run that recorded the apply (`null` for check and diff, which write
    /// nothing).
    pub run: Option<i64>,
    /// The run's final status (`success`, `failed`, `cancelled`); `null` without a run.
    pub status: Option<String>,
    pub configs: Vec<ConfigReport>,
    pub errors: Vec<ConfigFailure>,
}

impl ApplyResult {
    pub fn failed(&self) -> bool {
        self.errors.iter().any(|e| !e.invalid)
            || self
                .configs
                .iter()
                .any(|c| c.nodes.iter().any(|n| n.result == "failed"))
    }

    pub fn invalid(&self) -> bool {
        self.errors.iter().any(|e| e.invalid)
    }

    pub fn cancelled(&self) -> bool {
        self.status.as_deref() == Some("cancelled")
    }

    /// Some target differs (check, diff) or was changed (apply).
    pub fn changes(&self) -> bool {
        self.configs.iter().any(|c| {
            c.nodes
                .iter()
                .any(|n| n.result == "changed" || n.result == "removed")
        })
    }
}

/// `config rollback`: the report of the one config, with its run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RollbackResult {
    pub api: u32,
    pub run: i64,
    pub status: String,
    #[serde(flatten)]
    pub report: ConfigReport,
}

/// `config validate`, per config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ValidateResult {
    pub config: String,
    pub valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `config history`, per version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct HistoryEntry {
    pub config: String,
    pub env: String,
    pub version: i64,
    pub at: i64,
    /// `user@host` of the process.
    pub who: String,
    /// Who asked (OS user, API token).
    pub actor: String,
    /// The run that recorded it.
    pub run: Option<i64>,
    /// `applied`, `rolled back from vN to vM`.
    pub action: String,
    pub targets: usize,
    /// Nodes this version wrote.
    pub changed: Vec<String>,
    /// Its contents hold secrets and are stored encrypted (a rollback decrypts them with the
    /// identity); never shown.
    #[serde(default)]
    pub encrypted: bool,
}

/// `config list`: one config's versions per environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ListEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub targets: String,
    pub path: Option<String>,
    pub versions: Vec<EnvVersion>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct EnvVersion {
    pub env: String,
    pub version: i64,
    /// Nodes whose file differs from the newest version, or that it does not list (they
    /// missed it).
    pub drift: Vec<String>,
    /// Nodes that could not be read.
    pub unreachable: Vec<String>,
}
