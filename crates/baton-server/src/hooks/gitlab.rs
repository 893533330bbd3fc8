//! GitLab deliveries: `X-Gitlab-Token` carries the secret itself (GitLab signs nothing), and
//! `X-Gitlab-Event` names the event; pushes and tag pushes run the pipeline.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::payload::{parse_json, push_event, shorten};
use super::{Delivery, HookError, HookEvent, HookRequest, Source, delivery_id};

pub(super) fn verify(req: &HookRequest, token: &str, secret: &[u8]) -> Result<Delivery, HookError> {
    // Comparing digests rather than the values keeps the time independent of the secret's
    // length too: `ct_eq` on slices of different lengths returns at once.
    let matches = Sha256::digest(token.as_bytes())
        .as_slice()
        .ct_eq(Sha256::digest(secret).as_slice());
    if !bool::from(matches) {
        return Err(HookError::Unauthorized(
            "X-Gitlab-Token does not match: set the webhook's secret token to the secret's value"
                .into(),
        ));
    }
    let id = delivery_id(
        req,
        &[
            ("idempotency-key", "Idempotency-Key"),
            ("x-gitlab-event-uuid", "X-Gitlab-Event-UUID"),
        ],
    )?;
    let name = req.header("x-gitlab-event").ok_or_else(|| {
        HookError::BadRequest("missing X-Gitlab-Event header: which event is this?".into())
    })?;
    let event = match name {
        "Push Hook" | "Tag Push Hook" => push(req.body)?,
        "System Hook" => system(req.body)?,
        other => HookEvent::Ignored {
            reason: format!("GitLab event `{}` does not run a pipeline", shorten(other)),
        },
    };
    Ok(Delivery {
        source: Source::GitLab,
        id,
        event,
    })
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    checkout_sha: Option<String>,
}

fn push(body: &[u8]) -> Result<HookEvent, HookError> {
    let push: Push = parse_json(body, "a GitLab push payload")?;
    // `checkout_sha` is the commit even for an annotated tag, whose `after` is the tag object;
    // it is null when the ref was deleted, and then `after` is all zeros.
    let commit = push.checkout_sha.as_deref().unwrap_or(&push.after);
    push_event(&push.git_ref, Some(commit), false)
}

