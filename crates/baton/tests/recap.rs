//! The per-node recap at the end of `run`, `config apply` and `apply` (as Ansible's PLAY
//! RECAP), against real sshd nodes, one of them down.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::nodes::TestNodes;

fn recap_line<'a>(stdout: &'a str, node: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(node) && l.contains("ok="))
        .unwrap_or_else(|| panic!("no recap line for {node} in:\n{stdout}"))
}

#[test]
fn a_run_ends_with_one_recap_line_per_node() {
    let mut nodes = TestNodes::start(3);
    nodes.stop(2);
    let p = Project::new(&format!(
        "{}{}",
        nodes.baton_yaml(),
        r#"
pipelines:
  deploy:
    fail_fast: false
    stages:
      check: { targets: all, run: ["true", "test $BATON_NODE != node02"], continue_on_error: true }
"#
    ));
    let run = p.baton(&["run", "deploy"]);
    let out = &run.stdout;
    assert!(
        recap_line(out, "node01").contains("ok=2  changed=0  failed=0  skipped=0  unreachable=0"),
        "{out}"
    );
    assert!(
        recap_line(out, "node02").contains("ok=1  changed=0  failed=1"),
        "{out}"
    );
    assert!(recap_line(out, "node03").contains("unreachable=1"), "{out}");
    // The same figures are in `show --json`.
    let detail = p.show(1);
    let recap = detail["recap"].as_array().unwrap();
    assert_eq!(recap.len(), 3, "{detail}");
    assert_eq!(recap[2]["node"], "node03");
    assert_eq!(recap[2]["unreachable"], 1);
}

#[test]
fn config_apply_ends_with_changed_and_ok_per_node() {
    let nodes = TestNodes::start(2);
    for i in 0..2 {
        std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
    }
    std::fs::write(nodes.node_dir(1).join("app.conf"), "v1\n").unwrap();
    let p = Project::new(&format!(
        "{}configs:\n  app:\n    targets: all\n    path: \"{{{{ node.vars.dir }}}}/app.conf\"\n    content: \"v1\\n\"\n",
        nodes.baton_yaml()
    ));
    let run = p.baton(&["config", "apply", "app"]);
    run.code(0);
    assert!(
        recap_line(&run.stdout, "node01").contains("changed=1"),
        "{}",
        run.stdout
    );
    assert!(
        recap_line(&run.stdout, "node02").contains("ok=1  changed=0"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_local_only_run_has_no_recap() {
    let p = Project::new("pipelines:\n  p:\n    stages:\n      s: { run: \"true\" }\n");
    let run = p.baton(&["run", "p"]);
    run.code(0);
    assert!(!run.stdout.contains("unreachable="), "{}", run.stdout);
}
