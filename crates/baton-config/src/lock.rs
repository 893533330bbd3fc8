//! The (config, environment) lock: a second apply waits; a dead holder's lock is taken over.

use crate::*;

impl ConfigManager {
    /// Take the (config, environment) lock, waiting for a live holder and breaking a dead one's.
    pub(crate) async fn lock(
        &self,
        config: &Config,
        scope: &Scope,
    ) -> Result<LockGuard, ConfigError> {
        let name = format!("config:{}:{}", config.name, scope.env_key());
        let owner = Owner::current();
        let started = tokio::time::Instant::now();
        let mut told = false;
        loop {
            match self
                .store
                .acquire_lock(&name, "config apply", &owner, &self.actor)?
            {
                Ok(dead) => {
                    if let Some(dead) = dead {
                        self.progress.note(&format!(
                            "took over the stale lock of config `{}`: its holder {} died",
                            config.name,
                            describe(&dead)
                        ));
                    }
                    return Ok(LockGuard {
                        store: self.store.clone(),
                        name,
                        owner,
                    });
                }
                Err(held) if held.is_stale() => {
                    self.progress.note(&format!(
                        "breaking the stale lock of config `{}`: {}",
                        config.name,
                        describe(&held)
                    ));
                    self.store.break_lock(&name)?;
                }
                Err(held) => {
                    if started.elapsed() >= self.lock_wait {
                        return Err(ConfigError::Locked(config.name.clone(), describe(&held)));
                    }
                    if !told {
                        self.progress.note(&format!(
                            "waiting for config `{}`: locked by {}",
                            config.name,
                            describe(&held)
                        ));
                        told = true;
                    }
                    // The store has no notification; a short poll keeps the wait cheap.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = self.cancel.cancelled() => {
                            return Err(ConfigError::Cancelled(config.name.clone()));
                        }
                    }
                }
            }
        }
    }
}

pub(crate) struct LockGuard {
    store: Arc<dyn Store>,
    name: String,
    owner: Owner,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // A failure to release leaves a lock that the next apply finds stale and breaks.
        let _ = self.store.release_lock(&self.name, &self.owner);
    }
}

fn describe(held: &LockInfo) -> String {
    let secs = (baton_store::now_millis() - held.since).max(0) / 1000;
    format!(
        "{} (pid {}, actor {}) for {secs}s",
        held.owner.who(),
        held.owner.pid,
        held.actor
    )
}
