//! Schedules (cron triggers): when each one is due, and deciding — once, across every server
//! sharing the store — what to do with the slots that came due.
//!
//! A **slot** is one due instant of a pipeline, identified by its unix seconds UTC. It is the
//! unit the store claims (`claim_slot` is unique per pipeline and slot), so a slot starts at
//! most one run whichever servers race for it, and two schedule triggers of one pipeline due at
//! the same instant make one slot.
//!
//! **Evaluation.** The cron expression is evaluated in the trigger's IANA zone (UTC without
//! one) by croner, then the instant is kept in UTC. Every forward walk is bounded (a number of
//! steps, and a strictly increasing cursor): an expression that never matches again (`0 0 30 2
//! *`) or a search that did not move ends the walk instead of spinning.
//!
//! **Daylight saving time** is croner's rule, checked in `tests/schedule.rs` for Europe/Paris:
//! - clocks spring forward (02:00 → 03:00): a fixed-time job in the gap (`30 2 * * *`) runs at
//!   the first instant after it, 03:00 local (01:00 UTC) — once; if `0 3 * * *` is also a
//!   trigger of the pipeline the two are one slot. Interval jobs (`*/30 * * * *`) skip the
//!   wall-clock times that do not exist.
//! - clocks fall back (03:00 → 02:00, 02:00–02:59 happens twice): a fixed-time job runs once, at
//!   the first 02:30 (00:30 UTC); interval jobs run in both passes (`30 * * * *` at 00:30 and
//!   01:30 UTC), which are different instants and so different slots.
//!
//! **Downtime.** The slots considered are those in (last recorded slot, now] — or (since, now]
//! for a pipeline with no slot yet, so a new schedule does not replay history. Only the newest
//! of them can start a run: on time (due less than [`ON_TIME`] ago) it is `Fired`; late, it is
//! `CaughtUp` with `catch_up` (one run however long the server was down) and `Missed` without.
//! The older ones are recorded `Missed`, at most [`MAX_MISSED_RECORDED`] (the latest), found
//! by walking back from now so a month of `* * * * *` costs a hundred steps, not 43,000.

use std::collections::{BTreeMap, HashMap};

use baton_model::Trigger;
use baton_store::{SlotOutcome, SlotRecord};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use croner::Cron;

use crate::api::schedules::{FiredSlot, Schedule};
use crate::error::{OpsError, OpsResult};
use crate::open::Ops;

/// A slot due less than this long ago is on time; older, the server was not there to fire it.
pub const ON_TIME: TimeDelta = TimeDelta::seconds(60);

/// The older slots of one decision recorded as `Missed` (the latest ones): enough to show what
/// downtime cost, without a row per minute of a month.
pub const MAX_MISSED_RECORDED: usize = 100;

/// Missed slots shown per schedule, newest first.
pub const MISSED_SHOWN: usize = 10;

/// The most next times `schedules` computes per schedule, whatever the caller asks.
pub const MAX_NEXT: usize = 1000;

/// Slot records read back per pipeline to find its last fired and recent missed slots. Missed
/// runs pile up only across downtimes (at most [`MAX_MISSED_RECORDED`] each), so a fired slot
/// is almost always among them; if not, `last_fired` is `None` rather than a scan of history.
const SLOT_SCAN: usize = 1000;

/// Searches one croner call may repeat when it returns a time that is not after its start
/// (it should not; this keeps a walk from spinning if it ever does).
const SEARCH_RETRIES: usize = 3;

/// A slot that came due and that this caller claimed: start its pipeline's run, then record it
/// with `store.set_slot_run(pipeline, slot, run)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueSlot {
    pub pipeline: String,
    /// The due time, unix seconds UTC: the slot's key in the store.
    pub slot: i64,
    pub due: DateTime<Utc>,
    /// `Fired` (on time) or `CaughtUp` (the newest slot missed during downtime).
    pub outcome: SlotOutcome,
}

/// One schedule trigger, parsed.
#[derive(Debug, Clone)]
struct CronSchedule {
    pipeline: String,
    text: String,
    cron: Cron,
    tz: Tz,
    /// The zone as written (`UTC` when none), as users will look for it.
    zone: String,
    catch_up: bool,
}

