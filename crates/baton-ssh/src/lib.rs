//! The SSH executor: a native async SSH client (russh), no `ssh` subprocess.
//!
//! One connection per node, opened on first use and reused for every command and upload of
//! the process (a run, an `exec`), with at most [`CHANNELS_PER_CONNECTION`] channels at once
//! (sshd's default `MaxSessions` is 10). Host keys are checked against known_hosts; unknown keys
//! are refused unless `accept_new_host_keys`; changed keys always.
//!
//! Architecture invariant: knows nothing of pipelines, the store or the project file; it
//! implements [`baton_exec::Executor`] for one node.

mod connect;
pub mod mux;
mod node;
mod remote;
pub mod resolve;
pub mod ssh_config;

pub use connect::{NodeAddress, SshOptions, client_config};
pub use node::SshNode;

/// Concurrent channels per connection; sshd refuses an 11th by default (`MaxSessions 10`).
pub const CHANNELS_PER_CONNECTION: usize = 8;
