//! `baton secret set|get|list|rm NAME [--env E]` and `baton secret keygen` (SPEC §6). The work
//! is baton-secrets'; this module reads stdin, prints and picks exit codes. None of these
//! commands opens the store: secrets live in the project, never in `.baton/`.

use std::io::{IsTerminal, Read, Write};

use baton_model::Project;
use baton_model::diagnostic::did_you_mean;
use baton_secrets::{Identity, SecretError, Secrets};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::app::{CommandResult, EXIT_OK, Failure, Style, Ui, load_project};
use crate::cli::Cli;
use crate::output::Table;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Encrypt the value read from stdin as NAME. One trailing newline is dropped (so `echo`
    /// works); a value ending in two keeps both.
    Set(NameArgs),
    /// Decrypt NAME with your identity and print it.
    Get(NameArgs),
    /// Names of the environment's secrets and who can read them (values are never shown).
    List(SecretListArgs),
    /// Remove NAME from the environment.
    Rm(NameArgs),
    /// Create your identity (BATON_IDENTITY, else ~/.config/baton/identity.txt, mode 0600) and
    /// print its public key, to add to `secrets.recipients`.
    Keygen,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    /// Upper-case letters, digits and `_` (it becomes an environment variable).
    pub name: String,
    /// Environment (`default` when not given, like runs without `--env`).
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, Args)]
pub struct SecretListArgs {
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cli: &Cli, ui: &Ui, command: &SecretCommand) -> CommandResult {
    match command {
        SecretCommand::Set(args) => set(cli, ui, args),
        SecretCommand::Get(args) => get(cli, args),
        SecretCommand::List(args) => list(cli, ui, args),
        SecretCommand::Rm(args) => rm(cli, args),
        SecretCommand::Keygen => keygen(ui),
    }
}

impl From<SecretError> for Failure {
    fn from(e: SecretError) -> Failure {
        match e {
            SecretError::BadName(_) => Failure::usage(e.to_string()),
            SecretError::NotFound { .. } => Failure::usage(e.to_string()),
            other => Failure::failed(other.to_string()),
        }
    }
}

/// The environment: `default`, or one the project declares (a typo must not quietly create
/// `secrets/prdo.yaml`, which no run would ever read).
fn environment(project: &Project, env: &Option<String>) -> Result<String, Failure> {
    let Some(env) = env else {
        return Ok(baton_engine::DEFAULT_SECRETS_ENV.to_string());
    };
    if env == baton_engine::DEFAULT_SECRETS_ENV || project.environments.contains_key(env) {
        return Ok(env.clone());
    }
    let mut failure = Failure::usage(format!("unknown environment `{env}`"));
    if let Some(s) = did_you_mean(env, project.environments.keys().map(String::as_str)) {
        failure = failure.with_hint(format!("did you mean `{s}`?"));
    }
    Err(failure)
}

/// The value as given on stdin, minus one trailing newline (`\n` or `\r\n`) when it is the
/// only one, so `echo s3cret |` and here-strings store `s3cret`.
pub fn value_from_input(mut raw: String) -> String {
    let single = |s: &str, nl: &str| s.ends_with(nl) && !s[..s.len() - nl.len()].ends_with('\n');
    if single(&raw, "\r\n") {
        raw.truncate(raw.len() - 2);
    } else if single(&raw, "\n") {
        raw.truncate(raw.len() - 1);
    }
    raw
}

fn set(cli: &Cli, ui: &Ui, args: &NameArgs) -> CommandResult {
    let project = load_project(cli)?;
    let env = environment(&project, &args.env)?;
    baton_secrets::check_name(&args.name)?;
    let recipients: Vec<String> = project
        .secrets
        .recipients
        .iter()
        .map(|r| r.value.clone())
        .collect();
    if recipients.is_empty() {
        return Err(SecretError::NoRecipients.into());
    }
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("value of {} (end with Ctrl-D):", args.name);
    }
    let mut raw = Vec::new();
    stdin
        .read_to_end(&mut raw)
        .map_err(|e| Failure::failed(format!("cannot read the value from stdin: {e}")))?;
    let raw = String::from_utf8(raw).map_err(|_| {
        Failure::usage("the value is not UTF-8 text (secrets become environment variables)")
            .with_hint("base64-encode binary values")
    })?;
    let value = value_from_input(raw);
    if value.is_empty() {
        return Err(Failure::usage(
            "empty value: nothing was read from stdin; nothing was changed",
        )
        .with_hint(format!(
            "echo VALUE | baton secret set {} --env {env}",
            args.name
        )));
    }
    if value.contains('\0') {
        return Err(Failure::usage(
            "the value contains a NUL byte, which environment variables cannot hold",
        ));
    }
    Secrets::new(&project.root).set(&env, &args.name, &value, &recipients)?;
    if value.len() < baton_engine::MIN_MASKED_LEN {
        eprintln!(
            "{}: the value is shorter than {} characters, so it will not be masked in logs",
            ui.paint(Style::Warn, "warning"),
            baton_engine::MIN_MASKED_LEN
        );
    }
    eprintln!(
        "{} in secrets/{env}.yaml, for {} recipient(s)",
        args.name,
        recipients.len()
    );
    Ok(EXIT_OK)
}

