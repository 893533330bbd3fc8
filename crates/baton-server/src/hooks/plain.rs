//! baton's own scheme for senders that are neither GitHub nor GitLab: HMAC-SHA256 over
//! `"{timestamp}.{body}"`, so a captured request stops working once the window has passed.

use serde::Deserialize;

use super::payload::{check_commit, check_ref_name};
use super::{Delivery, HookError, HookEvent, HookRequest, Source, check_hmac, delivery_id};

/// How far the sender's clock may be from ours, either way: wide enough for unsynchronised
/// machines and slow retries, narrow enough that a replay is short-lived.
pub(super) const MAX_SKEW_SECS: u64 = 300;

pub(super) fn verify(
    req: &HookRequest,
    signature: &str,
    secret: &[u8],
    now: i64,
) -> Result<Delivery, HookError> {
    let stamp = req.header("x-baton-timestamp").ok_or_else(|| {
        HookError::Unauthorized("X-Baton-Signature needs X-Baton-Timestamp: UNIX_SECONDS".into())
    })?;
    // Digits only: `+5` or ` 5` would parse yet sign differently from what the sender meant,
    // and 18 digits cannot overflow an i64.
    let timestamp = (stamp.len() <= 18 && stamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stamp.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            HookError::Unauthorized("X-Baton-Timestamp must be unix seconds (digits only)".into())
        })?;
    // The signature first: the skew message below is then only ever told to the secret's
    // holder, where it means "your clock is off", never to a guesser.
    check_hmac(
        "X-Baton-Signature",
        signature,
        secret,
        &[stamp.as_bytes(), b".", req.body],
    )?;
    let skew = now.abs_diff(timestamp);
    if skew > MAX_SKEW_SECS {
        let direction = if timestamp < now {
            "in the past"
        } else {
            "in the future"
        };
        return Err(HookError::Unauthorized(format!(
            "X-Baton-Timestamp is {skew} s {direction}; at most {MAX_SKEW_SECS} s either way is \
             accepted: check the sender's clock, and sign each request when it is sent"
        )));
    }
    let id = delivery_id(req, &[("x-baton-delivery", "X-Baton-Delivery")])?;
    Ok(Delivery {
        source: Source::Plain,
        id,
        event: body(req.body)?,
    })
}

/// Unknown fields are refused: a misspelt `"brnach"` must not quietly run the default branch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    branch: Option<String>,
    commit: Option<String>,
}

