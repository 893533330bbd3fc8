//! The `http:` step: a request with expectations, retries, saving and conditional caching.

use std::path::Path;

use baton_model::{HttpRequest, template};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub enum HttpFailure {
    Failed(String),
    TimedOut,
    Cancelled,
}

/// Perform `request` (templates rendered with `ctx`), writing a line per attempt to `out`.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    client: &reqwest::Client,
    request: &HttpRequest,
    ctx: &serde_json::Value,
    workspace: &Path,
    cache_dir: &Path,
    out: &mut (dyn FnMut(&[u8]) + Send),
    cancel: &CancellationToken,
    deadline: Option<Instant>,
) -> Result<(), HttpFailure> {
    let render = |text: &str| {
        template::render(text, ctx)
            .map_err(|e| HttpFailure::Failed(format!("template error in `{text}`: {}", e.message)))
    };
    let url = render(&request.url)?;
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| HttpFailure::Failed(format!("`{}` is not an HTTP method", request.method)))?;
    let mut headers = Vec::new();
    for (name, value) in &request.headers {
        headers.push((name.clone(), render(value)?));
    }
    let body = request.body.as_deref().map(render).transpose()?;
    let cache = request.cache.then(|| CacheEntry::for_url(cache_dir, &url));

    let attempts = request.retries + 1;
    let mut last_reason = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            tokio::select! {
                _ = tokio::time::sleep(request.interval) => {}
                _ = cancel.cancelled() => return Err(HttpFailure::Cancelled),
                _ = until(deadline) => return Err(HttpFailure::TimedOut),
            }
        }
        let mut builder = client
            .request(method.clone(), &url)
            .timeout(request.timeout);
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = &body {
            builder = builder.body(body.clone());
        }
        if let Some(cache) = &cache {
            builder = cache.conditional_headers(builder);
        }
        let started = std::time::Instant::now();
        let outcome = tokio::select! {
            r = send(builder) => r,
            _ = cancel.cancelled() => return Err(HttpFailure::Cancelled),
            _ = until(deadline) => return Err(HttpFailure::TimedOut),
        };
        let elapsed = started.elapsed().as_millis();
        let verdict = match outcome {
            Err(e) => Err(format!("{method} {url}: {e}")),
            Ok((status, response_headers, bytes)) => {
                let (status, bytes) = match (&cache, status.as_u16()) {
                    (Some(cache), 304) => match cache.body() {
                        Some(stored) => {
                            out(format!(
                                "{method} {url} → 304 Not Modified, using the cached body\n"
                            )
                            .as_bytes());
                            (reqwest::StatusCode::OK, stored)
                        }
                        None => (status, bytes),
                    },
                    _ => (status, bytes),
                };
                out(format!(
                    "{method} {url} → {status} ({elapsed} ms, {} bytes)\n",
                    bytes.len()
                )
                .as_bytes());
                check(request, status, &bytes).map(|()| (response_headers, bytes))
            }
        };
        match verdict {
            Ok((response_headers, bytes)) => {
                if let Some(cache) = &cache {
                    cache.store(&response_headers, &bytes);
                }
                if let Some(save) = &request.save {
                    let path = workspace.join(render(save)?);
                    save_body(&path, &bytes).map_err(HttpFailure::Failed)?;
                    out(format!("saved {} bytes to {}\n", bytes.len(), path.display()).as_bytes());
                }
                return Ok(());
            }
            Err(reason) => {
                out(format!("attempt {attempt}/{attempts} failed: {reason}\n").as_bytes());
                last_reason = reason;
            }
        }
    }
    Err(HttpFailure::Failed(last_reason))
}

async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn send(
    builder: reqwest::RequestBuilder,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), reqwest::Error> {
    let response = builder.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    Ok((status, headers, bytes.to_vec()))
}

fn check(request: &HttpRequest, status: reqwest::StatusCode, body: &[u8]) -> Result<(), String> {
    match request.expect_status {
        Some(expected) if status.as_u16() != expected => {
            return Err(format!(
                "expected status {expected}, got {}",
                status.as_u16()
            ));
        }
        None if !status.is_success() => {
            return Err(format!("expected a 2xx status, got {}", status.as_u16()));
        }
        _ => {}
    }
    if let Some(needle) = &request.expect_body_contains
        && memchr::memmem::find(body, needle.as_bytes()).is_none()
    {
        return Err(format!("the body does not contain `{needle}`"));
    }
    Ok(())
}

fn save_body(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
    }
    let tmp = path.with_extension("baton-partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot save to `{}`: {e}", path.display()))
}

/// A stored response for conditional requests, kept across runs under `.baton/http-cache`.
struct CacheEntry {
    body: std::path::PathBuf,
    meta: std::path::PathBuf,
}

impl CacheEntry {
    fn for_url(dir: &Path, url: &str) -> CacheEntry {
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        CacheEntry {
            body: dir.join(format!("{key}.body")),
            meta: dir.join(format!("{key}.json")),
        }
    }

    fn conditional_headers(&self, mut builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let Ok(text) = std::fs::read_to_string(&self.meta) else {
            return builder;
        };
        let Ok(meta) = serde_json::from_str::<serde_json::Value>(&text) else {
            return builder;
        };
        if !self.body.exists() {
            return builder;
        }
        if let Some(etag) = meta["etag"].as_str() {
            builder = builder.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(modified) = meta["last_modified"].as_str() {
            builder = builder.header(reqwest::header::IF_MODIFIED_SINCE, modified);
        }
        builder
    }

    fn body(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.body).ok()
    }

    fn store(&self, headers: &reqwest::header::HeaderMap, bytes: &[u8]) {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let meta = serde_json::json!({
            "etag": get(reqwest::header::ETAG),
            "last_modified": get(reqwest::header::LAST_MODIFIED),
        });
        if meta["etag"].is_null() && meta["last_modified"].is_null() {
            return;
        }
        // Best effort: a cache that cannot be written only costs a full download next time.
        if let Some(dir) = self.body.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = save_body(&self.body, bytes);
        let _ = std::fs::write(&self.meta, meta.to_string());
    }
}
