//! Privilege escalation (`become`) through the real binary, on real sshd nodes logged into as
//! non-root users with real sudo: commands, uploads, config writes and resources run as root
//! (or `become_user`) only when asked; a sudo that wants a password fails with sudo's words
//! unless `become_password_secret` gives it, and then the password reaches no log, no
//! `baton logs`, no store file.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, sudo

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::nodes::{PASSWORD_USER, SUDO_PASSWORD, SUDO_USER, TestNodes, ensure_test_users};
use common::{Project, Run};

/// A directory on node `i` only root may write into.
fn root_only(nodes: &TestNodes, i: usize) -> PathBuf {
    let dir = nodes.node_dir(i).join("root-only");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn owner(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

/// The newest run's number.
fn last_run(p: &Project) -> i64 {
    p.baton(&["runs", "--json"]).code(0).json()[0]["id"]
        .as_i64()
        .unwrap()
}

/// The nodes' YAML with `user` as node01's login user and `second` as node02's.
fn nodes_yaml(nodes: &TestNodes, second: &str) -> String {
    let yaml = nodes.baton_yaml_as(SUDO_USER);
    yaml.lines()
        .map(|line| {
            if line.starts_with("  node02:") {
                line.replace(
                    &format!("user: \"{SUDO_USER}\""),
                    &format!("user: \"{second}\""),
                )
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn become_runs_commands_uploads_configs_and_resources_as_root_and_nothing_else_does() {
    ensure_test_users();
    let nodes = TestNodes::start(1);
    let dir = root_only(&nodes, 0);
    let nobody_dir = nodes.node_dir(0).join("nobody-dir");
    std::fs::create_dir_all(&nobody_dir).unwrap();
    std::os::unix::fs::chown(&nobody_dir, Some(65534), None).unwrap();
    let d = dir.display();
    let n = nobody_dir.display();
    let p = Project::new(&format!(
        r#"{nodes}
configs:
  plain: {{ targets: node01, path: "{d}/plain.conf", content: "a=1\n" }}
  escalated: {{ targets: node01, path: "{d}/app.conf", content: "a=1\n", become: true }}
resources:
  marker: {{ type: file, node: node01, path: "{d}/resource.txt", content: "made by infra", become: true }}
pipelines:
  plain:
    stages:
      write: {{ targets: node01, run: 'id -un; touch "{d}/plain"' }}
  plain_upload:
    stages:
      copy: {{ targets: node01, steps: [ {{ upload: {{ src: payload.txt, dest: "{d}/plain.txt" }} }} ] }}
  escalated:
    stages:
      write:
        targets: node01
        become: true
        env: {{ GREETING: "it's me" }}
        run: 'echo "I am $(id -un), $GREETING on $BATON_NODE"; touch "{d}/made"'
      copy:
        targets: node01
        become: true
        steps: [ {{ upload: {{ src: payload.txt, dest: "{d}/sub/payload.txt" }} }} ]
  as_nobody:
    stages:
      write: {{ targets: node01, become: true, become_user: nobody, run: 'id -un; touch "{n}/by-nobody"' }}
      here: {{ become: true, become_user: nobody, run: 'echo "here as $(id -un)"' }}
"#,
        nodes = nodes.baton_yaml_as(SUDO_USER),
    ));
    p.write("payload.txt", "payload bytes\n");

    // Without become the login user is refused by the filesystem, as it should be.
    p.baton(&["run", "plain"]).code(1);
    let logs = p.baton(&["logs", "1"]);
    logs.stdout_has(SUDO_USER).stdout_has("Permission denied");
    p.baton(&["run", "plain_upload"]).code(1);
    p.baton(&["config", "apply", "plain"]).code(1);
    assert!(!dir.join("plain").exists() && !dir.join("plain.txt").exists());
    assert!(!dir.join("plain.conf").exists());

    // With it: root, the stage's env kept through sudo, files owned by root.
    p.baton(&["run", "escalated"]).code(0);
    p.baton(&["logs", &last_run(&p).to_string(), "--stage", "write"])
        .code(0)
        .stdout_has("I am root, it's me on node01");
    assert_eq!(owner(&dir.join("made")), 0);
    let uploaded = dir.join("sub/payload.txt");
    assert_eq!(
        std::fs::read_to_string(&uploaded).unwrap(),
        "payload bytes\n"
    );
    assert_eq!(owner(&uploaded), 0);
    assert_eq!(owner(&dir.join("sub")), 0);

    // become_user: the file is the other user's.
    p.baton(&["run", "as_nobody"]).code(0);
    assert_eq!(owner(&nobody_dir.join("by-nobody")), 65534);
    // The local node escalates the same way.
    p.baton(&["logs", &last_run(&p).to_string(), "--stage", "here"])
        .code(0)
        .stdout_has("here as nobody");

    // Config writes and resources honour it too.
    p.baton(&["config", "apply", "escalated"]).code(0);
    assert_eq!(
        std::fs::read_to_string(dir.join("app.conf")).unwrap(),
        "a=1\n"
    );
    assert_eq!(owner(&dir.join("app.conf")), 0);
    p.baton(&["config", "diff", "escalated"]).code(0);
    p.baton(&["apply", "--auto-approve"]).code(0);
    assert_eq!(
        std::fs::read_to_string(dir.join("resource.txt")).unwrap(),
        "made by infra"
    );
    assert_eq!(owner(&dir.join("resource.txt")), 0);
    // A second plan reads it back (as root) and finds nothing to do.
    p.baton(&["plan"]).code(0).stdout_has("No changes.");
}

#[test]
fn a_node_level_become_applies_to_every_stage_and_a_stage_may_turn_it_off() {
    ensure_test_users();
    let nodes = TestNodes::start(1);
    let dir = root_only(&nodes, 0);
    let d = dir.display();
    let yaml = nodes
        .baton_yaml_as(SUDO_USER)
        .replace("vars: {", "become: true, vars: {");
    let p = Project::new(&format!(
        r#"{yaml}
pipelines:
  p:
    stages:
      root: {{ targets: node01, run: 'test "$(id -un)" = root; touch "{d}/by-node-become"' }}
      login: {{ targets: node01, become: false, run: 'test "$(id -un)" = {SUDO_USER}' }}
  slow:
    stages:
      sleep: {{ targets: node01, timeout: 2s, run: 'sleep 300 & sleep 301' }}
"#
    ));
    p.baton(&["run", "p"]).code(0);
    assert_eq!(owner(&dir.join("by-node-become")), 0);
    // A timeout kills the escalated tree (root's processes, killed through sudo).
    p.baton(&["run", "slow"]).code(1).stdout_has("timed_out");
    common::wait_for(
        "the escalated commands to be gone",
        std::time::Duration::from_secs(15),
        || nodes.remote_process_count() == 0,
    );
    // Ad-hoc commands follow the node's become as well, directly and through the connection
    // daemon (`ssh.persist`).
    p.baton(&["exec", "node01", "--", "id -un"])
        .code(0)
        .stdout_has("root");
    p.write(
        "baton.yaml",
        &std::fs::read_to_string(p.file("baton.yaml"))
            .unwrap()
            .replace("config: false", "config: false, persist: 2s"),
    );
    p.baton(&["exec", "node01", "--", "id -un"])
        .code(0)
        .stdout_has("root");
}

/// A user with an age identity (secrets need one).
fn with_secret(p: &Project, home: &Path, name: &str, value: &str) {
    let run = |args: &[&str], stdin: &str| -> Run {
        let mut cmd = p.command(args);
        cmd.env("HOME", home)
            .env_remove("BATON_IDENTITY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let public = run(&["secret", "keygen"], "");
    public.code(0);
    let yaml = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    p.write(
        "baton.yaml",
        &format!(
            "secrets: {{ recipients: [{}] }}\n{yaml}",
            public.stdout.trim()
        ),
    );
    run(&["secret", "set", name], &format!("{value}\n")).code(0);
}

/// Every file under `dir` holding `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn a_sudo_that_wants_a_password_fails_clearly_and_works_with_the_secret_which_stays_hidden() {
    ensure_test_users();
    let nodes = TestNodes::start(2);
    let dir = root_only(&nodes, 1);
    let d = dir.display();
    let home = tempfile::tempdir().unwrap();
    let p = Project::new(&format!(
        r#"{nodes}
pipelines:
  without:
    stages:
      write: {{ targets: node02, become: true, run: 'touch "{d}/without"' }}
  with:
    stages:
      write:
        targets: node02
        become: true
        become_password_secret: SUDO_PW
        run: 'echo "I am $(id -un)"; touch "{d}/with"; test -z "${{BATON_BECOME_PASSWORD:-}}" && echo no password variable'
      copy:
        targets: node02
        become: true
        become_password_secret: SUDO_PW
        steps: [ {{ upload: {{ src: payload.txt, dest: "{d}/payload.txt" }} }} ]
  wrong:
    stages:
      write: {{ targets: node02, become: true, become_password_secret: WRONG_PW, run: 'touch "{d}/wrong"' }}
"#,
        nodes = nodes_yaml(&nodes, PASSWORD_USER),
    ));
    p.write("payload.txt", "secret-free bytes\n");
    let baton = |args: &[&str]| -> Run {
        let out = p.command(args).env("HOME", home.path()).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };

    // No secret: sudo -n's own words, and what to do.
    let out = baton(&["run", "without"]);
    out.code(1);
    let show = baton(&["show", "1", "--json"]).json();
    let reason = show["stages"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + &show.to_string();
    assert!(
        reason.contains("a password is required") && reason.contains("become_password_secret"),
        "{reason}"
    );
    assert!(!dir.join("without").exists());

    with_secret(&p, home.path(), "SUDO_PW", SUDO_PASSWORD);
    // Another secret with a wrong password: sudo's three attempts, then a clear refusal.
    {
        let mut cmd = p.command(&["secret", "set", "WRONG_PW"]);
        cmd.env("HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"not-the-password\n")
            .unwrap();
        assert!(child.wait().unwrap().success());
    }

    let out = baton(&["run", "with"]);
    out.code(0);
    let logs = baton(&["logs", "2"]);
    logs.code(0).stdout_has("I am root");
    logs.stdout_has("no password variable");
    assert_eq!(owner(&dir.join("with")), 0);
    assert_eq!(owner(&dir.join("payload.txt")), 0);

    let out = baton(&["run", "wrong"]);
    out.code(1);
    let shown = baton(&["show", "3", "--json"]).stdout;
    assert!(shown.contains("incorrect password"), "{shown}");
    assert!(!dir.join("wrong").exists());

    // The password is nowhere: not in what baton printed, not in `baton logs`, not in the
    // store (database, logs, anything under the project).
    for out in [&out, &logs] {
        assert!(!out.stdout.contains(SUDO_PASSWORD) && !out.stderr.contains(SUDO_PASSWORD));
    }
    assert_eq!(
        files_containing(p.path(), SUDO_PASSWORD),
        Vec::<PathBuf>::new(),
        "the password is stored in plain text"
    );
    assert!(!nodes.log(1).contains(SUDO_PASSWORD));
}
