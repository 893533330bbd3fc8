//! One step on one target: render, execute, capture output, report.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use baton_exec::{CommandSpec, ExecError, Outcome, UploadSpec};
use baton_model::{LOCAL_NODE, Upload, UploadSource, template};
use baton_store::{BlobStore, EventKind, FailureCause, Status, StepRef};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::RunContext;
use crate::emitter::Emitter;
use crate::targets::Targets;

/// Time between TERM and KILL when a command times out or is cancelled.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Shared by every step of a run.
pub struct StepEnv {
    pub rc: RunContext,
    pub emitter: Emitter,
    pub targets: Arc<dyn Targets>,
    pub blobs: BlobStore,
    pub http_cache: PathBuf,
    pub cancel: CancellationToken,
    pub log_limit: u64,
    /// Runs `infra:` steps; `None` when the binary did not provide one.
    pub infra: Option<Arc<dyn crate::infra::InfraRunner>>,
    /// Applies `config:` steps; `None` when the binary did not provide one.
    pub configs: Option<Arc<dyn crate::configs::ConfigApplier>>,
    /// Queues `notify:` steps' messages; `None` when the binary did not provide one.
    pub notifier: Option<Arc<dyn crate::notify::Notifier>>,
    /// The secrets each stage names (stage → NAME, value), loaded before any stage ran.
    pub secrets: std::collections::HashMap<String, Vec<(String, String)>>,
}

