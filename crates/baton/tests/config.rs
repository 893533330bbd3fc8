//! `baton config …` against real OpenSSH sshd nodes on loopback and a real SQLite store.
//! Nodes share this machine's filesystem, so every config writes under `node.vars.dir`.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use baton_store::{SqliteStore, Store};
use common::nodes::TestNodes;
use common::{Project, wait_for};

fn project(nodes: &TestNodes, rest: &str) -> Project {
    Project::new(&format!("{}{rest}", nodes.baton_yaml()))
}

fn config_yaml(nodes: &TestNodes, body: &str) -> String {
    format!("{}configs:\n{body}", nodes.baton_yaml())
}

fn target(nodes: &TestNodes, i: usize, name: &str) -> PathBuf {
    let dir = nodes.node_dir(i);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn read(path: &PathBuf) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

const APP: &str = "  app:\n    targets: all\n    path: \"{{ node.vars.dir }}/app.json\"\n";

#[test]
fn apply_change_rollback_and_back_to_the_originals() {
    let nodes = TestNodes::start(3);
    let files: Vec<PathBuf> = (0..3).map(|i| target(&nodes, i, "app.json")).collect();
    // node01 had a file before baton (with its own mode); the others had none.
    std::fs::write(&files[0], "{\"original\": true}\n").unwrap();
    std::fs::set_permissions(&files[0], std::fs::Permissions::from_mode(0o640)).unwrap();
    let v = |n: u32| {
        config_yaml(
            &nodes,
            &format!("{APP}    content: '{{\"v\": {n}, \"node\": \"{{{{ node.name }}}}\"}}'\n"),
        )
    };
    let p = Project::new(&v(1));
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("3 changed")
        .stdout_has("version 1");
    let v1: Vec<String> = files.iter().map(|f| read(f).unwrap()).collect();
    assert_eq!(v1[1], "{\"v\": 1, \"node\": \"node02\"}");
    // The mode of the file baton replaced is kept.
    assert_eq!(std::fs::metadata(&files[0]).unwrap().mode() & 0o7777, 0o640);

    p.write("baton.yaml", &v(2));
    p.baton(&["config", "diff", "app"])
        .code(3)
        .stdout_has("+{\"v\": 2");
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("version 2");
    assert_eq!(read(&files[2]).unwrap(), "{\"v\": 2, \"node\": \"node03\"}");
    // A second apply with nothing to change records nothing.
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("0 changed");
    p.baton(&["config", "diff", "app"]).code(0);

    p.baton(&["config", "rollback", "app"])
        .code(0)
        .stdout_has("version 3");
    for (file, before) in files.iter().zip(&v1) {
        assert_eq!(std::fs::read(file).unwrap(), before.as_bytes());
    }
    assert_eq!(std::fs::metadata(&files[0]).unwrap().mode() & 0o7777, 0o640);

    p.baton(&["config", "rollback", "app", "--to", "0"])
        .code(0)
        .stdout_has("version 4");
    assert_eq!(read(&files[0]).unwrap(), "{\"original\": true}\n");
    assert_eq!(std::fs::metadata(&files[0]).unwrap().mode() & 0o7777, 0o640);
    assert!(!files[1].exists() && !files[2].exists());

    let history = p
        .baton(&["config", "history", "app", "--json"])
        .code(0)
        .json();
    let actions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "applied",
            "applied",
            "rolled back from v2 to v1",
            "rolled back from v3 to v0"
        ]
    );
    assert!(history[0]["who"].as_str().unwrap().contains('@'));
    let list = p.baton(&["config", "list", "--json"]).code(0).json();
    assert_eq!(list[0]["versions"][0]["version"], 4);
    assert_eq!(list[0]["versions"][0]["drift"], serde_json::json!([]));
}

#[test]
fn an_invalid_rendering_on_one_node_leaves_every_node_untouched() {
    let nodes = TestNodes::start(3);
    let files: Vec<PathBuf> = (0..3).map(|i| target(&nodes, i, "app.json")).collect();
    for f in &files {
        std::fs::write(f, "before\n").unwrap();
    }
    let p = Project::new(&config_yaml(
        &nodes,
        &format!(
            "{APP}    content: |\n      {{\n        \"a\": 1,\n        \"b\": {{% if node.name == 'node02' %}}{{% else %}}2{{% endif %}}\n      }}\n"
        ),
    ));
    // An invalid config is exit 2, like an invalid project.
    p.baton(&["config", "apply", "app"])
        .code(2)
        .stderr_has("node02")
        .stderr_has("line 4, column 1: expected value (json)")
        .stderr_has("nothing was written");
    for f in &files {
        assert_eq!(read(f).unwrap(), "before\n");
    }
    p.baton(&["config", "validate", "app"]).code(2);
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history, serde_json::json!([]));
}

