//! The run lifecycle through the real binary: honest retry and rollback, a panicking task,
//! cancel from another process (running and queued runs), the actor of a run.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use common::{Project, processes_with_env, wait_for};

/// A copy of the bundled example, `examples/shop`, in a temporary directory.
fn shop() -> Project {
    let p = Project::new("");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(source.join("."))
        .arg(p.path())
        .status()
        .expect("cp runs");
    assert!(status.success());
    // Whatever a developer ran in the example directory is not part of the example.
    for dir in [".baton", "build", "dist", "var"] {
        let _ = std::fs::remove_dir_all(p.file(dir));
    }
    p
}

fn current(p: &Project) -> Option<String> {
    std::fs::read_link(p.file("var/deploy/prod/current"))
        .ok()
        .map(|l| l.display().to_string())
}

#[test]
fn a_second_rollback_of_the_same_run_is_refused_and_prod_stays_deployed() {
    let p = shop();
    p.baton(&["run", "build_app"]).code(0);
    p.baton(&["run", "deploy_prod"]).code(0);
    let first = current(&p).expect("run 2 deployed");
    p.baton(&["run", "deploy_prod"]).code(0);
    assert_ne!(current(&p).as_deref(), Some(first.as_str()));
    p.baton(&["rollback", "3"]).code(0);
    assert_eq!(
        current(&p),
        Some(first.clone()),
        "rollback 3 restores run 2's release"
    );

    let again = p.baton(&["rollback", "3"]);
    again.code(1).stderr_has("already rolled back by run 4");
    assert_eq!(current(&p), Some(first.clone()), "prod is still deployed");
    assert!(
        p.file("var/deploy/prod")
            .join(&first)
            .join("shop-app")
            .exists(),
        "the release `current` points to is there"
    );
    // The rollback run records what it rolled back; it is not itself rolled back.
    let runs = p.baton(&["runs", "--json"]).code(0).json();
    let four = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 4)
        .unwrap();
    assert_eq!(four["rollback_of"], 3);
    p.baton(&["rollback", "4"])
        .code(1)
        .stderr_has("run 4 is itself the rollback of run 3");
    assert_eq!(current(&p), Some(first.clone()));
    assert_eq!(p.show(3)["rolled_back_by"], serde_json::json!([4]));
    // `pipelines` does not count the rollback as deploy_prod's last success.
    let pipelines = p.baton(&["pipelines", "--json"]).code(0).json();
    let deploy = pipelines
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "deploy_prod")
        .unwrap();
    assert_eq!(deploy["last_success"]["id"], 3);
    assert_eq!(deploy["last_run"]["id"], 4);
    // --force repeats it: run 3's rollback commands run again (a new rollback run).
    p.baton(&["rollback", "3", "--force"]).code(0);
    assert_eq!(p.show(5)["run"]["rollback_of"], 3);
}

#[test]
fn a_failed_run_whose_automatic_rollback_ran_is_not_rolled_back_again() {
    let p = shop();
    p.baton(&["run", "build_app"]).code(0);
    p.baton(&["run", "deploy_prod"]).code(0);
    let deployed = current(&p).expect("deployed");
    // The smoke test fails: deploy's automatic rollback restores run 2's release.
    p.baton(&["run", "deploy_prod", "--var", "simulate_failure=true"])
        .code(1);
    assert_eq!(current(&p), Some(deployed.clone()));
    p.baton(&["rollback", "3"])
        .code(1)
        .stderr_has("its automatic rollback already ran (stage `deploy`)");
    assert_eq!(current(&p), Some(deployed), "prod is still deployed");
}

#[test]
fn retry_reruns_a_stage_whose_rollback_ran() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      install:
        run: "touch installed; echo install >> log"
        rollback: ["rm -f installed; echo undo >> log"]
      check: { needs: [install], run: "test -f pass" }
"#,
    );
    // check fails: install's automatic rollback removes what it installed.
    p.baton(&["run", "p"]).code(1);
    assert!(!p.file("installed").exists());
    p.write("pass", "");
    p.baton(&["retry", "1"])
        .code(0)
        .stdout_has("running it again: its rollback ran in run 1");
    assert!(p.file("installed").exists(), "the retry installed it again");
    assert_eq!(p.stage_status(2, "install"), "success");
    assert!(p.show(2)["stages"][0]["reused_from"].is_null());
    assert_eq!(
        std::fs::read_to_string(p.file("log")).unwrap(),
        "install\nundo\ninstall\n"
    );
}

#[test]
fn retry_still_reuses_a_success_nothing_undid() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      build: { run: "echo build >> log" }
      check: { needs: [build], run: "test -f pass" }
"#,
    );
    p.baton(&["run", "p"]).code(1);
    p.write("pass", "");
    p.baton(&["retry", "1"])
        .code(0)
        .stdout_has("reusing the success of run 1");
    assert_eq!(std::fs::read_to_string(p.file("log")).unwrap(), "build\n");
}

#[test]
fn a_panicking_step_fails_its_step_and_run_with_the_reason() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      boom: { run: "echo never-printed-panic-target" }
      other: { run: "true" }
"#,
    );
    let run = p
        .command(&["run", "p"])
        .env("BATON_TEST_PANIC_STEP", "never-printed-panic-target")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let report = p.show(1);
    assert_eq!(report["run"]["status"], "failed");
    assert!(
        report["run"]["reason"]
            .as_str()
            .unwrap()
            .contains("panicked"),
        "{report}"
    );
    let boom = &report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "boom")
        .unwrap()["steps"][0];
    assert_eq!(boom["status"], "failed");
    assert!(
        boom["reason"]
            .as_str()
            .unwrap()
            .contains("BATON_TEST_PANIC_STEP")
    );
    assert_eq!(p.stage_status(1, "other"), "success");
}

