//! The store conformance kit: one function per behaviour every [`Store`] backend must have,
//! each given an empty store (or two handles on one, as two processes hold them) and panicking
//! (like a test) when the backend gets it wrong. The SQLite backend runs it in
//! `crates/baton-store/tests/conformance.rs`; a PostgreSQL backend runs the same functions.
//! Enabled by the `conformance` feature.

mod config;
mod monitor;

use crate::{
    Event, EventKind, NewArtifact, NewPromotion, NewRun, Owner, Phase, RunFilter, RunId, RunKind,
    SlotOutcome, Status, StepRef, Store, StoreError, now_millis,
};

pub use crate::conformance_notify::*;

/// One behaviour, panicking when the backend gets it wrong.
#[derive(Clone, Copy)]
pub enum Check {
    /// Given an empty store.
    One(fn(&dyn Store)),
    /// Given two handles on one empty store, opened apart as two processes (or two servers)
    /// open it: two `SqliteStore::open` of one directory, two pools on one PostgreSQL
    /// database. What one writes, the other must see and respect.
    Two(fn(&dyn Store, &dyn Store)),
}

/// Every behaviour, by name, for a backend's test to run one by one on fresh stores.
pub const ALL: &[(&str, Check)] = &[
    (
        "admission_is_first_come_first_served",
        Check::One(admission_is_first_come_first_served),
    ),
    (
        "events_update_runs_stages_and_steps",
        Check::One(events_update_runs_stages_and_steps),
    ),
    (
        "logs_are_read_by_byte_offset",
        Check::One(logs_are_read_by_byte_offset),
    ),
    (
        "cancel_requests_are_recorded_for_one_run",
        Check::One(cancel_requests_are_recorded_for_one_run),
    ),
    (
        "locks_name_their_holder_and_are_taken_over_from_the_dead",
        Check::One(locks_name_their_holder_and_are_taken_over_from_the_dead),
    ),
    (
        "artifacts_count_versions_and_promotions_record_each_shelf_once",
        Check::One(artifacts_count_versions_and_promotions_record_each_shelf_once),
    ),
    (
        "runs_of_dead_owners_are_interrupted_once",
        Check::One(runs_of_dead_owners_are_interrupted_once),
    ),
    (
        "rollback_runs_know_what_they_rolled_back",
        Check::One(rollback_runs_know_what_they_rolled_back),
    ),
    (
        "runs_are_listed_by_status_and_before_an_id",
        Check::One(runs_are_listed_by_status_and_before_an_id),
    ),
    (
        "replayed_webhook_deliveries_are_refused",
        Check::Two(replayed_webhook_deliveries_are_refused),
    ),
    (
        "schedule_slots_are_claimed_once_across_processes",
        Check::Two(schedule_slots_are_claimed_once_across_processes),
    ),
    (
        "commit_heads_move_by_compare_and_set",
        Check::Two(commit_heads_move_by_compare_and_set),
    ),
    (
        "events_of_every_run_are_tailed_by_sequence",
        Check::Two(events_of_every_run_are_tailed_by_sequence),
    ),
    (
        "running_steps_are_listed_with_their_log_length",
        Check::One(running_steps_are_listed_with_their_log_length),
    ),
    (
        "runs_are_counted_by_kind_name_and_status",
        Check::One(runs_are_counted_by_kind_name_and_status),
    ),
    (
        "samples_are_read_per_series_and_rolled_up_once",
        Check::One(samples_are_read_per_series_and_rolled_up_once),
    ),
    (
        "old_samples_are_pruned_raw_after_a_day_rollups_after_retention",
        Check::One(old_samples_are_pruned_raw_after_a_day_rollups_after_retention),
    ),
    (
        "alert_states_and_transitions_are_saved_together_and_tailed",
        Check::Two(alert_states_and_transitions_are_saved_together_and_tailed),
    ),
    (
        "node_changes_are_events_only_when_the_state_changes",
        Check::One(node_changes_are_events_only_when_the_state_changes),
    ),
    (
        "silences_cover_their_alert_and_node_until_they_end",
        Check::One(silences_cover_their_alert_and_node_until_they_end),
    ),
    (
        "deliveries_are_queued_retried_and_recorded",
        Check::One(deliveries_are_queued_retried_and_recorded),
    ),
    (
        "a_delivery_is_claimed_by_one_worker",
        Check::Two(a_delivery_is_claimed_by_one_worker),
    ),
    (
        "encrypted_config_contents_are_kept_as_given",
        Check::One(encrypted_config_contents_are_kept_as_given),
    ),
];

