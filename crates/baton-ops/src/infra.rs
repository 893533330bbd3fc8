//! Infrastructure as code, as operations every front end calls: plan; lock → plan → approve →
//! apply or destroy as a run (kind `infra`, one stage, a step per resource); outputs; the
//! graph; `state list / show / rm / unlock / history / pull` with sensitive values redacted and
//! audit entries naming the actor. The `infra:` pipeline step is the same walk inside its
//! parent run ([`InfraStep`]), its progress rendered by the same [`baton_infra::Progress`].

use std::sync::Arc;

use baton_engine::{EventSink, InfraFuture, InfraRunner, JobRun, LocalOnly, Targets};
/// The plan and progress types front ends render (re-exported so they need not depend on the
/// infrastructure crate).
pub use baton_infra::{
    Action, Change, Plan, PlanOptions, Progress, ProgressKind, ProgressLine, describe_lock,
};
use baton_infra::{
    ApplyObserver, ApplyOptions, ApplyReport, Infra, InfraError, LOCK_NAME, StateLock,
};
use baton_model::{InfraAction, Project};
use baton_store::{
    Event, EventKind, LockInfo, NewRun, Owner, RunId, RunKind, Status, StepRef, Store, now_millis,
};
use indexmap::IndexMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::api::infra::{HistoryEntry, PlanDoc, StateDoc, StateEntry, StateResource, WalkResult};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// What replaces a sensitive value in listings.
pub const REDACTED: &str = "(sensitive value)";

/// An apply or a destroy to prepare.
#[derive(Debug, Clone)]
pub struct WalkRequest {
    pub destroy: bool,
    /// `--target`: these resources and what they depend on (apply only).
    pub targets: Vec<String>,
    pub parallelism: usize,
    /// Who asks: on the run, the lock, and every state history entry.
    pub actor: String,
    /// `--limit SELECTOR`: only resources on the nodes it matches.
    pub limit: Option<String>,
}

impl WalkRequest {
    pub fn verb(&self) -> &'static str {
        if self.destroy { "destroy" } else { "apply" }
    }
}

/// A walk with the state lock held and its plan made, waiting for approval. Dropping it
/// releases the lock with nothing changed. The plan cannot go stale while it waits: nobody
/// else can apply.
pub struct PreparedWalk {
    infra: Infra,
    lock: StateLock,
    pub plan: Plan,
    request: WalkRequest,
}

/// The node of each resource the walk acts on, when not this machine: an infra run's steps
/// are named after resources, and its recap counts them per node (a destroyed resource is in
/// neither the project nor the state afterwards, so the run keeps this itself).
fn resource_nodes(plan: &baton_infra::Plan) -> serde_json::Map<String, serde_json::Value> {
    plan.changes
        .iter()
        .filter(|c| c.action != baton_infra::Action::NoOp && c.node != baton_model::LOCAL_NODE)
        .map(|c| (c.id.clone(), serde_json::Value::from(c.node.clone())))
        .collect()
}

/// The outcome of an applied walk.
pub struct WalkOutcome {
    pub run: RunId,
    pub status: Status,
    pub report: ApplyReport,
}

impl WalkOutcome {
    pub fn result(&self) -> WalkResult {
        WalkResult::new(self.run, self.status, &self.report)
    }
}

impl PreparedWalk {
    /// The dead holder whose lock was taken over (a `lock.takeover` audit entry names it).
    pub fn took_over(&self) -> Option<&LockInfo> {
        self.lock.took_over.as_ref()
    }

    /// Apply the plan as a run: events go to the store, then `sinks`; `cancel` (Ctrl-C) or
    /// `baton cancel RUN` from anywhere stops it: nothing new starts, the resource in flight is
    /// killed, the state keeps exactly what finished, the run ends `cancelled`.
    pub async fn apply(
        self,
        sinks: Vec<Arc<dyn EventSink>>,
        cancel: &CancellationToken,
    ) -> OpsResult<WalkOutcome> {
        let store = self.infra.store.clone();
        let stage = self.request.verb().to_string();
        let new_run = NewRun {
            kind: RunKind::Infra,
            name: stage.clone(),
            trigger: "manual".into(),
            env: None,
            branch: None,
            commit: None,
            params: serde_json::json!({
                "targets": self.request.targets,
                "nodes": resource_nodes(&self.plan),
            }),
            retry_of: None,
            owner: Owner::current(),
            actor: self.request.actor.clone(),
        };
        let job = JobRun::begin(store.clone(), Arc::new(sinks), &new_run, cancel)?;
        let mut infra = self.infra.clone();
        infra.ctx.cancel = job.cancel().clone();
        let emitter = job.emitter().clone();
        emitter.emit(EventKind::StageStarted {
            stage: stage.clone(),
            targets: None,
        });
        let observer = Arc::new(RunObserver {
            emitter: emitter.clone(),
            store: store.clone(),
            run: job.run(),
        });
        let options = ApplyOptions {
            stage: stage.clone(),
            parallelism: self.request.parallelism,
            actor: self.request.actor.clone(),
        };
        let report = baton_infra::apply(&infra, &self.plan, &options, observer).await;
        let (status, reason) = walk_status(&report);
        emitter.emit(EventKind::StageFinished {
            stage,
            status,
            reason: reason.clone(),
        });
        let run = job.run();
        let outcome = job.finish(status, reason);
        drop(self.lock);
        Ok(WalkOutcome {
            run,
            status: outcome.status,
            report,
        })
    }
}

