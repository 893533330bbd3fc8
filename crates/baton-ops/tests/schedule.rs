//! Schedules against a real SQLite store: what is due is claimed once (per process and across
//! processes sharing the store), downtime leaves one catch-up run and a bounded record of what
//! was missed, a new schedule does not replay history, and daylight saving time in
//! Europe/Paris fires each slot at most once.

use std::path::PathBuf;

use baton_ops::Ops;
use baton_ops::runs::{RunAction, StartRun};
use baton_ops::schedule::{DueSlot, MAX_MISSED_RECORDED};
use baton_store::{RunId, SlotOutcome, Status};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tokio_util::sync::CancellationToken;

struct Project {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

/// A project whose pipeline `job` has `triggers` (a YAML flow list).
fn project(triggers: &str) -> Project {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.yaml");
    std::fs::write(
        &file,
        format!(
            "pipelines:\n  job:\n    triggers: {triggers}\n    stages: {{ a: {{ run: 'true' }} }}\n"
        ),
    )
    .unwrap();
    Project { _dir: dir, file }
}

impl Project {
    fn ops(&self) -> Ops {
        Ops::open(&self.file).unwrap()
    }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

/// The recorded slots of `job`, oldest first, as (due time, outcome).
fn recorded(ops: &Ops) -> Vec<(DateTime<Utc>, SlotOutcome)> {
    let mut slots: Vec<_> = ops
        .store
        .slots("job", 10_000)
        .unwrap()
        .into_iter()
        .map(|r| (DateTime::from_timestamp(r.slot, 0).unwrap(), r.outcome))
        .collect();
    slots.reverse();
    slots
}

const HOURLY: &str = "[{ schedule: '0 * * * *' }]";

#[test]
fn an_on_time_slot_is_fired_once() {
    let p = project(HOURLY);
    let ops = p.ops();
    let since = utc(2026, 1, 10, 9, 30, 0);
    let due = ops
        .claim_due_slots(since, utc(2026, 1, 10, 10, 0, 5))
        .unwrap();
    assert_eq!(
        due,
        vec![DueSlot {
            pipeline: "job".into(),
            slot: utc(2026, 1, 10, 10, 0, 0).timestamp(),
            due: utc(2026, 1, 10, 10, 0, 0),
            outcome: SlotOutcome::Fired,
        }]
    );
    // Asking again — at once, or later within the hour — claims nothing.
    assert!(
        ops.claim_due_slots(since, utc(2026, 1, 10, 10, 0, 5))
            .unwrap()
            .is_empty()
    );
    assert!(
        ops.claim_due_slots(since, utc(2026, 1, 10, 10, 59, 0))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        recorded(&ops),
        vec![(utc(2026, 1, 10, 10, 0, 0), SlotOutcome::Fired)]
    );
    // The next hour fires on its own.
    let next = ops
        .claim_due_slots(since, utc(2026, 1, 10, 11, 0, 0))
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].due, utc(2026, 1, 10, 11, 0, 0));
    assert_eq!(next[0].outcome, SlotOutcome::Fired);
}

