//! Executors: run a command on one target and stream its output.
//!
//! One interface for every target, so each engine feature (timeouts, env, secrets, output
//! capture, cancellation) behaves the same on the local node and on SSH nodes.
//!
//! Architecture invariant: executors know nothing of pipelines, stages, the store or the
//! project file. They take a [`CommandSpec`] and report an [`ExitInfo`].

mod chunker;
mod fanout;
mod host;
mod local;
mod process;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use chunker::LineChunker;
pub use fanout::{TaskPanic, fan_out, panic_message};
pub use host::{host_command, host_command_async};
pub use local::LocalExecutor;
pub use process::{kill_process_group, kill_processes_with_env, process_group_alive};
pub use tokio_util::sync::CancellationToken;

/// A shell command to run on a target.
#[derive(Debug, Clone, Default)]
pub struct CommandSpec {
    /// Run as `bash -eo pipefail -c SCRIPT`.
    pub script: String,
    pub env: Vec<(String, String)>,
    /// Working directory; `None` = the executor's default (home on nodes).
    pub cwd: Option<PathBuf>,
    /// On expiry the whole process tree is terminated (TERM, then KILL after `grace`).
    pub timeout: Option<Duration>,
    /// Time between TERM and KILL.
    pub grace: Duration,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It exited (or was killed by a signal) on its own.
    Exited,
    TimedOut,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExitInfo {
    pub outcome: Outcome,
    /// Exit status when it exited normally.
    pub code: Option<i32>,
    /// Signal number when a signal ended it.
    pub signal: Option<i32>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Exited && self.code == Some(0)
    }
}

/// For people: `exit code 1`, `killed by signal 9`, `timed out`.
impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.outcome, self.code, self.signal) {
            (Outcome::TimedOut, _, _) => f.write_str("timed out"),
            (Outcome::Cancelled, _, _) => f.write_str("cancelled"),
            (_, _, Some(signal)) => write!(f, "killed by signal {signal}"),
            (_, Some(code), _) => write!(f, "exit code {code}"),
            _ => f.write_str("ended without an exit status"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The command could not be started (bash missing, cwd missing, fork failed…).
    #[error("cannot start the command: {0}")]
    Spawn(String),
    /// The target could not be reached (SSH connect, auth, host key).
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Receives a command's output as chunks that end at line boundaries (unless a line is huge).
/// Called from the executor's reading task, in order.
pub type OutputFn<'a> = Box<dyn FnMut(&[u8]) + Send + 'a>;

/// Called once the command started, with its process group (local) so leftovers can be found
/// after a crash.
pub type StartedFn<'a> = Box<dyn FnOnce(Option<i32>) + Send + 'a>;

pub type ExecFuture<'a> = Pin<Box<dyn Future<Output = Result<ExitInfo, ExecError>> + Send + 'a>>;

pub type UploadFuture<'a> = Pin<Box<dyn Future<Output = Result<(), ExecError>> + Send + 'a>>;

/// A file to put on a target, atomically: written to a temporary file beside `dest`, then
/// renamed over it, so readers see the old content or the new, never a part.
#[derive(Debug, Clone)]
pub struct UploadSpec {
    pub source: PathBuf,
    /// Absolute, or relative to the target's default directory.
    pub dest: String,
    /// Permission bits; `None` keeps those of the file being replaced (or the umask default).
    pub mode: Option<u32>,
    /// `user` or `user:group`; `None` keeps the replaced file's owner (or the current user).
    pub owner: Option<String>,
}

/// Runs commands on, and copies files to, one kind of target.
pub trait Executor: Send + Sync {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        on_start: StartedFn<'a>,
        on_output: OutputFn<'a>,
        cancel: &'a CancellationToken,
    ) -> ExecFuture<'a>;

    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a>;
}
