//! Node facts and metrics gathered agentlessly: one shell probe reading `/proc` (and `df`,
//! `uname` for facts), parsed here. `baton nodes --facts` and the monitor's collector send the
//! same probe text, so a node answers both the same way. Templates read them as `node.facts`,
//! gathered once per node by a [`FactsCache`] when a template uses them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::{CommandSpec, Executor};

/// How long the facts probe may take on one node.
pub const FACTS_TIMEOUT: Duration = Duration::from_secs(30);

/// Identity lines, for facts only (the monitor does not need them every round).
const IDENTITY: &str = r#"
echo "hostname=$(uname -n)"
echo "os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
read -r up _ < /proc/uptime; echo "uptime_s=${up%.*}"
"#;

/// The facts probe: identity, then the metrics of `/`. Prints `key=value` lines (and the
/// `cpu` line of `/proc/stat`); every value degrades to empty rather than failing the probe.
pub fn facts_probe() -> String {
    format!("{IDENTITY}{}", metrics_probe(&["/"]))
}

/// The metrics probe: memory, load, the cumulative CPU counters and the usage of each of
/// `mounts` (absolute paths, the model's `disk:/PATH`), in one POSIX shell script. Shell
/// builtins read `/proc` (no process per file); `df` is the only command, once per mount.
pub fn metrics_probe(mounts: &[&str]) -> String {
    let mut script = String::from(
        r#"
while read -r k v _; do case "$k" in MemTotal:) echo "mem_total_kb=$v";; MemAvailable:) echo "mem_available_kb=$v";; esac; done < /proc/meminfo
read -r l1 l5 l15 _ < /proc/loadavg; echo "load=$l1 $l5 $l15"
read -r cpu < /proc/stat; echo "$cpu"
"#,
    );
    for mount in mounts {
        let quoted = crate::quote(mount);
        script.push_str(&format!(
            "df -Pk {quoted} 2>/dev/null | {{ read -r _; read -r _ t u a _; [ -n \"$a\" ] && echo disk={quoted} \"$t $u $a\"; }} || true\n"
        ));
    }
    script
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpus: u32,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub load: [f64; 3],
    pub disk_total_bytes: u64,
    pub disk_used_bytes: u64,
    pub uptime_seconds: u64,
    /// Cumulative CPU jiffies (busy, total) from `/proc/stat`, for CPU use between samples.
    pub cpu_jiffies: (u64, u64),
    /// Every mount the probe measured (`/` is also in `disk_*`).
    #[serde(skip)]
    pub disks: Vec<DiskUsage>,
}

/// One mount point as `df -P` reports it, in bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiskUsage {
    /// The path asked for (`/var`), not necessarily a mount point itself.
    pub path: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
}

impl DiskUsage {
    /// % used as `df` counts it: of the space ordinary users may fill (blocks reserved for
    /// root are neither used nor available).
    pub fn used_percent(&self) -> f64 {
        percent(self.used_bytes, self.used_bytes + self.available_bytes)
    }
}

impl Facts {
    pub fn memory_used_percent(&self) -> f64 {
        percent(
            self.memory_total_bytes
                .saturating_sub(self.memory_available_bytes),
            self.memory_total_bytes,
        )
    }

    pub fn disk_used_percent(&self) -> f64 {
        percent(self.disk_used_bytes, self.disk_total_bytes)
    }

    /// The usage of `path` when the probe measured it.
    pub fn disk(&self, path: &str) -> Option<&DiskUsage> {
        self.disks.iter().find(|d| d.path == path)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// CPU use between two readings of the cumulative counters, in % busy; `None` when no time
/// passed for the counters or they went back (the node rebooted).
pub fn cpu_busy_percent(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let busy = after.0.checked_sub(before.0)?;
    let total = after.1.checked_sub(before.1)?;
    if total == 0 {
        return None;
    }
    Some((busy as f64 * 100.0 / total as f64).clamp(0.0, 100.0))
}

/// Parse the probe's output; unknown or malformed lines are ignored.
pub fn parse(output: &str) -> Facts {
    let mut facts = Facts::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal; guest time is already counted in
            // user and nice, so the fields after steal would count it twice.
            let values: Vec<u64> = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse().ok())
                .collect();
            let total: u64 = values.iter().sum();
            // idle + iowait are not busy.
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            facts.cpu_jiffies = (total.saturating_sub(idle), total);
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let number = || value.trim().parse::<u64>().unwrap_or(0);
        match key {
            "hostname" => facts.hostname = value.trim().to_string(),
            "os" => facts.os = value.trim().to_string(),
            "kernel" => facts.kernel = value.trim().to_string(),
            "arch" => facts.arch = value.trim().to_string(),
            "cpus" => facts.cpus = number() as u32,
            "mem_total_kb" => facts.memory_total_bytes = number() * 1024,
            "mem_available_kb" => facts.memory_available_bytes = number() * 1024,
            "uptime_s" => facts.uptime_seconds = number(),
            "load" => {
                let loads: Vec<f64> = value
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if loads.len() == 3 {
                    facts.load = [loads[0], loads[1], loads[2]];
                }
            }
            "disk" => {
                let fields: Vec<&str> = value.split_whitespace().collect();
                let kb: Vec<u64> = fields
                    .iter()
                    .skip(1)
                    .filter_map(|v| v.parse().ok())
                    .collect();
                if let ([path, ..], [total, used, available]) = (fields.as_slice(), kb.as_slice()) {
                    let disk = DiskUsage {
                        path: path.to_string(),
                        total_bytes: total * 1024,
                        used_bytes: used * 1024,
                        available_bytes: available * 1024,
                    };
                    if disk.path == "/" {
                        facts.disk_total_bytes = disk.total_bytes;
                        facts.disk_used_bytes = disk.used_bytes;
                    }
                    facts.disks.push(disk);
                }
            }
            _ => {}
        }
    }
    facts
}