pub use config::encrypted_config_contents_are_kept_as_given;

pub use monitor::{
    alert_states_and_transitions_are_saved_together_and_tailed,
    node_changes_are_events_only_when_the_state_changes,
    old_samples_are_pruned_raw_after_a_day_rollups_after_retention,
    samples_are_read_per_series_and_rolled_up_once,
    silences_cover_their_alert_and_node_until_they_end,
};

/// A run about to be queued by `owner`.
pub fn new_run(name: &str, owner: Owner) -> NewRun {
    NewRun {
        kind: RunKind::Pipeline,
        name: name.to_string(),
        trigger: "manual".into(),
        env: None,
        branch: None,
        commit: None,
        params: serde_json::json!({}),
        retry_of: None,
        owner,
        actor: "tester".into(),
    }
}

/// This process with another start time: a reused pid, so an owner that is dead.
pub fn dead_owner() -> Owner {
    let mut dead = Owner::current();
    dead.start_ticks += 1;
    dead
}

/// Step 0 of `stage` on the local node, first attempt.
pub fn step(stage: &str) -> StepRef {
    StepRef {
        stage: stage.into(),
        target: "local".into(),
        phase: Phase::Main,
        index: 0,
        attempt: 1,
        label: "run: true".into(),
    }
}

/// Record `kind` for `run`, now.
pub fn record(store: &dyn Store, run: RunId, kind: EventKind) {
    store
        .record(&Event {
            run,
            at: now_millis(),
            kind,
        })
        .expect("the event is recorded");
}

fn finish(store: &dyn Store, run: RunId, status: Status) {
    record(
        store,
        run,
        EventKind::RunFinished {
            status,
            reason: None,
        },
    );
}

pub fn admission_is_first_come_first_served(store: &dyn Store) {
    let a = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let b = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let c = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let other = store
        .create_run(&new_run("deploy", Owner::current()))
        .unwrap();
    // b may not jump ahead of a, even with a free slot.
    assert!(!store.try_start_run(b, 1).unwrap());
    assert!(store.try_start_run(a, 1).unwrap());
    assert!(!store.try_start_run(b, 1).unwrap());
    // Another pipeline has its own queue.
    assert!(store.try_start_run(other, 1).unwrap());
    finish(store, a, Status::Success);
    assert!(!store.try_start_run(c, 1).unwrap());
    assert!(store.try_start_run(b, 1).unwrap());
    assert_eq!(store.run(b).unwrap().unwrap().status, Status::Running);
    assert_eq!(store.run(c).unwrap().unwrap().status, Status::Queued);
    // A limit of 2 lets c start beside b.
    assert!(store.try_start_run(c, 2).unwrap());
}

