//! What must hold under bad input and hostile conditions (issue: foundation, "must hold").

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::time::{Duration, Instant};

use common::{Project, processes_with_env, wait_for};

fn workspace_of(p: &Project, run: i64) -> String {
    p.show(run)["run"]["workspace"]
        .as_str()
        .expect("workspace recorded")
        .to_string()
}

#[test]
fn kill_9_mid_run_is_recovered_as_interrupted_with_no_process_left() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      hang: { run: "touch started; sleep 1000 & sleep 1000; wait" }
"#,
    );
    let mut child = p.spawn(&["run", "p"]);
    wait_for("the stage to start", Duration::from_secs(20), || {
        p.file("started").exists()
    });
    let workspace = p.file(".baton/workspaces/1").display().to_string();
    assert!(
        !processes_with_env("BATON_WORKSPACE", &workspace).is_empty(),
        "stage processes run"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();

    // The next command, whatever it is, notices and cleans up.
    let runs = p.baton(&["runs", "--json"]);
    runs.code(0).stderr_has("run 1 was interrupted");
    let run = &runs.json()[0];
    assert_eq!(run["status"], "interrupted");
    assert!(run["reason"].as_str().unwrap().contains("died"), "{run}");
    assert_eq!(workspace_of(&p, 1), workspace);
    wait_for(
        "leftover processes to be gone",
        Duration::from_secs(5),
        || processes_with_env("BATON_WORKSPACE", &workspace).is_empty(),
    );
    // The store is intact: integrity check passes and new runs work.
    let store = baton_store::SqliteStore::open(&p.file(".baton")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    p.write(
        "baton.yaml",
        "pipelines: { p: { stages: { ok: { run: 'true' } } } }\n",
    );
    p.baton(&["run", "p"]).code(0);
    assert_eq!(p.stage_status(1, "hang"), "interrupted");
}

#[test]
fn a_timeout_kills_the_whole_tree_quickly() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      hang: { run: "sleep 1000 & sleep 1000; wait", timeout: 2s }
"#,
    );
    let started = Instant::now();
    p.baton(&["run", "p"]).code(1).stdout_has("timed_out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(p.stage_status(1, "hang"), "timed_out");
    let workspace = workspace_of(&p, 1);
    assert!(
        processes_with_env("BATON_WORKSPACE", &workspace).is_empty(),
        "a sleep survived"
    );
}

#[test]
fn invalid_projects_exit_2_with_locations_and_touch_nothing() {
    let cases = [
        (
            "pipelines:\n  p:\n    stages:\n      a: { run: [unclosed\n",
            "invalid YAML",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a:\n        run: 'true'\n        neds: [b]\n",
            "did you mean `needs`",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a: { run: 'true', needs: [b] }\n      b: { run: 'true', needs: [a] }\n",
            "cycle",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a: { run: 'true', needs: [bulid] }\n      build: { run: 'true' }\n",
            "did you mean `build`",
        ),
        (
            "pipelines:\n  p:\n    stages:\n      a: { run: 'touch ran', timeout: 5 minutes }\n",
            "baton.yaml:4:",
        ),
    ];
    for (yaml, expected) in cases {
        let p = Project::new(yaml);
        let out = p.baton(&["run", "p"]);
        out.code(2).stderr_has(expected);
        assert!(
            out.stderr.contains("baton.yaml:"),
            "no location in:\n{}",
            out.stderr
        );
        assert!(!p.file("ran").exists());
        assert!(
            !p.file(".baton").exists(),
            "the store was created for an invalid project"
        );
        p.baton(&["validate"]).code(2).stderr_has(expected);
    }
}

#[test]
fn validate_reports_every_problem_at_once() {
    let p = Project::new(
        "pipelines:\n  p:\n    stages:\n      a: { run: 'true', timout: 5s }\n      b: { run: 'true', needs: [zz] }\n      c: { run: 'true', timeout: soon }\n      d: broken\n      e: { run: 'true', needs: [d] }\n",
    );
    let out = p.baton(&["validate"]);
    out.code(2)
        .stderr_has("baton.yaml:4:")
        .stderr_has("no stage `zz`")
        .stderr_has("baton.yaml:6:")
        .stderr_has("baton.yaml:7:");
    // `d` is written but malformed: it has its own error, and `e: needs [d]` is not another.
    assert!(!out.stderr.contains("no stage `d`"), "{}", out.stderr);
    out.stderr_has("4 problems");
}

#[test]
fn odd_output_is_captured_without_loss() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      odd: { run: "printf 'bad \\xff\\xfe bytes\\n'; head -c 1048576 /dev/zero | tr '\\0' x; echo; printf 'no newline at end'" }
"#,
    );
    p.baton(&["run", "p"]).code(0);
    let out = p
        .command(&["logs", "1", "--stage", "odd"])
        .output()
        .unwrap();
    let bytes = out.stdout;
    let body_start = bytes.iter().position(|b| *b == b'\n').unwrap() + 1; // after the header
    let body = &bytes[body_start..];
    assert!(body.starts_with(b"bad \xff\xfe bytes\n"));
    let prefix = b"bad \xff\xfe bytes\n".len();
    let long_line = &body[prefix..prefix + 1_048_576];
    assert!(long_line.iter().all(|b| *b == b'x'));
    assert!(body.ends_with(b"\nno newline at end"));
}

