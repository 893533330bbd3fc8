//! The report of one run: text, JSON, or JUnit XML for CI dashboards.

use baton_ops::api::runs::{RunDetail as Report, Stage, Step};
use baton_store::{Phase, Status};

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{Cli, ReportFormat, ShowArgs};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, args: &ShowArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let report = app.ops.run_detail(args.run)?;
    if args.json {
        output::print_json(&report);
        return Ok(EXIT_OK);
    }
    match args.format {
        ReportFormat::Junit => print!("{}", junit(&report)),
        ReportFormat::Text => print!("{}", text(&report, ui)),
    }
    Ok(EXIT_OK)
}

fn text(report: &Report, ui: &Ui) -> String {
    let r = &report.run;
    let mut out = String::new();
    out.push_str(&format!(
        "{} {} · run {} · {}\n",
        ui.paint(output::status_style(r.status), output::mark(r.status)),
        ui.paint(Style::Bold, &r.name),
        r.id,
        output::status(ui, r.status)
    ));
    let mut facts = vec![format!("trigger {}", r.trigger)];
    if let Some(env) = &r.env {
        facts.push(format!("env {env}"));
    }
    if let Some(branch) = &r.branch {
        facts.push(format!("branch {branch}"));
    }
    if let Some(commit) = &r.commit {
        facts.push(format!("commit {}", &commit[..commit.len().min(10)]));
    }
    if let Some(retry_of) = r.retry_of {
        facts.push(format!("retry of run {retry_of}"));
    }
    if let Some(of) = r.rollback_of {
        facts.push(format!("rollback of run {of}"));
    }
    facts.push(format!(
        "started {}",
        output::time(r.started_at.unwrap_or(r.queued_at))
    ));
    if let Some(ms) = r.duration_ms {
        facts.push(format!("took {}", output::duration(ms)));
    }
    out.push_str(&format!("  {}\n", ui.paint(Style::Dim, &facts.join(" · "))));
    if let Some(reason) = &r.reason {
        out.push_str(&format!("  {reason}\n"));
    }
    out.push('\n');

    let mut table = Table::new(&["STAGE", "STATUS", "DURATION", "TARGETS", "DETAIL"]);
    for stage in &report.stages {
        // Each node once, however many steps and attempts it ran.
        let targets = &stage.targets;
        let detail = match (stage.reused_from, &stage.reason) {
            (Some(from), _) => format!("reused from run {from}"),
            (None, Some(reason)) => reason.clone(),
            _ => String::new(),
        };
        table.row(vec![
            stage.name.clone(),
            output::status(ui, stage.status),
            stage
                .duration_ms
                .map(output::duration)
                .unwrap_or_else(|| "-".into()),
            if targets.is_empty() {
                "-".into()
            } else {
                targets.join(",")
            },
            detail,
        ]);
    }
    out.push_str(&table.render(ui));

    // Per-node results, where a stage ran on several targets.
    let multi: Vec<&Stage> = report
        .stages
        .iter()
        .filter(|s| {
            let mut t: Vec<&str> = s.steps.iter().map(|x| x.target.as_str()).collect();
            t.sort();
            t.dedup();
            t.len() > 1
        })
        .collect();
    for stage in multi {
        out.push_str(&format!(
            "\n{}\n",
            ui.paint(Style::Bold, &format!("{} by node", stage.name))
        ));
        let mut t = Table::new(&["NODE", "PHASE", "STEP", "STATUS", "EXIT", "DETAIL"]);
        for step in &stage.steps {
            t.row(vec![
                step.target.clone(),
                step.phase.as_str().to_string(),
                step.label.clone(),
                output::status(ui, step.status),
                step.exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                step.reason.clone().unwrap_or_default(),
            ]);
        }
        out.push_str(&t.render(ui));
    }

    let rollbacks: Vec<&Step> = report
        .stages
        .iter()
        .flat_map(|s| &s.steps)
        .filter(|s| s.phase == Phase::Rollback)
        .collect();
    if !rollbacks.is_empty() {
        out.push_str(&format!("\n{}\n", ui.paint(Style::Bold, "rollback")));
        let mut t = Table::new(&["STAGE", "NODE", "STEP", "STATUS"]);
        for s in rollbacks {
            t.row(vec![
                s.stage.clone(),
                s.target.clone(),
                s.label.clone(),
                output::status(ui, s.status),
            ]);
        }
        out.push_str(&t.render(ui));
    }
    if !report.artifacts.is_empty() {
        out.push_str(&format!("\n{}\n", ui.paint(Style::Bold, "artifacts")));
        let mut t = Table::new(&["NAME", "VERSION", "SIZE", "SHA256", "SHELF"]);
        for a in &report.artifacts {
            t.row(vec![
                a.name.clone(),
                a.version.to_string(),
                a.size.to_string(),
                a.sha256[..12].to_string(),
                a.shelf.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        out.push_str(&t.render(ui));
    }
    if !report.rolled_back_by.is_empty() {
        let runs: Vec<String> = report
            .rolled_back_by
            .iter()
            .map(|r| format!("run {r}"))
            .collect();
        out.push_str(&format!("\nrolled back by {}\n", runs.join(", ")));
    }
    // A cancelled stage did not fail: it was stopped. Say which is which.
    for (names, label, style) in [
        (&report.failed_stages, "failed stages:", Style::Bad),
        (&report.cancelled_stages, "cancelled stages:", Style::Warn),
    ] {
        if names.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n{} {}\n",
            ui.paint(style, label),
            names.join(", ")
        ));
        out.push_str(&format!(
            "  {}\n",
            ui.paint(
                Style::Dim,
                &format!("logs: baton logs {} --stage {}", r.id, names[0])
            )
        ));
    }
    out
}

/// JUnit XML: one testsuite per run, one testcase per stage.
fn junit(report: &Report) -> String {
    let r = &report.run;
    let failures = report
        .stages
        .iter()
        .filter(|s| s.status.is_failure())
        .count();
    let skipped = report
        .stages
        .iter()
        .filter(|s| s.status == Status::Skipped)
        .count();
    let secs = |ms: Option<i64>| format!("{:.3}", ms.unwrap_or(0) as f64 / 1000.0);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"baton\" tests=\"{}\" failures=\"{failures}\" time=\"{}\">\n",
        report.stages.len(),
        secs(r.duration_ms)
    ));
    out.push_str(&format!(
        "  <testsuite name=\"{}\" id=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{}\">\n",
        xml(&r.name),
        r.id,
        report.stages.len(),
        secs(r.duration_ms)
    ));
    for stage in &report.stages {
        out.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            xml(&stage.name),
            xml(&r.name),
            secs(stage.duration_ms)
        ));
        let reason = xml(stage.reason.as_deref().unwrap_or(stage.status.as_str()));
        match stage.status {
            Status::Success => out.push_str("/>\n"),
            Status::Skipped => out.push_str(&format!(
                ">\n      <skipped message=\"{reason}\"/>\n    </testcase>\n"
            )),
            other => out.push_str(&format!(
                ">\n      <failure message=\"{reason}\" type=\"{}\"/>\n    </testcase>\n",
                other.as_str()
            )),
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c => c.to_string(),
        })
        .collect()
}
