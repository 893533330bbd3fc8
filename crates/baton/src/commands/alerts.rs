//! `baton alerts [--all] [--json]`: alerts pending and firing now, silences, nodes down; with
//! `--all` the history of transitions and node changes. `baton alert silence NAME [--node N]
//! --for 2h`.

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{AlertCommand, AlertsArgs, Cli};
use crate::commands::monitor::{line, value_text};
use crate::output::Table;

pub fn run(cli: &Cli, ui: &Ui, args: &AlertsArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let alerts = app.ops.alerts(args.all)?;
    if args.json {
        crate::output::print_json(&alerts);
        return Ok(EXIT_OK);
    }
    if alerts.active.is_empty() {
        println!("No alert is pending or firing.");
    } else {
        let mut table = Table::new(&[
            "ALERT",
            "NODE",
            "STATE",
            "SINCE",
            "SEVERITY",
            "CONDITION",
            "VALUE",
        ]);
        for a in &alerts.active {
            let state = match a.state.as_str() {
                "firing" => ui.paint(Style::Bad, "firing"),
                other => ui.paint(Style::Warn, other),
            };
            let state = if a.silenced {
                format!("{state} (silenced)")
            } else {
                state
            };
            table.row(vec![
                a.alert.clone(),
                a.node.clone(),
                state,
                crate::output::time(a.since),
                a.severity.clone(),
                a.condition.clone(),
                a.value.map(value_text).unwrap_or_else(|| "-".into()),
            ]);
        }
        print!("{}", table.render(ui));
    }
    let down: Vec<String> = alerts
        .nodes
        .iter()
        .filter(|n| !n.up)
        .map(|n| match &n.detail {
            Some(why) => format!("{} ({why})", n.node),
            None => n.node.clone(),
        })
        .collect();
    if !down.is_empty() {
        println!("{}: {}", ui.paint(Style::Bad, "down"), down.join(", "));
    }
    for s in &alerts.silences {
        println!(
            "silenced: {}{} until {} (by {})",
            s.alert,
            s.node
                .as_ref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default(),
            crate::output::time(s.until),
            s.actor
        );
    }
    if args.all {
        println!();
        if alerts.history.is_empty() {
            println!("No history yet.");
        }
        for event in &alerts.history {
            println!("{}", line(ui, event));
        }
    }
    Ok(EXIT_OK)
}

pub fn alert(cli: &Cli, ui: &Ui, cmd: &AlertCommand) -> CommandResult {
    match cmd {
        AlertCommand::Silence(args) => {
            let app = App::open(cli, ui)?;
            let silence = app.ops.silence(
                &args.name,
                args.node.as_deref(),
                args.duration,
                &baton_ops::cli_actor(),
            )?;
            if args.json {
                crate::output::print_json(&silence);
                return Ok(EXIT_OK);
            }
            println!(
                "Silenced {}{} until {}: its state is still tracked, its notifications are not sent.",
                silence.alert,
                silence
                    .node
                    .as_ref()
                    .map(|n| format!(" on {n}"))
                    .unwrap_or_default(),
                crate::output::time(silence.until)
            );
            Ok(EXIT_OK)
        }
    }
}
