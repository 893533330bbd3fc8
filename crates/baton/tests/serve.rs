//! `baton serve` end to end: the real binary on loopback, spoken to over real HTTP — tokens and
//! roles, starting and cancelling runs, request errors, log offsets and ranges, the SSE stream
//! of a terminal's run, one server per store, reloads, SIGTERM with and without grace,
//! slow-loris clients and `/metrics` read by Prometheus's own OpenMetrics parser.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, python3

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{TOKEN, TestServer, wait_finished};
use common::{Project, wait_for};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// How long a short run may take from its start request to its end.
const RUN_LIMIT: Duration = Duration::from_secs(20);

/// `sha256("viewtoken")` and `sha256("optoken")`, computed outside baton (`printf … | sha256sum`)
/// so a wrong hash in the server cannot agree with itself.
const VIEWTOKEN_SHA256: &str = "9e785187de10f64c5a369e4491d9a6fffd072fa23317cbd6e5d0f1f1f3883da6";
const OPTOKEN_SHA256: &str = "d19ee5d2c68f0e32b5e72eab11b1bbd7427a45150202707fbee5c3bc42aa7882";

fn start_run(server: &TestServer, pipeline: &str, token: &str) -> i64 {
    let response = server.post(
        &format!("/api/pipelines/{pipeline}/runs"),
        Some(token),
        b"{}",
    );
    response.status(201);
    response.json()["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no run id: {response:?}"))
}

/// Poll the run until its first stage is running (its step has started).
fn wait_stage_running(server: &TestServer, run: i64) {
    wait_for("the stage to be running", RUN_LIMIT, || {
        let detail = server
            .get(&format!("/api/runs/{run}"), Some(TOKEN))
            .status(200)
            .json();
        detail["stages"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["status"] == "running"))
    });
}

#[test]
fn tokens_authenticate_and_roles_authorize() {
    let p = Project::new(&format!(
        r#"
server:
  tokens:
    wall: {{ role: viewer, sha256: {VIEWTOKEN_SHA256} }}
    deployer: {{ role: operator, sha256: {OPTOKEN_SHA256} }}
pipelines:
  p:
    stages:
      a: {{ run: "echo hi" }}
"#
    ));
    let s = TestServer::start(&p);

    // Health checks need no token (load balancers have none).
    let health = s.get("/healthz", None);
    health.status(200);
    assert_eq!(health.text(), "ok\n");

    for path in [
        "/api/pipelines",
        "/api/runs",
        "/api/status",
        "/api/events",
        "/metrics",
    ] {
        s.get(path, None).error(401, "unauthorized");
        s.get(path, Some("not-a-token")).error(401, "unauthorized");
    }
    // A token sent under another scheme is not a bearer token.
    s.request(
        "GET",
        "/api/pipelines",
        None,
        &[("Authorization", &format!("Basic {TOKEN}"))],
        b"",
    )
    .error(401, "unauthorized");
    s.post("/api/pipelines/p/runs", None, b"{}")
        .error(401, "unauthorized");

    // BATON_TOKEN and every configured token read.
    for token in [TOKEN, "viewtoken", "optoken"] {
        let pipelines = s.get("/api/pipelines", Some(token));
        pipelines.status(200);
        assert_eq!(pipelines.json()[0]["name"], "p", "{pipelines:?}");
    }

    // A viewer reads but changes nothing.
    let message = s
        .post("/api/pipelines/p/runs", Some("viewtoken"), b"{}")
        .error(403, "forbidden");
    assert!(message.contains("wall"), "{message}");
    s.get("/api/runs", Some("viewtoken")).status(200);
    assert_eq!(s.get("/api/runs", Some(TOKEN)).json(), json!([]));

    // What a token starts is recorded as the token's name.
    let by_operator = start_run(&s, "p", "optoken");
    let by_env = start_run(&s, "p", TOKEN);
    s.post(
        &format!("/api/runs/{by_operator}/cancel"),
        Some("viewtoken"),
        b"",
    )
    .error(403, "forbidden");
    for (run, actor) in [(by_operator, "deployer"), (by_env, "BATON_TOKEN")] {
        let detail = wait_finished(&s, run, RUN_LIMIT);
        assert_eq!(detail["run"]["status"], "success", "{detail}");
        assert_eq!(detail["run"]["actor"], actor, "{detail}");
        assert_eq!(detail["run"]["trigger"], "api", "{detail}");
        // The viewer sees the run.
        s.get(&format!("/api/runs/{run}"), Some("viewtoken"))
            .status(200);
    }
}

