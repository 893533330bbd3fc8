//! Secrets of a baton project (SPEC §6): values encrypted with age (X25519, ASCII-armored) for
//! the project's `secrets.recipients`, one entry per key in `secrets/<env>.yaml`; the private
//! identity in an age identity file (`BATON_IDENTITY`, else `~/.config/baton/identity.txt`).
//!
//! Architecture: knows nothing of pipelines or the CLI; the engine sees it only as a
//! `baton_engine::SecretSource` ([`ProjectSecrets`]), handed over by the binary.

mod file;
mod identity;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

pub use file::{Entry, SecretFile};
pub use identity::{Identity, default_identity_path, generate, identity_path};

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "`{0}` is not a valid secret name: use upper-case letters, digits and `_`, not starting with a digit (like `DB_PASSWORD`)"
    )]
    BadName(String),
    #[error(
        "baton.yaml lists no `secrets.recipients`: add `secrets: {{ recipients: [age1…] }}` with the public key printed by `baton secret keygen`"
    )]
    NoRecipients,
    #[error(
        "`{0}` is not a valid age recipient (expected `age1…`, as printed by `baton secret keygen`)"
    )]
    BadRecipient(String),
    #[error("secret `{name}` is not set in environment `{env}` ({path}){}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    NotFound {
        name: String,
        env: String,
        path: String,
        suggestion: Option<String>,
    },
    #[error(
        "{path}:{line}: {what} (this file is written by `baton secret`; restore it from version control)"
    )]
    Format {
        path: String,
        line: usize,
        what: String,
    },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{0}")]
    Identity(String),
    #[error(
        "cannot decrypt secret `{name}` of environment `{env}` with the identity in {identity} (public key {public}): it was encrypted for {recipients}; ask someone who can read it to add your key to `secrets.recipients` and set it again"
    )]
    WrongIdentity {
        name: String,
        env: String,
        identity: String,
        public: String,
        recipients: String,
    },
    #[error("cannot decrypt secret `{name}` of environment `{env}`: {reason}")]
    Decrypt {
        name: String,
        env: String,
        reason: String,
    },
    #[error("encryption failed: {0}")]
    Encrypt(String),
}

/// `^[A-Z_][A-Z0-9_]*$`: the names are environment variables of commands.
pub fn check_name(name: &str) -> Result<(), SecretError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('A'..='Z' | '_'))
        && chars.all(|c| matches!(c, 'A'..='Z' | '0'..='9' | '_'));
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadName(name.to_string()))
    }
}

/// The secrets directory of a project.
#[derive(Debug, Clone)]
pub struct Secrets {
    root: PathBuf,
}

impl Secrets {
    /// `project_root` is the directory of `baton.yaml`.
    pub fn new(project_root: &Path) -> Secrets {
        Secrets {
            root: project_root.join("secrets"),
        }
    }

    pub fn path(&self, env: &str) -> PathBuf {
        self.root.join(format!("{env}.yaml"))
    }

    pub fn read(&self, env: &str) -> Result<SecretFile, SecretError> {
        SecretFile::read(&self.path(env))
    }

    /// Encrypt `value` for `recipients` and store it as `name`, replacing any previous value.
    pub fn set(
        &self,
        env: &str,
        name: &str,
        value: &str,
        recipients: &[String],
    ) -> Result<(), SecretError> {
        check_name(name)?;
        let armored = encrypt(value, recipients)?;
        // Lock and read after encrypting: a bad recipient must not get as far as the file.
        let _lock = self.lock()?;
        let mut file = self.read(env)?;
        file.entries.insert(
            name.to_string(),
            Entry {
                recipients: recipients.to_vec(),
                armored,
            },
        );
        file.write(&self.path(env), env)
    }

    /// The entry of `name`, or a `NotFound` naming the closest existing one.
    pub fn entry(&self, env: &str, name: &str) -> Result<Entry, SecretError> {
        check_name(name)?;
        let file = self.read(env)?;
        file.entries
            .get(name)
            .cloned()
            .ok_or_else(|| self.not_found(env, name, &file))
    }

    pub fn get(&self, env: &str, name: &str, identity: &Identity) -> Result<String, SecretError> {
        let entry = self.entry(env, name)?;
        decrypt(env, name, &entry, identity)
    }

    pub fn remove(&self, env: &str, name: &str) -> Result<(), SecretError> {
        check_name(name)?;
        let _lock = if self.root.is_dir() {
            Some(self.lock()?)
        } else {
            None
        };
        let mut file = self.read(env)?;
        if file.entries.remove(name).is_none() {
            return Err(self.not_found(env, name, &file));
        }
        file.write(&self.path(env), env)
    }

