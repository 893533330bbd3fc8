//! Tools baton runs on this machine for itself, outside any run: `git`, a config syntax
//! checker, the connection daemon. The one door besides the executors through which baton
//! starts a process (`clippy.toml` forbids `Command::new` everywhere else), so every spawn can
//! be found, reviewed and, later, sandboxed in one place.

use std::ffi::OsStr;

/// A command for `program` on this machine (blocking `std::process`).
#[allow(clippy::disallowed_methods)]
pub fn host_command(program: impl AsRef<OsStr>) -> std::process::Command {
    std::process::Command::new(program)
}

/// The same, for async callers.
#[allow(clippy::disallowed_methods)]
pub fn host_command_async(program: impl AsRef<OsStr>) -> tokio::process::Command {
    tokio::process::Command::new(program)
}
