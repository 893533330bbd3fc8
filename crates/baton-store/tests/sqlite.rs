//! The SQLite backend against the store contract.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use baton_store::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    (dir, store)
}

fn new_run(name: &str, owner: Owner) -> NewRun {
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

fn step(stage: &str) -> StepRef {
    StepRef {
        stage: stage.into(),
        target: "local".into(),
        phase: Phase::Main,
        index: 0,
        attempt: 1,
        label: "run: true".into(),
    }
}

fn event(run: RunId, kind: EventKind) -> Event {
    Event {
        run,
        at: now_millis(),
        kind,
    }
}

#[test]
fn concurrency_admits_first_come_first_served() {
    let (_dir, store) = store();
    let a = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let b = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let c = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    // b may not jump ahead of a, even with a free slot.
    assert!(!store.try_start_run(b, 1).unwrap());
    assert!(store.try_start_run(a, 1).unwrap());
    assert!(!store.try_start_run(b, 1).unwrap());
    store
        .record(&event(
            a,
            EventKind::RunFinished {
                status: Status::Success,
                reason: None,
            },
        ))
        .unwrap();
    assert!(!store.try_start_run(c, 1).unwrap());
    assert!(store.try_start_run(b, 1).unwrap());
    assert_eq!(store.run(b).unwrap().unwrap().status, Status::Running);
}

#[test]
fn output_is_logged_by_byte_offset_outside_the_event_log() {
    let (dir, store) = store();
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    store
        .record(&event(run, EventKind::StepStarted { step: step("lint") }))
        .unwrap();
    for data in [
        b"hello\n".to_vec(),
        vec![0xff, 0xfe, b'\n'],
        b"no newline".to_vec(),
    ] {
        store
            .record(&event(
                run,
                EventKind::Output {
                    step: step("lint"),
                    data,
                },
            ))
            .unwrap();
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
    let rest = store.log_chunks(steps[0].id, 9).unwrap();
    assert_eq!(rest, vec![(9, b"no newline".to_vec())]);
    assert!(store.log_chunks(steps[0].id, 19).unwrap().is_empty());
    // Output is not duplicated into the event log.
    assert!(
        store
            .events(run, 0)
            .unwrap()
            .iter()
            .all(|(_, e)| e.kind.name() != "output")
    );

    // A write whose length was never committed (a crash in between) is invisible, then
    // overwritten by the next output.
    let file = dir
        .path()
        .join(format!(".baton/logs/{run}/{}.log", steps[0].id));
    let mut garbage = std::fs::read(&file).unwrap();
    garbage.extend_from_slice(b"GARBAGE FROM A CRASH");
    std::fs::write(&file, garbage).unwrap();
    assert_eq!(
        store
            .log_chunks(steps[0].id, 0)
            .unwrap()
            .iter()
            .map(|(_, d)| d.len())
            .sum::<usize>(),
        19
    );
    store
        .record(&event(
            run,
            EventKind::Output {
                step: step("lint"),
                data: b"!".to_vec(),
            },
        ))
        .unwrap();
    let all: Vec<u8> = store
        .log_chunks(steps[0].id, 0)
        .unwrap()
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    assert_eq!(all, b"hello\n\xff\xfe\nno newline!");
}

#[test]
fn runs_of_dead_owners_are_interrupted_once() {
    let (_dir, store) = store();
    let mut dead = Owner::current();
    dead.start_ticks += 1; // same pid, other start time: a reused pid, so a dead owner
    let run = store.create_run(&new_run("build", dead)).unwrap();
    assert!(store.try_start_run(run, 1).unwrap());
    store
        .record(&event(
            run,
            EventKind::StageStarted {
                stage: "lint".into(),
            },
        ))
        .unwrap();
    store
        .record(&event(run, EventKind::StepStarted { step: step("lint") }))
        .unwrap();
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

#[test]
fn locks_name_their_holder_and_staleness() {
    let (_dir, store) = store();
    let me = Owner::current();
    assert_eq!(
        store.acquire_lock("infra", "apply", &me, "alice").unwrap(),
        Ok(None)
    );
    let held = store
        .acquire_lock("infra", "apply", &me, "bob")
        .unwrap()
        .unwrap_err();
    assert_eq!(held.owner, me);
    assert_eq!(held.actor, "alice");
    assert!(!held.is_stale());
    store.release_lock("infra", &me).unwrap();
    let mut dead = me.clone();
    dead.start_ticks += 1;
    store
        .acquire_lock("infra", "apply", &dead, "carol")
        .unwrap()
        .unwrap();
    assert!(store.lock("infra").unwrap().unwrap().is_stale());
    assert!(store.break_lock("infra").unwrap().is_some());
    assert!(store.lock("infra").unwrap().is_none());
}

#[test]
fn a_dead_holders_lock_is_taken_over_with_an_audit_entry() {
    let (_dir, store) = store();
    let mut dead = Owner::current();
    dead.start_ticks += 1;
    store
        .acquire_lock("infra", "apply", &dead, "carol")
        .unwrap()
        .unwrap();
    let me = Owner::current();
    let taken = store
        .acquire_lock("infra", "apply", &me, "dave")
        .unwrap()
        .unwrap()
        .expect("the dead holder's lock is reported");
    assert_eq!(taken.actor, "carol");
    let now = store.lock("infra").unwrap().unwrap();
    assert_eq!((now.owner, now.actor.as_str()), (me, "dave"));
    let audit = store.audit_log(10).unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "lock.takeover")
        .expect("takeover audited");
    assert_eq!(entry.who, "dave");
    assert_eq!(entry.subject, "infra");
    assert_eq!(entry.detail["actor"], "carol");
}

#[test]
fn artifact_versions_count_up_per_name() {
    let (_dir, store) = store();
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
    assert_eq!(store.add_artifact(&artifact("aa")).unwrap().version, 1);
    assert_eq!(store.add_artifact(&artifact("bb")).unwrap().version, 2);
    assert_eq!(store.run_artifacts(run).unwrap().len(), 2);
}

#[test]
fn promotions_record_each_shelf_once() {
    let (_dir, store) = store();
    let run = store
        .create_run(&new_run("build", Owner::current()))
        .unwrap();
    let built = store
        .add_artifact(&NewArtifact {
            name: "app.tgz".into(),
            sha256: "aa".into(),
            size: 3,
            run,
            pipeline: "build".into(),
            stage: "package".into(),
            commit: Some("c0ffee".into()),
            branch: Some("develop".into()),
            shelf: Some("dev".into()),
        })
        .unwrap();
    let promotion = |env: &str, from: &str| NewPromotion {
        artifact_id: built.id,
        env: env.into(),
        from: from.into(),
        by: "me@here".into(),
        run: None,
        tag: None,
    };
    let first = store
        .add_promotion(&promotion("integ", "dev"))
        .unwrap()
        .expect("recorded");
    assert_eq!((first.name.as_str(), first.version), ("app.tgz", 1));
    assert_eq!((first.env.as_str(), first.from.as_str()), ("integ", "dev"));
    // Again, or to the shelf it was published to: nothing new is recorded.
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
    let second = NewPromotion {
        run: Some(run),
        tag: Some("v1".into()),
        ..promotion("preprod", "integ")
    };
    store.add_promotion(&second).unwrap().expect("recorded");
    let all = store.promotions(Some("app.tgz")).unwrap();
    let shelves: Vec<_> = all.iter().map(|p| p.env.as_str()).collect();
    assert_eq!(shelves, ["integ", "preprod"]);
    assert_eq!(all[1].run, Some(run));
    assert_eq!(all[1].tag.as_deref(), Some("v1"));
    assert!(store.promotions(Some("other")).unwrap().is_empty());
    // An unknown artifact is refused, and nothing is written.
    let unknown = NewPromotion {
        artifact_id: 999,
        ..promotion("prod", "preprod")
    };
    assert!(matches!(
        store.add_promotion(&unknown),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.promotions(None).unwrap().len(), 2);
}

#[test]
fn blobs_are_content_addressed() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path().join("blobs"));
    let file = dir.path().join("a.txt");
    std::fs::write(&file, "abc").unwrap();
    let (sha, size) = blobs.put_file(&file).unwrap();
    assert_eq!(
        sha,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(size, 3);
    assert_eq!(std::fs::read(blobs.path(&sha)).unwrap(), b"abc");
    assert_eq!(blobs.put_file(&file).unwrap().0, sha);
}

#[test]
fn many_processes_opening_a_fresh_store_at_once_all_succeed() {
    // Regression: a second opener racing the first one's WAL switch or migration got
    // "database is locked" instead of waiting.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".baton");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let openers: Vec<_> = (0..8)
            .map(|_| {
                let (state, barrier) = (state.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&state)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
    }
}
