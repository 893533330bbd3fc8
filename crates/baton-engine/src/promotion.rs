//! Promotion: an artifact built once moves from shelf to shelf (dev → integ → preprod → prod).
//! Nothing is copied — blobs are content-addressed — so a promotion is a record in the store,
//! plus an optional git tag. Shared by `baton artifact promote` and the `promote:` step.

use std::path::Path;

use baton_model::Project;
use baton_model::diagnostic::did_you_mean;
use baton_store::{
    ArtifactRecord, Millis, NewPromotion, Owner, PromotionRecord, RunFilter, RunId, RunKind,
    Status, Store, StoreError,
};

/// What to promote, where, on whose authority.
#[derive(Debug, Clone)]
pub struct PromoteRequest {
    pub name: String,
    /// `None`: the newest version on a shelf the target environment promotes from.
    pub version: Option<i64>,
    pub to: String,
    /// `--approve`: required by `approval: manual` environments.
    pub approve: bool,
    /// Only this source shelf (a `promote:` step promotes from its run's environment).
    pub from: Option<String>,
    /// The run whose `promote:` step asks; `None` from the CLI.
    pub run: Option<RunId>,
}

#[derive(Debug, Clone)]
pub enum Promoted {
    Recorded(PromotionRecord),
    /// It was on the shelf already (published or promoted there): nothing to do.
    AlreadyThere {
        name: String,
        version: i64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// An unknown name: environment, artifact or version (the CLI's exit 2).
    #[error("{0}")]
    Unknown(String),
    /// The promotion is not allowed (shelf, approval, gate) or its tag failed (exit 1).
    #[error("{message}")]
    Refused {
        message: String,
        hint: Option<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused(message: String, hint: Option<String>) -> PromoteError {
    PromoteError::Refused { message, hint }
}

/// Every shelf `artifact` is on: the one it was published to, then those it was promoted to,
/// each with when it arrived there.
pub fn shelves(artifact: &ArtifactRecord, promotions: &[PromotionRecord]) -> Vec<(String, Millis)> {
    let mut out: Vec<(String, Millis)> = artifact
        .shelf
        .iter()
        .map(|s| (s.clone(), artifact.created_at))
        .collect();
    out.extend(
        promotions
            .iter()
            .filter(|p| p.artifact_id == artifact.id)
            .map(|p| (p.env.clone(), p.promoted_at)),
    );
    out
}

/// The newest version of artifact `name` on shelf `env` (published or promoted there).
pub fn newest_on_shelf(
    store: &dyn Store,
    name: &str,
    env: &str,
) -> Result<Option<ArtifactRecord>, StoreError> {
    let all = store.artifacts(Some(name))?;
    let promotions = store.promotions(Some(name))?;
    Ok(all
        .into_iter()
        .rev()
        .find(|a| shelves(a, &promotions).iter().any(|(s, _)| s == env)))
}

/// Promote per SPEC §7. Checks, in order: the environment, the artifact and version, the source
/// shelf (`promote_from`), already there (a no-op, not an error), approval, gates; then creates
/// the tag (if any) and records the promotion. A refusal writes nothing.
pub fn promote(
    project: &Project,
    store: &dyn Store,
    req: &PromoteRequest,
) -> Result<Promoted, PromoteError> {
    let Some(target) = project.environments.get(&req.to) else {
        let hint = did_you_mean(&req.to, project.environments.keys().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(PromoteError::Unknown(format!(
            "no environment named `{}`{hint}",
            req.to
        )));
    };
    let all = store.artifacts(Some(&req.name))?;
    if all.is_empty() {
        let names: Vec<String> = store.artifacts(None)?.into_iter().map(|a| a.name).collect();
        let hint = did_you_mean(&req.name, names.iter().map(String::as_str))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Err(PromoteError::Unknown(format!(
            "no artifact named `{}`{hint}",
            req.name
        )));
    }
    let promotions = store.promotions(Some(&req.name))?;
    let allowed: Vec<&str> = target
        .promote_from
        .iter()
        .map(|s| s.as_str())
        .filter(|s| req.from.as_deref().is_none_or(|from| from == *s))
        .collect();
    if target.promote_from.is_empty() {
        return Err(refused(
            format!(
                "environment `{}` has no `promote_from`: nothing can be promoted to it",
                req.to
            ),
            None,
        ));
    }
    if let (Some(from), true) = (&req.from, allowed.is_empty()) {
        return Err(refused(
            format!(
                "environment `{}` promotes only from {}, not from `{from}`",
                req.to,
                list(target.promote_from.iter().map(|s| s.as_str()))
            ),
            None,
        ));
    }
    // The newest shelf among those allowed that the version is on, if any.
    let source_of = |a: &ArtifactRecord| {
        shelves(a, &promotions)
            .into_iter()
            .filter(|(s, _)| allowed.contains(&s.as_str()))
            .max_by_key(|(_, at)| *at)
            .map(|(s, _)| s)
    };
    let artifact = match req.version {
        Some(version) => all.iter().find(|a| a.version == version).ok_or_else(|| {
            PromoteError::Unknown(format!(
                "artifact `{}` has no version {version} (versions 1 to {})",
                req.name,
                all.last().map_or(0, |a| a.version)
            ))
        })?,
        None => match all.iter().rev().find(|a| source_of(a).is_some()) {
            Some(a) => a,
            // Name where the newest version is, to explain the refusal below.
            None => all.last().expect("not empty"),
        },
    };
    let label = format!("{}@{}", artifact.name, artifact.version);
    let on: Vec<String> = shelves(artifact, &promotions)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    if on.contains(&req.to) {
        return Ok(Promoted::AlreadyThere {
            name: artifact.name.clone(),
            version: artifact.version,
        });
    }
    let Some(source) = source_of(artifact) else {
        let where_ = if on.is_empty() {
            "on no shelf".to_string()
        } else {
            format!("on {}", list(on.iter().map(String::as_str)))
        };
        return Err(refused(
            format!(
                "`{label}` is {where_}; `{}` promotes only from {}",
                req.to,
                list(allowed.iter().copied())
            ),
            None,
        ));
    };
    if target.approval == baton_model::Approval::Manual && !req.approve {
        return Err(match req.run {
            Some(_) => refused(
                format!(
                    "`{}` needs manual approval: a `promote:` step cannot approve it",
                    req.to
                ),
                Some(format!(
                    "a person approves with `baton artifact promote {label} --to {} --approve`",
                    req.to
                )),
            ),
            None => refused(
                format!("`{}` needs manual approval", req.to),
                Some(format!(
                    "approve with `baton artifact promote {label} --to {} --approve`",
                    req.to
                )),
            ),
        });
    }
    for gate in &target.gate {
        check_gate(store, gate.as_str(), &source, artifact)?;
    }
    let tag = match &target.tag {
        Some(template) => create_tag(project, template.as_str(), artifact, &req.to)?,
        None => None,
    };
    let owner = Owner::current();
    let recorded = store.add_promotion(&NewPromotion {
        artifact_id: artifact.id,
        env: req.to.clone(),
        from: source,
        by: format!("{}@{}", owner.user, owner.host),
        run: req.run,
        tag: tag.as_ref().map(|t| t.name.clone()),
    });
    match recorded {
        Ok(Some(record)) => Ok(Promoted::Recorded(record)),
        // Another promoter recorded it between our check and our write; the tag (same
        // template, same commit) is theirs as much as ours.
        Ok(None) => Ok(Promoted::AlreadyThere {
            name: artifact.name.clone(),
            version: artifact.version,
        }),
        Err(e) => {
            // Tag first, then record: a promotion that could not be recorded takes back the
            // tag it created, so the repository never claims a promotion the store lacks.
            if let Some(tag) = tag.filter(|t| t.created) {
                delete_tag(&project.root, &tag.name);
            }
            Err(e.into())
        }
    }
}

/// Gate `pipeline` passed for `artifact` on `shelf`: a run of it succeeded with the run's
/// environment `shelf`, started after the artifact was built, and — when the artifact's commit
/// is known — on that same commit. An older success proves nothing about this build.
fn check_gate(
    store: &dyn Store,
    pipeline: &str,
    shelf: &str,
    artifact: &ArtifactRecord,
) -> Result<(), PromoteError> {
    let runs = store.runs(&RunFilter {
        name: Some(pipeline.to_string()),
        kind: Some(RunKind::Pipeline),
        limit: None,
        ..Default::default()
    })?;
    let passed = runs.iter().any(|r| {
        r.status == Status::Success
            && r.env.as_deref() == Some(shelf)
            && r.started_at.is_some_and(|at| at >= artifact.created_at)
            && (artifact.commit.is_none() || r.commit == artifact.commit)
    });
    if passed {
        return Ok(());
    }
    let commit = artifact
        .commit
        .as_deref()
        .map(|c| format!(" at commit {}", &c[..c.len().min(12)]))
        .unwrap_or_default();
    Err(refused(
        format!(
            "gate `{pipeline}` has not passed for `{}@{}`: it needs a successful run of \
             `{pipeline}` on `{shelf}`{commit} since the artifact was built",
            artifact.name, artifact.version
        ),
        Some(format!("run `baton run {pipeline} --env {shelf}`")),
    ))
}

struct Tag {
    name: String,
    /// Whether this promotion created it (else it already pointed at the commit).
    created: bool,
}

/// The environment's `tag:` on the artifact's commit, in the project's git repository. Skipped
/// (`None`) when the project is not a git checkout or the artifact's commit is unknown: there is
/// nothing to tag. A tag of that name on another commit is an error, never moved.
fn create_tag(
    project: &Project,
    template: &str,
    artifact: &ArtifactRecord,
    env: &str,
) -> Result<Option<Tag>, PromoteError> {
    let Some(commit) = artifact.commit.as_deref() else {
        return Ok(None);
    };
    if !project
        .root
        .ancestors()
        .any(|dir| dir.join(".git").exists())
    {
        return Ok(None);
    }
    let context = serde_json::json!({
        "artifact": {
            "name": artifact.name,
            "version": artifact.version,
            "sha256": artifact.sha256,
            "commit": commit,
        },
        "env": { "name": env },
    });
    let name = baton_model::template::render(template, &context)
        .map_err(|e| refused(format!("the `tag:` of environment `{env}`: {e}"), None))?;
    let name = name.trim().to_string();
    let git = |args: &[&str]| {
        baton_exec::host_command("git")
            .arg("-C")
            .arg(&project.root)
            .args(args)
            .output()
    };
    // An existing tag is fine only on this very commit (a retried promotion).
    let existing = git(&[
        "rev-parse",
        "-q",
        "--verify",
        &format!("refs/tags/{name}^{{commit}}"),
    ]);
    if let Ok(out) = &existing
        && out.status.success()
    {
        let at = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if at == commit {
            return Ok(Some(Tag {
                name,
                created: false,
            }));
        }
        return Err(refused(
            format!("git tag `{name}` already exists on commit {at}, not on {commit}"),
            Some("tags are never moved: delete it or change the environment's `tag:`".into()),
        ));
    }
    match git(&["tag", &name, commit]) {
        Ok(out) if out.status.success() => Ok(Some(Tag {
            name,
            created: true,
        })),
        Ok(out) => Err(refused(
            format!(
                "cannot create git tag `{name}` on {commit}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            None,
        )),
        Err(e) => Err(refused(
            format!("cannot run `git tag` for `{name}`: {e}"),
            None,
        )),
    }
}

fn delete_tag(root: &Path, name: &str) {
    let _ = baton_exec::host_command("git")
        .arg("-C")
        .arg(root)
        .args(["tag", "-d", name])
        .output();
}

/// `a`, `a` or `b`, `a`, `b` or `c`.
fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    match items.len() {
        0 => "nothing".to_string(),
        1 => items[0].clone(),
        n => format!("{} or {}", items[..n - 1].join(", "), items[n - 1]),
    }
}
