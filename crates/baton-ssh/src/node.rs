//! One node reached over SSH: a lazily opened, shared connection and the Executor on it.
//!
//! The connection is opened on first use and held for every later command. When it drops
//! (the node rebooted, a network cut), the next command opens a new one. When opening fails,
//! the failure is remembered for a backoff (1 s, doubling to 30 s): commands in that window
//! fail at once with the same reason instead of each waiting for the connect timeout, and a
//! long-lived holder (the monitor, the connection daemon) reaches the node again once it is
//! back, without hammering it meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_exec::{
    CancellationToken, CommandSpec, ExecError, ExecFuture, Executor, ExitInfo, LineChunker,
    Outcome, OutputFn, RunAs, StartedFn, UploadFuture, UploadSpec,
};
use russh::ChannelMsg;
use russh::client::Msg;
use tokio::sync::{Mutex, Semaphore};

use baton_exec::upload::{install_file_script, plan_upload, prepare_tree_script};

use crate::connect::{Connection, NodeAddress, SshOptions, connect};
use crate::remote;

/// Longest line kept whole in one output chunk, as on the local node.
const MAX_LINE: usize = 256 * 1024;
/// Output before the pid marker is passed through after this many bytes (a chatty login script).
const MARKER_SEARCH: usize = 64 * 1024;

/// How long a failed connect is remembered first; each further failure doubles it.
pub const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest a failure is remembered.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(30);

pub struct SshNode {
    address: NodeAddress,
    options: SshOptions,
    config: Arc<russh::client::Config>,
    /// Held across a connect, so concurrent commands wait for one attempt instead of each
    /// opening a connection.
    link: Mutex<Link>,
    channels: Semaphore,
}

/// The connection, or why the last attempt failed and until when that answer stands.
#[derive(Default)]
struct Link {
    connection: Option<Arc<Connection>>,
    failure: Option<Failure>,
}

struct Failure {
    why: String,
    retry_at: Instant,
    backoff: Duration,
}

impl Link {
    fn is_broken(&self) -> bool {
        match &self.connection {
            Some(conn) => conn.is_closed(),
            None => self.failure.is_some(),
        }
    }
}

impl SshNode {
    pub fn new(
        address: NodeAddress,
        options: SshOptions,
        config: Arc<russh::client::Config>,
    ) -> SshNode {
        SshNode {
            address,
            options,
            config,
            link: Mutex::new(Link::default()),
            channels: Semaphore::new(crate::CHANNELS_PER_CONNECTION),
        }
    }

    pub fn address(&self) -> &NodeAddress {
        &self.address
    }

    /// The node's open connection: the held one, else a new one unless a recent attempt failed
    /// (then that failure, at once, until its backoff ends).
    pub async fn connection(&self) -> Result<Arc<Connection>, ExecError> {
        let mut link = self.link.lock().await;
        if let Some(conn) = &link.connection {
            if !conn.is_closed() {
                return Ok(conn.clone());
            }
            link.connection = None;
        }
        let now = Instant::now();
        if let Some(failure) = &link.failure
            && now < failure.retry_at
        {
            return Err(self.unreachable(&failure.why));
        }
        match connect(&self.address, &self.options, self.config.clone()).await {
            Ok(conn) => {
                let conn = Arc::new(conn);
                link.connection = Some(conn.clone());
                link.failure = None;
                Ok(conn)
            }
            Err(why) => {
                let backoff = match &link.failure {
                    Some(previous) => (previous.backoff * 2).min(RECONNECT_BACKOFF_MAX),
                    None => RECONNECT_BACKOFF,
                };
                let error = self.unreachable(&why);
                link.failure = Some(Failure {
                    why,
                    retry_at: Instant::now() + backoff,
                    backoff,
                });
                Err(error)
            }
        }
    }

    fn unreachable(&self, why: &str) -> ExecError {
        ExecError::Unreachable(format!("{}: {why}", self.address.name))
    }

