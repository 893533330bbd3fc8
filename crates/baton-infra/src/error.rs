//! What can go wrong before or around the walk (a resource failing is in the report instead).

use baton_model::Diagnostics;
use baton_store::{LockInfo, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// Attribute validation or rendering found problems in the file (exit 2).
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("no resource `{id}` in the project or the state{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownTarget {
        id: String,
        suggestion: Option<String>,
    },
    #[error(
        "resource `{id}` depends on `{dependency}` (on node `{node}`, outside --limit), which was never applied"
    )]
    OutsideLimit {
        id: String,
        dependency: String,
        node: String,
    },
    #[error("the state lock is held by {}", describe_lock(.0))]
    /// Boxed: a lock record is large, and every `Result` carrying this error pays its size.
    Locked(Box<LockInfo>),
    #[error("cannot refresh `{id}`: {message}")]
    Refresh { id: String, message: String },
    #[error("output `{name}`: {message}")]
    Output { name: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `user@host (pid N) since TIME[, stale: that process is gone]`.
pub fn describe_lock(lock: &LockInfo) -> String {
    let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(lock.since.max(0) as u64);
    let age = std::time::SystemTime::now()
        .duration_since(since)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{} (pid {}, {}) since {} ({}s ago){}",
        lock.owner.who(),
        lock.owner.pid,
        lock.purpose,
        format_millis(lock.since),
        age,
        if lock.is_stale() {
            " — stale: that process is no longer running"
        } else {
            ""
        }
    )
}

/// UTC `YYYY-MM-DD HH:MM:SS` without a date library.
pub fn format_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::format_millis(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            super::format_millis(1_700_000_000_000),
            "2023-11-14 22:13:20 UTC"
        );
    }
}
