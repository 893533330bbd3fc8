//! Which executor serves which node.

use std::sync::Arc;

use baton_exec::{ExecError, Executor, LocalExecutor};
use baton_model::LOCAL_NODE;

/// Maps a node name to the executor that reaches it. The SSH issue adds a pooled SSH
/// implementation; the engine only sees this trait.
pub trait Targets: Send + Sync {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError>;
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