#[test]
fn two_stores_racing_for_a_slot_start_one_run() {
    let p = project(HOURLY);
    let (a, b) = (p.ops(), p.ops());
    let since = utc(2026, 1, 10, 0, 0, 0);
    for hour in 1..=12 {
        let now = utc(2026, 1, 10, hour, 0, 1);
        let barrier = std::sync::Barrier::new(2);
        let race = |ops: &Ops| {
            barrier.wait();
            ops.claim_due_slots(since, now).unwrap()
        };
        let (got_a, got_b) = std::thread::scope(|s| {
            let ta = s.spawn(|| race(&a));
            let tb = s.spawn(|| race(&b));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert_eq!(
            got_a.len() + got_b.len(),
            1,
            "hour {hour}: a got {got_a:?}, b got {got_b:?}"
        );
    }
    assert_eq!(recorded(&a).len(), 12);
    assert!(recorded(&a).iter().all(|(_, o)| *o == SlotOutcome::Fired));
}

#[test]
fn after_downtime_the_newest_missed_slot_runs_once_and_the_others_are_recorded_missed() {
    let p = project(HOURLY);
    let ops = p.ops();
    let since = utc(2026, 1, 10, 9, 30, 0);
    assert_eq!(
        ops.claim_due_slots(since, utc(2026, 1, 10, 10, 0, 2))
            .unwrap()
            .len(),
        1
    );
    // Down from 10:30 to 13:20: 11:00, 12:00 and 13:00 were not fired.
    let restarted = utc(2026, 1, 10, 13, 20, 0);
    let due = ops.claim_due_slots(restarted, restarted).unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].due, utc(2026, 1, 10, 13, 0, 0));
    assert_eq!(due[0].outcome, SlotOutcome::CaughtUp);
    assert_eq!(
        recorded(&ops),
        vec![
            (utc(2026, 1, 10, 10, 0, 0), SlotOutcome::Fired),
            (utc(2026, 1, 10, 11, 0, 0), SlotOutcome::Missed),
            (utc(2026, 1, 10, 12, 0, 0), SlotOutcome::Missed),
            (utc(2026, 1, 10, 13, 0, 0), SlotOutcome::CaughtUp),
        ]
    );
    assert!(
        ops.claim_due_slots(restarted, restarted)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn without_catch_up_downtime_runs_nothing_and_records_every_slot_missed() {
    let p = project("[{ schedule: '0 * * * *', catch_up: false }]");
    let ops = p.ops();
    let since = utc(2026, 1, 10, 9, 30, 0);
    assert_eq!(
        ops.claim_due_slots(since, utc(2026, 1, 10, 10, 0, 2))
            .unwrap()
            .len(),
        1
    );
    let restarted = utc(2026, 1, 10, 13, 20, 0);
    assert!(
        ops.claim_due_slots(restarted, restarted)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        recorded(&ops),
        vec![
            (utc(2026, 1, 10, 10, 0, 0), SlotOutcome::Fired),
            (utc(2026, 1, 10, 11, 0, 0), SlotOutcome::Missed),
            (utc(2026, 1, 10, 12, 0, 0), SlotOutcome::Missed),
            (utc(2026, 1, 10, 13, 0, 0), SlotOutcome::Missed),
        ]
    );
    // The schedule goes on: the next slot fires on time.
    let next = ops
        .claim_due_slots(restarted, utc(2026, 1, 10, 14, 0, 3))
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].outcome, SlotOutcome::Fired);
}

#[test]
fn a_new_schedule_only_considers_slots_after_the_server_started() {
    let p = project(HOURLY);
    let ops = p.ops();
    // Started at 13:10: 13:00 (and every earlier hour) is history, not downtime.
    let since = utc(2026, 1, 10, 13, 10, 0);
    assert!(
        ops.claim_due_slots(since, utc(2026, 1, 10, 13, 10, 30))
            .unwrap()
            .is_empty()
    );
    assert!(recorded(&ops).is_empty());
    // Started at 12:59:59: 13:00 fires, and nothing before it is recorded missed.
    let since = utc(2026, 1, 10, 12, 59, 59);
    let due = ops
        .claim_due_slots(since, utc(2026, 1, 10, 13, 0, 10))
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        recorded(&ops),
        vec![(utc(2026, 1, 10, 13, 0, 0), SlotOutcome::Fired)]
    );
}

#[test]
fn a_month_of_every_minute_down_records_at_most_a_hundred_missed_slots() {
    let p = project("[{ schedule: '* * * * *' }]");
    let ops = p.ops();
    let since = utc(2026, 1, 1, 0, 0, 30);
    assert_eq!(
        ops.claim_due_slots(since, utc(2026, 1, 1, 0, 1, 0))
            .unwrap()
            .len(),
        1
    );
    let back = utc(2026, 2, 1, 0, 0, 30);
    let started = std::time::Instant::now();
    let due = ops.claim_due_slots(back, back).unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The newest minute is always less than a minute old: it fires on time.
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, utc(2026, 2, 1, 0, 0, 0));
    assert_eq!(due[0].outcome, SlotOutcome::Fired);
    let slots = recorded(&ops);
    let missed: Vec<_> = slots
        .iter()
        .filter(|(_, o)| *o == SlotOutcome::Missed)
        .map(|(at, _)| *at)
        .collect();
    assert_eq!(missed.len(), MAX_MISSED_RECORDED);
    // The latest ones: the minutes just before the caught-up slot.
    assert_eq!(missed.last(), Some(&utc(2026, 1, 31, 23, 59, 0)));
    assert_eq!(
        missed.first(),
        Some(&(utc(2026, 2, 1, 0, 0, 0) - TimeDelta::minutes(MAX_MISSED_RECORDED as i64)))
    );
    assert_eq!(slots.len(), MAX_MISSED_RECORDED + 2);
}