pub fn events_update_runs_stages_and_steps(store: &dyn Store) {
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    assert!(store.try_start_run(run, 1).unwrap());
    record(store, run, EventKind::RunStarted);
    record(
        store,
        run,
        EventKind::StageStarted {
            stage: "lint".into(),
            targets: None,
        },
    );
    record(store, run, EventKind::StepStarted { step: step("lint") });
    record(
        store,
        run,
        EventKind::StepFinished {
            step: step("lint"),
            status: Status::Failed,
            exit_code: Some(3),
            signal: None,
            reason: Some("exit code 3".into()),
            cause: None,
        },
    );
    record(
        store,
        run,
        EventKind::StageFinished {
            stage: "lint".into(),
            status: Status::Failed,
            reason: Some("exit code 3".into()),
        },
    );
    finish(store, run, Status::Failed);
    let record = store.run(run).unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.actor, "tester");
    assert!(record.finished_at.is_some());
    let stages = store.stages(run).unwrap();
    assert_eq!(stages.len(), 1);
    assert_eq!(
        (stages[0].name.as_str(), stages[0].status),
        ("lint", Status::Failed)
    );
    let steps = store.steps(run).unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].exit_code, Some(3));
    assert_eq!(steps[0].reason.as_deref(), Some("exit code 3"));
    let events = store.events(run, 0).unwrap();
    assert_eq!(events.len(), 6);
    // Later consumers resume after a sequence number.
    let after = events[2].0;
    assert_eq!(store.events(run, after).unwrap().len(), 3);
    let listed = store
        .runs(&RunFilter {
            name: Some("build".into()),
            kind: Some(RunKind::Pipeline),
            limit: Some(5),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![run]);
}

pub fn logs_are_read_by_byte_offset(store: &dyn Store) {
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    record(store, run, EventKind::StepStarted { step: step("lint") });
    for data in [
        b"hello\n".to_vec(),
        vec![0xff, 0xfe, b'\n'],
        b"no newline".to_vec(),
    ] {
        record(
            store,
            run,
            EventKind::Output {
                step: step("lint"),
                data,
            },
        );
    }
    let steps = store.steps(run).unwrap();
    assert_eq!(steps[0].log_bytes, 19);
    let all: Vec<u8> = store
        .log_chunks(steps[0].id, 0)
        .unwrap()
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    assert_eq!(all, b"hello\n\xff\xfe\nno newline");
    // `logs -f` resumes from an offset.
    let rest: Vec<u8> = store
        .log_chunks(steps[0].id, 9)
        .unwrap()
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    assert_eq!(rest, b"no newline");
    assert!(store.log_chunks(steps[0].id, 19).unwrap().is_empty());
    // A bounded read takes a piece, never more than asked or past the committed end.
    assert_eq!(store.log_read(steps[0].id, 6, 3).unwrap(), b"\xff\xfe\n");
    assert_eq!(store.log_read(steps[0].id, 9, 1000).unwrap(), b"no newline");
    assert!(store.log_read(steps[0].id, 19, 10).unwrap().is_empty());
    // Output is not duplicated into the event log.
    assert!(
        store
            .events(run, 0)
            .unwrap()
            .iter()
            .all(|(_, e)| e.kind.name() != "output")
    );
}

pub fn cancel_requests_are_recorded_for_one_run(store: &dyn Store) {
    let queued = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let other = store
        .create_run(&new_run("test", Owner::current()))
        .unwrap();
    assert_eq!(store.cancel_requested(queued).unwrap(), None);
    let now = store
        .request_cancel(queued, "alice")
        .unwrap()
        .expect("the run exists");
    assert_eq!(now.cancel_requested_by.as_deref(), Some("alice"));
    assert_eq!(
        store.cancel_requested(queued).unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(
        store.cancel_requested(other).unwrap(),
        None,
        "only that run"
    );
    assert!(store.request_cancel(9999, "alice").unwrap().is_none());
    // A finished run is left as it is.
    assert!(store.try_start_run(other, 5).unwrap());
    finish(store, other, Status::Success);
    let done = store.request_cancel(other, "bob").unwrap().unwrap();
    assert_eq!(done.status, Status::Success);
}

pub fn locks_name_their_holder_and_are_taken_over_from_the_dead(store: &dyn Store) {
    let me = Owner::current();
    assert_eq!(
        store.acquire_lock("infra", "apply", &me, "alice").unwrap(),
        Ok(None)
    );
    let held = store
        .acquire_lock("infra", "apply", &me, "bob")
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (held.owner.clone(), held.actor.as_str()),
        (me.clone(), "alice")
    );
    assert!(!held.is_stale());
    store.release_lock("infra", &me).unwrap();
    assert!(store.lock("infra").unwrap().is_none());

    store
        .acquire_lock("infra", "apply", &dead_owner(), "carol")
        .unwrap()
        .unwrap();
    let taken = store
        .acquire_lock("infra", "apply", &me, "dave")
        .unwrap()
        .unwrap()
        .expect("the dead holder's lock is reported");
    assert_eq!(taken.actor, "carol");
    let now = store.lock("infra").unwrap().unwrap();
    assert_eq!((now.owner, now.actor.as_str()), (me, "dave"));
    let entry = store
        .audit_log(10)
        .unwrap()
        .into_iter()
        .find(|a| a.action == "lock.takeover")
        .expect("takeover audited");
    assert_eq!(
        (entry.who.as_str(), entry.subject.as_str()),
        ("dave", "infra")
    );
    assert_eq!(entry.detail["actor"], "carol");
    assert!(store.break_lock("infra").unwrap().is_some());
    assert!(store.lock("infra").unwrap().is_none());
}

