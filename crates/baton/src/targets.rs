//! The composition of executors: `local` runs here, every other node over pooled SSH.
//! The engine only sees the `Targets` trait; this is the one place that knows both kinds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use baton_engine::Targets;
use baton_exec::{ExecError, Executor, LocalExecutor};
use baton_model::{LOCAL_NODE, Project};
use baton_ssh::{NodeAddress, SshNode, SshOptions};

pub struct NodeTargets {
    local: Arc<LocalExecutor>,
    nodes: HashMap<String, Arc<SshNode>>,
}

impl NodeTargets {
    pub fn new(project: &Project) -> NodeTargets {
        let options = ssh_options(project);
        let config = baton_ssh::client_config();
        let user = current_user();
        let nodes = project
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
                (
                    node.name.clone(),
                    Arc::new(SshNode::new(address, options.clone(), config.clone())),
                )
            })
            .collect();
        NodeTargets {
            local: Arc::new(LocalExecutor),
            nodes,
        }
    }

    pub fn node(&self, name: &str) -> Option<&Arc<SshNode>> {
        self.nodes.get(name)
    }

    /// Close every open connection politely, so sshd frees its session processes at once.
    pub async fn disconnect_all(&self) {
        for node in self.nodes.values() {
            node.disconnect().await;
        }
    }
}

impl Targets for NodeTargets {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError> {
        if node == LOCAL_NODE {
            return Ok(self.local.clone());
        }
        match self.nodes.get(node) {
            Some(ssh) => Ok(ssh.clone()),
            None => Err(ExecError::Unreachable(format!(
                "no node named `{node}` in the inventory"
            ))),
        }
    }
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

fn current_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "root".to_string())
}
