use crate::app::{App, CommandResult, EXIT_OK, Ui};
use crate::cli::{ArtifactCommand, Cli};
use crate::output::{self, Table};

pub fn run(cli: &Cli, ui: &Ui, command: &ArtifactCommand) -> CommandResult {
    let ArtifactCommand::List(args) = command;
    let app = App::open(cli, ui)?;
    let mut artifacts = app.store.artifacts(None)?;
    if let Some(env) = &args.env {
        artifacts.retain(|a| a.shelf.as_deref() == Some(env.as_str()));
    }
    if args.json {
        output::print_json(&artifacts);
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "ARTIFACT", "VERSION", "SHELF", "SIZE", "SHA256", "RUN", "PIPELINE", "CREATED",
    ]);
    for a in &artifacts {
        table.row(vec![
            a.name.clone(),
            a.version.to_string(),
            a.shelf.clone().unwrap_or_else(|| "-".into()),
            a.size.to_string(),
            a.sha256[..12].to_string(),
            format!("#{}", a.run),
            a.pipeline.clone(),
            output::time(a.created_at),
        ]);
    }
    if table.is_empty() {
        println!("no artifacts yet: stages store them with `artifacts: [GLOB]`");
    } else {
        print!("{}", table.render(ui));
    }
    Ok(EXIT_OK)
}
