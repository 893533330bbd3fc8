//! Run notices: a pipeline run's start and end (`notify: { on_failure, on_success, on_change,
//! on_start }`), and the messages of `notify:` steps.

use baton_model::Project;
use baton_store::{
    DeliveryFilter, DeliveryId, RunFilter, RunKind, RunRecord, Status, StepRecord, Store,
};
use serde_json::json;

use crate::NotifyError;
use crate::message::{Message, human_time, link};
use crate::queue::enqueue_message;

/// Lines of the failed step's log a failure notice quotes.
pub const LOG_TAIL_LINES: usize = 20;

/// Bytes read from the end of a log to find its last lines (a line longer than this is cut).
const LOG_TAIL_BYTES: usize = 16 * 1024;

/// The origin of a run's end notices: `run:42`.
pub fn run_origin(run: i64) -> String {
    format!("run:{run}")
}

/// The origin of a run's start notices: `run-start:42`.
pub fn run_start_origin(run: i64) -> String {
    format!("run-start:{run}")
}

/// The origin of a run's `notify:` step messages: `step:42`.
pub fn step_origin(run: i64) -> String {
    format!("step:{run}")
}

/// How a run ended, as `on_change` compares runs: a failure that is failed, timed out,
/// cancelled or interrupted is still a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Other,
}

fn outcome(status: Status) -> Outcome {
    match status {
        Status::Success => Outcome::Success,
        s if s.is_failure() => Outcome::Failure,
        _ => Outcome::Other,
    }
}

/// Queue the end notices of finished pipeline run `run`: one delivery per channel named by
/// `on_failure` (it failed), `on_success` (it succeeded) or `on_change` (its outcome differs
/// from the previous finished run of the pipeline), each channel once. Done once per run:
/// a second call finds the deliveries and queues nothing.
pub fn enqueue_run_end(
    store: &dyn Store,
    project: &Project,
    run: i64,
) -> Result<Vec<DeliveryId>, NotifyError> {
    if project.notifications.is_empty() {
        return Ok(Vec::new());
    }
    let Some(record) = store.run(run)? else {
        return Ok(Vec::new());
    };
    let Some(pipeline) = pipeline_of(project, &record) else {
        return Ok(Vec::new());
    };
    let notify = &pipeline.notify;
    if notify.on_failure.is_empty() && notify.on_success.is_empty() && notify.on_change.is_empty() {
        return Ok(Vec::new());
    }
    let now = outcome(record.status);
    let previous = previous_finished(store, &record)?;
    let changed = previous
        .as_ref()
        .is_some_and(|p| now != Outcome::Other && outcome(p.status) != now);
    let mut channels: Vec<String> = Vec::new();
    let lists = [
        (now == Outcome::Failure, &notify.on_failure),
        (now == Outcome::Success, &notify.on_success),
        (changed, &notify.on_change),
    ];
    for (applies, list) in lists {
        for channel in list.iter().filter(|_| applies) {
            if !channels.contains(&channel.value) {
                channels.push(channel.value.clone());
            }
        }
    }
    let origin = run_origin(run);
    if channels.is_empty() || already_queued(store, &origin)? {
        return Ok(Vec::new());
    }
    let message = end_message(store, project, &record, previous.as_ref(), changed)?;
    enqueue_message(store, project, &channels, &origin, &message)
}

/// Queue the start notices of pipeline run `run` (`on_start`), once.
pub fn enqueue_run_start(
    store: &dyn Store,
    project: &Project,
    run: i64,
) -> Result<Vec<DeliveryId>, NotifyError> {
    if project.notifications.is_empty() {
        return Ok(Vec::new());
    }
    let Some(record) = store.run(run)? else {
        return Ok(Vec::new());
    };
    let Some(pipeline) = pipeline_of(project, &record) else {
        return Ok(Vec::new());
    };
    let channels: Vec<String> = pipeline
        .notify
        .on_start
        .iter()
        .map(|c| c.value.clone())
        .collect();
    let origin = run_start_origin(run);
    if channels.is_empty() || already_queued(store, &origin)? {
        return Ok(Vec::new());
    }
    let link = link(project, &format!("/runs/{run}"));
    let subject = format!("[baton] {} #{run} started", record.name);
    let mut body = format!("Pipeline {} run #{run} started.\n", record.name);
    body.push_str(&run_facts(&record));
    if let Some(link) = &link {
        body.push_str(&format!("Link: {link}\n"));
    }
    let mut payload = run_payload(project, &record, link);
    payload["event"] = json!("started");
    let message = Message {
        subject,
        body,
        payload,
    };
    enqueue_message(store, project, &channels, &origin, &message)
}

