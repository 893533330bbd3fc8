//! The OpenAPI document against the real server: schemathesis (PyPI; `scripts/test.sh` installs
//! it) reads `GET /api/openapi.json` from a running `baton serve`, generates requests for every
//! documented operation — valid ones and malformed ones — and fails on any 5xx. A handler that
//! answers 500 to a request it should refuse (or serve) is a bug this finds.
//!
//! `/api/events` is left out of schemathesis: its stream never ends, so every request to it
//! would count as a timeout (`serve.rs` checks its head, replay and refusals).

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, schemathesis

mod common;

use std::process::{Command, Stdio};

use common::Project;
use common::server::{TOKEN, TestServer};

const PROJECT: &str = r#"
project: fuzzed
pipelines:
  build:
    stages:
      hello:
        run: echo hello
"#;

/// The installed schemathesis' major version; a failure (not a skip) when it is missing.
fn schemathesis_major() -> u32 {
    let out = Command::new("python3")
        .args(["-c", "import schemathesis; print(schemathesis.__version__)"])
        .output()
        .expect("python3 runs (scripts/test.sh installs what the tests need)");
    assert!(
        out.status.success(),
        "schemathesis is not installed: `python3 -m pip install 'schemathesis>=3,<5'` \
         (scripts/test.sh does it)\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("schemathesis version `{version}`"))
}

#[test]
fn schemathesis_finds_no_server_error() {
    let major = schemathesis_major();
    let project = Project::new(PROJECT);
    // A run with a log, so ids, logs and listings have something real to serve.
    project.baton(&["run", "build"]).code(0);
    let server = TestServer::start(&project);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut args: Vec<String> = [
        "-m",
        "schemathesis.cli",
        "run",
        &format!("http://127.0.0.1:{}/api/openapi.json", server.port),
        "--checks",
        "not_a_server_error",
        "-H",
        &auth,
        "--exclude-path",
        "/api/events",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The same bounds and seed in both majors' spelling (3 counts the timeout in
    // milliseconds): the run is bounded and reproducible.
    if major >= 4 {
        args.extend(
            [
                "--max-examples",
                "20",
                "--seed",
                "1",
                "--request-timeout",
                "20",
            ]
            .map(String::from),
        );
    } else {
        args.extend(
            [
                "--hypothesis-max-examples",
                "20",
                "--hypothesis-seed",
                "1",
                "--request-timeout",
                "20000",
            ]
            .map(String::from),
        );
    }
    let out = Command::new("python3")
        .args(&args)
        // Its caches and any report go to the temporary project, not the source tree.
        .current_dir(project.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("schemathesis runs");
    assert!(
        out.status.success(),
        "schemathesis failed (exit {:?}):\n--- stdout\n{}\n--- stderr\n{}\n--- server\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
}