/// The run's status from the walk's report: cancelled when cancelled (even with a failure:
/// the failure is the stopped resource), failed when anything failed or was not attempted.
fn walk_status(report: &ApplyReport) -> (Status, Option<String>) {
    if report.cancelled {
        (Status::Cancelled, None)
    } else if !report.failed.is_empty() {
        let names: Vec<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
        (
            Status::Failed,
            Some(format!("failed: {}", names.join(", "))),
        )
    } else if !report.skipped.is_empty() {
        (
            Status::Failed,
            Some(format!("not attempted: {}", report.skipped.join(", "))),
        )
    } else {
        (Status::Success, None)
    }
}

/// The walk's events into the run, and its commands' process groups onto their steps.
struct RunObserver {
    emitter: baton_engine::Emitter,
    store: Arc<dyn Store>,
    run: RunId,
}

impl ApplyObserver for RunObserver {
    fn emit(&self, event: EventKind) {
        self.emitter.emit(event);
    }
    fn process_group(&self, step: &StepRef, pgid: i32) {
        if let Err(e) = self.store.set_step_process_group(self.run, step, pgid) {
            self.emitter.note_store_error(e);
        }
    }
}

impl Ops {
    /// The infrastructure engine over `targets`.
    pub fn infra(&self, targets: Arc<dyn Targets>) -> Infra {
        Infra::new(
            self.project.clone(),
            self.store.clone(),
            targets,
            self.state_dir.clone(),
            CancellationToken::new(),
        )
    }

    /// Plan without locking (a plan changes nothing).
    pub async fn infra_plan(&self, infra: &Infra, options: &PlanOptions) -> OpsResult<Plan> {
        baton_infra::plan(infra, options).await.map_err(infra_error)
    }

    /// Take the state lock (from a dead holder too), then plan: what is approved is exactly
    /// what will be applied.
    pub async fn infra_prepare(
        &self,
        infra: Infra,
        request: WalkRequest,
    ) -> OpsResult<PreparedWalk> {
        // A bad limit is refused before the lock is taken.
        let nodes = self.limit_nodes(request.limit.as_deref())?;
        let lock = StateLock::acquire(self.store.clone(), request.verb(), &request.actor)
            .map_err(infra_error)?;
        let options = PlanOptions {
            targets: request.targets.clone(),
            destroy: request.destroy,
            nodes,
        };
        let plan = baton_infra::plan(&infra, &options)
            .await
            .map_err(infra_error)?;
        Ok(PreparedWalk {
            infra,
            lock,
            plan,
            request,
        })
    }

    /// Rendered outputs from the state (no node is contacted).
    pub fn infra_outputs(&self) -> OpsResult<IndexMap<String, String>> {
        self.infra(Arc::new(LocalOnly::default()))
            .outputs()
            .map_err(infra_error)
    }

    /// One output by name.
    pub fn infra_output(&self, name: &str) -> OpsResult<String> {
        let mut outputs = self.infra_outputs()?;
        let names: Vec<String> = outputs.keys().cloned().collect();
        outputs.shift_remove(name).ok_or_else(|| {
            let error = OpsError::usage(format!("no output named `{name}`"));
            match baton_model::diagnostic::did_you_mean(name, names.iter().map(String::as_str)) {
                Some(s) => error.with_hint(format!("did you mean `{s}`?")),
                None => error.with_hint("`baton output` lists them"),
            }
        })
    }

    pub fn state_list(&self) -> OpsResult<Vec<StateEntry>> {
        Ok(self
            .store
            .infra_state()?
            .resources
            .iter()
            .map(StateEntry::from)
            .collect())
    }

