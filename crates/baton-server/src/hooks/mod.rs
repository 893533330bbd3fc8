//! Incoming webhooks for `POST /hooks/PIPELINE`: is a delivery genuine, who sent it, and what
//! does it ask for. Pure functions over the headers and raw body the HTTP handler saw, so every
//! decision here is testable without a server; the handler maps [`HookError`] to 401 / 400 and
//! a [`Delivery`] to a run (or to a 200 that does nothing).
//!
//! # Configuring a sender
//!
//! The secret is the value of the baton secret the pipeline's webhook names; the same value is
//! typed into the provider. The URL is always `https://HOST/hooks/PIPELINE`.
//!
//! **GitHub** (repository → Settings → Webhooks → Add webhook):
//! - *Payload URL*: the URL above.
//! - *Content type*: `application/json`. The form-encoded type (`payload=…`) is refused with a
//!   400 saying so — already on the `ping` GitHub sends when the hook is created, so a wrong
//!   setting shows up red in GitHub's "Recent Deliveries" at once, not at the first push.
//! - *Secret*: the secret's value. GitHub signs the body as `X-Hub-Signature-256`.
//! - *Events*: "Just the push event". Other events are acknowledged and ignored.
//!
//! **GitLab** (project or group → Settings → Webhooks → Add new webhook):
//! - *URL*: the URL above.
//! - *Secret token*: the secret's value. GitLab sends it verbatim as `X-Gitlab-Token`.
//! - *Trigger*: "Push events", and "Tag push events" if tags should run the pipeline.
//! - GitLab has no ping. Its "Test → Push events" button sends the project's latest push with
//!   the same `X-Gitlab-Event: Push Hook` header as a live push, so nothing here can tell them
//!   apart: a test runs the pipeline, which is the honest answer to "does this hook work".
//!   Instance-wide system hooks (`X-Gitlab-Event: System Hook`) are read by their `object_kind`.
//!
//! **Anything else** (scripts, other CI systems): HMAC-SHA256 over `"{timestamp}.{body}"`,
//! the timestamp within 5 minutes of the server's clock, and an optional JSON body
//! `{"branch": "...", "commit": "..."}` (both optional; an empty body asks for the default):
//!
//! ```sh
//! ts=$(date +%s)
//! body='{"branch":"main"}'
//! sig=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')
//! curl -fsS -X POST https://HOST/hooks/PIPELINE \
//!   -H "X-Baton-Timestamp: $ts" -H "X-Baton-Signature: sha256=$sig" \
//!   -H "X-Baton-Delivery: $(uuidgen)" -d "$body"
//! ```
//!
//! # Decisions
//!
//! - The scheme is chosen by the first header present, in the order `X-Hub-Signature-256`,
//!   `X-Gitlab-Token`, `X-Baton-Signature`, and there is no fallback: a request failing the
//!   scheme it claims is refused even if it carries another, so a sender cannot shop for the
//!   weakest check.
//! - The signature (or token) is checked before the body is parsed: an unauthenticated caller
//!   reaches no JSON parser and learns nothing about what a valid payload looks like.
//! - An empty secret refuses every delivery: HMAC with an empty key is computable by anyone,
//!   and an empty GitLab token would match a request that sends an empty header.
//! - A branch push is `Push { branch: Some(name), commit }`. A tag push is
//!   `Push { branch: None, commit }` with the tagged commit (GitHub's `head_commit`, GitLab's
//!   `checkout_sha`, not the annotated tag object); a pipeline filtered by branch patterns
//!   should treat a push without a branch as not matching. Deleting a branch or tag, and refs
//!   that are neither (`refs/notes/…`), are `Ignored`.
//! - Branch names are checked against git's ref rules and commits must be 7–64 hex digits,
//!   whatever the sender: both reach git later, and a signed request can still come from a
//!   sender that was tricked into quoting a hostile name.
//! - What the signatures do not cover: neither GitHub nor GitLab signs a time, so a captured
//!   delivery replays forever (TLS is the defence); no scheme signs the delivery id, so
//!   deduplicating on it catches a provider's own retries, not an attacker. The plain scheme's
//!   window bounds its replays to 5 minutes.

mod github;
mod gitlab;

mod payload;
mod plain;

pub use baton_model::branch_matches;

/// The request as the handler saw it: lower-case header names → values, raw body bytes.
#[derive(Debug, Clone, Copy)]
pub struct HookRequest<'a> {
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> HookRequest<'a> {
    /// The first value of a header, trimmed; `None` when absent or empty. Names are compared
    /// without case so a handler that forgets to lower-case them still works.
    fn header(&self, name: &str) -> Option<&'a str> {
        let headers: &'a [(String, String)] = self.headers;
        headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }
}

