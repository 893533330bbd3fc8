//! `baton cancel RUN`: ask the process running it to stop (as Ctrl-C would).

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::app::{App, CommandResult, EXIT_OK, Failure, Style, Ui};
use crate::cli::{Cli, RunRef};
use crate::output;

/// How long to wait for the run to acknowledge the cancellation.
const WAIT: Duration = Duration::from_secs(15);

pub fn run(cli: &Cli, ui: &Ui, args: &RunRef) -> CommandResult {
    let app = App::open(cli, ui)?;
    let run = app
        .store
        .run(args.run)?
        .ok_or_else(|| Failure::usage(format!("no run {}", args.run)))?;
    if run.status.is_finished() {
        return Err(Failure::usage(format!(
            "run {} already finished ({})",
            run.id, run.status
        )));
    }
    if !run.owner.alive() {
        return Err(Failure::failed(format!(
            "run {}'s process is gone; it is now marked interrupted",
            run.id
        )));
    }
    if run.owner.host != baton_store::Owner::current().host {
        return Err(Failure::failed(format!(
            "run {} runs on {}; cancel it there",
            run.id, run.owner.host
        )));
    }
    kill(Pid::from_raw(run.owner.pid as i32), Signal::SIGTERM)
        .map_err(|e| Failure::failed(format!("cannot signal pid {}: {e}", run.owner.pid)))?;
    let started = Instant::now();
    while started.elapsed() < WAIT {
        let now = app.store.run(run.id)?.map(|r| r.status);
        if let Some(status) = now.filter(|s| s.is_finished()) {
            println!(
                "{} run {} {}",
                ui.paint(Style::Ok, "✓"),
                run.id,
                output::status(ui, status)
            );
            return Ok(EXIT_OK);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Failure::failed(format!(
        "run {} did not stop within {}s",
        run.id,
        WAIT.as_secs()
    )))
}
