//! `baton config list | validate | diff | apply [--check] | rollback [--to N] | history`
//! (SPEC §3, §8). The work is baton-config's; this module parses, prints and picks exit codes:
//! 0 ok, 1 failed (an invalid rendering, a failed node), 2 bad usage, 3 `diff` with changes.

use std::sync::Arc;

use baton_config::{ConfigError, ConfigManager, Report, Scope};
use clap::{Args, Subcommand};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Failure, Style, Ui};
use crate::cli::Cli;
use crate::output;
use baton_ops::NodeTargets;

/// `config diff`: some target differs from its rendering.
pub const EXIT_CHANGES: u8 = 3;

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
    /// A config's name (or `--all`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Every config of the project.
    #[arg(long)]
    pub all: bool,
    /// Environment whose vars the templates see; versions are kept per environment.
    #[arg(long)]
    pub env: Option<String>,
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
    let targets = Arc::new(NodeTargets::new(&app.project));
    let mut manager = ConfigManager::new(
        app.project.clone(),
        app.store.clone(),
        targets.clone(),
        app.state_dir.join("tmp"),
    );
    let cancel = CancellationToken::new();
    manager.cancel = cancel.clone();
    let paint = *ui;
    manager.notes = Arc::new(move |note: &str| {
        eprintln!("{}: {note}", paint.paint(Style::Warn, "note"));
    });
    let runtime = crate::app::runtime()?;
    let result = runtime.block_on(async {
        crate::commands::run::watch_signals(cancel.clone());
        let result = match command {
            ConfigCommand::List(args) => list(&manager, ui, args).await,
            ConfigCommand::Validate(which) => validate(&manager, ui, which).await,
            ConfigCommand::Diff(which) => apply(&manager, ui, which, Mode::Diff).await,
            ConfigCommand::Apply(args) => {
                let mode = if args.check { Mode::Check } else { Mode::Apply };
                apply(&manager, ui, &args.which, mode).await
            }
            ConfigCommand::Rollback(args) => rollback(&manager, ui, args).await,
            ConfigCommand::History(args) => history(&manager, ui, args),
        };
        targets.disconnect_all().await;
        result
    });
    runtime.shutdown_background();
    result
}

fn failure(e: ConfigError) -> Failure {
    if e.is_usage() {
        Failure::usage(e.to_string())
    } else {
        Failure::failed(e.to_string())
    }
}

/// The configs a command acts on, validated up front so a typo is exit 2 before any work.
fn names(manager: &ConfigManager, which: &Which) -> Result<Vec<String>, Failure> {
    if which.all {
        return Ok(manager.project().configs.keys().cloned().collect());
    }
    let name = which.name.clone().unwrap_or_default();
    manager.config(&name).map_err(failure)?;
    Ok(vec![name])
}

fn scope(manager: &ConfigManager, env: &Option<String>) -> Result<Scope, Failure> {
    if let Some(env) = env
        && !manager.project().environments.contains_key(env)
    {
        return Err(Failure::usage(format!(
            "no environment named `{env}` in the project"
        )));
    }
    Ok(Scope::env(env.as_deref()))
}

