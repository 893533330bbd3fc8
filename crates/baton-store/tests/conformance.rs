//! The store conformance kit run against the SQLite backend, each behaviour on a fresh store.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use baton_store::{SqliteStore, conformance};

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    (dir, store)
}

macro_rules! kit {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (_dir, store) = fresh();
                conformance::$name(&store);
            }
        )*

        /// Every behaviour of the kit has a test here.
        #[test]
        fn every_behaviour_of_the_kit_runs() {
            let here = [$(stringify!($name)),*];
            for (name, _) in conformance::ALL {
                assert!(here.contains(name), "add `{name}` to the kit! list");
            }
        }
    };
}

kit!(
    admission_is_first_come_first_served,
    events_update_runs_stages_and_steps,
    logs_are_read_by_byte_offset,
    cancel_requests_are_recorded_for_one_run,
    locks_name_their_holder_and_are_taken_over_from_the_dead,
    artifacts_count_versions_and_promotions_record_each_shelf_once,
    runs_of_dead_owners_are_interrupted_once,
    rollback_runs_know_what_they_rolled_back,
);
