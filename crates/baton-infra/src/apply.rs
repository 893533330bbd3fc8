//! The apply walk: the plan's changes as a graph (creates and updates after what they depend
//! on, destroys before what they depended on), independent ones in parallel, state saved after
//! each resource, so a failure or a kill half-way keeps everything that finished.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use baton_store::{EventKind, Owner, Phase, ResourceState, Status, StepRef};
use serde::Serialize;
use serde_json::Value;

use crate::Infra;
use crate::plan::{Action, Change, Plan, conceal, node_of, type_of};
use crate::provider::{Attrs, ChangeRequest, CommandObserver, ResourceType, Target};
use crate::render;

/// Who hears the walk: each resource is a step (`StepStarted`, its commands' `Output`,
/// `StepFinished`), emitted into a run of its own (`baton apply`) or rendered into the log of
/// the pipeline step that asked for it. One stream, so one renderer.
pub trait ApplyObserver: Send + Sync {
    fn emit(&self, event: EventKind);
    /// A command of `step` started in local process group `pgid`: recorded so that, if this
    /// process dies, the next command kills what it left running.
    fn process_group(&self, _step: &StepRef, _pgid: i32) {}
}

/// How to walk.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// The stage the resource steps belong to (`apply`, `destroy`).
    pub stage: String,
    pub parallelism: usize,
    /// Who asked: recorded on every state history entry.
    pub actor: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    pub added: usize,
    pub changed: usize,
    pub destroyed: usize,
    /// Resources that failed, with the error.
    pub failed: Vec<(String, String)>,
    /// Resources not attempted because something they need failed (or the walk was cancelled).
    pub skipped: Vec<String>,
    /// The walk was cancelled: nothing new started after that, the resource in flight (if
    /// any) was stopped and is among `failed`.
    pub cancelled: bool,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && !self.cancelled
    }
}

/// The step of one resource: its id as the target, the action as the label.
pub fn resource_step(stage: &str, index: usize, id: &str, action: Action) -> StepRef {
    StepRef {
        stage: stage.to_string(),
        target: id.to_string(),
        phase: Phase::Main,
        index: index as u32,
        attempt: 1,
        label: action.verb().to_string(),
    }
}

/// The observer of the commands of one resource.
struct StepCommands {
    step: StepRef,
    observer: Arc<dyn ApplyObserver>,
}

impl CommandObserver for StepCommands {
    fn started(&self, pgid: Option<i32>) {
        if let Some(pgid) = pgid {
            self.observer.process_group(&self.step, pgid);
        }
    }
    fn output(&self, chunk: &[u8]) {
        self.observer.emit(EventKind::Output {
            step: self.step.clone(),
            data: chunk.to_vec(),
        });
    }
}

fn finished(step: StepRef, status: Status, reason: Option<String>) -> EventKind {
    EventKind::StepFinished {
        step,
        status,
        exit_code: None,
        signal: None,
        reason,
        cause: None,
    }
}