/// System hooks share one header for every instance event; the body says which.
fn system(body: &[u8]) -> Result<HookEvent, HookError> {
    #[derive(Deserialize)]
    struct Kind {
        object_kind: Option<String>,
        event_name: Option<String>,
    }
    let kind: Kind = parse_json(body, "a GitLab system hook payload")?;
    match kind.object_kind.or(kind.event_name).as_deref() {
        Some("push" | "tag_push") => push(body),
        other => Ok(HookEvent::Ignored {
            reason: format!(
                "GitLab system event `{}` does not run a pipeline",
                shorten(other.unwrap_or("unnamed"))
            ),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::hooks::tests::headers;
    use crate::hooks::verify as verify_hook;

    pub(crate) const PUSH: &str = r#"{
      "object_kind": "push",
      "event_name": "push",
      "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
      "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "ref": "refs/heads/release/2.1",
      "ref_protected": true,
      "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "message": null,
      "user_id": 4, "user_name": "John Smith", "user_username": "jsmith",
      "user_email": "john@example.com",
      "project_id": 15,
      "project": {
        "id": 15, "name": "Diaspora", "description": "",
        "web_url": "https://gitlab.example.com/mike/diaspora",
        "git_ssh_url": "git@gitlab.example.com:mike/diaspora.git",
        "git_http_url": "https://gitlab.example.com/mike/diaspora.git",
        "namespace": "Mike", "visibility_level": 0,
        "path_with_namespace": "mike/diaspora", "default_branch": "main"
      },
      "commits": [{
        "id": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "message": "fixed readme\n", "title": "fixed readme",
        "timestamp": "2012-01-03T23:36:29+02:00",
        "url": "https://gitlab.example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "author": { "name": "GitLab dev user", "email": "gitlabdev@dv6700.(none)" },
        "added": [], "modified": ["README.md"], "removed": []
      }],
      "total_commits_count": 1,
      "push_options": {},
      "repository": {
        "name": "Diaspora", "url": "git@gitlab.example.com:mike/diaspora.git",
        "homepage": "https://gitlab.example.com/mike/diaspora", "visibility_level": 0
      }
    }"#;

    /// An annotated tag: `after` is the tag object, `checkout_sha` the tagged commit.
    const TAG_PUSH: &str = r#"{
      "object_kind": "tag_push", "event_name": "tag_push",
      "before": "0000000000000000000000000000000000000000",
      "after": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
      "ref": "refs/tags/v2.1.0", "ref_protected": false,
      "checkout_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "message": "Release 2.1.0",
      "user_id": 1, "user_name": "John Smith", "user_username": "jsmith",
      "project_id": 15,
      "project": { "id": 15, "name": "Diaspora", "path_with_namespace": "mike/diaspora" },
      "commits": [], "total_commits_count": 0, "push_options": {}
    }"#;

    const DELETE: &str = r#"{
      "object_kind": "push", "event_name": "push",
      "before": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
      "after": "0000000000000000000000000000000000000000",
      "ref": "refs/heads/feature/login", "ref_protected": false,
      "checkout_sha": null, "message": null,
      "user_id": 4, "user_name": "John Smith", "project_id": 15,
      "project": { "id": 15, "path_with_namespace": "mike/diaspora" },
      "commits": [], "total_commits_count": 0, "push_options": {}
    }"#;

    const UUID: &str = "bc7f7fd0-6f1c-4a74-9c3b-6b4a1b1b8c11";
    const IDEMPOTENCY: &str = "7e5c2f1a-3c4d-4f5e-8a9b-0c1d2e3f4a5b";

    fn deliver(token: &str, event: &str, body: &str) -> Result<Delivery, HookError> {
        let h = headers(&[
            ("x-gitlab-token", token),
            ("x-gitlab-event", event),
            ("x-gitlab-event-uuid", UUID),
            ("idempotency-key", IDEMPOTENCY),
            ("x-gitlab-instance", "https://gitlab.example.com"),
            ("content-type", "application/json"),
        ]);
        verify_hook(
            &HookRequest {
                headers: &h,
                body: body.as_bytes(),
            },
            b"s3cret-token",
            0,
        )
    }

    #[test]
    fn the_right_token_passes_and_a_wrong_one_does_not() {
        let delivery = deliver("s3cret-token", "Push Hook", PUSH).unwrap();
        assert_eq!(delivery.source, Source::GitLab);
        for wrong in [
            "s3cret-toke",
            "s3cret-token ",
            "s3cret-tokenX",
            "S3cret-token",
            "x",
        ] {
            match deliver(wrong, "Push Hook", PUSH) {
                Err(HookError::Unauthorized(message)) => {
                    assert!(message.contains("X-Gitlab-Token"), "{message}");
                }
                // A trailing space is trimmed like any header value, so it matches.
                Ok(_) if wrong == "s3cret-token " => {}
                other => panic!("{wrong:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_wrong_token_is_refused_before_the_body_is_read() {
        assert!(matches!(
            deliver("nope", "Push Hook", "not json"),
            Err(HookError::Unauthorized(_))
        ));
    }

    #[test]
    fn a_push_names_its_branch_and_commit() {
        let delivery = deliver("s3cret-token", "Push Hook", PUSH).unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Push {
                branch: Some("release/2.1".into()),
                commit: Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into()),
            }
        );
    }

    #[test]
    fn the_idempotency_key_is_preferred_to_the_event_uuid() {
        let delivery = deliver("s3cret-token", "Push Hook", PUSH).unwrap();
        assert_eq!(delivery.id.as_deref(), Some(IDEMPOTENCY));

        let h = headers(&[
            ("x-gitlab-token", "s3cret-token"),
            ("x-gitlab-event", "Push Hook"),
            ("x-gitlab-event-uuid", UUID),
        ]);
        let delivery = verify_hook(
            &HookRequest {
                headers: &h,
                body: PUSH.as_bytes(),
            },
            b"s3cret-token",
            0,
        )
        .unwrap();
        assert_eq!(delivery.id.as_deref(), Some(UUID));
    }

    #[test]
    fn a_tag_push_has_no_branch_and_the_tagged_commit() {
        let delivery = deliver("s3cret-token", "Tag Push Hook", TAG_PUSH).unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Push {
                branch: None,
                commit: Some("da1560886d4f094c3e6c9ef40349f7d38b5d27d7".into()),
            }
        );
    }

    #[test]
    fn a_branch_deletion_is_ignored() {
        let delivery = deliver("s3cret-token", "Push Hook", DELETE).unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Ignored {
                reason: "branch `feature/login` was deleted".into()
            }
        );
    }

    #[test]
    fn system_hooks_are_read_by_their_object_kind() {
        let delivery = deliver("s3cret-token", "System Hook", PUSH).unwrap();
        assert!(matches!(delivery.event, HookEvent::Push { .. }));
        let delivery = deliver(
            "s3cret-token",
            "System Hook",
            r#"{"event_name":"project_create","name":"x","path_with_namespace":"g/x"}"#,
        )
        .unwrap();
        assert_eq!(
            delivery.event,
            HookEvent::Ignored {
                reason: "GitLab system event `project_create` does not run a pipeline".into()
            }
        );
    }

    #[test]
    fn other_events_are_ignored_and_a_missing_event_header_is_a_bad_request() {
        let delivery = deliver(
            "s3cret-token",
            "Merge Request Hook",
            r#"{"object_kind":"merge_request"}"#,
        )
        .unwrap();
        assert!(matches!(delivery.event, HookEvent::Ignored { .. }));

        let h = headers(&[("x-gitlab-token", "s3cret-token")]);
        match verify_hook(
            &HookRequest {
                headers: &h,
                body: PUSH.as_bytes(),
            },
            b"s3cret-token",
            0,
        ) {
            Err(HookError::BadRequest(message)) => assert!(message.contains("X-Gitlab-Event")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_push_body_that_is_not_json_is_a_bad_request() {
        assert!(matches!(
            deliver("s3cret-token", "Push Hook", "ref=refs/heads/main"),
            Err(HookError::BadRequest(_))
        ));
    }
}
