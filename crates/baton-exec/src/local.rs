//! The local node: commands run as child processes in their own process group, so a timeout
//! or a cancel can end the whole tree they started.

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::chunker::LineChunker;
use crate::process::{kill_process_group, process_group_alive};
use crate::{
    CommandSpec, ExecError, ExecFuture, Executor, ExitInfo, Outcome, OutputFn, StartedFn,
    UploadFuture, UploadSpec,
};

/// Longest line kept whole in one output chunk; longer lines are cut (never buffered whole).
const MAX_LINE: usize = 256 * 1024;
/// Output gathered per read cycle (one chunk, one store write) when the writer is fast.
const READ_BUFFER: usize = 512 * 1024;
/// After the command's shell exits, how long to keep reading output from its leftovers.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

#[derive(Debug, Default, Clone)]
pub struct LocalExecutor;

impl Executor for LocalExecutor {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        on_start: StartedFn<'a>,
        on_output: OutputFn<'a>,
        cancel: &'a CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(run_local(spec, on_start, on_output, cancel))
    }

    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a> {
        Box::pin(async move { write_atomically(spec).map_err(ExecError::Spawn) })
    }
}

/// Copy `spec.source` to `spec.dest` through a temporary file in the same directory.
fn write_atomically(spec: &UploadSpec) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dest = std::path::Path::new(&spec.dest);
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.baton-{}", std::process::id()));
    let existing = std::fs::metadata(dest).ok();
    let result = (|| {
        std::fs::copy(&spec.source, &tmp)
            .map_err(|e| format!("cannot copy `{}`: {e}", spec.source.display()))?;
        let mode = spec
            .mode
            .or(existing.as_ref().map(|m| m.permissions().mode() & 0o7777));
        if let Some(mode) = mode {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("cannot set mode on `{}`: {e}", dest.display()))?;
        }
        match (&spec.owner, &existing) {
            (Some(owner), _) => {
                let status = crate::host_command("chown")
                    .arg(owner)
                    .arg(&tmp)
                    .status()
                    .map_err(|e| format!("chown: {e}"))?;
                if !status.success() {
                    return Err(format!("cannot give `{}` to `{owner}`", dest.display()));
                }
            }
            (None, Some(meta)) => {
                // Keep the replaced file's owner; only root can give files away.
                let _ = std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()));
            }
            (None, None) => {}
        }
        std::fs::File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, dest).map_err(|e| format!("cannot replace `{}`: {e}", dest.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

async fn run_local(
    spec: &CommandSpec,
    on_start: StartedFn<'_>,
    mut on_output: OutputFn<'_>,
    cancel: &CancellationToken,
) -> Result<ExitInfo, ExecError> {
    // One pipe for stdout and stderr: the log keeps the order in which lines were written,
    // as a terminal would show them.
    let (reader, writer) = std::io::pipe()?;
    // The local executor is the layer that starts processes on this machine.
    #[allow(clippy::disallowed_methods)]
    let mut command = Command::new("bash");
    command
        .arg("-eo")
        .arg("pipefail")
        .arg("-c")
        .arg(&spec.script)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer.try_clone()?))
        .stderr(Stdio::from(writer))
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .process_group(0)
        .kill_on_drop(false);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    let spawned = command.spawn();
    // The parent's copies of the write end must close, or the reader never sees end of file.
    drop(command);
    let mut child = spawned.map_err(|e| match &spec.cwd {
        Some(cwd) if !cwd.is_dir() => ExecError::Spawn(format!(
            "working directory `{}` does not exist",
            cwd.display()
        )),
        _ => ExecError::Spawn(format!("bash: {e}")),
    })?;
    let pgid = child.id().map(|id| id as i32);
    on_start(pgid);

    let mut receiver = pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    let mut chunker = LineChunker::new(MAX_LINE);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut emit = |chunk: &[u8]| on_output(chunk);

    let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
    let expired = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);

    let mut outcome = Outcome::Exited;
    let mut eof = false;
    let status = loop {
        tokio::select! {
            biased;
            read = receiver.read(&mut buf), if !eof => match read {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => {
                    // Take whatever else is already in the pipe: a fast writer then costs one
                    // chunk per buffer, not one per 4 KiB write, and a slow one is not delayed.
                    let filled = fill_available(&receiver, &mut buf, n);
                    chunker.push(&buf[..filled], &mut emit);
                }
            },
            status = child.wait() => break status?,
            _ = &mut expired, if outcome == Outcome::Exited => {
                outcome = Outcome::TimedOut;
                terminate(pgid, spec.grace);
            }
            _ = cancel.cancelled(), if outcome == Outcome::Exited => {
                outcome = Outcome::Cancelled;
                terminate(pgid, spec.grace);
            }
        }
    };
    // The shell is gone; what it left in its group (background jobs) goes with it, as CI
    // runners clean up orphans at the end of a job.
    if let Some(pgid) = pgid {
        kill_process_group(pgid, nix::libc::SIGKILL);
    }
    if !eof {
        let drain = async {
            loop {
                match receiver.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => chunker.push(&buf[..n], &mut emit),
                }
            }
        };
        // A process that left the group may hold the pipe open forever: stop waiting for it.
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, drain).await;
    }
    chunker.finish(&mut emit);
    Ok(ExitInfo {
        outcome,
        code: status.code(),
        signal: status.signal(),
    })
}

/// Read what is already buffered in the pipe after `filled` bytes, without waiting.
fn fill_available(receiver: &pipe::Receiver, buf: &mut [u8], mut filled: usize) -> usize {
    while filled < buf.len() {
        match receiver.try_read(&mut buf[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    filled
}

/// TERM the group now and KILL it after `grace` if anything is left.
fn terminate(pgid: Option<i32>, grace: Duration) {
    let Some(pgid) = pgid else { return };
    kill_process_group(pgid, nix::libc::SIGTERM);
    tokio::spawn(async move {
        let step = Duration::from_millis(50);
        let mut waited = Duration::ZERO;
        while waited < grace && process_group_alive(pgid) {
            tokio::time::sleep(step).await;
            waited += step;
        }
        kill_process_group(pgid, nix::libc::SIGKILL);
    });
}