    /// Serialize read-modify-write between processes: two `secret set` at once would each
    /// rename their own version into place and lose the other's key. The lock is on the
    /// directory itself, so no lock file ends up in the project's version control.
    fn lock(&self) -> Result<std::fs::File, SecretError> {
        let io = |e: std::io::Error| SecretError::Io {
            path: self.root.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        let dir = std::fs::File::open(&self.root).map_err(io)?;
        dir.lock().map_err(io)?;
        Ok(dir)
    }

    fn not_found(&self, env: &str, name: &str, file: &SecretFile) -> SecretError {
        let suggestion = file
            .entries
            .keys()
            .filter(|k| strsim::levenshtein(k, name) <= 2)
            .min_by_key(|k| strsim::levenshtein(k, name))
            .cloned();
        SecretError::NotFound {
            name: name.to_string(),
            env: env.to_string(),
            path: self.path(env).display().to_string(),
            suggestion,
        }
    }
}

fn parse_recipients(recipients: &[String]) -> Result<Vec<age::x25519::Recipient>, SecretError> {
    if recipients.is_empty() {
        return Err(SecretError::NoRecipients);
    }
    recipients
        .iter()
        .map(|r| {
            age::x25519::Recipient::from_str(r).map_err(|_| SecretError::BadRecipient(r.clone()))
        })
        .collect()
}

/// An ASCII-armored age file of `value` for `recipients`.
pub fn encrypt(value: &str, recipients: &[String]) -> Result<String, SecretError> {
    let armored = encrypt_bytes(value.as_bytes(), recipients)?;
    let mut text = String::from_utf8(armored).expect("ASCII armor is ASCII");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// An ASCII-armored age file of `data` for `recipients`.
pub fn encrypt_bytes(data: &[u8], recipients: &[String]) -> Result<Vec<u8>, SecretError> {
    let parsed = parse_recipients(recipients)?;
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| SecretError::Encrypt(e.to_string()))?;
    let mut out = Vec::new();
    let written = (|| -> std::io::Result<()> {
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
        let mut writer = encryptor.wrap_output(armor)?;
        writer.write_all(data)?;
        writer.finish()?.finish()?;
        Ok(())
    })();
    written.map_err(|e| SecretError::Encrypt(e.to_string()))?;
    Ok(out)
}

/// What [`encrypt_bytes`] made, decrypted with `identity`; `Err(None)`: none of its keys is a
/// recipient.
fn open(armored: &[u8], identity: &Identity) -> Result<Vec<u8>, Option<String>> {
    let reader = age::armor::ArmoredReader::new(armored);
    let decryptor = age::Decryptor::new(reader).map_err(|e| Some(e.to_string()))?;
    let mut plain = Vec::new();
    match decryptor.decrypt(identity.keys().iter().map(|k| k as &dyn age::Identity)) {
        Ok(mut r) => r.read_to_end(&mut plain).map_err(|e| Some(e.to_string()))?,
        Err(age::DecryptError::NoMatchingKeys) => return Err(None),
        Err(e) => return Err(Some(e.to_string())),
    };
    Ok(plain)
}

fn decrypt(
    env: &str,
    name: &str,
    entry: &Entry,
    identity: &Identity,
) -> Result<String, SecretError> {
    let failed = |reason: String| SecretError::Decrypt {
        name: name.to_string(),
        env: env.to_string(),
        reason,
    };
    let plain = match open(entry.armored.as_bytes(), identity) {
        Ok(plain) => plain,
        Err(None) => {
            return Err(SecretError::WrongIdentity {
                name: name.to_string(),
                env: env.to_string(),
                identity: identity.path().display().to_string(),
                public: identity.public_keys().join(", "),
                recipients: if entry.recipients.is_empty() {
                    "other recipients".into()
                } else {
                    entry.recipients.join(", ")
                },
            });
        }
        Err(Some(reason)) => return Err(failed(reason)),
    };
    String::from_utf8(plain).map_err(|_| failed("the value is not UTF-8".into()))
}

/// The project's secrets as the engine's `SecretSource`. The identity is read on the first
/// run that needs a secret, so projects and runs without secrets never need one.
pub struct ProjectSecrets {
    secrets: Secrets,
    identity: OnceLock<Result<Identity, String>>,
    /// `secrets.recipients`: what stored copies are encrypted to.
    recipients: Vec<String>,
}

impl ProjectSecrets {
    pub fn new(project_root: &Path) -> ProjectSecrets {
        ProjectSecrets {
            secrets: Secrets::new(project_root),
            identity: OnceLock::new(),
            recipients: Vec::new(),
        }
    }

    /// Encrypt stored copies for `recipients` (the project's `secrets.recipients`).
    pub fn with_recipients(mut self, recipients: Vec<String>) -> ProjectSecrets {
        self.recipients = recipients;
        self
    }

