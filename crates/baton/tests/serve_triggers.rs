//! What starts runs without a person, end to end on the real binary: a GitHub webhook (signed
//! with GitHub's own scheme) runs in a checkout of the pushed commit, a replay or a bad
//! signature starts nothing; a per-second schedule fires; a commit on a watched branch starts
//! one run in that commit.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, git, python3

mod common;

use std::process::Command;
use std::time::Duration;

use common::server::{TOKEN, TestServer, wait_finished};
use common::{Project, wait_for};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(30);
const HOOK_SECRET: &str = "It's a Secret to Everybody";

/// HMAC-SHA256 computed outside baton (Python's hmac), as GitHub writes it.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).hexdigest())",
            secret,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(body)?;
            child.wait_with_output()
        })
        .expect("python3 computes the HMAC");
    assert!(out.status.success());
    format!("sha256={}", String::from_utf8(out.stdout).unwrap().trim())
}

fn runs_of(server: &TestServer, pipeline: &str) -> Vec<Value> {
    server
        .get(&format!("/api/runs?pipeline={pipeline}"), Some(TOKEN))
        .status(200)
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn log_of(server: &TestServer, run: i64) -> String {
    server
        .get(&format!("/api/runs/{run}/log"), Some(TOKEN))
        .status(200)
        .text()
}

/// A project in a git repository on `main` whose `version.txt` says `first`, then `second`:
/// returns the first commit (HEAD is the second).
fn two_commits(p: &Project) -> String {
    p.git(&["init", "-q", "-b", "main"]);
    p.write("version.txt", "first\n");
    p.git(&["add", "-A"]);
    p.git(&["commit", "-q", "-m", "first"]);
    let first = p.git(&["rev-parse", "HEAD"]);
    p.write("version.txt", "second\n");
    p.git(&["commit", "-q", "-am", "second"]);
    first
}

#[test]
fn a_github_push_runs_in_a_checkout_of_the_pushed_commit() {
    let home = tempfile::tempdir().unwrap();
    let home_dir = home.path().to_str().unwrap();
    let p = Project::new(
        r#"
pipelines:
  build:
    triggers: [{ webhook: { secret: HOOK, branches: [main] } }]
    stages:
      show: { run: "cat version.txt; pwd" }
"#,
    );
    // An identity in this test's own HOME, the project's recipient, the webhook secret.
    let keygen = p
        .command(&["secret", "keygen"])
        .env("HOME", home_dir)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let identity = std::fs::read_to_string(home.path().join(".config/baton/identity.txt")).unwrap();
    let public = identity
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .expect("the identity names its public key")
        .to_string();
    let yaml = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    p.write(
        "baton.yaml",
        &format!("{yaml}secrets: {{ recipients: [{public}] }}\n"),
    );
    let mut set = p
        .command(&["secret", "set", "HOOK"])
        .env("HOME", home_dir)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        set.stdin
            .take()
            .unwrap()
            .write_all(HOOK_SECRET.as_bytes())
            .unwrap();
    }
    assert!(set.wait().unwrap().success());
    let first = two_commits(&p);

    let server = TestServer::start_with_env(
        &p,
        &["--listen", "127.0.0.1:0"],
        Some(TOKEN),
        &[("HOME", home_dir)],
    )
    .unwrap_or_else(|f| panic!("baton serve did not start: {f:?}"));
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000001","after":"{first}","deleted":false,"head_commit":{{"id":"{first}"}},"repository":{{"full_name":"acme/shop"}}}}"#
    );
    let signature = github_signature(HOOK_SECRET, body.as_bytes());
    let push = |delivery: &str, signature: &str| {
        server.request(
            "POST",
            "/hooks/build",
            None,
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "push"),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", signature),
            ],
            body.as_bytes(),
        )
    };

    // A wrong signature: 401, nothing started.
    let mut wrong = signature.clone();
    wrong.replace_range(
        wrong.len() - 1..,
        if wrong.ends_with('0') { "1" } else { "0" },
    );
    push("delivery-0", &wrong).error(401, "unauthorized");
    assert!(runs_of(&server, "build").is_empty());

    let response = push("delivery-1", &signature);
    response.status(201);
    let run = response.json()["id"].as_i64().unwrap();
    let detail = wait_finished(&server, run, LIMIT);
    assert_eq!(detail["run"]["status"], "success", "{detail}");
    assert_eq!(detail["run"]["trigger"], "webhook");
    assert_eq!(detail["run"]["actor"], "github");
    assert_eq!(detail["run"]["branch"], "main");
    assert_eq!(detail["run"]["commit"].as_str(), Some(first.as_str()));
    // The stage saw the pushed commit's file, in the run's workspace — not HEAD's.
    let log = log_of(&server, run);
    let workspace = detail["run"]["workspace"].as_str().unwrap();
    assert_eq!(log, format!("first\n{workspace}\n"));

    // The same delivery again: 409 and no second run.
    push("delivery-1", &signature).error(409, "replayed");
    assert_eq!(runs_of(&server, "build").len(), 1);

    // GitHub's ping is answered without a run.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let ping_sig = github_signature(HOOK_SECRET, ping);
    server
        .request(
            "POST",
            "/hooks/build",
            None,
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "ping"),
                ("X-GitHub-Delivery", "delivery-ping"),
                ("X-Hub-Signature-256", &ping_sig),
            ],
            ping,
        )
        .status(200);
    assert_eq!(runs_of(&server, "build").len(), 1);

    // A branch the trigger does not watch: accepted, ignored.
    let other = body.replace("refs/heads/main", "refs/heads/feature/x");
    let other_sig = github_signature(HOOK_SECRET, other.as_bytes());
    let ignored = server.request(
        "POST",
        "/hooks/build",
        None,
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", "delivery-2"),
            ("X-Hub-Signature-256", &other_sig),
        ],
        other.as_bytes(),
    );
    ignored.status(202);
    assert!(ignored.text().contains("feature/x"), "{ignored:?}");
    assert_eq!(runs_of(&server, "build").len(), 1);

    // A pipeline without a webhook trigger refuses deliveries by name.
    server
        .request("POST", "/hooks/nope", None, &[], b"{}")
        .error(404, "not_found");
}

