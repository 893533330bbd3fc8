//! Secrets as the engine sees them: a source of values (the binary hands over `baton-secrets`,
//! so the engine does not depend on age) and the mask that keeps loaded values out of output.

use std::sync::{Arc, RwLock};

/// Where a run's secrets come from.
pub trait SecretSource: Send + Sync {
    /// The values of `names` in environment `env` (`default` when the run has none).
    fn load(&self, env: &str, names: &[String]) -> Result<Vec<(String, String)>, SecretLoadError>;

    /// `data` encrypted for the project's recipients: the stored copy of something that holds
    /// secret values (a rendered config). `Err` says why and what to do.
    fn encrypt(&self, _data: &[u8]) -> Result<Vec<u8>, String> {
        Err("encryption is not available in this build of baton".into())
    }

    /// What [`SecretSource::encrypt`] made, decrypted with this machine's identity.
    fn decrypt(&self, _data: &[u8]) -> Result<Vec<u8>, String> {
        Err("decryption is not available in this build of baton".into())
    }
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
    /// Mask `value`, each of its lines (output arrives in line-bounded chunks, so a multi-line
    /// secret such as a PEM key is only ever seen a line at a time), and the forms a program
    /// is likely to print it in: base64 (standard and URL-safe, padded or not, at any byte
    /// alignment inside a longer encoded blob), URL-encoded, hex and JSON-escaped.
    pub fn add(&self, value: &str) {
        let mut values = self.values.write().unwrap_or_else(|p| p.into_inner());
        let lines = value.lines().map(|l| l.trim_end_matches('\r'));
        for candidate in std::iter::once(value).chain(lines) {
            for form in derived_forms(candidate.as_bytes()) {
                if form.len() >= MIN_MASKED_LEN && !values.contains(&form) {
                    values.push(form);
                }
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    }

    /// The longest masked needle: a chunk split inside a line keeps this many bytes minus one
    /// back, so a value cut in two by the split is still seen whole.
    pub fn longest(&self) -> usize {
        let values = self.values.read().unwrap_or_else(|p| p.into_inner());
        values.first().map_or(0, Vec::len)
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

    /// Mask a chunk that ends inside a line, holding back the bytes that could begin a value
    /// the next chunk completes: returns (masked bytes to emit now, raw bytes to prepend to the
    /// step's next chunk).
    pub fn bytes_holding_tail(&self, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let keep = self.longest().saturating_sub(1);
        let mut cut = data.len().saturating_sub(keep);
        let values = self.values.read().unwrap_or_else(|p| p.into_inner());
        // A value found across the cut is held back whole.
        for value in values.iter() {
            let from = cut.saturating_sub(value.len() - 1);
            if let Some(at) = memchr::memmem::find(&data[from..], value)
                && from + at < cut
                && from + at + value.len() > cut
            {
                cut = from + at;
            }
        }
        drop(values);
        (self.bytes(&data[..cut]), data[cut..].to_vec())
    }

    pub fn text(&self, text: &str) -> String {
        if self.is_empty() {
            return text.to_string();
        }
        String::from_utf8_lossy(&self.bytes(text.as_bytes())).into_owned()
    }
}

/// `value` and the encodings of it that commonly reach logs.
fn derived_forms(value: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![value.to_vec()];
    if value.len() < MIN_MASKED_LEN {
        return forms;
    }
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        forms.push(engine.encode(value).into_bytes());
    }
    // Inside a longer base64 blob (`user:secret` encoded for a Basic auth header) the value
    // starts at byte offset 0, 1 or 2 of a 3-byte group: keep the characters that depend on
    // the value's bits only.
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        for shift in 0..3usize {
            let mut shifted = vec![0u8; shift];
            shifted.extend_from_slice(value);
            let encoded = engine.encode(&shifted).into_bytes();
            let first = (8 * shift).div_ceil(6);
            let last = (8 * (shift + value.len())) / 6;
            if last > first {
                forms.push(encoded[first..last].to_vec());
            }
        }
    }
    forms.push(hex::encode(value).into_bytes());
    forms.push(hex::encode_upper(value).into_bytes());
    let url = percent_encoding::percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .into_bytes();
    forms.push(url.clone());
    // Form encoding writes a space as `+`.
    forms.push(
        String::from_utf8_lossy(&url)
            .replace("%20", "+")
            .into_bytes(),
    );
    if let Ok(text) = std::str::from_utf8(value)
        && let Ok(json) = serde_json::to_string(text)
    {
        forms.push(json.as_bytes()[1..json.len() - 1].to_vec());
        // Python's json.dumps (and others) escape every non-ASCII character as `\uXXXX`.
        let mut ascii = String::new();
        for c in json[1..json.len() - 1].chars() {
            if c.is_ascii() {
                ascii.push(c);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    ascii.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
        forms.push(ascii.into_bytes());
    }
    forms.sort();
    forms.dedup();
    forms
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
    fn every_derived_form_is_masked() {
        use base64::Engine as _;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let secret = "p@ss w/rd?\"é>~~";
        let mask = Mask::default();
        mask.add(secret);
        let forms = [
            STANDARD.encode(secret),
            STANDARD.encode(secret).trim_end_matches('=').to_string(),
            URL_SAFE_NO_PAD.encode(secret),
            hex::encode(secret),
            hex::encode_upper(secret),
            percent_encoding::percent_encode(secret.as_bytes(), percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            serde_json::to_string(secret).unwrap(),
        ];
        for form in forms {
            let masked = mask.text(&format!("x {form} y"));
            assert!(!masked.contains(&form), "{form} leaked: {masked}");
            assert!(masked.contains("***"), "{form}: {masked}");
        }
    }

    #[test]
    fn base64_inside_a_longer_blob_is_masked_at_any_alignment() {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let mask = Mask::default();
        mask.add("hunter2hunter2");
        for prefix in ["", "a", "ab", "abc", "user:"] {
            let blob = STANDARD.encode(format!("{prefix}hunter2hunter2:tail"));
            let masked = mask.text(&blob);
            assert!(
                masked.contains("***"),
                "prefix {prefix:?}: {blob} → {masked}"
            );
            let core = &STANDARD.encode("hunter2hunter2")[..16];
            assert!(!masked.contains(core), "prefix {prefix:?}: {masked}");
        }
    }

    #[test]
    fn a_value_split_across_chunks_is_masked() {
        let mask = Mask::default();
        mask.add("correct-horse-battery");
        let line = "token=correct-horse-battery; done\n";
        for split in 1..line.len() - 1 {
            let (first, held) = mask.bytes_holding_tail(&line.as_bytes()[..split]);
            let mut rest = held;
            rest.extend_from_slice(&line.as_bytes()[split..]);
            let mut all = first;
            all.extend_from_slice(&mask.bytes(&rest));
            assert_eq!(
                String::from_utf8(all).unwrap(),
                "token=***; done\n",
                "split at {split}"
            );
        }
    }

    #[test]
    fn binary_output_is_masked_bytewise() {
        let mask = Mask::default();
        mask.add("s3cr3t");
        assert_eq!(mask.bytes(b"\xff s3cr3t \xfe"), b"\xff *** \xfe");
    }
}
