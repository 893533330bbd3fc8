//! Runs left behind by a baton process that died (kill -9, crash, reboot): marked
//! `interrupted` and whatever they left running is killed.

use baton_exec::{kill_process_group, kill_processes_with_env};
use baton_store::{InterruptedRun, Store, StoreResult};

/// Called at the start of every baton command: cheap when nothing is stale.
pub fn recover_interrupted_runs(store: &dyn Store) -> StoreResult<Vec<InterruptedRun>> {
    let interrupted = store.interrupt_orphans()?;
    for run in &interrupted {
        for pgid in &run.process_groups {
            kill_process_group(*pgid, nix::libc::SIGKILL);
        }
        // Processes that left their group still carry the run's workspace in their environment.
        if let Some(workspace) = store.run(run.run)?.and_then(|r| r.workspace) {
            kill_processes_with_env("BATON_WORKSPACE", &workspace);
        }
    }
    Ok(interrupted)
}
