//! Artifact operations: list versions with their shelves, promote a version between
//! environments (built once, never rebuilt).

use baton_engine::promotion::{self, PromoteError, PromoteRequest};

use crate::api::artifacts::{ArtifactVersion, Promoted, Promotion};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// `NAME` or `NAME@VERSION`.
pub fn parse_artifact_ref(text: &str) -> OpsResult<(String, Option<i64>)> {
    match text.split_once('@') {
        None if !text.is_empty() => Ok((text.to_string(), None)),
        Some((name, version)) => match version.parse::<i64>() {
            Ok(v) if v > 0 && !name.is_empty() => Ok((name.to_string(), Some(v))),
            _ => Err(bad_ref(text)),
        },
        None => Err(bad_ref(text)),
    }
}

fn bad_ref(text: &str) -> OpsError {
    OpsError::usage(format!(
        "`{text}` is not NAME or NAME@VERSION (VERSION is a number from 1)"
    ))
}

impl Ops {
    /// Every artifact version, with its shelves; only those on shelf `env` when given.
    pub fn artifacts(&self, env: Option<&str>) -> OpsResult<Vec<ArtifactVersion>> {
        if let Some(env) = env
            && env != baton_engine::DEFAULT_SHELF
        {
            self.environment_named(env)?;
        }
        let promotions = self.store.promotions(None)?;
        let mut listed: Vec<ArtifactVersion> = self
            .store
            .artifacts(None)?
            .into_iter()
            .map(|artifact| {
                let shelves = promotion::shelves(&artifact, &promotions)
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                let own = promotions
                    .iter()
                    .filter(|p| p.artifact_id == artifact.id)
                    .map(Promotion::from)
                    .collect();
                ArtifactVersion::new(artifact, shelves, own)
            })
            .collect();
        if let Some(env) = env {
            listed.retain(|l| l.shelves.iter().any(|s| s == env));
        }
        Ok(listed)
    }

    /// Put artifact `name` (newest on the source shelf, or `version`) on shelf `to`.
    pub fn promote(
        &self,
        name: String,
        version: Option<i64>,
        to: &str,
        approve: bool,
    ) -> OpsResult<Promoted> {
        let request = PromoteRequest {
            name,
            version,
            to: to.to_string(),
            approve,
            from: None,
            run: None,
        };
        let outcome = promotion::promote(&self.project, self.store.as_ref(), &request).map_err(
            |e| match e {
                PromoteError::Unknown(message) => OpsError::usage(message),
                PromoteError::Refused { message, hint } => {
                    let error = OpsError::conflict(message);
                    match hint {
                        Some(hint) => error.with_hint(hint),
                        None => error,
                    }
                }
                PromoteError::Store(e) => e.into(),
            },
        )?;
        Ok(match outcome {
            promotion::Promoted::Recorded(record) => Promoted::Recorded(Promotion::from(&record)),
            promotion::Promoted::AlreadyThere { name, version } => Promoted::AlreadyThere {
                name,
                version,
                env: to.to_string(),
                already: true,
            },
        })
    }

    /// The environment `name`, or a usage error suggesting the closest one.
    pub fn environment_named(&self, name: &str) -> OpsResult<&baton_model::Environment> {
        self.project.environments.get(name).ok_or_else(|| {
            let hint = baton_model::diagnostic::did_you_mean(
                name,
                self.project.environments.keys().map(String::as_str),
            )
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
            OpsError::usage(format!("no environment named `{name}`{hint}"))
        })
    }
}

/// `artifact get`: the version fetched and where it was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fetched {
    pub name: String,
    pub version: i64,
    pub sha256: String,
    pub size: u64,
    /// `None` when written to standard output.
    pub path: Option<std::path::PathBuf>,
}

impl Ops {
    /// The stored version of artifact `name` a `get` means: `version`, else the newest on shelf
    /// `env`, else the newest of all.
    fn artifact_version(
        &self,
        name: &str,
        version: Option<i64>,
        env: Option<&str>,
    ) -> OpsResult<baton_store::ArtifactRecord> {
        let all = self.store.artifacts(Some(name))?;
        if all.is_empty() {
            return Err(OpsError::usage(format!("no artifact named `{name}`"))
                .with_hint("`baton artifact list` lists them"));
        }
        let chosen = match (version, env) {
            (Some(v), _) => all.into_iter().find(|a| a.version == v).ok_or_else(|| {
                OpsError::usage(format!("artifact `{name}` has no version {v}")).with_hint(format!(
                    "`baton artifact list` lists the versions of `{name}`"
                ))
            })?,
            (None, Some(env)) => promotion::newest_on_shelf(self.store.as_ref(), name, env)?
                .ok_or_else(|| {
                    OpsError::usage(format!("no version of `{name}` is on the `{env}` shelf"))
                })?,
            (None, None) => all.into_iter().last().expect("not empty"),
        };
        Ok(chosen)
    }

    /// Copy an artifact version out of the store to `dest` (`None`: standard output through
    /// `write`), its sha256 and size checked before anything is kept: a file is written to a
    /// temporary beside `dest` and renamed only once verified, so `dest` is either the whole
    /// artifact or as it was.
    pub fn artifact_get(
        &self,
        name: &str,
        version: Option<i64>,
        env: Option<&str>,
        dest: Option<&std::path::Path>,
        write: &mut dyn std::io::Write,
    ) -> OpsResult<Fetched> {
        use sha2::Digest;
        use std::io::Read;
        let record = self.artifact_version(name, version, env)?;
        let blob =
            baton_store::BlobStore::new(self.state_dir.join("artifacts")).path(&record.sha256);
        let what = format!("{}@{}", record.name, record.version);
        let failed =
            |e: std::io::Error| OpsError::failed(format!("cannot read artifact {what}: {e}"));
        let mut source = std::fs::File::open(&blob).map_err(failed)?;
        let mut bytes = Vec::new();
        source.read_to_end(&mut bytes).map_err(failed)?;
        let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
        if sha256 != record.sha256 || bytes.len() as u64 != record.size {
            return Err(OpsError::failed(format!(
                "artifact {what} is damaged in the store: expected {} bytes with sha256 {}, found {} bytes with sha256 {sha256}",
                record.size,
                record.sha256,
                bytes.len()
            ))
            .with_hint("nothing was written; rebuild it with the pipeline that made it"));
        }
        let path = match dest {
            None => {
                write
                    .write_all(&bytes)
                    .map_err(|e| OpsError::failed(format!("cannot write {what}: {e}")))?;
                None
            }
            Some(dest) => {
                write_verified(dest, &bytes, &record.sha256).map_err(|e| {
                    OpsError::failed(format!("cannot write `{}`: {e}", dest.display()))
                })?;
                Some(dest.to_path_buf())
            }
        };
        Ok(Fetched {
            name: record.name,
            version: record.version,
            sha256: record.sha256,
            size: record.size,
            path,
        })
    }
}

/// Write `bytes` to a temporary file beside `dest`, read it back and check its hash, then
/// rename it over `dest`; on any failure the temporary is removed and `dest` is untouched.
fn write_verified(dest: &std::path::Path, bytes: &[u8], sha256: &str) -> std::io::Result<()> {
    use sha2::Digest;
    use std::io::Write;
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let temp = dir.join(format!(".{file_name}.baton-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        let written = std::fs::read(&temp)?;
        if hex::encode(sha2::Sha256::digest(&written)) != sha256 {
            return Err(std::io::Error::other(
                "the written copy does not match its sha256",
            ));
        }
        std::fs::rename(&temp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}
