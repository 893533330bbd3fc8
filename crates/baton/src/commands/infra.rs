//! `baton plan | apply | destroy | output | graph | state …` (SPEC §4, §8): the terminal side of
//! `baton-infra`. Plans print in Terraform's grammar (`+`, `~`, `-/+`, `-`, then
//! `Plan: A to add, C to change, D to destroy.`); `plan` exits 3 when changes are pending.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use baton_infra::{
    Action, ApplyEvent, ApplyReport, Change, Infra, InfraError, Plan, PlanOptions, StateLock,
};
use baton_store::LockInfo;
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
    infra: Infra,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    fn open(cli: &Cli, ui: &Ui) -> Result<Session, Failure> {
        let app = App::open(cli, ui)?;
        let targets = Arc::new(NodeTargets::new(&app.project));
        let runtime = crate::app::runtime()?;
        let infra = Infra::new(
            app.project.clone(),
            app.store.clone(),
            targets.clone(),
            app.state_dir.clone(),
            CancellationToken::new(),
        );
        Ok(Session {
            app,
            targets,
            infra,
            runtime,
        })
    }

    fn plan(&self, options: &PlanOptions) -> Result<Plan, Failure> {
        self.runtime
            .block_on(baton_infra::plan(&self.infra, options))
            .map_err(failure)
    }

    fn close(self) {
        let targets = self.targets.clone();
        self.runtime
            .block_on(async move { targets.disconnect_all().await });
        self.runtime.shutdown_background();
    }
}

/// Errors of the infrastructure engine, classified for exit codes.
fn failure(e: InfraError) -> Failure {
    match e {
        InfraError::Invalid(d) => Failure::Invalid(d),
        InfraError::UnknownTarget { .. } | InfraError::Output { .. } => {
            Failure::usage(e.to_string())
        }
        InfraError::Locked(lock) => locked(&lock),
        InfraError::Store(s) => s.into(),
        other => Failure::failed(other.to_string()),
    }
}

fn locked(lock: &LockInfo) -> Failure {
    let holder = baton_infra::describe_lock(lock);
    if lock.is_stale() {
        Failure::failed(format!(
            "the state is locked by a process that died: {holder}"
        ))
        .with_hint("nothing is applying; run `baton state unlock` to break the stale lock")
    } else {
        Failure::failed(format!(
            "another apply or destroy is running: the state lock is held by {holder}"
        ))
        .with_hint(
            "wait for it to finish; `baton state unlock` only breaks locks of dead processes",
        )
    }
}