pub fn artifacts_count_versions_and_promotions_record_each_shelf_once(store: &dyn Store) {
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let artifact = |sha: &str| NewArtifact {
        name: "app.tgz".into(),
        sha256: sha.into(),
        size: 3,
        run,
        pipeline: "build".into(),
        stage: "package".into(),
        commit: None,
        branch: None,
        shelf: Some("dev".into()),
    };
    let first = store.add_artifact(&artifact("aa")).unwrap();
    assert_eq!(first.version, 1);
    assert_eq!(store.add_artifact(&artifact("bb")).unwrap().version, 2);
    assert_eq!(store.run_artifacts(run).unwrap().len(), 2);
    assert_eq!(store.artifacts(Some("app.tgz")).unwrap().len(), 2);
    let promotion = |env: &str, from: &str| NewPromotion {
        artifact_id: first.id,
        env: env.into(),
        from: from.into(),
        by: "me@here".into(),
        run: None,
        tag: None,
    };
    assert!(
        store
            .add_promotion(&promotion("integ", "dev"))
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .add_promotion(&promotion("integ", "dev"))
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .add_promotion(&promotion("dev", "dev"))
            .unwrap()
            .is_none()
    );
    let unknown = NewPromotion {
        artifact_id: 999,
        ..promotion("prod", "integ")
    };
    assert!(matches!(
        store.add_promotion(&unknown),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.promotions(None).unwrap().len(), 1);
}

pub fn runs_of_dead_owners_are_interrupted_once(store: &dyn Store) {
    let run = store.create_run(&new_run("build", dead_owner())).unwrap();
    assert!(store.try_start_run(run, 1).unwrap());
    record(
        store,
        run,
        EventKind::StageStarted {
            stage: "lint".into(),
            targets: None,
        },
    );
    record(store, run, EventKind::StepStarted { step: step("lint") });
    store
        .set_step_process_group(run, &step("lint"), 4242)
        .unwrap();
    let live = store
        .create_run(&new_run("other", Owner::current()))
        .unwrap();
    let found = store.interrupt_orphans().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].run, run);
    assert_eq!(found[0].process_groups, vec![4242]);
    let record = store.run(run).unwrap().unwrap();
    assert_eq!(record.status, Status::Interrupted);
    assert!(record.reason.unwrap().contains("died"));
    assert_eq!(store.stages(run).unwrap()[0].status, Status::Interrupted);
    assert_eq!(store.run(live).unwrap().unwrap().status, Status::Queued);
    assert!(store.interrupt_orphans().unwrap().is_empty());
}

pub fn rollback_runs_know_what_they_rolled_back(store: &dyn Store) {
    let deploy = store
        .create_run(&new_run("deploy", Owner::current()))
        .unwrap();
    assert!(store.rollbacks_of(deploy).unwrap().is_empty());
    let undo = store
        .create_rollback_run(&new_run("deploy", Owner::current()), deploy)
        .unwrap();
    assert_eq!(store.run(undo).unwrap().unwrap().rollback_of, Some(deploy));
    assert_eq!(store.run(deploy).unwrap().unwrap().rollback_of, None);
    let found: Vec<RunId> = store
        .rollbacks_of(deploy)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(found, vec![undo]);
    assert!(store.rollbacks_of(undo).unwrap().is_empty());
}

