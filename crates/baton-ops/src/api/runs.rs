//! Runs as front ends see them (`runs`, `show`, `logs`, `pipelines` `--json`, later the REST
//! bodies): converted from store records here, so the store's schema can change freely.

use baton_store::{
    ArtifactRecord, Millis, Owner, Phase, RunId, RunKind, RunRecord, StageRecord, Status,
    StepRecord,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// One run of any kind (pipeline, exec, config, infra).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Run {
    #[schema(value_type = i64)]
    pub id: RunId,
    #[schema(value_type = crate::api::schema::RunKind)]
    pub kind: RunKind,
    pub name: String,
    #[schema(value_type = crate::api::schema::Status)]
    pub status: Status,
    pub trigger: String,
    pub env: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub params: serde_json::Value,
    #[schema(value_type = Option<i64>)]
    pub retry_of: Option<RunId>,
    /// The run this one rolled back (`baton rollback RUN`).
    #[schema(value_type = Option<i64>)]
    pub rollback_of: Option<RunId>,
    #[schema(value_type = i64)]
    pub queued_at: Millis,
    #[schema(value_type = Option<i64>)]
    pub started_at: Option<Millis>,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Millis>,
    pub duration_ms: Option<i64>,
    pub reason: Option<String>,
    pub workspace: Option<String>,
    /// The process that runs (or ran) it.
    pub owner: RunOwner,
    /// Who asked for it: an OS user, an API token's name.
    pub actor: String,
    pub cancel_requested_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunOwner {
    pub pid: u32,
    pub host: String,
    pub user: String,
}

impl From<&Owner> for RunOwner {
    fn from(o: &Owner) -> RunOwner {
        RunOwner {
            pid: o.pid,
            host: o.host.clone(),
            user: o.user.clone(),
        }
    }
}

impl From<&RunRecord> for Run {
    fn from(r: &RunRecord) -> Run {
        Run {
            id: r.id,
            kind: r.kind,
            name: r.name.clone(),
            status: r.status,
            trigger: r.trigger.clone(),
            env: r.env.clone(),
            branch: r.branch.clone(),
            commit: r.commit.clone(),
            params: r.params.clone(),
            retry_of: r.retry_of,
            rollback_of: r.rollback_of,
            queued_at: r.queued_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r.duration_ms(),
            reason: r.reason.clone(),
            workspace: r.workspace.clone(),
            owner: (&r.owner).into(),
            actor: r.actor.clone(),
            cancel_requested_by: r.cancel_requested_by.clone(),
        }
    }
}

/// One step of a stage on one target.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Step {
    pub id: i64,
    pub stage: String,
    pub target: String,
    #[schema(value_type = crate::api::schema::Phase)]
    pub phase: Phase,
    pub index: u32,
    pub attempt: u32,
    pub label: String,
    #[schema(value_type = crate::api::schema::Status)]
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    #[schema(value_type = i64)]
    pub started_at: Millis,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Millis>,
    pub log_bytes: i64,
}

