//! `node.facts` for configs: gathered from the targets, once per node and operation, before
//! rendering — only when the config's path, content, template or `on_change` reads them.

use crate::*;

impl ConfigManager {
    /// Gather the facts of `config`'s targets in `scope` when its templates read them; a
    /// node whose facts cannot be gathered makes the config invalid (nothing is written).
    pub(crate) async fn gather_facts(
        &self,
        config: &Config,
        scope: &Scope,
    ) -> Result<(), ConfigError> {
        if !self.reads_facts(config) {
            return Ok(());
        }
        let mut nodes = self.target_nodes(config)?;
        if let Some(only) = &scope.only {
            nodes.retain(|n| only.contains(n));
        }
        let (targets, facts) = (self.targets.clone(), self.facts.clone());
        let (over, env) = (config.r#become.clone(), secrets_env(scope.env_key()));
        let forks = self.project.ssh.forks.max(1) as usize;
        let gathered = baton_exec::fan_out(nodes.clone(), forks, move |node: String| {
            let (targets, facts, over, env) =
                (targets.clone(), facts.clone(), over.clone(), env.clone());
            async move {
                let executor = targets
                    .executor_as(&node, &over, env.as_deref())
                    .map_err(|e| e.to_string())?;
                facts.get(&node, executor.as_ref()).await.map(|_| ())
            }
        })
        .await;
        let problems: Vec<Problem> = nodes
            .into_iter()
            .zip(gathered)
            .filter_map(|(node, result)| {
                let message = match result {
                    Ok(Ok(())) => return None,
                    Ok(Err(e)) => e,
                    Err(panic) => panic.to_string(),
                };
                Some(Problem {
                    node,
                    path: config
                        .path
                        .as_ref()
                        .map(|p| p.value.clone())
                        .unwrap_or_default(),
                    message: format!(
                        "the templates read `node.facts`, which cannot be gathered: {message}"
                    ),
                })
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            })
        }
    }

    /// Whether any template of `config` reads `node.facts` (an unreadable template file is
    /// reported by rendering, not here).
    fn reads_facts(&self, config: &Config) -> bool {
        let uses = |text: &str| template::uses_facts(text);
        let source = match &config.source {
            ConfigSource::Content(text) => uses(&text.value),
            ConfigSource::Template(path) => {
                std::fs::read_to_string(self.project.root.join(&path.value))
                    .is_ok_and(|text| uses(&text))
            }
            ConfigSource::Vars(vars) => vars.values().any(|v| uses(&v.value)),
        };
        source
            || config.path.as_ref().is_some_and(|p| uses(&p.value))
            || config.on_change.as_ref().is_some_and(|c| uses(&c.value))
    }
}
