//! What every source's push shares: a git ref becomes a branch, a tag or nothing, and branch
//! names and commits are held to git's rules before anything downstream hands them to git.

use super::{HookError, HookEvent};

/// A push of `git_ref` to `commit` (the commit the ref now names; `None` or all zeros when the
/// ref was deleted). `deleted` is the sender's own deletion flag, where it has one.
pub(super) fn push_event(
    git_ref: &str,
    commit: Option<&str>,
    deleted: bool,
) -> Result<HookEvent, HookError> {
    let (kind, name) = if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        ("branch", branch)
    } else if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        ("tag", tag)
    } else {
        return Ok(HookEvent::Ignored {
            reason: format!("ref `{}` is neither a branch nor a tag", shorten(git_ref)),
        });
    };
    check_ref_name(name).map_err(|why| HookError::BadRequest(format!("`ref` {why}")))?;
    let commit = commit.filter(|c| !c.bytes().all(|b| b == b'0'));
    if deleted || commit.is_none() {
        return Ok(HookEvent::Ignored {
            reason: format!("{kind} `{name}` was deleted"),
        });
    }
    let commit = commit.map(check_commit).transpose()?;
    Ok(HookEvent::Push {
        branch: (kind == "branch").then(|| name.to_string()),
        commit,
    })
}

/// A commit id: abbreviated (7) up to a full SHA-256 object name (64), hex only, so it can
/// never be read as an option or a revision expression (`HEAD~1`, `--upload-pack=…`).
pub(super) fn check_commit(commit: &str) -> Result<String, HookError> {
    if (7..=64).contains(&commit.len()) && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(commit.to_string())
    } else {
        Err(HookError::BadRequest(format!(
            "`commit` must be 7 to 64 hex digits, not `{}`",
            shorten(commit)
        )))
    }
}

/// The rules of `git check-ref-format --branch` that matter here: a name git itself would
/// refuse cannot be a real branch, and a leading `-` would be read as an option.
pub(super) fn check_ref_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| {
        Err(format!(
            "`{}` is not a valid git ref name: {why}",
            shorten(name)
        ))
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if name.starts_with('-') {
        return bad("it starts with `-`");
    }
    if name == "@" {
        return bad("it is `@`");
    }
    if let Some(c) = name.chars().find(|c| {
        c.is_ascii_control() || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\')
    }) {
        return bad(&format!("it contains {c:?}"));
    }
    if name.contains("..") || name.contains("@{") {
        return bad("it contains `..` or `@{`");
    }
    if name.ends_with('.') {
        return bad("it ends with `.`");
    }
    for component in name.split('/') {
        if component.is_empty() {
            return bad("it has an empty path component");
        }
        if component.starts_with('.') || component.ends_with(".lock") {
            return bad("a component starts with `.` or ends with `.lock`");
        }
    }
    Ok(())
}

/// Parses a signed body, telling "not JSON at all" (usually a misconfigured sender) from
/// "JSON of the wrong shape" (usually the wrong event routed here).
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|err| {
        let problem = match err.classify() {
            serde_json::error::Category::Data => "is not",
            _ => "is not JSON, so not",
        };
        HookError::BadRequest(format!("the body {problem} {what}: {err}"))
    })
}

/// Echoing a hostile value back whole would let a caller fill logs; 80 characters identify it.
pub(super) fn shorten(value: &str) -> String {
    match value.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &value[..at]),
        None => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "8f2c4e1d0b9a7c6e5d4f3a2b1c0d9e8f7a6b5c4d";
    const ZEROS: &str = "0000000000000000000000000000000000000000";

    #[test]
    fn branches_tags_and_other_refs() {
        assert_eq!(
            push_event("refs/heads/release/1.2", Some(SHA), false),
            Ok(HookEvent::Push {
                branch: Some("release/1.2".into()),
                commit: Some(SHA.into())
            })
        );
        assert_eq!(
            push_event("refs/tags/v1.2.0", Some(SHA), false),
            Ok(HookEvent::Push {
                branch: None,
                commit: Some(SHA.into())
            })
        );
        assert!(matches!(
            push_event("refs/notes/commits", Some(SHA), false),
            Ok(HookEvent::Ignored { .. })
        ));
    }

    #[test]
    fn deletion_by_flag_zeros_or_no_commit() {
        for (commit, flag) in [(Some(SHA), true), (Some(ZEROS), false), (None, false)] {
            assert_eq!(
                push_event("refs/heads/old", commit, flag),
                Ok(HookEvent::Ignored {
                    reason: "branch `old` was deleted".into()
                })
            );
        }
    }

    #[test]
    fn hostile_names_and_commits_are_refused() {
        for name in [
            "-x", "a..b", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a/", "/a", "a//b",
            ".a", "a/.b", "a.lock", "a.", "@", "a@{1}", "a\u{7}",
        ] {
            assert!(check_ref_name(name).is_err(), "{name:?} accepted");
        }
        for name in [
            "main",
            "release/1.2",
            "feature/JIRA-12_x",
            "usr/😀",
            "v1.0-rc.1",
        ] {
            assert_eq!(check_ref_name(name), Ok(()), "{name:?} refused");
        }
        for commit in [
            "abc",
            "--upload-pack=x",
            "HEAD~1",
            &"a".repeat(65),
            "g123456",
        ] {
            assert!(check_commit(commit).is_err(), "{commit:?} accepted");
        }
        assert!(check_commit("abc1234").is_ok());
        assert!(check_commit(&"AB".repeat(32)).is_ok());
        assert!(matches!(
            push_event("refs/heads/-rf", Some(SHA), false),
            Err(HookError::BadRequest(_))
        ));
    }

    #[test]
    fn a_long_value_is_shortened_in_messages() {
        let long = "x".repeat(1000);
        let message = check_ref_name(&long).unwrap_err();
        assert!(message.len() < 200, "{message}");
    }
}
