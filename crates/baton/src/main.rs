//! The `baton` binary: argv → settings → one command → exit code. The only crate that prints.

mod app;
mod cli;
mod commands;
mod live;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::app::Ui;
use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    end_quietly_on_closed_pipe();
    let cli = Cli::parse_from(cli::normalize_args(std::env::args()));
    let ui = Ui::new(cli.color);
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(args, &ui),
        Command::Schema(args) => commands::schema::run(args),
        Command::Validate => commands::validate::run(&cli, &ui),
        Command::Pipelines(args) => commands::pipelines::run(&cli, &ui, args),
        Command::Schedules(args) => commands::schedules::run(&cli, &ui, args),
        Command::Run(args) => commands::run::run(&cli, &ui, args),
        Command::Runs(args) => commands::runs::run(&cli, &ui, args),
        Command::Show(args) => commands::show::run(&cli, &ui, args),
        Command::Logs(args) => commands::logs::run(&cli, &ui, args),
        Command::Cancel(args) => commands::cancel::run(&cli, &ui, args),
        Command::Rollback(args) => commands::run::rollback(&cli, &ui, args),
        Command::Retry(args) => commands::run::retry(&cli, &ui, args),
        Command::Exec(args) => commands::exec::run(&cli, &ui, args),
        Command::SshMux(args) => commands::ssh_mux::run(args),
        Command::Serve(args) => commands::serve::run(&cli, &ui, args),
        Command::Monitor => commands::monitor::run(&cli, &ui),
        Command::Metrics(args) => commands::metrics::run(&cli, &ui, args),
        Command::Alerts(args) => commands::alerts::run(&cli, &ui, args),
        Command::Alert(cmd) => commands::alerts::alert(&cli, &ui, cmd),
        Command::Ping(args) => commands::ping::run(&cli, &ui, args),
        Command::Nodes(args) => commands::nodes::run(&cli, &ui, args),
        Command::Artifact(cmd) => commands::artifact::run(&cli, &ui, cmd),
        Command::Config(cmd) => commands::config::run(&cli, &ui, cmd),
        Command::Secret(cmd) => commands::secret::run(&cli, &ui, cmd),
        Command::Token(cmd) => commands::token::run(&cli, &ui, cmd),
        Command::Notify(cmd) => commands::notify::run(&cli, &ui, cmd),
        Command::Plan(args) => commands::infra::plan(&cli, &ui, args),
        Command::Apply(args) => commands::infra::apply(&cli, &ui, args),
        Command::Destroy(args) => commands::infra::destroy(&cli, &ui, args),
        Command::Output(args) => commands::infra::output_cmd(&cli, &ui, args),
        Command::Graph => commands::infra::graph(&cli),
        Command::State(cmd) => commands::infra::state(&cli, &ui, cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            failure.print(&ui);
            ExitCode::from(failure.exit_code())
        }
    }
}

/// `baton runs | head -1` closes the pipe early: end quietly as `ls | head` does, instead of
/// the standard library's "failed printing to stdout: Broken pipe" panic (exit 101). Live views
/// of running work never print through a panicking path (see `output::out`), so this only ever
/// ends a listing whose reader has gone.
fn end_quietly_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") && message.starts_with("failed printing to std") {
            std::process::exit(0);
        }
        default(info);
    }));
}
