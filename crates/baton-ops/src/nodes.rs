//! Node operations: resolve a selector, list the inventory, ping and gather facts — each
//! node probed over the executors, at most `ssh.forks` at once.

use std::time::{Duration, Instant};

use baton_engine::Targets;
use baton_exec::facts;
use baton_exec::{CancellationToken, CommandSpec};
use baton_model::{LOCAL_NODE, Selector};

use crate::api::nodes::{Facts, NodeInfo, Pong};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;
use crate::targets::NodeTargets;

impl Ops {
    /// The nodes `selector` matches; matching none is a usage error listing the nodes.
    pub fn select(&self, selector: &str) -> OpsResult<Vec<String>> {
        let parsed = Selector::parse(selector).map_err(|e| OpsError::usage(e.to_string()))?;
        self.project.select(&parsed).map_err(|e| {
            let names: Vec<&str> = self
                .project
                .nodes
                .keys()
                .map(String::as_str)
                .chain([LOCAL_NODE])
                .collect();
            OpsError::usage(e.to_string()).with_hint(format!("nodes: {}", names.join(", ")))
        })
    }

    /// The inventory (every node and `local` when `selector` is `None`).
    pub fn nodes(&self, selector: Option<&str>) -> OpsResult<Vec<NodeInfo>> {
        let names = match selector {
            Some(selector) => self.select(selector)?,
            None => self
                .project
                .nodes
                .keys()
                .cloned()
                .chain([LOCAL_NODE.to_string()])
                .collect(),
        };
        // Where each node really is (ssh_config, `ssh:` defaults), without connecting.
        let (addresses, _) = crate::targets::resolve_addresses(&self.project);
        Ok(names
            .iter()
            .map(|name| self.node_info(name, addresses.get(name)))
            .collect())
    }

    fn node_info(&self, name: &str, address: Option<&baton_ssh::NodeAddress>) -> NodeInfo {
        match self.project.nodes.get(name) {
            Some(n) => NodeInfo {
                name: n.name.clone(),
                host: address.map_or_else(|| n.host.clone(), |a| a.host.clone()),
                port: address.map_or(n.port.unwrap_or(22), |a| a.port),
                user: address.map(|a| a.user.clone()).or_else(|| n.user.clone()),
                roles: n.roles.clone(),
                labels: n.labels.clone(),
                facts: None,
                error: None,
            },
            None => NodeInfo {
                name: LOCAL_NODE.into(),
                host: "this machine".into(),
                port: 0,
                user: None,
                roles: Vec::new(),
                labels: Default::default(),
                facts: None,
                error: None,
            },
        }
    }

    /// Facts of every node in `nodes`, gathered in parallel (bounded by `ssh.forks`).
    pub async fn gather_facts(&self, nodes: &mut [NodeInfo]) {
        let targets = self.targets();
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let probing = targets.clone();
        let results = baton_exec::fan_out(names, self.forks(), move |name| {
            let targets = probing.clone();
            async move { probe_facts(&targets, &name).await }
        })
        .await;
        targets.disconnect_all().await;
        for (node, result) in nodes.iter_mut().zip(results) {
            match result.map_err(|p| p.to_string()).and_then(|r| r) {
                Ok(facts) => node.facts = Some(facts),
                Err(e) => node.error = Some(e),
            }
        }
    }

    /// Connect, authenticate and run `true` on each node `selector` matches.
    pub async fn ping(&self, selector: &str) -> OpsResult<Vec<Pong>> {
        let names = self.select(selector)?;
        let targets = self.targets();
        let probing = targets.clone();
        let results = baton_exec::fan_out(names.clone(), self.forks(), move |name| {
            let targets = probing.clone();
            async move {
                let started = Instant::now();
                let result = probe_true(&targets, &name).await;
                (started.elapsed(), result)
            }
        })
        .await;
        targets.disconnect_all().await;
        Ok(names
            .into_iter()
            .zip(results)
            .map(|(node, result)| {
                let address = match targets.address(&node) {
                    Some(a) => match &a.jump {
                        Some(via) => format!("{}@{}:{} via {}", a.user, a.host, a.port, via.name),
                        None => format!("{}@{}:{}", a.user, a.host, a.port),
                    },
                    None if node == baton_model::LOCAL_NODE => "this machine".to_string(),
                    None => "-".to_string(),
                };
                let (took, result) = match result {
                    Ok((took, result)) => (took, result),
                    Err(panic) => (Duration::ZERO, Err(panic.to_string())),
                };
                Pong {
                    node,
                    address,
                    reachable: result.is_ok(),
                    time_ms: took.as_millis() as u64,
                    error: result.err(),
                }
            })
            .collect())
    }

    /// `ssh.forks`: how many targets any fan-out works on at once.
    pub fn forks(&self) -> usize {
        self.project.ssh.forks.max(1) as usize
    }
}

async fn probe_true(targets: &NodeTargets, name: &str) -> Result<(), String> {
    let executor = targets.executor(name).map_err(|e| e.to_string())?;
    let spec = CommandSpec {
        script: "true".into(),
        grace: Duration::from_secs(1),
        ..Default::default()
    };
    let info = executor
        .run(
            &spec,
            Box::new(|_| {}),
            Box::new(|_| {}),
            &CancellationToken::new(),
        )
        .await
        .map_err(|e| {
            e.to_string()
                .trim_start_matches(&format!("{name}: "))
                .to_string()
        })?;
    if info.success() {
        Ok(())
    } else {
        Err(format!("`true` failed on the node: {info}"))
    }
}

async fn probe_facts(targets: &NodeTargets, name: &str) -> Result<Facts, String> {
    let executor = targets.executor(name).map_err(|e| e.to_string())?;
    facts::gather(executor.as_ref()).await
}
