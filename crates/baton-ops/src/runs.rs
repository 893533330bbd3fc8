//! Pipeline runs as operations: run, retry and rollback (with `--var` parsing and the pipeline
//! lookup), and the queries every front end shows — the runs list, one run's detail, its log by
//! offset and the pipeline summary. Results are the versioned [`crate::api::runs`] types.

use std::collections::HashMap;
use std::sync::Arc;

use baton_engine::{EventSink, RunRequest};
use baton_model::{Pipeline, Trigger};
use baton_store::{RunFilter, RunId, RunKind, Status, StepId};
use indexmap::IndexMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::runs::{
    Artifact, LastRun, LastSuccess, PipelineSummary, Run, RunDetail, RunResult, Stage, Step,
};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;
use crate::targets::NodeTargets;

/// `baton run PIPELINE`: what to run and who asks.
#[derive(Debug, Clone, Default)]
pub struct StartRun {
    pub pipeline: String,
    /// `--env`; else the pipeline's `env:`.
    pub env: Option<String>,
    /// `--var`s, overriding every other layer (see [`parse_vars`]).
    pub vars: IndexMap<String, Value>,
    /// `manual` from the CLI; `webhook`, `schedule`, `commit` from the server.
    pub trigger: String,
    pub actor: String,
    /// The pushed branch and commit (webhooks, commit triggers); else the project's checkout.
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// Run the stages in a checkout of this commit (webhooks, commit triggers) instead of the
    /// project root.
    pub checkout: Option<baton_engine::Checkout>,
    /// `--limit SELECTOR`: narrow every targeted stage to these nodes.
    pub limit: Option<String>,
}

/// A run started in the background: its id (its row exists) and its end.
pub struct StartedRun {
    pub run: RunId,
    pub done: tokio::task::JoinHandle<OpsResult<RunResult>>,
}

/// The three ways to start a pipeline run.
#[derive(Debug, Clone)]
// One is built per run and moved once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum RunAction {
    Run(StartRun),
    /// Re-run what failed in run `run` (and what its rollback undid).
    Retry {
        run: RunId,
        actor: String,
        /// `--limit`; else the retried run's own.
        limit: Option<String>,
    },
    /// Undo run `run`; `force` repeats a rollback that already ran.
    Rollback {
        run: RunId,
        actor: String,
        force: bool,
        /// `--limit`: undo on these nodes only.
        limit: Option<String>,
    },
}

/// A checked run action: the pipeline and environment it will run under, for a front end to
/// announce before it starts.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub action: RunAction,
    pub pipeline: String,
    pub env: Option<String>,
    /// The pipeline's stages, in declaration order.
    pub stages: Vec<String>,
}

/// `runs`: which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunsQuery {
    pub pipeline: Option<String>,
    pub kind: Option<RunKind>,
    pub limit: Option<usize>,
    pub status: Option<Status>,
    /// Only runs with a lower id (paging back).
    pub before: Option<RunId>,
}

/// `logs RUN`: which steps' output to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    pub run: RunId,
    pub stage: Option<String>,
    pub node: Option<String>,
}

/// Where a reader of a run's log is: the byte offset reached in each step's log.
#[derive(Debug, Clone, Default)]
pub struct LogCursor {
    offsets: HashMap<StepId, i64>,
}

/// New output since the cursor, in step order, and whether the run has finished (then
/// nothing more will come).
#[derive(Debug, Clone)]
pub struct LogBatch {
    pub finished: bool,
    /// Each step with output (or first seen) since the last read, with its new bytes.
    pub parts: Vec<LogPart>,
}

#[derive(Debug, Clone)]
pub struct LogPart {
    pub step: Step,
    /// Whether this step is new to the cursor (a front end prints its header).
    pub first: bool,
    /// Where `data` starts in the step's log.
    pub offset: i64,
    pub data: Vec<u8>,
}

/// `--var NAME=VALUE` items as variables; a malformed one is a usage error naming it.
pub fn parse_vars(items: &[String]) -> OpsResult<IndexMap<String, Value>> {
    let mut vars = IndexMap::new();
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            return Err(OpsError::usage(format!(
                "invalid `--var {item}`: write `--var NAME=VALUE`"
            )));
        };
        if name.trim().is_empty() {
            return Err(OpsError::usage(format!(
                "invalid `--var {item}`: the name is empty"
            )));
        }
        vars.insert(name.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(vars)
}

