//! GitHub deliveries: `X-Hub-Signature-256` is HMAC-SHA256 of the raw body, `X-GitHub-Event`
//! names the event, and only `ping` and `push` mean anything to a pipeline.

use serde::Deserialize;

use super::payload::{parse_json, push_event, shorten};
use super::{Delivery, HookError, HookEvent, HookRequest, Source, check_hmac, delivery_id};

pub(super) fn verify(
    req: &HookRequest,
    signature: &str,
    secret: &[u8],
) -> Result<Delivery, HookError> {
    check_hmac("X-Hub-Signature-256", signature, secret, &[req.body])?;
    let id = delivery_id(req, &[("x-github-delivery", "X-GitHub-Delivery")])?;
    let name = req.header("x-github-event").ok_or_else(|| {
        HookError::BadRequest("missing X-GitHub-Event header: which event is this?".into())
    })?;
    let event = match name {
        "ping" => {
            refuse_form(req)?;
            HookEvent::Ping
        }
        "push" => {
            refuse_form(req)?;
            push(req.body)?
        }
        other => HookEvent::Ignored {
            reason: format!("GitHub event `{}` does not run a pipeline", shorten(other)),
        },
    };
    Ok(Delivery {
        source: Source::GitHub,
        id,
        event,
    })
}

/// JSON only: the form type wraps the same JSON in `payload=` URL encoding, and accepting
/// both would mean two parsers for no gain when GitHub offers JSON with one setting.
fn refuse_form(req: &HookRequest) -> Result<(), HookError> {
    let form_type = req.header("content-type").is_some_and(|t| {
        t.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if form_type || req.body.starts_with(b"payload=") {
        return Err(HookError::BadRequest(
            "the body is form-encoded: set the GitHub webhook's content type to application/json"
                .into(),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    head_commit: Option<HeadCommit>,
}

#[derive(Deserialize)]
struct HeadCommit {
    id: String,
}

fn push(body: &[u8]) -> Result<HookEvent, HookError> {
    let push: Push = parse_json(body, "a GitHub push payload")?;
    // For an annotated tag `after` is the tag object; `head_commit` is the commit it tags.
    let commit = push
        .head_commit
        .as_ref()
        .map_or(push.after.as_str(), |c| c.id.as_str());
    push_event(&push.git_ref, Some(commit), push.deleted)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hooks::tests::{headers, sign};
    use crate::hooks::verify as verify_hook;

    /// GitHub's documented test vector (docs: "Validating webhook deliveries").
    const DOC_SECRET: &[u8] = b"It's a Secret to Everybody";
    const DOC_BODY: &[u8] = b"Hello, World!";
    const DOC_SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    pub(crate) const PUSH: &str = r#"{
      "ref": "refs/heads/main",
      "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
      "after": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
      "repository": {
        "id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
        "name": "Hello-World", "full_name": "octocat/Hello-World", "private": false,
        "owner": { "name": "octocat", "login": "octocat", "id": 21031067 },
        "html_url": "https://github.com/octocat/Hello-World", "default_branch": "main"
      },
      "pusher": { "name": "octocat", "email": "octocat@github.com" },
      "sender": { "login": "octocat", "id": 21031067, "type": "User" },
      "created": false, "deleted": false, "forced": false, "base_ref": null,
      "compare": "https://github.com/octocat/Hello-World/compare/6113728f27ae...59b20b8d5c6f",
      "commits": [{
        "id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": true, "message": "Update README.md\n\nMention the CLI.",
        "timestamp": "2024-05-01T12:03:44+02:00",
        "url": "https://github.com/octocat/Hello-World/commit/59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
        "author": { "name": "The Octocat", "email": "octocat@github.com", "username": "octocat" },
        "committer": { "name": "GitHub", "email": "noreply@github.com", "username": "web-flow" },
        "added": [], "removed": [], "modified": ["README.md"]
      }],
      "head_commit": {
        "id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
        "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433",
        "distinct": true, "message": "Update README.md\n\nMention the CLI.",
        "timestamp": "2024-05-01T12:03:44+02:00",
        "author": { "name": "The Octocat", "email": "octocat@github.com", "username": "octocat" },
        "committer": { "name": "GitHub", "email": "noreply@github.com", "username": "web-flow" },
        "added": [], "removed": [], "modified": ["README.md"]
      }
    }"#;

    /// An annotated tag: `after` is the tag object, `head_commit` the tagged commit.
    pub(crate) const TAG_PUSH: &str = r#"{
      "ref": "refs/tags/v1.4.0",
      "before": "0000000000000000000000000000000000000000",
      "after": "c1d2e3f4a5b60718293a4b5c6d7e8f9012345678",
      "repository": { "id": 186853002, "full_name": "octocat/Hello-World", "default_branch": "main" },
      "pusher": { "name": "octocat", "email": "octocat@github.com" },
      "created": true, "deleted": false, "forced": false, "base_ref": "refs/heads/main",
      "compare": "https://github.com/octocat/Hello-World/compare/v1.4.0",
      "commits": [],
      "head_commit": {
        "id": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
        "message": "Update README.md", "timestamp": "2024-05-01T12:03:44+02:00"
      }
    }"#;

    const DELETE: &str = r#"{
      "ref": "refs/heads/feature/login",
      "before": "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5",
      "after": "0000000000000000000000000000000000000000",
      "repository": { "id": 186853002, "full_name": "octocat/Hello-World" },
      "pusher": { "name": "octocat", "email": "octocat@github.com" },
      "created": false, "deleted": true, "forced": false, "base_ref": null,
      "compare": "https://github.com/octocat/Hello-World/compare/59b20b8d5c6f...000000000000",
      "commits": [], "head_commit": null
    }"#;

    const PING: &str = r#"{
      "zen": "Keep it logically awesome.",
      "hook_id": 480512345,
      "hook": { "type": "Repository", "id": 480512345, "name": "web", "active": true,
                "events": ["push"], "config": { "content_type": "json", "insecure_ssl": "0",
                "url": "https://ci.example.com/hooks/deploy" } },
      "repository": { "id": 186853002, "full_name": "octocat/Hello-World" },
      "sender": { "login": "octocat", "id": 21031067 }
    }"#;

    const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

    fn deliver(event: &str, body: &[u8], secret: &[u8]) -> Result<Delivery, HookError> {
        let sig = sign(secret, body);
        deliver_signed(event, body, secret, &sig)
    }

    fn deliver_signed(
        event: &str,
        body: &[u8],
        secret: &[u8],
        sig: &str,
    ) -> Result<Delivery, HookError> {
        let h = headers(&[
            ("x-hub-signature-256", sig),
            ("x-github-event", event),
            ("x-github-delivery", DELIVERY),
            ("content-type", "application/json"),
        ]);
        verify_hook(&HookRequest { headers: &h, body }, secret, 0)
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
    fn the_documented_vector_verifies() {
        assert_eq!(sign(DOC_SECRET, DOC_BODY), DOC_SIGNATURE);
        let delivery = deliver_signed("ping", DOC_BODY, DOC_SECRET, DOC_SIGNATURE).unwrap();
        assert_eq!(delivery.source, Source::GitHub);
        assert_eq!(delivery.event, HookEvent::Ping);
        assert_eq!(delivery.id.as_deref(), Some(DELIVERY));
    }

    #[test]
    fn a_one_byte_change_fails() {
        let mut body = DOC_BODY.to_vec();
        body[0] ^= 1;
        unauthorized(deliver_signed("ping", &body, DOC_SECRET, DOC_SIGNATURE));

        let mut longer = DOC_BODY.to_vec();
        longer.push(b'\n');
        unauthorized(deliver_signed("ping", &longer, DOC_SECRET, DOC_SIGNATURE));

        // Each hex digit of the signature in turn.
        for at in "sha256=".len()..DOC_SIGNATURE.len() {
            let mut sig = DOC_SIGNATURE.as_bytes().to_vec();
            sig[at] = if sig[at] == b'0' { b'1' } else { b'0' };
            let sig = String::from_utf8(sig).unwrap();
            let message = unauthorized(deliver_signed("ping", DOC_BODY, DOC_SECRET, &sig));
            assert!(message.contains("does not match"), "{message}");
        }

        unauthorized(deliver_signed(
            "ping",
            DOC_BODY,
            b"It's a Secret to Everybody!",
            DOC_SIGNATURE,
        ));
    }

    #[test]
    fn a_malformed_signature_is_unauthorized() {
        for sig in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=757",
            "sha256=",
            "sha256=7571",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700",
            "sha256=\u{e9}\u{e9}",
        ] {
            let message = unauthorized(deliver_signed("ping", DOC_BODY, DOC_SECRET, sig));
            assert!(
                message.starts_with("X-Hub-Signature-256"),
                "{sig}: {message}"
            );
        }
    }

    #[test]
    fn a_missing_signature_header_fails() {
        let h = headers(&[("x-github-event", "push"), ("x-github-delivery", DELIVERY)]);
        let message = unauthorized(verify_hook(
            &HookRequest {
                headers: &h,
                body: PUSH.as_bytes(),
            },
            b"k",
            0,
        ));
        assert!(message.starts_with("no signature"), "{message}");
    }

    #[test]
    fn the_signature_is_checked_before_the_body_is_read() {
        let message = unauthorized(deliver_signed("push", b"not json", b"k", "sha256=00"));
        assert!(message.contains("does not match"), "{message}");
    }

    #[test]
    fn a_push_names_its_branch_and_commit() {
        let delivery = deliver("push", PUSH.as_bytes(), b"k").unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Push {
                branch: Some("main".into()),
                commit: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".into()),
            }
        );
        assert_eq!(delivery.id.as_deref(), Some(DELIVERY));
    }

    #[test]
    fn a_tag_push_has_no_branch_and_the_tagged_commit() {
        let delivery = deliver("push", TAG_PUSH.as_bytes(), b"k").unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Push {
                branch: None,
                commit: Some("59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5".into()),
            }
        );
    }

    #[test]
    fn a_branch_deletion_is_ignored() {
        let delivery = deliver("push", DELETE.as_bytes(), b"k").unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Ignored {
                reason: "branch `feature/login` was deleted".into()
            }
        );
    }

    #[test]
    fn ping_and_other_events() {
        assert_eq!(
            deliver("ping", PING.as_bytes(), b"k").unwrap().event,
            HookEvent::Ping
        );
        assert_eq!(
            deliver("issues", br#"{"action":"opened"}"#, b"k")
                .unwrap()
                .event,
            HookEvent::Ignored {
                reason: "GitHub event `issues` does not run a pipeline".into()
            }
        );
    }

    #[test]
    fn a_push_body_that_is_not_a_push_is_a_bad_request() {
        let message = bad_request(deliver("push", b"Hello, World!", b"k"));
        assert!(message.contains("is not JSON"), "{message}");
        let message = bad_request(deliver("push", br#"{"zen":"x"}"#, b"k"));
        assert!(
            message.contains("not a GitHub push payload") && message.contains("ref"),
            "{message}"
        );
    }

    #[test]
    fn a_form_encoded_body_asks_for_json() {
        let body = format!("payload={}", "%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D");
        for event in ["ping", "push"] {
            let message = bad_request(deliver(event, body.as_bytes(), b"k"));
            assert!(message.contains("application/json"), "{message}");
        }
        let sig = sign(b"k", PING.as_bytes());
        let h = headers(&[
            ("x-hub-signature-256", &sig),
            ("x-github-event", "ping"),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        bad_request(verify_hook(
            &HookRequest {
                headers: &h,
                body: PING.as_bytes(),
            },
            b"k",
            0,
        ));
    }

    #[test]
    fn a_missing_event_header_is_a_bad_request() {
        let sig = sign(b"k", PUSH.as_bytes());
        let h = headers(&[("x-hub-signature-256", &sig)]);
        let message = bad_request(verify_hook(
            &HookRequest {
                headers: &h,
                body: PUSH.as_bytes(),
            },
            b"k",
            0,
        ));
        assert!(message.contains("X-GitHub-Event"), "{message}");
    }
}
