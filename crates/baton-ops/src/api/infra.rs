//! Versioned bodies of infrastructure operations: plans, state listings and records, history,
//! walk results. Converted here from `baton-infra` and store types, whose shape may change.

use baton_infra::{Action, ApplyReport, Change, Plan};
use baton_store::{InfraState, Millis, ResourceState, RunId, StateChange, Status};
use serde::Serialize;
use serde_json::{Map, Value};

/// `baton plan --json`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanDoc {
    pub api: u32,
    pub lineage: Option<String>,
    pub serial: i64,
    /// Pending changes only (no-ops left out), in apply order.
    pub changes: Vec<ChangeDto>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChangeDto {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    /// `create`, `update`, `replace`, `destroy`.
    pub action: String,
    pub reason: Option<String>,
    pub attributes: Vec<AttrChangeDto>,
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttrChangeDto {
    pub name: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub sensitive: bool,
    pub forces_replace: bool,
    pub computed: bool,
}

impl From<&Plan> for PlanDoc {
    fn from(plan: &Plan) -> PlanDoc {
        let (add, change, destroy) = plan.counts();
        PlanDoc {
            api: super::VERSION,
            lineage: plan.lineage.clone(),
            serial: plan.serial,
            changes: plan
                .changes
                .iter()
                .filter(|c| c.action != Action::NoOp)
                .map(ChangeDto::from)
                .collect(),
            summary: Summary {
                add,
                change,
                destroy,
            },
        }
    }
}

impl From<&Change> for ChangeDto {
    fn from(c: &Change) -> ChangeDto {
        ChangeDto {
            id: c.id.clone(),
            kind: c.kind.clone(),
            node: c.node.clone(),
            action: match c.action {
                Action::NoOp => "no_op",
                other => other.verb(),
            }
            .to_string(),
            reason: c.reason.clone(),
            attributes: c
                .attributes
                .iter()
                .map(|a| AttrChangeDto {
                    name: a.name.clone(),
                    before: a.before.clone(),
                    after: a.after.clone(),
                    sensitive: a.sensitive,
                    forces_replace: a.forces_replace,
                    computed: a.computed,
                })
                .collect(),
            depends_on: c.depends_on.clone(),
        }
    }
}

/// A line of `baton state list --json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StateEntry {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub serial: i64,
    #[schema(value_type = i64)]
    pub updated_at: Millis,
}

impl From<&ResourceState> for StateEntry {
    fn from(r: &ResourceState) -> StateEntry {
        StateEntry {
            id: r.id.clone(),
            kind: r.kind.clone(),
            node: r.node.clone(),
            serial: r.serial,
            updated_at: r.updated_at,
        }
    }
}

/// `baton state show ID --json`: sensitive attributes already redacted.
#[derive(Debug, Clone, Serialize)]
pub struct StateResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub attributes: Map<String, Value>,
    pub depends_on: Vec<String>,
    pub serial: i64,
}

/// `baton state pull`: the whole state, sensitive values redacted (hashes kept).
#[derive(Debug, Clone, Serialize)]
pub struct StateDoc {
    pub lineage: Option<String>,
    pub serial: i64,
    pub resources: Vec<StateRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub node: String,
    pub attrs: Map<String, Value>,
    pub depends_on: Vec<String>,
    pub serial: i64,
    pub updated_at: Millis,
}

impl From<InfraState> for StateDoc {
    fn from(s: InfraState) -> StateDoc {
        StateDoc {
            lineage: s.lineage,
            serial: s.serial,
            resources: s
                .resources
                .into_iter()
                .map(|r| StateRecord {
                    id: r.id,
                    kind: r.kind,
                    node: r.node,
                    attrs: r.attrs,
                    depends_on: r.depends_on,
                    serial: r.serial,
                    updated_at: r.updated_at,
                })
                .collect(),
        }
    }
}

/// A line of `baton state history --json`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub serial: i64,
    pub at: Millis,
    /// `user@host` of the process, preceded by the actor when it is someone else
    /// (`deploy-bot via baton@ci`).
    pub who: String,
    pub action: String,
    pub resource: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl From<StateChange> for HistoryEntry {
    fn from(h: StateChange) -> HistoryEntry {
        HistoryEntry {
            serial: h.serial,
            at: h.at,
            who: h.who,
            action: h.action,
            resource: h.resource,
            kind: h.kind,
        }
    }
}

/// What an apply or destroy did: its run and counts.
#[derive(Debug, Clone, Serialize)]
pub struct WalkResult {
    pub api: u32,
    pub run: RunId,
    pub status: Status,
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    /// `(resource, error)`.
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<String>,
}

impl WalkResult {
    pub fn new(run: RunId, status: Status, report: &ApplyReport) -> WalkResult {
        WalkResult {
            api: super::VERSION,
            run,
            status,
            added: report.added,
            changed: report.changed,
            destroyed: report.destroyed,
            failed: report.failed.clone(),
            skipped: report.skipped.clone(),
        }
    }
}