    /// A resource as stored, sensitive attributes redacted.
    pub fn state_show(&self, id: &str) -> OpsResult<StateResource> {
        let state = self.store.infra_state()?;
        let Some(r) = state.resources.into_iter().find(|r| r.id == id) else {
            return Err(not_in_state(id));
        };
        let mut attributes = r.attrs;
        for (k, v) in attributes.iter_mut() {
            if sensitive(&r.kind, k) {
                *v = Value::String(REDACTED.into());
            }
        }
        Ok(StateResource {
            id: r.id,
            kind: r.kind,
            node: r.node,
            attributes,
            depends_on: r.depends_on,
            serial: r.serial,
        })
    }

    /// The whole state; sensitive values redacted except their `sha256:` hashes.
    pub fn state_pull(&self) -> OpsResult<StateDoc> {
        let mut state = self.store.infra_state()?;
        for r in state.resources.iter_mut() {
            let kind = r.kind.clone();
            for (k, v) in r.attrs.iter_mut() {
                if sensitive(&kind, k) && !v.as_str().is_some_and(|s| s.starts_with("sha256:")) {
                    *v = Value::String(REDACTED.into());
                }
            }
        }
        Ok(state.into())
    }

    pub fn state_history(&self, limit: usize) -> OpsResult<Vec<HistoryEntry>> {
        Ok(self
            .store
            .infra_history(limit)?
            .into_iter()
            .map(HistoryEntry::from)
            .collect())
    }

    /// Forget `id` (the real object is left as it is), under the state lock; returns the new
    /// serial. Audited with the actor.
    pub fn state_rm(&self, id: &str, actor: &str) -> OpsResult<i64> {
        let _lock =
            StateLock::acquire(self.store.clone(), "state rm", actor).map_err(infra_error)?;
        let who = history_who(actor);
        let serial = self
            .store
            .remove_resource(id, "rm", &who)?
            .ok_or_else(|| not_in_state(id))?;
        self.store.audit(
            actor,
            "state rm",
            id,
            &serde_json::json!({ "serial": serial }),
        )?;
        Ok(serial)
    }

    /// Break the state lock: only a dead holder's unless `force`. Returns the lock broken
    /// (`None`: it was not locked). Audited with the actor and the holder.
    pub fn state_unlock(&self, force: bool, actor: &str) -> OpsResult<Option<LockInfo>> {
        let Some(lock) = self.store.lock(LOCK_NAME)? else {
            return Ok(None);
        };
        if !lock.is_stale() && !force {
            return Err(OpsError::conflict(format!(
                "the state lock is held by a running process: {}",
                baton_infra::describe_lock(&lock)
            ))
            .with_hint("breaking it while that apply runs could corrupt your infrastructure; add --force only if you are sure"));
        }
        let Some(lock) = self.store.break_lock(LOCK_NAME)? else {
            return Ok(None);
        };
        let detail = serde_json::json!({
            "holder": lock.owner.who(),
            "pid": lock.owner.pid,
            "forced": force,
        });
        self.store
            .audit(actor, "state unlock", LOCK_NAME, &detail)?;
        Ok(Some(lock))
    }
}

/// The resource graph as Graphviz DOT (needs no store).
pub fn graph(project: &Project) -> String {
    baton_infra::dot(project)
}

/// `plan --json`'s body.
pub fn plan_doc(plan: &Plan) -> PlanDoc {
    PlanDoc::from(plan)
}

fn not_in_state(id: &str) -> OpsError {
    OpsError::not_found(format!("`{id}` is not in the state"))
        .with_hint("`baton state list` shows what is")
}

fn history_who(actor: &str) -> String {
    let owner = Owner::current();
    if actor.is_empty() || actor == owner.user {
        owner.who()
    } else {
        format!("{actor} via {}", owner.who())
    }
}

fn sensitive(kind: &str, attr: &str) -> bool {
    baton_infra::Registry::builtin()
        .get(kind)
        .is_some_and(|t| t.attributes().iter().any(|a| a.name == attr && a.sensitive))
}

impl Ops {
    /// `--limit SELECTOR` as node names (none given: every node); a usage error when it is
    /// malformed or matches nothing.
    pub fn limit_nodes(&self, limit: Option<&str>) -> OpsResult<Option<Vec<String>>> {
        limit
            .map(|text| self.project.limit_nodes(text).map_err(OpsError::usage))
            .transpose()
    }
}

