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
    let mut stamps = Timestamps::default();
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
            if args.timestamps {
                let times = stamps.of(&app, part.step.id)?.to_vec();
                write_stamped(
                    &mut out,
                    part.step.id,
                    &part.data,
                    part.offset,
                    &times,
                    &mut stamps.midline,
                );
            } else {
                let _ = out.write_all(&part.data);
            }
        }
        let _ = out.flush();
        if !args.follow || batch.finished {
            break;
        }
        std::thread::sleep(FOLLOW_POLL);
        // Followed output grows: its times are read again.
        stamps.times.clear();
    }
    Ok(EXIT_OK)
}

/// The arrival times of the steps shown, read once per step and batch.
#[derive(Default)]
struct Timestamps {
    times: std::collections::HashMap<i64, Vec<(i64, i64)>>,
    /// Steps whose last printed byte was not a newline (the next bytes continue a line).
    midline: std::collections::HashSet<i64>,
}

impl Timestamps {
    fn of(&mut self, app: &App, step: i64) -> Result<&[(i64, i64)], crate::app::Failure> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.times.entry(step) {
            e.insert(app.ops.log_times(step)?);
        }
        Ok(&self.times[&step])
    }
}

/// `data` (which starts at `offset` in step `step`'s log) with each line prefixed by the time
/// the piece holding its first byte arrived; a line continued from an earlier read is not
/// prefixed again.
fn write_stamped(
    out: &mut impl Write,
    step: i64,
    data: &[u8],
    offset: i64,
    times: &[(i64, i64)],
    midline: &mut std::collections::HashSet<i64>,
) {
    let mut at = offset;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if !midline.contains(&step) {
            let _ = write!(out, "{} ", stamp(time_at(times, at)));
        }
        let _ = out.write_all(line);
        if line.ends_with(b"\n") {
            midline.remove(&step);
        } else {
            midline.insert(step);
        }
        at += line.len() as i64;
    }
}

/// The arrival time of the byte at `offset`: that of the last piece starting at or before it.
fn time_at(times: &[(i64, i64)], offset: i64) -> Option<i64> {
    let i = times.partition_point(|(o, _)| *o <= offset);
    i.checked_sub(1).map(|i| times[i].1)
}

/// `2026-12-02T03:40:01.123Z`; output recorded before times were kept has none.
fn stamp(at: Option<i64>) -> String {
    match at.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{:<24}", "-"),
    }
}