/// What a `notify:` step queues.
pub struct StepNotice<'a> {
    pub run: i64,
    pub pipeline: &'a str,
    pub stage: &'a str,
    pub target: &'a str,
    /// The rendered `message`; `None` for the default.
    pub message: Option<String>,
}

/// Queue a `notify:` step's message on `channels`.
pub fn enqueue_step_message(
    store: &dyn Store,
    project: &Project,
    notice: &StepNotice<'_>,
    channels: &[String],
) -> Result<Vec<DeliveryId>, NotifyError> {
    let text = notice.message.clone().unwrap_or_else(|| {
        format!(
            "Pipeline {} run #{} reached its notify step in stage {}.",
            notice.pipeline, notice.run, notice.stage
        )
    });
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let first: String = first.trim().chars().take(120).collect();
    let subject = format!("[baton] {} #{}: {first}", notice.pipeline, notice.run);
    let link = link(project, &format!("/runs/{}", notice.run));
    let mut body = text.clone();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    body.push_str(&format!(
        "\nPipeline {} run #{}, stage {} on {}.\n",
        notice.pipeline, notice.run, notice.stage, notice.target
    ));
    if let Some(link) = &link {
        body.push_str(&format!("Link: {link}\n"));
    }
    let payload = json!({
        "kind": "step",
        "project": project.name.as_ref().map(|n| n.value.clone()),
        "pipeline": notice.pipeline,
        "run": notice.run,
        "stage": notice.stage,
        "node": notice.target,
        "message": text,
        "link": link,
    });
    let message = Message {
        subject,
        body,
        payload,
    };
    enqueue_message(store, project, channels, &step_origin(notice.run), &message)
}

fn pipeline_of<'p>(project: &'p Project, run: &RunRecord) -> Option<&'p baton_model::Pipeline> {
    (run.kind == RunKind::Pipeline)
        .then(|| project.pipelines.get(&run.name))
        .flatten()
}

fn already_queued(store: &dyn Store, origin: &str) -> Result<bool, NotifyError> {
    let found = store.deliveries(&DeliveryFilter {
        origin: Some(origin.to_string()),
        limit: Some(1),
        ..Default::default()
    })?;
    Ok(!found.is_empty())
}

/// The latest earlier run of the same pipeline that has finished (runs still going, or queued,
/// say nothing about a change).
fn previous_finished(store: &dyn Store, run: &RunRecord) -> Result<Option<RunRecord>, NotifyError> {
    let mut before = Some(run.id);
    loop {
        let page = store.runs(&RunFilter {
            name: Some(run.name.clone()),
            kind: Some(RunKind::Pipeline),
            limit: Some(50),
            before,
            ..Default::default()
        })?;
        if let Some(found) = page.iter().find(|r| r.status.is_finished()) {
            return Ok(Some(found.clone()));
        }
        match page.last() {
            Some(last) if page.len() == 50 => before = Some(last.id),
            _ => return Ok(None),
        }
    }
}

fn verb(status: Status) -> &'static str {
    match status {
        Status::Success => "succeeded",
        Status::Failed => "failed",
        Status::TimedOut => "timed out",
        Status::Cancelled => "was cancelled",
        Status::Interrupted => "was interrupted",
        Status::Skipped => "was skipped",
        Status::Queued | Status::Running => "has not finished",
    }
}

fn run_facts(run: &RunRecord) -> String {
    let mut facts = String::new();
    if let Some(env) = &run.env {
        facts.push_str(&format!("Environment: {env}\n"));
    }
    if let Some(branch) = &run.branch {
        facts.push_str(&format!("Branch: {branch}\n"));
    }
    if let Some(commit) = &run.commit {
        facts.push_str(&format!("Commit: {}\n", &commit[..commit.len().min(12)]));
    }
    facts.push_str(&format!("Trigger: {} by {}\n", run.trigger, run.actor));
    facts
}

fn run_payload(project: &Project, run: &RunRecord, link: Option<String>) -> serde_json::Value {
    json!({
        "kind": "run",
        "project": project.name.as_ref().map(|n| n.value.clone()),
        "pipeline": run.name,
        "run": run.id,
        "status": run.status.as_str(),
        "env": run.env,
        "branch": run.branch,
        "commit": run.commit,
        "trigger": run.trigger,
        "actor": run.actor,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "reason": run.reason,
        "link": link,
    })
}

