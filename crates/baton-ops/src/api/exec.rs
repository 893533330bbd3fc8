//! An ad-hoc command's result as front ends see it: per node, then a summary.

use baton_store::{RunId, Status};
use serde::Serialize;

/// How a node's command ended, for people and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeResult {
    Ok,
    Failed,
    /// Never reached: connect, authentication or host key failed; nothing ran there.
    Unreachable,
    /// The connection dropped while the command ran: whether it finished there is unknown.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExecNode {
    pub node: String,
    pub result: NodeResult,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub duration_ms: i64,
    /// Output (stdout and stderr as written), secrets masked.
    pub output: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ExecSummary {
    pub ok: usize,
    pub failed: usize,
    pub unreachable: usize,
    /// Nodes whose connection dropped mid-command.
    pub unknown: usize,
}

/// `baton exec --json`.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub run: RunId,
    pub nodes: Vec<ExecNode>,
    pub summary: ExecSummary,
}