    /// Whether the last connect failed, or the connection has closed since: a cache of nodes
    /// (the connection daemon) replaces such a node instead of reusing it.
    pub fn is_broken(&self) -> bool {
        // A command holding the lock is connecting right now: not known broken.
        self.link.try_lock().is_ok_and(|link| link.is_broken())
    }

    /// Close the connection politely (sshd then frees its session processes at once).
    pub async fn disconnect(&self) {
        let conn = self.link.lock().await.connection.take();
        if let Some(conn) = conn {
            let _ = conn
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }

    async fn open_channel(
        &self,
    ) -> Result<(russh::Channel<Msg>, tokio::sync::SemaphorePermit<'_>), ExecError> {
        let conn = self.connection().await?;
        let permit = self.channels.acquire().await.expect("semaphore stays open");
        let channel = conn.channel_open_session().await.map_err(|e| {
            ExecError::Unreachable(format!(
                "{}: cannot open an SSH session: {e}",
                self.address.name
            ))
        })?;
        Ok((channel, permit))
    }

    /// Run a short helper command (a kill) on its own channel, ignoring its outcome.
    async fn side_command(&self, line: String, run_as: Option<&RunAs>) {
        let Ok((mut channel, _permit)) = self.open_channel().await else {
            return;
        };
        let (line, preamble) = remote::escalated(line, run_as);
        if channel.exec(true, line).await.is_ok() {
            let _ = channel.data(&preamble[..]).await;
            let _ = channel.eof().await;
            while let Some(msg) = channel.wait().await {
                if matches!(msg, ChannelMsg::Close) {
                    break;
                }
            }
        }
        let _ = channel.close().await;
    }

    async fn run_command(
        &self,
        spec: &CommandSpec,
        on_start: StartedFn<'_>,
        mut on_output: OutputFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<ExitInfo, ExecError> {
        let lost = |e: russh::Error| {
            ExecError::Unreachable(format!("{}: connection lost: {e}", self.address.name))
        };
        let line = remote::command_line(spec)?;
        let (mut channel, permit) = self.open_channel().await?;
        channel.exec(true, line).await.map_err(lost)?;
        if let Some(run_as) = &spec.run_as {
            channel
                .data(&run_as.stdin_preamble()[..])
                .await
                .map_err(lost)?;
        }
        // Commands get no stdin, as locally (/dev/null): nothing waits for input forever.
        channel.eof().await.map_err(lost)?;
        on_start(None);

        let mut chunker = LineChunker::new(MAX_LINE);
        let mut emit = |chunk: &[u8]| on_output(chunk);
        let mut head: Option<Vec<u8>> = Some(Vec::new());
        let mut pid: Option<u32> = None;
        let (mut code, mut signal) = (None, None);
        let mut outcome = Outcome::Exited;

        let deadline = spec.timeout.map(|t| tokio::time::Instant::now() + t);
        let expired = sleep_until(deadline);
        tokio::pin!(expired);
        let escalate = tokio::time::sleep(std::time::Duration::from_secs(365 * 24 * 3600));
        tokio::pin!(escalate);
        let mut escalated = false;

        loop {
            tokio::select! {
                msg = channel.wait() => match msg {
                    Some(ChannelMsg::Data { data }) => match head.as_mut() {
                        Some(buffer) => {
                            buffer.extend_from_slice(&data);
                            if let Some((found, rest)) = split_marker(buffer) {
                                pid = found;
                                chunker.push(&rest, &mut emit);
                                head = None;
                            } else if buffer.len() > MARKER_SEARCH {
                                chunker.push(buffer, &mut emit);
                                head = None;
                            }
                        }
                        None => chunker.push(&data, &mut emit),
                    },
                    // sudo's words (stderr) before the marker explain a refusal.
                    Some(ChannelMsg::ExtendedData { data, .. }) => match head.as_mut() {
                        Some(buffer) if spec.run_as.is_some() => buffer.extend_from_slice(&data),
                        _ => chunker.push(&data, &mut emit),
                    },
                    Some(ChannelMsg::ExitStatus { exit_status }) => code = Some(exit_status as i32),
                    Some(ChannelMsg::ExitSignal { signal_name, .. }) => signal = Some(remote::signal_number(&signal_name)),
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => {}
                },
                _ = &mut expired, if outcome == Outcome::Exited => {
                    outcome = Outcome::TimedOut;
                    self.terminate(pid, "TERM", spec.run_as.as_ref()).await;
                    escalate.as_mut().reset(tokio::time::Instant::now() + spec.grace);
                }
                _ = cancel.cancelled(), if outcome == Outcome::Exited => {
                    outcome = Outcome::Cancelled;
                    self.terminate(pid, "TERM", spec.run_as.as_ref()).await;
                    escalate.as_mut().reset(tokio::time::Instant::now() + spec.grace);
                }
                _ = &mut escalate, if outcome != Outcome::Exited && !escalated => {
                    escalated = true;
                    self.terminate(pid, "KILL", spec.run_as.as_ref()).await;
                }
            }
        }
        // russh does not send CHANNEL_CLOSE on drop: close explicitly or sshd keeps the session.
        let _ = channel.close().await;
        drop(permit);
        // The escalated shell prints the marker once sudo let it in: none means sudo refused.
        if let (Some(run_as), Some(said)) = (&spec.run_as, &head) {
            return Err(run_as.refused(&self.address.name, &String::from_utf8_lossy(said)));
        }
        if let Some(rest) = head {
            chunker.push(&rest, &mut emit);
        }
        chunker.finish(&mut emit);
        if code.is_none() && signal.is_none() && outcome == Outcome::Exited {
            return Err(ExecError::Lost(format!(
                "{}: the connection dropped while the command ran; whether it finished there is unknown",
                self.address.name
            )));
        }
        Ok(ExitInfo {
            outcome,
            code,
            signal,
            timed_out_after: (outcome == Outcome::TimedOut)
                .then_some(spec.timeout)
                .flatten(),
        })
    }

    async fn terminate(&self, pid: Option<u32>, signal: &str, run_as: Option<&RunAs>) {
        if let Some(pid) = pid {
            self.side_command(remote::kill_line(pid, signal), run_as)
                .await;
        }
    }

    /// Plan on this machine (walk, hash, refuse what cannot be copied), prepare a tree's
    /// directories in one command, then install each file with its own verified rename.
    async fn upload_file(&self, spec: &UploadSpec) -> Result<(), ExecError> {
        let owned = spec.clone();
        let plan = tokio::task::spawn_blocking(move || plan_upload(&owned))
            .await
            .map_err(|e| ExecError::Spawn(format!("the upload planning task failed: {e}")))??;
        let run_as = spec.run_as.as_ref();
        if plan.tree {
            let script = prepare_tree_script(&plan, spec.owner.as_deref());
            let (line, mut input) = remote::escalated("exec sh -s".into(), run_as);
            input.extend_from_slice(script.as_bytes());
            self.exec_with_input(line, Input::Bytes(input), &spec.dest)
                .await
                .map_err(|e| remote::upload_refused(e, run_as))?;
        }
        for file in &plan.files {
            let script = install_file_script(file, spec.mode, spec.owner.as_deref());
            let (line, preamble) = remote::escalated(script, run_as);
            self.exec_with_input(line, Input::File(&file.source, preamble), &file.dest)
                .await
                .map_err(|e| remote::upload_refused(e, run_as))?;
        }
        Ok(())
    }

    /// Run `line` with `input` on its stdin; `Ok` when it exits 0, else its stderr (the scripts
    /// explain themselves) or why the connection went.
    async fn exec_with_input(
        &self,
        line: String,
        input: Input<'_>,
        dest: &str,
    ) -> Result<(), ExecError> {
        let conn = self.connection().await?;
        let transfer = self.transfer(line, input, dest);
        tokio::pin!(transfer);
        // A send waiting for window space is not woken when the connection dies: watch it.
        loop {
            tokio::select! {
                result = &mut transfer => return result,
                _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {
                    if conn.is_closed() {
                        return Err(upload_lost(&self.address.name, dest, &"the connection closed"));
                    }
                }
            }
        }
    }

    async fn transfer(&self, line: String, input: Input<'_>, dest: &str) -> Result<(), ExecError> {
        use tokio::io::AsyncReadExt;
        let name = &self.address.name;
        let lost = |e: &dyn std::fmt::Display| upload_lost(name, dest, e);
        // Open the source before the channel: an unreadable file touches nothing remote.
        let mut file = match input {
            Input::File(path, _) => Some((
                path,
                tokio::fs::File::open(path).await.map_err(|e| {
                    ExecError::Spawn(format!("cannot read `{}`: {e}", path.display()))
                })?,
            )),
            Input::Bytes(_) => None,
        };
        let (mut channel, _permit) = self.open_channel().await?;
        channel.exec(true, line).await.map_err(|e| lost(&e))?;
        // A send fails when the script stopped reading (it refused, or failed early): what it
        // said then explains more than the send error, so keep going to read its exit.
        let mut send_error = None;
        let mut read_error = None;
        match (&input, &mut file) {
            (Input::Bytes(bytes), _) => {
                if let Err(e) = channel.data(&bytes[..]).await {
                    send_error = Some(e.to_string());
                }
            }
            (Input::File(_, preamble), Some((path, file))) => {
                if let Err(e) = channel.data(&preamble[..]).await {
                    send_error = Some(e.to_string());
                }
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match file.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => {
                            if let Err(e) = channel.data(&buf[..n]).await {
                                send_error = Some(e.to_string());
                                break;
                            }
                        }
                        // Stop sending: the script sees too few bytes and discards its copy.
                        Err(e) => {
                            read_error = Some(format!("cannot read `{}`: {e}", path.display()));
                            break;
                        }
                    }
                }
            }
            (Input::File(..), None) => unreachable!("the file was opened above"),
        }
        let _ = channel.eof().await;
        let mut code = None;
        let mut errors = Vec::new();
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                    errors.extend_from_slice(&data)
                }
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        let _ = channel.close().await;
        if let Some(why) = read_error {
            return Err(ExecError::Spawn(format!(
                "{name}: upload to `{dest}`: {why}; the destination is unchanged"
            )));
        }
        let said = String::from_utf8_lossy(&errors).trim().to_string();
        match code {
            Some(0) => Ok(()),
            Some(_) if !said.is_empty() => Err(ExecError::Spawn(format!("{name}: {said}"))),
            Some(code) => Err(ExecError::Spawn(format!(
                "{name}: upload to `{dest}` failed (exit code {code}); the destination is unchanged"
            ))),
            None => Err(lost(&send_error.unwrap_or_else(|| {
                "the channel closed without an exit status".into()
            }))),
        }
    }
}