#[test]
fn runs_start_and_finish_and_bad_requests_are_json_errors() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "echo built" }
"#,
    );
    let s = TestServer::start(&p);

    let run = start_run(&s, "p", TOKEN);
    let detail = wait_finished(&s, run, RUN_LIMIT);
    assert_eq!(detail["run"]["status"], "success", "{detail}");
    assert_eq!(detail["stages"][0]["name"], "a", "{detail}");
    assert_eq!(detail["stages"][0]["status"], "success", "{detail}");
    // The run is the CLI's run: `baton show` reads the same record.
    let shown = p.show(run);
    assert_eq!(shown["run"]["status"], "success");
    assert_eq!(shown["run"]["actor"], "BATON_TOKEN");

    // An empty body is `{}`; variables pass through.
    let r = s.post("/api/pipelines/p/runs", Some(TOKEN), b"");
    r.status(201);
    let second = r.json()["id"].as_i64().unwrap();
    assert_ne!(second, run);
    wait_finished(&s, second, RUN_LIMIT);

    let message = s
        .post("/api/pipelines/nope/runs", Some(TOKEN), b"{}")
        .error(404, "not_found");
    assert!(message.contains("nope"), "{message}");
    s.post("/api/pipelines/p/runs", Some(TOKEN), b"{")
        .error(400, "bad_request");
    s.post("/api/pipelines/p/runs", Some(TOKEN), b"[1, 2]")
        .error(400, "bad_request");
    let message = s
        .post("/api/pipelines/p/runs", Some(TOKEN), br#"{"bogus": 1}"#)
        .error(400, "bad_request");
    assert!(message.contains("bogus"), "{message}");
    // Just over 1 MiB, in valid JSON: the size alone refuses it.
    let mut big = br#"{"vars": {"x": ""#.to_vec();
    big.resize(1024 * 1024 + 16, b'a');
    big.extend_from_slice(br#""}}"#);
    s.post("/api/pipelines/p/runs", Some(TOKEN), &big)
        .error(413, "too_large");
    // Nothing of the refused requests started a run.
    let runs = s.get("/api/runs", Some(TOKEN)).status(200).json();
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");

    s.get("/api/runs/999", Some(TOKEN)).error(404, "not_found");
    s.post("/api/runs/999/cancel", Some(TOKEN), b"")
        .error(404, "not_found");
    s.get("/api/runs/999/log", Some(TOKEN))
        .error(404, "not_found");
    s.get("/api/runs/abc", Some(TOKEN))
        .error(400, "bad_request");
    let message = s
        .get("/api/runs?status=bogus", Some(TOKEN))
        .error(400, "bad_request");
    assert!(message.contains("bogus"), "{message}");
    s.get("/api/runs?limit=0", Some(TOKEN))
        .error(400, "bad_request");
    s.get("/api/runs?limit=501", Some(TOKEN))
        .error(400, "bad_request");
    s.get("/api/runs?colour=red", Some(TOKEN))
        .error(400, "bad_request");
    s.get("/api/nope", Some(TOKEN)).error(404, "not_found");
    s.request("DELETE", "/api/runs", Some(TOKEN), &[], b"")
        .error(405, "method_not_allowed");

    // The filters that are valid work.
    let ok = s.get("/api/runs?status=success&limit=1", Some(TOKEN));
    let ok = ok.status(200).json();
    assert_eq!(ok.as_array().unwrap().len(), 1, "{ok}");
    assert_eq!(ok[0]["id"], second, "newest first: {ok}");
}

#[test]
fn the_log_comes_whole_from_an_offset_or_a_range() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "printf 'alpha\\nbeta\\n'" }
      b: { needs: [a], run: "printf 'gamma\\n\\377delta'" }
