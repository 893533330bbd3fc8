//! Secrets as the engine sees them: a source of values (the binary hands over `baton-secrets`,
//! so the engine does not depend on age) and the mask that keeps loaded values out of output.

use std::sync::{Arc, RwLock};

/// Where a run's secrets come from.
pub trait SecretSource: Send + Sync {
    /// The values of `names` in environment `env` (`default` when the run has none).
    fn load(&self, env: &str, names: &[String]) -> Result<Vec<(String, String)>, SecretLoadError>;
}

#[derive(Debug, Clone)]
pub enum SecretLoadError {
    /// These names have no value in the environment.
    Missing(Vec<String>),
    /// The secrets could not be read or decrypted (the message says why and what to do).
    Failed(String),
}

/// The secrets each stage names: stage → (NAME, value).
pub(crate) type StageSecrets = std::collections::HashMap<String, Vec<(String, String)>>;

/// The environment name secrets use when a run has no `--env`.
pub const DEFAULT_SECRETS_ENV: &str = "default";

/// Values shorter than this are injected but not masked: masking `a` or `on` would replace
/// every occurrence in every log and make them unreadable, while hiding almost nothing (a
/// 3-character secret is guessable anyway). `baton secret set` warns about such values.
pub const MIN_MASKED_LEN: usize = 4;

/// Secret values loaded by a run, replaced by `***` in everything the run emits. Shared by
/// every clone of the run's emitter, so values loaded once are masked everywhere.
#[derive(Clone, Default)]
pub struct Mask {
    /// Longest first, so a value containing another is replaced whole.
    values: Arc<RwLock<Vec<Vec<u8>>>>,
}

impl Mask {
    /// Mask `value`, and each of its lines too: output arrives in line-bounded chunks, so a
    /// multi-line secret (a PEM key) is only ever seen a line at a time.
    pub fn add(&self, value: &str) {
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        let candidates =
            std::iter::once(value).chain(value.lines().map(|l| l.trim_end_matches('\r')));
        for candidate in candidates {
            let bytes = candidate.as_bytes().to_vec();
            if bytes.len() >= MIN_MASKED_LEN && !values.contains(&bytes) {
                values.push(bytes);
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.values
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// `data` with every secret value replaced by `***`.
    pub fn bytes(&self, data: &[u8]) -> Vec<u8> {
        let values = self.values.read().unwrap_or_else(|p| p.into_inner());
        let mut out = data.to_vec();
        for value in values.iter() {
            if memchr::memmem::find(&out, value).is_none() {
                continue;
            }
            let mut replaced = Vec::with_capacity(out.len());
            let mut rest = out.as_slice();
            while let Some(at) = memchr::memmem::find(rest, value) {
                replaced.extend_from_slice(&rest[..at]);
                replaced.extend_from_slice(b"***");
                rest = &rest[at + value.len()..];
            }
            replaced.extend_from_slice(rest);
            out = replaced;
        }
        out
    }

    pub fn text(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        String::from_utf8_lossy(&self.bytes(text.as_bytes())).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_longest_first() {
        let mask = Mask::default();
        mask.add("hunter2");
        mask.add("hunter2-extended");
        assert_eq!(
            mask.text("a hunter2 b hunter2-extended c hunter2"),
            "a *** b *** c ***"
        );
    }

    #[test]
    fn short_values_are_not_masked_and_lines_are() {
        let mask = Mask::default();
        mask.add("abc");
        assert!(mask.is_empty());
        mask.add("-----BEGIN KEY-----\nMIIEsecretline\n-----END KEY-----\n");
        assert_eq!(mask.text("got MIIEsecretline\n"), "got ***\n");
        assert_eq!(mask.text("abc"), "abc");
    }

    #[test]
    fn binary_output_is_masked_bytewise() {
        let mask = Mask::default();
        mask.add("s3cr3t");
        assert_eq!(mask.bytes(b"\xff s3cr3t \xfe"), b"\xff *** \xfe");
    }
}
