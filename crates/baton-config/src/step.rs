//! The `config:` pipeline step: the same apply, inside the parent run's step.

use crate::*;

/// The `config: NAME` pipeline step ([`baton_engine::ConfigApplier`]): applies the config in
/// the run's environment with the run's vars. On a stage target that is one of the config's
/// targets, only that node is applied (so rolling `strategy:` batches work); on `local`, when
/// the config does not target `local`, every target of the config is applied at once.
pub struct StepApplier {
    pub project: Arc<Project>,
    pub store: Arc<dyn Store>,
    pub targets: Arc<dyn Targets>,
    pub scratch: PathBuf,
    /// The configs' `secrets:` (and the encryption of their stored copies).
    pub secrets: Option<Arc<dyn SecretSource>>,
}

impl baton_engine::ConfigApplier for StepApplier {
    fn apply<'a>(
        &'a self,
        step: baton_engine::ConfigStep<'a>,
        output: &'a mut (dyn FnMut(&[u8]) + Send),
        cancel: &'a CancellationToken,
    ) -> baton_engine::ConfigFuture<'a> {
        Box::pin(async move {
            let (lines, mut received) = tokio::sync::mpsc::unbounded_channel();
            let mut manager = ConfigManager::new(
                self.project.clone(),
                self.store.clone(),
                self.targets.clone(),
                self.scratch.clone(),
            );
            manager.cancel = cancel.clone();
            manager.progress = Arc::new(progress::StepLog { lines });
            manager.secrets = self.secrets.clone();
            // The parent run's mask: the step's log (and the run's events) never show them.
            manager.mask = step.mask.clone();
            let run_id = step
                .run
                .get("id")
                .and_then(Value::as_i64)
                .filter(|id| *id > 0);
            // The version's actor is the parent run's.
            if let Some(id) = run_id
                && let Ok(Some(record)) = self.store.run(id)
            {
                manager.actor = record.actor;
            }
            let config = manager.config(step.config).map_err(|e| e.to_string())?;
            let nodes = manager.target_nodes(config).map_err(|e| e.to_string())?;
            let only = if nodes.iter().any(|n| n == step.target) {
                Some(vec![step.target.to_string()])
            } else if step.target == LOCAL_NODE {
                None
            } else {
                return Err(format!(
                    "config `{}` does not target node `{}` (its targets: {})",
                    step.config,
                    step.target,
                    nodes.join(", ")
                ));
            };
            let scope = Scope {
                env: step.env.map(str::to_string),
                vars: step.vars.clone(),
                run: Some(step.run),
                only,
                run_id,
            };
            // The same apply as `baton config apply`; its progress streams into this step's log.
            let result = {
                let work = manager.apply(step.config, &scope, false);
                tokio::pin!(work);
                loop {
                    tokio::select! {
                        result = &mut work => break result,
                        Some(bytes) = received.recv() => output(&bytes),
                    }
                }
            };
            drop(manager);
            while let Ok(bytes) = received.try_recv() {
                output(&bytes);
            }
            let report = result.map_err(|e| e.to_string())?;
            if report.failed() > 0 {
                Err(progress::failed_reason(&report))
            } else if report.nodes.iter().any(|n| n.result == "cancelled") {
                Err(format!("config `{}`: cancelled", report.config))
            } else {
                Ok(())
            }
        })
    }
}
