//! `baton run`, `baton retry`, `baton rollback`: a run with live progress; the exit code is
//! whether it succeeded.

use std::future::Future;
use std::sync::Arc;

use baton_engine::{Engine, RunOutcome, RunRequest};
use baton_store::Status;
use indexmap::IndexMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Failure, Style, Ui};
use crate::cli::{Cli, RetryArgs, RunArgs, RunRef};
use crate::live::LiveView;
use crate::output;

pub fn run(cli: &Cli, ui: &Ui, args: &RunArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let vars = parse_vars(&args.vars)?;
    let pipeline = app.project.pipelines.get(&args.pipeline).ok_or_else(|| {
        let suggestion = baton_model::diagnostic::did_you_mean(
            &args.pipeline,
            app.project.pipelines.keys().map(String::as_str),
        );
        let failure = Failure::usage(format!("no pipeline named `{}`", args.pipeline));
        match suggestion {
            Some(s) => failure.with_hint(format!("did you mean `{s}`?")),
            None => failure.with_hint(format!(
                "pipelines: {}",
                app.project
                    .pipelines
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    })?;
    let request = RunRequest {
        pipeline: args.pipeline.clone(),
        env: args.env.clone(),
        vars,
        trigger: "manual".into(),
        branch: None,
        commit: None,
        actor: baton_ops::cli_actor(),
    };
    let env_label = args
        .env
        .clone()
        .or_else(|| pipeline.env.as_ref().map(|e| e.value.clone()));
    let name = pipeline.name.clone();
    drive(
        &app,
        ui,
        &name,
        env_label,
        args.verbose,
        |engine, cancel| async move { engine.run(request, cancel).await },
    )
}

pub fn retry(cli: &Cli, ui: &Ui, args: &RetryArgs) -> CommandResult {
    let run = args.run;
    rerun(
        cli,
        ui,
        run,
        args.verbose,
        move |engine, cancel| async move { engine.retry(run, baton_ops::cli_actor(), cancel).await },
    )
}

pub fn rollback(cli: &Cli, ui: &Ui, args: &RunRef) -> CommandResult {
    let run = args.run;
    rerun(cli, ui, run, false, move |engine, cancel| async move {
        engine.rollback(run, baton_ops::cli_actor(), cancel).await
    })
}

/// Work that starts from an earlier run, shown under that run's pipeline and environment.
fn rerun<F, Fut>(cli: &Cli, ui: &Ui, run: i64, verbose: bool, work: F) -> CommandResult
where
    F: FnOnce(Arc<Engine>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<RunOutcome, baton_engine::EngineError>>,
{
    let app = App::open(cli, ui)?;
    let original = app.store.run(run)?.ok_or_else(|| {
        Failure::usage(format!("no run {run}")).with_hint("`baton runs` lists them")
    })?;
    drive(
        &app,
        ui,
        &original.name,
        original.env.clone(),
        verbose,
        work,
    )
}

/// Run `work` on a fresh engine with live progress and Ctrl-C / SIGTERM cancelling it.
fn drive<F, Fut>(
    app: &App,
    ui: &Ui,
    pipeline: &str,
    env: Option<String>,
    verbose: bool,
    work: F,
) -> CommandResult
where
    F: FnOnce(Arc<Engine>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<RunOutcome, baton_engine::EngineError>>,
{
    let stage_widths = app
        .project
        .pipelines
        .get(pipeline)
        .map(|p| {
            p.stages
                .keys()
                .map(|k| k.chars().count())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let mut header = format!(
        "{} {}",
        ui.paint(Style::Bold, "▶"),
        ui.paint(Style::Bold, pipeline)
    );
    if let Some(env) = &env {
        header.push_str(&format!(" · env {env}"));
    }
    let live = Arc::new(LiveView::new(
        *ui,
        header,
        verbose,
        stage_widths.into_iter(),
    ));
    let targets = app.ops.targets();
    let engine = Arc::new(app.ops.engine(targets.clone(), vec![live.clone()]));
    let runtime = crate::app::runtime()?;
    let outcome = runtime.block_on(async {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone());
        let outcome = work(engine, cancel).await;
        targets.disconnect_all().await;
        outcome
    })?;
    runtime.shutdown_background();
    summarize(app, ui, pipeline, &outcome)
}

/// First Ctrl-C or SIGTERM cancels the run cleanly; a second one stops waiting.
pub fn watch_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        for round in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!(
                    "\ncancelling: stopping running steps (press Ctrl-C again to exit at once)"
                );
                cancel.cancel();
            } else {
                std::process::exit(130);
            }
        }
    });
}

fn summarize(app: &App, ui: &Ui, pipeline: &str, outcome: &RunOutcome) -> CommandResult {
    let record = app.store.run(outcome.run)?;
    let took = record
        .as_ref()
        .and_then(|r| r.duration_ms())
        .map(output::duration)
        .unwrap_or_default();
    let word = match outcome.status {
        Status::Success => "succeeded",
        Status::Cancelled => "was cancelled",
        Status::TimedOut => "timed out",
        _ => "failed",
    };
    let mark = ui.paint(
        output::status_style(outcome.status),
        output::mark(outcome.status),
    );
    let took = if took.is_empty() {
        String::new()
    } else {
        format!(" in {took}")
    };
    let mut line = format!("{mark} {pipeline} {word}{took} (run {})", outcome.run);
    if let Some(reason) = &outcome.reason
        && outcome.status != Status::Success
    {
        line.push_str(&format!(": {reason}"));
    }
    println!("{line}");
    if outcome.status == Status::Success {
        return Ok(EXIT_OK);
    }
    if let Some(stage) = first_failed_stage(app, outcome.run) {
        println!(
            "  {}",
            ui.paint(
                Style::Dim,
                &format!("full log: baton logs {} --stage {stage}", outcome.run)
            )
        );
    }
    Ok(EXIT_FAILED)
}

fn first_failed_stage(app: &App, run: i64) -> Option<String> {
    let stages = app.store.stages(run).ok()?;
    stages
        .into_iter()
        .find(|s| s.status.is_failure() && s.status != Status::Cancelled)
        .map(|s| s.name)
}

fn parse_vars(items: &[String]) -> Result<IndexMap<String, Value>, Failure> {
    let mut vars = IndexMap::new();
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            return Err(Failure::usage(format!(
                "invalid `--var {item}`: write `--var NAME=VALUE`"
            )));
        };
        if name.trim().is_empty() {
            return Err(Failure::usage(format!(
                "invalid `--var {item}`: the name is empty"
            )));
        }
        vars.insert(name.trim().to_string(), Value::String(value.to_string()));
    }
    Ok(vars)
}