/// Apply `plan`. The caller holds the state lock.
///
/// Unchanged resources stay in the graph as vertices that settle at once: an edge through
/// them still orders their neighbours (`f` → unchanged `d` → replaced `a`: `f` waits for
/// `a`), as Terraform keeps no-op nodes. They emit no step.
pub async fn apply(
    infra: &Infra,
    plan: &Plan,
    options: &ApplyOptions,
    observer: Arc<dyn ApplyObserver>,
) -> ApplyReport {
    let work: Vec<&Change> = plan.changes.iter().collect();
    let ids: HashSet<&str> = work.iter().map(|c| c.id.as_str()).collect();

    // Edges: `waits[x]` = vertices x must wait for.
    let mut waits: HashMap<String, HashSet<String>> = HashMap::new();
    let destroyed: HashSet<&str> = work
        .iter()
        .filter(|c| c.action == Action::Destroy)
        .map(|c| c.id.as_str())
        .collect();
    for c in &work {
        let entry = waits.entry(c.id.clone()).or_default();
        if c.action == Action::Destroy {
            // A destroy waits for the destroys of what depended on it.
            for other in &work {
                if other.action == Action::Destroy
                    && other
                        .stored
                        .as_ref()
                        .is_some_and(|s| s.depends_on.contains(&c.id))
                {
                    entry.insert(other.id.clone());
                }
            }
        } else {
            for dep in &c.depends_on {
                if ids.contains(dep.as_str()) && !destroyed.contains(dep.as_str()) {
                    entry.insert(dep.clone());
                }
            }
        }
    }

    // What templates see: stored attributes, updated as resources are applied. Resources
    // outside the plan (left out by `--limit`) are seen as the state has them.
    let mut seed: HashMap<String, Attrs> = infra
        .store
        .infra_state()
        .map(|state| {
            state
                .resources
                .into_iter()
                .map(|r| (r.id, r.attrs))
                .collect()
        })
        .unwrap_or_default();
    seed.extend(
        plan.changes
            .iter()
            .filter_map(|c| c.stored.as_ref().map(|s| (c.id.clone(), s.attrs.clone()))),
    );
    let known: Arc<Mutex<HashMap<String, Attrs>>> = Arc::new(Mutex::new(seed));
    let changes: HashMap<String, (usize, Change)> = work
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), (i, (*c).clone())))
        .collect();
    let who = Arc::new(history_who(&options.actor));
    let mut report = ApplyReport::default();
    // Kahn's algorithm: a count of unfinished prerequisites per vertex, a queue of ready ones
    // (plan order among them), and reverse edges to release or skip dependents in O(edges).
    let mut remaining: HashMap<String, usize> =
        waits.iter().map(|(k, v)| (k.clone(), v.len())).collect();
    let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
    for (id, prerequisites) in &waits {
        for p in prerequisites {
            dependents.entry(p.clone()).or_default().push(id.clone());
        }
    }
    // Ready vertices with work, and ready unchanged ones (settled at once): two queues, so
    // a finished resource never rescans the whole ready list (that was quadratic).
    let mut ready: VecDeque<String> = VecDeque::new();
    let mut noops: VecDeque<String> = VecDeque::new();
    let route = |id: String, ready: &mut VecDeque<String>, noops: &mut VecDeque<String>| {
        if changes[&id].1.action == Action::NoOp {
            noops.push_back(id);
        } else {
            ready.push_back(id);
        }
    };
    for c in work.iter().filter(|c| remaining[&c.id] == 0) {
        route(c.id.clone(), &mut ready, &mut noops);
    }
    let mut settled: HashSet<String> = HashSet::new();
    // `parallelism` (Terraform's knob) within `ssh.forks`, the bound of every fan-out.
    let bound = options
        .parallelism
        .clamp(1, infra.project.ssh.forks.max(1) as usize);
    let mut running = tokio::task::JoinSet::new();
    let mut spawned: HashMap<tokio::task::Id, String> = HashMap::new();
    let skip = |id: &str, reason: String, report: &mut ApplyReport| {
        let (index, change) = &changes[id];
        if change.action == Action::NoOp {
            return;
        }
        let step = resource_step(&options.stage, *index, id, change.action);
        observer.emit(EventKind::StepStarted { step: step.clone() });
        observer.emit(finished(step, Status::Skipped, Some(reason)));
        report.skipped.push(id.to_string());
    };

    loop {
        let mut progressed = true;
        while progressed {
            progressed = false;
            if infra.ctx.cancel.is_cancelled() {
                break;
            }
            // Unchanged vertices settle at once, releasing what waits on them.
            while let Some(id) = noops.pop_front() {
                settled.insert(id.clone());
                progressed = true;
                for d in dependents.get(&id).into_iter().flatten() {
                    let count = remaining.get_mut(d).expect("every vertex has a count");
                    *count -= 1;
                    if *count == 0 && !settled.contains(d) {
                        route(d.clone(), &mut ready, &mut noops);
                    }
                }
            }
            while running.len() < bound {
                let Some(id) = ready.pop_front() else { break };
                progressed = true;
                let (index, change) = changes[&id].clone();
                let step = resource_step(&options.stage, index, &id, change.action);
                let mut infra = infra.clone();
                infra.ctx.observer = Some(Arc::new(StepCommands {
                    step: step.clone(),
                    observer: observer.clone(),
                }));
                let known = known.clone();
                let who = who.clone();
                let observer = observer.clone();
                let task_id = id.clone();
                let task = running.spawn(async move {
                    observer.emit(EventKind::StepStarted { step: step.clone() });
                    let result = apply_one(&infra, &change, &known, &who).await;
                    let status = match &result {
                        Ok(()) => Status::Success,
                        Err(_) if infra.ctx.cancel.is_cancelled() => Status::Cancelled,
                        Err(_) => Status::Failed,
                    };
                    observer.emit(finished(step, status, result.clone().err()));
                    (id, change.action, result)
                });
                spawned.insert(task.id(), task_id);
            }
        }
        let Some(joined) = running.join_next_with_id().await else {
            break;
        };
        let (id, action, result) = match joined {
            Ok((_, r)) => r,
            Err(e) => {
                // A panic in one resource must not take the others down; it counts as that
                // resource's failure (what depends on it is skipped as after any failure).
                let id = spawned.remove(&e.id()).unwrap_or_default();
                let (index, change) = changes[&id].clone();
                let reason = if e.is_panic() {
                    baton_exec::panic_message(e.into_panic())
                } else {
                    "the task was stopped".to_string()
                };
                let reason = format!("internal error (a baton task panicked): {reason}");
                let step = resource_step(&options.stage, index, &id, change.action);
                observer.emit(finished(step, Status::Failed, Some(reason.clone())));
                (id, change.action, Err(reason))
            }
        };
        settled.insert(id.clone());
        match result {
            Ok(()) => {
                match action {
                    Action::Create => report.added += 1,
                    Action::Update => report.changed += 1,
                    Action::Replace => {
                        report.added += 1;
                        report.destroyed += 1
                    }
                    Action::Destroy => report.destroyed += 1,
                    Action::NoOp => {}
                }
                for d in dependents.get(&id).into_iter().flatten() {
                    let count = remaining.get_mut(d).expect("every vertex has a count");
                    *count -= 1;
                    if *count == 0 && !settled.contains(d) {
                        route(d.clone(), &mut ready, &mut noops);
                    }
                }
            }
            Err(error) => {
                report.failed.push((id.clone(), error));
                // Everything that needs it, transitively, is not attempted.
                let mut stack: Vec<String> = dependents.get(&id).cloned().unwrap_or_default();
                while let Some(d) = stack.pop() {
                    if settled.insert(d.clone()) {
                        skip(&d, format!("`{id}` was not applied"), &mut report);
                        stack.extend(dependents.get(&d).cloned().unwrap_or_default());
                    }
                }
            }
        }
    }
    // Cancelled: what never started is reported as such.
    report.cancelled = infra.ctx.cancel.is_cancelled();
    for c in &work {
        if !settled.contains(&c.id) {
            skip(&c.id, "cancelled".into(), &mut report);
        }
    }
    report
}

