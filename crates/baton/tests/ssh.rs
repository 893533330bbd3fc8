//! Multi-node orchestration against real OpenSSH sshd nodes on loopback.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::time::{Duration, Instant};

use common::Project;
use common::nodes::TestNodes;

fn project(nodes: &TestNodes, rest: &str) -> Project {
    Project::new(&format!("{}{rest}", nodes.baton_yaml()))
}

#[test]
fn exec_runs_everywhere_and_reports_per_node() {
    let nodes = TestNodes::start(3);
    let p = project(&nodes, "");
    let out = p.baton(&[
        "exec",
        "all",
        "--json",
        "--",
        "echo $BATON_NODE on $(hostname); exit 0",
    ]);
    out.code(0);
    let report = out.json();
    assert_eq!(
        report["summary"],
        serde_json::json!({"ok": 3, "failed": 0, "unreachable": 0, "unknown": 0})
    );
    for (i, node) in report["nodes"].as_array().unwrap().iter().enumerate() {
        assert_eq!(node["node"], nodes.name(i).as_str());
        assert!(
            node["output"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{} on", nodes.name(i)))
        );
    }
    // Grouped text output, a failing node, and the exit code.
    let out = p.baton(&["exec", "role:web", "--", "test $BATON_NODE = node01"]);
    out.code(1)
        .stdout_has("node01")
        .stdout_has("1 ok · 1 failed · 0 unreachable");
    // Streamed: lines as they come, prefixed with their node.
    let out = p.baton(&[
        "exec",
        "all",
        "--stream",
        "--",
        "echo line-from-$BATON_NODE",
    ]);
    out.code(0)
        .stdout_has("node02 │ line-from-node02")
        .stdout_has("3 ok");
    // The run is recorded like any other.
    let runs = p.baton(&["runs", "--json"]).json();
    assert_eq!(runs[0]["kind"], "exec");
    assert_eq!(runs[0]["status"], "success");
    assert_eq!(runs[1]["status"], "failed");
}

#[test]
fn a_down_node_is_unreachable_within_the_connect_timeout_and_the_others_finish() {
    let mut nodes = TestNodes::start(3);
    nodes.stop(1);
    let p = project(&nodes, "");
    let started = Instant::now();
    let out = p.baton(&["exec", "all", "--json", "--", "echo done"]);
    out.code(1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let report = out.json();
    assert_eq!(
        report["summary"],
        serde_json::json!({"ok": 2, "failed": 0, "unreachable": 1, "unknown": 0})
    );
    let down = &report["nodes"][1];
    assert_eq!(down["node"], nodes.name(1).as_str());
    assert_eq!(down["result"], "unreachable");
    assert!(
        down["reason"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{down}"
    );
    p.baton(&["ping"]).code(1).stdout_has("unreachable");
}

#[test]
fn a_changed_host_key_is_refused_naming_both_fingerprints() {
    let mut nodes = TestNodes::start(2);
    let old = nodes.host_key_fingerprint(0);
    nodes.change_host_key(0);
    let new = nodes.host_key_fingerprint(0);
    assert_ne!(old, new);
    let marker = nodes.node_dir(0).join("ran");
    let p = project(&nodes, "");
    let out = p.baton(&[
        "exec",
        "all",
        "--",
        &format!("touch {}.$BATON_NODE", marker.display()),
    ]);
    out.code(1)
        .stdout_has("HOST KEY CHANGED")
        .stdout_has(&old)
        .stdout_has(&new);
    assert!(
        !nodes.node_dir(0).join("ran.node01").exists(),
        "something ran on the changed node"
    );
    assert!(
        nodes.node_dir(0).join("ran.node02").exists(),
        "the healthy node did not run"
    );
}

#[test]
fn unknown_host_keys_are_refused_unless_accepting_new_ones() {
    let nodes = TestNodes::start(1);
    let yaml = nodes.baton_yaml();
    let empty = nodes.dir().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let strict = yaml.replace(
        &nodes.known_hosts().display().to_string(),
        &empty.display().to_string(),
    );
    let p = Project::new(&strict);
    p.baton(&["exec", "all", "--", "true"])
        .code(1)
        .stdout_has("unknown host key");
    let accepting = strict.replace(
        "connect_timeout: 5s",
        "connect_timeout: 5s, accept_new_host_keys: true",
    );
    p.write("baton.yaml", &accepting);
    p.baton(&["exec", "all", "--", "true"]).code(0);
    let recorded = std::fs::read_to_string(&empty).unwrap();
    assert!(
        recorded.contains(&format!("[{}]:{}", nodes.host(0), nodes.port(0))),
        "{recorded}"
    );
}

#[test]
fn connection_failures_are_one_line_naming_the_node_and_cause() {
    let nodes = TestNodes::start(1);
    let wrong_key = nodes.dir().join("wrong_key");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong_key)
        .status()
        .unwrap();
    assert!(status.success());
    let yaml = format!(
        "nodes:\n  badkey: {{ host: {h}, port: {p}, user: {u}, key: {k} }}\n  badport: {{ host: {h}, port: 1, user: {u}, key: {good} }}\n  nodns: {{ host: no-such-host.invalid, port: {p}, user: {u}, key: {good} }}\n  nouser: {{ host: {h}, port: {p}, user: nobody-here, key: {good} }}\nssh: {{ known_hosts: {kh}, connect_timeout: 5s }}\n",
        h = nodes.host(0),
        p = nodes.port(0),
        u = nodes.user(),
        k = wrong_key.display(),
        good = nodes.client_key().display(),
        kh = nodes.known_hosts().display(),
    );
    let p = Project::new(&yaml);
    let out = p.baton(&["ping", "--json"]);
    out.code(1);
    let pongs = out.json();
    let error = |i: usize| pongs[i]["error"].as_str().unwrap().to_string();
    assert!(error(0).contains("authentication failed"), "{}", error(0));
    assert!(error(1).contains("connection refused"), "{}", error(1));
    assert!(
        error(2).contains("cannot resolve host `no-such-host.invalid`"),
        "{}",
        error(2)
    );
    assert!(
        error(3).contains("authentication failed for user `nobody-here`"),
        "{}",
        error(3)
    );
    for i in 0..4 {
        assert!(!error(i).contains('\n'), "more than one line: {}", error(i));
    }
    let text = p.baton(&["exec", "all", "--", "true"]);
    assert!(!text.stdout.contains("panicked") && !text.stderr.contains("panicked"));
    text.code(1)
        .stdout_has("badkey")
        .stdout_has("0 ok · 0 failed · 4 unreachable");
}

#[test]
fn rsa_keys_work() {
    let nodes = TestNodes::start(1);
    let yaml = nodes.baton_yaml().replace(
        &nodes.client_key().display().to_string(),
        &nodes.client_rsa_key().display().to_string(),
    );
    Project::new(&yaml)
        .baton(&["exec", "all", "--", "echo rsa-ok"])
        .code(0)
        .stdout_has("rsa-ok");
}

#[test]
fn rolling_batches_stop_at_the_failure_budget_and_roll_back_where_they_succeeded() {
    let nodes = TestNodes::start(4);
    let p = project(
        &nodes,
        r#"
pipelines:
  deploy:
    stages:
      release:
        targets: all
        strategy: { batch: 1, max_failures: 0 }
        run: 'touch {{ node.vars.dir }}/deployed; test $BATON_NODE != node02'
        rollback: 'touch {{ node.vars.dir }}/rolled_back'
"#,
    );
    p.baton(&["run", "deploy"])
        .code(1)
        .stdout_has("not started: node03, node04");
    let has = |i: usize, f: &str| nodes.node_dir(i).join(f).exists();
    assert!(has(0, "deployed") && has(1, "deployed"));
    assert!(
        !has(2, "deployed") && !has(3, "deployed"),
        "batches went on past the budget"
    );
    assert!(
        has(0, "rolled_back"),
        "no rollback on the node where it succeeded"
    );
    assert!(!has(1, "rolled_back") && !has(2, "rolled_back"));
    assert_eq!(p.show(1)["run"]["status"], "failed");
    let show = p.baton(&["show", "1"]);
    show.code(0).stdout_has("release by node");
    p.baton(&["logs", "1", "--node", "node01"])
        .code(0)
        .stdout_has("rollback");
}

#[test]
fn a_remote_timeout_kills_the_remote_process_tree() {
    let nodes = TestNodes::start(1);
    let pidfile = nodes.node_dir(0).join("sleep.pid");
    let p = project(
        &nodes,
        &format!(
            "pipelines:\n  p:\n    stages:\n      hang: {{ targets: all, timeout: 2s, run: 'sleep 1000 & echo $! > {}; wait' }}\n",
            pidfile.display()
        ),
    );
    let started = Instant::now();
    p.baton(&["run", "p"]).code(1).stdout_has("timed_out");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    common::wait_for("the remote sleep to die", Duration::from_secs(5), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    });
}

#[test]
fn uploads_are_atomic_with_mode_on_every_node() {
    let nodes = TestNodes::start(2);
    let p = project(
        &nodes,
        r#"
pipelines:
  p:
    stages:
      push:
        targets: all
        steps:
          - upload: { src: payload.txt, dest: "{{ node.vars.dir }}/app/payload.txt", mode: "0640" }
          - run: 'grep -q "hello nodes" {{ node.vars.dir }}/app/payload.txt'
"#,
    );
    p.write("payload.txt", "hello nodes\n");
    p.baton(&["run", "p"]).code(0);
    use std::os::unix::fs::PermissionsExt;
    for i in 0..2 {
        let file = nodes.node_dir(i).join("app/payload.txt");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "hello nodes\n");
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o640
        );
        let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");
    }
}

