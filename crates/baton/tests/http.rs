//! The `http:` step against a real HTTP server on loopback.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Project;

/// A tiny HTTP/1.1 server: `/flaky` fails twice then succeeds; `/doc` serves an ETag and
/// answers 304 to a matching If-None-Match. Counts requests per path.
struct Server {
    port: u16,
    flaky_hits: Arc<AtomicUsize>,
    not_modified: Arc<AtomicUsize>,
}

fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let flaky_hits = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let (flaky, nm) = (flaky_hits.clone(), not_modified.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut if_none_match = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    if_none_match = Some(v.trim().to_string());
                }
            }
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .to_string();
            let (status, body, etag) = match path.as_str() {
                "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => {
                    ("500 Internal Server Error", "not yet", None)
                }
                "/flaky" => ("200 OK", "ready now", None),
                "/doc" if if_none_match.as_deref() == Some("\"v1\"") => {
                    nm.fetch_add(1, Ordering::SeqCst);
                    ("304 Not Modified", "", Some("\"v1\""))
                }
                "/doc" => ("200 OK", "the document body", Some("\"v1\"")),
                _ => ("404 Not Found", "nothing here", None),
            };
            let etag = etag.map(|e| format!("ETag: {e}\r\n")).unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{etag}Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Server {
        port,
        flaky_hits,
        not_modified,
    }
}

#[test]
fn retries_until_the_expectation_holds() {
    let server = serve();
    let p = Project::new(&format!(
        r#"
pipelines:
  p:
    stages:
      wait_ready:
        http: {{ url: "http://127.0.0.1:{}/flaky", expect_status: 200, expect_body_contains: ready, retries: 5, interval: 10ms }}
"#,
        server.port
    ));
    p.baton(&["run", "p"]).code(0);
    assert_eq!(server.flaky_hits.load(Ordering::SeqCst), 3);
    p.baton(&["logs", "1"])
        .code(0)
        .stdout_has("attempt 1/6 failed")
        .stdout_has("→ 200 OK");
}

#[test]
fn unmet_expectations_fail_with_the_reason() {
    let server = serve();
    let p = Project::new(&format!(
        "pipelines: {{ p: {{ stages: {{ check: {{ http: {{ url: 'http://127.0.0.1:{}/missing', retries: 1, interval: 10ms }} }} }} }} }}\n",
        server.port
    ));
    p.baton(&["run", "p"])
        .code(1)
        .stdout_has("expected a 2xx status, got 404");
}

#[test]
fn save_writes_the_body_and_cache_revalidates() {
    let server = serve();
    let p = Project::new(&format!(
        r#"
pipelines:
  p:
    stages:
      fetch:
        steps:
          - http: {{ url: "http://127.0.0.1:{}/doc", save: data/doc.txt, cache: true }}
          - run: 'grep -q "the document body" "$BATON_WORKSPACE/data/doc.txt"'
"#,
        server.port
    ));
    p.baton(&["run", "p"]).code(0);
    assert_eq!(server.not_modified.load(Ordering::SeqCst), 0);
    // Second run: a conditional request, a 304, and the cached body saved again.
    p.baton(&["run", "p"]).code(0);
    assert_eq!(server.not_modified.load(Ordering::SeqCst), 1);
    p.baton(&["logs", "2"])
        .code(0)
        .stdout_has("304 Not Modified, using the cached body");
}