/// The `who` of a state history entry: the process (`user@host`), and the actor when it is
/// not that user (an API token's name when a server applies).
fn history_who(actor: &str) -> String {
    let owner = Owner::current();
    if actor.is_empty() || actor == owner.user {
        owner.who()
    } else {
        format!("{actor} via {}", owner.who())
    }
}

async fn apply_one(
    infra: &Infra,
    change: &Change,
    known: &Mutex<HashMap<String, Attrs>>,
    who: &str,
) -> Result<(), String> {
    let store = &infra.store;
    let db = |e: baton_store::StoreError| format!("saving the state: {e}");
    if matches!(change.action, Action::Destroy | Action::Replace) {
        let stored = change
            .stored
            .as_ref()
            .expect("destroy and replace have a stored record");
        let old_type = infra.registry.get(&stored.kind).cloned().ok_or_else(|| {
            format!(
                "type `{}` is not known to this build: cannot destroy it",
                stored.kind
            )
        })?;
        // A resource gone from the file is deleted as its node's `become` says.
        let over = infra
            .project
            .resources
            .get(&change.id)
            .map(|r| r.r#become.clone())
            .unwrap_or_default();
        let target = target(infra, &stored.node, &over)?;
        let response = old_type
            .delete(
                &infra.ctx,
                ChangeRequest {
                    id: &change.id,
                    target: &target,
                    attrs: &stored.attrs,
                    prior: None,
                },
            )
            .await;
        if let Some(d) = response.diagnostics.first() {
            return Err(d.to_string());
        }
        let action = if change.action == Action::Replace {
            "replace"
        } else {
            "delete"
        };
        store.remove_resource(&change.id, action, who).map_err(db)?;
        known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&change.id);
        if change.action == Action::Destroy {
            return Ok(());
        }
    }

    let resource = &infra.project.resources[&change.id];
    let rtype = type_of(infra, &resource.kind.value);
    let attrs = desired(infra, rtype.as_ref(), resource, known)?;
    let target = target(infra, &node_of(resource), &resource.r#become)?;
    let request = ChangeRequest {
        id: &change.id,
        target: &target,
        attrs: &attrs,
        prior: change.prior.as_ref(),
    };
    let response = match change.action {
        Action::Update => rtype.update(&infra.ctx, request).await,
        _ => rtype.create(&infra.ctx, request).await,
    };
    if let Some(d) = response.diagnostics.first() {
        return Err(d.to_string());
    }
    let mut saved = attrs.clone();
    saved.extend(response.computed);
    for spec in rtype.attributes().iter().filter(|a| a.sensitive) {
        if let Some(v) = saved.get_mut(spec.name) {
            *v = conceal(v);
        }
    }
    let record = ResourceState {
        id: change.id.clone(),
        kind: resource.kind.value.clone(),
        node: node_of(resource),
        attrs: saved.clone(),
        depends_on: change.depends_on.clone(),
        serial: 0,
        updated_at: 0,
    };
    let action = match change.action {
        Action::Update => "update",
        Action::Replace => "replace",
        _ => "create",
    };
    store.save_resource(&record, action, who).map_err(db)?;
    known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(change.id.clone(), saved);
    Ok(())
}

/// The desired attributes rendered with what is known now (dependencies already applied).
fn desired(
    infra: &Infra,
    rtype: &dyn ResourceType,
    resource: &baton_model::Resource,
    known: &Mutex<HashMap<String, Attrs>>,
) -> Result<Attrs, String> {
    let raw = crate::schema::desired_attrs(resource, rtype);
    if !render::has_templates(&raw) {
        return Ok(raw);
    }
    let mut resources = serde_json::Map::new();
    {
        let known = known.lock().unwrap_or_else(|p| p.into_inner());
        for dep in resource.dependencies() {
            if let Some(attrs) = known.get(&dep) {
                resources.insert(dep, Value::Object(attrs.clone()));
            }
        }
    }
    let ctx = render::context(&infra.project.vars, resources);
    render::render_attrs(rtype, &raw, &ctx)
        .map_err(|(attr, message)| format!("`{attr}`: {message}"))
}

/// The resource's node, run as its `become` over the node's (infrastructure has no
/// environment: a password secret is read from the `default` one).
fn target(infra: &Infra, node: &str, over: &baton_model::Become) -> Result<Target, String> {
    let executor = infra
        .targets
        .executor_as(node, over, None)
        .map_err(|e| e.to_string())?;
    Ok(Target {
        node: node.to_string(),
        executor,
    })
}
