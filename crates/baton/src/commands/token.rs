//! `baton token add NAME --role viewer|operator`, `token list [--json]`, `token rm NAME`: the
//! API tokens `baton serve` accepts. The work (generating, the edit of baton.yaml, the checks)
//! is `baton_ops::tokens`'; this module prints, and keeps the token apart on stdout so that
//! `TOKEN=$(baton token add ci --role operator)` captures exactly it.

use clap::{Args, Subcommand, ValueEnum};

use baton_ops::api::tokens::{Role, TokenSource};
use baton_ops::tokens::ENV_TOKEN;

use crate::app::{CommandResult, EXIT_OK, Style, Ui, load_project};
use crate::cli::Cli;
use crate::output::{self, Table};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token: its SHA-256 goes into baton.yaml (`server.tokens`), the token itself is
    /// printed once on stdout and kept nowhere.
    Add(TokenAddArgs),
    /// The tokens the server accepts: baton.yaml's, and BATON_TOKEN when it is set here.
    List(TokenListArgs),
    /// Remove token NAME from baton.yaml; a running `baton serve` refuses it once it reloads.
    Rm(TokenRmArgs),
}

#[derive(Debug, Args)]
pub struct TokenAddArgs {
    /// The token's name, the actor of what it starts: letters, digits, `_`, `.`, `-`.
    pub name: String,
    /// viewer reads; operator also starts, cancels, retries, rolls back and approves.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Print `{ "api": 1, name, role, token, sha256 }` instead of the bare token.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TokenRmArgs {
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Viewer,
    Operator,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
        }
    }
}

pub fn run(cli: &Cli, ui: &Ui, command: &TokenCommand) -> CommandResult {
    match command {
        TokenCommand::Add(args) => add(cli, ui, args),
        TokenCommand::List(args) => list(cli, ui, args),
        TokenCommand::Rm(args) => rm(cli, args),
    }
}

fn add(cli: &Cli, ui: &Ui, args: &TokenAddArgs) -> CommandResult {
    let project = load_project(cli)?;
    let added = baton_ops::tokens::add_token(&project, &args.name, args.role.into())?;
    if args.json {
        output::print_json(&added);
    } else {
        println!("{}", added.token);
    }
    eprintln!(
        "token `{}` ({}) added to {}: send it as `Authorization: Bearer TOKEN`",
        added.name,
        added.role.as_str(),
        file_name(&project)
    );
    eprintln!(
        "  {}: this is the only time the token is shown (baton.yaml keeps its SHA-256): store it now",
        ui.paint(Style::Warn, "note")
    );
    Ok(EXIT_OK)
}

fn list(cli: &Cli, ui: &Ui, args: &TokenListArgs) -> CommandResult {
    let project = load_project(cli)?;
    let env_token = std::env::var(ENV_TOKEN).ok();
    let listed = baton_ops::tokens::list_tokens(&project, env_token.as_deref());
    if args.json {
        output::print_json(&listed);
        return Ok(EXIT_OK);
    }
    if listed.is_empty() {
        println!("no API tokens: add one with `baton token add NAME --role viewer`");
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&["NAME", "ROLE", "SHA256", "SOURCE"]);
    for t in &listed {
        table.row(vec![
            t.name.clone(),
            t.role.as_str().to_string(),
            t.sha256_prefix.clone(),
            match t.source {
                TokenSource::Project => file_name(&project),
                TokenSource::Env => "env".to_string(),
            },
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

fn rm(cli: &Cli, args: &TokenRmArgs) -> CommandResult {
    let project = load_project(cli)?;
    let removed = baton_ops::tokens::remove_token(&project, &args.name)?;
    eprintln!(
        "removed token `{}` ({}) from {}",
        removed.name,
        removed.role.as_str(),
        file_name(&project)
    );
    Ok(EXIT_OK)
}

/// `baton.yaml` (or whatever `-f` named), without the directory.
fn file_name(project: &baton_model::Project) -> String {
    project
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| project.file.display().to_string())
}
