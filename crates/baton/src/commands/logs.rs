//! `baton logs RUN`: the stored output of a run's steps, optionally followed live.

use std::io::Write;
use std::time::Duration;

use baton_ops::runs::{LogCursor, LogQuery};

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{Cli, LogsArgs};

/// How often `--follow` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub fn run(cli: &Cli, ui: &Ui, args: &LogsArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let query = LogQuery {
        run: args.run,
        stage: args.stage.clone(),
        node: args.node.clone(),
    };
    app.ops.check_log_query(&query)?;
    let mut cursor = LogCursor::default();
    let mut out = std::io::stdout().lock();
    // The step whose output was printed last: output of another step gets its header again,
    // so lines of parallel nodes never appear under the wrong one.
    let mut current = None;
    loop {
        let batch = app.ops.read_log(&query, &mut cursor)?;
        for part in batch.parts {
            if current != Some(part.step.id) {
                let step = &part.step;
                let again = if part.first { "" } else { " (continued)" };
                let header = format!(
                    "── {} · {} · {}{again} ──",
                    step.stage, step.target, step.label
                );
                let _ = writeln!(out, "{}", ui.paint(Style::Dim, &header));
                current = Some(part.step.id);
            }
            // Invalid UTF-8 is written as is: logs are bytes, as the program printed them.
            let _ = out.write_all(&part.data);
        }
        let _ = out.flush();
        if !args.follow || batch.finished {
            break;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
    Ok(EXIT_OK)
}
