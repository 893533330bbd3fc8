//! A rendered message: what every channel sends, mail or webhook, from one rendering.

use serde_json::Value;

/// A message ready to queue: a subject line, a plain-text body and the structured fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    /// The fields a webhook posts (it adds `subject` and `text`).
    pub payload: Value,
}

/// `2024-05-01 12:00:00 UTC` for people; the payload keeps the unix milliseconds.
pub(crate) fn human_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `server.url` joined with `path`, when the project says where its server is.
pub(crate) fn link(project: &baton_model::Project, path: &str) -> Option<String> {
    let base = project.server.url.as_deref()?.trim_end_matches('/');
    Some(format!("{base}{path}"))
}
