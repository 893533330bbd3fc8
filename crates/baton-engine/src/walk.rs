//! One walk of a pipeline's stage DAG: start what is ready, skip what cannot run, and roll back
//! what had succeeded when the run fails.

use std::collections::HashMap;
use std::sync::Arc;

use baton_model::{LOCAL_NODE, Pipeline, Stage, template};
use baton_store::{EventKind, RunId, Status};
use indexmap::IndexMap;
use tokio::task::JoinSet;

use crate::pipeline::Engine;
use crate::stage::{StageOutcome, run_rollback, run_stage};
use crate::step::StepEnv;

#[derive(Debug, Clone, Copy, PartialEq)]
enum StageState {
    Pending,
    Running,
    Done(Status),
}

/// One walk of a pipeline's stage DAG.
pub(crate) struct Walk<'e> {
    engine: &'e Engine,
    pipeline: &'e Pipeline,
    env: Arc<StepEnv>,
    shelf: Option<String>,
    reuse: HashMap<String, RunId>,
    states: IndexMap<String, StageState>,
    /// Stages that failed but have `continue_on_error`: their dependents still run.
    tolerated: Vec<String>,
    /// Successful stages (and partly successful targeted ones) in completion order.
    completed: Vec<(String, Vec<String>)>,
    first_failure: Option<(String, Option<String>)>,
    /// Which stage each running task is, to name a stage whose task panicked.
    tasks: HashMap<tokio::task::Id, String>,
    limit: Option<Arc<Limit>>,
}

/// `--limit SELECTOR`: the nodes every targeted stage is narrowed to.
#[derive(Debug, Clone)]
pub(crate) struct Limit {
    /// As written, for messages.
    pub(crate) text: String,
    pub(crate) nodes: Vec<String>,
}

impl<'e> Walk<'e> {
    pub(crate) fn new(
        engine: &'e Engine,
        pipeline: &'e Pipeline,
        env: Arc<StepEnv>,
        shelf: Option<String>,
        reuse: HashMap<String, RunId>,
        limit: Option<Arc<Limit>>,
    ) -> Self {
        let states = pipeline
            .stages
            .keys()
            .map(|k| (k.clone(), StageState::Pending))
            .collect();
        Walk {
            engine,
            pipeline,
            env,
            shelf,
            reuse,
            states,
            tolerated: Vec::new(),
            completed: Vec::new(),
            first_failure: None,
            tasks: HashMap::new(),
            limit,
        }
    }

    pub(crate) async fn run(mut self) -> (Status, Option<String>) {
        self.reuse_stages();
        let mut running: JoinSet<(String, StageOutcome)> = JoinSet::new();
        loop {
            self.start_ready(&mut running);
            let Some(joined) = running.join_next_with_id().await else {
                break;
            };
            let (name, outcome) = match joined {
                Ok((_, done)) => done,
                // A panicking stage task fails its stage (and so the run) with the reason.
                Err(e) => {
                    let name = self.tasks.get(&e.id()).cloned().unwrap_or_default();
                    let reason = if e.is_panic() {
                        crate::unwind::panic_message(e.into_panic().as_ref())
                    } else {
                        "the stage's task was stopped".to_string()
                    };
                    (name, failed_outcome(reason))
                }
            };
            self.finish(&name, outcome);
        }
        self.conclude().await
    }

    /// Stages that succeeded in the run being retried count as done.
    fn reuse_stages(&mut self) {
        for (name, from) in std::mem::take(&mut self.reuse) {
            if !self.states.contains_key(&name) {
                continue;
            }
            if let Err(e) =
                self.env
                    .emitter
                    .store()
                    .record_reused_stage(self.env.rc.run, &name, from)
            {
                self.env.emitter.note_store_error(e);
            }
            self.env
                .emitter
                .message(format!("stage `{name}`: reusing the success of run {from}"));
            self.states.insert(name, StageState::Done(Status::Success));
        }
    }

    fn satisfied(&self, need: &str) -> Option<bool> {
        match self.states.get(need) {
            Some(StageState::Done(Status::Success)) => Some(true),
            Some(StageState::Done(_)) if self.tolerated.iter().any(|t| t == need) => Some(true),
            Some(StageState::Done(_)) => Some(false),
            _ => None,
        }
    }

