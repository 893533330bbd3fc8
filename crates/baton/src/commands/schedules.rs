//! `baton schedules`: every schedule trigger with its next time (on the clock of its zone, and
//! of this machine when that reads differently), the last slot that started a run and the
//! slots missed while no server was running.

use baton_ops::api::schedules::Schedule;
use baton_ops::schedule::{MISSED_SHOWN, in_zone};
use chrono::{DateTime, Local, Timelike, Utc};

use crate::app::{App, CommandResult, EXIT_OK, Style, Ui};
use crate::cli::{Cli, ListArgs};
use crate::output::Table;

/// Next times computed per schedule: the table shows the first, `--json` all of them.
const NEXT_COUNT: usize = 5;

pub fn run(cli: &Cli, ui: &Ui, args: &ListArgs) -> CommandResult {
    let app = App::open(cli, ui)?;
    let rows = app.ops.schedules(Utc::now(), NEXT_COUNT)?;
    if args.json {
        crate::output::print_json(&rows);
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        println!("No schedules: no pipeline has a `schedule` trigger.");
        return Ok(EXIT_OK);
    }
    let mut table = Table::new(&["PIPELINE", "SCHEDULE", "NEXT", "LAST FIRED", "MISSED"]);
    for row in &rows {
        table.row(vec![
            row.pipeline.clone(),
            format!("{} {}", row.cron, row.timezone),
            next(row),
            last_fired(row),
            missed(ui, row),
        ]);
    }
    print!("{}", table.render(ui));
    Ok(EXIT_OK)
}

fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `2026-03-29 03:00 CEST` (seconds only for schedules that have them).
fn wall_clock(at: &str, timezone: &str) -> String {
    let Some(zoned) = parse(at).and_then(|t| in_zone(t, timezone)) else {
        // Not a time this build wrote: show it as it came rather than nothing.
        return at.to_string();
    };
    let clock = if zoned.second() == 0 {
        "%Y-%m-%d %H:%M %Z"
    } else {
        "%Y-%m-%d %H:%M:%S %Z"
    };
    zoned.format(clock).to_string()
}

/// The next time in the schedule's zone, then in local time when this machine's clock reads
/// differently (the date only when it differs too).
fn next(row: &Schedule) -> String {
    let Some(first) = row.next.first() else {
        return "never".into();
    };
    let mut text = wall_clock(first, &row.timezone);
    let Some((at, zoned)) = parse(first).and_then(|at| Some((at, in_zone(at, &row.timezone)?)))
    else {
        return text;
    };
    let local = at.with_timezone(&Local);
    if local.naive_local() != zoned.naive_local() {
        let clock = match (local.date_naive() == zoned.date_naive(), local.second()) {
            (true, 0) => "%H:%M",
            (true, _) => "%H:%M:%S",
            (false, 0) => "%Y-%m-%d %H:%M",
            (false, _) => "%Y-%m-%d %H:%M:%S",
        };
        text.push_str(&format!(" ({} local)", local.format(clock)));
    }
    text
}

fn last_fired(row: &Schedule) -> String {
    match &row.last_fired {
        None => "never".into(),
        Some(fired) => {
            let at = wall_clock(&fired.slot, &row.timezone);
            match fired.run {
                Some(run) => format!("{at} #{run}"),
                // Claimed, and the run is being created (or creating it failed).
                None => format!("{at} (no run)"),
            }
        }
    }
}

/// How many recent slots were missed and the latest; the API keeps the last few, so a full
/// list reads "10+".
fn missed(ui: &Ui, row: &Schedule) -> String {
    let Some(latest) = row.missed.first() else {
        return "-".into();
    };
    let count = if row.missed.len() >= MISSED_SHOWN {
        format!("{}+", row.missed.len())
    } else {
        row.missed.len().to_string()
    };
    ui.paint(
        Style::Warn,
        &format!("{count}, latest {}", wall_clock(latest, &row.timezone)),
    )
}