"#,
    );
    let s = TestServer::start(&p);
    let run = start_run(&s, "p", TOKEN);
    let detail = wait_finished(&s, run, RUN_LIMIT);
    assert_eq!(detail["run"]["status"], "success", "{detail}");
    let log = format!("/api/runs/{run}/log");

    let whole = s.get(&log, Some(TOKEN));
    whole.status(200);
    // The steps' output in the order they started, byte for byte (not re-encoded as UTF-8).
    let expected: &[u8] = b"alpha\nbeta\ngamma\n\xffdelta";
    assert_eq!(whole.body, expected, "{whole:?}");
    let total = expected.len();
    assert_eq!(whole.header("x-log-length"), Some(total.to_string()));
    assert_eq!(whole.header("accept-ranges").as_deref(), Some("bytes"));

    // From inside the first step, the boundary between the steps, inside the second.
    for offset in [3usize, 8, 11, 17, 18] {
        let tail = s.get(&format!("{log}?offset={offset}"), Some(TOKEN));
        tail.status(200);
        assert_eq!(tail.body, expected[offset..], "offset {offset}");
        let ranged = s.request(
            "GET",
            &log,
            Some(TOKEN),
            &[("Range", &format!("bytes={offset}-"))],
            b"",
        );
        ranged.status(206);
        assert_eq!(ranged.body, expected[offset..], "range from {offset}");
        assert_eq!(
            ranged.header("content-range"),
            Some(format!("bytes {offset}-{}/{total}", total - 1))
        );
    }
    // A stage's own log.
    let b = s.get(&format!("{log}?stage=b"), Some(TOKEN));
    b.status(200);
    assert!(b.text().starts_with("gamma"), "{b:?}");

    // At the end: nothing, and no error (a reader caught up); past it: 416.
    let at_end = s.get(&format!("{log}?offset={total}"), Some(TOKEN));
    at_end.status(200);
    assert!(at_end.body.is_empty(), "{at_end:?}");
    let past = s.get(&format!("{log}?offset={}", total + 1), Some(TOKEN));
    past.error(416, "range_not_satisfiable");
    assert_eq!(
        past.header("content-range"),
        Some(format!("bytes */{total}"))
    );
    let past = s.request(
        "GET",
        &log,
        Some(TOKEN),
        &[("Range", &format!("bytes={}-", total + 5))],
        b"",
    );
    past.error(416, "range_not_satisfiable");
}

