//! Alerts with memory: each (alert, node) state is loaded from the store at start, stepped by
//! [`crate::rules`] on every reading, and saved with its transition before anyone is told.
//!
//! A transition that owes a notification is saved `pending`, then queued with
//! `baton_notify::enqueue_alert`, then marked `sent`: a monitor killed in between leaves it
//! `pending`, and the next one (or the next maintenance pass of this one) queues it again —
//! never lost. Queueing twice is possible only if the process dies between the queue's write
//! and the mark, two local writes apart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use baton_model::{Alert, Project};
use baton_notify::AlertNotice;
use baton_store::{
    AlertChange, AlertPhase, AlertState, Millis, MonitorEvent, MonitorEventKind, NotifyStatus,
    SilenceRecord, Store, StoreError, Transition,
};

use crate::Observer;
use crate::rules::{self, Owed};

/// One evaluation's input for one (alert, node).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The condition holds.
    pub active: bool,
    /// The metric's value (`None` for checks).
    pub value: Option<f64>,
    /// What a failed check said, why a node is down.
    pub detail: Option<String>,
}

pub(crate) struct Alerting {
    project: Arc<Project>,
    store: Arc<dyn Store>,
    /// One entry per (alert, node) that ever left `inactive`: bounded by the project.
    states: Mutex<HashMap<(String, String), AlertState>>,
    /// Held from saving a transition to marking its notification, and by [`Alerting::requeue`]:
    /// a maintenance pass never sees a transition `pending` that a round is about to queue.
    notifying: Mutex<()>,
    observer: Observer,
}

impl Alerting {
    pub fn new(project: Arc<Project>, store: Arc<dyn Store>, observer: Observer) -> Alerting {
        Alerting {
            project,
            store,
            states: Mutex::new(HashMap::new()),
            notifying: Mutex::new(()),
            observer,
        }
    }

    /// Take up where the last monitor stopped: every persisted state.
    pub fn load(&self) -> Result<(), StoreError> {
        let loaded = self.store.alert_states()?;
        let mut states = self.states();
        states.clear();
        for state in loaded {
            states.insert((state.alert.clone(), state.node.clone()), state);
        }
        Ok(())
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), AlertState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn problem(&self, text: String) {
        (self.observer)(crate::Observed::Problem(&text));
    }

