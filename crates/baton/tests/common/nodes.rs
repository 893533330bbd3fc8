//! Real OpenSSH `sshd` nodes on loopback, for tests of baton's SSH features (no mocks).
//!
//! `TestNodes::start(n)` runs `n` sshd daemons on 127.0.0.2 .. 127.0.0.(n+1), each with its own
//! ed25519 host key, `sshd_config`, pid file and log under one temp dir, all accepting one client
//! ed25519 key (and an RSA client key, generated on first use of `client_rsa_key`). Nodes are
//! named `node01`, `node02`, …; node `i` (0-based) has role `web` for even `i` and `db` for odd `i`,
//! and label `zone` `a` for i = 0, 1, `b` for i = 2, 3, `a` for 4, 5, … (alternating in pairs, so
//! that `role:web` and `zone:a` select different sets). See `role` and `zone`.
//!
//! The harness owns every daemon (`sshd -D`, a child of the test process) and kills exactly
//! those, with their session processes, when a node is stopped or the `TestNodes` is dropped.
//! A missing `sshd` is a failure (a panic), never a skip: `scripts/test.sh` installs it.
//!
//! Non-root logins (`become` tests): `ensure_test_users` creates, once per machine and
//! idempotently, [`SUDO_USER`] (sudo without a password) and [`PASSWORD_USER`] (sudo asks for
//! [`SUDO_PASSWORD`]); they log in with the same client key (`baton_yaml_as`). A node can be
//! made reachable only through a bastion (`allow_only_uid`).

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a daemon may take to accept connections after it is spawned.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a stopped daemon's address may take to refuse connections.
const STOP_LIMIT: Duration = Duration::from_secs(10);

struct Node {
    port: u16,
    child: Option<Child>,
}

pub struct TestNodes {
    dir: tempfile::TempDir,
    sshd: PathBuf,
    user: String,
    nodes: Vec<Node>,
    rsa_key: OnceLock<PathBuf>,
    gates: Vec<Gate>,
}