#[test]
fn a_schedule_fires_and_records_its_slot() {
    let p = Project::new(
        r#"
pipelines:
  tick:
    triggers: [{ schedule: "* * * * * *" }]
    concurrency: 5
    stages:
      a: { run: "echo tick" }
"#,
    );
    let server = TestServer::start(&p);
    wait_for("a scheduled run to finish", LIMIT, || {
        runs_of(&server, "tick")
            .iter()
            .any(|r| r["status"] == "success" && r["trigger"] == "schedule")
    });
    let runs = runs_of(&server, "tick");
    assert!(runs.iter().all(|r| r["actor"] == "schedule"), "{runs:?}");
    let schedules = server.get("/api/schedules", Some(TOKEN)).status(200).json();
    let tick = &schedules[0];
    assert_eq!(tick["pipeline"], "tick");
    assert!(tick["last_fired"]["run"].is_i64(), "{schedules}");
    assert!(!tick["next"].as_array().unwrap().is_empty(), "{schedules}");
}

#[test]
fn a_commit_on_a_watched_branch_starts_one_run_in_that_commit() {
    let p = Project::new(
        r#"
pipelines:
  ci:
    triggers: [{ commit: { branches: [main], interval: 1s } }]
    stages:
      show: { run: "cat version.txt" }
"#,
    );
    two_commits(&p);
    let server = TestServer::start(&p);
    // The first look records the heads without running anything.
    wait_for("the commit trigger's first look", LIMIT, || {
        server.stderr().contains("commit trigger of `ci`: watching")
    });
    assert!(runs_of(&server, "ci").is_empty());
    // A commit on another branch is not watched.
    p.git(&["checkout", "-q", "-b", "other"]);
    p.write("version.txt", "other\n");
    p.git(&["commit", "-q", "-am", "other"]);
    p.git(&["checkout", "-q", "main"]);
    p.write("version.txt", "third\n");
    p.git(&["commit", "-q", "-am", "third"]);
    let third = p.git(&["rev-parse", "HEAD"]);
    // Move the work tree on, so the run's checkout is what the stage reads.
    p.write("version.txt", "uncommitted\n");
    wait_for("a commit-triggered run", LIMIT, || {
        !runs_of(&server, "ci").is_empty()
    });
    let runs = runs_of(&server, "ci");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = runs[0]["id"].as_i64().unwrap();
    let detail = wait_finished(&server, run, LIMIT);
    assert_eq!(detail["run"]["status"], "success", "{detail}");
    assert_eq!(detail["run"]["trigger"], "commit");
    assert_eq!(detail["run"]["branch"], "main");
    assert_eq!(detail["run"]["commit"].as_str(), Some(third.as_str()));
    assert_eq!(log_of(&server, run), "third\n");
}
