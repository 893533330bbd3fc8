//! docs/tutorial.md's pipeline, as written there, on two real sshd nodes: a rolling deploy, a
//! broken release stopped at the first node and rolled back, `always()` reporting, rollback of
//! a deploy and the refusal of a second one. If the tutorial's YAML stops working, this fails.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;
use common::nodes::TestNodes;

/// The YAML between the tutorial's `<!-- tutorial:pipeline -->` markers.
fn tutorial_pipeline() -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tutorial.md"),
    )
    .unwrap();
    let start = text
        .find("<!-- tutorial:pipeline -->")
        .expect("start marker");
    let end = text
        .find("<!-- /tutorial:pipeline -->")
        .expect("end marker");
    let block = &text[start..end];
    let body = block.split("```yaml\n").nth(1).expect("a yaml block");
    body.split("```").next().unwrap().to_string()
}

#[test]
fn the_tutorial_deploys_rolls_back_and_refuses_a_second_rollback() {
    let nodes = TestNodes::start(2);
    for i in 0..2 {
        std::fs::create_dir_all(nodes.node_dir(i)).unwrap();
    }
    // The test nodes are the tutorial's web nodes; their `dir` is its `app_dir`.
    let yaml = format!(
        "{}{}",
        nodes
            .baton_yaml()
            .replace("vars: { dir:", "vars: { app_dir:")
            .replace("roles: [", "roles: [web, "),
        tutorial_pipeline()
    );
    let p = Project::new(&yaml);
    p.baton(&["validate"]).code(0);
    let current =
        |i: usize| std::fs::read_to_string(nodes.node_dir(i).join("current/release.txt")).ok();

    p.baton(&["run", "deploy"]).code(0).stdout_has("ok=");
    assert_eq!(current(0).as_deref(), Some("shop 1.0\n"));
    assert_eq!(current(1).as_deref(), Some("shop 1.0\n"));
    p.baton(&["run", "deploy", "--var", "version=1.1"]).code(0);
    assert_eq!(current(1).as_deref(), Some("shop 1.1\n"));

    // Undo run 2 (1.1): back to 1.0 everywhere; a second rollback is refused.
    p.baton(&["rollback", "2"]).code(0);
    assert_eq!(current(0).as_deref(), Some("shop 1.0\n"));
    assert_eq!(current(1).as_deref(), Some("shop 1.0\n"));
    p.baton(&["rollback", "2"])
        .code(1)
        .stderr_has("already rolled back");

    // Run 4, a release whose check fails on the second node: node01 had switched and is
    // switched back, node02 never switched, and `report` (always()) still runs.
    let broken = yaml.replace(
        "grep -q \"shop {{ vars.version }}\"",
        "test \"$BATON_NODE\" != node02 && grep -q \"shop {{ vars.version }}\"",
    );
    assert_ne!(
        broken, yaml,
        "the tutorial's check is where the test breaks it"
    );
    std::fs::write(p.path().join("baton.yaml"), broken).unwrap();
    p.baton(&["run", "deploy", "--var", "version=1.2"]).code(1);
    assert_eq!(
        current(0).as_deref(),
        Some("shop 1.0\n"),
        "node01 rolled back"
    );
    assert_eq!(
        current(1).as_deref(),
        Some("shop 1.0\n"),
        "node02 never switched"
    );
    assert_eq!(p.stage_status(4, "report"), "success");

    // Fixed, the retry finishes the release everywhere.
    std::fs::write(p.path().join("baton.yaml"), &yaml).unwrap();
    p.baton(&["retry", "4"]).code(0);
    assert_eq!(current(0).as_deref(), Some("shop 1.2\n"));
    assert_eq!(current(1).as_deref(), Some("shop 1.2\n"));
}