/// What runs `infra: plan | apply` steps of pipelines: the same engine, auto-approved (the
/// pipeline is the approval), holding the same lock as `baton apply`.
pub fn plan(cli: &Cli, ui: &Ui, args: &PlanArgs) -> CommandResult {
    let session = Session::open(cli, ui)?;
    let planned = session.plan(&PlanOptions {
        targets: args.target.clone(),
        destroy: false,
    });
    session.close();
    let planned = planned?;
    if args.json {
        let (add, change, destroy) = planned.counts();
        let changes: Vec<&Change> = planned
            .changes
            .iter()
            .filter(|c| c.action != Action::NoOp)
            .collect();
        output::print_json(&serde_json::json!({
            "lineage": planned.lineage,
            "serial": planned.serial,
            "changes": changes,
            "summary": { "add": add, "change": change, "destroy": destroy },
        }));
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
    let options = PlanOptions {
        targets: args.target.clone(),
        destroy: false,
    };
    walk(
        cli,
        ui,
        options,
        args.auto_approve,
        args.parallelism.into(),
        "apply",
    )
}

pub fn destroy(cli: &Cli, ui: &Ui, args: &DestroyArgs) -> CommandResult {
    let options = PlanOptions {
        targets: Vec::new(),
        destroy: true,
    };
    walk(
        cli,
        ui,
        options,
        args.auto_approve,
        args.parallelism.into(),
        "destroy",
    )
}

/// Lock, plan, ask, apply, summarise. The lock is held from before the plan to the last saved
/// resource, so what is applied is exactly what was shown.
fn walk(
    cli: &Cli,
    ui: &Ui,
    options: PlanOptions,
    auto_approve: bool,
    parallelism: usize,
    verb: &str,
) -> CommandResult {
    let session = Session::open(cli, ui)?;
    let result = walk_in(&session, ui, options, auto_approve, parallelism, verb);
    session.close();
    result
}

fn walk_in(
    session: &Session,
    ui: &Ui,
    options: PlanOptions,
    auto_approve: bool,
    parallelism: usize,
    verb: &str,
) -> CommandResult {
    // Refuse before any work when nobody can answer the question.
    let interactive = std::io::stdin().is_terminal();
    if !auto_approve && !interactive {
        return Err(Failure::usage(format!(
            "`baton {verb}` needs confirmation, and stdin is not a terminal"
        ))
        .with_hint(format!(
            "review with `baton plan`, then run `baton {verb} --auto-approve`"
        )));
    }
    let _lock = StateLock::acquire(session.app.store.clone(), verb).map_err(failure)?;
    let planned = session.plan(&options)?;
    print_plan(ui, &planned);
    if !planned.has_changes() {
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
    let cancel = session.infra.ctx.cancel.clone();
    let ui_copy = *ui;
    let on_event = Arc::new(move |event: ApplyEvent| print_event(&ui_copy, &event));
    let report = session.runtime.block_on(async {
        crate::commands::run::watch_signals(cancel);
        baton_infra::apply(&session.infra, &planned, parallelism, on_event).await
    });
    summarize(ui, &report, verb);
    if report.ok() {
        if verb == "apply" {
            print_outputs(session, ui);
        }
        Ok(EXIT_OK)
    } else {
        Ok(EXIT_FAILED)
    }
}

fn print_event(ui: &Ui, event: &ApplyEvent) {
    let mut out = std::io::stdout().lock();
    let _ = match event {
        ApplyEvent::Started { id, action } => writeln!(out, "{id}: {}…", progressive(*action)),
        ApplyEvent::Finished {
            id,
            action,
            elapsed_ms,
        } => writeln!(
            out,
            "{id}: {} {}",
            ui.paint(Style::Ok, &format!("{} complete", noun(*action))),
            ui.paint(
                Style::Dim,
                &format!("after {}", output::duration(*elapsed_ms as i64))
            )
        ),
        ApplyEvent::Failed { id, error, .. } => {
            writeln!(out, "{id}: {} {error}", ui.paint(Style::Bad, "failed:"))
        }
        ApplyEvent::Skipped { id, reason } => {
            writeln!(out, "{id}: {} {reason}", ui.paint(Style::Warn, "skipped:"))
        }
    };
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::Update => "modifying",
        Action::Replace => "replacing",
        Action::Destroy => "destroying",
        Action::NoOp => "checking",
    }
}

fn noun(action: Action) -> &'static str {
    match action {
        Action::Create => "creation",
        Action::Update => "modifications",
        Action::Replace => "replacement",
        Action::Destroy => "destruction",
        Action::NoOp => "check",
    }
}

fn summarize(ui: &Ui, report: &ApplyReport, verb: &str) {
    println!();
    let title = if verb == "destroy" {
        "Destroy"
    } else {
        "Apply"
    };
    if report.ok() {
        println!(
            "{} Resources: {} added, {} changed, {} destroyed.",
            ui.paint(Style::Ok, &format!("{title} complete!")),
            report.added,
            report.changed,
            report.destroyed
        );
        return;
    }
    println!(
        "{} Resources: {} added, {} changed, {} destroyed; {} failed, {} not attempted.",
        ui.paint(Style::Bad, &format!("{title} failed.")),
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
        "  {}: what succeeded is saved in the state; fix the cause and run `baton {verb}` again",
        ui.paint(Style::Accent, "hint")
    );
}

