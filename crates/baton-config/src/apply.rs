//! The actions on one config: validate, diff, apply (or check), and drift for `config list`.

use crate::*;

impl ConfigManager {
    /// Render and validate every target, including `validate: COMMAND` on the targets (on a
    /// temporary copy). Writes nothing.
    pub async fn validate(&self, name: &str, scope: &Scope) -> Result<usize, ConfigError> {
        self.masked(self.validate_inner(name, scope).await)
    }

    async fn validate_inner(&self, name: &str, scope: &Scope) -> Result<usize, ConfigError> {
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
        self.apply(name, scope, true).await
    }

    /// Render, validate, and converge every target (or only show diffs with `check`).
    pub async fn apply(
        &self,
        name: &str,
        scope: &Scope,
        check: bool,
    ) -> Result<Report, ConfigError> {
        if check {
            return self.masked(self.apply_inner(name, scope, true).await);
        }
        self.progress.config_started(name);
        let result = self.masked(self.apply_inner(name, scope, false).await);
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
        // What the nodes hold may show secret values an earlier version was rendered with.
        self.mask_stored(config, scope.env_key())?;
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

    /// Every target's state compared to the newest version's sha256 (no rendering, no
    /// decryption): drift is a target changed behind baton's back, or a target the newest
    /// version does not list (it was down, or added since). `None` per node when it cannot be
    /// read.
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
            .iter()
            .map(|t| Desired {
                node: t.node.clone(),
                path: t.path.clone(),
                content: t.content.clone(),
                mode: None,
                owner: None,
                on_change: None,
                secrets: None,
            })
            .collect();
        let planned = self.plan(config, env, desired).await;
        let mut drift: Vec<(String, Option<bool>)> = planned
            .into_iter()
            .zip(&version.targets)
            .map(|(p, t)| {
                let drifted = |probe: &Probe| secrets::current_sha256(probe) != t.sha256;
                (p.desired.node, p.probe.ok().as_ref().map(drifted))
            })
            .collect();
        drift.extend(missed);
        Ok(drift)
    }
}
