//! The monitoring part of the conformance kit ([`crate::MonitorStore`]): series and roll-ups,
//! alert state with its transitions, node changes, silences, and the event tail.

use crate::{
    AlertChange, AlertPhase, AlertState, MonitorEventKind, NewSilence, NotifyStatus, RAW_KEPT,
    Resolution, Sample, Store, Transition,
};

/// An hour boundary, so buckets in the cases below start where they say.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;

fn sample(node: &str, metric: &str, at: i64, value: f64) -> Sample {
    Sample {
        node: node.into(),
        metric: metric.into(),
        at,
        value,
    }
}

fn points(
    store: &dyn Store,
    metric: &str,
    since: i64,
    r: Resolution,
) -> Vec<(i64, f64, f64, f64, u32)> {
    store
        .metric_points("web1", metric, since, r)
        .unwrap()
        .into_iter()
        .map(|p| (p.at, p.avg, p.min, p.max, p.count))
        .collect()
}

pub fn samples_are_read_per_series_and_rolled_up_once(store: &dyn Store) {
    // Three minutes of a sample every 20 s, cpu rising, memory flat; another node's too.
    let mut round = Vec::new();
    for i in 0..9 {
        let at = T0 + i * 20_000;
        round.push(sample("web1", "cpu", at, i as f64 * 10.0));
        round.push(sample("web1", "memory", at, 50.0));
        round.push(sample("web2", "cpu", at, 99.0));
    }
    store.record_samples(&round).unwrap();
    assert_eq!(store.metric_names("web1").unwrap(), vec!["cpu", "memory"]);
    assert!(store.metric_names("nobody").unwrap().is_empty());
    let raw = points(store, "cpu", T0 + 40_000, Resolution::Raw);
    assert_eq!(raw.len(), 7, "{raw:?}");
    assert_eq!(raw[0], (T0 + 40_000, 20.0, 20.0, 20.0, 1));

    // Nothing is rolled up before its bucket has ended (and the slack passed).
    let report = store
        .compact_metrics(T0 + 2 * MINUTE, 7 * 24 * HOUR)
        .unwrap();
    assert_eq!(report.buckets_written, 0, "{report:?}");
    assert!(points(store, "cpu", T0, Resolution::Minute).is_empty());

    let report = store
        .compact_metrics(T0 + 10 * MINUTE, 7 * 24 * HOUR)
        .unwrap();
    // 3 minute buckets × 3 series; the hour has not ended.
    assert_eq!(report.buckets_written, 9, "{report:?}");
    assert_eq!(report.raw_deleted, 0);
    assert_eq!(
        points(store, "cpu", T0, Resolution::Minute),
        vec![
            (T0, 10.0, 0.0, 20.0, 3),
            (T0 + MINUTE, 40.0, 30.0, 50.0, 3),
            (T0 + 2 * MINUTE, 70.0, 60.0, 80.0, 3),
        ]
    );
    // A bucket is read from the start of the one `since` falls in.
    assert_eq!(
        points(store, "cpu", T0 + MINUTE + 1, Resolution::Minute).len(),
        2
    );
    // Rolled once: compacting again writes nothing new.
    let again = store
        .compact_metrics(T0 + 10 * MINUTE, 7 * 24 * HOUR)
        .unwrap();
    assert_eq!(again.buckets_written, 0, "{again:?}");

    let report = store.compact_metrics(T0 + 2 * HOUR, 7 * 24 * HOUR).unwrap();
    assert_eq!(
        report.buckets_written, 3,
        "the hour, per series: {report:?}"
    );
    assert_eq!(
        points(store, "cpu", T0, Resolution::Hour),
        vec![(T0, 40.0, 0.0, 80.0, 9)]
    );
    assert_eq!(
        points(store, "memory", T0, Resolution::Hour),
        vec![(T0, 50.0, 50.0, 50.0, 9)]
    );
}

pub fn old_samples_are_pruned_raw_after_a_day_rollups_after_retention(store: &dyn Store) {
    let retention = 3 * 24 * HOUR;
    // One sample an hour for four days.
    let samples: Vec<Sample> = (0..96)
        .map(|h| sample("web1", "load1", T0 + h * HOUR, h as f64))
        .collect();
    store.record_samples(&samples).unwrap();
    let now = T0 + 96 * HOUR;
    let report = store.compact_metrics(now, retention).unwrap();
    let raw = points(store, "load1", 0, Resolution::Raw);
    assert!(
        raw.iter().all(|p| p.0 >= now - RAW_KEPT) && raw.len() == 24,
        "raw kept 24 h: {} points from {:?}",
        raw.len(),
        raw.first()
    );
    assert_eq!(report.raw_deleted, 72);
    // Hours 24..=94: the last hour ended less than the slack ago, the first 24 are past the
    // retention.
    let hours = points(store, "load1", 0, Resolution::Hour);
    assert_eq!(hours.len(), 71, "roll-ups kept for the retention");
    assert!(hours.iter().all(|p| p.0 >= now - retention));
    assert_eq!(hours.last().unwrap().0, T0 + 94 * HOUR);
    assert_eq!(points(store, "load1", 0, Resolution::Minute).len(), 72);
    assert_eq!(report.buckets_deleted, 24 + 24);
    assert_eq!(
        store.metric_names("web1").unwrap(),
        vec!["load1"],
        "a series with roll-ups left is still listed"
    );
}

