//! Rollback: bring every target back to a recorded version (0 = what nodes held before baton).

use crate::*;

impl ConfigManager {
    /// Bring every target back to version `to` (default: the one before the newest).
    pub async fn rollback(
        &self,
        name: &str,
        scope: &Scope,
        to: Option<i64>,
    ) -> Result<Report, ConfigError> {
        self.progress.config_started(name);
        let result = self.masked(self.rollback_inner(name, scope, to).await);
        self.progress.config_finished(name, result.as_ref());
        result
    }

    async fn rollback_inner(
        &self,
        name: &str,
        scope: &Scope,
        to: Option<i64>,
    ) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        if let Some(env) = &scope.env
            && !self.project.environments.contains_key(env)
        {
            return Err(ConfigError::UnknownEnvironment(env.clone()));
        }
        let _lock = self.lock(config, scope).await?;
        self.gather_facts(config, scope).await?;
        let env = scope.env_key();
        // A write a killed apply left unrecorded is recorded first, so its originals and
        // version are there to roll back from.
        self.reconcile(config, scope).await?;
        let current = self.store.config_current_version(name, env)?;
        let no_version = |message: String| ConfigError::NoVersion {
            config: name.to_string(),
            message,
        };
        if current == 0 {
            return Err(no_version(format!(
                "nothing to roll back: it was never applied{}",
                env_suffix(env)
            )));
        }
        let to = to.unwrap_or(current - 1);
        if to < 0 || to > current {
            return Err(no_version(format!(
                "there is no version {to}{} (versions are 0 to {current})",
                env_suffix(env)
            )));
        }
        let Some(version) = self.store.config_version(name, env, to)? else {
            return Err(no_version(format!("version {to} is not in the store")));
        };
        // What the nodes hold now, and what they get back, may hold secret values: both are
        // masked, and the encrypted copies are decrypted (exact bytes) before anything is done.
        self.mask_stored(config, env)?;
        let env_vars = self.env_vars(scope)?;
        let mut desired = Vec::new();
        let mut problems = Vec::new();
        for t in version.targets {
            if scope
                .only
                .as_ref()
                .is_some_and(|only| !only.contains(&t.node))
            {
                continue;
            }
            let (t, secrets) = self.opened(config, to, t)?;
            // The same context as apply: an `on_change` that renders there renders here, and
            // one that does not is an error, never silently skipped.
            let on_change = match &config.on_change {
                None => None,
                Some(c) => {
                    match template::render(&c.value, &self.context(scope, &env_vars, &t.node)) {
                        Ok(text) => Some(text),
                        Err(e) => {
                            problems.push(Problem {
                                node: t.node.clone(),
                                path: t.path.clone(),
                                message: format!("in `on_change`: {}", e.message),
                            });
                            continue;
                        }
                    }
                }
            };
            desired.push(Desired {
                on_change,
                secrets,
                node: t.node,
                path: t.path,
                mode: t.content.as_ref().and(t.mode),
                owner: t.content.as_ref().and(t.owner),
                content: t.content,
            });
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                config: config.name.clone(),
                problems,
            });
        }
        let planned = self.plan(config, scope.env_key(), desired).await;
        refuse_unfit(config, &planned)?;
        self.converge(
            config,
            scope,
            planned,
            ConfigAction::RolledBack { from: current, to },
        )
        .await
    }
}
