//! Notifications through the real binary and real receivers: aiosmtpd (plain, STARTTLS with a
//! test CA, AUTH), a server that never answers, Python HTTP receivers for webhooks, and
//! `baton serve`'s delivery worker. Receivers are `tests/support/notify_servers.py`; each
//! message they accept is a file, so the tests synchronise on files and exit codes.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, python, openssl

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::server::TestServer;
use common::{Project, Run, wait_for};
use serde_json::Value;

const SUPPORT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/support/notify_servers.py"
);

/// One receiver process; killed when dropped.
struct Receiver {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Receiver {
    /// `notify_servers.py KIND DIR ARGS…`, once it printed `READY PORT`.
    fn start(kind: &str, args: &[&str]) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(SUPPORT).arg(kind);
        if kind != "silent" {
            cmd.arg(dir.path());
        }
        // Its own complaints (a TLS handshake a test makes fail on purpose) go to a file.
        let errors = dir.path().join("stderr.log");
        let mut child = cmd
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&errors).unwrap())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{kind} receiver did not start (scripts/test.sh installs aiosmtpd): {line:?}\n{}",
                    std::fs::read_to_string(&errors).unwrap_or_default()
                )
            });
        Receiver { child, port, dir }
    }

    /// The files received so far, in order.
    fn received(&self, suffix: &str) -> Vec<String> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(suffix))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    fn mails(&self) -> Vec<String> {
        self.received(".eml")
            .iter()
            .map(|m| decode_mail(m))
            .collect()
    }

    fn posts(&self) -> Vec<Value> {
        self.received(".json")
            .iter()
            .map(|p| serde_json::from_str(p).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mail's text with quoted-printable soft breaks and escapes undone (lettre encodes long
/// lines), so a test can look for a line as it was written.
fn decode_mail(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).replace("\r\n", "\n")
}

/// A user with an age identity (HOME) and the project's recipients set, for channel secrets.
struct Secrets {
    home: tempfile::TempDir,
}

impl Secrets {
    /// Make an identity and write `yaml` with its recipient as the project's `baton.yaml`.
    fn new(p: &Project, yaml: &str) -> Secrets {
        let home = tempfile::tempdir().unwrap();
        let secrets = Secrets { home };
        p.write("baton.yaml", "project: t\n");
        let public = secrets.baton(p, &["secret", "keygen"], "");
        public.code(0);
        p.write(
            "baton.yaml",
            &format!(
                "secrets: {{ recipients: [{}] }}\n{yaml}",
                public.stdout.trim()
            ),
        );
        secrets
    }

    fn command(&self, p: &Project, args: &[&str]) -> Command {
        let mut cmd = p.command(args);
        cmd.env("HOME", self.home.path())
            .env_remove("BATON_IDENTITY");
        cmd
    }

    fn baton(&self, p: &Project, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(p, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn set(&self, p: &Project, name: &str, value: &str) {
        self.baton(p, &["secret", "set", name], value).code(0);
    }
}

/// `notify log --json`, oldest first.
fn log(p: &Project) -> Vec<Value> {
    let mut rows = p
        .baton(&["notify", "log", "--json", "--limit", "1000"])
        .code(0)
        .json()
        .as_array()
        .unwrap()
        .clone();
    rows.reverse();
    rows
}

fn log_as(secrets: &Secrets, p: &Project) -> Vec<Value> {
    let out = secrets.baton(p, &["notify", "log", "--json"], "");
    out.code(0);
    let mut rows = out.json().as_array().unwrap().clone();
    rows.reverse();
    rows
}

#[track_caller]
fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
}

#[test]
fn a_failing_pipeline_with_on_failure_sends_one_mail_with_the_failed_stage_and_its_log() {
    let smtp = Receiver::start("smtp", &[]);
    let p = Project::new("");
    let secrets = Secrets::new(
        &p,
        &format!(
            r#"
server: {{ url: "https://ci.example.com/" }}
notifications:
  ops_mail: {{ smtp: {{ host: 127.0.0.1, port: {}, tls: none, from: baton@example.com, to: [oncall@example.com, lead@example.com] }} }}
pipelines:
  deploy:
    notify: {{ on_failure: [ops_mail], on_success: [ops_mail] }}
    stages:
      build: {{ run: echo built }}
      migrate:
        needs: [build]
        secrets: [DB_PASSWORD]
        run: 'for i in $(seq 1 40); do echo "migration step $i"; done; echo "connecting with $DB_PASSWORD"; exit 4'
"#,
            smtp.port
        ),
    );
    secrets.set(&p, "DB_PASSWORD", "s3cret-pa55word");
    let run = secrets.baton(&p, &["run", "deploy"], "");
    run.code(1).stdout_has("deploy failed");
    // `baton run` sent it before exiting.
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "exactly one mail: {mails:#?}");
    let mail = &mails[0];
    has(mail, "X-Test-Rcpt: oncall@example.com,lead@example.com");
    has(mail, "Subject: [baton] deploy #1 failed");
    has(mail, "Failed stage: migrate");
    has(mail, "exit code 4");
    has(mail, "migration step 40");
    has(mail, "connecting with ***");
    assert!(
        !mail.contains("s3cret-pa55word"),
        "the secret is masked:\n{mail}"
    );
    // The last 20 lines: steps 23 to 40, the connecting line and baton's own last line.
    assert!(
        !mail.contains("migration step 22\n"),
        "only the last 20 lines:\n{mail}"
    );
    has(mail, "migration step 23\n");
    has(mail, "Link: https://ci.example.com/runs/1");

    let rows = log_as(&secrets, &p);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["channel"], "ops_mail");
    assert_eq!(rows[0]["origin"], "run:1");
    assert_eq!(rows[0]["status"], "sent");
    assert_eq!(rows[0]["attempts"], 1);
    assert!(rows[0]["sent_at"].is_i64());
    // The table: calm, aligned, with every column.
    let table = secrets.baton(&p, &["notify", "log"], "");
    table.code(0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    has(lines[0], "ID");
    for column in [
        "TIME",
        "CHANNEL",
        "ORIGIN",
        "STATUS",
        "ATTEMPTS",
        "LAST ERROR",
    ] {
        has(lines[0], column);
    }
    assert_eq!(lines[1].find("ops_mail"), lines[0].find("CHANNEL"));
    has(lines[1], "run:1");
    has(lines[1], "sent");
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl.
fn test_ca(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    #[rustfmt::skip]
    openssl(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=baton test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    #[rustfmt::skip]
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1"]);
    #[rustfmt::skip]
    openssl(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
}

#[test]
fn starttls_with_a_private_ca_and_auth_and_a_wrong_password_is_a_failed_delivery() {
    let p = Project::new("");
    test_ca(p.path());
    let cert = p.file("server.pem");
    let key = p.file("server.key");
    let smtp = Receiver::start(
        "smtp",
        &[
            "--starttls",
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
            "--auth",
            "ops:correct-horse",
        ],
    );
    let channel = |secret: &str| {
        format!(
            "{{ smtp: {{ host: 127.0.0.1, port: {}, tls: starttls, ca_file: ca.pem, user: ops, password_secret: {secret}, from: baton@example.com, to: [oncall@example.com] }}, retries: 0 }}",
            smtp.port
        )
    };
    let secrets = Secrets::new(
        &p,
        &format!(
            "project: tls\nnotifications:\n  mail: {}\n  wrong: {}\n  untrusted: {{ smtp: {{ host: 127.0.0.1, port: {}, tls: starttls, from: a@example.com, to: [b@example.com] }}, retries: 0 }}\n",
            channel("SMTP_PASSWORD"),
            channel("WRONG_PASSWORD"),
            smtp.port
        ),
    );
    secrets.set(&p, "SMTP_PASSWORD", "correct-horse");
    secrets.set(&p, "WRONG_PASSWORD", "battery-staple");

    // TLS from the first byte (port 465 style), trusting the same CA.
    let implicit = Receiver::start(
        "smtp",
        &["--tls", cert.to_str().unwrap(), key.to_str().unwrap()],
    );
    let yaml = std::fs::read_to_string(p.file("baton.yaml")).unwrap();
    p.write(
        "baton.yaml",
        &format!(
            "{yaml}  implicit: {{ smtp: {{ host: 127.0.0.1, port: {}, tls: tls, ca_file: ca.pem, from: a@example.com, to: [b@example.com] }} }}\n",
            implicit.port
        ),
    );
    secrets
        .baton(&p, &["notify", "test", "implicit"], "")
        .code(0)
        .stdout_has("sent a test message through implicit");
    assert_eq!(implicit.mails().len(), 1);

    let ok = secrets.baton(&p, &["notify", "test", "mail"], "");
    ok.code(0).stdout_has("sent a test message through mail");
    has(&ok.stdout, "250");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    has(&mails[0], "X-Test-Auth-User: ops");
    has(&mails[0], "Subject: [baton] test notification from tls");

    let refused = secrets.baton(&p, &["notify", "test", "wrong", "--json"], "");
    refused.code(1);
    let result = refused.json();
    assert_eq!(result["ok"], false);
    has(result["reply"].as_str().unwrap(), "535");

    // The public roots alone do not trust the test CA.
    let untrusted = secrets.baton(&p, &["notify", "test", "untrusted"], "");
    untrusted.code(1).stdout_has("failed");
    has(&untrusted.stdout, "certificate");
    assert_eq!(smtp.mails().len(), 1, "nothing else was accepted");

    let rows = log_as(&secrets, &p);
    let by_channel: HashMap<&str, &Value> = rows
        .iter()
        .map(|r| (r["channel"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by_channel["mail"]["status"], "sent");
    assert_eq!(by_channel["wrong"]["status"], "failed");
    assert_eq!(by_channel["wrong"]["origin"], "test");
    has(by_channel["wrong"]["last_error"].as_str().unwrap(), "535");
    assert_eq!(by_channel["untrusted"]["status"], "failed");
    let table = secrets.baton(&p, &["notify", "log"], "");
    has(&table.stdout, "failed");
    has(&table.stdout, "535");
}

#[test]
fn refusing_and_silent_smtp_servers_are_recorded_failures_and_the_run_still_succeeds() {
    let rejecting = Receiver::start("smtp", &["--reject-data", "554 5.7.1 no thanks, not today"]);
    let silent = Receiver::start("silent", &[]);
    // A port nothing listens on: bind one, note it, close it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Project::new(&format!(
        r#"
notifications:
  rejecting: {{ smtp: {{ host: 127.0.0.1, port: {}, tls: none, from: a@example.com, to: [b@example.com] }}, retries: 0 }}
  silent: {{ smtp: {{ host: 127.0.0.1, port: {}, tls: none, from: a@example.com, to: [b@example.com], timeout: 1s }}, retries: 0 }}
  closed: {{ smtp: {{ host: 127.0.0.1, port: {closed}, tls: none, from: a@example.com, to: [b@example.com] }}, retries: 0 }}
pipelines:
  ok:
    notify: {{ on_success: [rejecting, silent, closed] }}
    stages: {{ s: {{ run: echo fine }} }}
"#,
        rejecting.port, silent.port
    ));
    let run = p.baton(&["run", "ok"]);
    run.code(0).stdout_has("ok succeeded");
    run.stderr_has("notification to rejecting failed");
    let rows = log(&p);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let reason = |channel: &str| {
        let row = rows.iter().find(|r| r["channel"] == channel).unwrap();
        assert_eq!(row["status"], "failed", "{row}");
        row["last_error"].as_str().unwrap().to_string()
    };
    has(&reason("rejecting"), "554");
    has(&reason("rejecting"), "no thanks, not today");
    has(&reason("silent"), "timed out");
    has(&reason("closed"), "refused");
    // The run's record is untouched.
    assert_eq!(p.show(1)["run"]["status"], "success");
}

#[test]
fn webhooks_are_signed_and_slack_formatted_and_a_refusal_is_retried_then_failed() {
    let hook = Receiver::start("webhook", &[]);
    let slack = Receiver::start("webhook", &[]);
    let broken = Receiver::start("webhook", &["--status", "500"]);
    let p = Project::new("");
    let secrets = Secrets::new(
        &p,
        &format!(
            r#"
notifications:
  signed: {{ webhook: {{ url: "http://127.0.0.1:{}/hook", secret: HOOK_SECRET, headers: {{ X-Team: ops }} }} }}
  chat: {{ webhook: {{ url: "http://127.0.0.1:{}/slack", format: slack }} }}
  broken: {{ webhook: {{ url: "http://127.0.0.1:{}/" }}, retries: 2 }}
pipelines:
  fails:
    notify: {{ on_failure: [signed, chat, broken] }}
    stages: {{ s: {{ run: "echo oops; exit 1" }} }}
"#,
            hook.port, slack.port, broken.port
        ),
    );
    secrets.set(&p, "HOOK_SECRET", "hmac-key-123");
    let run = secrets
        .command(&p, &["run", "fails"])
        // Retries without waiting minutes (a debug-build hook): three attempts in the CLI's
        // bound.
        .env("BATON_TEST_NOTIFY_BACKOFF_MS", "200")
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));

    let posts = hook.posts();
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post["path"], "/hook");
    assert_eq!(post["headers"]["x-team"], "ops");
    assert_eq!(post["headers"]["content-type"], "application/json");
    assert!(post["headers"]["x-baton-delivery"].is_string());
    let body = post["body"].as_str().unwrap();
    // The signature, checked with openssl over the bytes received.
    let digest = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", "hmac-key-123", "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let hex = String::from_utf8_lossy(&digest.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        post["headers"]["x-baton-signature"],
        format!("sha256={hex}")
    );
    let fields: Value = serde_json::from_str(body).unwrap();
    assert_eq!(fields["kind"], "run");
    assert_eq!(fields["pipeline"], "fails");
    assert_eq!(fields["status"], "failed");
    assert_eq!(fields["failed_stage"], "s");
    assert_eq!(fields["failed_step"]["log_tail"][0], "oops");
    has(fields["subject"].as_str().unwrap(), "fails #1 failed");

    let slacks = slack.posts();
    assert_eq!(slacks.len(), 1);
    let text: Value = serde_json::from_str(slacks[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(text.as_object().unwrap().len(), 1, "only `text`: {text}");
    has(text["text"].as_str().unwrap(), "[baton] fails #1 failed");
    has(text["text"].as_str().unwrap(), "Failed stage: s");
    assert!(slacks[0]["headers"].get("x-baton-signature").is_none());

    assert_eq!(broken.posts().len(), 3, "the first attempt and two retries");
    let rows = log_as(&secrets, &p);
    let broken_row = rows.iter().find(|r| r["channel"] == "broken").unwrap();
    assert_eq!(broken_row["status"], "failed");
    assert_eq!(broken_row["attempts"], 3);
    has(
        broken_row["last_error"].as_str().unwrap(),
        "HTTP 500: receiver says no",
    );
}

#[test]
fn on_change_notifies_when_the_outcome_differs_from_the_previous_run() {
    let hook = Receiver::start("webhook", &[]);
    let p = Project::new(&format!(
        r#"
notifications:
  chat: {{ webhook: "http://127.0.0.1:{}/" }}
pipelines:
  flaky:
    notify: {{ on_change: [chat] }}
    stages: {{ s: {{ run: "test ! -e broken" }} }}
"#,
        hook.port
    ));
    let outcomes = [true, true, false, false, true];
    for ok in outcomes {
        if ok {
            let _ = std::fs::remove_file(p.file("broken"));
            p.baton(&["run", "flaky"]).code(0);
        } else {
            p.write("broken", "");
            p.baton(&["run", "flaky"]).code(1);
        }
    }
    let posts = hook.posts();
    let seen: Vec<(i64, String, bool)> = posts
        .iter()
        .map(|post| {
            let f: Value = serde_json::from_str(post["body"].as_str().unwrap()).unwrap();
            (
                f["run"].as_i64().unwrap(),
                f["status"].as_str().unwrap().to_string(),
                f["changed"].as_bool().unwrap(),
            )
        })
        .collect();
    // Run 1 has nothing to differ from; 3 broke it, 5 fixed it.
    assert_eq!(
        seen,
        [
            (3, "failed".to_string(), true),
            (5, "success".to_string(), true)
        ]
    );
    let subjects: Vec<String> = posts
        .iter()
        .map(|post| {
            let f: Value = serde_json::from_str(post["body"].as_str().unwrap()).unwrap();
            f["subject"].as_str().unwrap().to_string()
        })
        .collect();
    has(&subjects[0], "(broken: #2 success)");
    has(&subjects[1], "(fixed: #4 failed)");
}

#[test]
fn the_notify_step_renders_its_message_queues_it_and_succeeds() {
    let hook = Receiver::start("webhook", &[]);
    let p = Project::new(&format!(
        r#"
vars: {{ version: "1.4.2" }}
notifications:
  chat: {{ webhook: {{ url: "http://127.0.0.1:{}/", format: slack }} }}
  mail: {{ smtp: {{ host: 127.0.0.1, port: 9, tls: none, from: a@example.com, to: [b@example.com] }}, retries: 0 }}
pipelines:
  release:
    stages:
      ship:
        steps:
          - run: echo shipping
          - notify: {{ channels: [chat], message: "Released {{{{ vars.version }}}} from {{{{ run.pipeline }}}}" }}
          - run: echo after
"#,
        hook.port
    ));
    let run = p.baton(&["run", "release"]);
    run.code(0);
    let posts = hook.posts();
    assert_eq!(posts.len(), 1);
    let text: Value = serde_json::from_str(posts[0]["body"].as_str().unwrap()).unwrap();
    has(
        text["text"].as_str().unwrap(),
        "Released 1.4.2 from release",
    );
    let logs = p.baton(&["logs", "1", "--stage", "ship"]);
    logs.code(0);
    has(&logs.stdout, "queued a notification to chat (delivery 1)");
    has(&logs.stdout, "after");
    let rows = log(&p);
    assert_eq!(rows[0]["origin"], "step:1");
    assert_eq!(rows[0]["status"], "sent");
}

#[test]
fn notify_test_names_an_unknown_channel_with_a_suggestion() {
    let p = Project::new(
        "notifications:\n  ops_mail: { smtp: { host: 127.0.0.1, port: 9, tls: none, from: a@example.com, to: [b@example.com] } }\n",
    );
    let out = p.baton(&["notify", "test", "ops_mial"]);
    out.code(2)
        .stderr_has("unknown notification channel `ops_mial`")
        .stderr_has("did you mean `ops_mail`?");
    assert!(log(&p).is_empty(), "nothing queued");
    p.baton(&["notify", "log"])
        .code(0)
        .stdout_has("No notifications");
}

#[test]
fn two_workers_on_one_store_send_each_delivery_once() {
    let hook = Receiver::start("webhook", &[]);
    let p = Project::new(&format!(
        r#"
notifications:
  chat: {{ webhook: "http://127.0.0.1:{}/" }}
pipelines:
  p:
    notify: {{ on_success: [chat] }}
    concurrency: 8
    stages:
      s:
        steps:
          - notify: {{ channels: [chat] }}
          - notify: {{ channels: [chat] }}
"#,
        hook.port
    ));
    // The server's worker and each `baton run` (delivering its own) compete for the same rows.
    let server = TestServer::start(&p);
    let runs: Vec<Child> = (0..6).map(|_| p.spawn(&["run", "p"])).collect();
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expected = 6 * 3;
    wait_for("every delivery sent", Duration::from_secs(30), || {
        log(&p).iter().filter(|r| r["status"] == "sent").count() == expected
    });
    drop(server);
    let posts = hook.posts();
    let mut ids: Vec<String> = posts
        .iter()
        .map(|post| {
            post["headers"]["x-baton-delivery"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "a delivery was sent twice");
    assert_eq!(ids.len(), expected);
    assert!(log(&p).iter().all(|r| r["attempts"] == 1));
}

#[test]
fn a_run_leaves_what_it_could_not_deliver_queued() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Project::new(&format!(
        r#"
notifications:
  chat: {{ webhook: "http://127.0.0.1:{closed}/" }}
pipelines:
  p:
    notify: {{ on_failure: [chat] }}
    stages: {{ s: {{ run: "exit 1" }} }}
"#
    ));
    // The next attempt is due after the CLI's bounded wait: it does not wait for it.
    let out = p
        .command(&["run", "p"])
        .env("BATON_TEST_NOTIFY_BACKOFF_MS", "60000")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed run stays failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    has(&stderr, "notification to chat is still queued");
    has(&stderr, "`baton serve` or `baton monitor` will retry it");
    let row = &log(&p)[0];
    assert_eq!(row["status"], "retrying");
    assert_eq!(row["attempts"], 1);
    assert!(row["next_attempt_at"].is_i64());
    has(row["last_error"].as_str().unwrap(), "refused");
}

#[test]
fn baton_serve_delivers_and_retries_the_notices_of_its_runs() {
    let hook = Receiver::start("webhook", &["--fail-first", "1"]);
    let p = Project::new(&format!(
        r#"
notifications:
  chat: {{ webhook: "http://127.0.0.1:{}/" }}
pipelines:
  p:
    notify: {{ on_success: [chat] }}
    stages: {{ s: {{ run: "echo fine" }} }}
"#,
        hook.port
    ));
    let server = TestServer::start_with_env(
        &p,
        &["--listen", "127.0.0.1:0"],
        Some(common::server::TOKEN),
        &[("BATON_TEST_NOTIFY_BACKOFF_MS", "200")],
    )
    .unwrap_or_else(|f| panic!("baton serve did not start: {f:?}"));
    server
        .post("/api/pipelines/p/runs", Some(common::server::TOKEN), b"{}")
        .status(201);
    wait_for("the notice is sent", Duration::from_secs(30), || {
        log(&p).first().is_some_and(|r| r["status"] == "sent")
    });
    drop(server);
    let row = &log(&p)[0];
    assert_eq!(row["origin"], "run:1");
    assert_eq!(row["attempts"], 2, "refused once, then sent: {row}");
    assert_eq!(hook.posts().len(), 2);
}