    /// Step `alert` on `node` with `reading` at `now`; save, report and notify what changed.
    pub fn evaluate(
        &self,
        alert: &Alert,
        node: &str,
        reading: &Reading,
        silences: &[SilenceRecord],
        now: Millis,
    ) {
        let key = (alert.name.clone(), node.to_string());
        let previous = self.states().get(&key).cloned();
        let hold = i64::try_from(alert.for_.as_millis()).unwrap_or(i64::MAX);
        let step = rules::evaluate(
            previous.as_ref(),
            &alert.name,
            node,
            reading.active,
            reading.value,
            now,
            hold,
        );
        let (state, transition) = match (step, &previous) {
            (Some(step), _) => (step.state, step.transition),
            (None, Some(previous)) => (previous.clone(), None),
            (None, None) => return,
        };
        let silenced = silences.iter().any(|s| s.covers(&alert.name, node, now));
        let repeat = alert
            .repeat
            .map(|r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX));
        let owed = rules::owed(
            transition,
            previous.as_ref(),
            &state,
            now,
            repeat,
            !alert.notify.is_empty(),
            silenced,
        );
        match transition {
            Some(to) => self.transition(alert, previous.as_ref(), state, to, owed, reading, now),
            None => {
                if let Owed::Send {
                    firing: true,
                    repeat: true,
                } = owed
                {
                    self.repeat(alert, state, reading, now);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        alert: &Alert,
        previous: Option<&AlertState>,
        state: AlertState,
        to: Transition,
        owed: Owed,
        reading: &Reading,
        now: Millis,
    ) {
        let change = AlertChange {
            alert: alert.name.clone(),
            node: state.node.clone(),
            to,
            value: reading.value,
            severity: alert.severity.as_str().to_string(),
            condition: alert.condition.describe(),
            detail: reading.detail.clone(),
            // A resolved state has no start any more: the firing's is the one to tell.
            since: state
                .active_since
                .or_else(|| previous.and_then(|p| p.active_since)),
            notify: match owed {
                Owed::Send { .. } => Some(NotifyStatus::Pending),
                Owed::Silenced => Some(NotifyStatus::Silenced),
                Owed::Nothing => None,
            },
            notified_at: None,
        };
        let _notifying = self.notifying.lock().unwrap_or_else(|p| p.into_inner());
        let seq = match self.store.save_alert_state(&state, Some((&change, now))) {
            Ok(Some(seq)) => seq,
            Ok(None) => return,
            // Memory keeps the previous state: the next reading tries this transition again.
            Err(e) => {
                return self.problem(format!(
                    "alert {} on {}: cannot record the {} transition: {e}",
                    alert.name,
                    state.node,
                    to.as_str()
                ));
            }
        };
        let key = (state.alert.clone(), state.node.clone());
        self.states().insert(key, state);
        let event = MonitorEvent {
            seq,
            at: now,
            kind: MonitorEventKind::Alert(change.clone()),
        };
        (self.observer)(crate::Observed::Event(&event));
        if let Owed::Send { firing, .. } = owed {
            self.notify(seq, &change, firing, now, now);
        }
    }

    /// Queue the notification of transition `seq`, then mark it sent.
    fn notify(&self, seq: i64, change: &AlertChange, firing: bool, at: Millis, now: Millis) {
        let Some(alert) = self.project.alerts.get(&change.alert) else {
            return self.mark(seq, change, NotifyStatus::Dropped, now);
        };
        if alert.notify.is_empty() {
            return self.mark(seq, change, NotifyStatus::Dropped, now);
        }
        let notice = notice(change, firing, false, at);
        if self.enqueue(alert, &notice) {
            self.mark(seq, change, NotifyStatus::Sent, now);
        }
    }

    fn mark(&self, seq: i64, change: &AlertChange, status: NotifyStatus, now: Millis) {
        if let Err(e) = self.store.mark_notified(seq, status, now) {
            return self.problem(format!(
                "alert {} on {}: the notification is queued but cannot be marked so: {e}",
                change.alert, change.node
            ));
        }
        if status == NotifyStatus::Sent && change.to == Transition::Firing {
            let key = (change.alert.clone(), change.node.clone());
            if let Some(state) = self.states().get_mut(&key)
                && state.phase == AlertPhase::Firing
            {
                state.last_notified = Some(now);
            }
        }
    }

    fn enqueue(&self, alert: &Alert, notice: &AlertNotice) -> bool {
        let channels: Vec<String> = alert.notify.iter().map(|c| c.value.clone()).collect();
        match baton_notify::enqueue_alert(self.store.as_ref(), &self.project, notice, &channels) {
            Ok(_) => true,
            Err(e) => {
                self.problem(format!(
                    "alert {} on {}: cannot queue the notification (kept, queued again later): {e}",
                    notice.alert, notice.node
                ));
                false
            }
        }
    }

    /// A `repeat` re-send of a firing alert: queued, then the state dated.
    fn repeat(&self, alert: &Alert, mut state: AlertState, reading: &Reading, now: Millis) {
        let change = AlertChange {
            alert: alert.name.clone(),
            node: state.node.clone(),
            to: Transition::Firing,
            value: reading.value,
            severity: alert.severity.as_str().to_string(),
            condition: alert.condition.describe(),
            detail: reading.detail.clone(),
            since: state.active_since,
            notify: None,
            notified_at: None,
        };
        if !self.enqueue(alert, &notice(&change, true, true, now)) {
            return;
        }
        state.last_notified = Some(now);
        match self.store.save_alert_state(&state, None) {
            Ok(_) => {
                let key = (state.alert.clone(), state.node.clone());
                self.states().insert(key, state);
            }
            Err(e) => self.problem(format!(
                "alert {} on {}: cannot record the repeated notification: {e}",
                alert.name, state.node
            )),
        }
    }

    /// Queue every transition still `pending` (a monitor died between saving and queueing, or
    /// the queue refused): at start, then on every maintenance pass.
    pub fn requeue(&self, now: Millis) {
        let _notifying = self.notifying.lock().unwrap_or_else(|p| p.into_inner());
        let pending = match self.store.unnotified_transitions() {
            Ok(pending) => pending,
            Err(e) => return self.problem(format!("cannot read the notifications to send: {e}")),
        };
        for event in pending {
            if let MonitorEventKind::Alert(change) = &event.kind {
                let firing = change.to == Transition::Firing;
                self.notify(event.seq, change, firing, event.at, now);
            }
        }
    }

    /// The state of every (alert, node) that ever left `inactive`.
    pub fn snapshot(&self) -> Vec<AlertState> {
        self.states().values().cloned().collect()
    }
}

fn notice(change: &AlertChange, firing: bool, repeat: bool, at: Millis) -> AlertNotice {
    AlertNotice {
        alert: change.alert.clone(),
        node: change.node.clone(),
        firing,
        severity: change.severity.clone(),
        condition: change.condition.clone(),
        value: change.value,
        detail: change.detail.clone(),
        since: change.since.unwrap_or(at),
        at,
        repeat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_store::{DeliveryFilter, NewSilence, SqliteStore};

    const SEC: Millis = 1000;

    struct Fixture {
        _dir: tempfile::TempDir,
        project: Arc<Project>,
        store: Arc<dyn Store>,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("baton.yaml");
            std::fs::write(
                &file,
                "nodes:\n  web1: { host: a }\nnotifications:\n  hook: { webhook: \"http://127.0.0.1:9/\" }\n\
                 alerts:\n  busy: { metric: cpu, above: 80, for: 5s, notify: [hook], severity: critical }\n  quiet: { metric: cpu, above: 80 }\n",
            )
            .unwrap();
            let project = Arc::new(baton_model::load(&file).unwrap());
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open(&dir.path().join(".baton")).unwrap());
            Fixture {
                _dir: dir,
                project,
                store,
                seen: Arc::new(Mutex::new(Vec::new())),
            }
        }

        /// A fresh evaluator on the same store: a restarted monitor.
        fn alerting(&self) -> Alerting {
            let seen = self.seen.clone();
            let observer: Observer = Arc::new(move |o| {
                let line = match o {
                    crate::Observed::Event(e) => match &e.kind {
                        MonitorEventKind::Alert(c) => format!("{} {}", c.alert, c.to.as_str()),
                        MonitorEventKind::Node(n) => format!("{} up={}", n.node, n.up),
                    },
                    crate::Observed::Problem(p) => format!("problem: {p}"),
                };
                seen.lock().unwrap().push(line);
            });
            let alerting = Alerting::new(self.project.clone(), self.store.clone(), observer);
            alerting.load().unwrap();
            alerting
        }

        fn eval(&self, alerting: &Alerting, alert: &str, value: f64, at: Millis) {
            let silences = self.store.silences(Some(at)).unwrap();
            let reading = Reading {
                active: value > 80.0,
                value: Some(value),
                detail: None,
            };
            alerting.evaluate(&self.project.alerts[alert], "web1", &reading, &silences, at);
        }

        fn deliveries(&self) -> Vec<String> {
            self.store
                .deliveries(&DeliveryFilter {
                    origin: Some("alert:busy@web1".into()),
                    ..Default::default()
                })
                .unwrap()
                .into_iter()
                .map(|d| d.subject)
                .collect()
        }

        fn seen(&self) -> Vec<String> {
            std::mem::take(&mut *self.seen.lock().unwrap())
        }
    }

    #[test]
    fn it_fires_after_for_notifies_once_and_resolves_once() {
        let f = Fixture::new();
        let a = f.alerting();
        f.eval(&a, "busy", 95.0, 0);
        f.eval(&a, "busy", 96.0, 2 * SEC);
        assert!(f.deliveries().is_empty(), "pending tells nobody");
        f.eval(&a, "busy", 97.0, 5 * SEC);
        f.eval(&a, "busy", 98.0, 6 * SEC);
        assert_eq!(
            f.deliveries(),
            vec!["[baton] FIRING critical: busy on web1"]
        );
        f.eval(&a, "busy", 10.0, 7 * SEC);
        f.eval(&a, "busy", 12.0, 8 * SEC);
        let sent = f.deliveries();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent.iter().any(|s| s.contains("RESOLVED")), "{sent:?}");
        assert_eq!(
            f.seen(),
            vec!["busy pending", "busy firing", "busy resolved"]
        );
        let history: Vec<_> = f.store.monitor_events_recent(10).unwrap();
        let notified: Vec<Option<NotifyStatus>> = history
            .iter()
            .map(|e| match &e.kind {
                MonitorEventKind::Alert(c) => c.notify,
                MonitorEventKind::Node(_) => None,
            })
            .collect();
        assert_eq!(
            notified,
            vec![Some(NotifyStatus::Sent), Some(NotifyStatus::Sent), None],
            "resolved, firing, pending (newest first)"
        );
    }

