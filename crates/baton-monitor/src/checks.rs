//! Checks: `http` (a request from this machine: status, body contains, timeout), `tcp` (a
//! connect from this machine) and `command` (run on the target, exit 0 is healthy), each
//! templated per target with `node.*` and `vars.*`.

use baton_model::diagnostic::error_chain;
use std::time::Duration;

use baton_model::{Check, CheckProbe, HttpRequest, LOCAL_NODE, Project, template};
use serde_json::{Value, json};

use crate::collect::{Executors, run_captured};

/// The most of a response body read looking for `expect_body_contains`: a check stays cheap
/// and bounded whatever the server sends.
const BODY_CAP: usize = 1024 * 1024;

/// The outcome of one check on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub ok: bool,
    /// Why it failed (or what it saw, e.g. `status 200`).
    pub detail: String,
}

impl CheckResult {
    fn ok(detail: impl Into<String>) -> CheckResult {
        CheckResult {
            ok: true,
            detail: detail.into(),
        }
    }

    fn failed(detail: impl Into<String>) -> CheckResult {
        CheckResult {
            ok: false,
            detail: detail.into(),
        }
    }
}

/// The template context of a check on `node`: `node.{name,host,roles,labels,vars}`, `vars`.
pub fn context(project: &Project, node: &str) -> Value {
    let node = match project.nodes.get(node) {
        Some(n) => json!({
            "name": n.name, "host": n.host, "roles": n.roles, "labels": n.labels, "vars": n.vars,
        }),
        None => json!({
            "name": LOCAL_NODE, "host": "127.0.0.1", "roles": [], "labels": {}, "vars": {},
        }),
    };
    json!({ "node": node, "vars": project.vars })
}

/// Run `check` for `node`. Never fails: every problem is a failed result saying why.
pub async fn run(
    check: &Check,
    node: &str,
    project: &Project,
    http: &reqwest::Client,
    executors: &dyn Executors,
) -> CheckResult {
    let ctx = context(project, node);
    let render = |text: &str| {
        template::render(text, &ctx)
            .map_err(|e| format!("template error in `{text}`: {}", e.message))
    };
    match &check.probe {
        CheckProbe::Http(request) => match render(&request.url.value) {
            Ok(url) => http_check(http, request, &url, check.timeout, &render).await,
            Err(e) => CheckResult::failed(e),
        },
        CheckProbe::Tcp(address) => match render(&address.value) {
            Ok(address) => tcp_check(&address, check.timeout).await,
            Err(e) => CheckResult::failed(e),
        },
        CheckProbe::Command(command) => match render(&command.value) {
            Ok(script) => command_check(executors, node, &script, check.timeout).await,
            Err(e) => CheckResult::failed(e),
        },
    }
}

async fn http_check(
    client: &reqwest::Client,
    request: &HttpRequest,
    url: &str,
    timeout: Duration,
    render: &(dyn Fn(&str) -> Result<String, String> + Sync),
) -> CheckResult {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return CheckResult::failed(format!("`{}` is not an HTTP method", request.method));
    };
    let mut builder = client.request(method, url).timeout(timeout);
    for (name, value) in &request.headers {
        match render(value) {
            Ok(value) => builder = builder.header(name, value),
            Err(e) => return CheckResult::failed(e),
        }
    }
    if let Some(body) = &request.body {
        match render(body) {
            Ok(body) => builder = builder.body(body),
            Err(e) => return CheckResult::failed(e),
        }
    }
    let mut response = match builder.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return CheckResult::failed(format!("{url}: no answer within {}", seconds(timeout)));
        }
        Err(e) => return CheckResult::failed(format!("{url}: {}", error_chain(&e))),
    };
    let status = response.status().as_u16();
    let status_ok = match request.expect_status {
        Some(expected) => status == expected,
        None => (200..300).contains(&status),
    };
    if !status_ok {
        let wanted = request
            .expect_status
            .map_or("a 2xx".to_string(), |s| s.to_string());
        return CheckResult::failed(format!("{url}: status {status}, expected {wanted}"));
    }
    let Some(needle) = &request.expect_body_contains else {
        return CheckResult::ok(format!("status {status}"));
    };
    let mut body: Vec<u8> = Vec::new();
    loop {
        if body
            .windows(needle.len().max(1))
            .any(|w| w == needle.as_bytes())
        {
            return CheckResult::ok(format!("status {status}, body contains `{needle}`"));
        }
        if body.len() >= BODY_CAP {
            break;
        }
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(BODY_CAP - body.len())])
            }
            Ok(None) => break,
            Err(e) => {
                return CheckResult::failed(format!(
                    "{url}: reading the body: {}",
                    error_chain(&e)
                ));
            }
        }
    }
    CheckResult::failed(format!(
        "{url}: status {status}, but the body lacks `{needle}`"
    ))
}

async fn tcp_check(address: &str, timeout: Duration) -> CheckResult {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => CheckResult::ok(format!("{address}: connected")),
        Ok(Err(e)) => CheckResult::failed(format!("{address}: {e}")),
        Err(_) => CheckResult::failed(format!(
            "{address}: no connection within {}",
            seconds(timeout)
        )),
    }
}

async fn command_check(
    executors: &dyn Executors,
    node: &str,
    script: &str,
    timeout: Duration,
) -> CheckResult {
    match run_captured(executors, node, script, timeout).await {
        Ok((info, _)) if info.success() => CheckResult::ok("exit code 0"),
        Ok((info, output)) => {
            let said = output
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            if said.is_empty() {
                CheckResult::failed(info.to_string())
            } else {
                CheckResult::failed(format!("{info}: {}", clip(said, 200)))
            }
        }
        Err(why) => CheckResult::failed(why),
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tcp_checks_connect_or_say_why_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert!(tcp_check(&open, Duration::from_secs(2)).await.ok);
        drop(listener);
        let closed = tcp_check(&open, Duration::from_secs(2)).await;
        assert!(!closed.ok);
        assert!(closed.detail.contains("refused"), "{closed:?}");
    }

    #[test]
    fn long_output_is_clipped_on_a_character() {
        assert_eq!(clip("héllo", 2), "hé…");
        assert_eq!(clip("ok", 5), "ok");
    }
}