#[test]
fn concurrent_applies_are_serialized_and_a_killed_apply_leaves_a_stale_lock() {
    let nodes = TestNodes::start(2);
    let logs: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "log")).collect();
    // Two project files in one directory share one store: two different contents of one config.
    // The first apply's on_change blocks until `go` exists on the node; the second is started
    // only then, and must say it waits for the lock before anything of it runs. Without the
    // lock, its on_change would write `begin b` inside the first's begin/end pair.
    let go: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "go")).collect();
    let body = |who: &str| {
        config_yaml(
            &nodes,
            &format!(
                "{APP}    content: '{{\"by\": \"{who}\"}}'\n    on_change: echo begin {who} >> {{{{ node.vars.dir }}}}/log; while [ ! -e {{{{ node.vars.dir }}}}/go ]; do sleep 0.05; done; echo end {who} >> {{{{ node.vars.dir }}}}/log\n"
            ),
        )
    };
    let p = Project::new(&body("a"));
    p.write("b.yaml", &body("b"));
    let first = p.spawn(&["config", "apply", "app"]);
    wait_for(
        "the first apply's on_change",
        Duration::from_secs(30),
        || {
            logs.iter()
                .all(|l| read(l).is_some_and(|t| t.contains("begin a")))
        },
    );
    let mut second = p.spawn(&["-f", "b.yaml", "config", "apply", "app"]);
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = second.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the second apply never said it waits: {seen:?}"));
        if line.contains("waiting for config `app`") {
            break;
        }
        seen.push(line);
    }
    for l in &logs {
        assert_eq!(read(l).unwrap(), "begin a\n");
    }
    for g in &go {
        std::fs::write(g, "").unwrap();
    }
    for child in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for log in &logs {
        let text = read(log).unwrap();
        assert_eq!(text, "begin a\nend a\nbegin b\nend b\n");
    }
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history.as_array().unwrap().len(), 2);

    // Kill -9 an apply while its on_change runs: every file is old or new, the lock is stale.
    let started = target(&nodes, 0, "started");
    p.write(
        "baton.yaml",
        &config_yaml(
            &nodes,
            &format!(
                "{APP}    content: '{{\"by\": \"c\"}}'\n    on_change: touch {{{{ node.vars.dir }}}}/started; sleep 30\n"
            ),
        ),
    );
    let mut child = p.spawn(&["config", "apply", "app"]);
    wait_for("on_change to start", Duration::from_secs(30), || {
        started.exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    for i in 0..2 {
        let text = read(&target(&nodes, i, "app.json")).unwrap();
        assert!(
            text == "{\"by\": \"c\"}" || text == "{\"by\": \"a\"}" || text == "{\"by\": \"b\"}",
            "{text}"
        );
        assert!(!target(&nodes, i, ".app.json.baton-new").exists());
    }
    let store = SqliteStore::open(&p.file(".baton")).unwrap();
    let lock = store
        .lock("config:app:")
        .unwrap()
        .expect("the lock is left");
    assert!(lock.is_stale());
    drop(store);
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("stale lock");
    p.baton(&["config", "diff", "app"]).code(0);
}

#[test]
fn a_down_node_is_reported_the_others_are_applied_and_rerunning_converges() {
    let mut nodes = TestNodes::start(3);
    let files: Vec<PathBuf> = (0..3).map(|i| target(&nodes, i, "app.json")).collect();
    nodes.stop(1);
    let p = project(
        &nodes,
        &format!("configs:\n{APP}    content: '{{\"n\": \"{{{{ node.name }}}}\"}}'\n"),
    );
    let out = p.baton(&["config", "apply", "app", "--json"]);
    out.code(1);
    let report = out.json();
    let results: Vec<&str> = report["configs"][0]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["changed", "failed", "changed"]);
    assert!(files[0].exists() && files[2].exists() && !files[1].exists());
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history[0]["targets"], 2);

    nodes.start_again(1);
    p.baton(&["config", "apply", "app"])
        .code(0)
        .stdout_has("1 changed · 2 unchanged");
    assert_eq!(read(&files[1]).unwrap(), "{\"n\": \"node02\"}");
    p.baton(&["config", "diff", "app"]).code(0);
}

