//! `baton run`, `baton retry`, `baton rollback`: a run with live progress; the exit code is
//! whether it succeeded (130 when it was cancelled, as a shell reports an interrupted command).

use std::sync::Arc;

use baton_ops::api::runs::RunResult;
use baton_ops::runs::{RunAction, StartRun, parse_vars};
use baton_store::Status;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Style, Ui};
use crate::cli::{Cli, RetryArgs, RollbackArgs, RunArgs};
use crate::live::LiveView;
use crate::output;

/// Exit code of a cancelled run.
pub const EXIT_CANCELLED: u8 = 130;

pub fn run(cli: &Cli, ui: &Ui, args: &RunArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let action = RunAction::Run(StartRun {
        pipeline: args.pipeline.clone(),
        env: args.env.clone(),
        vars: parse_vars(&args.vars)?,
        trigger: "manual".into(),
        actor: baton_ops::cli_actor(),
        limit: args.limit.clone(),
        ..StartRun::default()
    });
    drive(&app, ui, action, args.verbose)
}

pub fn retry(cli: &Cli, ui: &Ui, args: &RetryArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let action = RunAction::Retry {
        run: args.run,
        actor: baton_ops::cli_actor(),
        limit: args.limit.clone(),
    };
    drive(&app, ui, action, args.verbose)
}

pub fn rollback(cli: &Cli, ui: &Ui, args: &RollbackArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let action = RunAction::Rollback {
        run: args.run,
        actor: baton_ops::cli_actor(),
        force: args.force,
        limit: args.limit.clone(),
    };
    drive(&app, ui, action, false)
}

/// Run `action` with live progress and Ctrl-C / SIGTERM cancelling it.
fn drive(app: &App, ui: &Ui, action: RunAction, verbose: bool) -> CommandResult {
    let plan = app.ops.plan_run(action)?;
    let mut header = format!(
        "{} {}",
        ui.paint(Style::Bold, "▶"),
        ui.paint(Style::Bold, &plan.pipeline)
    );
    if let Some(env) = &plan.env {
        header.push_str(&format!(" · env {env}"));
    }
    let widths: Vec<usize> = plan.stages.iter().map(|k| k.chars().count()).collect();
    let live = Arc::new(LiveView::new(*ui, header, verbose, widths.into_iter()));
    let targets = app.ops.targets();
    let runtime = crate::app::runtime()?;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone(), CANCELLING);
        app.ops
            .execute(plan, targets, vec![live.clone()], cancel)
            .await
    })?;
    let code = summarize(ui, &result);
    // The result is decided (and printed): notifications cannot change it.
    let deliveries = runtime.block_on(
        app.ops
            .deliver_run_notifications(result.run, baton_ops::notify::RUN_DELIVERY_BOUND),
    );
    runtime.shutdown_background();
    if let Ok(recap) = app.ops.run_recap(result.run) {
        output::print_recap(ui, &recap);
    }
    report_deliveries(ui, &deliveries);
    Ok(code)
}

/// One line per notification that did not go out; a sent one needs no words.
fn report_deliveries(ui: &Ui, deliveries: &[baton_ops::api::notify::Delivery]) {
    for d in deliveries.iter().filter(|d| d.status != "sent") {
        let why = d.last_error.as_deref().unwrap_or("not tried yet");
        let what = match d.status.as_str() {
            "failed" => format!("notification to {} failed: {why}", d.channel),
            _ => format!(
                "notification to {} is still queued ({why}); `baton serve` or `baton monitor` will retry it",
                d.channel
            ),
        };
        eprintln!("  {}", ui.paint(Style::Warn, &what));
    }
}

/// What the first Ctrl-C of a run, an apply or an exec says.
pub const CANCELLING: &str =
    "\ncancelling: stopping running steps (press Ctrl-C again to exit at once)";

/// First Ctrl-C or SIGTERM prints `first` and cancels cleanly; a second one exits at once.
pub fn watch_signals(cancel: CancellationToken, first: &'static str) {
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
                eprintln!("{first}");
                cancel.cancel();
            } else {
                std::process::exit(130);
            }
        }
    });
}

fn summarize(ui: &Ui, result: &RunResult) -> u8 {
    let word = match result.status {
        Status::Success => "succeeded",
        Status::Cancelled => "was cancelled",
        Status::TimedOut => "timed out",
        _ => "failed",
    };
    let mark = ui.paint(
        output::status_style(result.status),
        output::mark(result.status),
    );
    let took = result
        .duration_ms
        .map(|ms| format!(" in {}", output::duration(ms)))
        .unwrap_or_default();
    let mut line = format!(
        "{mark} {} {word}{took} (run {})",
        result.pipeline, result.run
    );
    if let Some(reason) = &result.reason
        && result.status != Status::Success
    {
        line.push_str(&format!(": {reason}"));
    }
    println!("{line}");
    match result.status {
        Status::Success => return EXIT_OK,
        Status::Cancelled => return EXIT_CANCELLED,
        _ => {}
    }
    if let Some(stage) = &result.failed_stage {
        println!(
            "  {}",
            ui.paint(
                Style::Dim,
                &format!("full log: baton logs {} --stage {stage}", result.run)
            )
        );
    }
    EXIT_FAILED
}
