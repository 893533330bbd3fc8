//! The operations layer: every front end — the CLI, the REST API, webhooks, the scheduler, the
//! commit poller — calls these functions with typed requests and gets typed results, so a run
//! started by any of them is the same run. It is also the composition root: it opens the store,
//! builds the targets (local, SSH, mux), the secrets and the engine with its config and infra
//! jobs.
//!
//! Architecture invariant: never prints, never parses argv, knows nothing of HTTP or terminals.
//! What it returns to front ends are the versioned [`api`] types, never store rows.

pub mod api;
mod artifacts;
mod cancel;
mod commits;
mod config;
mod error;
mod exec;
pub mod infra;
pub mod monitor;
mod nodes;
pub mod notify;
mod open;
pub mod reference;
pub mod runs;
pub mod schedule;
mod secrets;
mod targets;
pub mod tokens;

pub use artifacts::{Fetched, parse_artifact_ref};
pub use baton_engine::Checkout;
pub use cancel::{CANCEL_WAIT, Cancelled};
pub use commits::{CommitWatch, NewHead, PROJECT_REPO};
pub use config::ConfigWhich;
pub use error::{ErrorKind, OpsError, OpsResult};
pub use exec::NodeDone;
pub use monitor::{MONITOR_LOCK, MonitorNote, MonitorStarted, NodeWatch};
pub use open::{
    Ops, STEP_KINDS, find_project_file, load_project, serve_connection_daemon, state_dir,
    validate_project,
};
pub use runs::StartedRun;
pub use secrets::{
    check_secret_target, get_secret, keygen, list_secrets, remove_secret, secret_env, set_secret,
};
pub use targets::NodeTargets;

/// The actor of work started from this machine's command line: the OS user.
pub fn cli_actor() -> String {
    baton_store::os_user()
}