impl StepEnv {
    /// The executor of a step's target, run as its stage's `become` over its node's.
    fn executor_for(&self, step: &StepRef) -> Result<Arc<dyn baton_exec::Executor>, ExecError> {
        let over = self
            .rc
            .project
            .pipelines
            .get(&self.rc.pipeline)
            .and_then(|p| p.stages.get(&step.stage))
            .map(|s| s.r#become.clone())
            .unwrap_or_default();
        self.targets
            .executor_as(&step.target, &over, self.rc.env_name.as_deref())
    }
}

/// What a step does, borrowed from the model.
pub enum StepWork<'a> {
    Command(&'a str),
    Http(&'a baton_model::HttpRequest),
    Upload(&'a Upload),
    Infra(baton_model::InfraAction),
    Config(&'a str),
    Promote(&'a baton_model::Promote),
    Notify(&'a baton_model::NotifyStep),
}

#[derive(Debug, Clone)]
pub struct StepResult {
    pub status: Status,
    pub reason: Option<String>,
    pub cause: Option<FailureCause>,
}

impl StepResult {
    fn ok() -> Self {
        StepResult {
            status: Status::Success,
            reason: None,
            cause: None,
        }
    }

    pub(crate) fn failed(reason: impl Into<String>) -> Self {
        StepResult {
            status: Status::Failed,
            reason: Some(reason.into()),
            cause: None,
        }
    }
}

/// Run one step on `step.target`, with a deadline shared by the stage's steps on that target.
pub async fn run_step(
    env: &StepEnv,
    step: StepRef,
    work: StepWork<'_>,
    extra_env: &[(String, String)],
    deadline: Option<Instant>,
) -> StepResult {
    env.emitter
        .emit(EventKind::StepStarted { step: step.clone() });
    // Test hook (debug builds only): a step whose label contains the value panics, so the
    // suite can check that a panic fails its step and run instead of hanging them.
    #[cfg(debug_assertions)]
    if let Ok(needle) = std::env::var("BATON_TEST_PANIC_STEP")
        && !needle.is_empty()
        && step.label.contains(&needle)
    {
        panic!("BATON_TEST_PANIC_STEP matched `{}`", step.label);
    }
    let mut output = OutputCapture::new(env, &step);
    let facts = gather_facts(env, &step, &work).await;
    let result = if env.cancel.is_cancelled() {
        StepResult {
            status: Status::Cancelled,
            reason: Some("cancelled".into()),
            cause: None,
        }
    } else if let Err(reason) = facts {
        StepResult::failed(reason)
    } else {
        match work {
            StepWork::Command(script) => {
                run_command(env, &step, script, extra_env, deadline, &mut output).await
            }
            StepWork::Http(request) => {
                let ctx = env.rc.template_context(&step.target);
                let workspace = env.rc.workspace.clone();
                let cache = env.http_cache.clone();
                let mut sink = |line: &[u8]| output.push(line);
                match crate::http::run(
                    &baton_exec::http::client(),
                    request,
                    &ctx,
                    &workspace,
                    &cache,
                    &mut sink,
                    &env.cancel,
                    deadline,
                )
                .await
                {
                    Ok(()) => StepResult::ok(),
                    Err(crate::http::HttpFailure::Cancelled) => StepResult {
                        status: Status::Cancelled,
                        reason: Some("cancelled".into()),
                        cause: None,
                    },
                    Err(crate::http::HttpFailure::TimedOut) => StepResult {
                        status: Status::TimedOut,
                        reason: Some("timed out".into()),
                        cause: None,
                    },
                    Err(crate::http::HttpFailure::Failed(reason)) => StepResult::failed(reason),
                }
            }
            StepWork::Upload(spec) => match upload(env, &step, spec, &mut output).await {
                Ok(()) => StepResult::ok(),
                Err(reason) => StepResult::failed(reason),
            },
            StepWork::Infra(action) => match &env.infra {
                Some(runner) => {
                    let mut sink = |bytes: &[u8]| output.push(bytes);
                    match runner.run(action, &mut sink, &env.cancel).await {
                        Ok(()) => StepResult::ok(),
                        Err(reason) => StepResult::failed(reason),
                    }
                }
                None => {
                    StepResult::failed("the `infra` step is not available in this build of baton")
                }
            },
            StepWork::Config(name) => match &env.configs {
                Some(applier) => {
                    let run = env.rc.template_context(&step.target)["run"].clone();
                    let request = crate::configs::ConfigStep {
                        config: name,
                        env: env.rc.env_name.as_deref(),
                        target: &step.target,
                        vars: &env.rc.vars,
                        run,
                        mask: env.emitter.mask(),
                    };
                    let mut sink = |bytes: &[u8]| output.push(bytes);
                    match applier.apply(request, &mut sink, &env.cancel).await {
                        Ok(()) => StepResult::ok(),
                        Err(reason) => StepResult::failed(reason),
                    }
                }
                None => {
                    StepResult::failed("the `config` step is not available in this build of baton")
                }
            },
            StepWork::Promote(spec) => match promote(env, spec) {
                Ok(line) => {
                    output.push(line.as_bytes());
                    StepResult::ok()
                }
                Err(reason) => StepResult::failed(reason),
            },
            StepWork::Notify(spec) => match notify(env, &step, spec) {
                Ok(line) => {
                    output.push(format!("{line}\n").as_bytes());
                    StepResult::ok()
                }
                Err(reason) => StepResult::failed(reason),
            },
        }
    };
    output.finish();
    if let Some(reason) = &result.reason
        && result.status != Status::Success
        && result.status != Status::Cancelled
    {
        tracing_line(&env.emitter, &step, reason);
    }
    let (exit_code, signal) = output.exit;
    env.emitter.emit(EventKind::StepFinished {
        step,
        status: result.status,
        exit_code,
        signal,
        reason: result.reason.clone(),
        cause: result.cause,
    });
    result
}

/// Gather the target's facts first when the step's templates read `node.facts` (once per node
/// and run: the cache is the run's).
async fn gather_facts(env: &StepEnv, step: &StepRef, work: &StepWork<'_>) -> Result<(), String> {
    let uses = match work {
        StepWork::Command(script) => template::uses_facts(script),
        StepWork::Notify(spec) => spec
            .message
            .as_ref()
            .is_some_and(|m| template::uses_facts(&m.value)),
        StepWork::Infra(_) | StepWork::Config(_) | StepWork::Promote(_) => false,
        // Their templates are spread over many fields: their debug text holds every one.
        StepWork::Http(request) => format!("{request:?}").contains("node.facts"),
        StepWork::Upload(upload) => format!("{upload:?}").contains("node.facts"),
    };
    if !uses {
        return Ok(());
    }
    let executor = env
        .executor_for(step)
        .map_err(|e| format!("node.facts of `{}`: {e}", step.target))?;
    env.rc
        .facts
        .get(&step.target, executor.as_ref())
        .await
        .map(|_| ())
        .map_err(|e| format!("node.facts of `{}`: {e}", step.target))
}

/// Render the step's message with its context and queue it: the step succeeds once queued.
fn notify(env: &StepEnv, step: &StepRef, spec: &baton_model::NotifyStep) -> Result<String, String> {
    let Some(notifier) = &env.notifier else {
        return Err("the `notify` step is not available in this build of baton".into());
    };
    let message = match &spec.message {
        Some(text) => {
            let ctx = env.rc.template_context(&step.target);
            Some(template::render(&text.value, &ctx).map_err(|e| format!("message: {e}"))?)
        }
        None => None,
    };
    let channels: Vec<String> = spec.channels.iter().map(|c| c.value.clone()).collect();
    notifier.step_message(crate::notify::NotifyStepRequest {
        run: env.rc.run,
        pipeline: &env.rc.pipeline,
        stage: &step.stage,
        target: &step.target,
        channels: &channels,
        message: message.map(|m| env.emitter.mask().text(&m)),
    })
}

/// Put the failure reason at the end of the step's own log, where people look first.
fn tracing_line(emitter: &Emitter, step: &StepRef, reason: &str) {
    emitter.emit(EventKind::Output {
        step: step.clone(),
        data: format!("[baton] {reason}\n").into_bytes(),
    });
}

async fn run_command(
    env: &StepEnv,
    step: &StepRef,
    script: &str,
    extra_env: &[(String, String)],
    deadline: Option<Instant>,
    output: &mut OutputCapture<'_>,
) -> StepResult {
    let ctx = env.rc.template_context(&step.target);
    let script = match template::render(script, &ctx) {
        Ok(s) => s,
        Err(e) => {
            return StepResult::failed(format!("template error in `{script}`: {}", e.message));
        }
    };
    let executor = match env.executor_for(step) {
        Ok(x) => x,
        Err(e) => return StepResult::failed(e.to_string()),
    };
    let timeout = match deadline {
        Some(at) => {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return StepResult {
                    status: Status::TimedOut,
                    reason: Some("timed out".into()),
                    cause: None,
                };
            }
            Some(left)
        }
        None => None,
    };
    let mut vars = env.rc.command_env(&step.stage, &step.target);
    // Stage `env:` values are templates, rendered for this target.
    for (name, value) in extra_env {
        match template::render(value, &ctx) {
            Ok(rendered) => vars.push((name.clone(), rendered)),
            Err(e) => {
                return StepResult::failed(format!(
                    "template error in env `{name}`: {}",
                    e.message
                ));
            }
        }
    }
    // Secret values are not templates: a `{{` in a password must stay as it is. On nodes they
    // travel in the command line over the encrypted SSH channel; they are never stored.
    if let Some(secrets) = env.secrets.get(&step.stage) {
        vars.extend(secrets.iter().cloned());
    }
    let spec = CommandSpec {
        script,
        env: vars,
        cwd: (step.target == LOCAL_NODE).then(|| env.rc.workdir.clone()),
        timeout,
        grace: KILL_GRACE,
        run_as: None,
    };
    let store = env.emitter.store().clone();
    let run = env.emitter.run();
    let step_for_pgid = step.clone();
    let emitter = env.emitter.clone();
    let on_start = Box::new(move |pgid: Option<i32>| {
        if let Some(pgid) = pgid
            && let Err(e) = store.set_step_process_group(run, &step_for_pgid, pgid)
        {
            emitter.note_store_error(e);
        }
    });
    let on_output = Box::new(|chunk: &[u8]| output.push(chunk));
    let result = executor.run(&spec, on_start, on_output, &env.cancel).await;
    match result {
        Ok(info) => {
            output.exit = (info.code, info.signal);
            match info.outcome {
                Outcome::TimedOut => StepResult {
                    status: Status::TimedOut,
                    reason: Some(format!(
                        "timed out after {}; its process tree was killed",
                        // The deadline left is a hair under the limit written: show the limit.
                        human_duration(round_to_tenths(timeout.unwrap_or_default()))
                    )),
                    cause: None,
                },
                Outcome::Cancelled => StepResult {
                    status: Status::Cancelled,
                    reason: Some("cancelled".into()),
                    cause: None,
                },
                Outcome::Exited => match (info.code, info.signal) {
                    (Some(0), _) => StepResult::ok(),
                    (Some(code), _) => StepResult::failed(format!("exit code {code}")),
                    (None, Some(sig)) => StepResult::failed(format!("killed by signal {sig}")),
                    (None, None) => StepResult::failed("ended without an exit status"),
                },
            }
        }
        Err(ExecError::Unreachable(msg)) => StepResult {
            cause: Some(FailureCause::Unreachable),
            ..StepResult::failed(format!("unreachable: {msg}"))
        },
        Err(ExecError::Lost(msg)) => StepResult {
            cause: Some(FailureCause::OutcomeUnknown),
            ..StepResult::failed(format!("{OUTCOME_UNKNOWN}{msg}"))
        },
        Err(e) => StepResult::failed(e.to_string()),
    }
}

fn round_to_tenths(d: Duration) -> Duration {
    Duration::from_millis((d.as_millis() as u64).div_ceil(100) * 100)
}

/// The reason prefix of a step whose connection dropped mid-command.
pub const OUTCOME_UNKNOWN: &str = "outcome unknown: ";

pub fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

/// Copy a file or an artifact to a path on the target, atomically (temp file + rename).
async fn upload(
    env: &StepEnv,
    step: &StepRef,
    upload: &Upload,
    output: &mut OutputCapture<'_>,
) -> Result<(), String> {
    let ctx = env.rc.template_context(&step.target);
    let render = |text: &str| {
        template::render(text, &ctx).map_err(|e| format!("template error: {}", e.message))
    };
    let source: PathBuf = match &upload.source {
        UploadSource::Src(src) => env.rc.workdir.join(render(src)?),
        UploadSource::Artifact { name, from } => {
            crate::artifacts::locate(env, name, from.as_ref().map(|f| f.value.as_str()))?
        }
    };
    let mut dest = render(&upload.dest)?;
    // Relative destinations: the working directory locally, the login directory on nodes.
    if step.target == LOCAL_NODE && !dest.starts_with('/') {
        dest = env.rc.workdir.join(&dest).display().to_string();
    }
    let executor = env.executor_for(step).map_err(|e| e.to_string())?;
    let spec = UploadSpec {
        source: source.clone(),
        dest: dest.clone(),
        mode: upload.mode,
        owner: upload.owner.clone(),
        run_as: None,
    };
    executor.upload(&spec).await.map_err(|e| e.to_string())?;
    output.push(format!("uploaded {} → {}:{dest}\n", source.display(), step.target).as_bytes());
    Ok(())
}

/// The `promote:` step: the same promotion as `baton artifact promote`, from the run's own
/// environment's shelf, with the run recorded as the promoter. It never approves: an
/// `approval: manual` environment needs a person's `--approve`.
fn promote(env: &StepEnv, spec: &baton_model::Promote) -> Result<String, String> {
    use crate::promotion::{PromoteError, PromoteRequest, Promoted};
    let Some(from) = env.rc.env_name.clone() else {
        return Err(format!(
            "the `promote` step promotes from its run's environment shelf, and this run has no \
             environment: give the pipeline or stage an `env:` or run it with `--env` \
             (`{}` to `{}`)",
            spec.artifact.as_str(),
            spec.to.as_str()
        ));
    };
    let request = PromoteRequest {
        name: spec.artifact.as_str().to_string(),
        version: None,
        to: spec.to.as_str().to_string(),
        approve: false,
        from: Some(from),
        run: Some(env.rc.run),
    };
    let store = env.emitter.store();
    match crate::promotion::promote(&env.rc.project, store.as_ref(), &request) {
        Ok(Promoted::Recorded(r)) => Ok(format!(
            "promoted {}@{} {} → {}{}\n",
            r.name,
            r.version,
            r.from,
            r.env,
            r.tag.map(|t| format!(", tagged `{t}`")).unwrap_or_default()
        )),
        Ok(Promoted::AlreadyThere { name, version }) => Ok(format!(
            "{name}@{version} is already on the `{}` shelf: nothing to do\n",
            request.to
        )),
        Err(PromoteError::Refused {
            message,
            hint: Some(hint),
        }) => Err(format!("{message} ({hint})")),
        Err(e) => Err(e.to_string()),
    }
}

/// Sends a step's output to the event stream, keeping at most `log_limit` bytes.
struct OutputCapture<'a> {
    env: &'a StepEnv,
    step: &'a StepRef,
    kept: u64,
    dropped: u64,
    exit: (Option<i32>, Option<i32>),
}

impl<'a> OutputCapture<'a> {
    fn new(env: &'a StepEnv, step: &'a StepRef) -> Self {
        OutputCapture {
            env,
            step,
            kept: 0,
            dropped: 0,
            exit: (None, None),
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let room = self.env.log_limit.saturating_sub(self.kept) as usize;
        let keep = chunk.len().min(room);
        if keep > 0 {
            self.kept += keep as u64;
            self.env.emitter.emit(EventKind::Output {
                step: self.step.clone(),
                data: chunk[..keep].to_vec(),
            });
        }
        self.dropped += (chunk.len() - keep) as u64;
    }

    fn finish(&mut self) {
        if self.dropped > 0 {
            let note = format!(
                "\n[baton] output truncated: the log keeps {} MiB per step; {} more bytes were not stored\n",
                self.env.log_limit / (1024 * 1024),
                self.dropped
            );
            self.env.emitter.emit(EventKind::Output {
                step: self.step.clone(),
                data: note.into_bytes(),
            });
        }
    }
}