/// Who sent a delivery, by the scheme it was signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    GitHub,
    GitLab,
    /// baton's own scheme (`X-Baton-Signature`), for scripts and other systems.
    Plain,
}

/// A verified delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub source: Source,
    /// The sender's id for this delivery, for deduplicating its retries: `X-GitHub-Delivery`;
    /// GitLab's `Idempotency-Key`, else `X-Gitlab-Event-UUID`; `X-Baton-Delivery`. Not signed.
    pub id: Option<String>,
    pub event: HookEvent,
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEvent {
    /// GitHub's `ping` when a hook is created or pinged: answer 200, run nothing.
    Ping,
    /// Run the pipeline. `branch` is `None` for a tag push and for a plain delivery that names
    /// none; `commit` is `None` only for a plain delivery that names none.
    Push {
        branch: Option<String>,
        commit: Option<String>,
    },
    /// A genuine delivery that runs nothing (another event, a deleted branch); answer 200 with
    /// the reason so the provider's delivery log says why.
    Ignored { reason: String },
}

/// Why a delivery is refused; the message names the header or field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// Not shown to be from the secret's holder (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authentic but unusable (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
}

/// The scheme headers, in the order they are tried.
const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
const GITLAB_TOKEN: &str = "x-gitlab-token";
const PLAIN_SIGNATURE: &str = "x-baton-signature";

/// Verify a delivery with `secret` (the resolved baton secret value), given `now` (unix
/// seconds) for the plain scheme's window, and read what it asks for.
pub fn verify(req: &HookRequest, secret: &[u8], now: i64) -> Result<Delivery, HookError> {
    if secret.is_empty() {
        return Err(HookError::Unauthorized(
            "the pipeline's webhook secret is empty: every delivery is refused".into(),
        ));
    }
    if let Some(signature) = req.header(GITHUB_SIGNATURE) {
        github::verify(req, signature, secret)
    } else if let Some(token) = req.header(GITLAB_TOKEN) {
        gitlab::verify(req, token, secret)
    } else if let Some(signature) = req.header(PLAIN_SIGNATURE) {
        plain::verify(req, signature, secret, now)
    } else {
        Err(HookError::Unauthorized(
            "no signature: send X-Hub-Signature-256, X-Gitlab-Token or X-Baton-Signature".into(),
        ))
    }
}

/// Checks a `sha256=HEX` header against HMAC-SHA256(secret, parts…). `name` is the header's
/// display name for messages.
fn check_hmac(name: &str, value: &str, secret: &[u8], parts: &[&[u8]]) -> Result<(), HookError> {
    use hmac::{KeyInit, Mac};
    let unauthorized = |why: &str| HookError::Unauthorized(format!("{name} {why}"));
    let hex_part = value
        .strip_prefix("sha256=")
        .ok_or_else(|| unauthorized("must be `sha256=HEX`"))?;
    let tag =
        hex::decode(hex_part).map_err(|_| unauthorized("is not valid hex after `sha256=`"))?;
    // HMAC takes keys of any length, so this cannot fail; refusing keeps it panic-free anyway.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
        .map_err(|_| unauthorized("cannot be checked: the secret is not a usable HMAC key"))?;
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&tag).map_err(|_| {
        unauthorized("does not match the body: check that both sides use the same secret")
    })
}