impl Facts {
    /// What templates see as `node.facts`: the facts with the memory also in MiB (as
    /// Ansible's `ansible_memtotal_mb`), without the raw CPU counters.
    pub fn template_value(&self) -> serde_json::Value {
        serde_json::json!({
            "hostname": self.hostname,
            "os": self.os,
            "kernel": self.kernel,
            "arch": self.arch,
            "cpus": self.cpus,
            "memory_mb": self.memory_total_bytes / (1024 * 1024),
            "memory_total_bytes": self.memory_total_bytes,
            "memory_available_bytes": self.memory_available_bytes,
            "load": self.load,
            "disk_total_bytes": self.disk_total_bytes,
            "disk_used_bytes": self.disk_used_bytes,
            "uptime_seconds": self.uptime_seconds,
        })
    }
}

/// Run the facts probe with `executor`; the facts, or why there are none.
pub async fn gather(executor: &dyn Executor) -> Result<Facts, String> {
    let spec = CommandSpec {
        script: facts_probe(),
        timeout: Some(FACTS_TIMEOUT),
        grace: Duration::from_secs(1),
        ..Default::default()
    };
    let out = crate::run_script(executor, &spec, &CancellationToken::new())
        .await
        .map_err(|e| e.to_string())?;
    if !out.success() {
        return Err(format!("the facts probe failed: {}", out.exit));
    }
    Ok(parse(&out.text()))
}

/// Facts gathered at most once per node for as long as the cache lives (one run, one config
/// apply): concurrent askers for one node wait for the same probe.
#[derive(Debug, Default)]
pub struct FactsCache {
    nodes: Mutex<HashMap<String, Arc<Gathering>>>,
}

/// One node's probe: run by the first asker, awaited by the others.
type Gathering = OnceCell<Result<Facts, String>>;

impl FactsCache {
    /// `node`'s facts, probed with `executor` the first time they are asked for.
    pub async fn get(&self, node: &str, executor: &dyn Executor) -> Result<Facts, String> {
        let cell = self
            .nodes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(node.to_string())
            .or_default()
            .clone();
        cell.get_or_init(|| gather(executor)).await.clone()
    }

    /// `node`'s facts as templates see them, when they were gathered (else none).
    pub fn template_value(&self, node: &str) -> Option<serde_json::Value> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        match nodes.get(node)?.get()? {
            Ok(facts) => Some(facts.template_value()),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_here(script: &str) -> Facts {
        let out = crate::host_command("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        parse(&String::from_utf8_lossy(&out.stdout))
    }

    #[test]
    fn the_probe_runs_here_and_parses() {
        let facts = run_here(&facts_probe());
        assert!(facts.cpus >= 1, "{facts:?}");
        assert!(facts.memory_total_bytes > facts.memory_available_bytes);
        assert!(facts.disk_total_bytes > 0);
        assert!(!facts.kernel.is_empty());
        assert!(facts.cpu_jiffies.1 > facts.cpu_jiffies.0);
    }

    #[test]
    fn the_metrics_probe_measures_each_mount_and_skips_missing_ones() {
        let facts = run_here(&metrics_probe(&["/", "/tmp", "/no/such/mount"]));
        assert!(
            facts.disk("/").is_some_and(|d| d.total_bytes > 0),
            "{facts:?}"
        );
        assert!(facts.disk("/tmp").is_some(), "{facts:?}");
        assert!(facts.disk("/no/such/mount").is_none(), "{facts:?}");
        let used = facts.disk("/").unwrap().used_percent();
        assert!((0.0..=100.0).contains(&used));
        assert!(facts.memory_used_percent() > 0.0);
        assert!(facts.os.is_empty(), "identity is for facts only");
    }

    #[test]
    fn cpu_use_is_the_busy_share_between_two_readings() {
        assert_eq!(cpu_busy_percent((100, 1000), (150, 1100)), Some(50.0));
        assert_eq!(cpu_busy_percent((100, 1000), (100, 1000)), None);
        // A reboot resets the counters.
        assert_eq!(cpu_busy_percent((100, 1000), (10, 50)), None);
        let facts = parse("cpu  10 0 10 70 10 0 0 0 5 5\n");
        assert_eq!(facts.cpu_jiffies, (20, 100));
    }

    #[test]
    fn malformed_lines_are_ignored() {
        let facts = parse("cpus=abc\nload=1 2\nnonsense\nos=Debian\ndisk=/ x y\n");
        assert_eq!(
            facts,
            Facts {
                os: "Debian".into(),
                ..Facts::default()
            }
        );
    }
}