/// Run `f` on both handles at one moment, from two threads, as two processes would:
/// `f(0, a)` and `f(1, b)`.
pub(crate) fn race<T: Send>(
    a: &dyn Store,
    b: &dyn Store,
    f: impl Fn(usize, &dyn Store) -> T + Sync,
) -> (T, T) {
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            barrier.wait();
            f(0, a)
        });
        let second = s.spawn(|| {
            barrier.wait();
            f(1, b)
        });
        (first.join().unwrap(), second.join().unwrap())
    })
}

pub fn runs_are_listed_by_status_and_before_an_id(store: &dyn Store) {
    let create = |name: &str| store.create_run(&new_run(name, Owner::current())).unwrap();
    let (b1, b2, d1, b3, d2) = (
        create("build"),
        create("build"),
        create("deploy"),
        create("build"),
        create("deploy"),
    );
    assert!(store.try_start_run(b1, 1).unwrap());
    finish(store, b1, Status::Success);
    assert!(store.try_start_run(d1, 1).unwrap());
    finish(store, d1, Status::Failed);
    assert!(store.try_start_run(b2, 1).unwrap());
    let list = |filter: RunFilter| -> Vec<RunId> {
        store.runs(&filter).unwrap().iter().map(|r| r.id).collect()
    };
    let status = |status| RunFilter {
        status: Some(status),
        ..Default::default()
    };
    let before = |id| RunFilter {
        before: Some(id),
        ..Default::default()
    };
    assert_eq!(list(status(Status::Queued)), vec![d2, b3]);
    assert_eq!(list(status(Status::Running)), vec![b2]);
    assert_eq!(list(status(Status::Success)), vec![b1]);
    assert_eq!(list(status(Status::Cancelled)), Vec::<RunId>::new());
    assert_eq!(
        list(RunFilter {
            name: Some("build".into()),
            ..status(Status::Queued)
        }),
        vec![b3]
    );
    // Pages: strictly lower ids, newest first; the next page starts before the oldest listed.
    assert_eq!(list(before(b3)), vec![d1, b2, b1]);
    let page = list(RunFilter {
        limit: Some(2),
        ..before(b3)
    });
    assert_eq!(page, vec![d1, b2]);
    assert_eq!(list(before(*page.last().unwrap())), vec![b1]);
    assert_eq!(list(before(b1)), Vec::<RunId>::new());
    assert_eq!(
        list(RunFilter {
            name: Some("deploy".into()),
            ..before(d2)
        }),
        vec![d1]
    );
    assert_eq!(
        list(RunFilter {
            name: Some("build".into()),
            kind: Some(RunKind::Pipeline),
            status: Some(Status::Running),
            before: Some(d2),
            limit: Some(10),
        }),
        vec![b2]
    );
    assert_eq!(
        list(RunFilter {
            kind: Some(RunKind::Exec),
            ..status(Status::Queued)
        }),
        Vec::<RunId>::new()
    );
}

pub fn replayed_webhook_deliveries_are_refused(a: &dyn Store, b: &dyn Store) {
    assert!(
        a.record_delivery("deploy", "d-1").unwrap(),
        "a new delivery"
    );
    assert!(!a.record_delivery("deploy", "d-1").unwrap(), "a replay");
    assert!(
        !b.record_delivery("deploy", "d-1").unwrap(),
        "a replay to another server"
    );
    assert!(b.record_delivery("deploy", "d-2").unwrap());
    assert!(
        a.record_delivery("build", "d-1").unwrap(),
        "deliveries are per pipeline"
    );
    // The same delivery reaching two servers at once is taken by one.
    for round in 0..20 {
        let delivery = format!("race-{round}");
        let (x, y) = race(a, b, |_, s| s.record_delivery("deploy", &delivery).unwrap());
        assert!(x ^ y, "{delivery}: taken by exactly one ({x}, {y})");
    }
}

