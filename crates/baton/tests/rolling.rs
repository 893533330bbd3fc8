//! Rolling deploys against real sshd nodes: a failed batch ends the stage by default.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::nodes::TestNodes;

#[test]
fn a_failed_first_batch_stops_a_rolling_stage_by_default() {
    let nodes = TestNodes::start(3);
    let p = Project::new(&format!(
        "{}{}",
        nodes.baton_yaml(),
        r#"
pipelines:
  deploy:
    stages:
      release:
        targets: all
        strategy: { batch: 1 }
        run: 'test $BATON_NODE != node01; touch {{ node.vars.dir }}/deployed'
"#
    ));
    p.baton(&["run", "deploy"])
        .code(1)
        .stdout_has("batch 1 failed")
        .stdout_has("not started: node02, node03");
    for i in 0..3 {
        assert!(
            !nodes.node_dir(i).join("deployed").exists(),
            "node {i} was deployed after the first batch failed"
        );
    }
    // `max_failures` raises the budget: then every batch runs.
    p.write(
        "baton.yaml",
        &format!(
            "{}{}",
            nodes.baton_yaml(),
            r#"
pipelines:
  deploy:
    stages:
      release:
        targets: all
        strategy: { batch: 1, max_failures: 1 }
        run: 'test $BATON_NODE != node01; touch {{ node.vars.dir }}/deployed'
"#
        ),
    );
    p.baton(&["run", "deploy"]).code(0);
    assert!(nodes.node_dir(1).join("deployed").exists());
    assert!(nodes.node_dir(2).join("deployed").exists());
}
