//! Converging: write the targets that differ, run their `on_change`, and record the version.

use std::collections::HashMap;

use baton_store::ConfigIntent;

use crate::*;

impl ConfigManager {
    /// Write the targets that differ, run `on_change` where something changed (and where an
    /// interrupted earlier run left it pending), and record a version when anything changed.
    ///
    /// Cancellation: a node not yet started is left untouched; a write once begun completes
    /// (and is versioned), so a node is never half-written; a running `on_change` is killed
    /// and stays pending for the next apply.
    pub(crate) async fn converge(
        &self,
        config: &Config,
        scope: &Scope,
        planned: Vec<Planned>,
        action: ConfigAction,
    ) -> Result<Report, ConfigError> {
        let env = scope.env_key();
        // Originals first: should this process die while writing, what the nodes held before
        // baton is already safe in the store.
        // A config that reads secrets keeps every copy encrypted (what was there may hold them).
        let stored =
            |t: ConfigTarget, d: &Desired| self.stored(config, t, secrets::sealing(config, d));
        let originals: Vec<ConfigTarget> = planned
            .iter()
            .filter_map(|p| {
                p.probe
                    .as_ref()
                    .ok()
                    .map(|probe| stored(state_of(&p.desired, probe), &p.desired))
            })
            .collect::<Result<_, _>>()?;
        self.store
            .record_config_originals(&config.name, env, &originals)?;
        // Handlers interrupted in an earlier run, by node: they run now even when unchanged.
        let pending: HashMap<String, Option<i64>> = self
            .store
            .config_intents(&config.name, env)?
            .into_iter()
            .filter(|i| i.handler && i.written)
            .map(|i| (i.target.node, i.run))
            .collect();
        let verb = match action {
            ConfigAction::Applied => "apply",
            ConfigAction::RolledBack { .. } => "rollback",
        };
        let steps: Vec<NodeStep> = planned
            .iter()
            .enumerate()
            .map(|(index, p)| NodeStep {
                config: config.name.clone(),
                node: p.desired.node.clone(),
                index: index as u32,
                label: format!(
                    "{verb} {}",
                    p.desired.path.rsplit('/').next().unwrap_or(&p.desired.path)
                ),
            })
            .collect();
        let has_handler = config.kind == ConfigKind::Service || config.on_change.is_some();

        let mut tasks = Vec::new();
        for (index, p) in planned.iter().enumerate() {
            if p.probe.is_err() {
                continue;
            }
            let pending_from = pending.get(&p.desired.node).copied();
            let handler_due = has_handler && pending_from.is_some();
            if !(p.changed || handler_due) {
                continue;
            }
            let task = NodeTask {
                intent: stored(target_record(&p.desired, None, true), &p.desired)?,
                d: p.desired.clone(),
                write: p.changed,
                pending_from,
                has_handler,
                step: steps[index].clone(),
                kind: config.kind,
                state: config.state,
                unit: config.unit_name.clone(),
                config: config.name.clone(),
                over: config.r#become.clone(),
                env: env.to_string(),
                run: scope.run_id,
                actor: self.actor.clone(),
                store: self.store.clone(),
                targets: self.targets.clone(),
                scratch: self.scratch.clone(),
                cancel: self.cancel.clone(),
                progress: self.progress.clone(),
            };
            tasks.push((index, task));
        }
        let indexes: Vec<usize> = tasks.iter().map(|(index, _)| *index).collect();
        let forks = self.project.ssh.forks.max(1) as usize;
        let results =
            baton_exec::fan_out(tasks, forks, |(_, task): (usize, NodeTask)| task.run()).await;
        // A panicking node task is that node's failure; a version records only what is known
        // written, so the next apply compares and converges it again.
        let outcomes: BTreeMap<usize, Outcome> = indexes
            .into_iter()
            .zip(results)
            .map(|(index, r)| {
                (
                    index,
                    r.unwrap_or_else(|p| Outcome::NotWritten(p.to_string())),
                )
            })
            .collect();

        let mut version_targets = Vec::new();
        let mut any_changed = false;
        for (index, p) in planned.iter().enumerate() {
            let Ok(probe) = &p.probe else { continue };
            match outcomes.get(&index) {
                None | Some(Outcome::HandlerOnly { .. }) => {
                    version_targets.push(stored(state_of(&p.desired, probe), &p.desired)?)
                }
                Some(Outcome::Written { installed, .. }) => {
                    any_changed = true;
                    let record = target_record(&p.desired, installed.clone(), true);
                    version_targets.push(stored(record, &p.desired)?);
                }
                // Not in the desired state: absent from the version, converged next time.
                Some(Outcome::Untouched | Outcome::NotWritten(_)) => {}
            }
        }
        let version = if any_changed {
            // A step on some nodes only: the others keep what the newest version says.
            if scope.only.is_some() {
                let current = self.store.config_current_version(&config.name, env)?;
                if current > 0
                    && let Some(previous) = self.store.config_version(&config.name, env, current)?
                {
                    for mut t in previous.targets {
                        if !planned.iter().any(|p| p.desired.node == t.node) {
                            t.changed = false;
                            version_targets.push(t);
                        }
                    }
                    version_targets.sort_by(|a, b| a.node.cmp(&b.node));
                }
            }
            Some(self.store.record_config_version(&NewConfigVersion {
                config: config.name.clone(),
                env: env.to_string(),
                who: self.who.clone(),
                actor: self.actor.clone(),
                run: scope.run_id,
                action,
                targets: version_targets,
                originals: Vec::new(),
            })?)
        } else {
            None
        };
        let mut report = self.report(config, scope, &planned, version, false);
        for (index, outcome) in outcomes {
            let node = &mut report.nodes[index];
            match outcome {
                Outcome::Untouched => {
                    node.result = "cancelled";
                    node.reason = Some("cancelled before writing: left untouched".into());
                }
                Outcome::NotWritten(reason) => {
                    node.result = "failed";
                    node.reason = Some(reason);
                }
                Outcome::Written {
                    log,
                    failure,
                    pending,
                    ..
                } => {
                    node.on_change = Some(log).filter(|l| !l.is_empty());
                    node.pending = pending;
                    if pending {
                        node.result = "cancelled";
                        node.reason = Some(
                            "written; `on_change` was interrupted and stays pending: it runs on the next apply"
                                .into(),
                        );
                    } else if let Some(reason) = failure {
                        node.result = "failed";
                        node.reason = Some(reason);
                    }
                }
                Outcome::HandlerOnly {
                    log,
                    failure,
                    pending,
                    from,
                } => {
                    node.on_change = Some(log).filter(|l| !l.is_empty());
                    let run = from
                        .map(|r| format!("run {r}"))
                        .unwrap_or("an earlier run".into());
                    node.pending = pending;
                    if pending {
                        node.result = "cancelled";
                        node.reason = Some(format!(
                            "the `on_change` pending from {run} was interrupted again and stays pending"
                        ));
                    } else if let Some(reason) = failure {
                        node.result = "failed";
                        node.reason = Some(format!("pending `on_change` from {run}: {reason}"));
                    } else {
                        node.pending_from = Some(from);
                    }
                }
            }
        }
        for (step, node) in steps.iter().zip(&report.nodes) {
            self.progress.node_finished(step, node);
        }
        Ok(report)
    }

