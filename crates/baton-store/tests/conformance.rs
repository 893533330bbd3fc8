//! The store conformance kit run against the SQLite backend, each behaviour on a fresh store.

#![allow(clippy::disallowed_methods)] // tests drive real processes: the binary, sshd, git

use baton_store::{SqliteStore, conformance};

fn fresh() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    (dir, store)
}

/// Two handles on one fresh store, opened apart as two processes open it.
fn fresh_pair() -> (tempfile::TempDir, SqliteStore, SqliteStore) {
    let (dir, first) = fresh();
    let second = SqliteStore::open(&dir.path().join(".baton")).unwrap();
    (dir, first, second)
}

macro_rules! kit {
    (one: $($one:ident),* $(,)?; two: $($two:ident),* $(,)?) => {
        $(
            #[test]
            fn $one() {
                let (_dir, store) = fresh();
                conformance::$one(&store);
            }
        )*
        $(
            #[test]
            fn $two() {
                let (_dir, first, second) = fresh_pair();
                conformance::$two(&first, &second);
            }
        )*

        /// Every behaviour of the kit has a test here.
        #[test]
        fn every_behaviour_of_the_kit_runs() {
            let here = [$(stringify!($one)),* , $(stringify!($two)),*];
            for (name, _) in conformance::ALL {
                assert!(here.contains(name), "add `{name}` to the kit! list");
            }
        }
    };
}

kit!(
    one:
    admission_is_first_come_first_served,
    events_update_runs_stages_and_steps,
    logs_are_read_by_byte_offset,
    cancel_requests_are_recorded_for_one_run,
    locks_name_their_holder_and_are_taken_over_from_the_dead,
    artifacts_count_versions_and_promotions_record_each_shelf_once,
    runs_of_dead_owners_are_interrupted_once,
    rollback_runs_know_what_they_rolled_back,
    runs_are_listed_by_status_and_before_an_id,
    running_steps_are_listed_with_their_log_length,
    runs_are_counted_by_kind_name_and_status,
    samples_are_read_per_series_and_rolled_up_once,
    old_samples_are_pruned_raw_after_a_day_rollups_after_retention,
    node_changes_are_events_only_when_the_state_changes,
    silences_cover_their_alert_and_node_until_they_end,
    deliveries_are_queued_retried_and_recorded,
    encrypted_config_contents_are_kept_as_given;
    two:
    replayed_webhook_deliveries_are_refused,
    schedule_slots_are_claimed_once_across_processes,
    commit_heads_move_by_compare_and_set,
    events_of_every_run_are_tailed_by_sequence,
    alert_states_and_transitions_are_saved_together_and_tailed,
    a_delivery_is_claimed_by_one_worker,
);