impl TestNodes {
    /// Start `n` sshd daemons on 127.0.0.2 .. 127.0.0.(n+1). They share one free port when it is
    /// free on every address (the usual case); a node whose bind fails gets a port of its own, so
    /// always ask `port(i)`. Returns once every daemon has written its pid file (sshd does so after
    /// binding), accepts a TCP connection and sends its SSH banner, and the processes sshd forked
    /// for those probes have ended (`sshd_process_count() == n`).
    pub fn start(n: usize) -> TestNodes {
        assert!(
            (1..=250).contains(&n),
            "TestNodes::start: n must be 1..=250"
        );
        let sshd = find_sshd();
        ensure_privsep_dir();
        let dir = tempfile::Builder::new()
            .prefix("baton-nodes-")
            .tempdir()
            .expect("temp dir for test nodes");
        let user = current_user();
        let mut nodes = TestNodes {
            dir,
            sshd,
            user,
            nodes: Vec::with_capacity(n),
            rsa_key: OnceLock::new(),
            gates: Vec::new(),
        };

        // Keys: the client key and every host key, generated concurrently.
        fs::create_dir_all(nodes.dir().join("client")).unwrap();
        // Other login users (ensure_test_users) read authorized_keys and the config as
        // themselves: let them through the directories (the private keys stay 0600).
        for dir in [nodes.dir().to_path_buf(), nodes.dir().join("client")] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).unwrap();
        }
        let mut keygens = vec![keygen_spawn(&nodes.client_key(), "ed25519", "baton-test")];
        for i in 0..n {
            let nd = nodes.state_dir(i);
            for sub in ["home", "scratch"] {
                fs::create_dir_all(nd.join(sub)).unwrap();
            }
            fs::write(nd.join("home/.bashrc"), "").unwrap();
            fs::write(nd.join("home/.profile"), "").unwrap();
            keygens.push(keygen_spawn(&nodes.host_key(i), "ed25519", &nodes.name(i)));
        }
        for (child, what) in keygens {
            keygen_wait(child, &what);
        }
        fs::copy(
            nodes.client_key().with_extension("pub"),
            nodes.authorized_keys(),
        )
        .expect("write authorized_keys");

        // One port for all nodes when it is free on every address.
        let shared = shared_port(n);
        for _ in 0..n {
            nodes.nodes.push(Node {
                port: shared,
                child: None,
            });
        }
        for i in 0..n {
            nodes.spawn(i);
        }
        nodes.wait_ready(&(0..n).collect::<Vec<_>>(), true);
        nodes.write_known_hosts();
        nodes.settle(&(0..n).collect::<Vec<_>>());
        nodes
    }

    /// The temp dir holding keys, configs, pid files, logs and `known_hosts`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// `127.0.0.{i+2}`.
    pub fn host(&self, i: usize) -> String {
        format!("127.0.0.{}", i + 2)
    }

    /// `node{i+1:02}`: node01, node02, …
    pub fn name(&self, i: usize) -> String {
        format!("node{:02}", i + 1)
    }

    /// The role of node `i` in `baton_yaml`: `web` for even `i`, `db` for odd `i`.
    pub fn role(&self, i: usize) -> &'static str {
        if i.is_multiple_of(2) { "web" } else { "db" }
    }

    /// The `zone` label of node `i` in `baton_yaml`: `a` for i = 0, 1, `b` for 2, 3, `a` for 4, 5, …
    pub fn zone(&self, i: usize) -> &'static str {
        if (i / 2).is_multiple_of(2) { "a" } else { "b" }
    }

    /// The client's ed25519 private key (mode 0600), accepted by every node.
    pub fn client_key(&self) -> PathBuf {
        self.dir().join("client/id_ed25519")
    }

    /// An RSA (3072 bits) client private key, accepted by every node. Generated on first call
    /// (it takes about a second) and then added to the nodes' authorized keys.
    pub fn client_rsa_key(&self) -> PathBuf {
        self.rsa_key
            .get_or_init(|| {
                let key = self.dir().join("client/id_rsa");
                let mut cmd = Command::new("ssh-keygen");
                cmd.args([
                    "-q",
                    "-t",
                    "rsa",
                    "-b",
                    "3072",
                    "-N",
                    "",
                    "-C",
                    "baton-test-rsa",
                ])
                .arg("-f")
                .arg(&key);
                keygen_wait(spawn_quiet(&mut cmd, "ssh-keygen"), "client RSA key");
                let public = fs::read(key.with_extension("pub")).unwrap();
                let mut auth = fs::OpenOptions::new()
                    .append(true)
                    .open(self.authorized_keys())
                    .unwrap();
                auth.write_all(&public).unwrap();
                key
            })
            .clone()
    }

    /// `known_hosts` with every node's host key as written at start:
    /// `[127.0.0.2]:PORT ssh-ed25519 AAAA…`. Not updated by `change_host_key`.
    pub fn known_hosts(&self) -> PathBuf {
        self.dir().join("known_hosts")
    }

    /// The SHA256 fingerprint of node `i`'s current host key, as `ssh-keygen -lf` prints it
    /// (`SHA256:…`).
    pub fn host_key_fingerprint(&self, i: usize) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.host_key(i).with_extension("pub"))
            .output()
            .expect("ssh-keygen runs");
        assert!(out.status.success(), "ssh-keygen -lf failed: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)
            .expect("ssh-keygen -lf prints a fingerprint")
            .to_string()
    }

    /// The login user on every node: the current user (root in CI).
    pub fn user(&self) -> String {
        self.user.clone()
    }

    /// A per-node scratch directory (empty at start). Nodes share this machine's filesystem, so
    /// tests that write files "on a node" must use per-node paths such as this one.
    pub fn node_dir(&self, i: usize) -> PathBuf {
        self.state_dir(i).join("scratch")
    }

    /// The `HOME` of remote commands on node `i` (an empty home with empty rc files; the
    /// working directory of a remote command is still the user's real home from passwd).
    pub fn node_home(&self, i: usize) -> PathBuf {
        self.state_dir(i).join("home")
    }

    /// Node `i`'s sshd log (`LogLevel ERROR`).
    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(self.state_dir(i).join("sshd.log")).unwrap_or_default()
    }

    /// A `nodes:` + `ssh:` YAML fragment for baton.yaml naming every node (host, port, user, key,
    /// roles, labels, and `vars: { dir: <node_dir> }`) and `ssh: { known_hosts, connect_timeout:
    /// 5s }`. Roles and zones: see `role` and `zone`.
    pub fn baton_yaml(&self) -> String {
        self.baton_yaml_as(&self.user.clone())
    }

    /// `baton_yaml` with `user` as every node's login user.
    pub fn baton_yaml_as(&self, user: &str) -> String {
        let mut y = String::from("nodes:\n");
        for i in 0..self.len() {
            y.push_str(&format!(
                "  {}: {{ host: {}, port: {}, user: {}, key: {}, roles: [{}], labels: {{ zone: {} }}, vars: {{ dir: {} }} }}\n",
                self.name(i),
                self.host(i),
                self.port(i),
                yaml_str(user),
                yaml_str(&self.client_key().display().to_string()),
                self.role(i),
                self.zone(i),
                yaml_str(&self.node_dir(i).display().to_string()),
            ));
        }
        // `config: false`: tests never depend on this machine's ~/.ssh/config.
        y.push_str(&format!(
            "ssh: {{ known_hosts: {}, connect_timeout: 5s, config: false }}\n",
            yaml_str(&self.known_hosts().display().to_string())
        ));
        y
    }

    /// Replace node `i`'s daemon by a gate on the same address that lets only processes of
    /// `uid` in — a bastion's sshd opens the connections it forwards as its login user — and
    /// closes every other connection before the SSH banner. An accepted connection is served
    /// by `sshd -i` (inetd mode: same config, host key and log). Returns once the gate listens.
    pub fn allow_only_uid(&mut self, i: usize, uid: u32) {
        self.stop(i);
        let addr = SocketAddrV4::new(ip(i), self.port(i));
        let listener = TcpListener::bind(addr).expect("the gate binds the node's address");
        let mut gate = Gate {
            node: i,
            addr,
            stop: Arc::new(AtomicBool::new(false)),
            refused: Arc::new(AtomicUsize::new(0)),
            sessions: Arc::new(Mutex::new(Vec::new())),
            thread: None,
        };
        let (stop, refused, sessions) = (
            gate.stop.clone(),
            gate.refused.clone(),
            gate.sessions.clone(),
        );
        let (sshd, config, log) = (
            self.sshd.clone(),
            self.config(i),
            self.state_dir(i).join("sshd.log"),
        );
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                // /proc/net/tcp is read in pieces while other tests open and close sockets:
                // an entry can be missed by one read, so a socket with no owner found is
                // looked up again before it is refused.
                let owner = match stream.peer_addr() {
                    Ok(SocketAddr::V4(peer)) => (0..5).find_map(|_| {
                        socket_owner(peer).or_else(|| {
                            std::thread::sleep(Duration::from_millis(5));
                            None
                        })
                    }),
                    _ => None,
                };
                if owner != Some(uid) {
                    refused.fetch_add(1, Ordering::SeqCst);
                    drop(stream);
                    continue;
                }
                let input = stream.try_clone().expect("dup the connection");
                let child = Command::new(&sshd)
                    .arg("-i")
                    .arg("-f")
                    .arg(&config)
                    .arg("-E")
                    .arg(&log)
                    .stdin(Stdio::from(std::os::fd::OwnedFd::from(input)))
                    .stdout(Stdio::from(std::os::fd::OwnedFd::from(stream)))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("sshd -i starts");
                sessions.lock().unwrap().push(child);
            }
        });
        gate.thread = Some(thread);
        self.gates.push(gate);
    }

    /// Connections node `i`'s gate closed because they came from another user.
    pub fn refused_connections(&self, i: usize) -> usize {
        self.gates
            .iter()
            .find(|g| g.node == i)
            .map_or(0, |g| g.refused.load(Ordering::SeqCst))
    }

    /// The system OpenSSH client, set up for node `i` (key, port, this `known_hosts`, strict host
    /// key checking, batch mode, no ssh_config, curve25519 key exchange), running `remote`.
    pub fn ssh(&self, i: usize, remote: &str) -> Command {
        self.ssh_with_key(i, &self.client_key(), remote)
    }

    pub fn ssh_with_key(&self, i: usize, key: &Path, remote: &str) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.arg("-i")
            .arg(key)
            .arg("-p")
            .arg(self.port(i).to_string())
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.known_hosts().display()
            ))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "ConnectTimeout=5",
                // The cheap key exchange: the default post-quantum one costs ~3x the CPU.
                "-o",
                "KexAlgorithms=curve25519-sha256",
                "-F",
                "/dev/null",
            ])
            .arg(format!("{}@{}", self.user, self.host(i)))
            .arg(remote)
            .stdin(Stdio::null());
        cmd
    }

    /// Whether node `i`'s sshd is running.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Stop node `i` as if the machine went down: kill its listener and every process under it
    /// (open sessions and their commands included), then wait until its address refuses
    /// connections. No-op when already stopped.
    pub fn stop(&mut self, i: usize) {
        let Some(mut child) = self.nodes[i].child.take() else {
            return;
        };
        kill_tree(child.id() as i32);
        let _ = child.wait();
        let _ = fs::remove_file(self.pid_file(i));
        let addr = self.addr(i);
        let started = Instant::now();
        loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => break,
                _ => {}
            }
            assert!(
                started.elapsed() < STOP_LIMIT,
                "{} ({addr}) still accepts connections after its sshd was killed",
                self.name(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Restart node `i` (stopped or not) with the same host key, config and port.
    pub fn start_again(&mut self, i: usize) {
        self.stop(i);
        self.spawn(i);
        self.wait_ready(&[i], false);
        self.settle(&[i]);
    }

    /// Regenerate node `i`'s host key and restart it. `known_hosts` is NOT updated, so clients
    /// using it must refuse the node ("REMOTE HOST IDENTIFICATION HAS CHANGED").
    pub fn change_host_key(&mut self, i: usize) {
        self.stop(i);
        let key = self.host_key(i);
        let _ = fs::remove_file(&key);
        let _ = fs::remove_file(key.with_extension("pub"));
        let (child, what) = keygen_spawn(&key, "ed25519", &self.name(i));
        keygen_wait(child, &what);
        self.spawn(i);
        self.wait_ready(&[i], false);
        self.settle(&[i]);
    }

    /// Live (non-zombie) `sshd` processes of these daemons: the listeners and every sshd process
    /// descended from one (per-connection monitors and session processes), plus any sshd whose
    /// command line names this harness's dir. Remote commands (bash, sleep…) are not counted.
    pub fn sshd_process_count(&self) -> usize {
        self.sshd_pids().len()
    }

    /// The pids counted by `sshd_process_count`.
    pub fn sshd_pids(&self) -> Vec<i32> {
        let table = process_table();
        let listeners: Vec<i32> = self
            .nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.id() as i32))
            .collect();
        let dir = self.dir().display().to_string();
        table
            .iter()
            .filter(|(pid, p)| {
                !p.zombie
                    && p.comm == "sshd"
                    && (descends_from(&table, **pid, &listeners)
                        || fs::read(format!("/proc/{pid}/cmdline"))
                            .map(|c| String::from_utf8_lossy(&c).contains(&dir))
                            .unwrap_or(false))
            })
            .map(|(pid, _)| *pid)
            .collect()
    }

    /// Live processes under these daemons that are not sshd: remote commands and anything they
    /// left running (a watchdog, a background job). Zero once every command has ended.
    pub fn remote_process_count(&self) -> usize {
        self.remote_processes().len()
    }

    /// The processes counted by `remote_process_count`, as `pid comm`, for messages.
    pub fn remote_processes(&self) -> Vec<String> {
        let table = process_table();
        let listeners: Vec<i32> = self
            .nodes
            .iter()
            .filter_map(|n| n.child.as_ref().map(|c| c.id() as i32))
            .collect();
        table
            .iter()
            .filter(|(pid, p)| {
                !p.zombie
                    && p.comm != "sshd"
                    && p.comm != "sshd-session"
                    && descends_from(&table, **pid, &listeners)
            })
            .map(|(pid, p)| format!("{pid} {}", p.comm))
            .collect()
    }

    /// Cut every open connection to node `i` as a network failure would: SIGKILL the sshd
    /// processes serving them (the listener stays). Returns how many were killed.
    pub fn kill_sessions(&self, i: usize) -> usize {
        let Some(listener) = self.nodes[i].child.as_ref().map(|c| c.id() as i32) else {
            return 0;
        };
        let table = process_table();
        let mut killed = 0;
        for (pid, p) in &table {
            if *pid != listener
                && !p.zombie
                && (p.comm == "sshd" || p.comm == "sshd-session")
                && descends_from(&table, *pid, &[listener])
                && kill(Pid::from_raw(*pid), Signal::SIGKILL).is_ok()
            {
                killed += 1;
            }
        }
        killed
    }

    // ----- internals -----

    fn state_dir(&self, i: usize) -> PathBuf {
        self.dir().join(self.name(i))
    }

    fn host_key(&self, i: usize) -> PathBuf {
        self.state_dir(i).join("ssh_host_ed25519_key")
    }

    fn config(&self, i: usize) -> PathBuf {
        self.state_dir(i).join("sshd_config")
    }

    fn pid_file(&self, i: usize) -> PathBuf {
        self.state_dir(i).join("sshd.pid")
    }

    fn authorized_keys(&self) -> PathBuf {
        self.dir().join("client/authorized_keys")
    }

    fn addr(&self, i: usize) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(ip(i), self.port(i)))
    }

    fn write_config(&self, i: usize) {
        let nd = self.state_dir(i);
        let text = format!(
            "ListenAddress {host}:{port}\n\
             HostKey {key}\n\
             PidFile {pid}\n\
             AuthorizedKeysFile {auth}\n\
             PubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             UseDNS no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             MaxStartups 200\n\
             Subsystem sftp internal-sftp\n\
             SetEnv HOME={home}\n\
             LogLevel ERROR\n",
            host = self.host(i),
            port = self.port(i),
            key = self.host_key(i).display(),
            pid = self.pid_file(i).display(),
            auth = self.authorized_keys().display(),
            home = nd.join("home").display(),
        );
        fs::write(self.config(i), text).expect("write sshd_config");
    }

    fn spawn(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} already running");
        let _ = fs::remove_file(self.pid_file(i));
        self.write_config(i);
        let log = self.state_dir(i).join("sshd.log");
        let child = Command::new(&self.sshd)
            .arg("-D")
            .arg("-f")
            .arg(self.config(i))
            .arg("-E")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.sshd.display()));
        self.nodes[i].child = Some(child);
    }

    /// Wait until each of `which` has written its pid file and accepts a connection. A daemon
    /// that exits because its port is taken is restarted: on a new port of its own when
    /// `may_move`, else on the same port (another process may hold it for a moment).
    fn wait_ready(&mut self, which: &[usize], may_move: bool) {
        let started = Instant::now();
        let mut pending: Vec<usize> = which.to_vec();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for &i in &pending {
                let child = self.nodes[i].child.as_mut().expect("spawned");
                let pid = child.id();
                if let Some(status) = child.try_wait().expect("try_wait on sshd") {
                    self.nodes[i].child = None;
                    let log = self.log(i);
                    let bind_failed = log.contains("Address already in use")
                        || log.contains("Cannot bind any address");
                    assert!(
                        bind_failed,
                        "sshd of {} exited ({status}) at start; its log ({}):\n{log}",
                        self.name(i),
                        self.state_dir(i).join("sshd.log").display()
                    );
                    // Forget the old failure so the next one is told apart.
                    let _ = fs::write(self.state_dir(i).join("sshd.log"), "");
                    if may_move {
                        self.nodes[i].port = free_port(ip(i));
                    }
                    self.spawn(i);
                    still.push(i);
                    continue;
                }
                let written = fs::read_to_string(self.pid_file(i))
                    .ok()
                    .and_then(|s| s.trim().parse::<u32>().ok());
                if written == Some(pid) && answers_ssh(&self.addr(i)) {
                    continue;
                }
                still.push(i);
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if started.elapsed() > START_LIMIT {
                let names: Vec<String> = pending.iter().map(|&i| self.name(i)).collect();
                let logs: Vec<String> = pending
                    .iter()
                    .map(|&i| format!("--- {} log\n{}", self.name(i), self.log(i)))
                    .collect();
                panic!(
                    "sshd did not accept connections within {START_LIMIT:?}: {}\n{}",
                    names.join(", "),
                    logs.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until the short-lived sshd processes forked for the readiness probes of the (just
    /// started) nodes `which` are gone: each of them is then its listener alone, and
    /// `sshd_process_count` is exactly one per running node when `start` returns.
    fn settle(&self, which: &[usize]) {
        let started = Instant::now();
        loop {
            let table = process_table();
            let busy: Vec<usize> = which
                .iter()
                .copied()
                .filter(|&i| {
                    let Some(listener) = self.nodes[i].child.as_ref().map(|c| c.id() as i32) else {
                        return false;
                    };
                    table
                        .iter()
                        .filter(|(pid, p)| {
                            !p.zombie
                                && p.comm == "sshd"
                                && descends_from(&table, **pid, &[listener])
                        })
                        .count()
                        > 1
                })
                .collect();
            if busy.is_empty() {
                return;
            }
            assert!(
                started.elapsed() < START_LIMIT,
                "the readiness probes of {} still have sshd processes {START_LIMIT:?} after start",
                busy.iter()
                    .map(|&i| self.name(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn write_known_hosts(&self) {
        let mut text = String::new();
        for i in 0..self.len() {
            let public = fs::read_to_string(self.host_key(i).with_extension("pub")).unwrap();
            let mut fields = public.split_whitespace();
            let (kind, blob) = (fields.next().unwrap(), fields.next().unwrap());
            text.push_str(&format!(
                "[{}]:{} {kind} {blob}\n",
                self.host(i),
                self.port(i)
            ));
        }
        fs::write(self.known_hosts(), text).expect("write known_hosts");
    }
}

/// A node that admits only one user's connections (`allow_only_uid`).
struct Gate {
    node: usize,
    addr: SocketAddrV4,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    sessions: Arc<Mutex<Vec<Child>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&SocketAddr::V4(self.addr), Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for mut child in self.sessions.lock().unwrap().drain(..) {
            kill_tree(child.id() as i32);
            let _ = child.wait();
        }
    }
}

/// The uid owning the local socket `peer` (a connection from this machine), from
/// /proc/net/tcp: `local_address` is `AABBCCDD:PORT` in hex, the address in host byte order.
fn socket_owner(peer: SocketAddrV4) -> Option<u32> {
    let want = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(peer.ip().octets()),
        peer.port()
    );
    let table = fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&want.as_str()))
            .then(|| fields.get(7)?.parse().ok())
            .flatten()
    })
}

/// A login user whose sudo needs no password.
pub const SUDO_USER: &str = "baton-sudo";
/// A login user whose sudo asks for [`SUDO_PASSWORD`] (never cached: `timestamp_timeout=0`).
pub const PASSWORD_USER: &str = "baton-sudopw";
pub const SUDO_PASSWORD: &str = "Sud0-pass-for-baton-tests";

/// Create [`SUDO_USER`] and [`PASSWORD_USER`] with their sudoers entry, once per machine
/// (idempotent, serialized across test processes by a lock file). Needs root and sudo: either
/// missing is a failure, never a skip (`scripts/test.sh` installs sudo; CI runs as root).
pub fn ensure_test_users() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        assert_eq!(
            current_user(),
            "root",
            "the become tests create their login users (useradd): run them as root"
        );
        assert!(
            Path::new("/usr/bin/sudo").is_file(),
            "sudo is missing: the become tests need it (apt-get install sudo; scripts/test.sh does)"
        );
        let lock = fs::File::create("/tmp/baton-test-users.lock").unwrap();
        lock.lock().unwrap();
        for user in [SUDO_USER, PASSWORD_USER] {
            let exists = Command::new("id")
                .arg("-u")
                .arg(user)
                .output()
                .unwrap()
                .status
                .success();
            if !exists {
                run_ok(Command::new("useradd").args(["-m", "-s", "/bin/sh", user]));
            }
        }
        // A `*` password is "no password" but not locked: sshd lets a key in.
        run_ok(Command::new("usermod").args(["-p", "*", SUDO_USER]));
        let mut chpasswd = Command::new("chpasswd");
        chpasswd.stdin(Stdio::piped());
        let mut child = chpasswd.spawn().expect("chpasswd runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD_USER}:{SUDO_PASSWORD}\n").as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "chpasswd failed");
        let rules = format!(
            "{SUDO_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n\
             {PASSWORD_USER} ALL=(ALL:ALL) ALL\n\
             Defaults:{PASSWORD_USER} timestamp_timeout=0, lecture=never\n"
        );
        let path = Path::new("/etc/sudoers.d/baton-test");
        if fs::read_to_string(path).ok().as_deref() != Some(rules.as_str()) {
            let staged = path.with_extension("new");
            fs::write(&staged, &rules).unwrap();
            fs::set_permissions(&staged, fs::Permissions::from_mode(0o440)).unwrap();
            run_ok(Command::new("visudo").arg("-cf").arg(&staged));
            fs::rename(&staged, path).unwrap();
        }
    });
}