#[test]
fn the_event_stream_shows_a_run_started_by_the_cli() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      build: { run: "echo compiling-the-thing" }
"#,
    );
    let s = TestServer::start(&p);
    let mut events = s.events(&[]);

    // A terminal's run, in the same project, while the server runs.
    let cli = p.baton(&["run", "p"]);
    cli.code(0);
    let seen = events.until(|e| e.event == "run_finished");

    let started = seen
        .iter()
        .find(|e| e.event == "run_started")
        .unwrap_or_else(|| panic!("no run_started: {seen:?}"));
    let run = started.json()["run"].as_i64().expect("run id");
    assert!(
        started.id.is_some(),
        "stored events carry their sequence: {started:?}"
    );
    let output: String = seen
        .iter()
        .filter(|e| e.event == "output")
        .map(|e| {
            let data = e.json();
            assert_eq!(data["run"], run, "{e:?}");
            assert_eq!(data["stage"], "build", "{e:?}");
            data["data"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        output.contains("compiling-the-thing\n"),
        "the printed line is in the output events: {seen:?}"
    );
    let finished = seen.last().unwrap().json();
    assert_eq!(finished["run"], run);
    assert_eq!(finished["status"], "success", "{finished}");
    let names: Vec<&str> = seen.iter().map(|e| e.event.as_str()).collect();
    let position = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(
        position("run_started") < position("output")
            && position("output") < position("run_finished"),
        "in order: {names:?}"
    );
    // The output of a step reaches clients before the event that says it finished.
    assert!(position("output") < position("step_finished"), "{names:?}");
    // Sequence numbers only grow.
    let ids: Vec<i64> = seen.iter().filter_map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // A client that missed everything after `run_started` gets it replayed, and nothing else
    // before it.
    let after = started.id.unwrap();
    let mut resumed = s.events(&[("Last-Event-ID", &after.to_string())]);
    let replayed = resumed.until(|e| e.event == "run_finished");
    assert!(
        replayed.iter().all(|e| e.id.is_some_and(|id| id > after)),
        "only stored events after {after}: {replayed:?}"
    );
    let replayed_ids: Vec<i64> = replayed.iter().filter_map(|e| e.id).collect();
    let expected: Vec<i64> = ids.iter().copied().filter(|id| *id > after).collect();
    assert_eq!(
        replayed_ids, expected,
        "every stored event after {after}, once"
    );
    // `?after=` is the same for clients that cannot set headers.
    let mut resumed = s.events_at(&format!("/api/events?after={after}"), &[]);
    let replayed = resumed.until(|e| e.event == "run_finished");
    let replayed_ids: Vec<i64> = replayed.iter().filter_map(|e| e.id).collect();
    assert_eq!(replayed_ids, expected);
}

#[test]
fn a_bad_last_event_id_is_refused() {
    let p = Project::new("pipelines: { p: { stages: { a: { run: 'true' } } } }\n");
    let s = TestServer::start(&p);
    s.request(
        "GET",
        "/api/events",
        Some(TOKEN),
        &[("Last-Event-ID", "yesterday")],
        b"",
    )
    .error(400, "bad_request");
}

#[test]
fn cancelling_a_running_run_ends_it_cancelled_by_the_caller() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      wait: { run: "sleep 30" }
      after: { needs: [wait], run: "touch after.ran" }
  quick:
    stages:
      a: { run: "true" }
"#,
    );
    let s = TestServer::start(&p);
    let run = start_run(&s, "p", TOKEN);
    wait_stage_running(&s, run);

    let asked = Instant::now();
    let cancelled = s.post(&format!("/api/runs/{run}/cancel"), Some(TOKEN), b"");
    assert!(
        cancelled.status == 200 || cancelled.status == 202,
        "{cancelled:?}"
    );
    assert_eq!(cancelled.json()["run"], run);
    let detail = wait_finished(&s, run, RUN_LIMIT);
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the sleep was killed, not waited for"
    );
    assert_eq!(detail["run"]["status"], "cancelled", "{detail}");
    assert_eq!(
        detail["run"]["cancel_requested_by"], "BATON_TOKEN",
        "{detail}"
    );
    let reason = detail["run"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("BATON_TOKEN"), "{detail}");
    assert!(!p.file("after.ran").exists());

    // Asking again is harmless (the answer is the same); a run that finished otherwise
    // cannot be cancelled.
    let again = s.post(&format!("/api/runs/{run}/cancel"), Some(TOKEN), b"");
    again.status(200);
    assert_eq!(again.json()["status"], "cancelled", "{again:?}");
    let quick = start_run(&s, "quick", TOKEN);
    assert_eq!(
        wait_finished(&s, quick, RUN_LIMIT)["run"]["status"],
        "success"
    );
    s.post(&format!("/api/runs/{quick}/cancel"), Some(TOKEN), b"")
        .error(409, "conflict");
    let detail = s.get(&format!("/api/runs/{quick}"), Some(TOKEN)).json();
    assert_eq!(detail["run"]["status"], "success", "{detail}");
}

#[test]
fn a_second_server_on_the_same_store_exits_naming_the_first() {
    let p = Project::new("pipelines: { p: { stages: { a: { run: 'true' } } } }\n");
    let first = TestServer::start(&p);
    let second = TestServer::start_with(&p, &["--listen", "127.0.0.1:0"], Some(TOKEN));
    let Err(failed) = second else {
        panic!("a second server started on the same store");
    };
    assert!(
        failed.code.is_some_and(|c| c != 0),
        "exit code {:?}\n{}",
        failed.code,
        failed.stderr
    );
    assert!(
        failed.stderr.contains(&format!("pid {}", first.pid())),
        "names the first server's pid {}: {}",
        first.pid(),
        failed.stderr
    );
    // The first one is unaffected.
    first.get("/api/status", Some(TOKEN)).status(200);
}