fn change(alert: &str, node: &str, to: Transition, notify: Option<NotifyStatus>) -> AlertChange {
    AlertChange {
        alert: alert.into(),
        node: node.into(),
        to,
        value: Some(93.5),
        severity: "critical".into(),
        condition: "cpu above 80".into(),
        detail: None,
        since: Some(T0),
        notify,
        notified_at: None,
    }
}

fn state(alert: &str, node: &str, phase: AlertPhase, since: i64) -> AlertState {
    AlertState {
        alert: alert.into(),
        node: node.into(),
        phase,
        since,
        active_since: Some(T0),
        value: Some(93.5),
        last_notified: None,
    }
}

pub fn alert_states_and_transitions_are_saved_together_and_tailed(a: &dyn Store, b: &dyn Store) {
    assert!(a.monitor_events_after(0, 10).unwrap().is_empty());
    let pending = state("high_cpu", "web1", AlertPhase::Pending, T0);
    let first = a
        .save_alert_state(
            &pending,
            Some((&change("high_cpu", "web1", Transition::Pending, None), T0)),
        )
        .unwrap()
        .expect("a transition has a sequence number");
    // A state saved without a transition (a new value) is no event.
    let mut again = pending.clone();
    again.value = Some(95.0);
    assert_eq!(a.save_alert_state(&again, None).unwrap(), None);
    let firing = state("high_cpu", "web1", AlertPhase::Firing, T0 + 5 * MINUTE);
    let fired = a
        .save_alert_state(
            &firing,
            Some((
                &change(
                    "high_cpu",
                    "web1",
                    Transition::Firing,
                    Some(NotifyStatus::Pending),
                ),
                T0 + 5 * MINUTE,
            )),
        )
        .unwrap()
        .unwrap();
    assert!(fired > first);

    // The other handle (a restarted monitor) sees the state and what is left to notify.
    assert_eq!(b.alert_states().unwrap(), vec![firing.clone()]);
    let unnotified = b.unnotified_transitions().unwrap();
    assert_eq!(unnotified.len(), 1);
    assert_eq!(unnotified[0].seq, fired);
    let MonitorEventKind::Alert(c) = &unnotified[0].kind else {
        panic!("an alert event: {unnotified:?}");
    };
    assert_eq!(c.to, Transition::Firing);
    assert_eq!(
        (c.severity.as_str(), c.condition.as_str()),
        ("critical", "cpu above 80")
    );
    assert_eq!((c.value, c.since), (Some(93.5), Some(T0)));

    b.mark_notified(fired, NotifyStatus::Sent, T0 + 5 * MINUTE + 10)
        .unwrap();
    assert!(a.unnotified_transitions().unwrap().is_empty());
    assert_eq!(
        a.alert_states().unwrap()[0].last_notified,
        Some(T0 + 5 * MINUTE + 10),
        "a sent firing notification dates the state (for `repeat`)"
    );

    let tail = a.monitor_events_after(first, 10).unwrap();
    assert_eq!(tail.len(), 1);
    let MonitorEventKind::Alert(c) = &tail[0].kind else {
        panic!("{tail:?}");
    };
    assert_eq!(
        (c.notify, c.notified_at),
        (Some(NotifyStatus::Sent), Some(T0 + 5 * MINUTE + 10))
    );
    let recent: Vec<i64> = b
        .monitor_events_recent(10)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(recent, vec![fired, first], "newest first");
    assert_eq!(
        b.monitor_events_after(0, 1).unwrap()[0].seq,
        first,
        "bounded by the limit"
    );
}

pub fn node_changes_are_events_only_when_the_state_changes(store: &dyn Store) {
    let first = store
        .set_node_state("web1", true, T0, None)
        .unwrap()
        .expect("a node seen for the first time is an event");
    assert_eq!(
        store.set_node_state("web1", true, T0 + 1000, None).unwrap(),
        None
    );
    let down = store
        .set_node_state("web1", false, T0 + 2000, Some("connection refused"))
        .unwrap()
        .expect("down is a change");
    assert!(down.seq > first.seq);
    assert_eq!(
        store
            .set_node_state("web1", false, T0 + 3000, Some("connection refused"))
            .unwrap(),
        None
    );
    let states = store.node_states().unwrap();
    assert_eq!(states.len(), 1);
    assert!(!states[0].up);
    assert_eq!(states[0].since, T0 + 2000);
    assert_eq!(states[0].detail.as_deref(), Some("connection refused"));
    let events = store.monitor_events_after(0, 10).unwrap();
    assert_eq!(events, vec![first, down]);
}

pub fn silences_cover_their_alert_and_node_until_they_end(store: &dyn Store) {
    let everywhere = store
        .add_silence(&NewSilence {
            alert: "high_cpu".into(),
            node: None,
            until: T0 + HOUR,
            actor: "alice".into(),
        })
        .unwrap();
    let one = store
        .add_silence(&NewSilence {
            alert: "disk_full".into(),
            node: Some("db1".into()),
            until: T0 + 2 * HOUR,
            actor: "bob".into(),
        })
        .unwrap();
    assert!(one.id > everywhere.id);
    assert_eq!(
        store.silences(None).unwrap(),
        vec![everywhere.clone(), one.clone()]
    );
    assert_eq!(store.silences(Some(T0 + HOUR)).unwrap(), vec![one.clone()]);
    assert!(everywhere.covers("high_cpu", "web7", T0));
    assert!(!everywhere.covers("high_cpu", "web7", T0 + HOUR));
    assert!(one.covers("disk_full", "db1", T0));
    assert!(!one.covers("disk_full", "db2", T0));
    assert!(!one.covers("high_cpu", "db1", T0));
    assert_eq!(one.actor, "bob");
}
