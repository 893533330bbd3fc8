//! `baton ssh-mux`: the per-project SSH connection daemon (see `baton_ssh::mux`).

use std::time::Duration;

use crate::app::{CommandResult, EXIT_OK, Failure};
use crate::cli::SshMuxArgs;

pub fn run(args: &SshMuxArgs) -> CommandResult {
    let runtime = crate::app::runtime()?;
    runtime
        .block_on(baton_ssh::mux::serve(
            &args.socket,
            Duration::from_millis(args.idle_ms),
        ))
        .map_err(|e| Failure::failed(format!("ssh-mux on `{}`: {e}", args.socket.display())))?;
    Ok(EXIT_OK)
}
