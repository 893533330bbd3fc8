//! `baton secret set|get|list|rm NAME [--env E]` and `baton secret keygen` (SPEC §6). The work
//! is baton-secrets'; this module reads stdin, prints and picks exit codes. None of these
//! commands opens the store: secrets live in the project, never in `.baton/`.

use std::io::{IsTerminal, Read, Write};

use clap::{Args, Subcommand};

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

/// The value as given on stdin, minus one trailing newline (`\n` or `\r\n`) when it is the
/// only one, so `echo s3cret |` and here-strings store `s3cret`.
pub fn value_from_input(mut raw: Vec<u8>) -> Vec<u8> {
    let single = |s: &[u8], nl: &[u8]| s.ends_with(nl) && !s[..s.len() - nl.len()].ends_with(b"\n");
    if single(&raw, b"\r\n") {
        raw.truncate(raw.len() - 2);
    } else if single(&raw, b"\n") {
        raw.truncate(raw.len() - 1);
    }
    raw
}

fn set(cli: &Cli, ui: &Ui, args: &NameArgs) -> CommandResult {
    let project = load_project(cli)?;
    // Name, environment and recipients first: a typo must not wait for a value.
    baton_ops::check_secret_target(&project, args.env.as_deref(), &args.name)?;
    let mut stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("value of {} (end with Ctrl-D):", args.name);
    }
    let mut raw = Vec::new();
    stdin
        .read_to_end(&mut raw)
        .map_err(|e| Failure::failed(format!("cannot read the value from stdin: {e}")))?;
    let value = value_from_input(raw);
    let set = baton_ops::set_secret(&project, args.env.as_deref(), &args.name, &value)?;
    if !set.masked {
        eprintln!(
            "{}: the value is shorter than {} characters, so it will not be masked in logs",
            ui.paint(Style::Warn, "warning"),
            baton_engine::MIN_MASKED_LEN
        );
    }
    eprintln!(
        "{} in {}, for {} recipient(s)",
        set.name, set.file, set.recipients
    );
    Ok(EXIT_OK)
}

fn get(cli: &Cli, args: &NameArgs) -> CommandResult {
    let project = load_project(cli)?;
    let value = baton_ops::get_secret(&project, args.env.as_deref(), &args.name)?;
    let mut out = std::io::stdout();
    // Exactly the value for pipes (`$(baton secret get X)`); a newline for people.
    let end = if out.is_terminal() { "\n" } else { "" };
    let _ = write!(out, "{value}{end}");
    let _ = out.flush();
    Ok(EXIT_OK)
}

fn list(cli: &Cli, ui: &Ui, args: &SecretListArgs) -> CommandResult {
    let project = load_project(cli)?;
    let (env, listed) = baton_ops::list_secrets(&project, args.env.as_deref())?;
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
    let env = baton_ops::remove_secret(&project, args.env.as_deref(), &args.name)?;
    eprintln!("removed {} from secrets/{env}.yaml", args.name);
    Ok(EXIT_OK)
}

fn keygen(ui: &Ui) -> CommandResult {
    let made = baton_ops::keygen()?;
    println!("{}", made.public_key);
    eprintln!(
        "identity written to {} (mode 0600; back it up: secrets encrypted only for it are lost with it)",
        made.path
    );
    eprintln!(
        "  {}: add the key above to baton.yaml: `secrets: {{ recipients: [{}] }}`",
        ui.paint(Style::Accent, "next"),
        made.public_key
    );
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::value_from_input;

    #[test]
    fn only_a_single_trailing_newline_is_dropped() {
        let cut = |s: &str| String::from_utf8(value_from_input(s.into())).unwrap();
        assert_eq!(cut("abc\n"), "abc");
        assert_eq!(cut("abc\r\n"), "abc");
        assert_eq!(cut("abc\n\n"), "abc\n\n");
        assert_eq!(cut("abc"), "abc");
        assert_eq!(cut("a\nb\n"), "a\nb");
    }
}