#[test]
fn fifty_nodes_times_ten_commands_leak_no_connection_or_process() {
    let nodes = TestNodes::start(50);
    let before = nodes.sshd_process_count();
    let stages: String = (1..=10)
        .map(|i| {
            let needs = if i > 1 {
                format!(", needs: [c{}]", i - 1)
            } else {
                String::new()
            };
            format!("      c{i}: {{ targets: all, run: 'echo {i}'{needs} }}\n")
        })
        .collect();
    let p = project(&nodes, &format!("pipelines:\n  p:\n    stages:\n{stages}"));
    p.baton(&["run", "p"]).code(0);
    let report = p.show(1);
    let steps: usize = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["steps"].as_array().unwrap().len())
        .sum();
    assert_eq!(steps, 500);
    common::wait_for(
        "sshd session processes to exit",
        Duration::from_secs(10),
        || nodes.sshd_process_count() == before,
    );
    let leftovers = common::processes_with_env("BATON_RUN_ID", "1");
    assert!(
        leftovers.is_empty(),
        "processes of the run left: {leftovers:?}"
    );
}

#[test]
fn nodes_lists_the_inventory_and_gathers_facts() {
    let nodes = TestNodes::start(2);
    let p = project(&nodes, "");
    let list = p.baton(&["nodes", "--json"]).code(0).json();
    assert_eq!(list.as_array().unwrap().len(), 3, "two nodes and local");
    assert_eq!(list[0]["roles"], serde_json::json!(["web"]));
    let facts = p
        .baton(&["nodes", "role:db", "--facts", "--json"])
        .code(0)
        .json();
    assert_eq!(facts.as_array().unwrap().len(), 1);
    assert!(facts[0]["facts"]["cpus"].as_u64().unwrap() >= 1);
    assert!(facts[0]["facts"]["memory_total_bytes"].as_u64().unwrap() > 0);
    p.baton(&["nodes", "role:nothing"])
        .code(2)
        .stderr_has("matches no node");
}