#[test]
fn two_triggers_due_at_the_same_instant_make_one_slot() {
    let p = project("[{ schedule: '0 * * * *' }, { schedule: '*/30 * * * *', catch_up: false }]");
    let ops = p.ops();
    let since = utc(2026, 1, 10, 9, 50, 0);
    let due = ops
        .claim_due_slots(since, utc(2026, 1, 10, 10, 0, 1))
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        ops.next_schedule_due(utc(2026, 1, 10, 10, 0, 1)),
        Some(utc(2026, 1, 10, 10, 30, 0))
    );
    // Down over 10:30 and 11:00: 11:00 is due by both, and the hourly one catches up.
    let back = utc(2026, 1, 10, 11, 5, 0);
    let due = ops.claim_due_slots(back, back).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, utc(2026, 1, 10, 11, 0, 0));
    assert_eq!(due[0].outcome, SlotOutcome::CaughtUp);
    assert_eq!(
        recorded(&ops),
        vec![
            (utc(2026, 1, 10, 10, 0, 0), SlotOutcome::Fired),
            (utc(2026, 1, 10, 10, 30, 0), SlotOutcome::Missed),
            (utc(2026, 1, 10, 11, 0, 0), SlotOutcome::CaughtUp),
        ]
    );
}

#[test]
fn next_schedule_due_is_the_earliest_of_every_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.yaml");
    std::fs::write(
        &file,
        r#"
pipelines:
  nightly:
    triggers: [{ schedule: '0 2 * * *', timezone: Asia/Tokyo }]
    stages: { a: { run: 'true' } }
  hourly:
    triggers: [{ schedule: '15 * * * *' }]
    stages: { a: { run: 'true' } }
  manual:
    stages: { a: { run: 'true' } }
"#,
    )
    .unwrap();
    let ops = Ops::open(&file).unwrap();
    // 02:00 in Tokyo is 17:00 UTC.
    assert_eq!(
        ops.next_schedule_due(utc(2026, 1, 10, 16, 50, 0)),
        Some(utc(2026, 1, 10, 17, 0, 0))
    );
    assert_eq!(
        ops.next_schedule_due(utc(2026, 1, 10, 17, 0, 0)),
        Some(utc(2026, 1, 10, 17, 15, 0))
    );
    let rows = ops.schedules(utc(2026, 1, 10, 16, 50, 0), 2).unwrap();
    let names: Vec<_> = rows.iter().map(|r| r.pipeline.as_str()).collect();
    assert_eq!(names, ["nightly", "hourly"]);
    assert_eq!(rows[0].timezone, "Asia/Tokyo");
    assert_eq!(
        rows[0].next,
        ["2026-01-10T17:00:00Z", "2026-01-11T17:00:00Z"]
    );
    assert_eq!(rows[1].timezone, "UTC");
    assert!(rows[1].catch_up);
    assert_eq!(
        rows[1].next,
        ["2026-01-10T17:15:00Z", "2026-01-10T18:15:00Z"]
    );

    // No schedule at all: nothing is ever due.
    std::fs::write(
        &file,
        "pipelines:\n  manual:\n    stages: { a: { run: 'true' } }\n",
    )
    .unwrap();
    let ops = Ops::open(&file).unwrap();
    assert_eq!(ops.next_schedule_due(utc(2026, 1, 10, 0, 0, 0)), None);
    assert!(
        ops.schedules(utc(2026, 1, 10, 0, 0, 0), 3)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn schedules_show_the_last_fired_slot_with_its_run_and_recent_missed_slots() {
    let p = project("[{ schedule: '0 * * * *', catch_up: false }]");
    let ops = p.ops();
    let since = utc(2026, 1, 10, 9, 30, 0);
    let due = ops
        .claim_due_slots(since, utc(2026, 1, 10, 10, 0, 2))
        .unwrap();
    // What the firing loop does with a due slot: run the pipeline, record the run on the slot.
    let run = run_scheduled(&ops);
    ops.store.set_slot_run("job", due[0].slot, run).unwrap();
    let back = utc(2026, 1, 10, 13, 20, 0);
    ops.claim_due_slots(back, back).unwrap();
    let rows = ops.schedules(back, 1).unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.next, ["2026-01-10T14:00:00Z"]);
    let fired = row.last_fired.as_ref().unwrap();
    assert_eq!(fired.slot, "2026-01-10T10:00:00Z");
    assert_eq!(fired.run, Some(run));
    assert_eq!(
        row.missed,
        [
            "2026-01-10T13:00:00Z",
            "2026-01-10T12:00:00Z",
            "2026-01-10T11:00:00Z"
        ]
    );
    // The JSON a front end reads.
    let json = serde_json::to_value(row).unwrap();
    assert_eq!(json["timezone"], "UTC");
    assert_eq!(json["catch_up"], false);
    assert_eq!(json["last_fired"]["run"], run);
}