pub fn schedule_slots_are_claimed_once_across_processes(a: &dyn Store, b: &dyn Store) {
    use SlotOutcome::*;
    let start = now_millis();
    assert!(a.last_slot("nightly").unwrap().is_none());
    assert!(a.slots("nightly", 10).unwrap().is_empty());
    let due = 1_700_000_000;
    assert!(a.claim_slot("nightly", due, Fired).unwrap(), "claimed");
    assert!(!a.claim_slot("nightly", due, Fired).unwrap(), "once");
    assert!(
        !b.claim_slot("nightly", due, CaughtUp).unwrap(),
        "another process sees the claim"
    );
    assert!(
        b.claim_slot("hourly", due, Fired).unwrap(),
        "slots are per pipeline"
    );
    // A server back after downtime records what it missed and what it caught up.
    assert!(b.claim_slot("nightly", due + 3600, Missed).unwrap());
    assert!(b.claim_slot("nightly", due + 7200, CaughtUp).unwrap());
    // Two servers reaching one due time at once: one fires it.
    for round in 0..20 {
        let slot = due + 10_000 + round;
        let (x, y) = race(a, b, |_, s| s.claim_slot("race", slot, Fired).unwrap());
        assert!(x ^ y, "slot {slot}: claimed by exactly one ({x}, {y})");
    }
    assert_eq!(b.slots("race", 100).unwrap().len(), 20);

    let run = a.create_run(&new_run("nightly", Owner::current())).unwrap();
    b.set_slot_run("nightly", due, run).unwrap();
    let listed = a.slots("nightly", 10).unwrap();
    assert_eq!(
        listed
            .iter()
            .map(|s| (s.slot, s.outcome, s.run))
            .collect::<Vec<_>>(),
        vec![
            (due + 7200, CaughtUp, None),
            (due + 3600, Missed, None),
            (due, Fired, Some(run)),
        ],
        "newest first, with the run of the fired one"
    );
    assert!(
        listed
            .iter()
            .all(|s| s.pipeline == "nightly" && s.recorded_at >= start)
    );
    assert_eq!(a.slots("nightly", 2).unwrap().len(), 2);
    let last = b.last_slot("nightly").unwrap().unwrap();
    assert_eq!((last.slot, last.outcome), (due + 7200, CaughtUp));
    // An earlier slot recorded later is not the last one.
    assert!(a.claim_slot("nightly", due + 1800, Missed).unwrap());
    assert_eq!(a.last_slot("nightly").unwrap().unwrap().slot, due + 7200);
    assert!(matches!(
        a.set_slot_run("nightly", due + 1, run),
        Err(StoreError::NotFound(_))
    ));
}

pub fn commit_heads_move_by_compare_and_set(a: &dyn Store, b: &dyn Store) {
    let head = |s: &dyn Store| s.commit_head("deploy", "origin", "main").unwrap();
    let set = |s: &dyn Store, commit: &str, previous: Option<&str>| {
        s.set_commit_head("deploy", "origin", "main", commit, previous)
            .unwrap()
    };
    assert_eq!(head(a), None);
    assert!(!set(a, "c1", Some("c0")), "there is no head c0 to move");
    assert_eq!(head(a), None);
    assert!(set(a, "c1", None), "the first head");
    assert!(!set(b, "c1", None), "another poller that saw no head loses");
    assert_eq!(head(b).as_deref(), Some("c1"));
    assert!(set(b, "c2", Some("c1")));
    assert!(!set(a, "c3", Some("c1")), "a stale previous head loses");
    assert_eq!(head(a).as_deref(), Some("c2"));
    // Heads are per (pipeline, repo, branch).
    assert_eq!(a.commit_head("deploy", "origin", "dev").unwrap(), None);
    assert_eq!(a.commit_head("deploy", "fork", "main").unwrap(), None);
    assert_eq!(a.commit_head("build", "origin", "main").unwrap(), None);
    assert!(
        a.set_commit_head("build", "origin", "main", "b1", None)
            .unwrap()
    );
    assert_eq!(head(a).as_deref(), Some("c2"));
    // Two pollers saw the same head and each found a new commit: one moves it.
    for round in 0..20 {
        let previous = head(a);
        let (x, y) = race(a, b, |who, s| {
            set(s, &format!("r{round}-{who}"), previous.as_deref())
        });
        assert!(x ^ y, "round {round}: exactly one moves it ({x}, {y})");
        let winner = if x { 0 } else { 1 };
        assert_eq!(head(b), Some(format!("r{round}-{winner}")));
    }
    // From no head at all, too.
    let (x, y) = race(a, b, |who, s| {
        s.set_commit_head("test", "origin", "main", &format!("t-{who}"), None)
            .unwrap()
    });
    assert!(x ^ y, "exactly one records the first head ({x}, {y})");
}

