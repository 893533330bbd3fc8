//! One collection round: the metrics probe on every sampled node at once (bounded by
//! `ssh.forks`), over each node's held connection, turned into samples. A node that does not
//! answer is `up = 0` with the reason; nothing a node does can fail the round.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_exec::facts::{self, Facts};
use baton_exec::{CancellationToken, CommandSpec, ExecError, Executor};
use baton_store::{Millis, Sample};

/// Where the monitor gets a node's executor: `local` runs here, a node over its SSH
/// connection (held by whoever implements this, so a round never pays a handshake).
pub trait Executors: Send + Sync {
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError>;
}

impl<F> Executors for F
where
    F: Fn(&str) -> Result<Arc<dyn Executor>, ExecError> + Send + Sync,
{
    fn executor(&self, node: &str) -> Result<Arc<dyn Executor>, ExecError> {
        self(node)
    }
}

/// Output kept from one command: the probe prints a few hundred bytes; a node printing more
/// (a login banner gone wild) costs no more memory than this.
pub(crate) const OUTPUT_CAP: usize = 64 * 1024;

/// What one probe of one node read, as metric values.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReading {
    pub node: String,
    pub up: bool,
    /// By metric name (`cpu`, `memory`, `load1`, `disk`, `disk:/var`, `up`…). `cpu` is
    /// missing on a node's first reading (it is a difference between two).
    pub metrics: BTreeMap<String, f64>,
    /// Why the node is down.
    pub error: Option<String>,
}

impl NodeReading {
    pub fn samples(&self, at: Millis) -> impl Iterator<Item = Sample> + '_ {
        self.metrics.iter().map(move |(metric, value)| Sample {
            node: self.node.clone(),
            metric: metric.clone(),
            at,
            value: *value,
        })
    }
}

pub(crate) struct Collector {
    executors: Arc<dyn Executors>,
    script: Arc<String>,
    mounts: Arc<Vec<String>>,
    timeout: Duration,
    forks: usize,
    /// Each node's last CPU counters: one entry per sampled node, replaced each round.
    previous_cpu: Arc<Mutex<HashMap<String, (u64, u64)>>>,
}

