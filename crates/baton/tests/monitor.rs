//! Monitoring end to end: the real `baton monitor` against real sshd nodes on loopback, real
//! HTTP and TCP servers (Python), CPU burnt on the node, a node's sshd stopped, monitors
//! restarted mid-alert. Tests wait for what the monitor prints or records, never for a time.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, python

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::nodes::TestNodes;
use common::{Project, wait_for};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long an expected line may take: a few rounds of 1 s, on a machine busy with other tests.
const LINE_LIMIT: Duration = Duration::from_secs(60);
/// How long CPU may take to fall back under the threshold once the burn stops: other work on a
/// shared machine (a parallel test run, a build) can keep it up for a while.
const CPU_CALM_LIMIT: Duration = Duration::from_secs(180);

/// A webhook channel nobody listens on: deliveries are queued (and would fail later), which is
/// what these tests look at; the notifications' own tests deliver them.
const CHANNEL: &str = "notifications:\n  hook: { webhook: \"http://127.0.0.1:9/hook\" }\n";

fn project(nodes: &TestNodes, rest: &str) -> Project {
    Project::new(&format!(
        "{}monitoring: {{ interval: 1s }}\n{CHANNEL}{rest}",
        nodes.baton_yaml()
    ))
}

/// The notification tests' webhook receiver (`tests/support/notify_servers.py webhook DIR`):
/// each POST it answers is a file `DIR/NNN.json`.
struct WebhookReceiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl WebhookReceiver {
    fn start() -> WebhookReceiver {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/notify_servers.py"
            ))
            .arg("webhook")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the webhook receiver did not start: {line:?}"));
        WebhookReceiver { child, port, dir }
    }

    /// The JSON bodies received so far, in order.
    fn bodies(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let record: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
                serde_json::from_str(record["body"].as_str().unwrap()).unwrap()
            })
            .collect()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `baton monitor`: its stdout lines as they come, stderr kept for messages.
