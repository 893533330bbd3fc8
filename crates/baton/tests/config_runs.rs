//! Config applies and rollbacks as runs, through the real binary against real sshd nodes:
//! `runs`/`show`/`logs`/`cancel` on them, an interrupted `on_change` that stays pending, a
//! kill -9 between a write and its version, rollback's template context, drift of a node that
//! missed a version. Every wait is on a file an `on_change` writes or a row in the store.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::path::PathBuf;
use std::time::Duration;

use baton_store::{SqliteStore, Store};
use common::nodes::TestNodes;
use common::{Project, wait_for};

fn target(nodes: &TestNodes, i: usize, name: &str) -> PathBuf {
    let dir = nodes.node_dir(i);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn lines(path: &PathBuf) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// A config whose `on_change` records that it ran, then (until `go` exists on the node) says
/// it started and blocks, so a test can interrupt it at a known point.
fn blocking_config(nodes: &TestNodes, forks: u32, content: &str) -> String {
    let yaml = nodes.baton_yaml().replace(
        "connect_timeout: 5s",
        &format!("connect_timeout: 5s, forks: {forks}"),
    );
    format!(
        "{yaml}configs:\n  app:\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.json\"\n    content: '{content}'\n    on_change: echo ran >> {{{{ node.vars.dir }}}}/handled; [ -e {{{{ node.vars.dir }}}}/go ] || {{ touch {{{{ node.vars.dir }}}}/started; sleep 30; }}\n"
    )
}

fn running_config_run(p: &Project) -> i64 {
    let mut found = None;
    wait_for(
        "the config run to be listed",
        Duration::from_secs(30),
        || {
            let runs = p.baton(&["runs", "--json"]).code(0).json();
            found = runs.as_array().unwrap().iter().find_map(|r| {
                (r["kind"] == "config" && r["status"] == "running")
                    .then(|| r["id"].as_i64().unwrap())
            });
            found.is_some()
        },
    );
    found.unwrap()
}

#[test]
fn cancel_from_another_shell_stops_an_apply_and_the_interrupted_handler_runs_next_time() {
    let nodes = TestNodes::start(2);
    let files: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "app.json")).collect();
    let started: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "started")).collect();
    let handled: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "handled")).collect();
    // One node at a time: when the first one's on_change blocks, the second is not started.
    let p = Project::new(&blocking_config(&nodes, 1, "{\"v\": 1}"));
    let child = p.spawn(&["config", "apply", "app"]);
    wait_for("an on_change to start", Duration::from_secs(30), || {
        started.iter().any(|s| s.exists())
    });
    let first = started.iter().position(|s| s.exists()).unwrap();
    let other = 1 - first;
    let run = running_config_run(&p);
    p.baton(&["cancel", &run.to_string()]).code(0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stays pending"), "{stdout}");
    assert!(stdout.contains("1 handler left pending"), "{stdout}");
    // The node being handled was fully written; the other one was never touched.
    assert_eq!(
        std::fs::read_to_string(&files[first]).unwrap(),
        "{\"v\": 1}"
    );
    assert!(!files[other].exists());
    assert!(!handled[other].exists());
    // The run is honest, listed with its kind and actor, and its lock is released.
    assert_eq!(p.show(run)["run"]["status"], "cancelled", "{}", p.show(run));
    assert_eq!(p.stage_status(run, "app"), "cancelled");
    let runs = p.baton(&["runs", "--json"]).code(0).json();
    let record = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == run)
        .unwrap()
        .clone();
    assert_eq!(record["kind"], "config");
    assert_eq!(record["name"], "app");
    assert!(!record["actor"].as_str().unwrap().is_empty());
    {
        let store = SqliteStore::open(&p.file(".baton")).unwrap();
        assert!(store.lock("config:app:").unwrap().is_none());
    }
    p.baton(&["logs", &run.to_string()]).code(0);

    // Next apply: the written node is unchanged, yet its interrupted handler runs (once).
    for i in 0..2 {
        std::fs::write(target(&nodes, i, "go"), "").unwrap();
    }
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has(&format!("1 pending handler from run {run} ran"))
        .stdout_has("1 changed · 1 unchanged");
    assert_eq!(lines(&handled[first]), 2);
    assert_eq!(lines(&handled[other]), 1);
    // Nothing is pending any more.
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("0 changed · 2 unchanged");
    assert_eq!(lines(&handled[first]), 2);
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history[0]["run"], run);
    assert!(!history[0]["actor"].as_str().unwrap().is_empty());
}

