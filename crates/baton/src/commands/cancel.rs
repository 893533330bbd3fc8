//! `baton cancel RUN`: record a cancel request; the process running the run stops it.

use crate::app::{App, CommandResult, EXIT_OK, Failure, Style, Ui};
use crate::cli::{Cli, RunRef};
use crate::output;

pub fn run(cli: &Cli, ui: &Ui, args: &RunRef) -> CommandResult {
    let app = App::open(cli, ui)?;
    let done = app
        .ops
        .cancel(args.run, &baton_ops::cli_actor(), baton_ops::CANCEL_WAIT)?;
    if !done.stopped {
        return Err(Failure::failed(format!(
            "run {} did not stop within {}s (it is {}); the request stays recorded",
            done.run,
            baton_ops::CANCEL_WAIT.as_secs(),
            done.status
        )));
    }
    println!(
        "{} run {} {}",
        ui.paint(Style::Ok, "✓"),
        done.run,
        output::status(ui, done.status)
    );
    Ok(EXIT_OK)
}
