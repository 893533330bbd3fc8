//! `baton validate`: every problem of the project at once, exit 2 when there is one.

use crate::app::{CommandResult, EXIT_OK, Style, Ui, project_file};
use crate::cli::Cli;

pub fn run(cli: &Cli, ui: &Ui) -> CommandResult {
    let project = baton_ops::validate_project(&project_file(cli)?)?;
    crate::app::print_warnings(ui, &project);
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let parts = [
        count(project.pipelines.len(), "pipeline"),
        count(project.nodes.len(), "node"),
        count(project.environments.len(), "environment"),
        count(project.configs.len(), "config"),
        count(project.resources.len(), "resource"),
    ];
    println!(
        "{} {} is valid: {}",
        ui.paint(Style::Ok, "✓"),
        project.file.display(),
        parts.join(", ")
    );
    Ok(EXIT_OK)
}
