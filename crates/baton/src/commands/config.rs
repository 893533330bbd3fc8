//! `baton config list | validate | diff | apply [--check] | rollback [--to N] | history`.
//! The work is baton-ops' (which drives baton-config); this module parses, calls, prints and
//! picks exit codes: 0 ok, 1 failed (a failed node), 2 bad usage or an invalid config, 3
//! `diff` / `apply --check` with pending changes, 130 cancelled.

use std::sync::Arc;

use baton_engine::EventSink;
use baton_ops::ConfigWhich;
use baton_ops::api::config::{ApplyResult, ConfigReport};
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, EXIT_USAGE, Style, Ui};
use crate::cli::Cli;
use crate::live::LiveView;
use crate::output;

/// `config diff` / `apply --check`: some target differs from its rendering.
pub const EXIT_CHANGES: u8 = 3;
/// The apply or rollback was cancelled (Ctrl-C, `baton cancel`).
pub const EXIT_CANCELLED: u8 = 130;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Configs with their type, targets, current version per environment and drift.
    List(ListArgs),
    /// Render and validate for every target; writes nothing.
    Validate(Which),
    /// Desired against what each target holds now, as unified diffs; exit 3 when they differ.
    Diff(Which),
    /// Render, validate everywhere, then write atomically where different and run `on_change`.
    Apply(ApplyArgs),
    /// Bring the targets back to a version (default: the previous one; 0 = before baton).
    Rollback(RollbackArgs),
    /// Versions: when, who, what action, on how many targets.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct Which {
    /// A config's name (`validate` and `diff` without one: every config; `apply` needs a name
    /// or `--all`).
    #[arg(conflicts_with = "all")]
    pub name: Option<String>,
    /// Every config of the project.
    #[arg(long)]
    pub all: bool,
    /// Environment whose vars the templates see; versions are kept per environment.
    #[arg(long)]
    pub env: Option<String>,
    /// Only the targets this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub which: Which,
    /// Print a unified diff per node and change nothing.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    pub name: String,
    /// The version to return to; 0 restores what was there before baton (absent files removed).
    #[arg(long)]
    pub to: Option<i64>,
    #[arg(long)]
    pub env: Option<String>,
    /// Only the targets this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    pub limit: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    pub name: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, ui: &Ui, command: &ConfigCommand) -> CommandResult {
    let app = App::open(cli, ui)?;
    let runtime = crate::app::runtime()?;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        crate::commands::run::watch_signals(cancel.clone(), crate::commands::run::CANCELLING);
        match command {
            ConfigCommand::List(args) => list(&app, ui, args).await,
            ConfigCommand::Validate(which) => validate(&app, ui, which).await,
            ConfigCommand::Diff(which) => {
                let result = app.ops.config_diff(&which_of(which)).await?;
                finish(ui, &result, which.json, Mode::Diff)
            }
            ConfigCommand::Apply(args) => {
                if args.which.name.is_none() && !args.which.all {
                    // Writing to every target of every config is never implied.
                    return Err(baton_ops::OpsError::usage(
                        "config apply needs a config name or `--all`",
                    )
                    .with_hint("`baton config list` lists them")
                    .into());
                }
                let mode = if args.check { Mode::Check } else { Mode::Apply };
                let sinks = live(
                    ui,
                    args.which.json,
                    &header("config apply", &args.which.name, &args.which.env),
                );
                let result = app
                    .ops
                    .config_apply(
                        &which_of(&args.which),
                        args.check,
                        &baton_ops::cli_actor(),
                        sinks,
                        &cancel,
                    )
                    .await?;
                finish(ui, &result, args.which.json, mode)
            }
            ConfigCommand::Rollback(args) => {
                let sinks = live(
                    ui,
                    args.json,
                    &header("config rollback", &Some(args.name.clone()), &args.env),
                );
                let result = app
                    .ops
                    .config_rollback(
                        &ConfigWhich {
                            name: Some(args.name.clone()),
                            env: args.env.clone(),
                            limit: args.limit.clone(),
                        },
                        args.to,
                        &baton_ops::cli_actor(),
                        sinks,
                        &cancel,
                    )
                    .await?;
                if args.json {
                    output::print_json(&result);
                } else {
                    print_report(ui, &result.report, Mode::Apply);
                    print_run(ui, Some(result.run), Some(&result.status));
                }
                Ok(if result.status == "cancelled" {
                    EXIT_CANCELLED
                } else if result.report.nodes.iter().any(|n| n.result == "failed") {
                    EXIT_FAILED
                } else {
                    EXIT_OK
                })
            }
            ConfigCommand::History(args) => history(&app, ui, args),
        }
    });
    runtime.shutdown_background();
    result
}