/// The uid of `user`.
pub fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").arg("-u").arg(user).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[track_caller]
fn run_ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Drop for TestNodes {
    fn drop(&mut self) {
        self.gates.clear();
        for i in 0..self.nodes.len() {
            if let Some(mut child) = self.nodes[i].child.take() {
                kill_tree(child.id() as i32);
                let _ = child.wait();
            }
        }
        // The TempDir removes the directory when it drops, right after this.
    }
}

/// Whether an SSH server at `addr` accepts a connection and sends its banner. Waiting for the
/// banner (rather than only connecting) makes sure sshd has forked the connection's process, so
/// that `settle` sees it and waits for it to end.
fn answers_ssh(addr: &SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.contains(&b'\n') && got.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"SSH-")
}

fn ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, (i + 2) as u8)
}

/// A double-quoted YAML scalar.
fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn find_sshd() -> PathBuf {
    for p in ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&paths) {
            let p = d.join("sshd");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "OpenSSH sshd not found (looked in /usr/sbin, /usr/local/sbin, /sbin and PATH): SSH tests \
         need real sshd daemons. Install it (apt-get install openssh-server openssh-client) or run \
         scripts/test.sh, which does."
    );
}

/// sshd refuses to start without its privilege separation directory.
fn ensure_privsep_dir() {
    let dir = Path::new("/run/sshd");
    if !dir.is_dir() {
        fs::create_dir_all(dir).unwrap_or_else(|e| {
            panic!("sshd needs /run/sshd (privilege separation dir) and it cannot be created: {e}")
        });
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    }
}

