//! Connections kept open between baton commands (`ssh: { persist: 10m }`), in the spirit of
//! OpenSSH's ControlPersist.
//!
//! A per-project daemon (`baton ssh-mux`) owns the SSH connections and listens on a Unix socket
//! under `.baton/` (mode 0700 directory, so only the same user reaches it). Each baton command
//! sends one request per command or upload over its own socket connection; the daemon runs it on
//! its cached connection to the node and streams the output back. The daemon exits after the
//! idle time. Requests carry the full node address and SSH options, so an edited `baton.yaml`
//! simply opens a new connection (the cache key changes) instead of using a stale one.
//!
//! Wire format: frames of `kind: u8`, `len: u32` (big endian), `payload`. Kind 0 is a JSON
//! message, kind 1 is raw output bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_exec::{
    CancellationToken, CommandSpec, ExecError, ExecFuture, Executor, ExitInfo, Outcome, OutputFn,
    RunAs, StartedFn, UploadFuture, UploadSpec,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use crate::connect::{NodeAddress, SshOptions};
use crate::node::SshNode;

const JSON: u8 = 0;
const BYTES: u8 = 1;
/// Largest frame accepted: bounds memory if the peer is confused.
const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash)]
struct Address {
    name: String,
    host: String,
    port: u16,
    user: String,
    key: Option<PathBuf>,
    known_hosts: PathBuf,
    accept_new_host_keys: bool,
    connect_timeout_ms: u64,
    #[serde(default)]
    jump: Option<Box<Address>>,
}

/// `become` across the socket (the daemon is this user's own process on this machine).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Escalation {
    user: String,
    password: Option<String>,
}

impl Escalation {
    fn of(run_as: &Option<RunAs>) -> Option<Escalation> {
        run_as.as_ref().map(|r| Escalation {
            user: r.user.clone(),
            password: r.password.clone(),
        })
    }

    fn run_as(escalation: Option<Escalation>) -> Option<RunAs> {
        escalation.map(|e| RunAs {
            user: e.user,
            password: e.password,
        })
    }
}

impl Address {
    fn new(node: &NodeAddress, options: &SshOptions) -> Address {
        Address {
            name: node.name.clone(),
            host: node.host.clone(),
            port: node.port,
            user: node.user.clone(),
            key: node.key.clone(),
            known_hosts: options.known_hosts.clone(),
            accept_new_host_keys: options.accept_new_host_keys,
            connect_timeout_ms: options.connect_timeout.as_millis() as u64,
            jump: node
                .jump
                .as_ref()
                .map(|j| Box::new(Address::new(j, options))),
        }
    }

    fn split(&self) -> (NodeAddress, SshOptions) {
        (
            NodeAddress {
                name: self.name.clone(),
                host: self.host.clone(),
                port: self.port,
                user: self.user.clone(),
                key: self.key.clone(),
                jump: self.jump.as_ref().map(|j| Box::new(j.split().0)),
            },
            SshOptions {
                known_hosts: self.known_hosts.clone(),
                accept_new_host_keys: self.accept_new_host_keys,
                connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            },
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Run {
        address: Address,
        script: String,
        env: Vec<(String, String)>,
        cwd: Option<PathBuf>,
        timeout_ms: Option<u64>,
        grace_ms: u64,
        #[serde(default)]
        run_as: Option<Escalation>,
    },
    Upload {
        address: Address,
        source: PathBuf,
        dest: String,
        mode: Option<u32>,
        owner: Option<String>,
        #[serde(default)]
        run_as: Option<Escalation>,
    },
    Cancel,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Reply {
    Exit {
        outcome: String,
        code: Option<i32>,
        signal: Option<i32>,
    },
    Done,
    Error {
        unreachable: bool,
        /// The connection dropped mid-command (outcome unknown).
        #[serde(default)]
        lost: bool,
        message: String,
    },
}

async fn write_frame(
    stream: &mut (impl AsyncWriteExt + Unpin),
    kind: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut header = [0u8; 5];
    header[0] = kind;
    header[1..].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    stream.write_all(&header).await?;
    stream.write_all(payload).await
}

async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
) -> std::io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; 5];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await?;
    Ok(Some((header[0], payload)))
}

async fn write_json<T: Serialize>(
    stream: &mut (impl AsyncWriteExt + Unpin),
    value: &T,
) -> std::io::Result<()> {
    write_frame(
        stream,
        JSON,
        &serde_json::to_vec(value).expect("messages serialize"),
    )
    .await
}

// ---------------------------------------------------------------- the daemon

