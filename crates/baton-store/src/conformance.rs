//! The store conformance kit: one function per behaviour every [`Store`] backend must have,
//! each given an empty store and panicking (like a test) when the backend gets it wrong. The
//! SQLite backend runs it in `crates/baton-store/tests/conformance.rs`; a PostgreSQL backend
//! runs the same functions. Enabled by the `conformance` feature.

use crate::{
    Event, EventKind, NewArtifact, NewPromotion, NewRun, Owner, Phase, RunId, RunKind, Status,
    StepRef, Store, StoreError, now_millis,
};

/// One behaviour: given an empty store, panics when the backend gets it wrong.
pub type Check = fn(&dyn Store);

/// Every behaviour, by name, for a backend's test to run one by one on fresh stores.
pub const ALL: &[(&str, Check)] = &[
    (
        "admission_is_first_come_first_served",
        admission_is_first_come_first_served,
    ),
    (
        "events_update_runs_stages_and_steps",
        events_update_runs_stages_and_steps,
    ),
    ("logs_are_read_by_byte_offset", logs_are_read_by_byte_offset),
    (
        "cancel_requests_are_recorded_for_one_run",
        cancel_requests_are_recorded_for_one_run,
    ),
    (
        "locks_name_their_holder_and_are_taken_over_from_the_dead",
        locks_name_their_holder_and_are_taken_over_from_the_dead,
    ),
    (
        "artifacts_count_versions_and_promotions_record_each_shelf_once",
        artifacts_count_versions_and_promotions_record_each_shelf_once,
    ),
    (
        "runs_of_dead_owners_are_interrupted_once",
        runs_of_dead_owners_are_interrupted_once,
    ),
    (
        "rollback_runs_know_what_they_rolled_back",
        rollback_runs_know_what_they_rolled_back,
    ),
];

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
        .runs(&crate::RunFilter {
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
