//! Ad-hoc commands (`baton exec`): a run of one stage on the selected nodes, in parallel,
//! recorded like any other run.

use std::sync::Arc;
use std::time::Duration;

use baton_model::{Selector, Span, Spanned, Stage, StageAction, Strategy};
use baton_store::{EventKind, NewRun, Owner, RunKind};
use indexmap::IndexMap;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::context::{RunContext, merge_vars};
use crate::emitter::Emitter;
use crate::error::EngineError;
use crate::pipeline::{Engine, RunOutcome, finish};
use crate::stage::run_stage;

/// The stage name ad-hoc runs use in the store and events.
pub const EXEC_STAGE: &str = "exec";

#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub selector: String,
    pub command: String,
    /// Per node; the remote process tree is killed on expiry.
    pub timeout: Duration,
    pub env: Option<String>,
    /// Who asks (see [`crate::RunRequest::actor`]).
    pub actor: String,
}

impl Engine {
    /// Run `command` on every node `selector` matches, all at once (bounded by `ssh.forks`).
    pub async fn exec(
        &self,
        request: ExecRequest,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, EngineError> {
        let selector =
            Selector::parse(&request.selector).map_err(|e| EngineError::Selector(e.to_string()))?;
        let targets = self
            .project()
            .select(&selector)
            .map_err(|e| EngineError::Selector(e.to_string()))?;
        let environment = self.environment(request.env.as_deref())?;
        let run = self.store().create_run(&NewRun {
            kind: RunKind::Exec,
            name: request.selector.clone(),
            trigger: "manual".into(),
            env: request.env.clone(),
            branch: None,
            commit: None,
            params: json!({ "command": request.command, "env": request.env }),
            retry_of: None,
            owner: Owner::current(),
            actor: request.actor.clone(),
        })?;
        // Ad-hoc commands do not queue behind each other.
        self.store().try_start_run(run, u32::MAX)?;
        let (cancel, _watch) =
            crate::lifecycle::run_cancellation(self.store().clone(), run, &cancel);
        let emitter = Emitter::new(run, self.store().clone(), self.sinks().clone());
        let empty = IndexMap::new();
        let env_vars = environment.map(|e| &e.vars).unwrap_or(&empty);
        let rc = RunContext {
            project: self.project().clone(),
            run,
            lineage: vec![run],
            pipeline: EXEC_STAGE.into(),
            trigger: "manual".into(),
            branch: None,
            commit: None,
            env_name: request.env.clone(),
            vars: merge_vars([&self.project().vars, env_vars]),
            env_vars: env_vars.clone(),
            workspace: self.workspace(run)?,
            workdir: self.project().root.clone(),
            facts: Default::default(),
        };
        let env = self.step_env(rc, &emitter, &cancel);
        let stage = Stage {
            name: EXEC_STAGE.into(),
            span: Span::default(),
            action: StageAction::Run(vec![Spanned::new(request.command.clone(), Span::default())]),
            needs: Vec::new(),
            timeout: request.timeout,
            targets: None,
            strategy: Strategy::default(),
            env: IndexMap::new(),
            secrets: Vec::new(),
            retries: 0,
            condition: None,
            continue_on_error: false,
            artifacts: Vec::new(),
            rollback: Vec::new(),
            r#become: Default::default(),
        };
        emitter.emit(EventKind::RunStarted);
        emitter.emit(EventKind::StageStarted {
            stage: EXEC_STAGE.into(),
            targets: Some(targets.len() as u32),
        });
        let forks = self.project().ssh.forks as usize;
        let outcome = run_stage(env, Arc::new(stage), targets, Arc::new(Vec::new()), forks).await;
        emitter.emit(EventKind::StageFinished {
            stage: EXEC_STAGE.into(),
            status: outcome.status,
            reason: outcome.reason.clone(),
        });
        let reason = if outcome.status == baton_store::Status::Cancelled {
            Some(crate::lifecycle::cancel_reason(self.store().as_ref(), run))
        } else {
            outcome.reason
        };
        Ok(finish(&emitter, outcome.status, reason))
    }
}
