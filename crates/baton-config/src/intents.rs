//! What a killed apply left between writing a target and recording its version: the intent
//! recorded before the write (baton_store's config_store.rs, "Intents") is reconciled by the
//! next apply or rollback of that (config, environment), under its lock.

use std::collections::BTreeMap;

use crate::*;

impl ConfigManager {
    /// Probe the targets of leftover intents: one holding the intended content was written, so a
    /// version is recorded for it (its pending handler stays pending); one that does not was
    /// left untouched and its intent is dropped. Unreachable targets keep their intent.
    pub(crate) async fn reconcile(
        &self,
        config: &Config,
        scope: &Scope,
    ) -> Result<(), ConfigError> {
        let env = scope.env_key();
        let intents = self.store.config_intents(&config.name, env)?;
        if intents.is_empty() {
            return Ok(());
        }
        let desired: Vec<Desired> = intents
            .iter()
            .map(|i| Desired {
                node: i.target.node.clone(),
                path: i.target.path.clone(),
                content: i.target.content.clone(),
                mode: None,
                owner: None,
                on_change: None,
                secrets: None,
            })
            .collect();
        let planned = self.plan(config, env, desired).await;
        let current = self.store.config_current_version(&config.name, env)?;
        let newest: Vec<ConfigTarget> = if current == 0 {
            Vec::new()
        } else {
            self.store
                .config_version(&config.name, env, current)?
                .map(|v| v.targets)
                .unwrap_or_default()
        };
        let mut recovered: BTreeMap<String, ConfigTarget> = BTreeMap::new();
        let (mut actor, mut run) = (String::new(), None);
        for (intent, p) in intents.iter().zip(&planned) {
            let Ok(probe) = &p.probe else { continue };
            let node = &intent.target.node;
            // By hash: the intent's copy may be encrypted.
            if secrets::current_sha256(probe) == intent.target.sha256 {
                let recorded = newest
                    .iter()
                    .any(|t| &t.node == node && t.sha256 == intent.target.sha256);
                if !recorded {
                    let mut t = state_of(&p.desired, probe);
                    // The content as the intent stored it (encrypted when it holds secrets).
                    t.content = intent.target.content.clone();
                    t.encrypted = intent.target.encrypted;
                    t.changed = true;
                    recovered.insert(node.clone(), t);
                    actor = intent.actor.clone();
                    run = intent.run;
                } else if !intent.handler {
                    self.store.clear_config_intent(&config.name, env, node)?;
                }
            } else if !(intent.handler && intent.written) {
                // Never written (killed before the rename): the node is as it was.
                self.store.clear_config_intent(&config.name, env, node)?;
            }
        }
        if recovered.is_empty() {
            return Ok(());
        }
        let nodes: Vec<String> = recovered.keys().cloned().collect();
        let mut targets: Vec<ConfigTarget> = newest
            .into_iter()
            .filter(|t| !recovered.contains_key(&t.node))
            .map(|mut t| {
                t.changed = false;
                t
            })
            .collect();
        targets.extend(recovered.into_values());
        targets.sort_by(|a, b| a.node.cmp(&b.node));
        let version = self.store.record_config_version(&NewConfigVersion {
            config: config.name.clone(),
            env: env.to_string(),
            who: self.who.clone(),
            actor,
            run,
            action: ConfigAction::Applied,
            targets,
            originals: Vec::new(),
        })?;
        let from = run
            .map(|r| format!("run {r}"))
            .unwrap_or("an earlier run".into());
        self.progress.note(&format!(
            "config `{}`: {from} was interrupted after writing {}; recorded that as version {version}",
            config.name,
            nodes.join(", ")
        ));
        Ok(())
    }
}
