//! Retry and rollback planning: what an earlier run left, and what a new run must redo or undo.

use std::sync::Arc;

use baton_model::Pipeline;
use baton_store::{EventKind, RunId, Status};
use indexmap::IndexMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::pipeline::{Engine, Mode, RunOutcome, RunRequest};
use crate::stage::run_rollback;
use crate::step::StepEnv;
use crate::walk::stage_env;

impl Engine {
    /// Re-run the failed stages of a finished run and their dependents, reusing what succeeded
    /// and is still in place: a stage whose rollback has run since (the run's own automatic
    /// rollback, or `baton rollback`) runs again.
    pub async fn retry(
        &self,
        run: RunId,
        actor: String,
        limit: Option<String>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let original = self.finished_run(run, "retrying it")?;
        if original.status == Status::Success {
            return Err(EngineError::RunState {
                run,
                status: original.status.to_string(),
                what:
                    "nothing failed, so there is nothing to retry; use `baton run` to run it again"
                        .into(),
            });
        }
        let mut reuse = std::collections::HashMap::new();
        let mut notes = Vec::new();
        for stage in self.store.stages(run)? {
            if stage.status != Status::Success {
                continue;
            }
            let from = stage.reused_from.unwrap_or(run);
            match self.undone_by(&stage.name, &[run, from])? {
                Some(by) => notes.push(format!(
                    "stage `{}`: running it again: its rollback ran in run {by}, so the success of run {from} no longer holds",
                    stage.name
                )),
                None => {
                    reuse.insert(stage.name, from);
                }
            }
        }
        let mut request = request_from_params(
            &original.name,
            &original.params,
            "retry",
            original.branch,
            original.commit,
        );
        request.actor = actor;
        if limit.is_some() {
            request.limit = limit;
        }
        self.start(request, Some(run), Mode::Normal { reuse, notes }, cancel)
            .await
    }

    /// The run in which stage `stage`'s rollback ran after it succeeded in one of `runs`: the
    /// run itself (automatic rollback on failure) or one of its rollback runs.
    fn undone_by(&self, stage: &str, runs: &[RunId]) -> Result<Option<RunId>, EngineError> {
        for &run in runs {
            let mut candidates = vec![run];
            candidates.extend(self.store.rollbacks_of(run)?.into_iter().map(|r| r.id));
            for candidate in candidates {
                let rolled_back = self
                    .store
                    .steps(candidate)?
                    .iter()
                    .any(|s| s.stage == stage && s.phase == baton_store::Phase::Rollback);
                if rolled_back {
                    return Ok(Some(candidate));
                }
            }
        }
        Ok(None)
    }

    /// Run the `rollback:` commands of a finished run's successful stages, in reverse completion
    /// order, on the targets where each had succeeded. Recorded as a new run linked to `run`.
    ///
    /// Refused for a rollback run, for a run already rolled back (unless `force`: the rollback
    /// commands run again) and for a failed run whose automatic rollback already ran (unless
    /// `force`): undoing twice would undo what came before it.
    pub async fn rollback(
        &self,
        run: RunId,
        actor: String,
        force: bool,
        limit: Option<String>,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let original = self.finished_run(run, "rolling it back")?;
        self.check_rollback(&original, force)?;
        let mut stages = self.store.stages(run)?;
        stages.retain(|s| s.completed_seq.is_some() && s.reused_from.is_none());
        stages.sort_by_key(|s| std::cmp::Reverse(s.completed_seq));
        let steps = self.store.steps(run)?;
        let plan = stages
            .into_iter()
            .map(|s| {
                let targets = succeeded_targets(&steps, &s.name);
                (s.name, targets)
            })
            .collect();
        let mut request = request_from_params(
            &original.name,
            &original.params,
            "rollback",
            original.branch,
            original.commit,
        );
        request.trigger = "rollback".into();
        request.actor = actor;
        if limit.is_some() {
            request.limit = limit;
        }
        self.start(
            request,
            None,
            Mode::Rollback {
                of: run,
                stages: plan,
            },
            cancel,
        )
        .await
    }

