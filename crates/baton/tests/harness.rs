//! Tests of the test harness itself: real sshd nodes on loopback (`common::nodes`), checked with
//! the system OpenSSH client.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::net::{SocketAddr, TcpStream};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::nodes::TestNodes;
use common::wait_for;

fn run(cmd: &mut std::process::Command) -> Output {
    cmd.output().expect("ssh runs")
}

#[track_caller]
fn answers(nodes: &TestNodes, i: usize) {
    let out = run(&mut nodes.ssh(i, "echo ok"));
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "ssh to {} failed: {out:?}\n--- sshd log\n{}",
        nodes.name(i),
        nodes.log(i)
    );
}

fn refused(nodes: &TestNodes, i: usize) -> bool {
    let addr: SocketAddr = format!("{}:{}", nodes.host(i), nodes.port(i))
        .parse()
        .unwrap();
    matches!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

#[test]
fn three_nodes_answer_with_their_own_host_keys() {
    let nodes = TestNodes::start(3);
    for i in 0..3 {
        answers(&nodes, i);
        assert_eq!(nodes.host(i), format!("127.0.0.{}", i + 2));
    }
    assert_eq!(nodes.name(0), "node01");
    assert_eq!(nodes.name(2), "node03");
    let fingerprints: Vec<String> = (0..3).map(|i| nodes.host_key_fingerprint(i)).collect();
    assert!(fingerprints.iter().all(|f| f.starts_with("SHA256:")));
    assert_ne!(fingerprints[0], fingerprints[1]);
    assert_ne!(fingerprints[1], fingerprints[2]);

    let known = std::fs::read_to_string(nodes.known_hosts()).unwrap();
    assert_eq!(known.lines().count(), 3);
    assert!(
        known.starts_with(&format!("[127.0.0.2]:{} ssh-ed25519 AAAA", nodes.port(0))),
        "{known}"
    );

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(nodes.client_key())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Remote commands run as the current user, with the node's empty HOME.
    let out = run(&mut nodes.ssh(1, "id -un; echo $HOME"));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(nodes.user().as_str()));
    assert_eq!(
        lines.next(),
        Some(nodes.node_home(1).display().to_string().as_str())
    );
    assert!(nodes.node_dir(1).is_dir());
    assert_ne!(nodes.node_dir(0), nodes.node_dir(1));
}

#[test]
fn baton_yaml_names_every_node() {
    let nodes = TestNodes::start(4);
    let yaml = nodes.baton_yaml();
    for i in 0..4 {
        let line = yaml
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{}:", nodes.name(i))))
            .unwrap_or_else(|| panic!("no {} in\n{yaml}", nodes.name(i)));
        assert!(line.contains(&format!("host: 127.0.0.{}", i + 2)), "{line}");
        assert!(line.contains(&format!("port: {}", nodes.port(i))), "{line}");
        assert!(
            line.contains(&format!("roles: [{}]", nodes.role(i))),
            "{line}"
        );
        assert!(line.contains(&format!("zone: {}", nodes.zone(i))), "{line}");
    }
    assert_eq!(
        (0..4).map(|i| nodes.role(i)).collect::<Vec<_>>(),
        ["web", "db", "web", "db"]
    );
    assert_eq!(
        (0..4).map(|i| nodes.zone(i)).collect::<Vec<_>>(),
        ["a", "a", "b", "b"]
    );
    assert!(yaml.contains(&format!(
        "ssh: {{ known_hosts: \"{}\", connect_timeout: 5s, config: false }}",
        nodes.known_hosts().display()
    )));

    // baton accepts it.
    let project = common::Project::new(&format!(
        "project: t\n{yaml}pipelines:\n  p:\n    stages:\n      s:\n        run: \"true\"\n"
    ));
    project.baton(&["validate"]).code(0);
}

