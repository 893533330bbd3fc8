//! One module per verb; each returns the exit code or a [`crate::app::Failure`].

pub mod alerts;
pub mod artifact;
pub mod cancel;
pub mod config;
pub mod exec;
pub mod infra;
pub mod init;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod nodes;
pub mod nodes_watch;
pub mod notify;
pub mod ping;
pub mod pipelines;
pub mod run;
pub mod runs;
pub mod schedules;
pub mod schema;
pub mod secret;
pub mod serve;
pub mod show;
pub mod ssh_mux;
pub mod token;
pub mod validate;