#[test]
fn a_public_address_without_any_token_is_refused() {
    let p = Project::new("pipelines: { p: { stages: { a: { run: 'true' } } } }\n");
    let Err(failed) = TestServer::start_with(&p, &["--listen", "0.0.0.0:0"], None) else {
        panic!("listened on 0.0.0.0 with no token");
    };
    assert_eq!(failed.code, Some(2), "{}", failed.stderr);
    assert!(failed.stderr.contains("BATON_TOKEN"), "{}", failed.stderr);
    // With a token it is allowed (the address is still reached over loopback).
    let s = TestServer::start_with(&p, &["--listen", "0.0.0.0:0"], Some(TOKEN))
        .unwrap_or_else(|f| panic!("{f:?}"));
    s.get("/api/status", Some(TOKEN)).status(200);
}

#[test]
fn edits_of_baton_yaml_are_reloaded_and_an_invalid_one_keeps_the_old_project() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "echo p" }
"#,
    );
    let s = TestServer::start(&p);
    let names = |s: &TestServer| -> Vec<String> {
        s.get("/api/pipelines", Some(TOKEN))
            .status(200)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&s), ["p"]);

    p.write(
        "baton.yaml",
        r#"
pipelines:
  p:
    stages:
      a: { run: "echo p" }
  q:
    stages:
      b: { run: "echo q-ran" }
"#,
    );
    wait_for("pipeline q to appear", Duration::from_secs(15), || {
        names(&s).contains(&"q".to_string())
    });
    let run = start_run(&s, "q", TOKEN);
    assert_eq!(
        wait_finished(&s, run, RUN_LIMIT)["run"]["status"],
        "success"
    );

    p.write(
        "baton.yaml",
        r#"
pipelines:
  p:
    stages:
      a: { run: "echo p", needs: [missing] }
"#,
    );
    let mut status = Value::Null;
    wait_for("the reload error", Duration::from_secs(15), || {
        status = s.get("/api/status", Some(TOKEN)).status(200).json();
        status["reload_error"].is_string()
    });
    assert!(
        status["reload_error"].as_str().unwrap().contains("missing"),
        "{status}"
    );
    // The last good project keeps working: both pipelines, runnable.
    assert_eq!(names(&s), ["p", "q"]);
    let run = start_run(&s, "q", TOKEN);
    assert_eq!(
        wait_finished(&s, run, RUN_LIMIT)["run"]["status"],
        "success"
    );

    // Fixing the file clears the error.
    p.write(
        "baton.yaml",
        "pipelines: { r: { stages: { a: { run: 'true' } } } }\n",
    );
    wait_for("the fixed file to load", Duration::from_secs(15), || {
        s.get("/api/status", Some(TOKEN)).json()["reload_error"].is_null()
    });
    assert_eq!(names(&s), ["r"]);
}

#[test]
fn sigterm_waits_for_a_running_run_to_finish() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "sleep 1; echo done" }
"#,
    );
    let mut s = TestServer::start(&p);
    let run = start_run(&s, "p", TOKEN);
    wait_stage_running(&s, run);
    // A client following events does not hold the server up: its stream ends, saying why.
    let mut events = s.events(&[]);
    s.signal(Signal::SIGTERM);
    let rest = events.rest();
    assert!(rest.contains(": the server is shutting down"), "{rest}");
    let code = s.wait_exit(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", s.stderr());
    // The server is gone: the store has the record.
    let shown = p.show(run);
    assert_eq!(shown["run"]["status"], "success", "{shown}");
    p.baton(&["logs", &run.to_string()])
        .code(0)
        .stdout_has("done");
}

