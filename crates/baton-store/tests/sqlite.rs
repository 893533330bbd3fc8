//! What only the SQLite backend does: log files on disk, content-addressed blobs, concurrent
//! first opens. The behaviour every backend shares is the conformance kit (`conformance.rs`).

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use baton_store::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    (dir, store)
}

#[test]
fn output_is_logged_by_byte_offset_outside_the_event_log() {
    let (dir, store) = store();
    // What every backend does (run 1, step `lint`, 19 bytes)...
    conformance::logs_are_read_by_byte_offset(&store);
    let run = 1;
    let steps = store.steps(run).unwrap();
    assert_eq!(steps[0].log_bytes, 19);

    // ...and what only files do:
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
    conformance::record(
        &store,
        run,
        EventKind::Output {
            step: conformance::step("lint"),
            data: b"!".to_vec(),
        },
    );
    let all: Vec<u8> = store
        .log_chunks(steps[0].id, 0)
        .unwrap()
        .into_iter()
        .flat_map(|(_, d)| d)
        .collect();
    assert_eq!(all, b"hello\n\xff\xfe\nno newline!");
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