/// Serve requests on `socket` until no request has come for `idle`.
pub async fn serve(socket: &Path, idle: Duration) -> std::io::Result<()> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    // A socket file left by a dead daemon would make bind fail.
    if UnixStream::connect(socket).await.is_err() {
        let _ = std::fs::remove_file(socket);
    }
    let listener = UnixListener::bind(socket)?;
    let state = Arc::new(Daemon {
        nodes: Mutex::new(HashMap::new()),
        last: Mutex::new(Instant::now()),
        active: Mutex::new(0),
    });
    let config = crate::client_config();
    loop {
        let wait = tokio::time::sleep(Duration::from_millis(500));
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted?;
                state.touch(1);
                let (state, config) = (state.clone(), config.clone());
                tokio::spawn(async move {
                    let _ = handle(stream, &state, config).await;
                    state.touch(-1);
                });
            }
            _ = wait => {
                if state.idle_for() >= idle {
                    break;
                }
            }
        }
    }
    let _ = std::fs::remove_file(socket);
    let nodes: Vec<Arc<SshNode>> = state
        .nodes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    for node in nodes {
        node.disconnect().await;
    }
    Ok(())
}

struct Daemon {
    nodes: Mutex<HashMap<Address, Arc<SshNode>>>,
    last: Mutex<Instant>,
    active: Mutex<i64>,
}

impl Daemon {
    fn touch(&self, delta: i64) {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) += delta;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        if *self.active.lock().unwrap_or_else(|p| p.into_inner()) > 0 {
            return Duration::ZERO;
        }
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    /// The cached node for `address`, replaced when its connection failed or closed, so a node
    /// that was down is tried again by the next command.
    fn node(&self, address: &Address, config: &Arc<russh::client::Config>) -> Arc<SshNode> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = nodes.get(address)
            && !node.is_broken()
        {
            return node.clone();
        }
        let (node, options) = address.split();
        let fresh = Arc::new(SshNode::new(node, options, config.clone()));
        nodes.insert(address.clone(), fresh.clone());
        fresh
    }
}

async fn handle(
    stream: UnixStream,
    daemon: &Daemon,
    config: Arc<russh::client::Config>,
) -> std::io::Result<()> {
    let (mut reader, writer) = stream.into_split();
    let Some((JSON, payload)) = read_frame(&mut reader).await? else {
        return Ok(());
    };
    let request: Request = serde_json::from_slice(&payload)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let writer = Arc::new(tokio::sync::Mutex::new(writer));
    match request {
        Request::Run {
            address,
            script,
            env,
            cwd,
            timeout_ms,
            grace_ms,
            run_as,
        } => {
            let node = daemon.node(&address, &config);
            let spec = CommandSpec {
                script,
                env,
                cwd,
                timeout: timeout_ms.map(Duration::from_millis),
                grace: Duration::from_millis(grace_ms),
                run_as: Escalation::run_as(run_as),
            };
            // The client cancels by a Cancel frame or by going away.
            let cancel = CancellationToken::new();
            let watcher = {
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    let _ = read_frame(&mut reader).await;
                    cancel.cancel();
                })
            };
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            let forward = {
                let writer = writer.clone();
                tokio::spawn(async move {
                    while let Some(chunk) = rx.recv().await {
                        if write_frame(&mut *writer.lock().await, BYTES, &chunk)
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                })
            };
            let result = node
                .run(
                    &spec,
                    Box::new(|_| {}),
                    Box::new(move |chunk| {
                        let _ = tx.send(chunk.to_vec());
                    }),
                    &cancel,
                )
                .await;
            let _ = forward.await;
            watcher.abort();
            let reply = match result {
                Ok(info) => Reply::Exit {
                    outcome: outcome_name(info.outcome).into(),
                    code: info.code,
                    signal: info.signal,
                },
                Err(e) => Reply::Error {
                    unreachable: matches!(e, ExecError::Unreachable(_)),
                    lost: matches!(e, ExecError::Lost(_)),
                    message: e.to_string(),
                },
            };
            write_json(&mut *writer.lock().await, &reply).await
        }
        Request::Upload {
            address,
            source,
            dest,
            mode,
            owner,
            run_as,
        } => {
            let node = daemon.node(&address, &config);
            let reply = match node
                .upload(&UploadSpec {
                    source,
                    dest,
                    mode,
                    owner,
                    run_as: Escalation::run_as(run_as),
                })
                .await
            {
                Ok(()) => Reply::Done,
                Err(e) => Reply::Error {
                    unreachable: matches!(e, ExecError::Unreachable(_)),
                    lost: matches!(e, ExecError::Lost(_)),
                    message: e.to_string(),
                },
            };
            write_json(&mut *writer.lock().await, &reply).await
        }
        Request::Cancel => Ok(()),
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Exited => "exited",
        Outcome::TimedOut => "timed_out",
        Outcome::Cancelled => "cancelled",
    }
}

// ---------------------------------------------------------------- the client side

/// An executor for one node that goes through the daemon's socket.
pub struct MuxNode {
    socket: PathBuf,
    address: Address,
}

impl MuxNode {
    pub fn new(socket: PathBuf, node: &NodeAddress, options: &SshOptions) -> MuxNode {
        MuxNode {
            socket,
            address: Address::new(node, options),
        }
    }