#[test]
fn stop_refuses_connections_and_start_again_restores_the_node() {
    let mut nodes = TestNodes::start(3);
    answers(&nodes, 1);
    let before = nodes.host_key_fingerprint(1);
    nodes.stop(1);
    assert!(refused(&nodes, 1), "stopped node still accepts TCP");
    assert!(!nodes.is_running(1));
    assert_eq!(nodes.sshd_process_count(), 2);
    let out = run(&mut nodes.ssh(1, "echo ok"));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Connection refused"),
        "{out:?}"
    );
    // The others are unaffected.
    answers(&nodes, 0);
    answers(&nodes, 2);

    nodes.start_again(1);
    assert_eq!(nodes.sshd_process_count(), 3);
    answers(&nodes, 1);
    assert_eq!(nodes.host_key_fingerprint(1), before);
}

#[test]
fn changed_host_key_is_refused_by_openssh() {
    let mut nodes = TestNodes::start(2);
    answers(&nodes, 0);
    let before = nodes.host_key_fingerprint(0);
    nodes.change_host_key(0);
    assert_ne!(nodes.host_key_fingerprint(0), before);
    let out = run(&mut nodes.ssh(0, "echo ok"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"),
        "{stderr}"
    );
    assert!(stderr.contains(&nodes.host_key_fingerprint(0)), "{stderr}");
    answers(&nodes, 1);
}

#[test]
fn rsa_client_key_is_accepted() {
    let nodes = TestNodes::start(1);
    let key = nodes.client_rsa_key();
    let out = run(&mut nodes.ssh_with_key(0, &key, "echo ok"));
    assert!(out.status.success(), "{out:?}\n{}", nodes.log(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn process_count_sees_sessions_and_nothing_remains_after_drop() {
    let nodes = TestNodes::start(3);
    let dir = nodes.dir().to_path_buf();
    let pid_files: Vec<_> = (0..3)
        .map(|i| dir.join(nodes.name(i)).join("sshd.pid"))
        .collect();
    let listeners: Vec<i32> = pid_files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap().trim().parse().unwrap())
        .collect();
    let base = nodes.sshd_process_count();
    assert_eq!(base, 3, "one listener per node at rest");

    let mut session = nodes
        .ssh(2, "sleep 30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a session sshd process", Duration::from_secs(10), || {
        nodes.sshd_process_count() > base
    });
    session.kill().unwrap();
    session.wait().unwrap();
    wait_for("the session to end", Duration::from_secs(10), || {
        nodes.sshd_process_count() == base
    });

    // A session open when the harness drops is killed with its daemon.
    let mut session = nodes
        .ssh(0, "sleep 30")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a session sshd process", Duration::from_secs(10), || {
        nodes.sshd_process_count() > base
    });
    let pids = nodes.sshd_pids();
    assert!(pids.len() > 3, "{pids:?}");
    let started = Instant::now();
    drop(nodes);
    assert!(started.elapsed() < Duration::from_secs(5));
    let _ = session.wait();
    for pid in listeners.into_iter().chain(pids) {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false);
        assert!(!alive, "sshd {pid} survived drop");
    }
    let ours = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&*dir.to_string_lossy()))
                .unwrap_or(false)
        })
        .count();
    assert_eq!(ours, 0, "processes naming the harness dir survived drop");
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn fifty_nodes_start_and_take_fifty_parallel_connections() {
    let started = Instant::now();
    let nodes = TestNodes::start(50);
    let start_time = started.elapsed();
    eprintln!("started 50 sshd nodes in {start_time:?}");
    assert_eq!(nodes.sshd_process_count(), 50);

    // 50 parallel clients, one per node, plus 50 more at node01 at once (MaxStartups is raised).
    let started = Instant::now();
    let mut clients: Vec<(usize, std::process::Child)> = (0..50)
        .chain(std::iter::repeat_n(0, 50))
        .map(|i| {
            let child = nodes
                .ssh(i, "echo ok")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (i, child)
        })
        .collect();
    for (i, child) in clients.drain(..) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
            "{}: {out:?}",
            nodes.name(i)
        );
    }
    eprintln!("100 parallel ssh echo ok in {:?}", started.elapsed());
}