impl Collector {
    pub fn new(
        executors: Arc<dyn Executors>,
        mounts: &[String],
        timeout: Duration,
        forks: usize,
    ) -> Collector {
        let paths: Vec<&str> = mounts.iter().map(String::as_str).collect();
        Collector {
            executors,
            script: Arc::new(facts::metrics_probe(&paths)),
            mounts: Arc::new(mounts.to_vec()),
            timeout,
            forks,
            previous_cpu: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Probe `nodes` at once; readings in the order of `nodes`.
    pub async fn round(&self, nodes: &[String]) -> Vec<NodeReading> {
        let executors = self.executors.clone();
        let script = self.script.clone();
        let timeout = self.timeout;
        let previous = self.previous_cpu.clone();
        let mounts = self.mounts.clone();
        let results = baton_exec::fan_out(nodes.to_vec(), self.forks, move |node| {
            let (executors, script, previous, mounts) = (
                executors.clone(),
                script.clone(),
                previous.clone(),
                mounts.clone(),
            );
            async move {
                let probed = probe(executors.as_ref(), &node, &script, timeout).await;
                reading(node, probed, &previous, &mounts)
            }
        })
        .await;
        nodes
            .iter()
            .zip(results)
            .map(|(node, result)| {
                result.unwrap_or_else(|panic| down(node.clone(), panic.to_string()))
            })
            .collect()
    }
}

fn down(node: String, error: String) -> NodeReading {
    NodeReading {
        node,
        up: false,
        metrics: BTreeMap::from([("up".to_string(), 0.0)]),
        error: Some(error),
    }
}

fn reading(
    node: String,
    probed: Result<Facts, String>,
    previous: &Mutex<HashMap<String, (u64, u64)>>,
    mounts: &[String],
) -> NodeReading {
    let facts = match probed {
        Ok(facts) => facts,
        Err(why) => return down(node, why),
    };
    let mut metrics = BTreeMap::from([("up".to_string(), 1.0)]);
    let before = previous
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(node.clone(), facts.cpu_jiffies);
    if let Some(cpu) = before.and_then(|b| facts::cpu_busy_percent(b, facts.cpu_jiffies)) {
        metrics.insert("cpu".into(), cpu);
    }
    if facts.memory_total_bytes > 0 {
        metrics.insert("memory".into(), facts.memory_used_percent());
    }
    for (name, value) in ["load1", "load5", "load15"].into_iter().zip(facts.load) {
        metrics.insert(name.into(), value);
    }
    for mount in mounts {
        if let Some(disk) = facts.disk(mount) {
            let name = if mount == "/" {
                "disk".to_string()
            } else {
                format!("disk:{mount}")
            };
            metrics.insert(name, disk.used_percent());
        }
    }
    NodeReading {
        node,
        up: true,
        metrics,
        error: None,
    }
}

/// Run the probe on `node`: its facts, or why not (unreachable, timed out, a failed script).
async fn probe(
    executors: &dyn Executors,
    node: &str,
    script: &str,
    timeout: Duration,
) -> Result<Facts, String> {
    let (info, output) = run_captured(executors, node, script, timeout).await?;
    if !info.success() {
        let said = output.lines().last().unwrap_or("").trim();
        return Err(if said.is_empty() {
            format!("the probe failed: {info}")
        } else {
            format!("the probe failed: {info}: {said}")
        });
    }
    let facts = facts::parse(&output);
    if facts.cpu_jiffies.1 == 0 {
        // No /proc/stat line: not Linux, or the node printed something else.
        return Err("the probe read no /proc/stat (is the node Linux?)".into());
    }
    Ok(facts)
}

/// Run `script` on `node` within `timeout`; its exit and output (capped at [`OUTPUT_CAP`]).
pub(crate) async fn run_captured(
    executors: &dyn Executors,
    node: &str,
    script: &str,
    timeout: Duration,
) -> Result<(baton_exec::ExitInfo, String), String> {
    let executor = executors.executor(node).map_err(|e| strip(node, e))?;
    let spec = CommandSpec {
        script: script.to_string(),
        timeout: Some(timeout),
        grace: Duration::from_secs(1),
        ..Default::default()
    };
    let output = Arc::new(Mutex::new(Vec::new()));
    let sink = output.clone();
    // The executor's own timeout covers the command; this one covers a connect that hangs.
    let ran = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        executor.run(
            &spec,
            Box::new(|_| {}),
            Box::new(move |chunk| {
                let mut kept = sink.lock().unwrap_or_else(|p| p.into_inner());
                let room = OUTPUT_CAP.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }),
            &CancellationToken::new(),
        ),
    )
    .await
    .map_err(|_| format!("no answer within {}s", timeout.as_secs() + 5))?
    .map_err(|e| strip(node, e))?;
    let text =
        String::from_utf8_lossy(&output.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    Ok((ran, text))
}

/// An executor's error without the node name it starts with (the caller names the node).
fn strip(node: &str, e: ExecError) -> String {
    let text = e.to_string();
    text.strip_prefix(&format!("{node}: "))
        .map(str::to_string)
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Arc<dyn Executors> {
        Arc::new(|node: &str| -> Result<Arc<dyn Executor>, ExecError> {
            match node {
                "local" => Ok(Arc::new(baton_exec::LocalExecutor)),
                other => Err(ExecError::Unreachable(format!(
                    "{other}: connection refused"
                ))),
            }
        })
    }

    #[tokio::test]
    async fn a_round_reads_metrics_here_and_marks_an_unreachable_node_down() {
        let mounts = vec!["/".to_string(), "/tmp".to_string()];
        let collector = Collector::new(local(), &mounts, Duration::from_secs(10), 4);
        let nodes = vec!["local".to_string(), "gone".to_string()];
        let first = collector.round(&nodes).await;
        let here = &first[0];
        assert!(here.up, "{here:?}");
        for metric in [
            "up",
            "memory",
            "load1",
            "load5",
            "load15",
            "disk",
            "disk:/tmp",
        ] {
            assert!(here.metrics.contains_key(metric), "{metric} in {here:?}");
        }
        assert!(
            !here.metrics.contains_key("cpu"),
            "cpu needs a previous reading"
        );
        let gone = &first[1];
        assert_eq!((gone.up, gone.metrics.get("up")), (false, Some(&0.0)));
        assert_eq!(gone.error.as_deref(), Some("connection refused"));

        let second = collector.round(&nodes).await;
        let cpu = second[0].metrics.get("cpu").copied();
        assert!(
            cpu.is_some_and(|c| (0.0..=100.0).contains(&c)),
            "{:?}",
            second[0]
        );
        let samples: Vec<Sample> = second[0].samples(42).collect();
        assert!(samples.iter().all(|s| s.at == 42 && s.node == "local"));
        assert_eq!(samples.len(), second[0].metrics.len());
    }
}