/// Errors of the infrastructure engine, classified once.
pub fn infra_error(e: InfraError) -> OpsError {
    match e {
        InfraError::Invalid(d) => OpsError::invalid(d),
        InfraError::UnknownTarget { .. } | InfraError::Output { .. } => {
            OpsError::usage(e.to_string())
        }
        InfraError::OutsideLimit { ref dependency, .. } => {
            let hint = format!("apply `{dependency}` first, or widen --limit to take in its node");
            OpsError::usage(e.to_string()).with_hint(hint)
        }
        InfraError::Locked(lock) => locked(&lock),
        InfraError::Store(s) => s.into(),
        other => OpsError::failed(other.to_string()),
    }
}

fn locked(lock: &LockInfo) -> OpsError {
    let holder = baton_infra::describe_lock(lock);
    // A dead holder's lock is taken over by the store; reaching here means it is alive.
    OpsError::conflict(format!(
        "another apply or destroy is running: the state lock is held by {holder}"
    ))
    .with_hint("wait for it to finish; `baton state unlock` only breaks locks of dead processes")
}

/// The `infra: plan | apply` pipeline step: the same lock, plan and walk as `baton apply`,
/// auto-approved (the pipeline is the approval), its progress rendered by the same
/// [`Progress`] into the step's log.
pub struct InfraStep {
    pub infra: Infra,
    pub parallelism: usize,
    pub actor: String,
}

impl InfraRunner for InfraStep {
    fn run<'a>(
        &'a self,
        action: InfraAction,
        output: &'a mut (dyn FnMut(&[u8]) + Send),
        cancel: &'a CancellationToken,
    ) -> InfraFuture<'a> {
        Box::pin(async move {
            let mut infra = self.infra.clone();
            infra.ctx.cancel = cancel.clone();
            let error = |e: InfraError| match e {
                InfraError::Invalid(d) => d.render(false),
                other => other.to_string(),
            };
            // Apply holds the lock from before the plan until the last resource is saved.
            let lock = match action {
                InfraAction::Apply => Some(
                    StateLock::acquire(infra.store.clone(), "apply", &self.actor).map_err(error)?,
                ),
                InfraAction::Plan => None,
            };
            if let Some(dead) = lock.as_ref().and_then(|l| l.took_over.as_ref()) {
                output(took_over_note(dead).as_bytes());
                output(b"\n");
            }
            let planned = baton_infra::plan(&infra, &PlanOptions::default())
                .await
                .map_err(error)?;
            output(render_plan(&planned).as_bytes());
            if action == InfraAction::Plan || !planned.has_changes() {
                return Ok(());
            }
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let observer = Arc::new(LogObserver {
                progress: Progress::default(),
                tx,
            });
            let options = ApplyOptions {
                stage: "apply".into(),
                parallelism: self.parallelism,
                actor: self.actor.clone(),
            };
            let walk = baton_infra::apply(&infra, &planned, &options, observer);
            tokio::pin!(walk);
            // Stream progress into the log while the walk runs.
            let report = loop {
                tokio::select! {
                    report = &mut walk => break report,
                    Some(line) = rx.recv() => output(line.as_bytes()),
                }
            };
            while let Ok(line) = rx.try_recv() {
                output(line.as_bytes());
            }
            output(
                format!(
                    "Apply: {} added, {} changed, {} destroyed.\n",
                    report.added, report.changed, report.destroyed
                )
                .as_bytes(),
            );
            drop(lock);
            match walk_status(&report) {
                (Status::Success, _) => Ok(()),
                (Status::Cancelled, _) => Err("infra apply cancelled".to_string()),
                (_, reason) => Err(format!(
                    "infra apply {}",
                    reason.unwrap_or_else(|| "failed".into())
                )),
            }
        })
    }
}

/// The walk's progress as lines of the pipeline step's log.
struct LogObserver {
    progress: Progress,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
}

impl ApplyObserver for LogObserver {
    fn emit(&self, kind: EventKind) {
        let event = Event {
            run: 0,
            at: now_millis(),
            kind,
        };
        if let Some(line) = self.progress.line(&event) {
            let _ = self.tx.send(format!("{}\n", line.plain()));
        }
    }
}

/// The note for a lock taken over from a dead holder.
pub fn took_over_note(dead: &LockInfo) -> String {
    format!(
        "took over the state lock of a process that died: {}",
        baton_infra::describe_lock(dead)
    )
}

/// A plain-text plan, as in a pipeline log.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = String::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        out.push_str(&format!("{} {} ({})\n", c.action.symbol(), c.id, c.kind));
    }
    let (a, c, d) = plan.counts();
    if plan.has_changes() {
        out.push_str(&format!(
            "Plan: {a} to add, {c} to change, {d} to destroy.\n"
        ));
    } else {
        out.push_str("No changes. The infrastructure matches the project.\n");
    }
    out
}
