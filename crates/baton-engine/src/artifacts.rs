//! Stage artifacts: collected after success, stored once by content, named by file name.

use std::path::{Path, PathBuf};

use baton_model::Spanned;
use baton_store::{ArtifactRecord, EventKind, NewArtifact, Status};

use crate::step::StepEnv;

/// Files matched by a stage's `artifacts:` globs (relative to `workdir`), as (name, path).
/// A glob matching no file is an error: a missing build output must not pass silently.
pub fn collect(
    workdir: &Path,
    globs: &[Spanned<String>],
) -> Result<Vec<(String, PathBuf)>, String> {
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for pattern in globs {
        let full = workdir.join(pattern.as_str());
        let paths = glob::glob(&full.to_string_lossy())
            .map_err(|e| format!("artifact pattern `{}` is invalid: {e}", pattern.as_str()))?;
        let mut matched = false;
        for path in paths.flatten().filter(|p| p.is_file()) {
            matched = true;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if let Some((_, other)) = found.iter().find(|(n, p)| *n == name && *p != path) {
                return Err(format!(
                    "two artifacts are named `{name}`: `{}` and `{}`",
                    other.display(),
                    path.display()
                ));
            }
            if !found.iter().any(|(_, p)| *p == path) {
                found.push((name, path));
            }
        }
        if !matched {
            return Err(format!(
                "artifact pattern `{}` matched no file in `{}`",
                pattern.as_str(),
                workdir.display()
            ));
        }
    }
    Ok(found)
}

/// Store the files of a successful stage and record them with the run.
pub fn store(
    env: &StepEnv,
    stage: &str,
    files: &[(String, PathBuf)],
    shelf: Option<&str>,
) -> Result<(), String> {
    for (name, path) in files {
        let (sha256, size) = env
            .blobs
            .put_file(path)
            .map_err(|e| format!("cannot store artifact `{}`: {e}", path.display()))?;
        let record = env
            .emitter
            .store()
            .add_artifact(&NewArtifact {
                name: name.clone(),
                sha256: sha256.clone(),
                size,
                run: env.rc.run,
                pipeline: env.rc.pipeline.clone(),
                stage: stage.to_string(),
                commit: env.rc.commit.clone(),
                branch: env.rc.branch.clone(),
                shelf: shelf.map(str::to_string),
            })
            .map_err(|e| e.to_string())?;
        env.emitter.emit(EventKind::ArtifactStored {
            stage: stage.to_string(),
            name: name.clone(),
            version: record.version,
            sha256,
            size,
        });
    }
    Ok(())
}

/// The shelf of runs with neither a branch mapped to an environment nor an environment.
pub const DEFAULT_SHELF: &str = "default";

/// The stored file of artifact `name` for this run: with `from`, the newest version built by a
/// successful run of that pipeline; else built by this run (or the run it retries), else the
/// newest version on the run's shelf (its environment's, or `default`) — published there or
/// promoted there. Never rebuilt: a prod run deploys the very bytes built on dev.
pub fn locate(env: &StepEnv, name: &str, from: Option<&str>) -> Result<PathBuf, String> {
    let store = env.emitter.store();
    let all = store.artifacts(Some(name)).map_err(|e| e.to_string())?;
    if let Some(pipeline) = from {
        let mut built: Vec<&ArtifactRecord> =
            all.iter().filter(|a| a.pipeline == pipeline).collect();
        built.sort_by_key(|a| std::cmp::Reverse(a.version));
        for a in built {
            let run = store.run(a.run).map_err(|e| e.to_string())?;
            if run.is_some_and(|r| r.status == Status::Success) {
                return Ok(env.blobs.path(&a.sha256));
            }
        }
        return Err(format!(
            "no successful run of pipeline `{pipeline}` stored an artifact `{name}`"
        ));
    }
    let shelf = env.rc.env_name.as_deref().unwrap_or(DEFAULT_SHELF);
    let own = all.iter().rev().find(|a| env.rc.lineage.contains(&a.run));
    let chosen = match own {
        Some(a) => a.clone(),
        None => crate::promotion::newest_on_shelf(store.as_ref(), name, shelf)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "no artifact `{name}` was built by this run or is on the `{shelf}` shelf \
                     (published or promoted there); `from: PIPELINE` takes the newest success of a pipeline"
                )
            })?,
    };
    Ok(env.blobs.path(&chosen.sha256))
}
