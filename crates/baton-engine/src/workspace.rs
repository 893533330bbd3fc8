//! The run's own directory (`$BATON_WORKSPACE`), created and recorded before any stage runs.

use std::path::PathBuf;

use baton_store::RunId;

use crate::error::EngineError;
use crate::pipeline::Engine;

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
}