impl From<&StepRecord> for Step {
    fn from(s: &StepRecord) -> Step {
        Step {
            id: s.id,
            stage: s.stage.clone(),
            target: s.target.clone(),
            phase: s.phase,
            index: s.index,
            attempt: s.attempt,
            label: s.label.clone(),
            status: s.status,
            exit_code: s.exit_code,
            signal: s.signal,
            reason: s.reason.clone(),
            started_at: s.started_at,
            finished_at: s.finished_at,
            log_bytes: s.log_bytes,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Stage {
    pub name: String,
    #[schema(value_type = crate::api::schema::Status)]
    pub status: Status,
    #[schema(value_type = Option<i64>)]
    pub started_at: Option<Millis>,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Millis>,
    pub duration_ms: Option<i64>,
    pub reason: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub reused_from: Option<RunId>,
    /// The targets it ran on, each once, in the order they started.
    pub targets: Vec<String>,
    pub steps: Vec<Step>,
}

impl Stage {
    pub fn from_records(stage: &StageRecord, steps: &[StepRecord]) -> Stage {
        let steps: Vec<Step> = steps
            .iter()
            .filter(|t| t.stage == stage.name)
            .map(Step::from)
            .collect();
        let mut seen = std::collections::HashSet::new();
        let targets: Vec<String> = steps
            .iter()
            .filter(|s| s.phase == Phase::Main && seen.insert(s.target.as_str()))
            .map(|s| s.target.clone())
            .collect();
        Stage {
            name: stage.name.clone(),
            status: stage.status,
            started_at: stage.started_at,
            finished_at: stage.finished_at,
            duration_ms: (|| Some(stage.finished_at? - stage.started_at?))(),
            reason: stage.reason.clone(),
            reused_from: stage.reused_from,
            targets,
            steps,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Artifact {
    pub id: i64,
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: u64,
    #[schema(value_type = i64)]
    pub run: RunId,
    pub pipeline: String,
    pub stage: String,
    pub commit: Option<String>,
    pub branch: Option<String>,
    pub shelf: Option<String>,
    #[schema(value_type = i64)]
    pub created_at: Millis,
}

impl From<&ArtifactRecord> for Artifact {
    fn from(a: &ArtifactRecord) -> Artifact {
        Artifact {
            id: a.id,
            name: a.name.clone(),
            version: a.version,
            sha256: a.sha256.clone(),
            size: a.size,
            run: a.run,
            pipeline: a.pipeline.clone(),
            stage: a.stage.clone(),
            commit: a.commit.clone(),
            branch: a.branch.clone(),
            shelf: a.shelf.clone(),
            created_at: a.created_at,
        }
    }
}

/// `show RUN`: the run, its stages with their steps, and what it produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RunDetail {
    /// [`super::VERSION`].
    pub api: u32,
    pub run: Run,
    pub stages: Vec<Stage>,
    /// Stages that failed (timed out, were interrupted) — not the cancelled ones, which are in
    /// `cancelled_stages`.
    pub failed_stages: Vec<String>,
    pub cancelled_stages: Vec<String>,
    pub artifacts: Vec<Artifact>,
    /// Rollback runs of this run, oldest first.
    #[schema(value_type = Vec<i64>)]
    pub rolled_back_by: Vec<RunId>,
    /// Per node, what its steps came to (as Ansible's PLAY RECAP).
    pub recap: Vec<NodeRecap>,
}

/// One node's line of a run's recap: its steps by outcome (the last attempt of each).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NodeRecap {
    pub node: String,
    /// Succeeded without changing anything baton can tell (commands, checks).
    pub ok: u32,
    /// Succeeded and changed the node: a config written, a resource created, updated or
    /// destroyed.
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    /// Never reached the node.
    pub unreachable: u32,
}

impl NodeRecap {
    /// The recap of a run from its steps, nodes in first-seen order. A step's target is its
    /// node, except in infra runs, whose steps are resources: their `params.nodes` names the
    /// node of each one not on this machine.
    pub fn of_run(run: &RunRecord, steps: &[StepRecord]) -> Vec<NodeRecap> {
        let changes = matches!(run.kind, RunKind::Config | RunKind::Infra);
        let resource_nodes = (run.kind == RunKind::Infra)
            .then(|| run.params.get("nodes").and_then(|n| n.as_object()))
            .flatten();
        let node_of = |step: &StepRecord| -> String {
            match resource_nodes {
                Some(nodes) => nodes
                    .get(&step.target)
                    .and_then(|n| n.as_str())
                    .unwrap_or(baton_model::LOCAL_NODE)
                    .to_string(),
                None if run.kind == RunKind::Infra => baton_model::LOCAL_NODE.to_string(),
                None => step.target.clone(),
            }
        };
        // The last attempt of each step counts: a retried step is one step. Linear: an infra
        // run of 10,000 resources has 10,000 steps.
        let mut last: Vec<&StepRecord> = Vec::new();
        let mut slot: HashMap<(&str, &str, u32), usize> = HashMap::new();
        for step in steps.iter().filter(|s| s.phase == Phase::Main) {
            match slot.entry((step.stage.as_str(), step.target.as_str(), step.index)) {
                Entry::Occupied(i) => {
                    if last[*i.get()].attempt < step.attempt {
                        last[*i.get()] = step;
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(last.len());
                    last.push(step);
                }
            }
        }
        let mut recap: Vec<NodeRecap> = Vec::new();
        let mut line_of: HashMap<String, usize> = HashMap::new();
        for step in last {
            let node = node_of(step);
            let i = *line_of.entry(node).or_insert_with_key(|node| {
                recap.push(NodeRecap {
                    node: node.clone(),
                    ..NodeRecap::default()
                });
                recap.len() - 1
            });
            let line = &mut recap[i];
            match step.status {
                Status::Success if changes => line.changed += 1,
                Status::Success => line.ok += 1,
                Status::Skipped => line.skipped += 1,
                Status::Queued | Status::Running => {}
                _ if step.cause == Some(baton_store::FailureCause::Unreachable) => {
                    line.unreachable += 1
                }
                _ => line.failed += 1,
            }
        }
        recap
    }
}

/// A stored chunk of a step's output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogChunk {
    pub step: i64,
    pub offset: i64,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// One line of `pipelines`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PipelineSummary {
    pub name: String,
    pub triggers: Vec<String>,
    pub env: Option<String>,
    pub stages: Vec<String>,
    pub last_run: Option<LastRun>,
    /// The newest successful run that ran the pipeline (rollback runs are not counted).
    pub last_success: Option<LastSuccess>,
    #[schema(value_type = Option<crate::api::schema::Status>)]
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LastRun {
    #[schema(value_type = i64)]
    pub id: RunId,
    #[schema(value_type = crate::api::schema::Status)]
    pub status: Status,
    #[schema(value_type = i64)]
    pub queued_at: Millis,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LastSuccess {
    #[schema(value_type = i64)]
    pub id: RunId,
    #[schema(value_type = Option<i64>)]
    pub finished_at: Option<Millis>,
}

/// How a run, retry or rollback ended, for the caller to report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub run: RunId,
    pub pipeline: String,
    pub status: Status,
    pub reason: Option<String>,
    pub duration_ms: Option<i64>,
    /// The first stage that failed (not cancelled), to point at its log.
    pub failed_stage: Option<String>,
}
