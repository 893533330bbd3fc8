//! `baton artifact list | promote`: artifact versions, the shelves they are on, promotion.

use baton_engine::promotion::{self, PromoteError, PromoteRequest, Promoted};
use baton_store::{ArtifactRecord, PromotionRecord};
use serde::Serialize;

use crate::app::{App, CommandResult, EXIT_OK, Failure, Style, Ui};
use crate::cli::{ArtifactCommand, ArtifactListArgs, ArtifactPromoteArgs, Cli};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, command: &ArtifactCommand) -> CommandResult {
    match command {
        ArtifactCommand::List(args) => list(cli, ui, args),
        ArtifactCommand::Promote(args) => promote(cli, ui, args),
    }
}

/// One artifact version with every shelf it is on (published first, then promoted).
#[derive(Serialize)]
struct Listed {
    #[serde(flatten)]
    artifact: ArtifactRecord,
    shelves: Vec<String>,
    /// How it reached each shelf after the first: from where, when, by whom, which run.
    promotions: Vec<PromotionRecord>,
}

fn list(cli: &Cli, ui: &Ui, args: &ArtifactListArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    if let Some(env) = &args.env
        && !app.project.environments.contains_key(env)
    {
        return Err(unknown_env(&app, env));
    }
    let promotions = app.store.promotions(None)?;
    let mut listed: Vec<Listed> = app
        .store
        .artifacts(None)?
        .into_iter()
        .map(|artifact| Listed {
            shelves: promotion::shelves(&artifact, &promotions)
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
            promotions: promotions
                .iter()
                .filter(|p| p.artifact_id == artifact.id)
                .cloned()
                .collect(),
            artifact,
        })
        .collect();
    if let Some(env) = &args.env {
        listed.retain(|l| l.shelves.contains(env));
    }
    if args.json {
        output::print_json(&listed);
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "ARTIFACT", "VERSION", "SHELVES", "SIZE", "SHA256", "RUN", "PIPELINE", "CREATED",
    ]);
    for l in &listed {
        let a = &l.artifact;
        table.row(vec![
            a.name.clone(),
            a.version.to_string(),
            if l.shelves.is_empty() {
                "-".into()
            } else {
                l.shelves.join(",")
            },
            a.size.to_string(),
            a.sha256[..12].to_string(),
            format!("#{}", a.run),
            a.pipeline.clone(),
            output::time(a.created_at),
        ]);
    }
    if table.is_empty() {
        match &args.env {
            Some(env) => println!("no artifacts on the `{env}` shelf"),
            None => println!("no artifacts yet: stages store them with `artifacts: [GLOB]`"),
        }
    } else {
        print!("{}", table.render(ui));
    }
    Ok(EXIT_OK)
}

fn unknown_env(app: &App, env: &str) -> Failure {
    let hint = baton_model::diagnostic::did_you_mean(
        env,
        app.project.environments.keys().map(String::as_str),
    )
    .map(|s| format!(" (did you mean `{s}`?)"))
    .unwrap_or_default();
    Failure::usage(format!("no environment named `{env}`{hint}"))
}

fn promote(cli: &Cli, ui: &Ui, args: &ArtifactPromoteArgs) -> CommandResult {
    let (name, version) = match args.artifact.split_once('@') {
        None => (args.artifact.clone(), None),
        Some((name, version)) => match version.parse::<i64>() {
            Ok(v) if v > 0 && !name.is_empty() => (name.to_string(), Some(v)),
            _ => {
                return Err(Failure::usage(format!(
                    "`{}` is not NAME or NAME@VERSION (VERSION is a number from 1)",
                    args.artifact
                )));
            }
        },
    };
    let app = App::open(cli, ui)?;
    let request = PromoteRequest {
        name,
        version,
        to: args.to.clone(),
        approve: args.approve,
        from: None,
        run: None,
    };
    let outcome =
        promotion::promote(&app.project, app.store.as_ref(), &request).map_err(|e| match e {
            PromoteError::Unknown(message) => Failure::usage(message),
            PromoteError::Refused { message, hint } => {
                let failure = Failure::failed(message);
                match hint {
                    Some(hint) => failure.with_hint(hint),
                    None => failure,
                }
            }
            PromoteError::Store(e) => e.into(),
        })?;
    match outcome {
        Promoted::Recorded(record) => {
            if args.json {
                output::print_json(&record);
                return Ok(EXIT_OK);
            }
            let tag = record
                .tag
                .as_deref()
                .map(|t| format!(", tagged `{t}`"))
                .unwrap_or_default();
            println!(
                "{} {}@{} {} → {}{tag}",
                ui.paint(Style::Ok, "promoted"),
                record.name,
                record.version,
                record.from,
                record.env
            );
        }
        Promoted::AlreadyThere { name, version } => {
            if args.json {
                output::print_json(&serde_json::json!({
                    "name": name, "version": version, "env": args.to, "already": true
                }));
                return Ok(EXIT_OK);
            }
            println!(
                "{name}@{version} is already on the `{}` shelf: nothing to do",
                args.to
            );
        }
    }
    Ok(EXIT_OK)
}