impl CronSchedule {
    /// The first due time strictly after `after`; `None` when the expression never matches
    /// again (croner gives up after its search limit).
    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut from = after;
        for _ in 0..SEARCH_RETRIES {
            let found = self
                .cron
                .find_next_occurrence(&from.with_timezone(&self.tz), false)
                .ok()?
                .with_timezone(&Utc);
            if found > after {
                return Some(found);
            }
            from = found.max(from) + TimeDelta::seconds(1);
        }
        None
    }

    /// The latest due time at or before `at`; `None` when there is none (within croner's
    /// search limit).
    fn latest_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let found = self
            .cron
            .find_previous_occurrence(&at.with_timezone(&self.tz), true)
            .ok()?
            .with_timezone(&Utc);
        (found <= at).then_some(found)
    }

    /// Due times in (`after`, `until`], soonest first, at most `limit`: the forward walk (the
    /// one [`Ops::next_schedule_due`] and `next` use, so a slot is the instant that was shown).
    fn due_between(
        &self,
        after: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut found = Vec::new();
        let mut cursor = after;
        while found.len() < limit {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            if until.is_some_and(|until| next > until) {
                break;
            }
            found.push(next);
            cursor = next;
        }
        found
    }

    /// The latest `keep` due times in (`after`, `now`], soonest first. Where to start is found
    /// by walking back from `now` (`keep` steps at most, however long ago `after` is); the
    /// times themselves come from the forward walk.
    fn latest_due(
        &self,
        after: DateTime<Utc>,
        now: DateTime<Utc>,
        keep: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut start = after;
        let mut cursor = now;
        for _ in 0..keep {
            match self.latest_at_or_before(cursor) {
                Some(at) if at > after => {
                    start = at - TimeDelta::seconds(1);
                    cursor = start;
                }
                _ => {
                    start = after;
                    break;
                }
            }
        }
        // `keep` more steps than needed let the forward walk disagree a little with the
        // backward one (around a DST change) and still reach `now`; the bound stays fixed.
        let mut due = self.due_between(start, Some(now), keep * 2 + 2);
        let surplus = due.len().saturating_sub(keep);
        due.drain(..surplus);
        due
    }
}

/// The schedule triggers of the project, in pipeline and trigger order.
fn schedules_of(ops: &Ops) -> OpsResult<Vec<CronSchedule>> {
    let mut all = Vec::new();
    for pipeline in ops.project.pipelines.values() {
        for trigger in &pipeline.triggers {
            let Trigger::Schedule {
                cron,
                timezone,
                catch_up,
            } = &trigger.value
            else {
                continue;
            };
            // The model checked both when it loaded the project; a failure here is a project
            // built by other means, reported rather than skipped.
            let parsed = cron.parse::<Cron>().map_err(|e| {
                OpsError::usage(format!(
                    "pipeline `{}`: invalid cron expression `{cron}`: {e}",
                    pipeline.name
                ))
            })?;
            let tz = match timezone {
                Some(name) => name.parse::<Tz>().map_err(|_| {
                    OpsError::usage(format!(
                        "pipeline `{}`: unknown time zone `{name}`",
                        pipeline.name
                    ))
                })?,
                None => Tz::UTC,
            };
            all.push(CronSchedule {
                pipeline: pipeline.name.clone(),
                text: cron.clone(),
                cron: parsed,
                tz,
                zone: timezone.clone().unwrap_or_else(|| "UTC".to_string()),
                catch_up: *catch_up,
            });
        }
    }
    Ok(all)
}

/// An instant as the API writes it: RFC 3339 in UTC, to the second.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `at` on the wall clock of IANA zone `timezone` (for front ends showing a schedule's times
/// where it runs); `None` for an unknown zone.
pub fn in_zone(at: DateTime<Utc>, timezone: &str) -> Option<DateTime<Tz>> {
    Some(at.with_timezone(&timezone.parse::<Tz>().ok()?))
}

fn slot_instant(slot: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(slot, 0)
}

