//! `baton artifact list | promote | get`: artifact versions, the shelves they are on,
//! promotion, and a verified download.

use baton_ops::api::artifacts::Promoted;

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{ArtifactCommand, ArtifactGetArgs, ArtifactListArgs, ArtifactPromoteArgs, Cli};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, command: &ArtifactCommand) -> CommandResult {
    match command {
        ArtifactCommand::List(args) => list(cli, ui, args),
        ArtifactCommand::Promote(args) => promote(cli, ui, args),
        ArtifactCommand::Get(args) => get(cli, ui, args),
    }
}

fn get(cli: &Cli, ui: &Ui, args: &ArtifactGetArgs) -> CommandResult {
    let (name, version) = baton_ops::parse_artifact_ref(&args.artifact)?;
    let app = App::open(cli, ui)?;
    let to_stdout = args.output.as_deref() == Some(std::path::Path::new("-"));
    let default_dest = std::path::PathBuf::from(
        std::path::Path::new(&name)
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| name.clone().into()),
    );
    let dest = match &args.output {
        _ if to_stdout => None,
        Some(path) => Some(path.clone()),
        None => Some(default_dest),
    };
    let mut stdout = std::io::stdout().lock();
    let fetched = app.ops.artifact_get(
        &name,
        version,
        args.env.as_deref(),
        dest.as_deref(),
        &mut stdout,
    )?;
    if to_stdout {
        return Ok(EXIT_OK);
    }
    if args.json {
        output::print_json(&fetched);
    } else if let Some(path) = &fetched.path {
        println!(
            "{} {}@{} → {} ({} bytes, sha256 {})",
            ui.paint(Style::Ok, "✓"),
            fetched.name,
            fetched.version,
            path.display(),
            fetched.size,
            &fetched.sha256[..12]
        );
    }
    Ok(EXIT_OK)
}

fn list(cli: &Cli, ui: &Ui, args: &ArtifactListArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let listed = app.ops.artifacts(args.env.as_deref())?;
    if args.json {
        output::print_json(&listed);
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "ARTIFACT", "VERSION", "SHELVES", "SIZE", "SHA256", "RUN", "PIPELINE", "CREATED",
    ]);
    for a in &listed {
        table.row(vec![
            a.name.clone(),
            a.version.to_string(),
            if a.shelves.is_empty() {
                "-".into()
            } else {
                a.shelves.join(",")
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

fn promote(cli: &Cli, ui: &Ui, args: &ArtifactPromoteArgs) -> CommandResult {
    let (name, version) = baton_ops::parse_artifact_ref(&args.artifact)?;
    let app = App::open(cli, ui)?;
    let outcome = app.ops.promote(name, version, &args.to, args.approve)?;
    match &outcome {
        Promoted::Recorded(record) => {
            if args.json {
                output::print_json(&outcome);
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
        Promoted::AlreadyThere { name, version, .. } => {
            if args.json {
                output::print_json(&outcome);
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