pub fn events_of_every_run_are_tailed_by_sequence(a: &dyn Store, b: &dyn Store) {
    assert_eq!(a.last_event_seq().unwrap(), 0, "empty");
    assert!(a.events_after(0, 10).unwrap().is_empty());
    let one = a.create_run(&new_run("build", Owner::current())).unwrap();
    let two = b.create_run(&new_run("deploy", Owner::current())).unwrap();
    record(a, one, EventKind::RunStarted);
    record(
        a,
        one,
        EventKind::StageStarted {
            stage: "lint".into(),
            targets: None,
        },
    );
    // A read of the run tables commits what a handle has queued (reads see their own writes).
    let first = a.last_event_seq().unwrap();
    assert!(first > 0);
    record(b, two, EventKind::RunStarted);
    record(b, two, EventKind::StepStarted { step: step("ship") });
    record(
        b,
        two,
        EventKind::Output {
            step: step("ship"),
            data: b"shipping\n".to_vec(),
        },
    );
    assert!(b.last_event_seq().unwrap() > first);
    record(
        a,
        one,
        EventKind::StageFinished {
            stage: "lint".into(),
            status: Status::Success,
            reason: None,
        },
    );
    finish(a, one, Status::Success);

    let all = a.events_after(0, 100).unwrap();
    let seen: Vec<(RunId, &str)> = all.iter().map(|(_, r, e)| (*r, e.kind.name())).collect();
    assert_eq!(
        seen,
        vec![
            (one, "run_started"),
            (one, "stage_started"),
            (two, "run_started"),
            (two, "step_started"),
            (one, "stage_finished"),
            (one, "run_finished"),
        ],
        "every run's events, the other handle's too, in order; output is not in the log"
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "by sequence");
    assert!(all.iter().all(|(_, run, event)| event.run == *run));
    let last = all.last().unwrap().0;
    assert_eq!(a.last_event_seq().unwrap(), last);
    assert_eq!(b.last_event_seq().unwrap(), last, "b sees a's events");
    // Resumed after a sequence number, at most `limit`.
    let seqs = |page: Vec<(i64, RunId, Event)>| page.iter().map(|(s, ..)| *s).collect::<Vec<_>>();
    assert_eq!(
        seqs(a.events_after(all[1].0, 2).unwrap()),
        vec![all[2].0, all[3].0]
    );
    assert_eq!(seqs(a.events_after(all[1].0, 1).unwrap()), vec![all[2].0]);
    assert_eq!(
        seqs(b.events_after(all[3].0, 100).unwrap()),
        vec![all[4].0, all[5].0],
        "through the other handle"
    );
    assert!(a.events_after(last, 10).unwrap().is_empty());
    // What the reading handle itself just recorded is in the tail (its own writes).
    record(
        b,
        two,
        EventKind::Message {
            text: "done".into(),
        },
    );
    let tail = b.events_after(last, 10).unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!((tail[0].1, tail[0].2.kind.name()), (two, "message"));
    // The same events as each run's own log.
    let of_one: Vec<(i64, Event)> = all
        .iter()
        .filter(|(_, run, _)| *run == one)
        .map(|(seq, _, e)| (*seq, e.clone()))
        .collect();
    assert_eq!(a.events(one, 0).unwrap(), of_one);
}

