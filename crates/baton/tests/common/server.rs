//! `baton serve` for tests: the real binary on loopback in a test project, and a tiny blocking
//! HTTP/1.1 client over `std::net::TcpStream` (no client library: the tests need raw control
//! of the bytes sent — a half-sent request line, a `Range` header, a streamed SSE body).
//!
//! `TestServer::start` spawns `baton serve --listen 127.0.0.1:0` and returns once the binary
//! printed its ready line, whose address gives the port (synchronisation on a printed line, not
//! on time). Dropping it stops the server with SIGTERM and, if it has not exited soon, SIGKILL,
//! so a failed test does not leave a server (or its runs' processes) behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::Project;

/// How long the binary may take to print its ready line.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long a request may take to be answered.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// The prefix of the line `baton serve` prints on stderr once it accepts connections.
const READY: &str = "baton serve: listening on http://";

/// The operator token tests give the server through `BATON_TOKEN`.
pub const TOKEN: &str = "test-operator-token";

pub struct TestServer {
    child: Option<Child>,
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

/// How a server that never became ready ended.
#[derive(Debug)]
pub struct Failed {
    pub code: Option<i32>,
    pub stderr: String,
}

impl TestServer {
    /// Start the server in `project` with `BATON_TOKEN` = [`TOKEN`]; panics if it does not
    /// become ready.
    #[track_caller]
    pub fn start(project: &Project) -> TestServer {
        Self::start_with(project, &["--listen", "127.0.0.1:0"], Some(TOKEN))
            .unwrap_or_else(|f| panic!("baton serve did not start: {f:?}"))
    }

    /// Start the server with these `serve` arguments and `BATON_TOKEN` (none: unset). Returns
    /// how it ended if it exits before printing its ready line.
    pub fn start_with(
        project: &Project,
        args: &[&str],
        token: Option<&str>,
    ) -> Result<TestServer, Failed> {
        let mut argv = vec!["serve"];
        argv.extend_from_slice(args);
        let mut cmd = project.command(&argv);
        cmd.env_remove("BATON_TOKEN")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.env("BATON_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("baton serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        let pipe = child.stderr.take().expect("piped stderr");
        let log = stderr.clone();
        // The reader keeps draining stderr for the server's whole life, so its log never
        // fills the pipe and blocks it.
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if line.starts_with(READY)
                    && let Some(tx) = ready.take()
                {
                    let _ = tx.send(line);
                }
            }
        });
        match ready_rx.recv_timeout(START_LIMIT) {
            Ok(line) => {
                let rest = &line[READY.len()..];
                let addr = rest.split_whitespace().next().unwrap_or("");
                let port = addr
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port in the ready line {line:?}"));
                Ok(TestServer {
                    child: Some(child),
                    port,
                    stderr,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed without the line: the process ended (or is ending).
                let status = child.wait().expect("wait for baton serve");
                Err(Failed {
                    code: status.code(),
                    stderr: stderr.lock().unwrap().clone(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "baton serve printed no ready line within {START_LIMIT:?}:\n{}",
                    stderr.lock().unwrap()
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid() as i32), signal).expect("signal baton serve");
    }

    /// Wait (bounded) for the server to exit; its exit code.
    #[track_caller]
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status.code();
            }
            assert!(
                started.elapsed() < limit,
                "baton serve did not exit within {limit:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request("GET", path, token, &[], b"")
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &[u8]) -> Response {
        self.request("POST", path, token, &[], body)
    }

    /// One request on a fresh connection (`Connection: close`), answered in full.
    #[track_caller]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut stream = self.connect();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method != "GET" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("send the request");
        // A server may answer (413) and stop reading before the body is all sent: the answer
        // is what the test looks at, so a failed write is not the failure.
        let _ = stream.write_all(body);
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader)
            .unwrap_or_else(|e| panic!("{method} {path}: no response head: {e}"));
        let mut body = Vec::new();
        if method != "HEAD" {
            body_reader(reader, &headers)
                .read_to_end(&mut body)
                .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// A TCP connection to the server, with a read timeout so no test hangs on it.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to baton serve");
        stream
            .set_read_timeout(Some(REQUEST_LIMIT))
            .expect("read timeout");
        stream
    }

    /// Follow `/api/events` (with these extra headers); returns once the response head came,
    /// which the server sends after subscribing, so every later event reaches the stream.
    #[track_caller]
    pub fn events(&self, headers: &[(&str, &str)]) -> EventStream {
        self.events_at("/api/events", headers)
    }

    /// [`TestServer::events`] on this path (`/api/events?after=N`).
    #[track_caller]
    pub fn events_at(&self, path: &str, headers: &[(&str, &str)]) -> EventStream {
        let mut stream = self.connect();
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n",
            self.port
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("send the request");
        let socket = stream.try_clone().expect("clone the socket");
        let mut reader = BufReader::new(stream);
        let (status, headers) = read_head(&mut reader).expect("the event stream's head");
        assert_eq!(status, 200, "GET {path}: {headers:?}");
        let content_type = header(&headers, "content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "content type {content_type:?}"
        );
        EventStream {
            lines: BufReader::new(body_reader(reader, &headers)),
            socket,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SIGTERM first, so the server cancels its runs and their processes end with it.
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}\n{}", self.status, self.headers, self.text())
    }
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.headers, name)
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// Assert the status; the response, for chaining.
    #[track_caller]
    pub fn status(&self, expected: u16) -> &Response {
        assert_eq!(self.status, expected, "unexpected status: {self:?}");
        self
    }

    /// Assert an API error: this status, the JSON error shape and this `code`.
    #[track_caller]
    pub fn error(&self, status: u16, code: &str) -> String {
        self.status(status);
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "an error must be JSON: {self:?}"
        );
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{self:?}");
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {self:?}"));
        assert!(!message.is_empty(), "{self:?}");
        message.to_string()
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
}

/// The status line and headers of a response.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<(u16, Vec<(String, String)>)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            ErrorKind::UnexpectedEof,
            "the connection closed before a response",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| std::io::Error::other(format!("bad header line {l:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((status, headers))
}

/// The body as the headers frame it: chunked, `Content-Length` bytes, or up to the close.
fn body_reader<R: BufRead + 'static>(reader: R, headers: &[(String, String)]) -> Box<dyn Read> {
    let chunked = header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return Box::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        });
    }
    match header(headers, "content-length").and_then(|v| v.parse::<u64>().ok()) {
        Some(n) => Box::new(reader.take(n)),
        None => Box::new(reader),
    }
}

