//! A stage over its targets: rolling batches, a failure budget, retries, a deadline per
//! attempt, and rollback on the targets where it had succeeded.

use std::sync::Arc;

use baton_model::{Stage, StageAction, Step, Strategy};
use baton_store::{Phase, Status, StepRef};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::step::{StepEnv, StepResult, StepWork, run_step};

#[derive(Debug, Clone)]
pub struct StageOutcome {
    pub status: Status,
    pub reason: Option<String>,
    /// Targets where every step succeeded, in completion order.
    pub succeeded: Vec<String>,
}

/// Run `stage` on `targets` (already resolved), at most `forks` at once.
pub async fn run_stage(
    env: Arc<StepEnv>,
    stage: Arc<Stage>,
    targets: Vec<String>,
    extra_env: Arc<Vec<(String, String)>>,
    forks: usize,
) -> StageOutcome {
    let total = targets.len();
    // Rolling batches stop at the first failed batch unless `max_failures` allows more, as
    // Ansible's `serial` does: a broken release must not reach the rest of the fleet.
    let rolling = !stage.strategy.batch.is_empty();
    let explicit = stage.strategy.max_failures.map(|m| m.of(total));
    let budget = explicit.or(rolling.then_some(0));
    let parallel = stage
        .strategy
        .parallel
        .map(|p| p as usize)
        .unwrap_or(forks)
        .clamp(1, forks.max(1));
    let mut succeeded = Vec::new();
    let mut failures: Vec<(String, StepResult)> = Vec::new();
    let mut remaining = targets.as_slice();
    let mut batch_number = 0;
    while !remaining.is_empty() {
        let size = batch_size(&stage.strategy, batch_number, total).min(remaining.len());
        let (batch, rest) = remaining.split_at(size);
        remaining = rest;
        batch_number += 1;
        let limit = Arc::new(Semaphore::new(parallel));
        let mut running = JoinSet::new();
        let mut names = std::collections::HashMap::new();
        for target in batch {
            let (env, stage, extra_env, limit, target) = (
                env.clone(),
                stage.clone(),
                extra_env.clone(),
                limit.clone(),
                target.clone(),
            );
            let name = target.clone();
            let task = running.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("semaphore stays open");
                let result = run_on_target(&env, &stage, &target, &extra_env).await;
                (target, result)
            });
            names.insert(task.id(), name);
        }
        while let Some(joined) = running.join_next_with_id().await {
            let (target, result) = match joined {
                Ok((_, done)) => done,
                Err(e) => {
                    let target = names.get(&e.id()).cloned().unwrap_or_default();
                    let reason = if e.is_panic() {
                        crate::unwind::panic_message(e.into_panic().as_ref())
                    } else {
                        "the target's task was stopped".to_string()
                    };
                    (
                        target,
                        StepResult {
                            status: Status::Failed,
                            reason: Some(reason),
                        },
                    )
                }
            };
            if result.status == Status::Success {
                succeeded.push(target);
            } else {
                failures.push((target, result));
            }
        }
        if env.cancel.is_cancelled() {
            break;
        }
        let over_budget = match budget {
            Some(allowed) => failures.len() > allowed,
            None => false,
        };
        if over_budget && !remaining.is_empty() {
            let why = match explicit {
                Some(allowed) => format!(
                    "{} failure(s) exceed max_failures ({allowed})",
                    failures.len()
                ),
                None => format!(
                    "batch {batch_number} failed (a failed batch ends a rolling stage; `max_failures` raises the budget)"
                ),
            };
            env.emitter.message(format!(
                "stage `{}`: {why}; {} target(s) not started: {}",
                stage.name,
                remaining.len(),
                remaining.join(", ")
            ));
            break;
        }
    }
    outcome(succeeded, failures, budget, env.cancel.is_cancelled())
}

fn outcome(
    succeeded: Vec<String>,
    failures: Vec<(String, StepResult)>,
    budget: Option<usize>,
    cancelled: bool,
) -> StageOutcome {
    let tolerated = budget.is_some_and(|allowed| failures.len() <= allowed);
    if failures.is_empty() || (tolerated && !cancelled) {
        let reason = (!failures.is_empty()).then(|| {
            format!(
                "{} target(s) failed within max_failures: {}",
                failures.len(),
                names(&failures)
            )
        });
        return StageOutcome {
            status: Status::Success,
            reason,
            succeeded,
        };
    }
    let status = if cancelled || failures.iter().all(|(_, r)| r.status == Status::Cancelled) {
        Status::Cancelled
    } else if failures.iter().all(|(_, r)| r.status == Status::TimedOut) {
        Status::TimedOut
    } else {
        Status::Failed
    };
    // A single failing target with nothing else: its own reason says it all. Otherwise each
    // failed target once, with its own reason.
    let reason = if failures.len() == 1 && succeeded.is_empty() {
        failures[0].1.reason.clone()
    } else {
        let each: Vec<String> = failures
            .iter()
            .map(|(target, result)| match &result.reason {
                Some(reason) => format!("{target} ({reason})"),
                None => format!("{target} ({})", result.status),
            })
            .collect();
        Some(format!(
            "failed on {} of {} target(s): {}",
            failures.len(),
            failures.len() + succeeded.len(),
            each.join("; ")
        ))
    };
    StageOutcome {
        status,
        reason,
        succeeded,
    }
}