    #[test]
    fn a_restart_keeps_a_pending_timer_and_does_not_fire_a_firing_alert_again() {
        let f = Fixture::new();
        f.eval(&f.alerting(), "busy", 95.0, 0);
        // Restarted while pending: the timer started at 0 still counts.
        let second = f.alerting();
        f.eval(&second, "busy", 95.0, 5 * SEC);
        assert_eq!(f.deliveries().len(), 1);
        // Restarted while firing: no second firing.
        let third = f.alerting();
        f.eval(&third, "busy", 99.0, 9 * SEC);
        f.eval(&third, "busy", 99.0, 60 * SEC);
        assert_eq!(f.deliveries().len(), 1);
        assert_eq!(f.seen(), vec!["busy pending", "busy firing"]);
        // And it still resolves, told once.
        f.eval(&third, "busy", 1.0, 61 * SEC);
        assert_eq!(f.deliveries().len(), 2);
    }

    #[test]
    fn a_transition_saved_but_not_queued_is_queued_by_the_next_monitor() {
        let f = Fixture::new();
        // What a monitor killed between saving and queueing leaves.
        let state = AlertState {
            alert: "busy".into(),
            node: "web1".into(),
            phase: AlertPhase::Firing,
            since: 5 * SEC,
            active_since: Some(0),
            value: Some(97.0),
            last_notified: None,
        };
        let change = AlertChange {
            alert: "busy".into(),
            node: "web1".into(),
            to: Transition::Firing,
            value: Some(97.0),
            severity: "critical".into(),
            condition: "cpu above 80".into(),
            detail: None,
            since: Some(0),
            notify: Some(NotifyStatus::Pending),
            notified_at: None,
        };
        f.store
            .save_alert_state(&state, Some((&change, 5 * SEC)))
            .unwrap();
        let next = f.alerting();
        next.requeue(6 * SEC);
        assert_eq!(
            f.deliveries(),
            vec!["[baton] FIRING critical: busy on web1"]
        );
        next.requeue(7 * SEC);
        assert_eq!(f.deliveries().len(), 1, "queued once");
        assert!(f.store.unnotified_transitions().unwrap().is_empty());
        assert_eq!(
            f.store.alert_states().unwrap()[0].last_notified,
            Some(6 * SEC)
        );
    }

