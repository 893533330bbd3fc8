//! `baton monitor`: the monitor in the foreground, without the HTTP server. A plain line per
//! alert transition and node change on stdout (greppable, one event a line, flushed as it
//! happens); problems that do not stop it on stderr. Ctrl-C or SIGTERM stops it.

use std::io::Write;

use baton_ops::MonitorNote;
use baton_ops::api::monitor::Event;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui, runtime};
use crate::cli::Cli;

pub fn run(cli: &Cli, ui: &Ui) -> CommandResult {
    let app = App::open(cli, ui)?;
    let interval = app.project.monitoring.interval;
    let ui = *ui;
    let runtime = runtime()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::commands::run::watch_signals(cancel.clone(), "baton monitor: stopping");
        app.ops
            .run_monitor(
                &cancel,
                |started| {
                    eprintln!(
                        "baton monitor: {} nodes, {} checks, {} alerts; sampling every {} (Ctrl-C stops)",
                        started.nodes,
                        started.checks,
                        started.alerts,
                        crate::output::duration(interval.as_millis() as i64)
                    );
                    if started.nodes == 0 && started.checks == 0 {
                        eprintln!(
                            "  {}: nothing to watch: add `alerts:`, `checks:` or `monitoring: {{ targets: … }}` to baton.yaml",
                            ui.paint(Style::Accent, "hint")
                        );
                    }
                },
                move |note| match note {
                    MonitorNote::Event(event) => {
                        // A closed stdout ends nothing here: the monitor keeps monitoring.
                        let _ = writeln!(std::io::stdout().lock(), "{}", line(&ui, &event));
                    }
                    MonitorNote::Problem(text) => {
                        let _ = writeln!(
                            std::io::stderr().lock(),
                            "{}: {text}",
                            ui.paint(Style::Warn, "warning")
                        );
                    }
                },
            )
            .await
    })?;
    runtime.shutdown_background();
    Ok(EXIT_OK)
}

/// `2026-12-02 03:04:05 alert high_cpu firing on node01: cpu above 80 (value 97.3)`,
/// `2026-12-02 03:04:09 node node02 down: connection refused`.
pub fn line(ui: &Ui, event: &Event) -> String {
    let at = crate::output::time(event.at);
    if event.kind == "node" {
        let state = match event.state.as_str() {
            "down" => ui.paint(Style::Bad, "down"),
            other => ui.paint(Style::Ok, other),
        };
        return match &event.detail {
            Some(why) => format!("{at} node {} {state}: {why}", event.node),
            None => format!("{at} node {} {state}", event.node),
        };
    }
    let state = match event.state.as_str() {
        "firing" => ui.paint(Style::Bad, "firing"),
        "pending" => ui.paint(Style::Warn, "pending"),
        "resolved" => ui.paint(Style::Ok, "resolved"),
        other => other.to_string(),
    };
    let mut text = format!(
        "{at} alert {} {state} on {}: {}",
        event.alert.as_deref().unwrap_or("?"),
        event.node,
        event.condition.as_deref().unwrap_or("")
    );
    if let Some(value) = event.value {
        text.push_str(&format!(" (value {})", value_text(value)));
    }
    if let Some(detail) = &event.detail {
        text.push_str(&format!(" — {detail}"));
    }
    if event.notify.as_deref() == Some("silenced") {
        text.push_str(&ui.paint(Style::Dim, " [silenced]"));
    }
    text
}

/// `97.3`, `80`, `0.05`: a value as people read it.
pub fn value_text(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}
