//! `--limit SELECTOR` against real sshd nodes: every targeted stage is narrowed to the limit,
//! local stages still run, retries keep it and rollbacks honour it; a limit matching nothing is
//! a usage error that starts no run.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::nodes::TestNodes;

fn project(nodes: &TestNodes) -> Project {
    Project::new(&format!(
        "{}{}",
        nodes.baton_yaml(),
        r#"
pipelines:
  deploy:
    stages:
      build: { run: "touch built" }
      release:
        needs: [build]
        targets: all
        run: 'touch {{ node.vars.dir }}/deployed; test ! -f {{ node.vars.dir }}/broken'
        rollback: ['rm {{ node.vars.dir }}/deployed']
      db:
        needs: [build]
        targets: node03
        run: 'touch {{ node.vars.dir }}/migrated'
"#
    ))
}

#[test]
fn a_limit_narrows_targeted_stages_and_skips_the_ones_left_without_targets() {
    let nodes = TestNodes::start(3);
    let p = project(&nodes);
    p.baton(&["run", "deploy", "--limit", "node01,node02"])
        .code(0);
    assert!(p.file("built").exists(), "a local stage runs under a limit");
    assert!(nodes.node_dir(0).join("deployed").exists());
    assert!(nodes.node_dir(1).join("deployed").exists());
    assert!(!nodes.node_dir(2).join("deployed").exists());
    assert!(!nodes.node_dir(2).join("migrated").exists());
    assert_eq!(p.stage_status(1, "db"), "skipped");
    p.baton(&["show", "1"])
        .code(0)
        .stdout_has("no target within `--limit node01,node02`");

    // Rollback honours its own limit: node01 is undone, node02 keeps its deployment.
    p.baton(&["rollback", "1", "--limit", "node01"]).code(0);
    assert!(!nodes.node_dir(0).join("deployed").exists());
    assert!(nodes.node_dir(1).join("deployed").exists());
}

#[test]
fn a_retry_keeps_the_limit_of_the_run_it_retries() {
    let nodes = TestNodes::start(3);
    let p = project(&nodes);
    std::fs::write(nodes.node_dir(1).join("broken"), "").unwrap();
    p.baton(&["run", "deploy", "--limit", "node02"]).code(1);
    std::fs::remove_file(nodes.node_dir(1).join("broken")).unwrap();
    p.baton(&["retry", "1"]).code(0);
    assert!(nodes.node_dir(1).join("deployed").exists());
    assert!(
        !nodes.node_dir(0).join("deployed").exists(),
        "the retry went beyond the run's --limit"
    );
}

#[test]
fn a_limit_matching_nothing_is_a_usage_error_and_starts_no_run() {
    let nodes = TestNodes::start(3);
    let p = project(&nodes);
    p.baton(&["run", "deploy", "--limit", "role:nope"])
        .code(2)
        .stderr_has("--limit `role:nope`");
    p.baton(&["run", "deploy", "--limit", "web*"])
        .code(2)
        .stderr_has("matches no node");
    p.baton(&["runs", "--json"]).code(0).stdout_has("[]");
}

#[test]
fn config_apply_diff_and_rollback_take_a_limit() {
    let nodes = TestNodes::start(3);
    for i in 0..3 {
        std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
    }
    let yaml = |v: u32| {
        format!(
            "{}configs:\n  app:\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.conf\"\n    content: \"v{v}\\n\"\n",
            nodes.baton_yaml()
        )
    };
    let p = Project::new(&yaml(1));
    p.baton(&["config", "apply", "app", "--limit", "node02"])
        .code(0)
        .stdout_has("1 changed");
    let file = |i: usize| std::fs::read_to_string(nodes.node_dir(i).join("app.conf")).ok();
    assert_eq!(file(1).as_deref(), Some("v1\n"));
    assert_eq!(file(0), None);
    assert_eq!(file(2), None);
    // diff with no name means every config; the limit narrows it to node01 (which differs).
    p.baton(&["config", "diff", "--limit", "node01"])
        .code(3)
        .stdout_has("node01")
        .stdout_lacks("node03");
    p.baton(&["config", "apply", "--all"]).code(0);
    p.write("baton.yaml", &yaml(2));
    p.baton(&["config", "apply", "app"]).code(0);
    p.baton(&["config", "rollback", "app", "--limit", "node03"])
        .code(0);
    assert_eq!(file(2).as_deref(), Some("v1\n"), "node03 rolled back");
    assert_eq!(
        file(0).as_deref(),
        Some("v2\n"),
        "node01 untouched by the limited rollback"
    );
    p.baton(&["config", "apply", "app", "--limit", "db*"])
        .code(2)
        .stderr_has("--limit `db*`");
    p.baton(&["config", "apply"])
        .code(2)
        .stderr_has("needs a config name or `--all`");
}

#[test]
fn plan_and_apply_take_a_limit_and_leave_other_nodes_alone() {
    let nodes = TestNodes::start(2);
    let (d1, d2) = (
        nodes.node_dir(0).display().to_string(),
        nodes.node_dir(1).display().to_string(),
    );
    std::fs::create_dir_all(&d1).unwrap();
    std::fs::create_dir_all(&d2).unwrap();
    let p = Project::new(&format!(
        r#"{}
resources:
  one: {{ type: file, node: node01, path: "{d1}/one.txt", content: "1\n" }}
  two: {{ type: file, node: node02, path: "{d2}/two.txt", content: "2\n" }}
  uses_two: {{ type: file, node: node01, path: "{d1}/copy.txt", content: "{{{{ resources.two.path }}}}\n" }}
"#,
        nodes.baton_yaml()
    ));
    // uses_two (node01) needs two (node02), never applied: refused, with what to do.
    p.baton(&["plan", "--limit", "node01"]).code(2).stderr_has(
        "depends on `two` (on node `node02`, outside --limit), which was never applied",
    );
    p.baton(&["apply", "--auto-approve", "--limit", "node02"])
        .code(0);
    assert!(nodes.node_dir(1).join("two.txt").exists());
    assert!(!nodes.node_dir(0).join("one.txt").exists());
    // Now two is in the state: node01's resources plan and apply, two stays as it is.
    let plan = p.baton(&["plan", "--limit", "node01", "--json"]).json();
    let planned: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!planned.contains(&"two"), "{plan}");
    assert!(
        planned.contains(&"one") && planned.contains(&"uses_two"),
        "{plan}"
    );
    p.baton(&["apply", "--auto-approve", "--limit", "node01"])
        .code(0);
    assert_eq!(
        std::fs::read_to_string(nodes.node_dir(0).join("copy.txt")).unwrap(),
        format!("{d2}/two.txt\n")
    );
    p.baton(&["apply", "--auto-approve", "--limit", "nothing*"])
        .code(2)
        .stderr_has("--limit `nothing*`");
}