struct Monitor {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Monitor {
    fn start(p: &Project) -> Monitor {
        let mut child = p.spawn(&["monitor"]);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        let monitor = Monitor {
            child,
            lines,
            stderr,
        };
        monitor.wait_stderr("baton monitor:");
        monitor
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    #[track_caller]
    fn wait_stderr(&self, needle: &str) {
        let started = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                started.elapsed() < LINE_LIMIT,
                "baton monitor never said {needle:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for a line holding every one of `needles`; returns its index.
    #[track_caller]
    fn wait_line(&self, needles: &[&str]) -> usize {
        self.wait_line_after(0, needles)
    }

    #[track_caller]
    fn wait_line_after(&self, from: usize, needles: &[&str]) -> usize {
        self.wait_line_within(from, needles, LINE_LIMIT)
    }

    #[track_caller]
    fn wait_line_within(&self, from: usize, needles: &[&str], limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let lines = self.lines();
            if let Some(i) =
                (from..lines.len()).find(|&i| needles.iter().all(|n| lines[i].contains(n)))
            {
                return i;
            }
            assert!(
                started.elapsed() < limit,
                "no line with {needles:?} after {limit:?}; lines:\n{}\nstderr:\n{}",
                lines.join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, needles: &[&str]) -> usize {
        self.lines()
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .count()
    }

    /// SIGTERM, as a service manager stops it; it must exit 0.
    fn stop(mut self) -> Vec<String> {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "baton monitor did not stop on SIGTERM; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}; stderr:\n{}", self.stderr());
        self.lines()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Deliveries queued for `origin` (`alert:NAME@NODE`), by subject, oldest first.
fn deliveries(p: &Project, origin: &str) -> Vec<String> {
    let db = rusqlite::Connection::open(p.path().join(".baton/baton.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT subject FROM deliveries WHERE origin = ?1 ORDER BY id")
        .unwrap();
    stmt.query_map([origin], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// How many `up` samples of `node` the store holds: rounds that happened.
fn rounds(p: &Project, node: &str) -> usize {
    let m = p
        .baton(&["metrics", node, "--metric", "up", "--json"])
        .code(0)
        .json();
    m["series"][0]["points"].as_array().unwrap().len()
}

fn history(p: &Project) -> Vec<serde_json::Value> {
    p.baton(&["alerts", "--all", "--json"]).code(0).json()["history"]
        .as_array()
        .unwrap()
        .clone()
}

/// `yes > /dev/null` once per CPU, started through the node's own shell; killed on drop.
struct Burn {
    pids: Vec<i32>,
}

impl Burn {
    fn start(nodes: &TestNodes, node: usize) -> Burn {
        let file = nodes.node_dir(node).join("burn.pids");
        let _ = std::fs::remove_file(&file);
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let script = format!(
            "for i in $(seq {cpus}); do nohup yes > /dev/null 2>&1 & echo $! >> {}; done",
            file.display()
        );
        let status = nodes.ssh(node, &script).status().unwrap();
        assert!(status.success(), "burn did not start: {status:?}");
        let pids: Vec<i32> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert_eq!(pids.len(), cpus);
        Burn { pids }
    }
}

impl Drop for Burn {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
}

#[test]
fn a_cpu_alert_fires_after_for_survives_restarts_and_resolves_when_the_burn_stops() {
    let nodes = TestNodes::start(1);
    let p = project(
        &nodes,
        "alerts:\n  busy: { metric: cpu, above: 90, for: 4s, targets: node01, notify: [hook], severity: critical }\n",
    );
    let first = Monitor::start(&p);
    first.wait_line(&["node node01 up"]);
    let burn = Burn::start(&nodes, 0);
    first.wait_line(&["alert busy pending on node01", "cpu above 90"]);

    // Restarted while pending: the new monitor keeps the timer (no second `pending`) and fires.
    first.stop();
    let second = Monitor::start(&p);
    second.wait_line(&["alert busy firing on node01", "cpu above 90 (value"]);
    assert_eq!(second.count(&["pending"]), 0, "{:?}", second.lines());
    let events = history(&p);
    let states: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "alert")
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["firing", "pending"], "newest first: {events:?}");
    let (fired, pending) = (&events[0], &events[1]);
    assert!(
        fired["at"].as_i64().unwrap() - pending["at"].as_i64().unwrap() >= 4000,
        "fired {} ms after pending: `for` is 4s",
        fired["at"].as_i64().unwrap() - pending["at"].as_i64().unwrap()
    );
    assert_eq!(
        fired["since"], pending["at"],
        "the condition's start survived the restart"
    );
    assert_eq!(fired["severity"], "critical");
    wait_for("the firing notification to be queued", LINE_LIMIT, || {
        deliveries(&p, "alert:busy@node01").len() == 1
    });
    assert!(deliveries(&p, "alert:busy@node01")[0].contains("FIRING critical: busy on node01"));
    let active = p.baton(&["alerts", "--json"]).code(0).json()["active"].clone();
    assert_eq!(active[0]["alert"], "busy");
    assert_eq!(active[0]["state"], "firing");
    assert!(active[0]["last_notified"].is_i64(), "{active}");

    // Restarted while firing: it does not fire (or notify) again.
    second.stop();
    let third = Monitor::start(&p);
    let before = rounds(&p, "node01");
    wait_for("three rounds of the restarted monitor", LINE_LIMIT, || {
        rounds(&p, "node01") >= before + 3
    });
    assert_eq!(third.count(&["firing"]), 0, "{:?}", third.lines());
    assert_eq!(deliveries(&p, "alert:busy@node01").len(), 1);

    // The burn stops: resolved, told once.
    drop(burn);
    third.wait_line_within(0, &["alert busy resolved on node01"], CPU_CALM_LIMIT);
    wait_for("the resolved notification to be queued", LINE_LIMIT, || {
        deliveries(&p, "alert:busy@node01").len() == 2
    });
    assert!(deliveries(&p, "alert:busy@node01")[1].contains("RESOLVED"));
    let out = p.baton(&["alerts", "--all"]);
    out.code(0)
        .stdout_has("No alert is pending or firing.")
        .stdout_has("alert busy resolved on node01")
        .stdout_has("alert busy firing on node01");
    third.stop();
}

#[test]
fn a_stopped_node_is_up_0_and_fires_its_up_alert_while_the_others_are_sampled() {
    let mut nodes = TestNodes::start(2);
    let receiver = WebhookReceiver::start();
    let p = project(
        &nodes,
        &format!(
            "  chat: {{ webhook: \"http://127.0.0.1:{}/hook\" }}\nalerts:\n  down: {{ metric: up, targets: all, notify: [chat] }}\n",
            receiver.port
        ),
    );
    let monitor = Monitor::start(&p);
    monitor.wait_line(&["node node01 up"]);
    monitor.wait_line(&["node node02 up"]);

    nodes.stop(1);
    let down = monitor.wait_line(&["node node02 down"]);
    monitor.wait_line(&["alert down firing on node02", "up below 1 (value 0)"]);
    // The collector goes on: node01 keeps its rounds.
    let before = rounds(&p, "node01");
    wait_for("node01 sampled while node02 is down", LINE_LIMIT, || {
        rounds(&p, "node01") >= before + 2
    });
    let up = p
        .baton(&["metrics", "node02", "--metric", "up", "--json"])
        .code(0)
        .json();
    let values: Vec<f64> = up["series"][0]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .collect();
    assert!(values.contains(&1.0) && values.contains(&0.0), "{values:?}");
    let alerts = p.baton(&["alerts", "--json"]).code(0).json();
    assert_eq!(alerts["nodes"][1]["node"], "node02");
    assert_eq!(alerts["nodes"][1]["up"], false);
    p.baton(&["alerts"]).code(0).stdout_has("down: node02");

    // Back: the held connection is opened again (after its backoff) and the alert resolves.
    nodes.start_again(1);
    monitor.wait_line_after(down, &["node node02 up"]);
    monitor.wait_line(&["alert down resolved on node02"]);
    assert_eq!(
        monitor.count(&["alert down", "node01"]),
        0,
        "{:?}",
        monitor.lines()
    );
    // `baton monitor` runs the delivery worker too: both reach the receiver.
    wait_for("firing and resolved delivered", LINE_LIMIT, || {
        receiver.bodies().len() == 2
    });
    let bodies = receiver.bodies();
    let told: Vec<(&str, &str, &str)> = bodies
        .iter()
        .map(|b| {
            (
                b["alert"].as_str().unwrap(),
                b["node"].as_str().unwrap(),
                b["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [("down", "node02", "firing"), ("down", "node02", "resolved")]
    );
    assert_eq!(bodies[0]["condition"], "up below 1");
    assert_eq!(bodies[0]["value"], 0.0);
    assert_eq!(deliveries(&p, "alert:down@node02").len(), 2);
    let events = history(&p);
    let node02: Vec<String> = events
        .iter()
        .filter(|e| e["node"] == "node02")
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["state"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        node02,
        [
            "alert resolved",
            "node up",
            "alert firing",
            "node down",
            "node up"
        ],
        "newest first"
    );
    let fired = events.iter().find(|e| e["state"] == "firing").unwrap();
    assert_eq!(fired["notify"], "sent", "{fired}");
    monitor.stop();

    // Every metric was sampled, with a summary per metric.
    let m = p.baton(&["metrics", "node01", "--json"]).code(0).json();
    assert_eq!(m["api"], 1);
    assert_eq!(m["resolution"], "raw");
    let names: Vec<&str> = m["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["cpu", "disk", "load1", "load15", "load5", "memory", "up"]
    );
    for s in m["series"].as_array().unwrap() {
        let summary = &s["summary"];
        assert!(
            summary["min"].as_f64().unwrap() <= summary["max"].as_f64().unwrap(),
            "{s}"
        );
        if s["metric"] == "memory" || s["metric"] == "cpu" || s["metric"] == "disk" {
            assert!(
                (0.0..=100.0).contains(&summary["avg"].as_f64().unwrap()),
                "{s}"
            );
        }
    }
    p.baton(&["metrics", "node01"])
        .code(0)
        .stdout_has("METRIC")
        .stdout_has("memory");
    p.baton(&["metrics", "node01", "--metric", "load"])
        .code(0)
        .stdout_has("node01 load1")
        .stdout_has("VALUE");
}

/// A Python HTTP server on 127.0.0.1 serving `dir`.
struct HttpServer {
    child: Child,
}

impl HttpServer {
    fn start(dir: &Path, port: u16) -> HttpServer {
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs (scripts/test.sh installs it)");
        wait_for("the HTTP server to listen", LINE_LIMIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        HttpServer { child }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn http_tcp_and_command_checks_fire_their_alerts_and_resolve() {
    let nodes = TestNodes::start(1);
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("status.txt"), "all healthy\n").unwrap();
    let marker: PathBuf = nodes.node_dir(0).join("ok");
    std::fs::write(&marker, "").unwrap();
    let port = free_port();
    let server = HttpServer::start(site.path(), port);
    let p = project(
        &nodes,
        &format!(
            r#"checks:
  web: {{ http: {{ url: "http://127.0.0.1:{port}/status.txt", expect_body_contains: healthy }}, interval: 1s, timeout: 2s }}
  port: {{ tcp: "127.0.0.1:{port}", interval: 1s, timeout: 2s }}
  file: {{ targets: node01, command: "test -f {{{{ node.vars.dir }}}}/ok", interval: 1s }}
alerts:
  web_down: {{ check: web, notify: [hook] }}
  port_down: {{ check: port }}
  file_gone: {{ check: file, notify: [hook], severity: info }}
"#
        ),
    );
    let monitor = Monitor::start(&p);
    // Healthy: the checks record 1s and no alert moves.
    wait_for("three healthy rounds of each check", LINE_LIMIT, || {
        ["web", "port"].iter().all(|c| {
            let m = p
                .baton(&[
                    "metrics",
                    "local",
                    "--metric",
                    &format!("check:{c}"),
                    "--json",
                ])
                .json();
            let points = m["series"][0]["points"].as_array().unwrap().clone();
            points.len() >= 3 && points.iter().all(|p| p["value"] == 1.0)
        })
    });
    assert_eq!(monitor.count(&["alert"]), 0, "{:?}", monitor.lines());

    std::fs::write(site.path().join("status.txt"), "all sick\n").unwrap();
    monitor.wait_line(&[
        "alert web_down firing on local",
        "check web fails",
        "the body lacks `healthy`",
    ]);
    std::fs::remove_file(&marker).unwrap();
    monitor.wait_line(&[
        "alert file_gone firing on node01",
        "check file fails",
        "exit code 1",
    ]);
    drop(server);
    monitor.wait_line(&["alert port_down firing on local", "refused"]);
    assert_eq!(
        monitor.count(&["alert web_down firing"]),
        1,
        "still firing, not again"
    );

    let server = HttpServer::start(site.path(), port);
    std::fs::write(site.path().join("status.txt"), "healthy again\n").unwrap();
    std::fs::write(&marker, "").unwrap();
    monitor.wait_line(&["alert web_down resolved on local"]);
    monitor.wait_line(&["alert port_down resolved on local"]);
    monitor.wait_line(&["alert file_gone resolved on node01"]);
    assert_eq!(deliveries(&p, "alert:web_down@local").len(), 2);
    assert_eq!(deliveries(&p, "alert:file_gone@node01").len(), 2);
    assert!(
        deliveries(&p, "alert:port_down@local").is_empty(),
        "no channels, no deliveries"
    );
    monitor.stop();
    drop(server);
}

#[test]
fn a_silenced_alert_is_tracked_but_not_notified() {
    let nodes = TestNodes::start(1);
    let marker = nodes.node_dir(0).join("ok");
    std::fs::write(&marker, "").unwrap();
    let p = project(
        &nodes,
        "checks:\n  file: { targets: node01, command: \"test -f {{ node.vars.dir }}/ok\", interval: 1s }\n\
         alerts:\n  gone: { check: file, notify: [hook] }\n",
    );
    // Bad silences are refused before anything is written.
    p.baton(&["alert", "silence", "gnoe", "--for", "1h"])
        .code(2)
        .stderr_has("no alert `gnoe`")
        .stderr_has("did you mean `gone`?");
    p.baton(&["alert", "silence", "gone", "--node", "local", "--for", "1h"])
        .code(2)
        .stderr_has("alert `gone` does not watch node `local`");
    p.baton(&[
        "alert", "silence", "gone", "--node", "node01", "--for", "2h",
    ])
    .code(0)
    .stdout_has("Silenced gone on node01 until");

    let monitor = Monitor::start(&p);
    std::fs::remove_file(&marker).unwrap();
    monitor.wait_line(&["alert gone firing on node01", "[silenced]"]);
    let alerts = p.baton(&["alerts", "--all", "--json"]).code(0).json();
    assert_eq!(alerts["active"][0]["state"], "firing");
    assert_eq!(alerts["active"][0]["silenced"], true);
    assert_eq!(
        alerts["silences"][0]["actor"],
        baton_store::os_user().as_str()
    );
    assert_eq!(alerts["silences"][0]["node"], "node01");
    let fired = alerts["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["state"] == "firing")
        .unwrap()
        .clone();
    assert_eq!(fired["notify"], "silenced");
    std::fs::write(&marker, "").unwrap();
    monitor.wait_line(&["alert gone resolved on node01"]);
    assert!(deliveries(&p, "alert:gone@node01").is_empty());
    p.baton(&["alerts"])
        .code(0)
        .stdout_has("silenced: gone on node01 until");
    monitor.stop();
}

#[test]
fn one_monitor_per_store() {
    let p = Project::new(
        "monitoring: { interval: 1s, targets: local }\nchecks:\n  here: { command: \"true\" }\n",
    );
    let monitor = Monitor::start(&p);
    p.baton(&["monitor"])
        .code(1)
        .stderr_has("another monitor uses this store: baton monitor (pid");
    // This machine is sampled when `monitoring.targets` names it.
    wait_for("a round of local", LINE_LIMIT, || rounds(&p, "local") >= 1);
    monitor.wait_line(&["node local up"]);
    monitor.stop();
    // Stopped cleanly, the lock is free for the next one.
    let again = Monitor::start(&p);
    again.stop();
}

#[test]
fn unknown_metrics_checks_and_channels_are_validate_errors_and_bad_queries_usage_errors() {
    let p = Project::new(&format!(
        "nodes:\n  web1: {{ host: 127.0.0.1 }}\n{CHANNEL}checks:\n  api: {{ targets: web1, tcp: \"{{{{ node.host }}}}:1\" }}\n\
         alerts:\n  a: {{ metric: cpux, above: 1 }}\n  b: {{ check: apii }}\n  c: {{ metric: memory, above: 90, notify: [hok] }}\n"
    ));
    let out = p.baton(&["validate"]);
    out.code(2)
        .stderr_has("unknown metric `cpux`")
        .stderr_has("baton.yaml:8:16")
        .stderr_has("did you mean `cpu`?")
        .stderr_has("no check `apii` (alert `b`)")
        .stderr_has("did you mean `api`?")
        .stderr_has("no notification `hok` (alert `c`)")
        .stderr_has("did you mean `hook`?");
    assert!(
        !p.path().join(".baton").exists(),
        "an invalid project writes nothing"
    );

    let p = Project::new("nodes:\n  web1: { host: 127.0.0.1 }\n");
    p.baton(&["metrics", "web2"])
        .code(2)
        .stderr_has("no node `web2`")
        .stderr_has("did you mean `web1`?");
    p.baton(&["metrics", "web1", "--metric", "memroy"])
        .code(2)
        .stderr_has("no metric `memroy`")
        .stderr_has("did you mean `memory`?");
    p.baton(&["metrics", "web1"])
        .code(0)
        .stdout_has("No metrics for web1");
    let empty = p.baton(&["alerts", "--all", "--json"]).code(0).json();
    assert_eq!(empty["active"], serde_json::json!([]));
    assert_eq!(empty["history"], serde_json::json!([]));
}
