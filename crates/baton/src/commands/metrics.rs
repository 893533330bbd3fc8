//! `baton metrics NODE [--metric M] [--since 1h] [--json]`: a summary line per metric (last,
//! average, min, max), or with `--metric` one row per point.

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{Cli, MetricsArgs};
use crate::commands::monitor::value_text;
use crate::output::Table;

pub fn run(cli: &Cli, ui: &Ui, args: &MetricsArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let metrics = app
        .ops
        .metrics(&args.node, args.metric.as_deref(), args.since)?;
    if args.json {
        crate::output::print_json(&metrics);
        return Ok(EXIT_OK);
    }
    let span = crate::output::duration(args.since.as_millis() as i64);
    if metrics.series.iter().all(|s| s.points.is_empty()) {
        println!(
            "No metrics for {} in the last {span}: is `baton monitor` (or `baton serve`) running, and does an alert, a check or `monitoring.targets` name the node?",
            metrics.node
        );
        return Ok(EXIT_OK);
    }
    let opt = |v: Option<f64>| v.map(value_text).unwrap_or_else(|| "-".into());
    if args.metric.is_some() {
        let series = &metrics.series[0];
        let rolled = metrics.resolution != "raw";
        let header: &[&str] = if rolled {
            &["TIME", "AVG", "MIN", "MAX", "SAMPLES"]
        } else {
            &["TIME", "VALUE"]
        };
        let mut table = Table::new(header);
        for p in &series.points {
            let mut row = vec![crate::output::time(p.at), value_text(p.value)];
            if rolled {
                row.extend([value_text(p.min), value_text(p.max), p.count.to_string()]);
            }
            table.row(row);
        }
        println!(
            "{} {} · last {span} · {} ({} points)",
            ui.paint(Style::Bold, &metrics.node),
            series.metric,
            metrics.resolution,
            series.points.len()
        );
        print!("{}", table.render(ui));
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&["METRIC", "LAST", "AVG", "MIN", "MAX", "POINTS"]);
    for s in &metrics.series {
        table.row(vec![
            s.metric.clone(),
            opt(s.summary.last),
            opt(s.summary.avg),
            opt(s.summary.min),
            opt(s.summary.max),
            s.points.len().to_string(),
        ]);
    }
    println!(
        "{} · last {span} · {}",
        ui.paint(Style::Bold, &metrics.node),
        metrics.resolution
    );
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}