fn which_of(which: &Which) -> ConfigWhich {
    ConfigWhich {
        name: if which.all { None } else { which.name.clone() },
        env: which.env.clone(),
        limit: which.limit.clone(),
    }
}

fn header(verb: &str, name: &Option<String>, env: &Option<String>) -> String {
    let mut header = format!("▶ {verb} {}", name.as_deref().unwrap_or("--all"));
    if let Some(env) = env {
        header.push_str(&format!(" · env {env}"));
    }
    header
}

/// The terminal renderer of the run's events (none for `--json`: stdout is the document).
fn live(ui: &Ui, json: bool, header: &str) -> Vec<Arc<dyn EventSink>> {
    if json {
        return Vec::new();
    }
    vec![Arc::new(LiveView::new(
        *ui,
        ui.paint(Style::Bold, header),
        false,
        std::iter::empty(),
    ))]
}

fn print_run(ui: &Ui, run: Option<i64>, status: Option<&str>) {
    if let (Some(run), Some(status)) = (run, status) {
        println!(
            "  {}",
            ui.paint(
                Style::Dim,
                &format!("run {run} {status} · baton show {run} · baton logs {run}")
            )
        );
    }
}

async fn validate(app: &App, ui: &Ui, which: &Which) -> CommandResult {
    let results = app.ops.config_validate(&which_of(which)).await?;
    if which.json {
        output::print_json(&results);
    } else {
        for r in &results {
            match &r.error {
                None => println!(
                    "{} {}: valid on {} target(s)",
                    ui.paint(Style::Ok, "✓"),
                    r.config,
                    r.targets.unwrap_or(0)
                ),
                Some(e) => eprintln!("{} {e}", ui.paint(Style::Bad, "✗")),
            }
        }
    }
    Ok(if results.iter().any(|r| !r.valid) {
        EXIT_USAGE
    } else {
        EXIT_OK
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Diff,
    Check,
    Apply,
}

fn finish(ui: &Ui, result: &ApplyResult, json: bool, mode: Mode) -> CommandResult {
    if json {
        output::print_json(result);
    } else {
        for report in &result.configs {
            print_report(ui, report, mode);
        }
        for e in &result.errors {
            eprintln!("{}: {}", ui.paint(Style::Bad, "error"), e.error);
        }
        print_run(ui, result.run, result.status.as_deref());
        if mode == Mode::Apply {
            output::print_recap(ui, &recap(result));
        }
    }
    Ok(if result.cancelled() {
        EXIT_CANCELLED
    } else if result.failed() {
        EXIT_FAILED
    } else if result.invalid() {
        EXIT_USAGE
    } else if mode != Mode::Apply && result.changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Per node, its configs: changed (written or removed), ok (already right), failed.
fn recap(result: &ApplyResult) -> Vec<baton_ops::api::runs::NodeRecap> {
    let mut recap: Vec<baton_ops::api::runs::NodeRecap> = Vec::new();
    for node in result.configs.iter().flat_map(|c| &c.nodes) {
        let i = match recap.iter().position(|r| r.node == node.node) {
            Some(i) => i,
            None => {
                recap.push(baton_ops::api::runs::NodeRecap {
                    node: node.node.clone(),
                    ..Default::default()
                });
                recap.len() - 1
            }
        };
        match node.result.as_str() {
            "changed" | "removed" => recap[i].changed += 1,
            "unchanged" => recap[i].ok += 1,
            _ => recap[i].failed += 1,
        }
    }
    recap
}

fn print_report(ui: &Ui, report: &ConfigReport, mode: Mode) {
    let env = if report.env.is_empty() {
        String::new()
    } else {
        format!(" ({})", report.env)
    };
    println!(
        "{}{env}",
        ui.paint(Style::Bold, &format!("config {}", report.config))
    );
    for node in &report.nodes {
        let (mark, style) = match (mode, node.result.as_str()) {
            (_, "unchanged") => ("·", Style::Dim),
            (_, "failed") => ("✗", Style::Bad),
            (_, "cancelled") => ("⊘", Style::Warn),
            (Mode::Apply, _) => ("✓", Style::Ok),
            // Differs (diff, check): not a success mark.
            _ => ("≠", Style::Warn),
        };
        let word = match (mode, node.result.as_str()) {
            (Mode::Apply, r) => r.to_string(),
            (_, "changed") => "differs".to_string(),
            (_, "removed") => "would be removed".to_string(),
            (_, r) => r.to_string(),
        };
        let reason = node
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "  {} {} {} {}{reason}",
            ui.paint(style, mark),
            node.node,
            ui.paint(Style::Dim, &node.path),
            ui.paint(style, &word)
        );
        if mode != Mode::Apply && !node.diff.is_empty() {
            for line in node.diff.lines() {
                let style = match line.chars().next() {
                    Some('+') if !line.starts_with("+++") => Style::Ok,
                    Some('-') if !line.starts_with("---") => Style::Bad,
                    Some('@') => Style::Accent,
                    _ => Style::Dim,
                };
                println!("    {}", ui.paint(style, line));
            }
        }
        if let Some(out) = &node.on_change {
            for line in out.lines() {
                println!("    {}", ui.paint(Style::Dim, line));
            }
        }
    }
    let summary = if mode == Mode::Apply {
        report.summary.clone()
    } else {
        let differ = report
            .nodes
            .iter()
            .filter(|n| n.result == "changed" || n.result == "removed")
            .count();
        let count = |r: &str| report.nodes.iter().filter(|n| n.result == r).count();
        format!(
            "{differ} differ · {} unchanged · {} failed",
            count("unchanged"),
            count("failed")
        )
    };
    println!("  {summary}");
}

fn history(app: &App, ui: &Ui, args: &HistoryArgs) -> CommandResult {
    let records = app
        .ops
        .config_history(args.name.as_deref(), args.env.as_deref())?;
    if args.json {
        output::print_json(&records);
        return Ok(EXIT_OK);
    }
    let mut table = output::Table::new(&[
        "CONFIG", "ENV", "VERSION", "WHEN", "WHO", "ACTION", "RUN", "CHANGED",
    ]);
    for r in &records {
        table.row(vec![
            r.config.clone(),
            if r.env.is_empty() {
                "-".into()
            } else {
                r.env.clone()
            },
            format!("v{}", r.version),
            output::time(r.at),
            if r.actor.is_empty() {
                r.who.clone()
            } else {
                r.actor.clone()
            },
            if r.encrypted {
                format!("{} (encrypted: holds secrets)", r.action)
            } else {
                r.action.clone()
            },
            r.run.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            format!("{}/{}", r.changed.len(), r.targets),
        ]);
    }
    if table.is_empty() {
        println!("{}", ui.paint(Style::Dim, "no config versions yet"));
    } else {
        print!("{}", table.render(ui));
    }
    Ok(EXIT_OK)
}

async fn list(app: &App, ui: &Ui, args: &ListArgs) -> CommandResult {
    let rows = app.ops.config_list(args.env.as_deref()).await?;
    if args.json {
        output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    let mut table = output::Table::new(&["NAME", "TYPE", "TARGETS", "PATH", "VERSION", "DRIFT"]);
    for row in &rows {
        let version_text = if row.versions.is_empty() {
            ui.paint(Style::Dim, "never applied")
        } else {
            row.versions
                .iter()
                .map(|v| {
                    if v.env.is_empty() {
                        format!("v{}", v.version)
                    } else {
                        format!("{}:v{}", v.env, v.version)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let drift: Vec<String> = row
            .versions
            .iter()
            .flat_map(|v| {
                v.drift
                    .iter()
                    .cloned()
                    .chain(v.unreachable.iter().map(|n| format!("{n}?")))
            })
            .collect();
        table.row(vec![
            row.name.clone(),
            row.kind.clone(),
            row.targets.clone(),
            row.path.clone().unwrap_or_default(),
            version_text,
            if drift.is_empty() {
                ui.paint(Style::Dim, "none")
            } else {
                ui.paint(Style::Warn, &drift.join(", "))
            },
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}