/// The optional delivery id header, bounded so the handler can store and log it as is.
fn delivery_id(req: &HookRequest, names: &[(&str, &str)]) -> Result<Option<String>, HookError> {
    for (header, display) in names {
        if let Some(value) = req.header(header) {
            if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(HookError::BadRequest(format!(
                    "{display} must be at most 128 printable ASCII characters"
                )));
            }
            return Ok(Some(value.to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hmac::{KeyInit, Mac};

    pub(crate) fn sign(secret: &[u8], data: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(data);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    pub(crate) fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn unauthorized(result: Result<Delivery, HookError>) -> String {
        match result {
            Err(HookError::Unauthorized(message)) => message,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn no_signature_header_names_all_three() {
        let h = headers(&[("content-type", "application/json")]);
        let message = unauthorized(verify(
            &HookRequest {
                headers: &h,
                body: b"{}",
            },
            b"s",
            0,
        ));
        assert_eq!(
            message,
            "no signature: send X-Hub-Signature-256, X-Gitlab-Token or X-Baton-Signature"
        );
    }

    #[test]
    fn an_empty_secret_refuses_even_a_matching_request() {
        let h = headers(&[("x-gitlab-token", ""), ("x-gitlab-event", "Push Hook")]);
        let message = unauthorized(verify(
            &HookRequest {
                headers: &h,
                body: b"{}",
            },
            b"",
            0,
        ));
        assert!(message.contains("empty"), "{message}");

        let sig = sign(b"", b"{}");
        let h = headers(&[("x-hub-signature-256", &sig), ("x-github-event", "ping")]);
        unauthorized(verify(
            &HookRequest {
                headers: &h,
                body: b"{}",
            },
            b"",
            0,
        ));
    }

    #[test]
    fn a_failing_claimed_scheme_does_not_fall_back_to_another() {
        let h = headers(&[
            ("x-hub-signature-256", "sha256=00"),
            ("x-gitlab-token", "s3cret"),
            ("x-gitlab-event", "Push Hook"),
        ]);
        let message = unauthorized(verify(
            &HookRequest {
                headers: &h,
                body: b"{}",
            },
            b"s3cret",
            0,
        ));
        assert!(message.starts_with("X-Hub-Signature-256"), "{message}");
    }

    #[test]
    fn header_names_are_matched_without_case() {
        let body = b"";
        let sig = sign(b"k", b"100.");
        let h = headers(&[("X-Baton-Signature", &sig), ("X-Baton-Timestamp", "100")]);
        let delivery = verify(&HookRequest { headers: &h, body }, b"k", 100).unwrap();
        assert_eq!(delivery.source, Source::Plain);
    }

    #[test]
    fn an_overlong_or_odd_delivery_id_is_a_bad_request() {
        let sig = sign(b"k", b"100.");
        let long = "a".repeat(129);
        for id in [long.as_str(), "two words", "caf\u{e9}"] {
            let h = headers(&[
                ("x-baton-signature", &sig),
                ("x-baton-timestamp", "100"),
                ("x-baton-delivery", id),
            ]);
            let result = verify(
                &HookRequest {
                    headers: &h,
                    body: b"",
                },
                b"k",
                100,
            );
            match result {
                Err(HookError::BadRequest(message)) => {
                    assert!(message.contains("X-Baton-Delivery"))
                }
                other => panic!("{id}: {other:?}"),
            }
        }
    }

    /// xorshift64*: deterministic, so a failure reproduces, and no dependency for a test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random bodies, both raw noise and mutations of real payloads, correctly signed so they
    /// get past verification into the parsers, under every scheme and event header.
    #[test]
    fn random_bodies_never_panic() {
        let seeds: &[&[u8]] = &[
            github::tests::PUSH.as_bytes(),
            github::tests::TAG_PUSH.as_bytes(),
            gitlab::tests::PUSH.as_bytes(),
            br#"{"branch":"main","commit":"0123456789abcdef0123456789abcdef01234567"}"#,
            b"{}",
            b"",
        ];
        let alphabet = br#"{}[]":,.-0123456789abcdefrhtuln /\ "#;
        let secret = b"fuzz";
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..3000 {
            let mut body: Vec<u8> = if round % 2 == 0 {
                let len = rng.below(200);
                (0..len)
                    .map(|_| match rng.below(4) {
                        0 => rng.next() as u8,
                        _ => alphabet[rng.below(alphabet.len())],
                    })
                    .collect()
            } else {
                seeds[rng.below(seeds.len())].to_vec()
            };
            for _ in 0..rng.below(4) {
                if body.is_empty() {
                    break;
                }
                let at = rng.below(body.len());
                match rng.below(3) {
                    0 => body[at] = rng.next() as u8,
                    1 => body.truncate(at),
                    _ => body.insert(at, alphabet[rng.below(alphabet.len())]),
                }
            }
            let github_event = ["push", "ping", "issues", ""][rng.below(4)];
            let gitlab_event =
                ["Push Hook", "Tag Push Hook", "System Hook", "Note Hook", ""][rng.below(5)];
            let now = 1_700_000_000_i64;
            let ts = (now + rng.below(1000) as i64 - 500).to_string();
            let mut stamped = format!("{ts}.").into_bytes();
            stamped.extend_from_slice(&body);
            let good_github = sign(secret, &body);
            let good_plain = sign(secret, &stamped);
            let noise: String = String::from_utf8_lossy(&body[..body.len().min(70)]).into_owned();
            let github_sig = if rng.below(4) == 0 {
                noise.as_str()
            } else {
                good_github.as_str()
            };
            let plain_sig = if rng.below(4) == 0 {
                noise.as_str()
            } else {
                good_plain.as_str()
            };
            let token = if rng.below(4) == 0 { "nope" } else { "fuzz" };
            let cases = [
                headers(&[
                    ("x-hub-signature-256", github_sig),
                    ("x-github-event", github_event),
                ]),
                headers(&[("x-gitlab-token", token), ("x-gitlab-event", gitlab_event)]),
                headers(&[("x-baton-signature", plain_sig), ("x-baton-timestamp", &ts)]),
            ];
            for h in &cases {
                let _ = verify(
                    &HookRequest {
                        headers: h,
                        body: &body,
                    },
                    secret,
                    now,
                );
            }
        }
    }
}
