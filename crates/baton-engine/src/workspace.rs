//! The run's own directory (`$BATON_WORKSPACE`), created and recorded before any stage runs; for
//! a run of a given commit (a commit trigger, a push webhook) it is a checkout of that commit,
//! and the stages run there.

use std::path::{Path, PathBuf};

use baton_store::{RunId, Status};
use tokio_util::sync::CancellationToken;

use crate::error::EngineError;
use crate::pipeline::Engine;

/// The commit a run works in: its workspace becomes a detached checkout of `commit`, cloned
/// from `source`, and its stages run there instead of in the project root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkout {
    /// A local git repository (work tree or bare) holding the commit, or whose `origin` has it.
    pub source: PathBuf,
    /// The full commit id.
    pub commit: String,
}

impl Engine {
    /// Create the run's own directory and record it.
    pub(crate) fn workspace(&self, run: RunId) -> Result<PathBuf, EngineError> {
        let workspace = self.state_dir.join("workspaces").join(run.to_string());
        std::fs::create_dir_all(&workspace).map_err(|e| EngineError::Workspace {
            path: workspace.display().to_string(),
            reason: e.to_string(),
        })?;
        self.store
            .set_run_workspace(run, &workspace.display().to_string())?;
        Ok(workspace)
    }

    /// Check `checkout` out into the (new, empty) `workspace`. Err: how the run ends instead —
    /// failed with the reason (no stage may run in a tree that is not the commit), or cancelled
    /// while git worked (git is killed).
    pub(crate) async fn check_out(
        &self,
        checkout: &Checkout,
        workspace: &Path,
        cancel: &CancellationToken,
    ) -> Result<(), (Status, Option<String>)> {
        tokio::select! {
            done = crate::git::check_out(checkout, workspace) => {
                done.map_err(|reason| (Status::Failed, Some(reason)))
            }
            _ = cancel.cancelled() => Err((Status::Cancelled, None)),
        }
    }
}
