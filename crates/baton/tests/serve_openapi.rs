//! The OpenAPI document against the real server: schemathesis (PyPI; `scripts/test.sh` installs
//! it) reads `GET /api/openapi.json` from a running `baton serve`, generates requests for every
//! documented operation — valid ones and malformed ones — and fails on any 5xx. A handler that
//! answers 500 to a request it should refuse (or serve) is a bug this finds.
//!
//! `/api/events` is left out of schemathesis: its stream never ends, so every request to it
//! would count as a timeout. It is checked by hand below instead.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, schemathesis

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Project;

const PROJECT: &str = r#"
project: fuzzed
pipelines:
  build:
    stages:
      hello:
        run: echo hello
"#;

const TOKEN: &str = "schemathesis-operator-token";

/// A running `baton serve`, stopped (SIGTERM, then waited for) when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
    /// Everything it wrote on stderr so far, for failure messages.
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(project: &Project) -> Server {
        let mut child = project
            .command(&["serve", "--listen", "127.0.0.1:0"])
            .env("BATON_TOKEN", TOKEN)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("baton serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        // Drain stderr for the server's whole life (a full pipe would block it) and hand over
        // the address from the line that says it accepts connections.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_string();
                    let _ = tx.send(addr);
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "baton serve never said it was listening; stderr:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Server { child, addr, log }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// One request on a fresh connection: the status line and headers (the body is not read:
    /// the event stream has no end).
    fn head(&self, path: &str, headers: &[(&str, &str)]) -> String {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut byte).expect("the response's head");
            assert!(n == 1, "the connection closed mid-head: {:?}", head);
            head.push(byte[0]);
        }
        String::from_utf8_lossy(&head).to_ascii_lowercase()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

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
    let server = Server::start(&project);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut args: Vec<String> = [
        "-m",
        "schemathesis.cli",
        "run",
        &format!("{}/api/openapi.json", server.url()),
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
        server.log()
    );
}

/// What schemathesis leaves out: the event stream answers as documented, and refuses a
/// malformed `Last-Event-ID` with a 400 rather than an error.
#[test]
fn the_event_stream_answers_as_documented() {
    let project = Project::new(PROJECT);
    let server = Server::start(&project);
    let auth = format!("Bearer {TOKEN}");
    let head = server.head("/api/events", &[("Authorization", &auth)]);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let head = server.head(
        "/api/events",
        &[("Authorization", &auth), ("Last-Event-ID", "not-a-number")],
    );
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let head = server.head("/api/events?after=x", &[("Authorization", &auth)]);
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let head = server.head("/api/events", &[]);
    assert!(head.starts_with("http/1.1 401"), "{head}");
}