#[test]
fn an_ansible_inventory_supplies_nodes_and_roles() {
    let nodes = TestNodes::start(2);
    let inventory = format!(
        "[web]\nweb-a ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={}\n\n[db]\ndb-a ansible_host={} ansible_port={} ansible_user={} ansible_ssh_private_key_file={}\n\n[prod:children]\nweb\ndb\n",
        nodes.host(0),
        nodes.port(0),
        nodes.user(),
        nodes.client_key().display(),
        nodes.host(1),
        nodes.port(1),
        nodes.user(),
        nodes.client_key().display(),
    );
    let p = Project::new(&format!(
        "inventory: hosts.ini\nssh: {{ known_hosts: {}, connect_timeout: 5s }}\n",
        nodes.known_hosts().display()
    ));
    p.write("hosts.ini", &inventory);
    let out = p.baton(&[
        "exec",
        "role:prod&!role:db",
        "--json",
        "--",
        "echo $BATON_NODE",
    ]);
    out.code(0);
    let report = out.json();
    assert_eq!(report["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(report["nodes"][0]["output"], "web-a\n");
}

#[test]
fn persist_keeps_connections_between_commands_and_lets_go_when_idle() {
    let mut nodes = TestNodes::start(2);
    let resting = nodes.sshd_process_count();
    let yaml = nodes
        .baton_yaml()
        .replace("connect_timeout: 5s", "connect_timeout: 5s, persist: 2s");
    let p = Project::new(&yaml);
    p.baton(&["exec", "all", "--", "echo first"])
        .code(0)
        .stdout_has("2 ok");
    // The daemon holds one connection per node after the command ended.
    assert!(p.file(".baton/ssh/mux.sock").exists());
    assert!(
        nodes.sshd_process_count() > resting,
        "no connection was kept open"
    );
    p.baton(&["exec", "all", "--", "echo second"])
        .code(0)
        .stdout_has("2 ok");
    // A node that went away and came back is reconnected, not served a dead connection.
    nodes.stop(1);
    p.baton(&["exec", "all", "--", "true"])
        .code(1)
        .stdout_has("1 unreachable");
    nodes.start_again(1);
    p.baton(&["exec", "all", "--", "true"])
        .code(0)
        .stdout_has("2 ok");
    // Idle past `persist`: the daemon closes its connections and exits.
    common::wait_for("the daemon to let go", Duration::from_secs(15), || {
        !p.file(".baton/ssh/mux.sock").exists() && nodes.sshd_process_count() == resting
    });
}

#[test]
fn a_killed_baton_does_not_leave_its_remote_commands_running() {
    let nodes = TestNodes::start(1);
    let pidfile = nodes.node_dir(0).join("sleep.pid");
    let p = project(
        &nodes,
        &format!(
            "pipelines:\n  p:\n    stages:\n      hang: {{ targets: all, run: 'sleep 1000 & echo $! > {}; wait' }}\n",
            pidfile.display()
        ),
    );
    let mut child = p.spawn(&["run", "p"]);
    common::wait_for(
        "the remote command to start",
        Duration::from_secs(20),
        || std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')),
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    // The connection dropped with baton; the node's watchdog ends the command's group.
    common::wait_for("the remote sleep to die", Duration::from_secs(10), || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.contains(") Z"))
            .unwrap_or(true)
    });
    p.baton(&["runs", "--json"])
        .code(0)
        .stderr_has("run 1 was interrupted");
}

#[test]
fn every_engine_feature_behaves_the_same_on_local_and_on_a_node() {
    let nodes = TestNodes::start(1);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A minimal HTTP server answering 200 to every request, for the http stage.
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    for target in ["local", "node01"] {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path().display().to_string();
        let p = project(
            &nodes,
            &format!(
                r#"
pipelines:
  p:
    fail_fast: false
    stages:
      vars:  {{ targets: {target}, env: {{ GREETING: "hi {{{{ node.name }}}}" }}, run: 'echo "$GREETING $BATON_NODE $BATON_STAGE" > {dir}/vars.out' }}
      flaky: {{ targets: {target}, retries: 2, run: 'echo x >> {dir}/tries; test $(wc -l < {dir}/tries) -ge 2' }}
      hang:  {{ targets: {target}, timeout: 1s, run: 'sleep 1000 & echo $! > {dir}/sleep.pid; wait' }}
      check: {{ targets: {target}, http: {{ url: "http://127.0.0.1:{port}/{{{{ node.name }}}}", expect_body_contains: ok }} }}
      undo:  {{ targets: {target}, run: "true", rollback: 'touch {dir}/rolled_back' }}
      boom:  {{ targets: {target}, needs: [undo], run: "exit 4" }}
"#
            ),
        );
        p.baton(&["run", "p"]).code(1);
        let status = |stage: &str| p.stage_status(1, stage);
        assert_eq!(status("vars"), "success", "{target}");
        assert_eq!(
            std::fs::read_to_string(scratch.path().join("vars.out")).unwrap(),
            format!("hi {target} {target} vars\n")
        );
        assert_eq!(status("flaky"), "success", "{target}");
        assert_eq!(
            std::fs::read_to_string(scratch.path().join("tries"))
                .unwrap()
                .lines()
                .count(),
            2,
            "{target}"
        );
        assert_eq!(status("hang"), "timed_out", "{target}");
        let pid: i32 = std::fs::read_to_string(scratch.path().join("sleep.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        common::wait_for("the timed-out tree to die", Duration::from_secs(5), || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z"))
                .unwrap_or(true)
        });
        assert_eq!(status("check"), "success", "{target}");
        assert_eq!(status("boom"), "failed", "{target}");
        assert!(
            scratch.path().join("rolled_back").exists(),
            "{target}: no rollback"
        );
    }
}

