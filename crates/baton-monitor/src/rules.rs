//! The alert state machine, Prometheus' own: `inactive → pending → firing → resolved
//! (inactive)`, with `for` as the time the condition must hold in `pending`, and what each step
//! owes the people on the alert's channels. Pure functions of the previous state, the reading
//! and the time (given, never read from a clock), so every path is a unit test.

use baton_store::{AlertPhase, AlertState, Millis, Transition};

/// Whether a metric's value meets an alert's condition: above `above` or below `below`; with
/// neither (only `up` may omit both), below 1.
pub fn condition_holds(above: Option<f64>, below: Option<f64>, value: f64) -> bool {
    match (above, below) {
        (None, None) => value < 1.0,
        _ => above.is_some_and(|a| value > a) || below.is_some_and(|b| value < b),
    }
}

/// The state after one evaluation, and the transition that led there.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub state: AlertState,
    pub transition: Option<Transition>,
}

/// How late a round may start after its tick. Readings are timed at their round's start, a
/// few ms after the tick: without this, a condition that held from one round to the round
/// `for` later would miss by those ms and fire a whole interval late (Prometheus evaluates at
/// the ticks themselves, so it has no such gap).
pub const ROUND_JITTER: Millis = 250;

/// Evaluate `active` (the condition holds) with `value` at `now` against `previous` (none
/// yet: inactive). `hold` is the alert's `for` in ms. `None` when nothing changes, so nothing
/// needs saving: the steady states write nothing.
pub fn evaluate(
    previous: Option<&AlertState>,
    alert: &str,
    node: &str,
    active: bool,
    value: Option<f64>,
    now: Millis,
    hold: Millis,
) -> Option<Step> {
    let phase = previous.map_or(AlertPhase::Inactive, |p| p.phase);
    let state = |phase, since, active_since, last_notified| AlertState {
        alert: alert.to_string(),
        node: node.to_string(),
        phase,
        since,
        active_since,
        value,
        last_notified,
    };
    let (state, transition) = match (phase, active) {
        (AlertPhase::Inactive, false) | (AlertPhase::Firing, true) => return None,
        (AlertPhase::Inactive, true) if hold <= 0 => (
            state(AlertPhase::Firing, now, Some(now), None),
            Transition::Firing,
        ),
        (AlertPhase::Inactive, true) => (
            state(AlertPhase::Pending, now, Some(now), None),
            Transition::Pending,
        ),
        (AlertPhase::Pending, true) => {
            // A pending state always has its start; one without (a newer baton's row) starts now.
            let started = previous.and_then(|p| p.active_since).unwrap_or(now);
            if now.saturating_sub(started) + ROUND_JITTER < hold {
                return None;
            }
            (
                state(AlertPhase::Firing, now, Some(started), None),
                Transition::Firing,
            )
        }
        (AlertPhase::Pending, false) => (
            state(AlertPhase::Inactive, now, None, None),
            Transition::Inactive,
        ),
        (AlertPhase::Firing, false) => (
            state(AlertPhase::Inactive, now, None, None),
            Transition::Resolved,
        ),
    };
    Some(Step {
        state,
        transition: Some(transition),
    })
}

/// What a step owes the alert's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owed {
    Nothing,
    /// A notification was due but a silence covers it: recorded, not sent.
    Silenced,
    /// Send one: firing (or resolved), a `repeat` re-send or not.
    Send {
        firing: bool,
        repeat: bool,
    },
}

