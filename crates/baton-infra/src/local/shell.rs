//! Running scripts on a target through its executor and capturing their output.

use std::sync::{Arc, Mutex};

use baton_exec::{CommandSpec, UploadSpec};

use crate::provider::{Context, Diagnostic, Target};

/// The one shell quoting, from the executor layer.
pub use baton_exec::quote;

/// What a script printed (stdout and stderr share one pipe) and how it ended.
pub struct ScriptOutput {
    pub code: Option<i32>,
    pub output: String,
}

impl ScriptOutput {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Run `script` under `bash -eo pipefail -c` on `target`. Local commands run in the project
/// root (as pipeline commands do); on nodes, in the login directory.
pub async fn run(
    ctx: &Context,
    target: &Target,
    script: &str,
    env: Vec<(String, String)>,
) -> Result<ScriptOutput, Diagnostic> {
    let spec = CommandSpec {
        script: script.to_string(),
        env,
        cwd: target.is_local().then(|| ctx.root.clone()),
        timeout: Some(ctx.timeout),
        grace: std::time::Duration::from_secs(2),
        run_as: None,
    };
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sink = captured.clone();
    let on_start = ctx.observer.clone();
    let on_output = ctx.observer.clone();
    let exit = target
        .executor
        .run(
            &spec,
            Box::new(move |pgid| {
                if let Some(observer) = on_start {
                    observer.started(pgid);
                }
            }),
            Box::new(move |chunk| {
                if let Some(observer) = &on_output {
                    observer.output(chunk);
                }
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(chunk)
            }),
            &ctx.cancel,
        )
        .await
        .map_err(|e| Diagnostic::error(format!("on `{}`: {e}", target.node)))?;
    let output =
        String::from_utf8_lossy(&captured.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    match exit.outcome {
        baton_exec::Outcome::TimedOut => Err(Diagnostic::error(format!(
            "on `{}`: timed out after {:?}",
            target.node, ctx.timeout
        ))
        .with_detail(output)),
        baton_exec::Outcome::Cancelled => Err(Diagnostic::error(format!(
            "on `{}`: cancelled",
            target.node
        ))),
        baton_exec::Outcome::Exited => Ok(ScriptOutput {
            code: exit.code,
            output,
        }),
    }
}

/// Run `script` and fail with `what` (plus its output) unless it exits 0.
pub async fn run_ok(
    ctx: &Context,
    target: &Target,
    script: &str,
    what: &str,
) -> Result<String, Diagnostic> {
    let out = run(ctx, target, script, Vec::new()).await?;
    if out.ok() {
        Ok(out.output)
    } else {
        Err(Diagnostic::error(format!(
            "{what} failed on `{}` (exit {})",
            target.node,
            out.code.map_or("by signal".to_string(), |c| c.to_string())
        ))
        .with_detail(out.output))
    }
}

/// Write `content` to `dest` on `target` atomically through the executor's upload.
pub async fn write_file(
    ctx: &Context,
    target: &Target,
    content: &[u8],
    dest: &str,
    mode: Option<u32>,
    owner: Option<String>,
) -> Result<(), Diagnostic> {
    let staged = baton_exec::StagedBytes::new(&ctx.scratch, content)
        .map_err(|e| Diagnostic::error(format!("cannot stage `{dest}`: {e}")))?;
    upload(target, staged.path().to_path_buf(), dest, mode, owner).await
}

pub async fn upload(
    target: &Target,
    source: std::path::PathBuf,
    dest: &str,
    mode: Option<u32>,
    owner: Option<String>,
) -> Result<(), Diagnostic> {
    let spec = UploadSpec {
        source,
        dest: dest.to_string(),
        mode,
        owner,
        run_as: None,
    };
    let failed =
        |e: String| Diagnostic::error(format!("cannot write `{dest}` on `{}`: {e}", target.node));
    if target.is_local() {
        // The local upload does its file I/O (fsync included) inline; run it on a blocking
        // thread so `--parallelism` uploads really overlap instead of holding the async
        // workers (one per core) for every fsync.
        let executor = target.executor.clone();
        let handle = tokio::runtime::Handle::current();
        return tokio::task::spawn_blocking(move || handle.block_on(executor.upload(&spec)))
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()));
    }
    target
        .executor
        .upload(&spec)
        .await
        .map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(super::quote("it's"), r"'it'\''s'");
    }
}
