//! Executors: run a command on one target and stream its output.
//!
//! One interface for every target, so each engine feature (timeouts, env, secrets, output
//! capture, cancellation) behaves the same on the local node and on SSH nodes.
//!
//! Architecture invariant: executors know nothing of pipelines, stages, the store or the
//! project file. They take a [`CommandSpec`] and report an [`ExitInfo`].

mod chunker;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod escalation;
pub mod facts;
mod fanout;
mod host;
pub mod http;
mod local;
mod process;
pub mod shell;
pub mod upload;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use chunker::LineChunker;
pub use escalation::{Escalated, RunAs, escalate};
pub use fanout::{TaskPanic, fan_out, panic_message};
pub use host::{host_command, host_command_async};
pub use local::LocalExecutor;
pub use process::{kill_process_group, kill_processes_with_env, process_group_alive};
pub use shell::{ScriptOutput, quote, run_script, script_command_line};
pub use tokio_util::sync::CancellationToken;
pub use upload::{StagedBytes, plan_upload, upload_bytes};

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
    /// Run as another user through sudo (`become`); `None` = the login user.
    pub run_as: Option<RunAs>,
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
    /// The limit it exceeded, when `outcome` is `TimedOut` (for messages).
    pub timed_out_after: Option<Duration>,
}

impl ExitInfo {
    pub fn success(&self) -> bool {
        self.outcome == Outcome::Exited && self.code == Some(0)
    }
}

/// For people: "exit code 1", "killed by signal 9 (SIGKILL)", "timed out after 5s",
/// "cancelled".
impl std::fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.outcome {
            Outcome::TimedOut => match self.timed_out_after {
                Some(limit) => write!(f, "timed out after {}", human_duration(limit)),
                None => f.write_str("timed out"),
            },
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::Exited => match (self.code, self.signal) {
                (Some(code), _) => write!(f, "exit code {code}"),
                (None, Some(signal)) => match signal_name(signal) {
                    Some(name) => write!(f, "killed by signal {signal} ({name})"),
                    None => write!(f, "killed by signal {signal}"),
                },
                (None, None) => f.write_str("ended without an exit status"),
            },
        }
    }
}

/// `5s`, `1.5s`, `250ms`, `2m`, `1m30s`.
fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(1000) && ms < 60_000 {
        format!("{}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        match (s / 60, s % 60) {
            (0, s) => format!("{s}s"),
            (m, 0) => format!("{m}m"),
            (m, s) => format!("{m}m{s}s"),
        }
    }
}

/// The conventional name of a Linux signal number.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        11 => "SIGSEGV",
        12 => "SIGUSR2",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The command could not be started (bash missing, cwd missing, fork failed…).
    #[error("cannot start the command: {0}")]
    Spawn(String),
    /// The target could not be reached (SSH connect, auth, host key): nothing ran there.
    #[error("{0}")]
    Unreachable(String),
    /// The connection dropped while the command ran: it may or may not have finished there.
    #[error("{0}")]
    Lost(String),
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

/// A file (or a directory tree) to put on a target. Each file is written to a 0600 temporary
/// file beside its destination, checked for size and sha256 on the target, given its mode and
/// owner and renamed over the destination: readers see the old content or the new, never a
/// part, and a failed upload leaves the destination and its directory as they were. A
/// directory `source` syncs its tree into `dest` (see [`upload`]).
#[derive(Debug, Clone)]
pub struct UploadSpec {
    pub source: PathBuf,
    /// Absolute, or relative to the target's default directory.
    pub dest: String,
    /// Permission bits; `None` keeps those of the file being replaced (or the umask default).
    pub mode: Option<u32>,
    /// `user` or `user:group`; `None` keeps the replaced file's owner (or the current user).
    pub owner: Option<String>,
    /// Install as another user through sudo (`become`): the temporary file, the checks and
    /// the rename all run as that user, so the file lands owned by it.
    pub run_as: Option<RunAs>,
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

    /// Put `spec.source` on the target with the guarantees of [`UploadSpec`].
    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(outcome: Outcome, code: Option<i32>, signal: Option<i32>) -> ExitInfo {
        ExitInfo {
            outcome,
            code,
            signal,
            timed_out_after: (outcome == Outcome::TimedOut).then(|| Duration::from_secs(5)),
        }
    }

    #[test]
    fn exit_info_reads_as_words() {
        assert_eq!(
            exit(Outcome::Exited, Some(1), None).to_string(),
            "exit code 1"
        );
        assert_eq!(
            exit(Outcome::Exited, None, Some(9)).to_string(),
            "killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            exit(Outcome::TimedOut, None, Some(15)).to_string(),
            "timed out after 5s"
        );
        assert_eq!(
            exit(Outcome::Cancelled, None, Some(15)).to_string(),
            "cancelled"
        );
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
    }
}