    pub(crate) fn report(
        &self,
        config: &Config,
        scope: &Scope,
        planned: &[Planned],
        version: Option<i64>,
        check: bool,
    ) -> Report {
        let env = scope.env_key();
        let current = self
            .store
            .config_current_version(&config.name, env)
            .unwrap_or(0);
        let _ = check;
        Report {
            config: config.name.clone(),
            env: env.to_string(),
            version,
            current,
            nodes: planned
                .iter()
                .map(|p| NodeReport {
                    node: p.desired.node.clone(),
                    path: p.desired.path.clone(),
                    result: match (&p.probe, p.changed, &p.desired.content) {
                        (Err(_), _, _) => "failed",
                        (Ok(_), false, _) => "unchanged",
                        (Ok(_), true, Some(_)) => "changed",
                        (Ok(_), true, None) => "removed",
                    },
                    reason: p.probe.as_ref().err().cloned(),
                    diff: p.diff.clone(),
                    on_change: None,
                    pending_from: None,
                    pending: false,
                })
                .collect(),
        }
    }
}

/// What a probe found, as a store record (an original, or an unchanged target).
pub(crate) fn state_of(d: &Desired, probe: &Probe) -> ConfigTarget {
    let (content, mode, owner) = match &probe.current {
        Current::File {
            content,
            mode,
            owner,
        } => (Some(content.clone()), Some(*mode), Some(owner.clone())),
        _ => (None, None, None),
    };
    ConfigTarget {
        node: d.node.clone(),
        path: d.path.clone(),
        sha256: content.as_deref().map(sha256_hex),
        content,
        mode,
        owner,
        encrypted: false,
        changed: false,
    }
}

/// The record of a target this action wrote, in plaintext (`stored` encrypts it when it holds
/// secrets; `sha256` is always that of the real bytes).
pub(crate) fn target_record(
    d: &Desired,
    installed: Option<(u32, String)>,
    changed: bool,
) -> ConfigTarget {
    ConfigTarget {
        node: d.node.clone(),
        path: d.path.clone(),
        sha256: d.content.as_deref().map(sha256_hex),
        content: d.content.clone(),
        mode: installed.as_ref().map(|(m, _)| *m),
        owner: installed.map(|(_, o)| o),
        encrypted: false,
        changed,
    }
}

/// Mode and owner of a file after it was written; `None` when it was removed.
pub(crate) type Installed = Option<(u32, String)>;

/// What became of one node's write and handler.
enum Outcome {
    /// Cancelled before anything was done to it.
    Untouched,
    /// The write failed (or could not start): the node holds what it held.
    NotWritten(String),
    Written {
        installed: Installed,
        log: String,
        failure: Option<String>,
        /// The handler did not run to completion (cancelled): it stays pending.
        pending: bool,
    },
    /// Unchanged, but a handler an earlier run left pending ran (`from` = that run).
    HandlerOnly {
        log: String,
        failure: Option<String>,
        pending: bool,
        from: Option<i64>,
    },
}