#[test]
fn mode_and_owner_are_kept_and_symlinks_are_refused() {
    let nodes = TestNodes::start(2);
    let file = target(&nodes, 0, "app.conf");
    std::fs::write(&file, "old\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
    let real = target(&nodes, 1, "real.conf");
    std::fs::write(&real, "real\n").unwrap();
    std::os::unix::fs::symlink(&real, target(&nodes, 1, "app.conf")).unwrap();
    let yaml = |targets: &str, content: &str, extra: &str| {
        config_yaml(
            &nodes,
            &format!(
                "  app:\n    targets: {targets}\n    path: \"{{{{ node.vars.dir }}}}/app.conf\"\n    content: \"{content}\"\n{extra}"
            ),
        )
    };
    // A symlink on one node: refused, and nothing is written anywhere.
    let p = Project::new(&yaml("all", "new\\n", ""));
    p.baton(&["config", "apply", "app"])
        .code(1)
        .stderr_has("symbolic link")
        .stderr_has("nothing was written");
    assert_eq!(read(&file).unwrap(), "old\n");
    assert_eq!(read(&real).unwrap(), "real\n");

    p.write("baton.yaml", &yaml("node01", "new\\n", ""));
    p.baton(&["config", "apply", "app"]).code(0);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o600, 65534, 65534)
    );
    // Asked mode and owner win; a rollback gives the earlier ones back.
    p.write(
        "baton.yaml",
        &yaml(
            "node01",
            "newer\\n",
            "    mode: \"0640\"\n    owner: root\n",
        ),
    );
    p.baton(&["config", "apply", "app"]).code(0);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.mode() & 0o7777, meta.uid()), (0o640, 0));
    p.baton(&["config", "rollback", "app", "--to", "0"]).code(0);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(read(&file).unwrap(), "old\n");
    assert_eq!(
        (meta.mode() & 0o7777, meta.uid(), meta.gid()),
        (0o600, 65534, 65534)
    );
}

#[test]
fn check_mode_env_files_services_and_usage_errors() {
    let nodes = TestNodes::start(1);
    let file = target(&nodes, 0, "app.env");
    let p = Project::new(&format!(
        "{}environments:\n  prod: {{ vars: {{ level: info }} }}\nconfigs:\n  envf:\n    type: env\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.env\"\n    vars: {{ APP_NAME: \"it's $HOME\", LEVEL: \"{{{{ env.vars.level }}}}\" }}\n  unit:\n    type: service\n    targets: all\n    name: baton-test-unit\n    content: \"[Unit]\\nDescription=x\\n\"\n",
        nodes.baton_yaml()
    ));
    // Pending changes: exit 3, as `plan` and `config diff`.
    p.baton(&["config", "apply", "envf", "--env", "prod", "--check"])
        .code(3)
        .stdout_has("+LEVEL=info");
    assert!(!file.exists());
    p.baton(&["config", "apply", "envf", "--env", "prod"])
        .code(0);
    p.baton(&["config", "apply", "envf", "--env", "prod", "--check"])
        .code(0);
    // A shell reads the values back unchanged.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; printf '%s|%s' \"$APP_NAME\" \"$LEVEL\"",
            file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "it's $HOME|info");
    // Versions are per environment.
    let h = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(h[0]["env"], "prod");
    p.baton(&["config", "rollback", "envf"])
        .code(2)
        .stderr_has("never applied");
    // No systemd on the test nodes: a clear error, never a pretended success.
    p.baton(&["config", "apply", "unit"])
        .code(1)
        .stderr_has("no systemd");
    p.baton(&["config", "apply", "nope"])
        .code(2)
        .stderr_has("no config named `nope`");
    p.baton(&["config", "diff", "envf", "--env", "nope"])
        .code(2);
    p.baton(&["config", "rollback", "envf", "--env", "prod", "--to", "7"])
        .code(2)
        .stderr_has("no version 7");
}

#[test]
fn the_pipeline_step_applies_in_the_runs_environment() {
    let nodes = TestNodes::start(2);
    let files: Vec<PathBuf> = (0..2).map(|i| target(&nodes, i, "app.json")).collect();
    let p = Project::new(&format!(
        "{}environments:\n  prod: {{ vars: {{ port: 443 }} }}\nvars: {{ port: 80 }}\nconfigs:\n{APP}    content: '{{\"port\": {{{{ vars.port }}}}}}'\npipelines:\n  deploy:\n    env: prod\n    stages:\n      all_at_once:\n        steps:\n          - config: app\n      per_node:\n        needs: [all_at_once]\n        targets: role:web\n        steps:\n          - config: app\n",
        nodes.baton_yaml()
    ));
    p.baton(&["run", "deploy"]).code(0);
    for f in &files {
        assert_eq!(read(f).unwrap(), "{\"port\": 443}");
    }
    // The step's progress is in the parent run's step log, in the same lines as a config run.
    p.baton(&["logs", "1", "--stage", "all_at_once"])
        .code(0)
        .stdout_has("node01")
        .stdout_has("app.json changed")
        .stdout_has("→ version 1");
    // The pipeline's apply is recorded like the CLI's, in the run's environment.
    let history = p.baton(&["config", "history", "--json"]).code(0).json();
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["env"], "prod");
    p.baton(&["config", "diff", "app", "--env", "prod"]).code(0);
    p.baton(&["config", "diff", "app"]).code(3);
}
