//! `baton nodes --watch`: a live table of the nodes' cpu, memory, load and disk. On a terminal
//! the table is redrawn in place every interval; piped, each round is a line per node (or one
//! JSON line with `--json`), so `| grep node02` and `| jq` work. A closed pipe ends it quietly.

use std::io::Write;
use std::time::Duration;

use baton_model::METRIC_NAMES;
use baton_ops::api::monitor::{NodeMetrics, NodesSample};
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui, runtime};
use crate::cli::{Cli, NodesArgs};
use crate::output::Table;

pub fn run(cli: &Cli, ui: &Ui, args: &NodesArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let watch = app.ops.watch_nodes(args.selector.as_deref())?;
    let (ui, interval, count) = (
        *ui,
        args.interval.max(Duration::from_millis(100)),
        args.count,
    );
    let live = ui.stdout_tty && !args.json;
    let runtime = runtime()?;
    runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::commands::run::watch_signals(cancel.clone(), "baton nodes --watch: stopping");
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut drawn = 0;
        let mut round = 0u64;
        while count.is_none_or(|c| round < c) {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let at = baton_store::now_millis();
            let readings = tokio::select! {
                _ = cancel.cancelled() => break,
                r = watch.sample() => r,
            };
            round += 1;
            let text = if args.json {
                let sample = NodesSample {
                    api: baton_ops::api::VERSION,
                    at,
                    nodes: readings,
                };
                format!(
                    "{}\n",
                    serde_json::to_string(&sample).expect("samples serialize")
                )
            } else if live {
                let table = table(&ui, &readings, interval, at);
                // Back over the previous drawing, then clear to the end of the screen.
                let back = if drawn > 0 {
                    format!("\x1b[{drawn}A\x1b[J")
                } else {
                    String::new()
                };
                drawn = table.lines().count();
                format!("{back}{table}")
            } else {
                lines(&readings, at)
            };
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                break; // the reader went away
            }
        }
    });
    runtime.block_on(watch.close());
    runtime.shutdown_background();
    Ok(EXIT_OK)
}

fn percent(r: &NodeMetrics, metric: &str) -> String {
    r.metrics
        .get(metric)
        .map_or_else(|| "-".into(), |v| format!("{v:.1}%"))
}

fn load(r: &NodeMetrics) -> String {
    match (
        r.metrics.get("load1"),
        r.metrics.get("load5"),
        r.metrics.get("load15"),
    ) {
        (Some(a), Some(b), Some(c)) => format!("{a:.2} {b:.2} {c:.2}"),
        _ => "-".into(),
    }
}

/// The terminal's view: a title line, then the aligned table.
fn table(ui: &Ui, readings: &[NodeMetrics], interval: Duration, at: i64) -> String {
    let mut table = Table::new(&["NODE", "STATE", "CPU", "MEMORY", "LOAD", "DISK /", "DETAIL"]);
    for r in readings {
        let state = if r.up {
            ui.paint(Style::Ok, "up")
        } else {
            ui.paint(Style::Bad, "down")
        };
        table.row(vec![
            r.node.clone(),
            state,
            percent(r, "cpu"),
            percent(r, "memory"),
            load(r),
            percent(r, "disk"),
            r.error.clone().unwrap_or_default(),
        ]);
    }
    let up = readings.iter().filter(|r| r.up).count();
    format!(
        "{}  {up}/{} up · every {} · Ctrl-C stops\n{}",
        crate::output::time(at),
        readings.len(),
        crate::output::duration(interval.as_millis() as i64),
        table.render(ui)
    )
}

/// The piped view: `TIME NODE up cpu=3.2 memory=41.0 load1=0.12 …` or `TIME NODE down: why`.
fn lines(readings: &[NodeMetrics], at: i64) -> String {
    let at = crate::output::time(at);
    let width = readings.iter().map(|r| r.node.len()).max().unwrap_or(0);
    let mut text = String::new();
    for r in readings {
        if r.up {
            // The model's order (cpu, memory, load…), then `disk:/PATH`s.
            let rank = |name: &str| {
                METRIC_NAMES
                    .iter()
                    .position(|m| *m == name)
                    .unwrap_or(METRIC_NAMES.len())
            };
            let mut metrics: Vec<(&String, &f64)> = r
                .metrics
                .iter()
                .filter(|(name, _)| name.as_str() != "up")
                .collect();
            metrics.sort_by_key(|(name, _)| rank(name));
            let values: Vec<String> = metrics
                .iter()
                .map(|(name, v)| format!("{name}={v:.2}"))
                .collect();
            text.push_str(&format!("{at} {:width$} up {}\n", r.node, values.join(" ")));
        } else {
            let why = r.error.as_deref().unwrap_or("no answer");
            text.push_str(&format!("{at} {:width$} down: {why}\n", r.node));
        }
    }
    text
}
