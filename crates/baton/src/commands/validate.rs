//! `baton validate`: every problem of the project at once, exit 2 when there is one.

use crate::app::{CommandResult, EXIT_OK, Style, Ui, load_project};
use crate::cli::Cli;

pub fn run(cli: &Cli, ui: &Ui) -> CommandResult {
    let project = load_project(cli)?;
    // Resource attributes are checked against their types' schemas (baton-infra), which the
    // model does not know.
    baton_infra::validate(&project, &baton_infra::Registry::builtin())
        .map_err(crate::app::Failure::Invalid)?;
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
