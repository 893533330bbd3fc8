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
        if let Some(run_as) = &spec.run_as {
            return Box::pin(upload_as(spec, run_as));
        }
        // Plain file I/O with fsyncs: on a blocking thread, so parallel uploads overlap instead
        // of holding the async workers.
        let spec = spec.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || crate::upload::upload_locally(&spec))
                .await
                .map_err(|e| ExecError::Spawn(format!("the upload task failed: {e}")))?
        })
    }
}

async fn run_local(
    spec: &CommandSpec,
    on_start: StartedFn<'_>,
    mut on_output: OutputFn<'_>,
    cancel: &CancellationToken,
) -> Result<ExitInfo, ExecError> {
    // One pipe for stdout and stderr: the log keeps the order in which lines were written,
    // as a terminal would show them.
    crate::shell::check_env(&spec.env)?;
    let (reader, writer) = std::io::pipe()?;
    // The local executor is the layer that starts processes on this machine.
    #[allow(clippy::disallowed_methods)]
    let mut command = match &spec.run_as {
        None => {
            let mut bash = Command::new("bash");
            bash.args(crate::shell::bash_args(&spec.script))
                .stdin(Stdio::null());
            bash
        }
        // sudo stays in the group, so a timeout's group kill reaches it (it relays the signal
        // to the command when baton is not root).
        Some(run_as) => {
            let names: Vec<&str> = spec.env.iter().map(|(n, _)| n.as_str()).collect();
            let inner = format!("exec </dev/null; {}", crate::shell::exec_line(spec));
            let mut sh = Command::new("sh");
            sh.arg("-c")
                .arg(run_as.sudo_line(&names, &inner, &[]))
                .stdin(match run_as.password {
                    Some(_) => Stdio::piped(),
                    None => Stdio::null(),
                });
            sh
        }
    };
    command
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
    if let (Some(run_as), Some(mut stdin)) = (&spec.run_as, child.stdin.take()) {
        use tokio::io::AsyncWriteExt;
        // The password line, then end of file: the shell reads one line, sudo none.
        let _ = stdin.write_all(&run_as.stdin_preamble()).await;
    }
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
        timed_out_after: (outcome == Outcome::TimedOut)
            .then_some(spec.timeout)
            .flatten(),
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

/// An upload as another user: the same install scripts the SSH executor sends, run through
/// sudo with the bytes on stdin (after the password line).
async fn upload_as(spec: &UploadSpec, run_as: &crate::RunAs) -> Result<(), ExecError> {
    use crate::upload::{install_file_script, plan_upload, prepare_tree_script};
    let owned = spec.clone();
    let plan = tokio::task::spawn_blocking(move || plan_upload(&owned))
        .await
        .map_err(|e| ExecError::Spawn(format!("the upload planning task failed: {e}")))??;
    if plan.tree {
        let script = prepare_tree_script(&plan, spec.owner.as_deref());
        sh_with_input(run_as, "exec sh -s", script.as_bytes(), None).await?;
    }
    for file in &plan.files {
        let script = install_file_script(file, spec.mode, spec.owner.as_deref());
        sh_with_input(run_as, &script, &[], Some(&file.source)).await?;
    }
    Ok(())
}

/// Run `script` as `run_as` with `bytes` then the file `source` on stdin; `Ok` on exit 0, else
/// what it said.
async fn sh_with_input(
    run_as: &crate::RunAs,
    script: &str,
    bytes: &[u8],
    source: Option<&std::path::Path>,
) -> Result<(), ExecError> {
    use tokio::io::AsyncWriteExt;
    let mut file = match source {
        Some(path) => Some(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| ExecError::Spawn(format!("cannot read `{}`: {e}", path.display())))?,
        ),
        None => None,
    };
    // The local executor is the layer that starts processes on this machine.
    #[allow(clippy::disallowed_methods)]
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(run_as.script_line(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ExecError::Spawn(format!("sh: {e}")))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let feed = async move {
        stdin.write_all(&run_as.stdin_preamble()).await?;
        stdin.write_all(bytes).await?;
        if let Some(file) = file.as_mut() {
            tokio::io::copy(file, &mut stdin).await?;
        }
        stdin.shutdown().await
    };
    // A script that stops reading (it refused) ends the feed with a broken pipe: its words
    // explain more, so the feed's error is not the answer.
    let (_, output) = tokio::join!(feed, child.wait_with_output());
    let output = output?;
    if output.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if said.is_empty() {
        said = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    if said.starts_with("sudo:") || said.starts_with("Sorry") {
        return Err(run_as.refused("", &said));
    }
    Err(ExecError::Spawn(if said.is_empty() {
        format!("the upload failed ({})", output.status)
    } else {
        said
    }))
}
