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

/// An infra run's steps are resources: its recap counts them on their nodes, destroys
/// included (a destroyed resource is gone from both the project and the state).
#[test]
fn apply_counts_resources_on_their_nodes() {
    let nodes = TestNodes::start(1);
    let dir = nodes.node_dir(0);
    std::fs::create_dir_all(&dir).unwrap();
    let project = |remote: &[&str]| {
        let mut yaml = format!(
            "{}resources:\n  here: {{ type: file, path: here.txt, content: \"x\\n\" }}\n",
            nodes.baton_yaml()
        );
        for id in remote {
            yaml.push_str(&format!(
                "  {id}: {{ type: file, node: node01, path: \"{}/{id}.txt\", content: \"x\\n\" }}\n",
                dir.display()
            ));
        }
        yaml
    };
    let p = Project::new(&project(&["one", "two"]));
    let first = p.baton(&["apply", "--auto-approve"]);
    first.code(0);
    let out = &first.stdout;
    assert!(
        recap_line(out, "node01").contains("ok=0  changed=2  failed=0"),
        "{out}"
    );
    assert!(recap_line(out, "local").contains("changed=1"), "{out}");
    assert!(
        !out.lines()
            .any(|l| l.trim_start().starts_with("one ") && l.contains("ok=")),
        "{out}"
    );

    p.write("baton.yaml", &project(&["one"]));
    let second = p.baton(&["apply", "--auto-approve"]);
    second.code(0);
    assert!(!dir.join("two.txt").exists());
    let out = &second.stdout;
    assert!(
        recap_line(out, "node01").contains("changed=1  failed=0"),
        "{out}"
    );
    let detail = p.show(2);
    let recap = detail["recap"].as_array().unwrap();
    assert_eq!(recap.len(), 1, "{detail}");
    assert_eq!(recap[0]["node"], "node01");
}