async fn validate(manager: &ConfigManager, ui: &Ui, which: &Which) -> CommandResult {
    let scope = scope(manager, &which.env)?;
    let mut results = Vec::new();
    let mut failed = None;
    for name in names(manager, which)? {
        match manager.validate(&name, &scope).await {
            Ok(count) => {
                if !which.json {
                    println!(
                        "{} {name}: valid on {count} target(s)",
                        ui.paint(Style::Ok, "✓")
                    );
                }
                results.push(json!({ "config": name, "valid": true, "targets": count }));
            }
            Err(e) if e.is_usage() => return Err(failure(e)),
            Err(e) => {
                if !which.json {
                    eprintln!("{} {e}", ui.paint(Style::Bad, "✗"));
                }
                results.push(json!({ "config": name, "valid": false, "error": e.to_string() }));
                failed = Some(e);
            }
        }
    }
    if which.json {
        output::print_json(&results);
    }
    Ok(if failed.is_some() {
        EXIT_FAILED
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

async fn apply(manager: &ConfigManager, ui: &Ui, which: &Which, mode: Mode) -> CommandResult {
    let scope = scope(manager, &which.env)?;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for name in names(manager, which)? {
        let result = match mode {
            Mode::Diff => manager.diff(&name, &scope).await,
            Mode::Check => manager.apply(&name, &scope, true).await,
            Mode::Apply => manager.apply(&name, &scope, false).await,
        };
        match result {
            Ok(report) => {
                if !which.json {
                    print_report(ui, &report, mode);
                }
                reports.push(report);
            }
            Err(e) if e.is_usage() => return Err(failure(e)),
            Err(e) => {
                // One config failing does not stop `--all` from trying the others.
                if !which.json {
                    eprintln!("{}: {e}", ui.paint(Style::Bad, "error"));
                }
                errors.push(json!({ "config": name, "error": e.to_string() }));
            }
        }
    }
    if which.json {
        output::print_json(&json!({ "configs": reports, "errors": errors }));
    }
    let failed = !errors.is_empty() || reports.iter().any(|r| r.failed() > 0);
    let pending = reports.iter().any(|r| r.changed() > 0);
    Ok(if failed {
        EXIT_FAILED
    } else if mode == Mode::Diff && pending {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

fn print_report(ui: &Ui, report: &Report, mode: Mode) {
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
        let (mark, style) = match node.result {
            "unchanged" => ("·", Style::Dim),
            "failed" => ("✗", Style::Bad),
            _ => ("✓", Style::Ok),
        };
        let word = match (mode, node.result) {
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
    let count = |what: &[&str]| {
        report
            .nodes
            .iter()
            .filter(|n| what.contains(&n.result))
            .count()
    };
    let changed = count(&["changed", "removed"]);
    let word = if mode == Mode::Apply {
        "changed"
    } else {
        "differ"
    };
    let tail = match report.version {
        Some(v) => format!(" → version {v}"),
        None if mode == Mode::Apply => format!(" (version {} unchanged)", report.current),
        None => String::new(),
    };
    println!(
        "  {changed} {word} · {} unchanged · {} failed{tail}",
        count(&["unchanged"]),
        count(&["failed"])
    );
}

async fn rollback(manager: &ConfigManager, ui: &Ui, args: &RollbackArgs) -> CommandResult {
    manager.config(&args.name).map_err(failure)?;
    let scope = scope(manager, &args.env)?;
    let report = manager
        .rollback(&args.name, &scope, args.to)
        .await
        .map_err(failure)?;
    if args.json {
        output::print_json(&report);
    } else {
        print_report(ui, &report, Mode::Apply);
    }
    Ok(if report.failed() > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    })
}

fn history(manager: &ConfigManager, ui: &Ui, args: &HistoryArgs) -> CommandResult {
    if let Some(name) = &args.name {
        manager.config(name).map_err(failure)?;
    }
    let records = manager
        .store()
        .config_history(args.name.as_deref(), args.env.as_deref())?;
    if args.json {
        let rows: Vec<_> = records
            .iter()
            .map(|r| {
                json!({
                    "config": r.config,
                    "env": r.env,
                    "version": r.version,
                    "at": r.at,
                    "who": r.who,
                    "action": r.action.to_string(),
                    "targets": r.targets.len(),
                    "changed": r.targets.iter().filter(|t| t.changed).map(|t| &t.node).collect::<Vec<_>>(),
                })
            })
            .collect();
        output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    let mut table = output::Table::new(&[
        "CONFIG", "ENV", "VERSION", "WHEN", "WHO", "ACTION", "CHANGED",
    ]);
    for r in &records {
        let changed = r.targets.iter().filter(|t| t.changed).count();
        table.row(vec![
            r.config.clone(),
            if r.env.is_empty() {
                "-".into()
            } else {
                r.env.clone()
            },
            format!("v{}", r.version),
            output::time(r.at),
            r.who.clone(),
            r.action.to_string(),
            format!("{changed}/{}", r.targets.len()),
        ]);
    }
    if table.is_empty() {
        println!("{}", ui.paint(Style::Dim, "no config versions yet"));
    } else {
        print!("{}", table.render(ui));
    }
    Ok(EXIT_OK)
}

async fn list(manager: &ConfigManager, ui: &Ui, args: &ListArgs) -> CommandResult {
    let project = manager.project();
    let envs: Vec<String> = match &args.env {
        Some(env) => {
            scope(manager, &args.env)?;
            vec![env.clone()]
        }
        None => std::iter::once(String::new())
            .chain(project.environments.keys().cloned())
            .collect(),
    };
    let mut rows = Vec::new();
    for (name, config) in &project.configs {
        let targets = config
            .targets
            .as_ref()
            .map(|s| s.value.source.clone())
            .unwrap_or_else(|| "local".into());
        let mut versions = Vec::new();
        for env in &envs {
            let current = manager.store().config_current_version(name, env)?;
            if current == 0 && args.env.is_none() {
                continue;
            }
            let drift = manager.drift(name, env).await.map_err(failure)?;
            let drifted: Vec<&String> = drift
                .iter()
                .filter(|(_, d)| *d == Some(true))
                .map(|(n, _)| n)
                .collect();
            let unknown: Vec<&String> = drift
                .iter()
                .filter(|(_, d)| d.is_none())
                .map(|(n, _)| n)
                .collect();
            versions.push(json!({
                "env": env, "version": current, "drift": drifted, "unreachable": unknown,
            }));
        }
        rows.push(json!({
            "name": name,
            "type": config.kind,
            "targets": targets,
            "path": config.path.as_ref().map(|p| p.value.clone()),
            "versions": versions,
        }));
    }
    if args.json {
        output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    let mut table = output::Table::new(&["NAME", "TYPE", "TARGETS", "PATH", "VERSION", "DRIFT"]);
    for row in &rows {
        let versions = row["versions"].as_array().cloned().unwrap_or_default();
        let version_text = if versions.is_empty() {
            ui.paint(Style::Dim, "never applied")
        } else {
            versions
                .iter()
                .map(|v| {
                    let env = v["env"].as_str().unwrap_or("");
                    if env.is_empty() {
                        format!("v{}", v["version"])
                    } else {
                        format!("{env}:v{}", v["version"])
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let drift: Vec<String> = versions
            .iter()
            .flat_map(|v| {
                let mut d: Vec<String> = v["drift"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect();
                d.extend(
                    v["unreachable"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|n| n.as_str().map(|n| format!("{n}?"))),
                );
                d
            })
            .collect();
        table.row(vec![
            row["name"].as_str().unwrap_or("").to_string(),
            row["type"].as_str().unwrap_or("").to_string(),
            row["targets"].as_str().unwrap_or("").to_string(),
            row["path"].as_str().unwrap_or("").to_string(),
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
