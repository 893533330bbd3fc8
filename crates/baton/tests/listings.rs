//! Listings whose reader goes away (`baton runs | head -1`) end quietly, as `ls | head` does.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::process::Stdio;

use common::Project;

const PROJECT: &str = r#"
project: pipes
pipelines:
  build:
    stages:
      hello:
        run: echo hello
"#;

/// Run `baton ARGS` with stdout on a pipe whose reading end is already closed, so the very
/// first write fails with EPIPE whatever the timing.
fn with_closed_stdout(project: &Project, args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let output = project
        .command(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("baton runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_listing_ends_quietly_on_a_closed_pipe() {
    let project = Project::new(PROJECT);
    project.baton(&["run", "build"]).code(0);
    for args in [
        &["runs"][..],
        &["runs", "--json"],
        &["pipelines"],
        &["pipelines", "--json"],
        &["show", "1"],
        &["show", "1", "--json"],
        &["artifact", "list"],
        &["validate"],
        &["schema"],
        &["logs", "1"],
    ] {
        let (code, stderr) = with_closed_stdout(&project, args);
        assert_eq!(code, 0, "baton {args:?} exited {code}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "baton {args:?} was not quiet: {stderr}"
        );
    }
}
