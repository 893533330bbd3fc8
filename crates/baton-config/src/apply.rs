//! The actions on one config: validate, diff, apply (or check), and drift for `config list`.

use crate::*;

impl ConfigManager {
    /// Render and validate every target, including `validate: COMMAND` on the targets (on a
    /// temporary copy). Writes nothing.
    pub async fn validate(&self, name: &str, scope: &Scope) -> Result<usize, ConfigError> {
        let config = self.config(name)?;
        self.gather_facts(config, scope).await?;
        let desired = self.render_all(config, scope)?;
        let all: Vec<&Desired> = desired.iter().collect();
        self.validate_on_targets(config, scope.env_key(), &all)
            .await?;
        Ok(desired.len())
    }

    /// What `apply` would change: per target, a diff from what it holds to the rendering.
    pub async fn diff(&self, name: &str, scope: &Scope) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        self.gather_facts(config, scope).await?;
        let desired = self.render_all(config, scope)?;
        let planned = self.plan(config, scope.env_key(), desired).await;
        Ok(self.report(config, scope, &planned, None, true))
    }

    /// Render, validate, and converge every target (or only show diffs with `check`).
    pub async fn apply(
        &self,
        name: &str,
        scope: &Scope,
        check: bool,
    ) -> Result<Report, ConfigError> {
        if check {
            return self.apply_inner(name, scope, true).await;
        }
        self.progress.config_started(name);
        let result = self.apply_inner(name, scope, false).await;
        self.progress.config_finished(name, result.as_ref());
        result
    }

    async fn apply_inner(
        &self,
        name: &str,
        scope: &Scope,
        check: bool,
    ) -> Result<Report, ConfigError> {
        let config = self.config(name)?;
        self.gather_facts(config, scope).await?;
        let desired = self.render_all(config, scope)?;
        if check {
            let planned = self.plan(config, scope.env_key(), desired).await;
            return Ok(self.report(config, scope, &planned, None, true));
        }
        let _lock = self.lock(config, scope).await?;
        self.reconcile(config, scope).await?;
        let planned = self.plan(config, scope.env_key(), desired).await;
        refuse_unfit(config, &planned)?;
        let changed: Vec<&Desired> = planned
            .iter()
            .filter(|p| p.changed && p.probe.is_ok())
            .map(|p| &p.desired)
            .collect();
        self.validate_on_targets(config, scope.env_key(), &changed)
            .await?;
        self.converge(config, scope, planned, ConfigAction::Applied)
            .await
    }

    /// Every target's state compared to the newest version's sha256 (no rendering): drift is
    /// a target changed behind baton's back, or a target the newest version does not list
    /// (it was down, or added since). `None` per node when it cannot be read. `None` per node when it cannot be read.
    pub async fn drift(
        &self,
        name: &str,
        env: &str,
    ) -> Result<Vec<(String, Option<bool>)>, ConfigError> {
        let config = self.config(name)?;
        let current = self.store.config_current_version(name, env)?;
        let Some(version) = self.store.config_version(name, env, current)? else {
            return Ok(Vec::new());
        };
        if current == 0 {
            return Ok(Vec::new());
        }
        let listed: Vec<String> = version.targets.iter().map(|t| t.node.clone()).collect();
        let missed: Vec<(String, Option<bool>)> = self
            .target_nodes(config)?
            .into_iter()
            .filter(|n| !listed.contains(n))
            .map(|n| (n, Some(true)))
            .collect();
        let desired: Vec<Desired> = version
            .targets
            .into_iter()
            .map(|t| Desired {
                node: t.node,
                path: t.path,
                content: t.content,
                mode: None,
                owner: None,
                on_change: None,
            })
            .collect();
        let planned = self.plan(config, env, desired).await;
        let mut drift: Vec<(String, Option<bool>)> = planned
            .into_iter()
            .map(|p| (p.desired.node, p.probe.ok().map(|_| p.changed)))
            .collect();
        drift.extend(missed);
        Ok(drift)
    }
}
