//! The composition of executors: `local` runs here, every other node over SSH — directly on
//! connections owned by this process, or, with `ssh: { persist: … }`, through the project's
//! connection daemon so connections outlive the command. The engine only sees the `Targets`
//! trait; this is the one place that knows every kind.
//!
//! Addresses are resolved here once per command (baton_ssh::resolve: the node's own keys, then
//! the OpenSSH client config, then `ssh:` defaults), and `become` too: a stage's, config's or
//! resource's written over its node's, the password read from the project's secrets.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use baton_engine::{SecretLoadError, SecretSource, Targets};
use baton_exec::{ExecError, Executor, LocalExecutor, RunAs};
use baton_model::{Become, LOCAL_NODE, Project, SshConfigFile};
use baton_ssh::mux::MuxNode;
use baton_ssh::resolve::{Defaults, NodeSpec, Resolver};
use baton_ssh::ssh_config::SshConfig;
use baton_ssh::{NodeAddress, SshNode, SshOptions};

/// How long a command waits for a freshly started connection daemon to listen.
const DAEMON_START: Duration = Duration::from_secs(5);

pub struct NodeTargets {
    local: Arc<LocalExecutor>,
    executors: HashMap<String, Arc<dyn Executor>>,
    addresses: HashMap<String, NodeAddress>,
    /// Nodes whose address could not be resolved (a bad ssh_config, a ProxyJump loop): why.
    unresolved: HashMap<String, String>,
    /// Connections owned by this process (no daemon), closed by `disconnect_all`.
    direct: Vec<Arc<SshNode>>,
    /// Each node's own `become`.
    escalation: HashMap<String, Become>,
    secrets: Arc<dyn SecretSource>,
    /// Become passwords read so far, by (secrets environment, secret name).
    passwords: Mutex<HashMap<(String, String), String>>,
}

impl NodeTargets {
    pub fn new(project: &Project) -> NodeTargets {
        let options = ssh_options(project);
        let (addresses, unresolved) = resolve_addresses(project);
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
            unresolved,
            direct,
            escalation: project
                .nodes
                .values()
                .map(|n| (n.name.clone(), n.r#become.clone()))
                .collect(),
            secrets: Arc::new(baton_secrets::ProjectSecrets::new(&project.root)),
            passwords: Mutex::new(HashMap::new()),
        }
    }

    /// The sudo password in secret `name` of environment `env`, read once.
    fn password(&self, name: &str, env: Option<&str>) -> Result<String, ExecError> {
        let env = env.unwrap_or(baton_engine::DEFAULT_SECRETS_ENV);
        let key = (env.to_string(), name.to_string());
        let mut cache = self.passwords.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(value) = cache.get(&key) {
            return Ok(value.clone());
        }
        let value = match self.secrets.load(env, &[name.to_string()]) {
            Ok(values) => values.into_iter().next().map(|(_, v)| v).ok_or_else(|| {
                ExecError::Spawn(format!(
                    "secret `{name}` has no value in environment `{env}`"
                ))
            })?,
            Err(SecretLoadError::Missing(_)) => {
                return Err(ExecError::Spawn(format!(
                    "`become_password_secret`: secret `{name}` is not set in environment \
                     `{env}`; set it with `baton secret set {name} --env {env}`"
                )));
            }
            Err(SecretLoadError::Failed(why)) => return Err(ExecError::Spawn(why)),
        };
        cache.insert(key, value.clone());
        Ok(value)
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
        if let Some(why) = self.unresolved.get(node) {
            return Err(ExecError::Unreachable(format!("{node}: {why}")));
        }
        match self.executors.get(node) {
            Some(executor) => Ok(executor.clone()),
            None => Err(ExecError::Unreachable(format!(
                "no node named `{node}` in the inventory"
            ))),
        }
    }

    fn executor_as(
        &self,
        node: &str,
        over: &Become,
        env: Option<&str>,
    ) -> Result<Arc<dyn Executor>, ExecError> {
        let executor = self.executor(node)?;
        let merged = match self.escalation.get(node) {
            Some(own) => over.over(own),
            None => over.clone(),
        };
        let Some(user) = merged.target_user() else {
            return Ok(executor);
        };
        let password = match &merged.password_secret {
            Some(name) => Some(self.password(&name.value, env)?),
            None => None,
        };
        let run_as = RunAs::new(user, password).map_err(ExecError::Spawn)?;
        Ok(baton_exec::escalate(executor, Some(run_as)))
    }
}

/// Every node's address, or why it has none. A node whose ssh_config cannot be read is
/// unreachable with that reason (nothing else is: the file is optional by default).
pub(crate) fn resolve_addresses(
    project: &Project,
) -> (HashMap<String, NodeAddress>, HashMap<String, String>) {
    let home = home();
    let local_user = baton_store::os_user();
    let specs: HashMap<String, NodeSpec> = project
        .nodes
        .values()
        .map(|node| {
            let spec = NodeSpec {
                name: node.name.clone(),
                host: node.host.clone(),
                port: node.port,
                user: node.user.clone(),
                key: node.key.as_ref().map(|k| resolve(&project.root, k)),
                proxy_jump: node.proxy_jump.clone(),
            };
            (node.name.clone(), spec)
        })
        .collect();
    let config = match &project.ssh.config {
        SshConfigFile::Off => Ok(None),
        SshConfigFile::User => {
            let path = home.join(".ssh").join("config");
            match path.is_file() {
                true => SshConfig::read(&path, &home).map(Some),
                false => Ok(None),
            }
        }
        SshConfigFile::Path(path) => {
            SshConfig::read(&resolve(&project.root, path), &home).map(Some)
        }
    };
    let config = match config {
        Ok(config) => config,
        Err(why) => {
            let why = format!("{why} (`ssh.config`)");
            return (
                HashMap::new(),
                specs.into_keys().map(|n| (n, why.clone())).collect(),
            );
        }
    };
    let resolver = Resolver {
        nodes: &specs,
        defaults: Defaults {
            user: project.ssh.user.clone(),
            port: project.ssh.port,
            key: project.ssh.key.as_ref().map(|k| resolve(&project.root, k)),
        },
        config: config.as_ref(),
        local_user,
        home,
    };
    let (mut addresses, mut unresolved) = (HashMap::new(), HashMap::new());
    for (name, spec) in &specs {
        match resolver.resolve(spec) {
            Ok(address) => {
                addresses.insert(name.clone(), address);
            }
            Err(why) => {
                unresolved.insert(name.clone(), why);
            }
        }
    }
    (addresses, unresolved)
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
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
