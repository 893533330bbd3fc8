//! `baton plan | apply | destroy | output | graph | state …` (SPEC §4, §8): the terminal side of
//! the infrastructure operations in `baton_ops::infra`. This file parses, calls and prints:
//! plans in Terraform's grammar (`+`, `~`, `-/+`, `-`, then `Plan: A to add, C to change, D to
//! destroy.`), progress rendered from the run's step events, `plan` exits 3 when changes are
//! pending.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use baton_engine::EventSink;
use baton_ops::infra::{Action, Change, Plan, PlanOptions, Progress, ProgressKind};
use baton_ops::infra::{WalkOutcome, WalkRequest};
use baton_store::{Event, EventKind, Status};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Failure, Style, Ui};
use crate::cli::{ApplyArgs, Cli, DestroyArgs, OutputArgs, PlanArgs, StateCommand};
use crate::output;
use baton_ops::NodeTargets;

/// `plan`: exit 3 when changes are pending (SPEC §8).
pub const EXIT_CHANGES: u8 = 3;

struct Session {
    app: App,
    targets: Arc<NodeTargets>,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    fn open(cli: &Cli, ui: &Ui) -> Result<Session, Failure> {
        let app = App::open(cli, ui)?;
        let targets = app.ops.targets();
        let runtime = crate::app::runtime()?;
        Ok(Session {
            app,
            targets,
            runtime,
        })
    }

    fn close(self) {
        let targets = self.targets.clone();
        self.runtime
            .block_on(async move { targets.disconnect_all().await });
        self.runtime.shutdown_background();
    }
}

