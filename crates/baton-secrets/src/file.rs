//! `secrets/<env>.yaml`: one entry per secret, so a diff (and git history) shows which key
//! changed without showing any value.
//!
//! ```yaml
//! API_KEY:
//!   recipients:
//!     - age1…
//!   value: |
//!     -----BEGIN AGE ENCRYPTED FILE-----
//!     …
//!     -----END AGE ENCRYPTED FILE-----
//! ```
//!
//! The file is valid YAML, but only this shape is accepted: baton writes it, people review it.
//! `recipients` records who the value was encrypted for when it was set (age's X25519 stanzas
//! do not name their recipient), so `baton secret list` can tell who can read it; it is
//! informational — the encryption itself is what decides.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use crate::SecretError;

/// One encrypted secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub recipients: Vec<String>,
    /// The ASCII-armored age file, lines joined with `\n`, ending with a newline.
    pub armored: String,
}

/// The secrets of one environment, by name (sorted: stable files, small diffs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFile {
    pub entries: BTreeMap<String, Entry>,
}

const HEADER: &str = "# Secrets of environment `{env}`, encrypted with age for the recipients listed.\n\
# Written by `baton secret set|rm`; review diffs, do not edit values by hand.\n";

impl SecretFile {
    /// Read `path`; a missing file is an environment without secrets.
    pub fn read(path: &Path) -> Result<SecretFile, SecretError> {
        match std::fs::read_to_string(path) {
            Ok(text) => SecretFile::parse(&text).map_err(|(line, what)| SecretError::Format {
                path: path.display().to_string(),
                line,
                what,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SecretFile::default()),
            Err(e) => Err(SecretError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// Parse the text; errors carry a 1-based line number.
    pub fn parse(text: &str) -> Result<SecretFile, (usize, String)> {
        enum In {
            Top,
            Entry,
            Recipients,
            Value,
        }
        let mut file = SecretFile::default();
        let mut current: Option<(String, Entry)> = None;
        let mut state = In::Top;
        let finish = |file: &mut SecretFile, current: Option<(String, Entry)>, line: usize| {
            if let Some((name, entry)) = current {
                if entry.armored.is_empty() {
                    return Err((line, format!("`{name}` has no `value`")));
                }
                file.entries.insert(name, entry);
            }
            Ok(())
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(key) = line.strip_suffix(':')
                && !line.starts_with(' ')
            {
                finish(&mut file, current.take(), n)?;
                crate::check_name(key).map_err(|e| (n, e.to_string()))?;
                if file.entries.contains_key(key) {
                    return Err((n, format!("`{key}` appears twice")));
                }
                current = Some((
                    key.to_string(),
                    Entry {
                        recipients: Vec::new(),
                        armored: String::new(),
                    },
                ));
                state = In::Entry;
                continue;
            }
            let Some((_, entry)) = current.as_mut() else {
                return Err((n, "expected a secret name (`NAME:`)".into()));
            };
            if line == "  recipients:" {
                state = In::Recipients;
                continue;
            }
            if line == "  value: |" {
                state = In::Value;
                continue;
            }
            match state {
                In::Recipients if line.starts_with("    - ") => {
                    entry
                        .recipients
                        .push(line["    - ".len()..].trim().to_string());
                }
                In::Value if line.starts_with("    ") => {
                    entry.armored.push_str(&line[4..]);
                    entry.armored.push('\n');
                }
                _ => {
                    return Err((
                        n,
                        format!(
                            "unexpected line `{}`",
                            line.chars().take(60).collect::<String>()
                        ),
                    ));
                }
            }
        }
        let end = text.lines().count();
        finish(&mut file, current, end)?;
        Ok(file)
    }

    pub fn render(&self, env: &str) -> String {
        let mut out = HEADER.replace("{env}", env);
        for (name, entry) in &self.entries {
            out.push_str(&format!("{name}:\n  recipients:\n"));
            for r in &entry.recipients {
                out.push_str(&format!("    - {r}\n"));
            }
            out.push_str("  value: |\n");
            for line in entry.armored.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        out
    }

    /// Replace `path` atomically: a temp file beside it, flushed, then renamed over it, so a
    /// crash or a full disk leaves the old file or the new one, never half of one.
    pub fn write(&self, path: &Path, env: &str) -> Result<(), SecretError> {
        let io = |e: std::io::Error| SecretError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let dir = path.parent().expect("secrets files live in a directory");
        std::fs::create_dir_all(dir).map_err(io)?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render(env).as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // The rename itself is durable only once the directory is.
            std::fs::File::open(dir)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(r: &[&str], armored: &str) -> Entry {
        Entry {
            recipients: r.iter().map(|s| s.to_string()).collect(),
            armored: armored.into(),
        }
    }

    #[test]
    fn render_then_parse_is_identity() {
        let mut file = SecretFile::default();
        file.entries.insert(
            "B_KEY".into(),
            entry(&["age1a", "age1b"], "-----BEGIN\nabc\n-----END\n"),
        );
        file.entries
            .insert("A".into(), entry(&["age1a"], "-----BEGIN\nx\n-----END\n"));
        let text = file.render("prod");
        assert!(text.find("A:").unwrap() < text.find("B_KEY:").unwrap());
        assert_eq!(SecretFile::parse(&text).unwrap(), file);
    }

    #[test]
    fn bad_files_name_the_line() {
        assert_eq!(SecretFile::parse("  value: |\n").unwrap_err().0, 1);
        let dup = "A:\n  value: |\n    x\nA:\n  value: |\n    y\n";
        assert_eq!(
            SecretFile::parse(dup).unwrap_err(),
            (4, "`A` appears twice".to_string())
        );
        assert!(
            SecretFile::parse("lower:\n")
                .unwrap_err()
                .1
                .contains("lower")
        );
        assert!(
            SecretFile::parse("A:\n  recipients:\n")
                .unwrap_err()
                .1
                .contains("no `value`")
        );
        assert!(
            SecretFile::parse("A:\n  other: 1\n")
                .unwrap_err()
                .1
                .contains("unexpected")
        );
    }

    #[test]
    fn atomic_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets/default.yaml");
        let mut file = SecretFile::default();
        file.entries.insert("A".into(), entry(&["age1a"], "x\n"));
        file.write(&path, "default").unwrap();
        assert_eq!(SecretFile::read(&path).unwrap(), file);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("default.yaml")]);
    }
}