fn current_user() -> String {
    let out = Command::new("id")
        .arg("-un")
        .output()
        .expect("`id -un` runs");
    assert!(out.status.success(), "`id -un` failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn spawn_quiet(cmd: &mut Command, what: &str) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {what}: {e} (install openssh-client; scripts/test.sh does it)")
        })
}

fn keygen_spawn(path: &Path, kind: &str, comment: &str) -> (Child, String) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind, "-N", "", "-C", comment])
        .arg("-f")
        .arg(path);
    (
        spawn_quiet(&mut cmd, "ssh-keygen"),
        format!("{kind} key {}", path.display()),
    )
}

fn keygen_wait(child: Child, what: &str) {
    let out = child.wait_with_output().expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "ssh-keygen failed for {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A port free on 127.0.0.2 and on every other node address: bound on all of them at once, then
/// released for sshd to take. If no port is free everywhere after a few tries, the first one is
/// returned and `wait_ready` moves the nodes that cannot bind it.
fn shared_port(n: usize) -> u16 {
    let mut first = None;
    for _ in 0..20 {
        let probe = TcpListener::bind((ip(0), 0)).expect("bind 127.0.0.2:0");
        let port = probe.local_addr().unwrap().port();
        first.get_or_insert(port);
        let held: Result<Vec<TcpListener>, _> =
            (1..n).map(|i| TcpListener::bind((ip(i), port))).collect();
        if held.is_ok() {
            return port;
        }
    }
    first.unwrap()
}

fn free_port(addr: Ipv4Addr) -> u16 {
    TcpListener::bind((addr, 0))
        .unwrap_or_else(|e| panic!("bind {addr}:0: {e}"))
        .local_addr()
        .unwrap()
        .port()
}

struct Proc {
    ppid: i32,
    zombie: bool,
    comm: String,
}

fn process_table() -> HashMap<i32, Proc> {
    let mut table = HashMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return table;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("");
        let ppid = rest.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        table.insert(
            pid,
            Proc {
                ppid,
                zombie: state == "Z" || state == "X",
                comm,
            },
        );
    }
    table
}

fn descends_from(table: &HashMap<i32, Proc>, pid: i32, roots: &[i32]) -> bool {
    let mut p = pid;
    for _ in 0..64 {
        if roots.contains(&p) {
            return true;
        }
        match table.get(&p) {
            Some(proc_) if proc_.ppid > 1 => p = proc_.ppid,
            _ => return false,
        }
    }
    false
}

/// Kill `root` and every process under it without letting any escape: stop the root (no more
/// forks), then stop descendants until no new one appears, then SIGKILL them all.
fn kill_tree(root: i32) {
    let signal = |pid: i32, s: Signal| {
        let _ = kill(Pid::from_raw(pid), s);
    };
    signal(root, Signal::SIGSTOP);
    let mut all = vec![root];
    loop {
        let table = process_table();
        let new: Vec<i32> = table
            .iter()
            .filter(|(pid, p)| !p.zombie && !all.contains(pid) && all.contains(&p.ppid))
            .map(|(pid, _)| *pid)
            .collect();
        if new.is_empty() {
            break;
        }
        for &pid in &new {
            signal(pid, Signal::SIGSTOP);
        }
        all.extend(new);
    }
    for &pid in &all {
        signal(pid, Signal::SIGKILL);
    }
}
