//! Ad-hoc commands: one command on every node a selector matches, as a run, with a typed
//! result per node. Front ends watch progress through their own event sinks and get the
//! report at the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_engine::{EventSink, ExecRequest};
use baton_store::{Event, EventKind, FailureCause, Millis, Status};
use tokio_util::sync::CancellationToken;

use crate::api::exec::{ExecNode, ExecReport, ExecSummary, NodeResult};
use crate::error::OpsResult;
use crate::open::Ops;

/// Called with each node's result as soon as it finishes.
pub type NodeDone = Box<dyn Fn(&ExecNode) + Send + Sync>;

/// Collects per-node output and results from the run's events.
struct Collector {
    on_done: Option<NodeDone>,
    state: Mutex<Collected>,
}

#[derive(Default)]
struct Collected {
    started: HashMap<String, Millis>,
    output: HashMap<String, Vec<u8>>,
    results: Vec<ExecNode>,
}

impl EventSink for Collector {
    fn event(&self, event: &Event) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &event.kind {
            EventKind::StepStarted { step } => {
                state.started.insert(step.target.clone(), event.at);
            }
            EventKind::Output { step, data } => state
                .output
                .entry(step.target.clone())
                .or_default()
                .extend_from_slice(data),
            EventKind::StepFinished {
                step,
                status,
                exit_code,
                signal,
                reason,
                cause,
            } => {
                let started = state.started.get(&step.target).copied().unwrap_or(event.at);
                let result = match (status, cause) {
                    (Status::Success, _) => NodeResult::Ok,
                    (_, Some(FailureCause::Unreachable)) => NodeResult::Unreachable,
                    (_, Some(FailureCause::OutcomeUnknown)) => NodeResult::Unknown,
                    _ => NodeResult::Failed,
                };
                let bytes = state.output.remove(&step.target).unwrap_or_default();
                let node = ExecNode {
                    node: step.target.clone(),
                    result,
                    status: *status,
                    exit_code: *exit_code,
                    signal: *signal,
                    // The table's RESULT column already says which: the reason is the rest.
                    reason: reason.clone().map(|r| match cause {
                        Some(FailureCause::Unreachable) => {
                            r.strip_prefix("unreachable: ").unwrap_or(&r).to_string()
                        }
                        Some(FailureCause::OutcomeUnknown) => r
                            .strip_prefix(baton_engine::OUTCOME_UNKNOWN)
                            .unwrap_or(&r)
                            .to_string(),
                        None => r,
                    }),
                    duration_ms: event.at - started,
                    output: String::from_utf8_lossy(&bytes).into_owned(),
                };
                if let Some(on_done) = &self.on_done {
                    on_done(&node);
                }
                state.results.push(node);
            }
            _ => {}
        }
    }
}

impl Ops {
    /// Run `request` on its nodes (at most `ssh.forks` at once); `sinks` see the events live,
    /// `on_done` each node's result as it finishes.
    pub async fn exec(
        &self,
        request: ExecRequest,
        sinks: Vec<Arc<dyn EventSink>>,
        on_done: Option<NodeDone>,
        cancel: CancellationToken,
    ) -> OpsResult<ExecReport> {
        let collector = Arc::new(Collector {
            on_done,
            state: Mutex::default(),
        });
        let mut all = sinks;
        all.push(collector.clone());
        let targets = self.targets();
        let engine = self.engine(targets.clone(), all);
        let outcome = engine.exec(request, cancel).await;
        targets.disconnect_all().await;
        let outcome = outcome?;
        let mut nodes = std::mem::take(
            &mut collector
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .results,
        );
        let order: Vec<&String> = self.project.nodes.keys().collect();
        nodes.sort_by_key(|r| {
            order
                .iter()
                .position(|n| **n == r.node)
                .unwrap_or(usize::MAX)
        });
        let count = |what: NodeResult| nodes.iter().filter(|r| r.result == what).count();
        let summary = ExecSummary {
            ok: count(NodeResult::Ok),
            failed: count(NodeResult::Failed),
            unreachable: count(NodeResult::Unreachable),
            unknown: count(NodeResult::Unknown),
        };
        Ok(ExecReport {
            run: outcome.run,
            nodes,
            summary,
        })
    }
}
