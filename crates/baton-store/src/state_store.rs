//! Storage of infrastructure state (SPEC §4): resources with a serial per change and history.
//!
//! Implemented for SQLite in `sqlite_state.rs`. The lock that serialises apply/destroy is the
//! store's general lock ([`crate::Store::acquire_lock`]), named by the infrastructure engine.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::store::StoreResult;

/// One managed resource as last applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    pub id: String,
    /// `file`, `directory`, … or a provider type such as `aws.s3_bucket`.
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    /// Attributes as applied, plus computed ones. Sensitive values are stored as `sha256:HEX`.
    pub attrs: serde_json::Map<String, serde_json::Value>,
    pub depends_on: Vec<String>,
    /// Serial of the change that wrote this record (0 for a record not yet saved).
    #[serde(default)]
    pub serial: i64,
    #[serde(default)]
    pub updated_at: Millis,
}

/// The whole state: lineage and serial, and every resource by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InfraState {
    /// `None` until the first change.
    pub lineage: Option<String>,
    pub serial: i64,
    pub resources: Vec<ResourceState>,
}

/// One line of `baton state history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    pub serial: i64,
    pub at: Millis,
    /// `user@host` of the process that made the change.
    pub who: String,
    /// `create`, `update`, `replace`, `delete`, `rm`.
    pub action: String,
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Infrastructure state. Part of [`crate::Store`]. Every write is one transaction that bumps the
/// serial and appends one history entry, so a process killed mid-apply leaves the state exactly
/// as of its last finished resource.
pub trait StateStore {
    fn infra_state(&self) -> StoreResult<InfraState>;
    /// Insert or replace a resource; returns the new serial.
    fn save_resource(&self, resource: &ResourceState, action: &str, who: &str) -> StoreResult<i64>;
    /// Forget a resource; returns the new serial, or `None` when it was not in the state.
    fn remove_resource(&self, id: &str, action: &str, who: &str) -> StoreResult<Option<i64>>;
    /// Newest first.
    fn infra_history(&self, limit: usize) -> StoreResult<Vec<StateChange>>;
}
