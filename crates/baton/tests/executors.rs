//! The executor conformance suite (`baton_exec::conformance`) against an SSH node (a real
//! sshd from the harness) and against the `ssh.persist` connection daemon (the real `baton
//! ssh-mux` binary); plus what only remote executors can get wrong: watchdogs that outlive
//! their commands, and uploads cut off by a dropped connection.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use baton_exec::conformance::{Target, run_all};
use baton_exec::{CancellationToken, CommandSpec, Executor, UploadSpec};
use baton_ssh::mux::MuxNode;
use baton_ssh::{NodeAddress, SshNode, SshOptions, client_config};
use common::nodes::TestNodes;

fn address(nodes: &TestNodes, i: usize) -> (NodeAddress, SshOptions) {
    (
        NodeAddress {
            name: nodes.name(i),
            host: nodes.host(i),
            port: nodes.port(i),
            user: nodes.user(),
            key: Some(nodes.client_key()),
            jump: None,
        },
        SshOptions {
            known_hosts: nodes.known_hosts(),
            accept_new_host_keys: false,
            connect_timeout: Duration::from_secs(5),
        },
    )
}

fn ssh_node(nodes: &TestNodes, i: usize) -> SshNode {
    let (node, options) = address(nodes, i);
    SshNode::new(node, options, client_config())
}

/// A `baton ssh-mux` daemon on a socket in `dir`, killed on drop.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(dir: &std::path::Path) -> Daemon {
        let socket = dir.join("mux.sock");
        let child = Command::new(common::baton_bin())
            .args(["ssh-mux", "--socket"])
            .arg(&socket)
            .args(["--idle-ms", "600000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("baton ssh-mux starts");
        common::wait_for(
            "the connection daemon to listen",
            Duration::from_secs(10),
            || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        );
        Daemon { child, socket }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scratch(nodes: &TestNodes, i: usize, name: &str) -> String {
    let dir = nodes.node_dir(i).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn an_ssh_node_conforms() {
    let nodes = TestNodes::start(1);
    let node = ssh_node(&nodes, 0);
    let target = Target {
        executor: &node,
        scratch: scratch(&nodes, 0, "conformance"),
    };
    runtime().block_on(async {
        let result = run_all(&target).await;
        node.disconnect().await;
        if let Err(failures) = result {
            panic!("{failures}");
        }
    });
}

#[test]
fn the_connection_daemon_conforms() {
    let nodes = TestNodes::start(1);
    let daemon = Daemon::start(nodes.dir());
    let (node, options) = address(&nodes, 0);
    let mux = MuxNode::new(daemon.socket.clone(), &node, &options);
    let target = Target {
        executor: &mux,
        scratch: scratch(&nodes, 0, "conformance"),
    };
    if let Err(failures) = runtime().block_on(run_all(&target)) {
        panic!("{failures}");
    }
}

async fn run_true(executor: &dyn Executor) {
    let spec = CommandSpec {
        script: "true".into(),
        ..Default::default()
    };
    let exit = executor
        .run(
            &spec,
            Box::new(|_| {}),
            Box::new(|_| {}),
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert!(exit.success(), "{exit}");
}

/// Each command used to leave its watchdog polling until the connection closed: 30 after a
/// 30-step stage on one connection.
#[test]
fn watchdogs_end_with_their_commands_on_a_shared_connection() {
    let nodes = TestNodes::start(1);
    let node = ssh_node(&nodes, 0);
    let rt = runtime();
    rt.block_on(async {
        for _ in 0..30 {
            run_true(&node).await;
        }
    });
    // The connection is still open: only the commands' own processes may count.
    common::wait_for(
        "the remote watchdogs to end with their commands",
        Duration::from_secs(10),
        || nodes.remote_process_count() == 0,
    );
    assert!(!node.is_broken());
    rt.block_on(node.disconnect());
}

/// Through `ssh.persist`, the daemon keeps the connection for minutes: 10 `exec`s left 10
/// watchdogs (and their `sleep`s) running for as long.
#[test]
fn watchdogs_end_with_their_commands_through_the_connection_daemon() {
    let nodes = TestNodes::start(1);
    let daemon = Daemon::start(nodes.dir());
    let (node, options) = address(&nodes, 0);
    runtime().block_on(async {
        for _ in 0..10 {
            // A new client per command, as each `baton exec` is.
            let mux = MuxNode::new(daemon.socket.clone(), &node, &options);
            run_true(&mux).await;
        }
    });
    common::wait_for(
        "the remote watchdogs to end with their commands",
        Duration::from_secs(10),
        || nodes.remote_process_count() == 0,
    );
    // The daemon still holds its connection (so the count above is not zero by accident).
    assert!(nodes.sshd_process_count() > 1);
}

/// The connection drops while the bytes are on their way: the upload fails naming the node and
/// the destination, and the node discards its partial copy, leaving the old file alone.
#[test]
fn an_upload_cut_off_mid_transfer_leaves_the_destination_as_it_was() {
    let nodes = TestNodes::start(1);
    let dir = nodes.node_dir(0).join("cut");
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("big");
    std::fs::write(&dest, b"old").unwrap();
    let local = tempfile::tempdir().unwrap();
    let source = local.path().join("big");
    // Large enough to be in flight for a while; the test waits for the partial copy on the node,
    // not for a time.
    let chunk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut content = Vec::with_capacity(192 << 20);
    for _ in 0..192 {
        content.extend_from_slice(&chunk);
    }
    std::fs::write(&source, &content).unwrap();
    drop(content);

    let node = Arc::new(ssh_node(&nodes, 0));
    let rt = runtime();
    let upload = {
        let (node, source, dest) = (node.clone(), source.clone(), dest.display().to_string());
        rt.spawn(async move {
            node.upload(&UploadSpec {
                source,
                dest,
                mode: None,
                owner: None,
                run_as: None,
            })
            .await
        })
    };
    let partial = || {
        std::fs::read_dir(&dir).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(".big.baton-")
                && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
        })
    };
    common::wait_for(
        "the partial copy to appear on the node",
        Duration::from_secs(60),
        partial,
    );
    assert!(nodes.kill_sessions(0) > 0, "no session to cut");
    let err = rt
        .block_on(upload)
        .unwrap()
        .expect_err("an upload over a cut connection succeeded");
    let message = err.to_string();
    assert!(
        message.contains(&nodes.name(0)) && message.contains("big"),
        "the error names neither the node nor the destination: {message}"
    );
    common::wait_for(
        "the node to discard its partial copy",
        Duration::from_secs(10),
        || !partial() && std::fs::read_dir(&dir).unwrap().count() == 1,
    );
    assert_eq!(std::fs::read(&dest).unwrap(), b"old");
}
