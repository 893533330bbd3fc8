//! `baton schedules` through the real binary: `--json` lists each schedule trigger with its
//! next times (future, in order, UTC), the table shows them on the clock of the schedule's zone
//! (and of this machine when it reads differently), and a project without schedules says so.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

mod common;

use chrono::{DateTime, Utc};
use common::Project;

const PROJECT: &str = r#"
project: clocks
pipelines:
  nightly:
    triggers: [manual, { schedule: '30 2 * * *', timezone: Europe/Paris }]
    stages: { build: { run: 'true' } }
  hourly:
    triggers: [{ schedule: '0 * * * *', catch_up: false }]
    stages: { build: { run: 'true' } }
  by-hand:
    stages: { build: { run: 'true' } }
"#;

#[test]
fn json_lists_each_schedule_with_future_next_times_in_order() {
    let project = Project::new(PROJECT);
    let before = Utc::now();
    let json = project.baton(&["schedules", "--json"]).code(0).json();
    let rows = json.as_array().expect("an array, as other listings");
    assert_eq!(rows.len(), 2, "{json:#}");
    assert_eq!(rows[0]["pipeline"], "nightly");
    assert_eq!(rows[0]["cron"], "30 2 * * *");
    assert_eq!(rows[0]["timezone"], "Europe/Paris");
    assert_eq!(rows[0]["catch_up"], true);
    assert_eq!(rows[1]["pipeline"], "hourly");
    assert_eq!(rows[1]["timezone"], "UTC");
    assert_eq!(rows[1]["catch_up"], false);
    for row in rows {
        let next: Vec<DateTime<Utc>> = row["next"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let text = t.as_str().unwrap();
                assert!(text.ends_with('Z'), "UTC: {text}");
                DateTime::parse_from_rfc3339(text)
                    .unwrap()
                    .with_timezone(&Utc)
            })
            .collect();
        assert!(!next.is_empty(), "{row:#}");
        assert!(next[0] > before, "{row:#}");
        assert!(next.windows(2).all(|w| w[0] < w[1]), "{row:#}");
        assert_eq!(row["last_fired"], serde_json::Value::Null);
        assert_eq!(row["missed"], serde_json::json!([]));
    }
}

#[test]
fn the_table_shows_the_zone_and_local_time_when_it_differs() {
    let project = Project::new(PROJECT);
    let out = project
        .command(&["schedules"])
        .env("TZ", "America/New_York")
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    let header = table.lines().next().unwrap();
    for column in ["PIPELINE", "SCHEDULE", "NEXT", "LAST FIRED", "MISSED"] {
        assert!(header.contains(column), "{table}");
    }
    let nightly = table.lines().find(|l| l.starts_with("nightly")).unwrap();
    assert!(nightly.contains("30 2 * * * Europe/Paris"), "{table}");
    // 02:30 in Paris (CET or CEST), and New York's clock beside it.
    assert!(
        nightly.contains(" 02:30 CET") || nightly.contains(" 02:30 CEST"),
        "{table}"
    );
    assert!(nightly.contains(" local)"), "{table}");
    assert!(nightly.contains("never"), "{table}");
    let hourly = table.lines().find(|l| l.starts_with("hourly")).unwrap();
    assert!(hourly.contains("0 * * * * UTC"), "{table}");
    assert!(hourly.contains(":00 UTC ("), "{table}");

    // On a machine whose clock is the schedule's, the time is not repeated.
    let out = project
        .command(&["schedules"])
        .env("TZ", "Europe/Paris")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let nightly = table.lines().find(|l| l.starts_with("nightly")).unwrap();
    assert!(!nightly.contains("local)"), "{table}");
}

#[test]
fn a_project_without_schedules_says_so() {
    let project = Project::new("pipelines:\n  build:\n    stages: { a: { run: 'true' } }\n");
    project
        .baton(&["schedules"])
        .code(0)
        .stdout_has("No schedules");
    let json = project.baton(&["schedules", "--json"]).code(0).json();
    assert_eq!(json, serde_json::json!([]));
}
