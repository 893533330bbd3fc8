//! `baton ssh-mux`: the per-project SSH connection daemon (`ssh.persist`), started by other
//! baton commands, never by hand.

use std::time::Duration;

use crate::app::{CommandResult, EXIT_OK};
use crate::cli::SshMuxArgs;

pub fn run(args: &SshMuxArgs) -> CommandResult {
    let runtime = crate::app::runtime()?;
    runtime.block_on(baton_ops::serve_connection_daemon(
        &args.socket,
        Duration::from_millis(args.idle_ms),
    ))?;
    Ok(EXIT_OK)
}