/// Run pipeline `job` as the scheduler would; its run id.
fn run_scheduled(ops: &Ops) -> RunId {
    let plan = ops
        .plan_run(RunAction::Run(StartRun {
            pipeline: "job".into(),
            trigger: "schedule".into(),
            actor: "scheduler".into(),
            ..StartRun::default()
        }))
        .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime
        .block_on(ops.execute(plan, ops.targets(), Vec::new(), CancellationToken::new()))
        .unwrap();
    assert_eq!(result.status, Status::Success);
    result.run
}

#[test]
fn an_expression_that_never_matches_is_never_due() {
    let p = project("[{ schedule: '0 0 30 2 *' }]");
    let ops = p.ops();
    let now = utc(2026, 1, 10, 0, 0, 0);
    assert_eq!(ops.next_schedule_due(now), None);
    assert!(ops.schedules(now, 3).unwrap()[0].next.is_empty());
    assert!(
        ops.claim_due_slots(now - TimeDelta::days(400), now)
            .unwrap()
            .is_empty()
    );
}

// Daylight saving time in Europe/Paris: clocks go 02:00 CET → 03:00 CEST on 2026-03-29 and
// 03:00 CEST → 02:00 CET on 2026-10-25.

const PARIS_0230: &str = "[{ schedule: '30 2 * * *', timezone: Europe/Paris }]";

#[test]
fn spring_forward_a_time_in_the_gap_fires_once_at_the_end_of_the_gap() {
    let p = project(PARIS_0230);
    let ops = p.ops();
    let rows = ops.schedules(utc(2026, 3, 28, 12, 0, 0), 3).unwrap();
    // 02:30 does not exist on the 29th: croner runs it at 03:00 CEST (01:00 UTC).
    assert_eq!(
        rows[0].next,
        [
            "2026-03-29T01:00:00Z",
            "2026-03-30T00:30:00Z",
            "2026-03-31T00:30:00Z"
        ]
    );
    let since = utc(2026, 3, 28, 12, 0, 0);
    assert!(
        ops.claim_due_slots(since, utc(2026, 3, 29, 0, 59, 59))
            .unwrap()
            .is_empty()
    );
    let due = ops
        .claim_due_slots(since, utc(2026, 3, 29, 1, 0, 3))
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, utc(2026, 3, 29, 1, 0, 0));
    for minute in [1, 30, 59] {
        assert!(
            ops.claim_due_slots(since, utc(2026, 3, 29, 1, minute, 0))
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(
        recorded(&ops),
        vec![(utc(2026, 3, 29, 1, 0, 0), SlotOutcome::Fired)]
    );
}

#[test]
fn spring_forward_the_shifted_time_and_a_trigger_at_it_are_one_slot() {
    let p = project(
        "[{ schedule: '30 2 * * *', timezone: Europe/Paris }, \
         { schedule: '0 3 * * *', timezone: Europe/Paris }]",
    );
    let ops = p.ops();
    let since = utc(2026, 3, 28, 12, 0, 0);
    assert_eq!(
        ops.next_schedule_due(since + TimeDelta::hours(12)),
        Some(utc(2026, 3, 29, 1, 0, 0))
    );
    let due = ops
        .claim_due_slots(since, utc(2026, 3, 29, 1, 0, 1))
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(recorded(&ops).len(), 1);
}

#[test]
fn spring_forward_an_interval_schedule_skips_the_hour_that_does_not_exist() {
    let p = project("[{ schedule: '30 * * * *', timezone: Europe/Paris }]");
    let ops = p.ops();
    // 01:30 CET = 00:30 UTC; 02:30 does not exist; 03:30 CEST = 01:30 UTC.
    let rows = ops.schedules(utc(2026, 3, 29, 0, 0, 0), 2).unwrap();
    assert_eq!(
        rows[0].next,
        ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z"]
    );
}

#[test]
fn fall_back_a_time_that_happens_twice_fires_once_at_its_first_occurrence() {
    let p = project(PARIS_0230);
    let ops = p.ops();
    let rows = ops.schedules(utc(2026, 10, 24, 12, 0, 0), 2).unwrap();
    // The first 02:30 is CEST (00:30 UTC); the second (CET, 01:30 UTC) is not a slot.
    assert_eq!(
        rows[0].next,
        ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]
    );
    let since = utc(2026, 10, 24, 12, 0, 0);
    let due = ops
        .claim_due_slots(since, utc(2026, 10, 25, 0, 30, 2))
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, utc(2026, 10, 25, 0, 30, 0));
    for (h, m) in [(1, 0), (1, 30), (1, 31), (2, 30)] {
        assert!(
            ops.claim_due_slots(since, utc(2026, 10, 25, h, m, 0))
                .unwrap()
                .is_empty(),
            "{h}:{m}"
        );
    }
    assert_eq!(recorded(&ops).len(), 1);
    // Started between the two passes, a server does not take the second 02:30 for a slot.
    let fresh = project(PARIS_0230);
    let fresh = fresh.ops();
    let since = utc(2026, 10, 25, 1, 0, 0);
    assert!(
        fresh
            .claim_due_slots(since, utc(2026, 10, 25, 1, 30, 5))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        fresh.next_schedule_due(utc(2026, 10, 25, 1, 0, 0)),
        Some(utc(2026, 10, 26, 1, 30, 0))
    );
}

