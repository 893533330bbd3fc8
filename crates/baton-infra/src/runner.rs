//! The pipeline step `infra: plan | apply`, as the engine's [`baton_engine::InfraRunner`]:
//! the same plan and walk as the CLI, with the plan and progress written to the step's log.

use std::sync::{Arc, Mutex};

use baton_engine::{InfraFuture, InfraRunner};
use baton_exec::CancellationToken;
use baton_model::InfraAction;

use crate::apply::{ApplyEvent, apply};
use crate::lock::StateLock;
use crate::plan::{Action, Plan, PlanOptions, plan};
use crate::{Infra, InfraError};

pub struct InfraStep {
    pub infra: Infra,
    pub parallelism: usize,
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
            let _lock = match action {
                InfraAction::Apply => {
                    Some(StateLock::acquire(infra.store.clone(), "apply").map_err(error)?)
                }
                InfraAction::Plan => None,
            };
            let planned = plan(&infra, &PlanOptions::default()).await.map_err(error)?;
            output(render_plan(&planned).as_bytes());
            if action == InfraAction::Plan || !planned.has_changes() {
                return Ok(());
            }
            let lines = Arc::new(Mutex::new(Vec::<u8>::new()));
            let sink = lines.clone();
            let on_event = Arc::new(move |event: ApplyEvent| {
                let line = match event {
                    ApplyEvent::Started { id, action } => format!("{id}: {}…\n", action.verb()),
                    ApplyEvent::Finished {
                        id,
                        action,
                        elapsed_ms,
                    } => {
                        format!("{id}: {} done ({elapsed_ms} ms)\n", action.verb())
                    }
                    ApplyEvent::Failed { id, error, .. } => format!("{id}: failed: {error}\n"),
                    ApplyEvent::Skipped { id, reason } => format!("{id}: skipped: {reason}\n"),
                };
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(line.as_bytes());
            });
            let report = apply(&infra, &planned, self.parallelism, on_event).await;
            output(&lines.lock().unwrap_or_else(|p| p.into_inner()));
            output(
                format!(
                    "Apply: {} added, {} changed, {} destroyed.\n",
                    report.added, report.changed, report.destroyed
                )
                .as_bytes(),
            );
            if report.ok() {
                Ok(())
            } else {
                let names: Vec<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
                Err(format!("infra apply failed: {}", names.join(", ")))
            }
        })
    }
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