pub fn running_steps_are_listed_with_their_log_length(store: &dyn Store) {
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let other = store
        .create_run(&new_run("deploy", Owner::current()))
        .unwrap();
    assert!(store.running_steps().unwrap().is_empty());
    record(store, run, EventKind::StepStarted { step: step("lint") });
    record(
        store,
        run,
        EventKind::Output {
            step: step("lint"),
            data: b"hello\n".to_vec(),
        },
    );
    record(store, run, EventKind::StepStarted { step: step("test") });
    record(
        store,
        run,
        EventKind::StepFinished {
            step: step("test"),
            status: Status::Success,
            exit_code: Some(0),
            signal: None,
            reason: None,
            cause: None,
        },
    );
    record(store, other, EventKind::StepStarted { step: step("ship") });
    let running = store.running_steps().unwrap();
    assert_eq!(
        running
            .iter()
            .map(|s| (s.run, s.stage.as_str(), s.status, s.log_bytes))
            .collect::<Vec<_>>(),
        vec![
            (run, "lint", Status::Running, 6),
            (other, "ship", Status::Running, 0),
        ],
        "running steps of every run, not finished ones"
    );
    let bytes: Vec<u8> = store
        .log_chunks(running[0].id, 0)
        .unwrap()
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    assert_eq!(bytes, b"hello\n");
    // Looked up by identity, as a StepFinished event names it.
    let lint = store.step_record(run, &step("lint")).unwrap().unwrap();
    assert_eq!((lint.id, lint.log_bytes), (running[0].id, 6));
    let test = store.step_record(run, &step("test")).unwrap().unwrap();
    assert_eq!((test.status, test.exit_code), (Status::Success, Some(0)));
    assert!(store.step_record(other, &step("lint")).unwrap().is_none());
    let retry = StepRef {
        attempt: 2,
        ..step("lint")
    };
    assert!(store.step_record(run, &retry).unwrap().is_none());
    record(
        store,
        run,
        EventKind::StepFinished {
            step: step("lint"),
            status: Status::Failed,
            exit_code: Some(1),
            signal: None,
            reason: Some("exit code 1".into()),
            cause: None,
        },
    );
    let ids: Vec<_> = store
        .running_steps()
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![running[1].id]);
}

pub fn runs_are_counted_by_kind_name_and_status(store: &dyn Store) {
    assert!(store.run_counts().unwrap().is_empty());
    assert_eq!(store.queued_runs().unwrap(), 0);
    let create = |name: &str| store.create_run(&new_run(name, Owner::current())).unwrap();
    let done = create("build");
    create("build");
    create("build");
    let failed = create("deploy");
    store
        .create_run(&NewRun {
            kind: RunKind::Exec,
            ..new_run("web*", Owner::current())
        })
        .unwrap();
    assert!(store.try_start_run(done, 1).unwrap());
    finish(store, done, Status::Success);
    assert!(store.try_start_run(failed, 1).unwrap());
    finish(store, failed, Status::Failed);
    let counts: Vec<_> = store
        .run_counts()
        .unwrap()
        .into_iter()
        .map(|c| (c.kind, c.name, c.status, c.count))
        .collect();
    assert_eq!(
        counts,
        vec![
            (RunKind::Exec, "web*".to_string(), Status::Queued, 1),
            (RunKind::Pipeline, "build".to_string(), Status::Queued, 2),
            (RunKind::Pipeline, "build".to_string(), Status::Success, 1),
            (RunKind::Pipeline, "deploy".to_string(), Status::Failed, 1),
        ]
    );
    assert_eq!(store.queued_runs().unwrap(), 3);
}