fn upload_lost(name: &str, dest: &str, why: &dyn std::fmt::Display) -> ExecError {
    ExecError::Unreachable(format!(
        "{name}: connection lost during the upload to `{dest}`: {why}; the destination is \
         unchanged (the node discards the partial copy)"
    ))
}

/// What an upload command reads on stdin: bytes, or a file after a preamble (the become
/// password line).
enum Input<'a> {
    Bytes(Vec<u8>),
    File(&'a std::path::Path, Vec<u8>),
}

/// Find the pid marker line at the start of `buffer` (possibly after other output); returns
/// the pid and the bytes around it, the marker line removed.
fn split_marker(buffer: &[u8]) -> Option<(Option<u32>, Vec<u8>)> {
    let start = memchr_find(buffer, remote::PID_MARKER)?;
    let after = &buffer[start + remote::PID_MARKER.len()..];
    let end = after.iter().position(|b| *b == b'\n')?;
    let pid = std::str::from_utf8(&after[..end])
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let mut rest = buffer[..start].to_vec();
    rest.extend_from_slice(&after[end + 1..]);
    Some((pid, rest))
}

fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Executor for SshNode {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        on_start: StartedFn<'a>,
        on_output: OutputFn<'a>,
        cancel: &'a CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(self.run_command(spec, on_start, on_output, cancel))
    }

    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a> {
        Box::pin(self.upload_file(spec))
    }
}