    /// Whether run `original` may be rolled back now.
    fn check_rollback(
        &self,
        original: &baton_store::RunRecord,
        force: bool,
    ) -> Result<(), EngineError> {
        let run = original.id;
        if let Some(of) = original.rollback_of.or_else(|| {
            // Runs recorded before the link existed: a rollback run is known by its trigger.
            (original.trigger == "rollback").then_some(0)
        }) {
            let what = if of > 0 {
                format!(
                    "run {run} is itself the rollback of run {of}; a rollback is not rolled back"
                )
            } else {
                format!("run {run} is itself a rollback; a rollback is not rolled back")
            };
            let hint = if of > 0 {
                format!(
                    "to deploy run {of}'s state again, run the pipeline (`baton run {}`); to undo run {of} once more, `baton rollback {of} --force`",
                    original.name
                )
            } else {
                format!("run the pipeline again: `baton run {}`", original.name)
            };
            return Err(EngineError::Refused {
                message: what,
                hint: Some(hint),
            });
        }
        if force {
            return Ok(());
        }
        if let Some(done) = self
            .store
            .rollbacks_of(run)?
            .into_iter()
            .rev()
            .find(|r| r.status == Status::Success)
        {
            return Err(EngineError::Refused {
                message: format!("run {run} was already rolled back by run {}", done.id),
                hint: Some(format!(
                    "`baton show {}` shows what it undid; `baton rollback {run} --force` runs the rollback commands again",
                    done.id
                )),
            });
        }
        let steps = self.store.steps(run)?;
        let mut undone: Vec<&str> = steps
            .iter()
            .filter(|s| s.phase == baton_store::Phase::Rollback)
            .map(|s| s.stage.as_str())
            .collect();
        undone.dedup();
        if !undone.is_empty() {
            return Err(EngineError::Refused {
                message: format!(
                    "run {run} {} and its automatic rollback already ran (stage {})",
                    original.status,
                    undone
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: Some(format!(
                    "`baton show {run}` shows the rollback steps; `baton rollback {run} --force` runs them again"
                )),
            });
        }
        Ok(())
    }

    /// A run that exists and has finished: the precondition of retry and rollback.
    fn finished_run(
        &self,
        run: RunId,
        action: &str,
    ) -> Result<baton_store::RunRecord, EngineError> {
        let record = self.store.run(run)?.ok_or(EngineError::UnknownRun(run))?;
        if !record.status.is_finished() {
            return Err(EngineError::RunState {
                run,
                status: record.status.to_string(),
                what: format!("wait for it to finish (or `baton cancel` it) before {action}"),
            });
        }
        Ok(record)
    }

    pub(crate) async fn rollback_stages(
        &self,
        pipeline: &Pipeline,
        env: &Arc<StepEnv>,
        of: RunId,
        stages: Vec<(String, Vec<String>)>,
    ) -> (Status, Option<String>) {
        let mut failed = Vec::new();
        let mut done = 0;
        for (name, targets) in stages {
            let Some(stage) = pipeline.stages.get(&name) else {
                env.emitter.message(format!(
                    "stage `{name}` is no longer in the pipeline; not rolled back"
                ));
                continue;
            };
            if stage.rollback.is_empty() || targets.is_empty() {
                continue;
            }
            done += 1;
            let stage = Arc::new(stage.clone());
            env.emitter.emit(EventKind::StageStarted {
                stage: name.clone(),
                targets: None,
            });
            // A template error in `env:` already failed the stage when it ran.
            let vars = Arc::new(stage_env(&stage));
            let ok = run_rollback(
                env.clone(),
                stage,
                targets,
                vars,
                self.project.ssh.forks as usize,
            )
            .await;
            let status = if ok { Status::Success } else { Status::Failed };
            env.emitter.emit(EventKind::StageFinished {
                stage: name.clone(),
                status,
                reason: None,
            });
            if !ok {
                failed.push(name);
            }
        }
        if env.cancel.is_cancelled() {
            return (Status::Cancelled, Some("cancelled".into()));
        }
        if failed.is_empty() {
            let what = if done == 0 {
                "nothing to roll back"
            } else {
                "rolled back"
            };
            (Status::Success, Some(format!("{what} (run {of})")))
        } else {
            (
                Status::Failed,
                Some(format!("rollback failed for: {}", failed.join(", "))),
            )
        }
    }
}

/// Targets where stage `stage` fully succeeded, from a run's step records.
fn succeeded_targets(steps: &[baton_store::StepRecord], stage: &str) -> Vec<String> {
    let mut last_attempt: IndexMap<&str, u32> = IndexMap::new();
    for s in steps
        .iter()
        .filter(|s| s.stage == stage && s.phase == baton_store::Phase::Main)
    {
        let entry = last_attempt.entry(s.target.as_str()).or_insert(0);
        *entry = (*entry).max(s.attempt);
    }
    last_attempt
        .into_iter()
        .filter(|(target, attempt)| {
            steps
                .iter()
                .filter(|s| {
                    s.stage == stage
                        && s.target == *target
                        && s.attempt == *attempt
                        && s.phase == baton_store::Phase::Main
                })
                .all(|s| s.status == Status::Success)
        })
        .map(|(t, _)| t.to_string())
        .collect()
}

fn request_from_params(
    pipeline: &str,
    params: &Value,
    trigger: &str,
    branch: Option<String>,
    commit: Option<String>,
) -> RunRequest {
    RunRequest {
        pipeline: pipeline.to_string(),
        env: params["env"].as_str().map(str::to_string),
        vars: params["vars"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        trigger: trigger.to_string(),
        branch,
        commit,
        // The commit the run worked in, when it was a checkout: never the project root instead.
        checkout: params
            .get("checkout")
            .and_then(|c| serde_json::from_value(c.clone()).ok()),
        actor: String::new(),
        // A retry keeps the run's `--limit` (a rollback too) unless given another.
        limit: params["limit"].as_str().map(str::to_string),
    }
}