impl Ops {
    /// `baton schedules`: each schedule trigger of each pipeline, its next `count` times (UTC
    /// instants, shown by the CLI in its zone and in local time), the last fired slot (with
    /// run id), the recent missed slots.
    pub fn schedules(&self, now: DateTime<Utc>, count: usize) -> OpsResult<Vec<Schedule>> {
        let mut history: HashMap<String, (Option<FiredSlot>, Vec<String>)> = HashMap::new();
        let mut rows = Vec::new();
        for schedule in schedules_of(self)? {
            if !history.contains_key(&schedule.pipeline) {
                let records = self.store.slots(&schedule.pipeline, SLOT_SCAN)?;
                history.insert(schedule.pipeline.clone(), slot_history(&records));
            }
            let (last_fired, missed) = history[&schedule.pipeline].clone();
            rows.push(Schedule {
                pipeline: schedule.pipeline.clone(),
                cron: schedule.text.clone(),
                timezone: schedule.zone.clone(),
                catch_up: schedule.catch_up,
                next: schedule
                    .due_between(now, None, count.min(MAX_NEXT))
                    .into_iter()
                    .map(rfc3339)
                    .collect(),
                last_fired,
                missed,
            });
        }
        Ok(rows)
    }

    /// The earliest due time after `now` across all schedules (the firing loop sleeps until
    /// it), `None` if none.
    pub fn next_schedule_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A schedule the model would have refused cannot be due: it is left out here and
        // reported by `schedules` and `claim_due_slots`.
        let schedules = schedules_of(self).ok()?;
        schedules.iter().filter_map(|s| s.next_after(now)).min()
    }

    /// Decide and claim, in the store, what is due at `now`. `since` is when this server
    /// started: a pipeline with no recorded slot yet only considers slots after `since` (a new
    /// schedule does not replay history). See the module documentation for the rules; a slot
    /// another process claimed first is not returned.
    pub fn claim_due_slots(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> OpsResult<Vec<DueSlot>> {
        let schedules = schedules_of(self)?;
        let mut by_pipeline: Vec<(&str, Vec<&CronSchedule>)> = Vec::new();
        for schedule in &schedules {
            match by_pipeline
                .iter_mut()
                .find(|(p, _)| *p == schedule.pipeline)
            {
                Some((_, list)) => list.push(schedule),
                None => by_pipeline.push((&schedule.pipeline, vec![schedule])),
            }
        }
        let mut due = Vec::new();
        for (pipeline, schedules) in by_pipeline {
            let after = match self.store.last_slot(pipeline)? {
                Some(last) => slot_instant(last.slot).unwrap_or(since),
                None => since,
            };
            if now <= after {
                continue;
            }
            // Slot → whether any trigger due then catches up. Each trigger's latest slots
            // suffice: the pipeline's latest are among them.
            let mut slots: BTreeMap<DateTime<Utc>, bool> = BTreeMap::new();
            for schedule in schedules {
                for at in schedule.latest_due(after, now, MAX_MISSED_RECORDED + 1) {
                    *slots.entry(at).or_insert(false) |= schedule.catch_up;
                }
            }
            let Some((&newest, &catch_up)) = slots.iter().next_back() else {
                continue;
            };
            let newest_outcome = if now - newest < ON_TIME {
                SlotOutcome::Fired
            } else if catch_up {
                SlotOutcome::CaughtUp
            } else {
                SlotOutcome::Missed
            };
            // Oldest first, so the newest slot is claimed last: a process that dies half-way
            // leaves `last_slot` before the one it did not decide, and the next call decides it.
            let older: Vec<DateTime<Utc>> =
                slots.keys().copied().filter(|at| *at < newest).collect();
            let skip = older.len().saturating_sub(MAX_MISSED_RECORDED);
            for at in &older[skip..] {
                self.store
                    .claim_slot(pipeline, at.timestamp(), SlotOutcome::Missed)?;
            }
            let claimed = self
                .store
                .claim_slot(pipeline, newest.timestamp(), newest_outcome)?;
            if claimed && newest_outcome != SlotOutcome::Missed {
                due.push(DueSlot {
                    pipeline: pipeline.to_string(),
                    slot: newest.timestamp(),
                    due: newest,
                    outcome: newest_outcome,
                });
            }
        }
        Ok(due)
    }
}

/// A pipeline's last fired slot and its recent missed ones, from its records (newest first).
fn slot_history(records: &[SlotRecord]) -> (Option<FiredSlot>, Vec<String>) {
    let last_fired = records
        .iter()
        .find(|r| r.outcome != SlotOutcome::Missed)
        .and_then(|r| {
            Some(FiredSlot {
                slot: rfc3339(slot_instant(r.slot)?),
                run: r.run,
            })
        });
    let missed = records
        .iter()
        .filter(|r| r.outcome == SlotOutcome::Missed)
        .filter_map(|r| slot_instant(r.slot).map(rfc3339))
        .take(MISSED_SHOWN)
        .collect();
    (last_fired, missed)
}
