//! `baton runs`: recent runs of every kind, as a table or JSON.

use baton_ops::runs::RunsQuery;

use crate::app::{App, CommandResult, EXIT_OK, Ui};
use crate::cli::{Cli, RunsArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &RunsArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let runs = app.ops.runs(&RunsQuery {
        pipeline: args.pipeline.clone(),
        kind: None,
        limit: Some(args.limit),
        ..RunsQuery::default()
    })?;
    if args.json {
        output::print_json(&runs);
        return Ok(EXIT_OK);
    }
    if runs.is_empty() {
        println!("no runs yet: start one with `baton run PIPELINE`");
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "RUN", "PIPELINE", "STATUS", "TRIGGER", "ENV", "BRANCH", "STARTED", "DURATION", "REASON",
    ]);
    for r in &runs {
        table.row(vec![
            r.id.to_string(),
            r.name.clone(),
            output::status(ui, r.status),
            r.trigger.clone(),
            r.env.clone().unwrap_or_else(|| "-".into()),
            r.branch.clone().unwrap_or_else(|| "-".into()),
            output::time(r.started_at.unwrap_or(r.queued_at)),
            r.duration_ms
                .map(output::duration)
                .unwrap_or_else(|| "-".into()),
            r.reason
                .clone()
                .map(|s| shorten(&s, 60))
                .unwrap_or_default(),
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

fn shorten(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() <= max {
        first.to_string()
    } else {
        format!("{}…", first.chars().take(max - 1).collect::<String>())
    }
}
