//! `baton pipelines`: every pipeline with its triggers, last run and last success.

use crate::app::{App, CommandResult, EXIT_OK, Ui};
use crate::cli::{Cli, ListArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &ListArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let rows = app.ops.pipelines()?;
    if args.json {
        output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "PIPELINE",
        "TRIGGERS",
        "STAGES",
        "LAST RUN",
        "LAST SUCCESS",
        "STATUS",
    ]);
    for p in rows {
        table.row(vec![
            p.name.clone(),
            p.triggers.join(","),
            p.stages.len().to_string(),
            p.last_run
                .as_ref()
                .map(|r| format!("#{} {}", r.id, output::time(r.queued_at)))
                .unwrap_or_else(|| "never".into()),
            p.last_success
                .as_ref()
                .map(|r| format!("#{}", r.id))
                .unwrap_or_else(|| "-".into()),
            p.status
                .map(|s| output::status(ui, s))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}