    #[test]
    fn a_silence_records_the_firing_and_sends_nothing() {
        let f = Fixture::new();
        f.store
            .add_silence(&NewSilence {
                alert: "busy".into(),
                node: Some("web1".into()),
                until: 100 * SEC,
                actor: "alice".into(),
            })
            .unwrap();
        let a = f.alerting();
        f.eval(&a, "busy", 95.0, 0);
        f.eval(&a, "busy", 95.0, 5 * SEC);
        f.eval(&a, "busy", 5.0, 10 * SEC);
        assert!(f.deliveries().is_empty());
        assert_eq!(
            f.seen(),
            vec!["busy pending", "busy firing", "busy resolved"]
        );
        let statuses: Vec<Option<NotifyStatus>> = f
            .store
            .monitor_events_recent(10)
            .unwrap()
            .iter()
            .map(|e| match &e.kind {
                MonitorEventKind::Alert(c) => c.notify,
                MonitorEventKind::Node(_) => None,
            })
            .collect();
        // The firing is recorded silenced; its resolution, told to nobody, owes nothing.
        assert_eq!(statuses, vec![None, Some(NotifyStatus::Silenced), None]);
    }

    #[test]
    fn an_alert_without_channels_is_tracked_and_tells_nobody() {
        let f = Fixture::new();
        let a = f.alerting();
        f.eval(&a, "quiet", 95.0, 0);
        assert_eq!(f.seen(), vec!["quiet firing"]);
        assert_eq!(a.snapshot()[0].phase, AlertPhase::Firing);
        assert!(f.store.unnotified_transitions().unwrap().is_empty());
    }
}
