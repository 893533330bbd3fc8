//! The composition of executors: `local` runs here, every other node over SSH — directly on
//! connections owned by this process, or, with `ssh: { persist: … }`, through the project's
//! connection daemon so connections outlive the command. The engine only sees the `Targets`
//! trait; this is the one place that knows every kind.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_engine::Targets;
use baton_exec::{ExecError, Executor, LocalExecutor};
use baton_model::{LOCAL_NODE, Project};
use baton_ssh::mux::MuxNode;
use baton_ssh::{NodeAddress, SshNode, SshOptions};

/// How long a command waits for a freshly started connection daemon to listen.
const DAEMON_START: Duration = Duration::from_secs(5);

pub struct NodeTargets {
    local: Arc<LocalExecutor>,
    executors: HashMap<String, Arc<dyn Executor>>,
    addresses: HashMap<String, NodeAddress>,
    /// Connections owned by this process (no daemon), closed by `disconnect_all`.
    direct: Vec<Arc<SshNode>>,
}

impl NodeTargets {
    pub fn new(project: &Project) -> NodeTargets {
        let options = ssh_options(project);
        let user = baton_store::os_user();
        let addresses: HashMap<String, NodeAddress> = project
            .nodes
            .values()
            .map(|node| {
                let address = NodeAddress {
                    name: node.name.clone(),
                    host: node.host.clone(),
                    port: node.port.unwrap_or(22),
                    user: node.user.clone().unwrap_or_else(|| user.clone()),
                    key: node.key.as_ref().map(|k| resolve(&project.root, k)),
                };
                (node.name.clone(), address)
            })
            .collect();
        let socket = match project.ssh.persist {
            Some(idle) if !addresses.is_empty() => start_daemon(&project.root, idle),
            _ => None,
        };
        let mut executors: HashMap<String, Arc<dyn Executor>> = HashMap::new();
        let mut direct = Vec::new();
        let config = baton_ssh::client_config();
        for (name, address) in &addresses {
            match &socket {
                Some(socket) => {
                    executors.insert(
                        name.clone(),
                        Arc::new(MuxNode::new(socket.clone(), address, &options)),
                    );
                }
                None => {
                    let node = Arc::new(SshNode::new(
                        address.clone(),
                        options.clone(),
                        config.clone(),
                    ));
                    direct.push(node.clone());
                    executors.insert(name.clone(), node);
                }
            }
        }
        NodeTargets {
            local: Arc::new(LocalExecutor),
            executors,
            addresses,
            direct,
        }
    }

    pub fn address(&self, name: &str) -> Option<&NodeAddress> {
        self.addresses.get(name)
    }

    /// Close every connection this process opened, so sshd frees its session processes at once.
    /// (The daemon's connections stay open: that is its purpose.)
    pub async fn disconnect_all(&self) {
        for node in &self.direct {
            node.disconnect().await;
        }
    }
}

impl Targets for NodeTargets {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError> {
        if node == LOCAL_NODE {
            return Ok(self.local.clone());
        }
        match self.executors.get(node) {
            Some(executor) => Ok(executor.clone()),
            None => Err(ExecError::Unreachable(format!(
                "no node named `{node}` in the inventory"
            ))),
        }
    }
}

/// The project's connection daemon socket, starting the daemon if none answers. `None` (direct
/// connections) if it cannot be started: persistence is an optimisation, never a failure.
fn start_daemon(root: &Path, idle: Duration) -> Option<PathBuf> {
    let dir = crate::open::state_dir(root).join("ssh");
    let socket = dir.join("mux.sock");
    if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
        return Some(socket);
    }
    std::fs::create_dir_all(&dir).ok()?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("mux.log"))
        .ok()?;
    let exe = std::env::current_exe().ok()?;
    let spawned = baton_exec::host_command(exe)
        .arg("ssh-mux")
        .arg("--socket")
        .arg(&socket)
        .arg("--idle-ms")
        .arg(idle.as_millis().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        // Its own process group: Ctrl-C in the terminal must not kill the shared daemon.
        .process_group(0)
        .spawn();
    if spawned.is_err() {
        return None;
    }
    let started = Instant::now();
    while started.elapsed() < DAEMON_START {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            return Some(socket);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn ssh_options(project: &Project) -> SshOptions {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    SshOptions {
        known_hosts: project
            .ssh
            .known_hosts
            .as_ref()
            .map(|p| resolve(&project.root, p))
            .unwrap_or_else(|| home.join(".ssh").join("known_hosts")),
        accept_new_host_keys: project.ssh.accept_new_host_keys,
        connect_timeout: project.ssh.connect_timeout,
    }
}

/// Project paths are relative to the project root; `~/` is the home directory.
fn resolve(root: &Path, path: &Path) -> PathBuf {
    if let Ok(rest) = path.strip_prefix("~") {
        return std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest);
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}