/// The notification owed after a step to `transition` (`None`: the state did not change) from
/// `previous` to `state`. One when it fires, one when it resolves — only if its firing was
/// told (a firing nobody heard of resolves quietly) — and, while it keeps firing, one per
/// `repeat` since the last one told. A silence turns any of them into [`Owed::Silenced`].
pub fn owed(
    transition: Option<Transition>,
    previous: Option<&AlertState>,
    state: &AlertState,
    now: Millis,
    repeat: Option<Millis>,
    has_channels: bool,
    silenced: bool,
) -> Owed {
    if !has_channels {
        return Owed::Nothing;
    }
    let due = match transition {
        Some(Transition::Firing) => Some((true, false)),
        Some(Transition::Resolved) => previous
            .and_then(|p| p.last_notified)
            .map(|_| (false, false)),
        Some(Transition::Pending | Transition::Inactive) => None,
        None => match (state.phase, state.last_notified, repeat) {
            (AlertPhase::Firing, Some(told), Some(every)) if now.saturating_sub(told) >= every => {
                Some((true, true))
            }
            _ => None,
        },
    };
    match due {
        None => Owed::Nothing,
        Some(_) if silenced => Owed::Silenced,
        Some((firing, repeat)) => Owed::Send { firing, repeat },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Millis = 1000;

    #[test]
    fn a_round_a_few_ms_early_still_fires_on_time_but_not_a_whole_interval_early() {
        // Rounds every 5 s, each started a few ms after its tick; `for: 10s`.
        let (_, t) = run(10 * SEC, &[(5_012, true), (10_003, true), (15_004, true)]);
        assert_eq!(
            t,
            vec![(5_012, Transition::Pending), (15_004, Transition::Firing)]
        );
        let (_, t) = run(10 * SEC, &[(5_000, true), (10_000, true), (14_000, true)]);
        assert_eq!(t, vec![(5_000, Transition::Pending)]);
    }

    /// Run readings `(at, active)` through the machine with `for` = `hold`, the way the
    /// monitor does (a step's state replaces the previous one; `None` keeps it).
    fn run(
        hold: Millis,
        readings: &[(Millis, bool)],
    ) -> (Option<AlertState>, Vec<(Millis, Transition)>) {
        let mut state: Option<AlertState> = None;
        let mut transitions = Vec::new();
        for &(at, active) in readings {
            if let Some(step) = evaluate(state.as_ref(), "a", "n", active, Some(1.0), at, hold) {
                transitions.extend(step.transition.map(|t| (at, t)));
                state = Some(step.state);
            }
        }
        (state, transitions)
    }

    #[test]
    fn metric_conditions_compare_strictly() {
        assert!(condition_holds(Some(80.0), None, 80.1));
        assert!(!condition_holds(Some(80.0), None, 80.0));
        assert!(condition_holds(None, Some(10.0), 9.0));
        assert!(condition_holds(Some(90.0), Some(10.0), 95.0));
        assert!(!condition_holds(Some(90.0), Some(10.0), 50.0));
        // `up` without a threshold: down.
        assert!(condition_holds(None, None, 0.0));
        assert!(!condition_holds(None, None, 1.0));
    }

    #[test]
    fn a_condition_held_for_its_for_fires_then_resolves() {
        let (state, transitions) = run(
            5 * SEC,
            &[
                (0, false),
                (SEC, true),
                (3 * SEC, true),
                (5 * SEC, true),
                (6 * SEC, true),
                (7 * SEC, true),
                (8 * SEC, false),
                (9 * SEC, false),
            ],
        );
        assert_eq!(
            transitions,
            vec![
                (SEC, Transition::Pending),
                (6 * SEC, Transition::Firing),
                (8 * SEC, Transition::Resolved),
            ]
        );
        let state = state.unwrap();
        assert_eq!(state.phase, AlertPhase::Inactive);
        assert_eq!((state.since, state.active_since), (8 * SEC, None));
    }

    #[test]
    fn a_condition_cleared_before_for_never_fires() {
        let (state, transitions) = run(
            5 * SEC,
            &[
                (0, true),
                (2 * SEC, true),
                (4 * SEC, false),
                (5 * SEC, true),
                (9 * SEC, true),
            ],
        );
        assert_eq!(
            transitions,
            vec![
                (0, Transition::Pending),
                (4 * SEC, Transition::Inactive),
                (5 * SEC, Transition::Pending),
            ],
            "the timer starts again when the condition returns"
        );
        assert_eq!(state.unwrap().active_since, Some(5 * SEC));
    }

    #[test]
    fn without_for_it_fires_at_once_and_steady_states_change_nothing() {
        let (_, transitions) = run(0, &[(0, true), (1, true), (2, false), (3, false)]);
        assert_eq!(
            transitions,
            vec![(0, Transition::Firing), (2, Transition::Resolved)]
        );
        assert_eq!(evaluate(None, "a", "n", false, None, 0, 0), None);
    }

    #[test]
    fn a_flapping_value_makes_one_transition_per_change() {
        let readings: Vec<(Millis, bool)> = (0..10).map(|i| (i * SEC, i % 2 == 0)).collect();
        let (_, transitions) = run(0, &readings);
        assert_eq!(transitions.len(), 10);
        // With a `for` longer than a flap, it never fires.
        let (_, transitions) = run(3 * SEC, &readings);
        assert!(
            transitions.iter().all(|(_, t)| *t != Transition::Firing),
            "{transitions:?}"
        );
    }

    #[test]
    fn a_restored_pending_state_keeps_its_timer_and_a_firing_one_does_not_fire_again() {
        // What a restarted monitor loads from the store.
        let pending = AlertState {
            alert: "a".into(),
            node: "n".into(),
            phase: AlertPhase::Pending,
            since: 10 * SEC,
            active_since: Some(10 * SEC),
            value: Some(95.0),
            last_notified: None,
        };
        assert_eq!(
            evaluate(Some(&pending), "a", "n", true, None, 12 * SEC, 5 * SEC),
            None
        );
        let fired = evaluate(Some(&pending), "a", "n", true, None, 15 * SEC, 5 * SEC).unwrap();
        assert_eq!(fired.transition, Some(Transition::Firing));
        assert_eq!(
            fired.state.active_since,
            Some(10 * SEC),
            "since the condition became true"
        );
        let firing = fired.state;
        assert_eq!(
            evaluate(Some(&firing), "a", "n", true, None, 60 * SEC, 5 * SEC),
            None
        );
    }

    fn firing(last_notified: Option<Millis>) -> AlertState {
        AlertState {
            alert: "a".into(),
            node: "n".into(),
            phase: AlertPhase::Firing,
            since: 0,
            active_since: Some(0),
            value: None,
            last_notified,
        }
    }

    fn inactive() -> AlertState {
        AlertState {
            phase: AlertPhase::Inactive,
            active_since: None,
            ..firing(None)
        }
    }

    #[test]
    fn one_notification_when_it_fires_and_one_when_it_resolves() {
        let fire = owed(
            Some(Transition::Firing),
            None,
            &firing(None),
            0,
            None,
            true,
            false,
        );
        assert_eq!(
            fire,
            Owed::Send {
                firing: true,
                repeat: false
            }
        );
        let told = firing(Some(5));
        let resolve = owed(
            Some(Transition::Resolved),
            Some(&told),
            &inactive(),
            9,
            None,
            true,
            false,
        );
        assert_eq!(
            resolve,
            Owed::Send {
                firing: false,
                repeat: false
            }
        );
        // Still firing, no repeat: nothing more.
        assert_eq!(
            owed(None, Some(&told), &told, 1_000_000, None, true, false),
            Owed::Nothing
        );
        // Pending and a cleared pending owe nothing.
        for t in [Transition::Pending, Transition::Inactive] {
            assert_eq!(
                owed(Some(t), None, &inactive(), 0, None, true, false),
                Owed::Nothing
            );
        }
        // No channels: nothing, ever.
        assert_eq!(
            owed(
                Some(Transition::Firing),
                None,
                &firing(None),
                0,
                None,
                false,
                false
            ),
            Owed::Nothing
        );
    }

    #[test]
    fn repeat_re_sends_while_firing_from_the_last_one_told() {
        let told = firing(Some(1000));
        let every = Some(60 * SEC);
        assert_eq!(
            owed(
                None,
                Some(&told),
                &told,
                1000 + 59 * SEC,
                every,
                true,
                false
            ),
            Owed::Nothing
        );
        assert_eq!(
            owed(
                None,
                Some(&told),
                &told,
                1000 + 60 * SEC,
                every,
                true,
                false
            ),
            Owed::Send {
                firing: true,
                repeat: true
            }
        );
        // A firing never told (it was silenced) is not repeated.
        let untold = firing(None);
        assert_eq!(
            owed(
                None,
                Some(&untold),
                &untold,
                10 * 60 * SEC,
                every,
                true,
                false
            ),
            Owed::Nothing
        );
    }

    #[test]
    fn silences_suppress_notifications_and_an_untold_firing_resolves_quietly() {
        assert_eq!(
            owed(
                Some(Transition::Firing),
                None,
                &firing(None),
                0,
                None,
                true,
                true
            ),
            Owed::Silenced
        );
        let told = firing(Some(5));
        assert_eq!(
            owed(
                Some(Transition::Resolved),
                Some(&told),
                &inactive(),
                9,
                None,
                true,
                true
            ),
            Owed::Silenced
        );
        assert_eq!(
            owed(
                None,
                Some(&told),
                &told,
                10 * 60 * SEC,
                Some(SEC),
                true,
                true
            ),
            Owed::Silenced
        );
        let untold = firing(None);
        assert_eq!(
            owed(
                Some(Transition::Resolved),
                Some(&untold),
                &inactive(),
                9,
                None,
                true,
                false
            ),
            Owed::Nothing
        );
    }
}