#[test]
fn fall_back_an_interval_schedule_fires_in_both_passes_each_once() {
    let p = project("[{ schedule: '30 * * * *', timezone: Europe/Paris }]");
    let ops = p.ops();
    let since = utc(2026, 10, 25, 0, 0, 0);
    // 02:30 CEST = 00:30 UTC, 02:30 CET = 01:30 UTC: two instants, two slots.
    let first = ops
        .claim_due_slots(since, utc(2026, 10, 25, 0, 30, 1))
        .unwrap();
    let second = ops
        .claim_due_slots(since, utc(2026, 10, 25, 1, 30, 1))
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert_eq!(first[0].due, utc(2026, 10, 25, 0, 30, 0));
    assert_eq!(second[0].due, utc(2026, 10, 25, 1, 30, 0));
    assert!(
        ops.claim_due_slots(since, utc(2026, 10, 25, 1, 30, 30))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        recorded(&ops),
        vec![
            (utc(2026, 10, 25, 0, 30, 0), SlotOutcome::Fired),
            (utc(2026, 10, 25, 1, 30, 0), SlotOutcome::Fired),
        ]
    );
}

#[test]
fn downtime_across_a_dst_change_catches_up_the_newest_slot_only() {
    let p = project(PARIS_0230);
    let ops = p.ops();
    let since = utc(2026, 3, 27, 0, 0, 0);
    // Fired on the 27th at 02:30 CET (01:30 UTC), then down until the 31st.
    assert_eq!(
        ops.claim_due_slots(since, utc(2026, 3, 27, 1, 30, 1))
            .unwrap()
            .len(),
        1
    );
    let back = utc(2026, 3, 31, 8, 0, 0);
    let due = ops.claim_due_slots(back, back).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].due, utc(2026, 3, 31, 0, 30, 0));
    assert_eq!(due[0].outcome, SlotOutcome::CaughtUp);
    assert_eq!(
        recorded(&ops),
        vec![
            (utc(2026, 3, 27, 1, 30, 0), SlotOutcome::Fired),
            (utc(2026, 3, 28, 1, 30, 0), SlotOutcome::Missed),
            (utc(2026, 3, 29, 1, 0, 0), SlotOutcome::Missed),
            (utc(2026, 3, 30, 0, 30, 0), SlotOutcome::Missed),
            (utc(2026, 3, 31, 0, 30, 0), SlotOutcome::CaughtUp),
        ]
    );
}