/// The users' defect: `upload: { src: <a directory>, dest: FILE }` said "connection lost during
/// upload: Is a directory" and replaced FILE with an empty file or left `.FILE.baton-PID`
/// litter. Now it is refused before anything is touched, naming the destination.
#[test]
fn uploading_a_directory_onto_a_file_is_refused_and_changes_nothing() {
    let nodes = TestNodes::start(1);
    let p = project(
        &nodes,
        r#"
pipelines:
  p:
    stages:
      push:
        targets: all
        steps:
          - upload: { src: site, dest: "{{ node.vars.dir }}/FILE" }
"#,
    );
    p.write("site/index.html", "<p>hi</p>\n");
    let file = nodes.node_dir(0).join("FILE");
    std::fs::write(&file, "keep\n").unwrap();
    let run = p.baton(&["run", "p"]);
    assert_ne!(run.code, 0, "the upload succeeded:\n{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("FILE") && all.contains("not a directory"),
        "the failure does not say why: {all}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep\n");
    let names: Vec<_> = std::fs::read_dir(nodes.node_dir(0))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["FILE"], "litter beside the destination");
}

#[test]
fn a_connection_lost_mid_command_is_an_unknown_outcome_not_unreachable() {
    use std::io::{BufRead, BufReader};
    let nodes = TestNodes::start(1);
    let p = project(&nodes, "");
    let mut child = p.command(&["exec", "--stream", "all", "--", "echo ready; sleep 60"]);
    let mut child = child
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.contains("ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    assert!(nodes.kill_sessions(0) > 0, "no session to cut: {seen:?}");
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    let out = rest.join("\n");
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("1 outcome unknown (connection lost)"), "{out}");
    assert!(out.contains("0 unreachable"), "{out}");
    assert!(
        out.contains("whether it finished there is unknown"),
        "{out}"
    );
}
