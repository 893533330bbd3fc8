//! Which executor serves which node.

use std::sync::Arc;

use baton_exec::{ExecError, Executor, LocalExecutor, RunAs};
use baton_model::{Become, LOCAL_NODE};

/// Maps a node name to the executor that reaches it. The SSH issue adds a pooled SSH
/// implementation; the engine only sees this trait.
pub trait Targets: Send + Sync {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError>;

    /// The executor of `node` with commands and uploads run as `over` (a stage's, config's or
    /// resource's `become`, written over the node's own) says; a password secret is read from
    /// secrets environment `env` (`default` when `None`). This default knows no node's own
    /// `become` and no secrets.
    fn executor_as(
        &self,
        node: &str,
        over: &Become,
        env: Option<&str>,
    ) -> Result<Arc<dyn Executor>, ExecError> {
        let _ = env;
        let executor = self.executor(node)?;
        let Some(user) = over.target_user() else {
            return Ok(executor);
        };
        if over.password_secret.is_some() {
            return Err(ExecError::Spawn(
                "`become_password_secret` needs secrets, which this build does not provide".into(),
            ));
        }
        let run_as = RunAs::new(user, None).map_err(ExecError::Spawn)?;
        Ok(baton_exec::escalate(executor, Some(run_as)))
    }
}

/// Only the local node.
pub struct LocalOnly {
    local: Arc<dyn Executor>,
}

impl Default for LocalOnly {
    fn default() -> Self {
        LocalOnly {
            local: Arc::new(LocalExecutor),
        }
    }
}

impl Targets for LocalOnly {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError> {
        if node == LOCAL_NODE {
            Ok(self.local.clone())
        } else {
            Err(ExecError::Unreachable(format!(
                "node `{node}`: this build has no SSH executor configured"
            )))
        }
    }
}