/// Start `baton run p` and wait until its step printed `ready` (through `-v`'s output lines).
fn start_until_ready(p: &Project) -> (std::process::Child, std::thread::JoinHandle<String>) {
    let mut child = p.spawn(&["run", "p", "-v"]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ready")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the step printed `ready`");
    (child, reader)
}

#[test]
fn cancel_from_another_process_stops_the_run_and_its_process_tree() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      hang: { run: "sleep 1000 & echo ready; wait" }
      next: { needs: [hang], run: "touch next.ran" }
"#,
    );
    let (child, reader) = start_until_ready(&p);
    let workspace = p.file(".baton/workspaces/1").display().to_string();
    assert!(!processes_with_env("BATON_WORKSPACE", &workspace).is_empty());
    p.baton(&["cancel", "1"]).code(0).stdout_has("cancelled");
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert_eq!(out.status.code(), Some(130), "a cancelled run exits 130");
    let report = p.show(1);
    assert_eq!(report["run"]["status"], "cancelled");
    let user = baton_store::os_user();
    assert_eq!(
        report["run"]["reason"].as_str().unwrap(),
        format!("cancelled by {user}")
    );
    assert_eq!(
        report["cancelled_stages"],
        serde_json::json!(["hang", "next"])
    );
    assert!(!p.file("next.ran").exists());
    assert!(processes_with_env("BATON_WORKSPACE", &workspace).is_empty());
    let text = p.baton(&["show", "1"]).code(0).stdout.clone();
    assert!(text.contains("cancelled stages: hang, next"), "{text}");
    assert!(!text.contains("failed stages"), "{text}");
}

#[test]
fn cancel_of_a_queued_run_starts_nothing_and_leaves_the_running_one_alone() {
    let p = Project::new(
        r#"
pipelines:
  p:
    concurrency: 1
    stages:
      work: { run: "touch started.$BATON_RUN_ID; echo ready; while [ ! -f release ]; do sleep 0.02; done" }
"#,
    );
    let (first, reader) = start_until_ready(&p);
    let second = p.spawn(&["run", "p"]);
    wait_for("run 2 to be queued", Duration::from_secs(20), || {
        p.baton(&["runs", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == 2 && r["status"] == "queued")
    });
    p.baton(&["cancel", "2"]).code(0).stdout_has("cancelled");
    let out = second.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let two = p.show(2);
    assert_eq!(two["run"]["status"], "cancelled");
    assert!(
        two["run"]["reason"]
            .as_str()
            .unwrap()
            .contains("while queued")
    );
    assert!(two["stages"].as_array().unwrap().is_empty(), "{two}");
    assert!(!p.file("started.2").exists());
    // Run 1 was not touched: it is still running, and finishes normally.
    assert_eq!(p.show(1)["run"]["status"], "running");
    p.write("release", "");
    assert!(first.wait_with_output().unwrap().status.success());
    reader.join().unwrap();
    assert_eq!(p.show(1)["run"]["status"], "success");
}

#[test]
fn kill_9_leaves_no_process_even_one_that_left_its_group() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      hang: { run: "setsid sleep 1000 & sleep 1000 & echo ready; wait" }
"#,
    );
    let (child, reader) = start_until_ready(&p);
    let workspace = p.file(".baton/workspaces/1").display().to_string();
    wait_for("both sleeps", Duration::from_secs(10), || {
        processes_with_env("BATON_WORKSPACE", &workspace).len() >= 3
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait_with_output().unwrap();
    reader.join().unwrap();
    let runs = p.baton(&["runs", "--json"]);
    runs.code(0).stderr_has("run 1 was interrupted");
    assert_eq!(runs.json()[0]["status"], "interrupted");
    wait_for("every leftover to be gone", Duration::from_secs(5), || {
        processes_with_env("BATON_WORKSPACE", &workspace).is_empty()
    });
}

#[test]
fn runs_json_shows_kind_and_actor_and_the_actor_never_is_unknown() {
    let p = Project::new("pipelines: { p: { stages: { a: { run: 'true' } } } }\n");
    p.command(&["run", "p"])
        .env_remove("USER")
        .output()
        .unwrap();
    p.command(&["run", "p"])
        .env("USER", "alice")
        .output()
        .unwrap();
    let runs = p.baton(&["runs", "--json"]).code(0).json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for run in runs {
        assert_eq!(run["kind"], "pipeline", "{run}");
    }
    let expected = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .unwrap()
        .name;
    assert_eq!(
        runs[1]["actor"],
        expected.as_str(),
        "password-database name"
    );
    assert_ne!(runs[1]["actor"], "unknown");
    assert_eq!(runs[0]["actor"], "alice");
}

#[test]
fn show_names_each_node_once_and_logs_lists_the_stages_of_an_unknown_one() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      many: { run: ["echo one", "echo two", "echo three"] }
      other: { run: "true" }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    let text = p.baton(&["show", "1"]).code(0).stdout.clone();
    let line = text.lines().find(|l| l.starts_with("many")).unwrap();
    assert_eq!(line.matches("local").count(), 1, "{line}");
    assert_eq!(
        p.show(1)["stages"][0]["targets"],
        serde_json::json!(["local"])
    );
    p.baton(&["logs", "1", "--stage", "nosuch"])
        .code(2)
        .stderr_has("run 1 has no stage `nosuch`")
        .stderr_has("its stages: many, other");
}

#[test]
fn a_retried_attempt_says_how_it_ended_in_words() {
    let p = Project::new(
        "pipelines: { p: { stages: { slow: { run: 'sleep 5', timeout: 1s, retries: 1 } } } }\n",
    );
    p.baton(&["run", "p"])
        .code(1)
        .stdout_has("attempt 1 of 2 timed out after 1s; retrying");
}