impl Ops {
    /// The named pipeline, or a usage error suggesting the closest name (or listing them).
    pub fn pipeline(&self, name: &str) -> OpsResult<&Pipeline> {
        self.project.pipelines.get(name).ok_or_else(|| {
            let error = OpsError::usage(format!("no pipeline named `{name}`"));
            match baton_model::diagnostic::did_you_mean(
                name,
                self.project.pipelines.keys().map(String::as_str),
            ) {
                Some(s) => error.with_hint(format!("did you mean `{s}`?")),
                None => error.with_hint(format!(
                    "pipelines: {}",
                    self.project
                        .pipelines
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        })
    }

    /// Check a run action before anything starts: the pipeline (and for retry and rollback the
    /// earlier run) exists.
    pub fn plan_run(&self, action: RunAction) -> OpsResult<RunPlan> {
        let (name, env) = match &action {
            RunAction::Run(start) => {
                let pipeline = self.pipeline(&start.pipeline)?;
                let env = start
                    .env
                    .clone()
                    .or_else(|| pipeline.env.as_ref().map(|e| e.value.clone()));
                (pipeline.name.clone(), env)
            }
            RunAction::Retry { run, .. } | RunAction::Rollback { run, .. } => {
                let original = self.run_record(*run)?;
                if matches!(action, RunAction::Retry { .. }) && original.status == Status::Success {
                    // Asking to retry a success is a mistake in the request, not a conflict.
                    return Err(OpsError::usage(format!(
                        "run {run} succeeded: nothing failed, so there is nothing to retry"
                    ))
                    .with_hint(format!("`baton run {}` runs it again", original.name)));
                }
                (original.name, original.env)
            }
        };
        let stages = self
            .project
            .pipelines
            .get(&name)
            .map(|p| p.stages.keys().cloned().collect())
            .unwrap_or_default();
        Ok(RunPlan {
            action,
            pipeline: name,
            env,
            stages,
        })
    }

    /// Run `plan` to its end on `targets`, reporting progress to `sinks`. `cancel` is the
    /// caller's (Ctrl-C, a server shutting down); `baton cancel RUN` works besides.
    pub async fn execute(
        &self,
        plan: RunPlan,
        targets: Arc<NodeTargets>,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: CancellationToken,
    ) -> OpsResult<RunResult> {
        let engine = self.engine(targets.clone(), sinks);
        self.execute_with(plan, targets, engine, cancel).await
    }

    /// Start `plan` in the background (a server's request, webhook, schedule): returns once
    /// the run's row exists, with its id, or with the error that prevented it (an unknown
    /// environment, a full disk).
    pub async fn start(
        self: &Arc<Self>,
        plan: RunPlan,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: CancellationToken,
    ) -> OpsResult<StartedRun> {
        let (created_tx, created_rx) = tokio::sync::oneshot::channel();
        let created_tx = std::sync::Mutex::new(Some(created_tx));
        let ops = self.clone();
        let done = tokio::spawn(async move {
            let targets = ops.targets();
            let engine = ops
                .engine(targets.clone(), sinks)
                .on_created(Arc::new(move |run| {
                    if let Some(tx) = created_tx.lock().expect("not poisoned").take() {
                        let _ = tx.send(run);
                    }
                }));
            ops.execute_with(plan, targets, engine, cancel).await
        });
        match created_rx.await {
            Ok(run) => Ok(StartedRun { run, done }),
            // The run ended before it had a row: its error says why.
            Err(_) => match done.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(result)) => Err(OpsError::failed(format!(
                    "run {} ended before it was announced",
                    result.run
                ))),
                Err(e) => Err(OpsError::failed(format!("the run's task failed: {e}"))),
            },
        }
    }

    async fn execute_with(
        &self,
        plan: RunPlan,
        targets: Arc<NodeTargets>,
        engine: baton_engine::Engine,
        cancel: CancellationToken,
    ) -> OpsResult<RunResult> {
        let outcome = match plan.action {
            RunAction::Run(start) => {
                let request = RunRequest {
                    pipeline: start.pipeline,
                    env: start.env,
                    vars: start.vars,
                    trigger: if start.trigger.is_empty() {
                        "manual".into()
                    } else {
                        start.trigger
                    },
                    branch: start.branch,
                    commit: start.commit,
                    checkout: start.checkout,
                    limit: start.limit,
                    actor: start.actor,
                };
                engine.run(request, cancel).await
            }
            RunAction::Retry { run, actor, limit } => engine.retry(run, actor, limit, cancel).await,
            RunAction::Rollback {
                run,
                actor,
                force,
                limit,
            } => engine.rollback(run, actor, force, limit, cancel).await,
        };
        targets.disconnect_all().await;
        let outcome = outcome?;
        let record = self.store.run(outcome.run)?;
        let failed_stage = self
            .store
            .stages(outcome.run)?
            .into_iter()
            .find(|s| s.status.is_failure() && s.status != Status::Cancelled)
            .map(|s| s.name);
        Ok(RunResult {
            run: outcome.run,
            pipeline: plan.pipeline,
            status: outcome.status,
            reason: outcome.reason,
            duration_ms: record.and_then(|r| r.duration_ms()),
            failed_stage,
        })
    }

    fn run_record(&self, run: RunId) -> OpsResult<baton_store::RunRecord> {
        self.store.run(run)?.ok_or_else(|| {
            OpsError::not_found(format!("no run {run}")).with_hint("`baton runs` lists them")
        })
    }

    /// Runs, newest first.
    pub fn runs(&self, query: &RunsQuery) -> OpsResult<Vec<Run>> {
        let runs = self.store.runs(&RunFilter {
            name: query.pipeline.clone(),
            kind: query.kind,
            limit: query.limit,
            status: query.status,
            before: query.before,
        })?;
        Ok(runs.iter().map(Run::from).collect())
    }

    /// The audit trail, newest first.
    pub fn audit(&self, limit: usize) -> OpsResult<Vec<crate::api::audit::AuditEntry>> {
        Ok(self
            .store
            .audit_log(limit)?
            .iter()
            .map(crate::api::audit::AuditEntry::from)
            .collect())
    }

    /// One run with its stages, steps, artifacts and rollbacks.
    pub fn run_detail(&self, run: RunId) -> OpsResult<RunDetail> {
        let record = self.run_record(run)?;
        let stages = self.store.stages(run)?;
        let steps = self.store.steps(run)?;
        let stages: Vec<Stage> = stages
            .iter()
            .map(|s| Stage::from_records(s, &steps))
            .collect();
        let named = |cancelled: bool| {
            stages
                .iter()
                .filter(|s| s.status.is_failure() && (s.status == Status::Cancelled) == cancelled)
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        };
        Ok(RunDetail {
            api: crate::api::VERSION,
            run: Run::from(&record),
            failed_stages: named(false),
            cancelled_stages: named(true),
            stages,
            artifacts: self
                .store
                .run_artifacts(run)?
                .iter()
                .map(Artifact::from)
                .collect(),
            rolled_back_by: self.store.rollbacks_of(run)?.iter().map(|r| r.id).collect(),
            recap: self.in_inventory_order(crate::api::runs::NodeRecap::of_run(&record, &steps)),
        })
    }

    /// The recap `run` and `apply` print at the end, without the rest of
    /// [`Ops::run_detail`]: empty, without reading the run's steps back, when the project has
    /// no node but this machine (a recap lists nodes; there is none to list).
    pub fn run_recap(&self, run: RunId) -> OpsResult<Vec<crate::api::runs::NodeRecap>> {
        let remote = self
            .project
            .nodes
            .keys()
            .any(|n| n != baton_model::LOCAL_NODE);
        if !remote {
            return Ok(Vec::new());
        }
        let record = self.run_record(run)?;
        let steps = self.store.steps(run)?;
        Ok(self.in_inventory_order(crate::api::runs::NodeRecap::of_run(&record, &steps)))
    }

    /// Recap lines in the order the project lists its nodes (`local` last, unknown ones after).
    fn in_inventory_order(
        &self,
        mut recap: Vec<crate::api::runs::NodeRecap>,
    ) -> Vec<crate::api::runs::NodeRecap> {
        let position = |node: &str| {
            self.project
                .nodes
                .get_index_of(node)
                .unwrap_or(usize::MAX - usize::from(node == baton_model::LOCAL_NODE))
        };
        recap.sort_by_key(|r| position(&r.node));
        recap
    }

    /// Check a log query (the run and the stage exist) before reading.
    pub fn check_log_query(&self, query: &LogQuery) -> OpsResult<()> {
        let run = self.run_record(query.run)?;
        if let Some(stage) = &query.stage {
            let mut known: Vec<String> = self
                .store
                .stages(run.id)?
                .into_iter()
                .map(|s| s.name)
                .collect();
            if let Some(p) = self.project.pipelines.get(&run.name) {
                for name in p.stages.keys() {
                    if !known.contains(name) {
                        known.push(name.clone());
                    }
                }
            }
            if !known.contains(stage) {
                let error = OpsError::usage(format!("run {} has no stage `{stage}`", run.id));
                let hint = match baton_model::diagnostic::did_you_mean(
                    stage,
                    known.iter().map(String::as_str),
                ) {
                    Some(s) => format!("did you mean `{s}`? its stages: {}", known.join(", ")),
                    None if known.is_empty() => "it has no stages yet".to_string(),
                    None => format!("its stages: {}", known.join(", ")),
                };
                return Err(error.with_hint(hint));
            }
        }
        Ok(())
    }

    /// The steps a log query reads, in the order they started (a front end serving a run's
    /// log as one byte stream concatenates them in this order).
    pub fn log_steps(&self, query: &LogQuery) -> OpsResult<Vec<Step>> {
        self.check_log_query(query)?;
        Ok(self
            .store
            .steps(query.run)?
            .iter()
            .filter(|s| query.stage.as_ref().is_none_or(|st| &s.stage == st))
            .filter(|s| query.node.as_ref().is_none_or(|n| &s.target == n))
            .map(Step::from)
            .collect())
    }

    /// Up to `max` bytes of step `step`'s committed output from `offset` (never the whole log
    /// at once).
    pub fn log_bytes(&self, step: StepId, offset: i64, max: usize) -> OpsResult<Vec<u8>> {
        Ok(self.store.log_read(step, offset, max)?)
    }

    /// The output written since `cursor`, step by step (each step's bytes in order).
    pub fn read_log(&self, query: &LogQuery, cursor: &mut LogCursor) -> OpsResult<LogBatch> {
        // Read the status first: output recorded before a run finished is all there is.
        let finished = self
            .store
            .run(query.run)?
            .is_none_or(|r| r.status.is_finished());
        let steps = self.store.steps(query.run)?;
        let mut parts = Vec::new();
        for step in steps
            .iter()
            .filter(|s| query.stage.as_ref().is_none_or(|st| &s.stage == st))
            .filter(|s| query.node.as_ref().is_none_or(|n| &s.target == n))
        {
            let known = cursor.offsets.get(&step.id).copied();
            let start = known.unwrap_or(0);
            let mut next = start;
            let mut data = Vec::new();
            for (at, chunk) in self.store.log_chunks(step.id, next)? {
                next = at + chunk.len() as i64;
                data.extend_from_slice(&chunk);
            }
            cursor.offsets.insert(step.id, next);
            if known.is_none() || !data.is_empty() {
                parts.push(LogPart {
                    step: Step::from(step),
                    first: known.is_none(),
                    offset: start,
                    data,
                });
            }
        }
        Ok(LogBatch { finished, parts })
    }

    /// When each piece of a step's output arrived: (offset, unix ms), in offset order.
    pub fn log_times(&self, step: StepId) -> OpsResult<Vec<(i64, baton_store::Millis)>> {
        Ok(self.store.log_times(step)?)
    }

    /// Every pipeline with its triggers, last run and last success.
    pub fn pipelines(&self) -> OpsResult<Vec<PipelineSummary>> {
        let mut rows = Vec::new();
        for pipeline in self.project.pipelines.values() {
            let runs = self.store.runs(&RunFilter {
                name: Some(pipeline.name.clone()),
                kind: Some(RunKind::Pipeline),
                limit: Some(50),
                ..Default::default()
            })?;
            let last = runs.first();
            // A rollback run's success undid the pipeline's work: it is not a success of it.
            let last_success = runs.iter().find(|r| {
                r.status == Status::Success && r.rollback_of.is_none() && r.trigger != "rollback"
            });
            let mut triggers: Vec<String> = pipeline
                .triggers
                .iter()
                .map(|t| trigger_text(&t.value))
                .collect();
            if !triggers.iter().any(|t| t == "manual") {
                triggers.insert(0, "manual".into());
            }
            rows.push(PipelineSummary {
                name: pipeline.name.clone(),
                triggers,
                env: pipeline.env.as_ref().map(|e| e.value.clone()),
                stages: pipeline.stages.keys().cloned().collect(),
                last_run: last.map(|r| LastRun {
                    id: r.id,
                    status: r.status,
                    queued_at: r.queued_at,
                }),
                last_success: last_success.map(|r| LastSuccess {
                    id: r.id,
                    finished_at: r.finished_at,
                }),
                status: last.map(|r| r.status),
            });
        }
        Ok(rows)
    }
}

fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Manual => "manual".into(),
        Trigger::Webhook { .. } => "webhook".into(),
        Trigger::Schedule { cron, timezone, .. } => match timezone {
            Some(tz) => format!("schedule({cron} {tz})"),
            None => format!("schedule({cron})"),
        },
        Trigger::Commit { .. } => "commit".into(),
    }
}