fn names(failures: &[(String, StepResult)]) -> String {
    failures
        .iter()
        .map(|(t, _)| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A duration as people write it in `timeout:` (`5s`, `1.5s`).
fn seconds(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Size of batch number `n` (0-based): a ramp's entries in turn, the last repeating.
fn batch_size(strategy: &Strategy, n: usize, total: usize) -> usize {
    match strategy.batch.as_slice() {
        [] => total.max(1),
        ramp => ramp[n.min(ramp.len() - 1)].of(total).max(1),
    }
}

/// Every attempt of the stage's steps on one target.
async fn run_on_target(
    env: &StepEnv,
    stage: &Stage,
    target: &str,
    extra_env: &[(String, String)],
) -> StepResult {
    let attempts = stage.retries + 1;
    let mut last = StepResult {
        status: Status::Skipped,
        reason: None,
    };
    for attempt in 1..=attempts {
        let deadline = Instant::now() + stage.timeout;
        last = run_steps_once(env, stage, target, attempt, extra_env, deadline).await;
        if last.status == Status::Success
            || last.status == Status::Cancelled
            || env.cancel.is_cancelled()
        {
            break;
        }
        if attempt < attempts {
            let what = match last.status {
                Status::TimedOut => format!("timed out after {}", seconds(stage.timeout)),
                _ => match &last.reason {
                    Some(reason) => format!("failed ({reason})"),
                    None => "failed".to_string(),
                },
            };
            env.emitter.message(format!(
                "stage `{}` on {target}: attempt {attempt} of {attempts} {what}; retrying",
                stage.name
            ));
        }
    }
    last
}

async fn run_steps_once(
    env: &StepEnv,
    stage: &Stage,
    target: &str,
    attempt: u32,
    extra_env: &[(String, String)],
    deadline: Instant,
) -> StepResult {
    let mut result = StepResult {
        status: Status::Success,
        reason: None,
    };
    for (index, (label, work)) in step_works(stage).into_iter().enumerate() {
        let step = StepRef {
            stage: stage.name.clone(),
            target: target.to_string(),
            phase: Phase::Main,
            index: index as u32,
            attempt,
            label,
        };
        result = match crate::unwind::catch_panic(run_step(
            env,
            step.clone(),
            work,
            extra_env,
            Some(deadline),
        ))
        .await
        {
            Ok(result) => result,
            Err(reason) => {
                // The step started and never finished: record its end, with the reason.
                env.emitter.emit(baton_store::EventKind::StepFinished {
                    step,
                    status: Status::Failed,
                    exit_code: None,
                    signal: None,
                    reason: Some(reason.clone()),
                });
                StepResult {
                    status: Status::Failed,
                    reason: Some(reason),
                }
            }
        };
        if result.status != Status::Success {
            break;
        }
    }
    result
}

/// Run a stage's `rollback:` commands on `targets`, in order on each. Returns whether all passed.
pub async fn run_rollback(
    env: Arc<StepEnv>,
    stage: Arc<Stage>,
    targets: Vec<String>,
    extra_env: Arc<Vec<(String, String)>>,
    forks: usize,
) -> bool {
    let limit = Arc::new(Semaphore::new(forks.max(1)));
    let mut running = JoinSet::new();
    for target in targets {
        let (env, stage, extra_env, limit) =
            (env.clone(), stage.clone(), extra_env.clone(), limit.clone());
        running.spawn(async move {
            let _permit = limit.acquire_owned().await.expect("semaphore stays open");
            let deadline = Instant::now() + stage.timeout;
            for (index, command) in stage.rollback.iter().enumerate() {
                let step = StepRef {
                    stage: stage.name.clone(),
                    target: target.clone(),
                    phase: Phase::Rollback,
                    index: index as u32,
                    attempt: 1,
                    label: label("rollback", command),
                };
                let result = run_step(
                    &env,
                    step,
                    StepWork::Command(command),
                    &extra_env,
                    Some(deadline),
                )
                .await;
                if result.status != Status::Success {
                    return false;
                }
            }
            true
        });
    }
    let mut all_ok = true;
    while let Some(joined) = running.join_next().await {
        all_ok &= joined.unwrap_or(false);
    }
    all_ok
}

/// The steps of a stage with their labels, in order.
fn step_works(stage: &Stage) -> Vec<(String, StepWork<'_>)> {
    match &stage.action {
        StageAction::Run(commands) => commands
            .iter()
            .map(|c| (label("run", c), StepWork::Command(c)))
            .collect(),
        StageAction::Http(request) => vec![(label("http", &request.url), StepWork::Http(request))],
        StageAction::Steps(steps) => steps
            .iter()
            .flat_map(|step| match &step.value {
                Step::Run(commands) => commands
                    .iter()
                    .map(|c| (label("run", c), StepWork::Command(c)))
                    .collect::<Vec<_>>(),
                Step::Http(request) => vec![(label("http", &request.url), StepWork::Http(request))],
                Step::Upload(upload) => {
                    vec![(label("upload", &upload.dest), StepWork::Upload(upload))]
                }
                Step::Infra(action) => {
                    let name = match action {
                        baton_model::InfraAction::Plan => "infra: plan",
                        baton_model::InfraAction::Apply => "infra: apply",
                    };
                    vec![(name.to_string(), StepWork::Infra(*action))]
                }
                Step::Config(name) => {
                    vec![(label("config", &name.value), StepWork::Config(&name.value))]
                }
                Step::Promote(spec) => {
                    let text = format!("{} → {}", spec.artifact.as_str(), spec.to.as_str());
                    vec![(label("promote", &text), StepWork::Promote(spec))]
                }
                Step::Notify(spec) => {
                    let names: Vec<&str> = spec.channels.iter().map(|c| c.as_str()).collect();
                    vec![(label("notify", &names.join(", ")), StepWork::Notify(spec))]
                }
            })
            .collect(),
    }
}

/// `kind: first line of text`, shortened for listings.
fn label(kind: &str, text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    let mut short: String = first.chars().take(72).collect();
    if short.len() < first.len() || text.trim().lines().count() > 1 {
        short.push('…');
    }
    format!("{kind}: {short}")
}
