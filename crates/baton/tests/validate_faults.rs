//! Loader faults through the real binary: absurd durations must be refused by `validate` and
//! `exec --timeout` (they used to panic in `run`), and `validate` must end on special files.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use common::Project;

#[test]
fn validate_refuses_an_absurd_stage_timeout() {
    let p = Project::new(
        "project: x\npipelines:\n  p:\n    stages:\n      s: { run: 'true', timeout: 20000000000000w }\n",
    );
    p.baton(&["validate"])
        .code(2)
        .stderr_has("`20000000000000w` is longer than the longest duration baton accepts")
        .stderr_has("baton.yaml:5:34");
}

#[test]
fn exec_refuses_an_absurd_timeout_instead_of_panicking() {
    let p = Project::new("project: x\n");
    let run = p.baton(&[
        "exec",
        "--timeout",
        "20000000000000w",
        "local",
        "--",
        "true",
    ]);
    assert_ne!(run.code, 101, "panicked:\n{}", run.stderr);
    assert!(run.code != 0, "accepted:\n{}", run.stderr);
    run.stderr_has("366d");
}

#[test]
fn validate_ends_on_an_inventory_that_is_a_device() {
    let p = Project::new(
        "project: x\ninventory: /dev/urandom\npipelines:\n  p: { stages: { s: { run: 'true' } } }\n",
    );
    p.baton(&["validate"])
        .code(2)
        .stderr_has("character device, not a regular file");
}

#[test]
fn validate_names_an_empty_project_file() {
    let p = Project::new("");
    p.baton(&["validate"])
        .code(2)
        .stderr_has("baton.yaml is empty")
        .stderr_has("project: NAME");
}

#[test]
fn a_step_kind_this_build_cannot_run_is_a_validate_error_before_anything_runs() {
    let project = Project::new(
        r#"
project: kinds
pipelines:
  p:
    stages:
      first: { run: "touch first.ran" }
      tell: { needs: [first], notify: { channel: ops, message: "done" } }
notifications:
  ops: { type: webhook, url: "http://127.0.0.1:9/hook" }
"#,
    );
    let run = project.baton(&["validate"]);
    run.code(2).stderr_has("notify");
    project.baton(&["run", "p"]).code(2);
    assert!(!project.file("first.ran").exists(), "nothing ran");
}

#[test]
fn an_unknown_resource_attribute_is_pointed_at_by_its_key() {
    let project = Project::new(
        "project: carets\nresources:\n  motd:\n    type: file\n    path: /tmp/motd\n    contnet: hello\n",
    );
    let run = project.baton(&["validate"]);
    run.code(2).stderr_has("has no attribute `contnet`");
    // Line 6, column 5: where `contnet` starts, not where its value `hello` does (col 14).
    assert!(
        run.stderr.contains("baton.yaml:6:5"),
        "caret under the key:\n{}",
        run.stderr
    );
}
