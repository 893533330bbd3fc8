//! Nodes as front ends see them: the inventory, facts, and ping results.

use serde::Serialize;

/// What the facts probe read off a node (`/proc`, `uname`, `df`).
pub type Facts = baton_exec::facts::Facts;

/// A node of the inventory (`baton nodes`), with its facts when they were gathered.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeInfo {
    pub name: String,
    /// `this machine` for the local node.
    pub host: String,
    /// 0 for the local node.
    pub port: u16,
    pub user: Option<String>,
    pub roles: Vec<String>,
    pub labels: indexmap::IndexMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub facts: Option<Facts>,
    /// Why facts could not be gathered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node's answer to `baton ping`: connect, authenticate, run `true`.
#[derive(Debug, Clone, Serialize)]
pub struct Pong {
    pub node: String,
    /// `user@host:port`, or `this machine`.
    pub address: String,
    pub reachable: bool,
    pub time_ms: u64,
    pub error: Option<String>,
}