#[test]
fn a_gigabyte_of_output_keeps_memory_small() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      flood: { run: "head -c 1073741824 /dev/zero | tr '\\0' 'y' | fold -w 100", timeout: 5m }
"#,
    );
    let child = p.spawn(&["run", "p"]);
    let pid = child.id();
    let mut peak_kb = 0u64;
    let out = {
        // Sample the peak resident set (VmHWM) while it runs.
        let handle = std::thread::spawn(move || child.wait_with_output().unwrap());
        while !handle.is_finished() {
            if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:"))
            {
                let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                peak_kb = peak_kb.max(kb);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        handle.join().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(peak_kb > 0, "never sampled");
    assert!(peak_kb < 64 * 1024, "baton peaked at {peak_kb} kB");
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("output truncated");
}

#[test]
fn concurrency_1_queues_the_second_run_without_interleaving() {
    let p = Project::new(
        r#"
pipelines:
  p:
    concurrency: 1
    stages:
      work: { run: "echo $BATON_RUN_ID >> order; touch started.$BATON_RUN_ID; while [ ! -f release.$BATON_RUN_ID ]; do sleep 0.02; done; echo $BATON_RUN_ID >> order" }
"#,
    );
    let first = p.spawn(&["run", "p"]);
    wait_for("run 1 to start", Duration::from_secs(20), || {
        p.file("started.1").exists()
    });
    let second = p.spawn(&["run", "p"]);
    wait_for("run 2 to be queued", Duration::from_secs(20), || {
        p.baton(&["runs", "--json"])
            .json()
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == 2 && r["status"] == "queued")
    });
    assert!(
        !p.file("started.2").exists(),
        "run 2 started while run 1 was running"
    );
    p.write("release.1", "");
    p.write("release.2", "");
    assert!(first.wait_with_output().unwrap().status.success());
    let second = second.wait_with_output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("queued"));
    assert_eq!(
        std::fs::read_to_string(p.file("order")).unwrap(),
        "1\n1\n2\n2\n"
    );
    let one = p.show(1);
    let two = p.show(2);
    assert!(two["run"]["started_at"].as_i64() >= one["run"]["finished_at"].as_i64());
}

#[test]
fn cancel_stops_a_running_run_and_its_processes() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      hang: { run: "sleep 1000 & echo ready; wait" }
      next: { needs: [hang], run: "touch next.ran" }
"#,
    );
    // Synchronise on the step's `ready` line (streamed by `-v`), not on time.
    let mut child = p.spawn(&["run", "p", "-v"]);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("ready")),
        "the step printed `ready`"
    );
    p.baton(&["cancel", "1"]).code(0).stdout_has("cancelled");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest:?}");
    assert_eq!(p.stage_status(1, "hang"), "cancelled");
    assert_eq!(p.stage_status(1, "next"), "cancelled");
    assert!(!p.file("next.ran").exists());
    assert!(processes_with_env("BATON_WORKSPACE", &workspace_of(&p, 1)).is_empty());
}

#[test]
fn ctrl_c_cancels_cleanly() {
    let p = Project::new(
        "pipelines: { p: { stages: { hang: { run: 'touch started; sleep 1000' } } } }\n",
    );
    let child = p.spawn(&["run", "p"]);
    wait_for("the stage to start", Duration::from_secs(20), || {
        p.file("started").exists()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "a cancelled run exits 130");
    assert!(String::from_utf8_lossy(&out.stdout).contains("was cancelled"));
    assert_eq!(p.show(1)["run"]["status"], "cancelled");
    assert!(processes_with_env("BATON_WORKSPACE", &workspace_of(&p, 1)).is_empty());
}

/// Unmounts a test filesystem even when the test fails.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_clearly_and_keeps_the_store_sound() {
    // A real full filesystem: a 1.5 MiB tmpfs (the suite runs as root: scripts/test.sh).
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1536k", "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cannot mount a tmpfs for the full-disk test (needs root)"
    );
    let mount = Mount(dir.path().to_path_buf());
    let outside = tempfile::tempdir().unwrap();
    let marker = outside.path().join("after.ran");
    std::fs::write(
        mount.0.join("baton.yaml"),
        format!(
            "pipelines:\n  p:\n    stages:\n      flood: {{ run: \"head -c 3000000 /dev/zero | tr '\\\\0' x | fold -w 100\" }}\n      after: {{ needs: [flood], run: 'touch {}' }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let baton = |args: &[&str]| {
        std::process::Command::new(common::baton_bin())
            .args(args)
            .current_dir(&mount.0)
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let out = baton(&["run", "p"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("disk is full"), "{stdout}");
    assert!(
        !marker.exists(),
        "a stage started after the store could not record the run"
    );
    // Reading still works on the full disk.
    let runs = baton(&["runs", "--json"]);
    assert_eq!(
        runs.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&runs.stderr)
    );
    // With room again, the run is settled and the database is sound.
    std::fs::remove_dir_all(mount.0.join(".baton/logs")).unwrap();
    let runs = baton(&["runs", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert!(
        ["failed", "interrupted"].contains(&list[0]["status"].as_str().unwrap()),
        "{list}"
    );
    let store = baton_store::SqliteStore::open(&mount.0.join(".baton")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}
