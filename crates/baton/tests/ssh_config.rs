//! SSH as people have it, through the real binary and real sshd nodes: the OpenSSH client
//! configuration (a file given as `ssh.config`, never this machine's ~/.ssh/config), the
//! project's `ssh:` defaults and their precedence, `ProxyJump` through a bastion to a node
//! that refuses direct connections, and an Ansible inventory whose hosts resolve only through
//! ssh_config.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Project;
use common::nodes::{SUDO_USER, TestNodes, ensure_test_users, uid_of};

fn q(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// A fresh key no node accepts.
fn stranger_key(dir: &Path) -> PathBuf {
    let key = dir.join("stranger");
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "stranger", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen runs");
    assert!(out.status.success(), "{out:?}");
    key
}

#[test]
fn node_keys_beat_ssh_config_which_beats_the_ssh_defaults() {
    let nodes = TestNodes::start(1);
    let p = Project::new("");
    let keys = p.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for alias in ["a", "b"] {
        std::fs::copy(nodes.client_key(), keys.join(format!("{alias}_key"))).unwrap();
    }
    let wrong = stranger_key(p.path());
    let (host, port) = (nodes.host(0), nodes.port(0));
    p.write(
        "ssh_config",
        &format!(
            "# ports 1 and 2 have no sshd\n\
             Host a\n  HostName {host}\n  Port 1\n\
             Host b\n  HostName {host}\n  Port {port}\n\
             Host *\n  IdentityFile {}/%n_key\n",
            keys.display()
        ),
    );
    let yaml = |config: &str| {
        format!(
            "nodes:\n\
             \x20 a: {{ port: {port} }}\n\
             \x20 b: {{}}\n\
             \x20 c: {{ host: {host} }}\n\
             \x20 d: {{ host: {host}, port: {port}, key: {key} }}\n\
             \x20 e: {{ host: {host}, port: {port} }}\n\
             ssh: {{ known_hosts: {kh}, connect_timeout: 5s, user: root, port: 2, key: {wrong}, config: {config} }}\n",
            key = q(&nodes.client_key()),
            kh = q(&nodes.known_hosts()),
            wrong = q(&wrong),
        )
    };
    p.write("baton.yaml", &yaml("ssh_config"));
    let exec = |node: &str| p.baton(&["exec", node, "--json", "--", "id -un"]);
    // a: its own port over ssh_config's; the key from ssh_config (`%n` is the alias).
    exec("a").code(0).stdout_has("root");
    // b: ssh_config's HostName and port over the `ssh:` ones.
    exec("b").code(0).stdout_has("root");
    // c: nothing in ssh_config: the `ssh:` port, where nothing listens.
    exec("c").code(1).stdout_has(&format!("{host}:2"));
    // d: its own key, the `ssh:` user.
    exec("d").code(0).stdout_has("root");
    // e: no key of its own nor in ssh_config (e_key does not exist): the `ssh:` key, refused.
    exec("e")
        .code(1)
        .stdout_has("authentication failed")
        .stdout_has("stranger");

    // `config: false`: ssh_config is not read, so `b` is a name no resolver knows.
    p.write("baton.yaml", &yaml("false"));
    exec("b").code(1).stdout_has("cannot resolve host `b`");
    // A config file that does not exist is named.
    p.write("baton.yaml", &yaml("missing_config"));
    exec("d").code(1).stdout_has("missing_config");
}

#[test]
fn an_ansible_inventory_whose_hosts_resolve_only_through_ssh_config_works_as_is() {
    let nodes = TestNodes::start(1);
    let p = Project::new("");
    p.write("hosts.ini", "[web]\nweb1\n");
    p.write(
        "ssh_config",
        &format!(
            "Host web1\n  HostName {}\n  Port {}\n  User root\n  IdentityFile {}\n",
            nodes.host(0),
            nodes.port(0),
            nodes.client_key().display()
        ),
    );
    p.write(
        "baton.yaml",
        &format!(
            "inventory: hosts.ini\n\
             ssh: {{ known_hosts: {}, connect_timeout: 5s, config: ssh_config }}\n\
             pipelines:\n  hello:\n    stages:\n      greet: {{ targets: role:web, run: 'echo hello from $BATON_NODE as $(id -un)' }}\n",
            q(&nodes.known_hosts())
        ),
    );
    p.baton(&["run", "hello"]).code(0);
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("hello from web1 as root");
    // `baton nodes` shows where it really is.
    let listed = p.baton(&["nodes", "web1", "--json"]).code(0).json();
    assert_eq!(listed[0]["host"], nodes.host(0).as_str());
    assert_eq!(listed[0]["port"], nodes.port(0));
    assert_eq!(listed[0]["user"], "root");
    let pong = p.baton(&["ping", "web1", "--json"]);
    pong.code(0);
    assert_eq!(
        pong.json()[0]["address"],
        format!("root@{}:{}", nodes.host(0), nodes.port(0)).as_str()
    );
}

#[test]
fn proxy_jump_reaches_a_node_that_refuses_direct_connections_and_checks_both_host_keys() {
    ensure_test_users();
    let mut nodes = TestNodes::start(2);
    // node02 lets in only connections opened by the bastion's login user: the bastion's sshd
    // opens the connections it forwards as that user; baton (root) connecting is refused.
    nodes.allow_only_uid(1, uid_of(SUDO_USER));
    let p = Project::new("");
    let key = nodes.client_key();
    let (bastion_host, bastion_port) = (nodes.host(0), nodes.port(0));
    let (target_host, target_port) = (nodes.host(1), nodes.port(1));
    p.write(
        "ssh_config",
        &format!(
            "Host bastion\n  HostName {bastion_host}\n  Port {bastion_port}\n  User {SUDO_USER}\n  IdentityFile {k}\n\
             Host target\n  HostName {target_host}\n  Port {target_port}\n  User root\n  IdentityFile {k}\n  ProxyJump bastion\n",
            k = key.display()
        ),
    );
    let yaml = nodes
        .baton_yaml_as(SUDO_USER)
        .replace("config: false", "config: ssh_config")
        .replace(
            "ssh: {",
            &format!(
                "  behind: {{ host: {target_host}, port: {target_port}, user: root, key: {}, proxy_jump: node01 }}\n\
                 \x20 target: {{}}\nssh: {{",
                q(&key)
            ),
        );
    p.write("baton.yaml", &yaml);

    // Directly, node02 refuses: the gate closed the connection before the SSH banner.
    let direct = p.baton(&["exec", "node02", "--json", "--", "true"]);
    direct.code(1).stdout_has("SSH handshake");
    assert!(
        nodes.refused_connections(1) >= 1,
        "the gate saw no direct attempt"
    );

    // Through the bastion, by ssh_config's ProxyJump and by a node's `proxy_jump`.
    for node in ["target", "behind"] {
        p.baton(&[
            "exec",
            node,
            "--json",
            "--",
            "echo on $(id -un) $BATON_NODE",
        ])
        .code(0)
        .stdout_has(&format!("on root {node}"));
    }
    let pong = p.baton(&["ping", "target", "--json"]);
    pong.code(0);
    assert_eq!(
        pong.json()[0]["address"],
        format!("root@{target_host}:{target_port} via bastion").as_str()
    );
    // A pipeline and an upload over the tunnel, as anywhere else.
    p.write("payload.txt", "through the bastion\n");
    let dest = nodes.node_dir(1).join("payload.txt");
    let yaml = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    p.write(
        "baton.yaml",
        &format!(
            "{yaml}pipelines:\n  deliver:\n    stages:\n      copy: {{ targets: target, steps: [ {{ upload: {{ src: payload.txt, dest: {} }} }} ] }}\n",
            q(&dest)
        ),
    );
    p.baton(&["run", "deliver"]).code(0);
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "through the bastion\n"
    );

    // Host keys are checked on both hops, against known_hosts.
    let known = std::fs::read_to_string(nodes.known_hosts()).unwrap();
    let line_of = |host: &str, port: u16| {
        known
            .lines()
            .find(|l| l.starts_with(&format!("[{host}]:{port} ")))
            .unwrap()
            .to_string()
    };
    let bastion_only = p.path().join("bastion_only");
    std::fs::write(&bastion_only, line_of(&bastion_host, bastion_port) + "\n").unwrap();
    let target_only = p.path().join("target_only");
    std::fs::write(&target_only, line_of(&target_host, target_port) + "\n").unwrap();
    let with_known = |file: &Path| {
        let kh = q(&nodes.known_hosts());
        p.write("baton.yaml", &yaml.replace(&kh, &q(file)));
        p.baton(&["exec", "target", "--json", "--", "true"])
    };
    with_known(&bastion_only)
        .code(1)
        .stdout_has("unknown host key");
    with_known(&target_only)
        .code(1)
        .stdout_has("through `bastion`")
        .stdout_has("unknown host key");
}
