//! `baton nodes --watch` against real sshd nodes, one of them down: a line per node and round
//! when piped, a JSON line per round with `--json`, the table redrawn in place on a terminal
//! (a real pty through `script`), a closed pipe ending it quietly — and nothing recorded.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, script

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::Project;
use common::nodes::TestNodes;

/// One word for `sh -c`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

fn project(nodes: &TestNodes) -> Project {
    Project::new(&nodes.baton_yaml())
}

#[test]
fn piped_it_prints_a_line_per_node_and_round_and_records_nothing() {
    let mut nodes = TestNodes::start(2);
    nodes.stop(1);
    let p = project(&nodes);
    let run = p.baton(&[
        "nodes",
        "all",
        "--watch",
        "--count",
        "2",
        "--interval",
        "300ms",
    ]);
    run.code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
    let up: Vec<&&str> = lines.iter().filter(|l| l.contains(" node01 up ")).collect();
    assert_eq!(up.len(), 2, "{}", run.stdout);
    assert!(
        up[0].contains("memory=") && up[0].contains("load1="),
        "{}",
        up[0]
    );
    // cpu is a difference: from the second reading on, over the held connection.
    assert!(!up[0].contains("cpu="), "{}", up[0]);
    assert!(up[1].contains(" up cpu="), "{}", up[1]);
    let down: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(" node02 down: "))
        .collect();
    assert_eq!(down.len(), 2, "{}", run.stdout);

    // A live view is not the monitor: no samples stored.
    let metrics = p.baton(&["metrics", "node01", "--json"]);
    metrics.code(0);
    assert!(
        metrics.json()["series"]
            .as_array()
            .is_none_or(|s| s.is_empty()),
        "{}",
        metrics.stdout
    );

    let json = p.baton(&[
        "nodes",
        "--watch",
        "--count",
        "2",
        "--interval",
        "300ms",
        "--json",
    ]);
    json.code(0);
    let rounds: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(rounds.len(), 2, "{}", json.stdout);
    let second = &rounds[1]["nodes"];
    let node01 = second
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "node01")
        .unwrap();
    assert_eq!(node01["up"], true);
    assert!(node01["metrics"]["cpu"].is_f64(), "{node01}");
    let node02 = second
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "node02")
        .unwrap();
    assert_eq!(node02["up"], false);
    assert!(node02["error"].is_string(), "{node02}");
    assert!(
        second
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["node"] == "local")
    );
}

#[test]
fn on_a_terminal_the_table_is_redrawn_in_place() {
    let nodes = TestNodes::start(1);
    let p = project(&nodes);
    let baton = p.command(&["nodes", "--watch", "--count", "3", "--interval", "200ms"]);
    let argv: Vec<String> = std::iter::once(baton.get_program())
        .chain(baton.get_args())
        .map(|a| quote(&a.to_string_lossy()))
        .collect();
    let out = std::process::Command::new("script")
        .args(["-qec", &argv.join(" "), "/dev/null"])
        .current_dir(p.path())
        .envs(baton.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .output()
        .expect("script(1) runs (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // Three drawings, the second and third each going back over the one before.
    assert_eq!(text.matches("NODE").count(), 3, "{text}");
    assert_eq!(text.matches("\x1b[J").count(), 2, "{text}");
    assert!(text.contains("2/2 up"), "{text}");
}

#[test]
fn a_closed_pipe_ends_it_quietly() {
    let nodes = TestNodes::start(1);
    let p = project(&nodes);
    let mut child = p
        .command(&["nodes", "--watch", "--interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains(" up "), "{first}");
    // The reader is gone: the next round's write fails and the watch ends.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "baton nodes --watch kept running with nobody reading"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(stderr, "");
}
