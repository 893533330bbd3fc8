//! `baton notify test CHANNEL` (send a test message now, print the server's reply) and
//! `baton notify log [--limit N] [--json]` (the delivery record: what was sent, what is queued
//! or retrying, what failed and the server's reason).

use clap::{Args, Subcommand, ValueEnum};

use baton_ops::notify::NotifyLogQuery;
use baton_store::DeliveryStatus;

use crate::app::{App, CommandResult, EXIT_FAILED, EXIT_OK, Style, Ui};
use crate::cli::Cli;
use crate::output::{self, Table};

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test message through CHANNEL now and print the server's reply (exit 1 when it
    /// failed). It is recorded in `notify log` and not retried.
    Test(NotifyTestArgs),
    /// Deliveries, newest first: channel, origin, status, attempts and the last error.
    Log(NotifyLogArgs),
}

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// A channel of `notifications:`.
    pub channel: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NotifyLogArgs {
    /// How many deliveries to show.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Only this channel's.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Queued,
    Retrying,
    Sent,
    Failed,
}

impl From<StatusArg> for DeliveryStatus {
    fn from(s: StatusArg) -> DeliveryStatus {
        match s {
            StatusArg::Queued => DeliveryStatus::Queued,
            StatusArg::Retrying => DeliveryStatus::Retrying,
            StatusArg::Sent => DeliveryStatus::Sent,
            StatusArg::Failed => DeliveryStatus::Failed,
        }
    }
}

pub fn run(cli: &Cli, ui: &Ui, command: &NotifyCommand) -> CommandResult {
    match command {
        NotifyCommand::Test(args) => test(cli, ui, args),
        NotifyCommand::Log(args) => log(cli, ui, args),
    }
}

fn test(cli: &Cli, ui: &Ui, args: &NotifyTestArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let runtime = crate::app::runtime()?;
    let result = runtime.block_on(app.ops.notify_test(&args.channel));
    runtime.shutdown_background();
    let result = result?;
    if args.json {
        output::print_json(&result);
    } else if result.ok {
        println!(
            "{} sent a test message through {} (delivery {}): {}",
            ui.paint(Style::Ok, "✓"),
            result.channel,
            result.delivery,
            result.reply
        );
    } else {
        println!(
            "{} the test message through {} failed (delivery {}): {}",
            ui.paint(Style::Bad, "✗"),
            result.channel,
            result.delivery,
            result.reply
        );
    }
    Ok(if result.ok { EXIT_OK } else { EXIT_FAILED })
}

fn log(cli: &Cli, ui: &Ui, args: &NotifyLogArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let rows = app.ops.notify_log(&NotifyLogQuery {
        limit: Some(args.limit),
        channel: args.channel.clone(),
        status: args.status.map(Into::into),
        origin: None,
    })?;
    if args.json {
        output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        println!("No notifications sent or queued yet.");
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&[
        "ID",
        "TIME",
        "CHANNEL",
        "ORIGIN",
        "STATUS",
        "ATTEMPTS",
        "LAST ERROR",
    ]);
    for d in &rows {
        let style = match d.status.as_str() {
            "sent" => Style::Ok,
            "failed" => Style::Bad,
            "retrying" => Style::Warn,
            _ => Style::Accent,
        };
        let status = match (d.status.as_str(), d.next_attempt_at) {
            ("retrying", Some(at)) => format!("retrying at {}", clock(at)),
            (s, _) => s.to_string(),
        };
        table.row(vec![
            d.id.to_string(),
            output::time(d.sent_at.unwrap_or(d.created_at)),
            d.channel.clone(),
            d.origin.clone(),
            ui.paint(style, &status),
            format!("{}/{}", d.attempts, d.retries + 1),
            d.last_error.as_deref().map(one_line).unwrap_or_default(),
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

/// `14:03:27` (the date is in the TIME column already).
fn clock(at: i64) -> String {
    output::time(at)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// A server's reply on one line, cut to keep the table readable (`--json` has it whole).
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 100 {
        let cut: String = joined.chars().take(99).collect();
        format!("{cut}…")
    } else {
        joined
    }
}