#[test]
fn a_kill_between_a_write_and_its_version_is_reconciled_by_the_next_command() {
    let nodes = TestNodes::start(1);
    let file = target(&nodes, 0, "app.json");
    let started = target(&nodes, 0, "started");
    let handled = target(&nodes, 0, "handled");
    let p = Project::new(&blocking_config(&nodes, 5, "{\"v\": 1}"));
    let mut child = p.spawn(&["config", "apply", "app"]);
    // on_change runs after the write and before the version is recorded.
    wait_for("on_change to start", Duration::from_secs(30), || {
        started.exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{\"v\": 1}");
    assert_eq!(
        p.baton(&["config", "history", "--json"]).code(0).json(),
        serde_json::json!([])
    );
    std::fs::write(target(&nodes, 0, "go"), "").unwrap();
    // The next apply records the write it finds and runs the interrupted handler.
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("recorded that as version 1")
        .stdout_has("1 pending handler from run");
    assert_eq!(lines(&handled), 2);
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history.as_array().unwrap().len(), 1);
    // The originals were saved before the write: rollback to 0 removes the file again.
    p.baton(&["config", "rollback", "app", "--to", "0"]).code(0);
    assert!(!file.exists());
}

#[test]
fn rollback_runs_on_change_with_the_same_context_as_apply() {
    let nodes = TestNodes::start(1);
    let log = target(&nodes, 0, "log");
    let yaml = |v: u32| {
        format!(
            "{}environments:\n  prod: {{ vars: {{ level: info }} }}\nconfigs:\n  app:\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.json\"\n    content: '{{\"v\": {v}}}'\n    on_change: echo {{{{ node.name }}}} {{{{ env.name }}}} {{{{ env.vars.level }}}} run {{{{ run.id }}}} >> {{{{ node.vars.dir }}}}/log\n",
            nodes.baton_yaml()
        )
    };
    let p = Project::new(&yaml(1));
    p.baton(&["config", "apply", "app", "--env", "prod"])
        .code(0);
    p.write("baton.yaml", &yaml(2));
    p.baton(&["config", "apply", "app", "--env", "prod"])
        .code(0);
    p.baton(&["config", "rollback", "app", "--env", "prod"])
        .code(0)
        .stdout_has("version 3");
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The rollback's handler saw the node, the environment and its own run.
    assert!(lines[2].starts_with("node01 prod info run "), "{text}");
    assert_ne!(lines[2], lines[1]);
}

#[test]
fn config_list_shows_the_drift_of_a_node_that_missed_the_newest_version() {
    let mut nodes = TestNodes::start(2);
    let base = nodes.baton_yaml();
    let yaml = |v: u32| {
        format!(
            "{base}configs:\n  app:\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.json\"\n    content: '{{\"v\": {v}}}'\n"
        )
    };
    for i in 0..2 {
        target(&nodes, i, "app.json");
    }
    let p = Project::new(&yaml(1));
    p.baton(&["config", "apply", "app"]).code(0);
    let list = p.baton(&["config", "list", "--json"]).code(0).json();
    assert_eq!(list[0]["versions"][0]["drift"], serde_json::json!([]));
    nodes.stop(1);
    p.write("baton.yaml", &yaml(2));
    p.baton(&["config", "apply", "app"]).code(1);
    nodes.start_again(1);
    let list = p.baton(&["config", "list", "--json"]).code(0).json();
    assert_eq!(list[0]["versions"][0]["version"], 2);
    assert_eq!(
        list[0]["versions"][0]["drift"],
        serde_json::json!(["node02"])
    );
    p.baton(&["config", "list"]).code(0).stdout_has("node02");
    p.baton(&["config", "diff", "app"]).code(3);
    p.baton(&["config", "apply", "app"]).code(0);
    let list = p.baton(&["config", "list", "--json"]).code(0).json();
    assert_eq!(list[0]["versions"][0]["drift"], serde_json::json!([]));
}