fn print_outputs(session: &Session, ui: &Ui) {
    if session.app.project.outputs.is_empty() {
        return;
    }
    match session.infra.outputs() {
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
    let session = Session::open(cli, ui)?;
    let outputs = session.infra.outputs();
    session.close();
    let outputs = outputs.map_err(failure)?;
    match &args.name {
        Some(name) => {
            let value = outputs.get(name).ok_or_else(|| {
                let mut f = Failure::usage(format!("no output named `{name}`"));
                if let Some(s) =
                    baton_model::diagnostic::did_you_mean(name, outputs.keys().map(String::as_str))
                {
                    f = f.with_hint(format!("did you mean `{s}`?"));
                }
                f
            })?;
            if args.json {
                output::print_json(value);
            } else {
                println!("{value}");
            }
        }
        None if args.json => output::print_json(&outputs),
        None => {
            for (name, value) in &outputs {
                println!("{name} = {}", show(&Value::String(value.clone())));
            }
        }
    }
    Ok(EXIT_OK)
}

pub fn graph(cli: &Cli) -> CommandResult {
    let project = crate::app::load_project(cli)?;
    print!("{}", baton_infra::dot(&project));
    Ok(EXIT_OK)
}

pub fn state(cli: &Cli, ui: &Ui, command: &StateCommand) -> CommandResult {
    let app = App::open(cli, ui)?;
    let registry = baton_infra::Registry::builtin();
    let sensitive = |kind: &str, attr: &str| {
        registry
            .get(kind)
            .is_some_and(|t| t.attributes().iter().any(|a| a.name == attr && a.sensitive))
    };
    match command {
        StateCommand::List(args) => {
            let state = app.store.infra_state()?;
            if args.json {
                let rows: Vec<Value> = state
                    .resources
                    .iter()
                    .map(|r| serde_json::json!({"id": r.id, "type": r.kind, "node": r.node, "serial": r.serial}))
                    .collect();
                output::print_json(&rows);
            } else if state.resources.is_empty() {
                println!("The state is empty.");
            } else {
                let mut table = output::Table::new(&["RESOURCE", "TYPE", "NODE", "UPDATED"]);
                for r in &state.resources {
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
            let state = app.store.infra_state()?;
            let Some(r) = state.resources.iter().find(|r| r.id == args.id) else {
                return Err(Failure::usage(format!("`{}` is not in the state", args.id))
                    .with_hint("`baton state list` shows what is"));
            };
            let mut attrs = r.attrs.clone();
            for (k, v) in attrs.iter_mut() {
                if sensitive(&r.kind, k) {
                    *v = Value::String("(sensitive value)".into());
                }
            }
            if args.json {
                output::print_json(&serde_json::json!({
                    "id": r.id, "type": r.kind, "node": r.node, "attributes": attrs,
                    "depends_on": r.depends_on, "serial": r.serial,
                }));
            } else {
                println!(
                    "{} ({}) on {}",
                    ui.paint(Style::Bold, &r.id),
                    r.kind,
                    r.node
                );
                for (k, v) in &attrs {
                    println!("  {k} = {}", show(v));
                }
                if !r.depends_on.is_empty() {
                    println!("  depends on: {}", r.depends_on.join(", "));
                }
            }
        }
        StateCommand::Rm(args) => {
            let _lock = StateLock::acquire(app.store.clone(), "state rm").map_err(failure)?;
            let who = baton_store::Owner::current().who();
            match app.store.remove_resource(&args.id, "rm", &who)? {
                Some(serial) => println!(
                    "Removed `{}` from the state (serial {serial}); the real object is left as it is.",
                    args.id
                ),
                None => {
                    return Err(Failure::usage(format!("`{}` is not in the state", args.id)));
                }
            }
        }
        StateCommand::Unlock(args) => match app.store.lock(baton_infra::LOCK_NAME)? {
            None => println!("The state is not locked."),
            Some(lock) if !lock.is_stale() && !args.force => {
                return Err(Failure::failed(format!(
                    "the state lock is held by a running process: {}",
                    baton_infra::describe_lock(&lock)
                ))
                .with_hint("breaking it while that apply runs could corrupt your infrastructure; add --force only if you are sure"));
            }
            Some(_) => {
                if let Some(lock) = app.store.break_lock(baton_infra::LOCK_NAME)? {
                    let who = baton_store::Owner::current().who();
                    let detail =
                        serde_json::json!({"holder": lock.owner.who(), "pid": lock.owner.pid});
                    app.store
                        .audit(&who, "state unlock", baton_infra::LOCK_NAME, &detail)?;
                    println!(
                        "Broke the state lock held by {}.",
                        baton_infra::describe_lock(&lock)
                    );
                }
            }
        },
        StateCommand::History(args) => {
            let history = app.store.infra_history(args.limit)?;
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
        StateCommand::Pull => {
            let mut state = app.store.infra_state()?;
            for r in state.resources.iter_mut() {
                let kind = r.kind.clone();
                for (k, v) in r.attrs.iter_mut() {
                    if sensitive(&kind, k) && !v.as_str().is_some_and(|s| s.starts_with("sha256:"))
                    {
                        *v = Value::String("(sensitive value)".into());
                    }
                }
            }
            output::print_json(&state);
        }
    }
    Ok(EXIT_OK)
}
