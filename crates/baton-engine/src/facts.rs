//! Node facts gathered agentlessly: one POSIX shell probe reading `/proc` and `uname`, the
//! same probe monitoring samples for metrics.

use serde::Serialize;

/// Prints `key=value` lines; every value degrades to empty rather than failing the probe.
pub const PROBE: &str = r#"
echo "os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)"
echo "kernel=$(uname -r)"
echo "arch=$(uname -m)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
awk '/^MemTotal:/{print "mem_total_kb=" $2} /^MemAvailable:/{print "mem_available_kb=" $2}' /proc/meminfo
read l1 l5 l15 _ < /proc/loadavg; echo "load=$l1 $l5 $l15"
df -Pk / | awk 'NR==2{print "disk_total_kb=" $2; print "disk_used_kb=" $3}'
read up _ < /proc/uptime; echo "uptime_s=${up%.*}"
head -1 /proc/stat
"#;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
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
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Parse the probe's output; unknown or malformed lines are ignored.
pub fn parse(output: &str) -> Facts {
    let mut facts = Facts::default();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("cpu ") {
            let values: Vec<u64> = rest
                .split_whitespace()
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
            "os" => facts.os = value.trim().to_string(),
            "kernel" => facts.kernel = value.trim().to_string(),
            "arch" => facts.arch = value.trim().to_string(),
            "cpus" => facts.cpus = number() as u32,
            "mem_total_kb" => facts.memory_total_bytes = number() * 1024,
            "mem_available_kb" => facts.memory_available_bytes = number() * 1024,
            "disk_total_kb" => facts.disk_total_bytes = number() * 1024,
            "disk_used_kb" => facts.disk_used_bytes = number() * 1024,
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
            _ => {}
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_runs_here_and_parses() {
        let out = baton_exec::host_command("sh")
            .arg("-c")
            .arg(PROBE)
            .output()
            .unwrap();
        assert!(out.status.success());
        let facts = parse(&String::from_utf8_lossy(&out.stdout));
        assert!(facts.cpus >= 1, "{facts:?}");
        assert!(facts.memory_total_bytes > facts.memory_available_bytes);
        assert!(facts.disk_total_bytes > 0);
        assert!(!facts.kernel.is_empty());
        assert!(facts.cpu_jiffies.1 > facts.cpu_jiffies.0);
    }

    #[test]
    fn malformed_lines_are_ignored() {
        let facts = parse("cpus=abc\nload=1 2\nnonsense\nos=Debian");
        assert_eq!(
            facts,
            Facts {
                os: "Debian".into(),
                ..Facts::default()
            }
        );
    }
}