pub fn plan(cli: &Cli, ui: &Ui, args: &PlanArgs) -> CommandResult {
    let session = Session::open(cli, ui)?;
    let infra = session.app.ops.infra(session.targets.clone());
    let nodes = match session.app.ops.limit_nodes(args.limit.as_deref()) {
        Ok(nodes) => nodes,
        Err(e) => {
            session.close();
            return Err(e.into());
        }
    };
    let options = PlanOptions {
        targets: args.target.clone(),
        destroy: false,
        nodes,
    };
    let planned = session
        .runtime
        .block_on(session.app.ops.infra_plan(&infra, &options));
    session.close();
    let planned = planned?;
    if args.json {
        output::print_json(&baton_ops::infra::plan_doc(&planned));
    } else {
        print_plan(ui, &planned);
    }
    Ok(if planned.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

pub fn apply(cli: &Cli, ui: &Ui, args: &ApplyArgs) -> CommandResult {
    let request = WalkRequest {
        destroy: false,
        targets: args.target.clone(),
        parallelism: args.parallelism.into(),
        actor: baton_ops::cli_actor(),
        limit: args.limit.clone(),
    };
    walk(cli, ui, request, args.auto_approve)
}

pub fn destroy(cli: &Cli, ui: &Ui, args: &DestroyArgs) -> CommandResult {
    let request = WalkRequest {
        destroy: true,
        targets: Vec::new(),
        parallelism: args.parallelism.into(),
        actor: baton_ops::cli_actor(),
        limit: None,
    };
    walk(cli, ui, request, args.auto_approve)
}

/// Lock, plan, ask, apply, summarise. The lock is held from before the plan to the last saved
/// resource, so what is applied is exactly what was shown.
fn walk(cli: &Cli, ui: &Ui, request: WalkRequest, auto_approve: bool) -> CommandResult {
    // Refuse before any work when nobody can answer the question.
    let verb = request.verb();
    let interactive = std::io::stdin().is_terminal();
    if !auto_approve && !interactive {
        return Err(Failure::usage(format!(
            "`baton {verb}` needs confirmation, and stdin is not a terminal"
        ))
        .with_hint(format!(
            "review with `baton plan`, then run `baton {verb} --auto-approve`"
        )));
    }
    let session = Session::open(cli, ui)?;
    let result = walk_in(&session, ui, request, auto_approve);
    session.close();
    result
}

fn walk_in(session: &Session, ui: &Ui, request: WalkRequest, auto_approve: bool) -> CommandResult {
    let ops = &session.app.ops;
    let verb = request.verb();
    let infra = ops.infra(session.targets.clone());
    let prepared = session
        .runtime
        .block_on(ops.infra_prepare(infra, request))?;
    if let Some(dead) = prepared.took_over() {
        eprintln!(
            "{}: {}",
            ui.paint(Style::Warn, "note"),
            baton_ops::infra::took_over_note(dead)
        );
    }
    print_plan(ui, &prepared.plan);
    if !prepared.plan.has_changes() {
        drop(prepared);
        print_outputs(session, ui);
        return Ok(EXIT_OK);
    }
    if !auto_approve {
        print!(
            "\nDo you want to perform these actions? Only `yes` will be accepted.\n  Enter a value: "
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if answer.trim() != "yes" {
            println!("{verb} cancelled: nothing was changed.");
            return Ok(EXIT_FAILED);
        }
    }
    println!();
    let view: Arc<dyn EventSink> = Arc::new(ProgressView {
        ui: *ui,
        verb,
        progress: Progress::default(),
    });
    let cancel = CancellationToken::new();
    let outcome = session.runtime.block_on(async {
        crate::commands::run::watch_signals(cancel.clone(), crate::commands::run::CANCELLING);
        prepared.apply(vec![view], &cancel).await
    })?;
    summarize(ui, &outcome, verb);
    if let Ok(recap) = session.app.ops.run_recap(outcome.run) {
        output::print_recap(ui, &recap);
    }
    if outcome.status == Status::Success {
        if verb == "apply" {
            print_outputs(session, ui);
        }
        Ok(EXIT_OK)
    } else {
        Ok(EXIT_FAILED)
    }
}

/// The terminal's view of an apply or destroy run: one line per resource start and end,
/// rendered by the same [`Progress`] as a pipeline step's log.
struct ProgressView {
    ui: Ui,
    verb: &'static str,
    progress: Progress,
}

impl EventSink for ProgressView {
    fn event(&self, event: &Event) {
        let mut out = std::io::stdout().lock();
        if let EventKind::RunStarted = event.kind {
            let _ = writeln!(
                out,
                "{}",
                self.ui.paint(
                    Style::Dim,
                    &format!(
                        "{} · run {} (`baton cancel {}` stops it)",
                        self.verb, event.run, event.run
                    )
                )
            );
            return;
        }
        let Some(line) = self.progress.line(event) else {
            return;
        };
        let style = match line.kind {
            ProgressKind::Started => None,
            ProgressKind::Done => Some(Style::Ok),
            ProgressKind::Failed => Some(Style::Bad),
            ProgressKind::Skipped | ProgressKind::Cancelled => Some(Style::Warn),
        };
        let head = match style {
            Some(style) => self.ui.paint(style, &line.head),
            None => line.head.clone(),
        };
        let tail = match (&line.tail, line.kind) {
            (Some(t), ProgressKind::Done) => format!(" {}", self.ui.paint(Style::Dim, t)),
            (Some(t), _) => format!(" {t}"),
            (None, _) => String::new(),
        };
        let _ = writeln!(out, "{}: {head}{tail}", line.resource);
    }
}

fn summarize(ui: &Ui, outcome: &WalkOutcome, verb: &str) {
    let report = &outcome.report;
    println!();
    let title = if verb == "destroy" {
        "Destroy"
    } else {
        "Apply"
    };
    if outcome.status == Status::Success {
        println!(
            "{} Resources: {} added, {} changed, {} destroyed.",
            ui.paint(Style::Ok, &format!("{title} complete!")),
            report.added,
            report.changed,
            report.destroyed
        );
        return;
    }
    let word = if report.cancelled {
        "cancelled"
    } else {
        "failed"
    };
    println!(
        "{} Resources: {} added, {} changed, {} destroyed; {} failed, {} not attempted.",
        ui.paint(Style::Bad, &format!("{title} {word}.")),
        report.added,
        report.changed,
        report.destroyed,
        report.failed.len(),
        report.skipped.len()
    );
    for (id, error) in &report.failed {
        eprintln!(
            "{}: resource `{id}`: {error}",
            ui.paint(Style::Bad, "error")
        );
    }
    eprintln!(
        "  {}: what succeeded is saved in the state (run {}: `baton logs {}`); fix the cause and run `baton {verb}` again",
        ui.paint(Style::Accent, "hint"),
        outcome.run,
        outcome.run
    );
}

fn print_outputs(session: &Session, ui: &Ui) {
    if session.app.project.outputs.is_empty() {
        return;
    }
    match session.app.ops.infra_outputs() {
        Ok(outputs) => {
            println!("\nOutputs:\n");
            for (name, value) in outputs {
                println!(
                    "{} = {}",
                    ui.paint(Style::Bold, &name),
                    show(&Value::String(value))
                );
            }
        }
        Err(e) => eprintln!("{}: {e}", ui.paint(Style::Warn, "warning")),
    }
}

/// A value as the plan shows it: JSON, long strings shortened, newlines escaped.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 72 {
        let short: String = text.chars().take(69).collect();
        format!("{short}…\"")
    } else {
        text
    }
}

fn print_plan(ui: &Ui, plan: &Plan) {
    let mut out = std::io::stdout().lock();
    let pending: Vec<&Change> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    if pending.is_empty() {
        let _ = writeln!(
            out,
            "{} The infrastructure matches the project ({} resources).",
            ui.paint(Style::Ok, "No changes."),
            plan.changes.len()
        );
        return;
    }
    let _ = writeln!(out, "baton will perform these actions:\n");
    for change in pending {
        let style = match change.action {
            Action::Create => Style::Ok,
            Action::Update => Style::Warn,
            Action::Replace | Action::Destroy => Style::Bad,
            Action::NoOp => Style::Dim,
        };
        let node = if change.node == baton_model::LOCAL_NODE {
            String::new()
        } else {
            format!(" on {}", change.node)
        };
        let reason = change
            .reason
            .as_ref()
            .map(|r| ui.paint(Style::Dim, &format!("  # {r}")))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {} ({}{node}) will be {}{reason}",
            ui.paint(style, change.action.symbol()),
            ui.paint(Style::Bold, &change.id),
            change.kind,
            match change.action {
                Action::Create => "created",
                Action::Update => "updated in place",
                Action::Replace => "replaced",
                Action::Destroy => "destroyed",
                Action::NoOp => "left alone",
            }
        );
        let explained = change.attributes.iter().any(|a| !a.computed);
        for attr in change
            .attributes
            .iter()
            .filter(|a| !(a.computed && explained))
        {
            let after = attr
                .after
                .as_ref()
                .map(show)
                .unwrap_or_else(|| "null".into());
            let line = match (&attr.before, change.action) {
                (_, Action::Create) => format!("+ {} = {after}", attr.name),
                (None, _) => format!("+ {} = {after}", attr.name),
                (Some(before), _) => format!("~ {} = {} → {after}", attr.name, show(before)),
            };
            let forces = if attr.forces_replace {
                ui.paint(Style::Bad, "  # forces replacement")
            } else {
                String::new()
            };
            let _ = writeln!(out, "      {line}{forces}");
        }
        let _ = writeln!(out);
    }
    let (add, change, destroy) = plan.counts();
    let _ = writeln!(
        out,
        "{} {add} to add, {change} to change, {destroy} to destroy.",
        ui.paint(Style::Bold, "Plan:")
    );
    if plan.partial {
        let _ = writeln!(
            out,
            "{}",
            ui.paint(
                Style::Warn,
                "note: --target limits this plan to part of the project"
            )
        );
    }
}

