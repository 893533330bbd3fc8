//! `baton exec SELECTOR -- CMD`: an ad-hoc command on nodes in parallel; output grouped per
//! node (or streamed with `--stream`), then a summary. Exit 1 if any node failed or was
//! unreachable.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use baton_engine::{EventSink, ExecRequest};
use baton_ops::api::exec::{ExecNode, NodeResult};
use baton_store::{Event, EventKind};
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Style, Ui};
use crate::cli::{Cli, ExecArgs};
use crate::output;

/// `--stream`: output lines as they arrive, prefixed with their node.
struct StreamView {
    ui: Ui,
    width: usize,
    partial: Mutex<HashMap<String, Vec<u8>>>,
}

impl EventSink for StreamView {
    fn event(&self, event: &Event) {
        let EventKind::Output { step, data } = &event.kind else {
            return;
        };
        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        let pending = partial.entry(step.target.clone()).or_default();
        pending.extend_from_slice(data);
        if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
            let complete: Vec<u8> = pending.drain(..=end).collect();
            let prefix = self.ui.paint(
                Style::Dim,
                &format!("{:<w$} │", step.target, w = self.width),
            );
            let mut out = std::io::stdout().lock();
            for line in String::from_utf8_lossy(&complete).lines() {
                let _ = writeln!(out, "{prefix} {line}");
            }
        }
    }
}

/// A node's block: a status line, then its output indented.
fn print_block(ui: &Ui, node: &ExecNode) {
    let mut out = std::io::stdout().lock();
    let mark = ui.paint(output::status_style(node.status), output::mark(node.status));
    let took = output::duration(node.duration_ms);
    let detail = match (node.result, &node.reason) {
        (NodeResult::Ok, _) => format!("exit 0, {took}"),
        (_, Some(reason)) => format!("{reason}, {took}"),
        _ => took,
    };
    let _ = writeln!(
        out,
        "{mark} {} {}",
        ui.paint(Style::Bold, &node.node),
        ui.paint(Style::Dim, &detail)
    );
    for line in node.output.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

pub fn run(cli: &Cli, ui: &Ui, args: &ExecArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let width = app
        .project
        .nodes
        .keys()
        .map(|n| n.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut sinks: Vec<Arc<dyn EventSink>> = Vec::new();
    let mut on_done: Option<baton_ops::NodeDone> = None;
    if !args.json {
        if args.stream {
            sinks.push(Arc::new(StreamView {
                ui: *ui,
                width,
                partial: Mutex::default(),
            }));
        } else {
            let ui = *ui;
            on_done = Some(Box::new(move |node: &ExecNode| print_block(&ui, node)));
        }
    }
    let request = ExecRequest {
        selector: args.selector.clone(),
        command: args.command.join(" "),
        timeout: args.timeout,
        env: args.env.clone(),
        actor: baton_ops::cli_actor(),
    };
    let runtime = crate::app::runtime()?;
    let report = runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::commands::run::watch_signals(cancel.clone(), crate::commands::run::CANCELLING);
        app.ops.exec(request, sinks, on_done, cancel).await
    })?;
    runtime.shutdown_background();

    let summary = &report.summary;
    if args.json {
        output::print_json(&report);
    } else {
        if args.stream {
            for r in report.nodes.iter().filter(|r| r.result != NodeResult::Ok) {
                let why = r.reason.clone().unwrap_or_default();
                println!(
                    "{} {} {}",
                    ui.paint(Style::Bad, output::mark(r.status)),
                    r.node,
                    ui.paint(Style::Dim, &why)
                );
            }
        }
        let part = |n: usize, word: &str, style: Style| {
            let text = format!("{n} {word}");
            if n > 0 { ui.paint(style, &text) } else { text }
        };
        let unknown = if summary.unknown > 0 {
            format!(
                " · {}",
                part(
                    summary.unknown,
                    "outcome unknown (connection lost)",
                    Style::Warn
                )
            )
        } else {
            String::new()
        };
        println!(
            "{} · {} · {}{unknown}   (run {})",
            part(summary.ok, "ok", Style::Ok),
            part(summary.failed, "failed", Style::Bad),
            part(summary.unreachable, "unreachable", Style::Bad),
            report.run
        );
    }
    Ok(
        if summary.failed + summary.unreachable + summary.unknown == 0 {
            EXIT_OK
        } else {
            EXIT_FAILED
        },
    )
}