    fn identity(&self) -> Result<&Identity, String> {
        self.identity
            .get_or_init(|| Identity::locate_and_load().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl baton_engine::SecretSource for ProjectSecrets {
    fn load(
        &self,
        env: &str,
        names: &[String],
    ) -> Result<Vec<(String, String)>, baton_engine::SecretLoadError> {
        use baton_engine::SecretLoadError::{Failed, Missing};
        let file = self.secrets.read(env).map_err(|e| Failed(e.to_string()))?;
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !file.entries.contains_key(*n))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Missing(missing));
        }
        let identity = self.identity().map_err(Failed)?;
        names
            .iter()
            .map(|n| {
                decrypt(env, n, &file.entries[n], identity)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Failed(e.to_string()))
            })
            .collect()
    }

    fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        encrypt_bytes(data, &self.recipients).map_err(|e| e.to_string())
    }

    fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        let identity = self.identity()?;
        open(data, identity).map_err(|e| match e {
            Some(reason) => reason,
            None => format!(
                "the identity in {} (public key {}) is not one of the recipients it was encrypted for; ask someone who can read it to add your key to `secrets.recipients`",
                identity.path().display(),
                identity.public_keys().join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair(dir: &Path, file: &str) -> (Identity, String) {
        let path = dir.join(file);
        let public = generate(&path).unwrap();
        (Identity::load(&path).unwrap(), public)
    }

    #[test]
    fn names_follow_env_var_rules() {
        for ok in ["A", "_X", "DB_PASSWORD_2"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "a", "1A", "A-B", "A B", "Ä"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn round_trip_and_no_plaintext_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (id, public) = keypair(dir.path(), "id.txt");
        let secrets = Secrets::new(dir.path());
        secrets
            .set(
                "prod",
                "DB_PASSWORD",
                "correct horse {{ battery }}",
                std::slice::from_ref(&public),
            )
            .unwrap();
        secrets
            .set("prod", "API_KEY", "k-123456", &[public])
            .unwrap();
        assert_eq!(
            secrets.get("prod", "DB_PASSWORD", &id).unwrap(),
            "correct horse {{ battery }}"
        );
        let text = std::fs::read_to_string(secrets.path("prod")).unwrap();
        assert!(!text.contains("horse") && !text.contains("k-123456"));
        assert!(text.contains("BEGIN AGE ENCRYPTED FILE"));
        secrets.remove("prod", "API_KEY").unwrap();
        assert!(matches!(
            secrets.get("prod", "API_KEY", &id),
            Err(SecretError::NotFound { .. })
        ));
        let err = secrets
            .remove("prod", "DB_PASSWORT")
            .unwrap_err()
            .to_string();
        assert!(err.contains("did you mean `DB_PASSWORD`"), "{err}");
    }

    #[test]
    fn bytes_round_trip_and_a_stranger_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let (id, public) = keypair(dir.path(), "id.txt");
        let (other, _) = keypair(dir.path(), "other.txt");
        let data = b"PASSWORD=hunter2\n\xff\x00binary";
        let sealed = encrypt_bytes(data, &[public]).unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(open(&sealed, &id).unwrap(), data);
        assert_eq!(open(&sealed, &other), Err(None));
        assert!(matches!(open(b"not age", &id), Err(Some(_))));
    }

    #[test]
    fn concurrent_sets_lose_no_key() {
        let dir = tempfile::tempdir().unwrap();
        let (id, public) = keypair(dir.path(), "id.txt");
        let secrets = Secrets::new(dir.path());
        std::thread::scope(|s| {
            for i in 0..8 {
                let (secrets, public) = (&secrets, &public);
                s.spawn(move || {
                    let name = format!("KEY_{i}");
                    secrets
                        .set(
                            "default",
                            &name,
                            &format!("value-{i}"),
                            std::slice::from_ref(public),
                        )
                        .unwrap();
                });
            }
        });
        let file = secrets.read("default").unwrap();
        assert_eq!(file.entries.len(), 8);
        assert_eq!(secrets.get("default", "KEY_5", &id).unwrap(), "value-5");
    }

    #[test]
    fn wrong_identity_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = keypair(dir.path(), "a.txt");
        let (other, other_public) = keypair(dir.path(), "b.txt");
        let secrets = Secrets::new(dir.path());
        secrets
            .set("default", "TOKEN", "value", std::slice::from_ref(&public))
            .unwrap();
        let err = secrets
            .get("default", "TOKEN", &other)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&public) && err.contains(&other_public),
            "{err}"
        );
    }

    #[test]
    fn recipients_are_checked_before_the_file_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Secrets::new(dir.path());
        assert!(matches!(
            secrets.set("default", "A", "v", &[]),
            Err(SecretError::NoRecipients)
        ));
        assert!(matches!(
            secrets.set("default", "A", "v", &["age1nope".into()]),
            Err(SecretError::BadRecipient(_))
        ));
        assert!(!secrets.path("default").exists());
    }
}