/// One node's work in [`ConfigManager::converge`], owned by its task.
struct NodeTask {
    d: Desired,
    /// The intent's record of the target, as stored (encrypted when it holds secrets).
    intent: ConfigTarget,
    /// The file differs and is written; else only a pending handler runs.
    write: bool,
    pending_from: Option<Option<i64>>,
    has_handler: bool,
    step: NodeStep,
    kind: ConfigKind,
    state: Option<ServiceState>,
    unit: Option<String>,
    config: String,
    /// The config's `become`, over the node's.
    over: baton_model::Become,
    env: String,
    run: Option<i64>,
    actor: String,
    store: Arc<dyn Store>,
    targets: Arc<dyn Targets>,
    scratch: PathBuf,
    cancel: CancellationToken,
    progress: Arc<dyn Progress>,
}

impl NodeTask {
    async fn run(self) -> Outcome {
        if self.cancel.is_cancelled() {
            return Outcome::Untouched;
        }
        self.progress.node_started(&self.step);
        let x = match self.targets.executor_as(
            &self.d.node,
            &self.over,
            secrets_env(&self.env).as_deref(),
        ) {
            Ok(x) => x,
            Err(e) => return Outcome::NotWritten(e.to_string()),
        };
        let mut installed = None;
        if self.write {
            // The intent first: a kill after the write and before the version is recorded is
            // then found and reconciled by the next command (intents.rs).
            let intent = ConfigIntent {
                config: self.config.clone(),
                env: self.env.clone(),
                target: self.intent.clone(),
                handler: self.has_handler,
                written: false,
                run: self.run,
                actor: self.actor.clone(),
                at: baton_store::now_millis(),
            };
            if let Err(e) = self.store.record_config_intent(&intent) {
                return Outcome::NotWritten(format!("cannot record the intent to write: {e}"));
            }
            // Not cancellable: a write once begun is completed, so a node is never half-written.
            match write(&x, &self.scratch, &self.d, &CancellationToken::new()).await {
                Ok(i) => installed = Some(i),
                Err(reason) => return Outcome::NotWritten(reason),
            }
            let _ = self.store.config_intent_written(
                &self.config,
                &self.env,
                &self.d.node,
                self.has_handler,
            );
        }
        let (log, failure, pending) = if self.has_handler {
            self.handler(&x).await
        } else {
            (String::new(), None, false)
        };
        if !log.is_empty() {
            self.progress.node_output(&self.step, log.as_bytes());
        }
        if !pending {
            // The handler is done (ran, or failed and was reported): only the version's
            // record is left, which clears a write's intent; a handler-only intent goes now.
            let _ = if self.write {
                self.store
                    .config_intent_written(&self.config, &self.env, &self.d.node, false)
            } else {
                self.store
                    .clear_config_intent(&self.config, &self.env, &self.d.node)
            };
        }
        match installed {
            Some(installed) => Outcome::Written {
                installed,
                log,
                failure,
                pending,
            },
            None => Outcome::HandlerOnly {
                log,
                failure,
                pending,
                from: self.pending_from.flatten(),
            },
        }
    }

    /// The service actions and `on_change`: (output, failure, interrupted).
    async fn handler(&self, x: &Arc<dyn Executor>) -> (String, Option<String>, bool) {
        let vars = vec![
            ("BATON_CONFIG".to_string(), self.config.clone()),
            ("BATON_CONFIG_PATH".to_string(), self.d.path.clone()),
            ("BATON_ENV".to_string(), self.env.clone()),
            ("BATON_NODE".to_string(), self.d.node.clone()),
        ];
        let mut scripts = Vec::new();
        if self.kind == ConfigKind::Service {
            let unit = self.unit.as_deref().unwrap_or(&self.config);
            scripts.push(("systemctl", service_script(unit, self.state)));
        }
        if let Some(command) = &self.d.on_change {
            scripts.push(("on_change", command.clone()));
        }
        let mut log = String::new();
        for (what, script) in scripts {
            if self.cancel.is_cancelled() {
                return (log, None, true);
            }
            let record = |pgid| self.progress.node_process_group(&self.step, pgid);
            let result = remote::run_watched(x, script, vars.clone(), &self.cancel, &record).await;
            if self.cancel.is_cancelled() {
                if let Ok((_, out)) = &result {
                    log.push_str(&String::from_utf8_lossy(out));
                }
                return (log, None, true);
            }
            match result {
                Ok((true, out)) => log.push_str(&String::from_utf8_lossy(&out)),
                Ok((false, out)) => {
                    let text = String::from_utf8_lossy(&out).to_string();
                    log.push_str(&text);
                    let detail = text.trim();
                    let detail = if detail.is_empty() {
                        "exited non-zero with no output".to_string()
                    } else {
                        detail.to_string()
                    };
                    return (log, Some(format!("{what} failed: {detail}")), false);
                }
                Err(e) => return (log, Some(format!("{what}: {e}")), false),
            }
        }
        (log, None, false)
    }
}