/// The failed stage of a run and its first failed step (the last attempt of it).
fn failure_of(
    store: &dyn Store,
    run: &RunRecord,
) -> Result<Option<(String, Vec<StepRecord>)>, NotifyError> {
    let stages = store.stages(run.id)?;
    let failed = stages
        .iter()
        .find(|s| matches!(s.status, Status::Failed | Status::TimedOut))
        .or_else(|| stages.iter().find(|s| s.status.is_failure()));
    let Some(stage) = failed else {
        return Ok(None);
    };
    let steps: Vec<StepRecord> = store
        .steps(run.id)?
        .into_iter()
        .filter(|s| s.stage == stage.name && s.status.is_failure())
        .collect();
    Ok(Some((stage.name.clone(), steps)))
}

/// The last [`LOG_TAIL_LINES`] lines of a step's log (already masked by the engine).
fn log_tail(store: &dyn Store, step: &StepRecord) -> Result<Vec<String>, NotifyError> {
    let start = (step.log_bytes - LOG_TAIL_BYTES as i64).max(0);
    let bytes = store.log_read(step.id, start, LOG_TAIL_BYTES)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // The read began inside a line.
        lines.remove(0);
    }
    let keep = lines.len().saturating_sub(LOG_TAIL_LINES);
    Ok(lines[keep..].iter().map(|l| l.to_string()).collect())
}

fn end_message(
    store: &dyn Store,
    project: &Project,
    run: &RunRecord,
    previous: Option<&RunRecord>,
    changed: bool,
) -> Result<Message, NotifyError> {
    let link = link(project, &format!("/runs/{}", run.id));
    let change = match (changed, previous) {
        (true, Some(p)) if run.status == Status::Success => {
            format!(" (fixed: #{} {})", p.id, p.status)
        }
        (true, Some(p)) => format!(" (broken: #{} {})", p.id, p.status),
        _ => String::new(),
    };
    let subject = format!(
        "[baton] {} #{} {}{change}",
        run.name,
        run.id,
        verb(run.status)
    );
    let mut body = format!("Pipeline {} run #{} {}", run.name, run.id, verb(run.status));
    if let Some(ms) = run.duration_ms() {
        body.push_str(&format!(" after {}", duration(ms)));
    }
    body.push_str(".\n");
    body.push_str(&run_facts(run));
    if let Some(at) = run.finished_at {
        body.push_str(&format!("Finished: {}\n", human_time(at)));
    }
    if let Some(p) = previous.filter(|_| changed) {
        body.push_str(&format!("Previous run: #{} {}\n", p.id, p.status));
    }
    if let Some(reason) = &run.reason {
        body.push_str(&format!("Reason: {reason}\n"));
    }
    let mut payload = run_payload(project, run, link.clone());
    payload["event"] = json!("finished");
    payload["changed"] = json!(changed);
    payload["previous_status"] = json!(previous.map(|p| p.status.as_str()));
    if run.status.is_failure()
        && let Some((stage, steps)) = failure_of(store, run)?
    {
        body.push_str(&format!("Failed stage: {stage}\n"));
        payload["failed_stage"] = json!(stage);
        if let Some(step) = steps.first() {
            let reason = step.reason.as_deref().unwrap_or("failed");
            body.push_str(&format!(
                "Failed step: {} on {}: {reason}\n",
                step.label, step.target
            ));
            let others: Vec<&str> = steps[1..]
                .iter()
                .map(|s| s.target.as_str())
                .filter(|t| *t != step.target)
                .collect();
            if !others.is_empty() {
                body.push_str(&format!("Also failed on: {}\n", others.join(", ")));
            }
            let tail = log_tail(store, step)?;
            if !tail.is_empty() {
                body.push_str(&format!(
                    "\nLast {} lines of its log ({} on {}):\n",
                    tail.len(),
                    step.label,
                    step.target
                ));
                for line in &tail {
                    body.push_str(&format!("  {line}\n"));
                }
                body.push('\n');
            }
            payload["failed_step"] = json!({
                "label": step.label,
                "node": step.target,
                "reason": step.reason,
                "exit_code": step.exit_code,
                "log_tail": tail,
            });
        }
    }
    if let Some(link) = &link {
        body.push_str(&format!("Link: {link}\n"));
    }
    Ok(Message {
        subject,
        body,
        payload,
    })
}

/// `1m05s`, `12s`, `850ms`.
fn duration(ms: i64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms}ms"),
        ms if ms < 60_000 => format!("{}s", ms / 1_000),
        ms if ms < 3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1_000) % 60),
        ms => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}
