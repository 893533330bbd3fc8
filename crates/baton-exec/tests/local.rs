//! The local executor: exit codes, output capture, timeouts and cancellation of process trees.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_exec::*;

struct Run {
    info: ExitInfo,
    output: Vec<u8>,
    pgid: Option<i32>,
}

async fn run(spec: CommandSpec, cancel: CancellationToken) -> Run {
    let output = Arc::new(Mutex::new(Vec::new()));
    let pgid = Arc::new(Mutex::new(None));
    let (out, pg) = (output.clone(), pgid.clone());
    let info = LocalExecutor
        .run(
            &spec,
            Box::new(move |g| *pg.lock().unwrap() = g),
            Box::new(move |chunk| out.lock().unwrap().extend_from_slice(chunk)),
            &cancel,
        )
        .await
        .unwrap();
    let output = output.lock().unwrap().clone();
    let pgid = *pgid.lock().unwrap();
    Run { info, output, pgid }
}

fn spec(script: &str) -> CommandSpec {
    CommandSpec {
        script: script.into(),
        grace: Duration::from_secs(2),
        ..Default::default()
    }
}

/// Independent of the executor's own check: `ps` lists the group's members and their states;
/// zombies (state Z) are dead processes not yet reaped by init.
fn group_alive(pgid: i32) -> bool {
    let out = std::process::Command::new("ps")
        .args(["-e", "-o", "pgid=,stat="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().any(|line| {
        let mut fields = line.split_whitespace();
        fields.next() == Some(&pgid.to_string()) && !fields.next().unwrap_or("Z").starts_with('Z')
    })
}

#[tokio::test]
async fn reports_exit_codes_and_interleaved_output() {
    let r = run(
        spec("echo out; echo err >&2; exit 3"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        r.info,
        ExitInfo {
            outcome: Outcome::Exited,
            code: Some(3),
            signal: None,
            timed_out_after: None,
        }
    );
    assert_eq!(r.output, b"out\nerr\n");
}

#[tokio::test]
async fn pipefail_and_errexit_are_on() {
    let r = run(
        spec("false | true; echo unreachable"),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(r.info.code, Some(1));
    assert!(r.output.is_empty());
}

#[tokio::test]
async fn captures_invalid_utf8_huge_lines_and_missing_newline() {
    let script = r"printf '\xff\xfe\n'; head -c 1048576 /dev/zero | tr '\0' x; printf '\nend'";
    let r = run(spec(script), CancellationToken::new()).await;
    assert!(r.info.success());
    assert_eq!(&r.output[..3], b"\xff\xfe\n");
    assert_eq!(r.output.len(), 3 + 1_048_576 + 4);
    assert!(r.output.ends_with(b"\nend"));
}

#[tokio::test]
async fn env_and_cwd_are_applied() {
    let dir = std::env::temp_dir();
    let mut s = spec("echo \"$GREETING\"; pwd");
    s.env.push(("GREETING".into(), "hello".into()));
    s.cwd = Some(dir.clone());
    let r = run(s, CancellationToken::new()).await;
    let text = String::from_utf8(r.output).unwrap();
    assert_eq!(
        text,
        format!("hello\n{}\n", dir.canonicalize().unwrap().display())
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_tree() {
    let mut s = spec("sleep 1000 & sleep 1000; wait");
    s.timeout = Some(Duration::from_millis(500));
    let started = Instant::now();
    let r = run(s, CancellationToken::new()).await;
    assert_eq!(r.info.outcome, Outcome::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        !group_alive(r.pgid.unwrap()),
        "processes of the group survived"
    );
}

#[tokio::test]
async fn background_jobs_left_behind_are_cleaned_up() {
    let r = run(spec("sleep 1000 & echo started"), CancellationToken::new()).await;
    assert!(r.info.success());
    assert!(!group_alive(r.pgid.unwrap()));
}

#[tokio::test]
async fn cancel_terminates_the_tree() {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let handle = tokio::spawn(run(spec("echo ready; sleep 1000 & wait"), cancel));
    tokio::time::sleep(Duration::from_millis(200)).await;
    trigger.cancel();
    let r = handle.await.unwrap();
    assert_eq!(r.info.outcome, Outcome::Cancelled);
    assert!(!group_alive(r.pgid.unwrap()));
}

#[tokio::test]
async fn a_missing_working_directory_is_named() {
    let mut s = spec("true");
    s.cwd = Some("/nonexistent/baton-test".into());
    let err = LocalExecutor
        .run(
            &s,
            Box::new(|_| {}),
            Box::new(|_| {}),
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/baton-test"), "{err}");
}