    async fn connect(&self) -> Result<UnixStream, ExecError> {
        UnixStream::connect(&self.socket).await.map_err(|e| {
            ExecError::Unreachable(format!(
                "{}: the SSH connection daemon at `{}` is not answering: {e}",
                self.address.name,
                self.socket.display()
            ))
        })
    }

    async fn run_remote(
        &self,
        spec: &CommandSpec,
        on_start: StartedFn<'_>,
        mut on_output: OutputFn<'_>,
        cancel: &CancellationToken,
    ) -> Result<ExitInfo, ExecError> {
        let mut stream = self.connect().await?;
        let request = Request::Run {
            address: self.address.clone(),
            script: spec.script.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            timeout_ms: spec.timeout.map(|t| t.as_millis() as u64),
            grace_ms: spec.grace.as_millis() as u64,
            run_as: Escalation::of(&spec.run_as),
        };
        write_json(&mut stream, &request).await?;
        on_start(None);
        let (mut reader, mut writer) = stream.into_split();
        let mut cancel_sent = false;
        loop {
            let frame = tokio::select! {
                frame = read_frame(&mut reader) => frame?,
                _ = cancel.cancelled(), if !cancel_sent => {
                    cancel_sent = true;
                    write_json(&mut writer, &Request::Cancel).await?;
                    continue;
                }
            };
            match frame {
                Some((BYTES, data)) => on_output(&data),
                Some((_, payload)) => return reply_to_exit(&payload, spec),
                None => {
                    return Err(ExecError::Unreachable(format!(
                        "{}: the SSH connection daemon closed the request",
                        self.address.name
                    )));
                }
            }
        }
    }

    async fn upload_remote(&self, spec: &UploadSpec) -> Result<(), ExecError> {
        let mut stream = self.connect().await?;
        // The daemon runs on this machine: it reads the file itself. Send an absolute path.
        let source = std::path::absolute(&spec.source).unwrap_or_else(|_| spec.source.clone());
        let request = Request::Upload {
            address: self.address.clone(),
            source,
            dest: spec.dest.clone(),
            mode: spec.mode,
            owner: spec.owner.clone(),
            run_as: Escalation::of(&spec.run_as),
        };
        write_json(&mut stream, &request).await?;
        match read_frame(&mut stream).await? {
            Some((JSON, payload)) => match serde_json::from_slice::<Reply>(&payload) {
                Ok(Reply::Done) => Ok(()),
                Ok(Reply::Error {
                    unreachable: true,
                    message,
                    ..
                }) => Err(ExecError::Unreachable(message)),
                Ok(Reply::Error { message, .. }) => Err(ExecError::Spawn(message)),
                _ => Err(ExecError::Spawn(
                    "unexpected answer from the SSH connection daemon".into(),
                )),
            },
            _ => Err(ExecError::Unreachable(format!(
                "{}: the SSH connection daemon closed the request",
                self.address.name
            ))),
        }
    }
}

fn reply_to_exit(payload: &[u8], spec: &CommandSpec) -> Result<ExitInfo, ExecError> {
    match serde_json::from_slice::<Reply>(payload) {
        Ok(Reply::Exit {
            outcome,
            code,
            signal,
        }) => {
            let outcome = match outcome.as_str() {
                "timed_out" => Outcome::TimedOut,
                "cancelled" => Outcome::Cancelled,
                _ => Outcome::Exited,
            };
            Ok(ExitInfo {
                outcome,
                code,
                signal,
                // The limit is the client's own: no need to send it back.
                timed_out_after: (outcome == Outcome::TimedOut)
                    .then_some(spec.timeout)
                    .flatten(),
            })
        }
        Ok(Reply::Error {
            unreachable: true,
            message,
            ..
        }) => Err(ExecError::Unreachable(message)),
        Ok(Reply::Error {
            lost: true,
            message,
            ..
        }) => Err(ExecError::Lost(message)),
        Ok(Reply::Error { message, .. }) => Err(ExecError::Spawn(message)),
        _ => Err(ExecError::Spawn(
            "unexpected answer from the SSH connection daemon".into(),
        )),
    }
}

impl Executor for MuxNode {
    fn run<'a>(
        &'a self,
        spec: &'a CommandSpec,
        on_start: StartedFn<'a>,
        on_output: OutputFn<'a>,
        cancel: &'a CancellationToken,
    ) -> ExecFuture<'a> {
        Box::pin(self.run_remote(spec, on_start, on_output, cancel))
    }

    fn upload<'a>(&'a self, spec: &'a UploadSpec) -> UploadFuture<'a> {
        Box::pin(self.upload_remote(spec))
    }
}

/// Whether a daemon answers on `socket`.
pub async fn daemon_alive(socket: &Path) -> bool {
    UnixStream::connect(socket).await.is_ok()
}