/// A reader of a `Transfer-Encoding: chunked` body.
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            let size = line.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(size, 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
            if self.left == 0 {
                // The last chunk; trailers are not used by baton.
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

/// One Server-Sent Event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub id: Option<i64>,
    pub event: String,
    pub data: String,
}

impl SseEvent {
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {self:?}"))
    }
}

pub struct EventStream {
    lines: BufReader<Box<dyn Read>>,
    /// The connection under `lines`, to bound each read by a deadline (heartbeats would keep
    /// a plain read timeout from ever firing).
    socket: TcpStream,
}

/// How long a stream may go without the event a test waits for.
const EVENT_LIMIT: Duration = Duration::from_secs(20);

impl EventStream {
    /// The next event (comments skipped); panics when the stream ends or none comes within
    /// [`EVENT_LIMIT`].
    #[track_caller]
    pub fn next(&mut self) -> SseEvent {
        self.next_by(Instant::now() + EVENT_LIMIT)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Let the next read wait until `deadline` at most.
    fn arm(&self, deadline: Instant) -> Result<(), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "the event stream did not deliver within {EVENT_LIMIT:?}"
            ));
        }
        self.socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("read timeout: {e}"))
    }

    /// The next event, or why there is none by `deadline`.
    fn next_by(&mut self, deadline: Instant) -> Result<SseEvent, String> {
        let mut event = SseEvent::default();
        let mut fields = false;
        loop {
            self.arm(deadline)?;
            let mut line = String::new();
            let n = self
                .lines
                .read_line(&mut line)
                .map_err(|e| match e.kind() {
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                        format!("no event within {EVENT_LIMIT:?}")
                    }
                    _ => format!("reading the event stream: {e}"),
                })?;
            if n == 0 {
                return Err("the event stream ended".into());
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if fields {
                    return Ok(event);
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            fields = true;
            match field {
                "id" => event.id = value.parse().ok(),
                "event" => event.event = value.to_string(),
                "data" => {
                    if !event.data.is_empty() {
                        event.data.push('\n');
                    }
                    event.data.push_str(value);
                }
                _ => {}
            }
        }
    }

    /// The rest of the stream as text, up to its end (panics if it does not end cleanly
    /// within [`EVENT_LIMIT`]).
    #[track_caller]
    pub fn rest(&mut self) -> String {
        let deadline = Instant::now() + EVENT_LIMIT;
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            self.arm(deadline).unwrap_or_else(|e| panic!("{e}"));
            match self.lines.read(&mut buf) {
                Ok(0) => return String::from_utf8_lossy(&bytes).into_owned(),
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "the event stream did not end cleanly: {e}\n{}",
                    String::from_utf8_lossy(&bytes)
                ),
            }
        }
    }

    /// Events up to and including the first that `last` accepts.
    #[track_caller]
    pub fn until(&mut self, mut last: impl FnMut(&SseEvent) -> bool) -> Vec<SseEvent> {
        let deadline = Instant::now() + EVENT_LIMIT;
        let mut seen = Vec::new();
        loop {
            let e = self
                .next_by(deadline)
                .unwrap_or_else(|e| panic!("{e}; events so far: {seen:?}"));
            let stop = last(&e);
            seen.push(e);
            if stop {
                return seen;
            }
            assert!(seen.len() < 10_000, "no expected event in 10000: {seen:?}");
        }
    }
}

/// Poll `GET /api/runs/ID` until the run has finished (bounded); its detail.
#[track_caller]
pub fn wait_finished(server: &TestServer, run: i64, limit: Duration) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let detail = server
            .get(&format!("/api/runs/{run}"), Some(TOKEN))
            .status(200)
            .json();
        if detail["run"]["finished_at"].is_i64() {
            return detail;
        }
        assert!(
            started.elapsed() < limit,
            "run {run} did not finish within {limit:?}: {detail}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
