//! The private identity: an age identity file (the format `age-keygen` writes: `#` comments
//! and `AGE-SECRET-KEY-1…` lines), found at `BATON_IDENTITY` or `~/.config/baton/identity.txt`.
//! Only X25519 identities are read (no plugins, no passphrase-encrypted files).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use crate::SecretError;

/// One or more private keys and the file they came from.
pub struct Identity {
    path: PathBuf,
    keys: Vec<age::x25519::Identity>,
}

/// `~/.config/baton/identity.txt`.
pub fn default_identity_path() -> Result<PathBuf, SecretError> {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => {
            Ok(PathBuf::from(home).join(".config/baton/identity.txt"))
        }
        _ => Err(SecretError::Identity(
            "HOME is not set: set BATON_IDENTITY to the path of an age identity file".into(),
        )),
    }
}

/// `BATON_IDENTITY` when set (a path to an identity file, not the key itself: keys in
/// environment variables leak into process listings and CI logs), else the default path.
pub fn identity_path() -> Result<PathBuf, SecretError> {
    match std::env::var_os("BATON_IDENTITY") {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => default_identity_path(),
    }
}

impl Identity {
    pub fn locate_and_load() -> Result<Identity, SecretError> {
        let path = identity_path()?;
        if !path.exists() {
            return Err(SecretError::Identity(format!(
                "no identity at {}: create one with `baton secret keygen` (and add the key it prints to `secrets.recipients`), or set BATON_IDENTITY to an age identity file",
                path.display()
            )));
        }
        Identity::load(&path)
    }

    /// Read an identity file, refusing one that group or others can read (as ssh does for
    /// private keys): whoever can read it can read every secret.
    pub fn load(path: &Path) -> Result<Identity, SecretError> {
        let fail = |what: String| SecretError::Identity(format!("{}: {what}", path.display()));
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "permissions {mode:04o} are too open: the identity must be readable by its owner only; run `chmod 600 {}`",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // Never echo the line: it may be a private key with a typo.
            let key = age::x25519::Identity::from_str(line).map_err(|_| {
                fail(format!(
                    "line {} is not an age X25519 identity (`AGE-SECRET-KEY-1…`; plugin and passphrase identities are not supported)",
                    i + 1
                ))
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(fail(
                "holds no identity (`AGE-SECRET-KEY-1…` line); create one with `baton secret keygen`"
                    .into(),
            ));
        }
        Ok(Identity {
            path: path.to_path_buf(),
            keys,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keys(&self) -> &[age::x25519::Identity] {
        &self.keys
    }

    /// The recipients (`age1…`) matching these keys.
    pub fn public_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }
}

/// Create a new identity file at `path` (mode 0600, parent directories 0700) and return its
/// public recipient. An existing file is never replaced: losing a key loses every secret
/// encrypted only for it.
pub fn generate(path: &Path) -> Result<String, SecretError> {
    let fail = |what: String| SecretError::Identity(format!("{}: {what}", path.display()));
    if path.exists() {
        return Err(fail(
            "an identity already exists here; it was not replaced (move it away first if you really mean to)"
                .into(),
        ));
    }
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| fail(e.to_string()))?;
    }
    let key = age::x25519::Identity::generate();
    let public = key.to_public().to_string();
    let text = format!(
        "# baton identity (age X25519); keep it private and backed up\n# public key: {public}\n{}\n",
        key.to_string().expose_secret()
    );
    // create_new: two keygens racing cannot overwrite each other's key.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(fail(e.to_string()));
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_is_private_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/identity.txt");
        let public = generate(&path).unwrap();
        assert!(public.starts_with("age1"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(Identity::load(&path).unwrap().public_keys(), vec![public]);
        let again = generate(&path).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
    }

    #[test]
    fn open_permissions_and_garbage_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identity.txt");
        generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = Identity::load(&path).err().unwrap().to_string();
        assert!(err.contains("0640") && err.contains("chmod 600"), "{err}");
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "# c\nAGE-SECRET-KEY-1NOPE\n").unwrap();
        std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Identity::load(&bad).err().unwrap().to_string();
        assert!(err.contains("line 2") && !err.contains("NOPE"), "{err}");
    }
}