#[test]
fn sigterm_past_the_grace_cancels_runs_as_the_shutdown() {
    let p = Project::new(
        r#"
server: { grace: 1s }
pipelines:
  p:
    stages:
      a: { run: "sleep 60" }
"#,
    );
    let mut s = TestServer::start(&p);
    let run = start_run(&s, "p", TOKEN);
    wait_stage_running(&s, run);
    let asked = Instant::now();
    s.signal(Signal::SIGTERM);
    let code = s.wait_exit(Duration::from_secs(15));
    let took = asked.elapsed();
    assert_eq!(code, Some(0), "{}", s.stderr());
    assert!(took < Duration::from_secs(8), "exited after {took:?}");
    let shown = p.show(run);
    assert_eq!(
        shown["run"]["status"], "cancelled",
        "never interrupted: {shown}"
    );
    let reason = shown["run"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("server shutdown"), "{shown}");
    assert_eq!(
        shown["run"]["cancel_requested_by"], "server shutdown",
        "{shown}"
    );
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let p = Project::new("pipelines: { p: { stages: { a: { run: 'true' } } } }\n");
    let s = TestServer::start(&p);
    let mut slow = s.connect();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"GET /api/pipelines HTTP/1.1\r\n").unwrap();
    let opened = Instant::now();

    // Meanwhile others are served.
    s.get("/api/pipelines", Some(TOKEN)).status(200);
    s.get("/healthz", None).status(200);

    let mut buf = [0u8; 1024];
    loop {
        match slow.read(&mut buf) {
            // Closed (after a 408, or without a word).
            Ok(0) => break,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("still open after {:?}", opened.elapsed())
            }
            // Reset: cut off too.
            Err(_) => break,
        }
    }
    assert!(
        opened.elapsed() < Duration::from_secs(15),
        "cut off after {:?}",
        opened.elapsed()
    );
    s.get("/api/pipelines", Some(TOKEN)).status(200);
}

#[test]
fn metrics_are_openmetrics_and_count_runs_by_status() {
    let p = Project::new(
        r#"
pipelines:
  p:
    stages:
      a: { run: "true" }
  bad:
    stages:
      a: { run: "exit 3" }
"#,
    );
    let s = TestServer::start(&p);
    for _ in 0..2 {
        let run = start_run(&s, "p", TOKEN);
        assert_eq!(
            wait_finished(&s, run, RUN_LIMIT)["run"]["status"],
            "success"
        );
    }
    let run = start_run(&s, "bad", TOKEN);
    assert_eq!(wait_finished(&s, run, RUN_LIMIT)["run"]["status"], "failed");

    // Run counts come from the store; durations from the event stream, which the server tails
    // on its own: wait until it has seen the three ends (state, not time).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (metrics, samples) = loop {
        let metrics = s.get("/metrics", Some(TOKEN));
        metrics.status(200);
        let samples = parse_openmetrics(&metrics.text());
        let seen: f64 = samples
            .iter()
            .filter(|s| s["name"] == "baton_run_duration_seconds_count")
            .filter_map(|s| s["value"].as_f64())
            .sum();
        if seen >= 3.0 || std::time::Instant::now() > deadline {
            break (metrics, samples);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        samples.iter().find_map(|s| {
            (s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][*k].as_str() == Some(*v)))
            .then(|| s["value"].as_f64().unwrap())
        })
    };
    let success = [("kind", "pipeline"), ("name", "p"), ("status", "success")];
    assert_eq!(value("baton_runs", &success), Some(2.0), "{samples:?}");
    let failed = [("kind", "pipeline"), ("name", "bad"), ("status", "failed")];
    assert_eq!(value("baton_runs", &failed), Some(1.0), "{samples:?}");
    assert_eq!(value("baton_runs_queued", &[]), Some(0.0), "{samples:?}");
    // Durations were observed as the runs finished (the event stream feeds them).
    assert_eq!(
        value("baton_run_duration_seconds_count", &[("name", "p")]),
        Some(2.0),
        "{samples:?}"
    );
}

/// Every sample of an OpenMetrics text, as parsed by the Python `prometheus_client` (a strict
/// parser: the format is checked by someone else's reading of the spec).
fn parse_openmetrics(text: &str) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n--- text\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("the parser's JSON")
}