pub fn output_cmd(cli: &Cli, ui: &Ui, args: &OutputArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    match &args.name {
        Some(name) => {
            let value = app.ops.infra_output(name)?;
            if args.json {
                output::print_json(&value);
            } else {
                println!("{value}");
            }
        }
        None => {
            let outputs = app.ops.infra_outputs()?;
            if args.json {
                output::print_json(&outputs);
            } else {
                for (name, value) in &outputs {
                    println!("{name} = {}", show(&Value::String(value.clone())));
                }
            }
        }
    }
    Ok(EXIT_OK)
}

pub fn graph(cli: &Cli) -> CommandResult {
    let project = crate::app::load_project(cli)?;
    print!("{}", baton_ops::infra::graph(&project));
    Ok(EXIT_OK)
}

pub fn state(cli: &Cli, ui: &Ui, command: &StateCommand) -> CommandResult {
    let app = App::open(cli, ui)?;
    let ops = &app.ops;
    match command {
        StateCommand::List(args) => {
            let entries = ops.state_list()?;
            if args.json {
                output::print_json(&entries);
            } else if entries.is_empty() {
                println!("The state is empty.");
            } else {
                let mut table = output::Table::new(&["RESOURCE", "TYPE", "NODE", "UPDATED"]);
                for r in &entries {
                    table.row(vec![
                        r.id.clone(),
                        r.kind.clone(),
                        r.node.clone(),
                        output::time(r.updated_at),
                    ]);
                }
                print!("{}", table.render(ui));
            }
        }
        StateCommand::Show(args) => {
            let r = ops.state_show(&args.id)?;
            if args.json {
                output::print_json(&r);
            } else {
                println!(
                    "{} ({}) on {}",
                    ui.paint(Style::Bold, &r.id),
                    r.kind,
                    r.node
                );
                for (k, v) in &r.attributes {
                    println!("  {k} = {}", show(v));
                }
                if !r.depends_on.is_empty() {
                    println!("  depends on: {}", r.depends_on.join(", "));
                }
            }
        }
        StateCommand::Rm(args) => {
            let serial = ops.state_rm(&args.id, &baton_ops::cli_actor())?;
            println!(
                "Removed `{}` from the state (serial {serial}); the real object is left as it is.",
                args.id
            );
        }
        StateCommand::Unlock(args) => {
            match ops.state_unlock(args.force, &baton_ops::cli_actor())? {
                None => println!("The state is not locked."),
                Some(lock) => println!(
                    "Broke the state lock held by {}.",
                    baton_ops::infra::describe_lock(&lock)
                ),
            }
        }
        StateCommand::History(args) => {
            let history = ops.state_history(args.limit)?;
            if args.json {
                output::print_json(&history);
            } else if history.is_empty() {
                println!("No changes recorded.");
            } else {
                let mut table =
                    output::Table::new(&["SERIAL", "WHEN", "WHO", "ACTION", "RESOURCE", "TYPE"]);
                for h in &history {
                    table.row(vec![
                        h.serial.to_string(),
                        output::time(h.at),
                        h.who.clone(),
                        h.action.clone(),
                        h.resource.clone(),
                        h.kind.clone(),
                    ]);
                }
                print!("{}", table.render(ui));
            }
        }
        StateCommand::Pull => output::print_json(&ops.state_pull()?),
    }
    Ok(EXIT_OK)
}
