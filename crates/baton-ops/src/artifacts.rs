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
        if let Some(env) = env {
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