fn body(raw: &[u8]) -> Result<HookEvent, HookError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(HookEvent::Push {
            branch: None,
            commit: None,
        });
    }
    let body: Body = super::payload::parse_json(raw, r#"`{"branch": "...", "commit": "..."}`"#)?;
    let branch = match body.branch {
        Some(branch) => {
            // Scripts often have a full ref at hand (`$GITHUB_REF`, `git symbolic-ref HEAD`).
            let name = branch.strip_prefix("refs/heads/").unwrap_or(&branch);
            check_ref_name(name).map_err(|why| HookError::BadRequest(format!("`branch` {why}")))?;
            Some(name.to_string())
        }
        None => None,
    };
    let commit = body.commit.as_deref().map(check_commit).transpose()?;
    Ok(HookEvent::Push { branch, commit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hooks::tests::{headers, sign};
    use crate::hooks::verify as verify_hook;

    const NOW: i64 = 1_700_000_000;
    const SECRET: &[u8] = b"s3cret";
    const SHA: &str = "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5";

    fn deliver_at(timestamp: &str, body: &str, now: i64) -> Result<Delivery, HookError> {
        let sig = sign(SECRET, format!("{timestamp}.{body}").as_bytes());
        let h = headers(&[
            ("x-baton-signature", &sig),
            ("x-baton-timestamp", timestamp),
            ("x-baton-delivery", "deploy-42"),
        ]);
        verify_hook(
            &HookRequest {
                headers: &h,
                body: body.as_bytes(),
            },
            SECRET,
            now,
        )
    }

    fn deliver(body: &str) -> Result<Delivery, HookError> {
        deliver_at(&NOW.to_string(), body, NOW)
    }

    fn unauthorized(result: Result<Delivery, HookError>) -> String {
        match result {
            Err(HookError::Unauthorized(message)) => message,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    fn bad_request(result: Result<Delivery, HookError>) -> String {
        match result {
            Err(HookError::BadRequest(message)) => message,
            other => panic!("expected BadRequest, got {other:?}"),
        }
    }

    #[test]
    fn the_module_docs_openssl_recipe_verifies() {
        // `printf '%s.%s' 1700000000 '{"branch":"main"}' | openssl dgst -sha256 -hmac s3cret`
        let sig = "sha256=d24aa84c08746b6a344569869f12fff8aad3451473cc0c2671763af4c09a6c25";
        let body = br#"{"branch":"main"}"#;
        let h = headers(&[
            ("x-baton-signature", sig),
            ("x-baton-timestamp", "1700000000"),
        ]);
        let delivery = verify_hook(&HookRequest { headers: &h, body }, SECRET, NOW + 10).unwrap();
        assert_eq!(delivery.source, Source::Plain);
        assert_eq!(delivery.id, None);
        assert_eq!(
            delivery.event,
            HookEvent::Push {
                branch: Some("main".into()),
                commit: None
            }
        );
    }

    #[test]
    fn in_window_timestamps_pass_either_side() {
        for offset in [0, 1, -1, 299, -299, 300, -300] {
            let stamp = (NOW + offset).to_string();
            let delivery = deliver_at(&stamp, "", NOW).unwrap_or_else(|e| panic!("{offset}: {e}"));
            assert_eq!(delivery.id.as_deref(), Some("deploy-42"));
        }
    }

    #[test]
    fn a_stale_timestamp_names_the_skew() {
        let message = unauthorized(deliver_at(&(NOW - 301).to_string(), "", NOW));
        assert!(message.contains("301 s in the past"), "{message}");
        let message = unauthorized(deliver_at("0", "", NOW));
        assert!(message.contains("1700000000 s in the past"), "{message}");
    }

    #[test]
    fn a_future_timestamp_names_the_skew() {
        let message = unauthorized(deliver_at(&(NOW + 301).to_string(), "", NOW));
        assert!(message.contains("301 s in the future"), "{message}");
        let message = unauthorized(deliver_at("999999999999999999", "", NOW));
        assert!(message.contains("in the future"), "{message}");
    }

    #[test]
    fn the_timestamp_is_signed() {
        let sig = sign(SECRET, format!("{NOW}.").as_bytes());
        let h = headers(&[
            ("x-baton-signature", &sig),
            ("x-baton-timestamp", &(NOW + 1).to_string()),
        ]);
        let message = unauthorized(verify_hook(
            &HookRequest {
                headers: &h,
                body: b"",
            },
            SECRET,
            NOW,
        ));
        assert!(message.contains("does not match"), "{message}");
    }

    #[test]
    fn a_missing_or_malformed_timestamp_is_unauthorized() {
        let sig = sign(SECRET, b"");
        let h = headers(&[("x-baton-signature", &sig)]);
        let message = unauthorized(verify_hook(
            &HookRequest {
                headers: &h,
                body: b"",
            },
            SECRET,
            NOW,
        ));
        assert!(message.contains("X-Baton-Timestamp"), "{message}");
        for stamp in [
            "+1700000000",
            "-5",
            "1.5",
            "soon",
            "1700000000000000000000",
            "１２",
        ] {
            let message = unauthorized(deliver_at(stamp, "", NOW));
            assert!(message.contains("X-Baton-Timestamp"), "{stamp}: {message}");
        }
    }

    #[test]
    fn a_malformed_signature_is_unauthorized() {
        for sig in ["d24aa84c", "sha256=not-hex", "sha256=abc", "SHA256=00"] {
            let h = headers(&[
                ("x-baton-signature", sig),
                ("x-baton-timestamp", "1700000000"),
            ]);
            let message = unauthorized(verify_hook(
                &HookRequest {
                    headers: &h,
                    body: b"",
                },
                SECRET,
                NOW,
            ));
            assert!(message.starts_with("X-Baton-Signature"), "{sig}: {message}");
        }
    }

    #[test]
    fn an_empty_body_or_empty_object_is_a_push_of_the_default() {
        let default = HookEvent::Push {
            branch: None,
            commit: None,
        };
        for body in ["", "\n", "{}", " { } "] {
            assert_eq!(deliver(body).unwrap().event, default, "{body:?}");
        }
        assert_eq!(deliver(r#"{"branch":null}"#).unwrap().event, default);
    }

    #[test]
    fn branch_and_commit_are_read_and_checked() {
        let body = format!(r#"{{"branch":"refs/heads/release/1.2","commit":"{SHA}"}}"#);
        assert_eq!(
            deliver(&body).unwrap().event,
            HookEvent::Push {
                branch: Some("release/1.2".into()),
                commit: Some(SHA.into())
            }
        );
        assert!(bad_request(deliver(r#"{"branch":"--force"}"#)).contains("`branch`"));
        assert!(bad_request(deliver(r#"{"commit":"HEAD~1"}"#)).contains("`commit`"));
        assert!(bad_request(deliver(r#"{"brnach":"main"}"#)).contains("brnach"));
        assert!(bad_request(deliver(r#"{"branch":7}"#)).contains("is not"));
        assert!(bad_request(deliver("branch=main")).contains("is not JSON"));
        assert!(bad_request(deliver("[]")).contains("is not"));
    }
}
