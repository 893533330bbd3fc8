//! `baton pipelines`: each pipeline with its triggers, stages, last run and last success.

use baton_model::Trigger;
use baton_store::{RunFilter, RunKind, Status};
use serde_json::json;

use crate::app::{App, CommandResult, EXIT_OK, Ui};
use crate::cli::{Cli, ListArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &ListArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let mut rows = Vec::new();
    for pipeline in app.project.pipelines.values() {
        let runs = app.store.runs(&RunFilter {
            name: Some(pipeline.name.clone()),
            kind: Some(RunKind::Pipeline),
            limit: Some(50),
        })?;
        let last = runs.first();
        let last_success = runs.iter().find(|r| r.status == Status::Success);
        let mut triggers: Vec<String> = pipeline
            .triggers
            .iter()
            .map(|t| trigger_text(&t.value))
            .collect();
        if !triggers.iter().any(|t| t == "manual") {
            triggers.insert(0, "manual".into());
        }
        rows.push((pipeline, triggers, last.cloned(), last_success.cloned()));
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(p, triggers, last, success)| {
                json!({
                    "name": p.name,
                    "triggers": triggers,
                    "env": p.env.as_ref().map(|e| e.value.clone()),
                    "stages": p.stages.keys().collect::<Vec<_>>(),
                    "last_run": last.as_ref().map(|r| json!({"id": r.id, "status": r.status, "queued_at": r.queued_at})),
                    "last_success": success.as_ref().map(|r| json!({"id": r.id, "finished_at": r.finished_at})),
                    "status": last.as_ref().map(|r| r.status),
                })
            })
            .collect();
        output::print_json(&list);
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
    for (p, triggers, last, success) in rows {
        table.row(vec![
            p.name.clone(),
            triggers.join(","),
            p.stages.len().to_string(),
            last.as_ref()
                .map(|r| format!("#{} {}", r.id, output::time(r.queued_at)))
                .unwrap_or_else(|| "never".into()),
            success
                .as_ref()
                .map(|r| format!("#{}", r.id))
                .unwrap_or_else(|| "-".into()),
            last.as_ref()
                .map(|r| output::status(ui, r.status))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Manual => "manual".into(),
        Trigger::Webhook => "webhook".into(),
        Trigger::Schedule { cron } => format!("schedule({cron})"),
        Trigger::Commit { .. } => "commit".into(),
    }
}