fn get(cli: &Cli, args: &NameArgs) -> CommandResult {
    let project = load_project(cli)?;
    let env = environment(&project, &args.env)?;
    let secrets = Secrets::new(&project.root);
    // The entry first: "no such secret" must not depend on having an identity.
    secrets.entry(&env, &args.name)?;
    let identity = Identity::locate_and_load()?;
    let value = secrets.get(&env, &args.name, &identity)?;
    let mut out = std::io::stdout();
    // Exactly the value for pipes (`$(baton secret get X)`); a newline for people.
    let end = if out.is_terminal() { "\n" } else { "" };
    let _ = write!(out, "{value}{end}");
    let _ = out.flush();
    Ok(EXIT_OK)
}

#[derive(Serialize)]
struct Listed {
    name: String,
    /// Who the value was encrypted for.
    recipients: Vec<String>,
    /// Encrypted for exactly the recipients baton.yaml lists now (else: set it again).
    current: bool,
}

fn list(cli: &Cli, ui: &Ui, args: &SecretListArgs) -> CommandResult {
    let project = load_project(cli)?;
    let env = environment(&project, &args.env)?;
    let file = Secrets::new(&project.root).read(&env)?;
    let mut wanted: Vec<&str> = project
        .secrets
        .recipients
        .iter()
        .map(|r| r.value.as_str())
        .collect();
    wanted.sort();
    let listed: Vec<Listed> = file
        .entries
        .into_iter()
        .map(|(name, entry)| {
            let mut have: Vec<&str> = entry.recipients.iter().map(String::as_str).collect();
            have.sort();
            Listed {
                current: have == wanted,
                name,
                recipients: entry.recipients,
            }
        })
        .collect();
    if args.json {
        crate::output::print_json(&listed);
        return Ok(EXIT_OK);
    }
    if listed.is_empty() {
        println!(
            "no secrets in environment `{env}`: add one with `echo VALUE | baton secret set NAME --env {env}`"
        );
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&["NAME", "RECIPIENTS", ""]);
    for l in &listed {
        table.row(vec![
            l.name.clone(),
            l.recipients
                .iter()
                .map(|r| short(r))
                .collect::<Vec<_>>()
                .join(","),
            if l.current {
                String::new()
            } else {
                ui.paint(
                    Style::Warn,
                    "recipients differ from baton.yaml: set it again",
                )
            },
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

/// `age1abcd…wxyz`: enough to tell keys apart in a table.
fn short(recipient: &str) -> String {
    if recipient.len() <= 16 {
        return recipient.to_string();
    }
    format!("{}…{}", &recipient[..9], &recipient[recipient.len() - 4..])
}

fn rm(cli: &Cli, args: &NameArgs) -> CommandResult {
    let project = load_project(cli)?;
    let env = environment(&project, &args.env)?;
    Secrets::new(&project.root).remove(&env, &args.name)?;
    eprintln!("removed {} from secrets/{env}.yaml", args.name);
    Ok(EXIT_OK)
}

fn keygen(ui: &Ui) -> CommandResult {
    let path = baton_secrets::identity_path()?;
    let public = baton_secrets::generate(&path)?;
    println!("{public}");
    eprintln!(
        "identity written to {} (mode 0600; back it up: secrets encrypted only for it are lost with it)",
        path.display()
    );
    eprintln!(
        "  {}: add the key above to baton.yaml: `secrets: {{ recipients: [{public}] }}`",
        ui.paint(Style::Accent, "next")
    );
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::value_from_input;

    #[test]
    fn only_a_single_trailing_newline_is_dropped() {
        assert_eq!(value_from_input("abc\n".into()), "abc");
        assert_eq!(value_from_input("abc\r\n".into()), "abc");
        assert_eq!(value_from_input("abc\n\n".into()), "abc\n\n");
        assert_eq!(value_from_input("abc".into()), "abc");
        assert_eq!(value_from_input("a\nb\n".into()), "a\nb");
    }
}