    fn start_ready(&mut self, running: &mut JoinSet<(String, StageOutcome)>) {
        // Skipping a stage can make its dependents decidable: repeat until nothing changes.
        loop {
            let mut changed = false;
            let pending: Vec<String> = self
                .states
                .iter()
                .filter(|(_, s)| **s == StageState::Pending)
                .map(|(k, _)| k.clone())
                .collect();
            for name in pending {
                if self.env.cancel.is_cancelled() {
                    self.skip(&name, Status::Cancelled, "the run was cancelled".into());
                    changed = true;
                    continue;
                }
                let stage = &self.pipeline.stages[&name];
                // `if: {{ failure() }}` / `{{ always() }}`: the stage decides for itself once
                // everything it needs has ended, whatever the outcome (GitHub Actions' rule).
                let decides = stage
                    .condition
                    .as_ref()
                    .is_some_and(|c| !template::status_functions(&c.value).is_empty());
                let needs: Vec<Option<bool>> =
                    stage.needs.iter().map(|n| self.satisfied(n)).collect();
                if !decides && let Some(pos) = needs.iter().position(|n| *n == Some(false)) {
                    let need = &stage.needs[pos].value;
                    let reason = format!("needs `{need}`, which did not succeed");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                if needs.iter().any(Option::is_none) {
                    continue;
                }
                if !decides
                    && self.pipeline.fail_fast
                    && let Some((failed, _)) = &self.first_failure
                {
                    let reason = format!("not started: stage `{failed}` failed (fail_fast)");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                // A run the store cannot record (disk full) must not go on doing work.
                if let Some(error) = self.env.emitter.store_error() {
                    let reason = format!("not started: the store cannot record the run ({error})");
                    self.skip(&name, Status::Skipped, reason);
                    changed = true;
                    continue;
                }
                self.launch(&name, running);
                changed = true;
            }
            if !changed {
                break;
            }
        }
    }

    /// What the stages `name` needs, transitively, ended as (for `failure()` and friends). A
    /// failure tolerated by `continue_on_error` is not one, as in GitHub Actions.
    fn needs_status(&self, name: &str) -> template::NeedsStatus {
        let mut seen: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = self.pipeline.stages[name]
            .needs
            .iter()
            .map(|n| n.value.as_str())
            .collect();
        let mut failure = false;
        while let Some(need) = todo.pop() {
            if seen.contains(&need) {
                continue;
            }
            seen.push(need);
            if let Some(StageState::Done(status)) = self.states.get(need)
                && status.is_failure()
                && *status != Status::Cancelled
                && !self.tolerated.iter().any(|t| t == need)
            {
                failure = true;
            }
            if let Some(stage) = self.pipeline.stages.get(need) {
                todo.extend(stage.needs.iter().map(|n| n.value.as_str()));
            }
        }
        template::NeedsStatus {
            failure,
            cancelled: self.env.cancel.is_cancelled(),
        }
    }

    fn skip(&mut self, name: &str, status: Status, reason: String) {
        self.states
            .insert(name.to_string(), StageState::Done(status));
        self.env.emitter.emit(EventKind::StageFinished {
            stage: name.to_string(),
            status,
            reason: Some(reason),
        });
    }

    fn launch(&mut self, name: &str, running: &mut JoinSet<(String, StageOutcome)>) {
        let stage = &self.pipeline.stages[name];
        if let Some(condition) = &stage.condition {
            let status = self.needs_status(name);
            let context = self.env.rc.template_context(LOCAL_NODE);
            match template::render_condition(condition, &context, status) {
                Ok(value) if !template::is_truthy(&value) => {
                    self.skip(
                        name,
                        Status::Skipped,
                        format!("`if: {}` is false", condition.value),
                    );
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    self.states.insert(name.to_string(), StageState::Running);
                    self.env.emitter.emit(EventKind::StageStarted {
                        stage: name.to_string(),
                        targets: None,
                    });
                    self.finish(
                        name,
                        failed_outcome(format!("`if` template error: {}", e.message)),
                    );
                    return;
                }
            }
        }
        let targets = match &stage.targets {
            None => Ok(vec![LOCAL_NODE.to_string()]),
            Some(selector) => self
                .engine
                .project
                .select(selector)
                .map_err(|e| e.to_string()),
        };
        // `--limit` narrows targeted stages; a stage left with no target is skipped, as an
        // Ansible play whose hosts the limit excludes.
        let targets = match (targets, &self.limit, &stage.targets) {
            (Ok(all), Some(limit), Some(_)) => {
                let kept: Vec<String> = all
                    .into_iter()
                    .filter(|t| limit.nodes.contains(t))
                    .collect();
                if kept.is_empty() {
                    let reason = format!("no target within `--limit {}`", limit.text);
                    self.skip(name, Status::Skipped, reason);
                    return;
                }
                Ok(kept)
            }
            (targets, _, _) => targets,
        };
        self.states.insert(name.to_string(), StageState::Running);
        let count = match (&stage.targets, &targets) {
            (Some(_), Ok(t)) => Some(t.len() as u32),
            _ => None,
        };
        self.env.emitter.emit(EventKind::StageStarted {
            stage: name.to_string(),
            targets: count,
        });
        let targets = match targets {
            Ok(t) => t,
            Err(reason) => {
                self.finish(name, failed_outcome(reason));
                return;
            }
        };
        let env = self.env.clone();
        let stage = Arc::new(stage.clone());
        let forks = self.engine.project.ssh.forks as usize;
        let shelf = self.shelf.clone();
        let name = name.to_string();
        let extra_env = Arc::new(stage_env(&stage));
        let task_name = name.clone();
        let task = running.spawn(async move {
            let mut outcome =
                run_stage(env.clone(), stage.clone(), targets, extra_env, forks).await;
            if outcome.status == Status::Success && !stage.artifacts.is_empty() {
                let stored = crate::artifacts::collect(&env.rc.workdir, &stage.artifacts).and_then(
                    |files| crate::artifacts::store(&env, &name, &files, shelf.as_deref()),
                );
                if let Err(reason) = stored {
                    outcome = StageOutcome {
                        status: Status::Failed,
                        reason: Some(reason),
                        succeeded: outcome.succeeded,
                    };
                }
            }
            (name, outcome)
        });
        self.tasks.insert(task.id(), task_name);
    }

    fn finish(&mut self, name: &str, outcome: StageOutcome) {
        let stage = &self.pipeline.stages[name];
        let mut reason = outcome.reason.clone();
        if outcome.status == Status::Success || !outcome.succeeded.is_empty() {
            self.completed
                .push((name.to_string(), outcome.succeeded.clone()));
        }
        if outcome.status.is_failure() && outcome.status != Status::Cancelled {
            if stage.continue_on_error {
                self.tolerated.push(name.to_string());
                reason = Some(format!(
                    "{} (continue_on_error)",
                    reason.unwrap_or_else(|| outcome.status.to_string())
                ));
            } else if self.first_failure.is_none() {
                self.first_failure = Some((name.to_string(), outcome.reason.clone()));
            }
        }
        self.states
            .insert(name.to_string(), StageState::Done(outcome.status));
        self.env.emitter.emit(EventKind::StageFinished {
            stage: name.to_string(),
            status: outcome.status,
            reason,
        });
    }

    async fn conclude(self) -> (Status, Option<String>) {
        if self.env.cancel.is_cancelled() {
            return (Status::Cancelled, Some("cancelled".into()));
        }
        let Some((failed, why)) = self.first_failure.clone() else {
            return (Status::Success, None);
        };
        let mut reason = format!(
            "stage `{failed}` failed{}",
            why.map(|w| format!(": {w}")).unwrap_or_default()
        );
        let rollback_failed = self.rollback_completed().await;
        if !rollback_failed.is_empty() {
            reason.push_str(&format!(
                "; rollback failed for: {}",
                rollback_failed.join(", ")
            ));
        }
        (Status::Failed, Some(reason))
    }

    /// Roll back what had succeeded, newest first; returns the stages whose rollback failed.
    async fn rollback_completed(&self) -> Vec<String> {
        let to_undo: Vec<&(String, Vec<String>)> = self
            .completed
            .iter()
            .rev()
            .filter(|(name, targets)| {
                !self.pipeline.stages[name].rollback.is_empty() && !targets.is_empty()
            })
            .collect();
        if to_undo.is_empty() {
            return Vec::new();
        }
        let names: Vec<&str> = to_undo.iter().map(|(n, _)| n.as_str()).collect();
        self.env
            .emitter
            .message(format!("run failed: rolling back {}", names.join(", ")));
        let mut failed = Vec::new();
        for (name, targets) in to_undo {
            let stage = Arc::new(self.pipeline.stages[name].clone());
            let vars = Arc::new(stage_env(&stage));
            let ok = run_rollback(
                self.env.clone(),
                stage,
                targets.clone(),
                vars,
                self.engine.project.ssh.forks as usize,
            )
            .await;
            if !ok {
                failed.push(name.clone());
            }
        }
        failed
    }
}

fn failed_outcome(reason: String) -> StageOutcome {
    StageOutcome {
        status: Status::Failed,
        reason: Some(reason),
        succeeded: Vec::new(),
    }
}

/// The stage's own environment variables (name, template).
pub(crate) fn stage_env(stage: &Stage) -> Vec<(String, String)> {
    // Values stay templates here: each target renders them with its own `node`.
    stage
        .env
        .iter()
        .map(|(name, value)| (name.clone(), value.value.clone()))
        .collect()
}
