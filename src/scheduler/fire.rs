//! What a due schedule does, decided without I/O: which instants fire, which are skipped by a
//! rule or by overlap, which were missed while the daemon was down, and where the cursor goes.
//! The loop in `mod.rs` persists the result and performs it. Time (`now`) and the ids of new
//! executions ([`IdSource`]) come from the caller, so a plan is a function of its inputs.

use std::collections::VecDeque;

use serde_json::{Map, Value};

use crate::model::{
    Execution, ExecutionStatus, FIRE_ALL_MAX, IdSource, MisfirePolicy, OverlapPolicy, Schedule, ScheduleStatus,
    Trigger, fire_idempotency_key, jitter_ms,
};
use crate::schedule::Driver;
use crate::schedule::rules;
use crate::time::Millis;

/// Most due instants enumerated in one catch-up; older ones are summarised in one record.
pub const CATCHUP_INSTANTS_MAX: usize = 1000;

/// Most missed instants walked in one round of a catch-up after a long outage (each is a
/// `next_after` call: a few microseconds for a parsed cron expression). A longer backlog is
/// walked over several rounds, the scheduler handling its other work in between; every
/// instant of a finished round is decided, none is lost.
pub const CATCHUP_WALK_MAX: usize = 10_000;

/// The outcome of processing a schedule's due cursor.
#[derive(Debug, Clone)]
pub struct Plan {
    pub schedule: Schedule,
    /// Every execution to record (fired ones are `Pending`; also skipped and missed ones).
    pub executions: Vec<Execution>,
}

impl Plan {
    pub fn fired(&self) -> impl Iterator<Item = &Execution> {
        self.executions.iter().filter(|e| e.status == ExecutionStatus::Pending)
    }
}

fn new_execution(
    s: &Schedule,
    ids: &mut dyn IdSource,
    instant: Millis,
    now: Millis,
    status: ExecutionStatus,
    trigger: Trigger,
) -> Execution {
    let key = fire_idempotency_key(s.id, instant);
    let due = instant + jitter_ms(&key, s.jitter_seconds);
    Execution {
        id: ids.execution(),
        brand: s.brand,
        schedule: Some(s.id),
        target_kind: s.target_kind,
        target_id: s.target_id,
        trigger,
        scheduled_ms: instant,
        due_ms: due,
        idempotency_key: key,
        status,
        context: s.initial_context.clone(),
        skipped_rule: None,
        reason: None,
        attempts: Vec::new(),
        lateness_ms: None,
        next_attempt_ms: None,
        retry_of: None,
        step: None,
        event: None,
        created_ms: now,
        finished_ms: if status.is_finished() { Some(now) } else { None },
    }
}

/// The instant at which the schedule's timer should go off: the cursor plus its jitter.
pub fn timer_deadline(s: &Schedule) -> Option<Millis> {
    s.timer_deadline()
}

/// Processes a schedule whose cursor came due. `started_at` is when this daemon process
/// started: instants before it came due while the daemon was down and follow the misfire
/// policy; later ones all fire. `running` is how many of its executions are still running.
/// New executions take their ids from `ids`.
pub fn on_due(s: &Schedule, now: Millis, started_at: Millis, running: usize, ids: &mut dyn IdSource) -> Plan {
    on_due_until(s, now, now, started_at, running, ids)
}

/// [`on_due`] that also takes the instants due up to `until` (≥ `now`): the scheduler records
/// fires a little ahead of their instant, so that the durable commit is off the critical path
/// and delivery only has to wait for the instant.
pub fn on_due_until(
    s: &Schedule,
    now: Millis,
    until: Millis,
    started_at: Millis,
    running: usize,
    ids: &mut dyn IdSource,
) -> Plan {
    let mut s = s.clone();
    let mut executions = Vec::new();
    if s.status != ScheduleStatus::Active {
        return Plan { schedule: s, executions };
    }
    let Some(cursor) = s.next_fire_ms else {
        return Plan { schedule: s, executions };
    };
    if cursor > until {
        // Not due yet (a timer that went off early, a stale wake-up): nothing fires and the
        // cursor stays where it is.
        return Plan { schedule: s, executions };
    }

    if let Driver::Debounce(spec) = &s.driver {
        // A debounce fire: the burst's latest context over the initial context.
        let mut spec_state = s.debounce.clone();
        let ctx = spec.take_burst(&mut spec_state);
        s.debounce = spec_state;
        let mut e = new_execution(&s, ids, cursor, now, ExecutionStatus::Pending, Trigger::Debounce);
        merge(&mut e.context, ctx);
        s.next_fire_ms = None;
        s.total_triggered += 1;
        s.last_run_ms = Some(now.max(e.due_ms));
        executions.push(e);
        return Plan { schedule: s, executions };
    }

    // Every due instant from the cursor up to now, in two groups: instants that came due
    // before this process started (misfires: the newest CATCHUP_INSTANTS_MAX are kept, older
    // ones are summarised in one record) and live ones (at most CATCHUP_INSTANTS_MAX per
    // round; the cursor then stays on the next one, which the loop processes at once).
    let mut pre: VecDeque<Millis> = VecDeque::new();
    let mut omitted: (u64, Option<Millis>, Option<Millis>) = (0, None, None);
    let mut live: Vec<Millis> = Vec::new();
    let mut resume_at = None;
    let mut last_due = cursor;
    let mut next = Some(cursor);
    let mut walked = 0usize;
    while let Some(i) = next {
        if i > until {
            break;
        }
        if i < started_at {
            if walked == CATCHUP_WALK_MAX {
                return partial_catch_up(s, ids, now, pre, omitted);
            }
            walked += 1;
            if pre.len() == CATCHUP_INSTANTS_MAX
                && let Some(old) = pre.pop_front()
            {
                omitted.0 += 1;
                omitted.1 = omitted.1.or(Some(old));
                omitted.2 = Some(old);
            }
            pre.push_back(i);
        } else {
            if live.len() == CATCHUP_INSTANTS_MAX {
                resume_at = Some(i);
                break;
            }
            live.push(i);
        }
        last_due = i;
        next = s.driver.next_after(i);
    }
    let missed_window: Vec<Millis> = pre.into_iter().collect();
    let mut to_fire: Vec<Millis> = Vec::new();
    let mut missed: Vec<Millis> = Vec::new();
    match s.misfire {
        MisfirePolicy::Skip => missed.extend_from_slice(&missed_window),
        MisfirePolicy::FireOnce => {
            if let Some((&newest, older)) = missed_window.split_last() {
                missed.extend_from_slice(older);
                if now - newest <= i64::from(s.misfire_grace_seconds) * 1000 {
                    to_fire.push(newest);
                } else {
                    missed.push(newest);
                }
            }
        }
        MisfirePolicy::FireAll => {
            let keep_from = missed_window.len().saturating_sub(FIRE_ALL_MAX);
            missed.extend_from_slice(&missed_window[..keep_from]);
            to_fire.extend_from_slice(&missed_window[keep_from..]);
        }
    }
    to_fire.extend_from_slice(&live);
    let policy = s.misfire.as_str();
    if let (n, Some(first), Some(last)) = omitted {
        let mut e = new_execution(&s, ids, last, now, ExecutionStatus::Missed, Trigger::Schedule);
        e.reason = Some(format!(
            "came due while the daemon was down: {n} instants from {} to {} (summarised in this record; misfire_policy {policy})",
            crate::time::format_utc(first),
            crate::time::format_utc(last)
        ));
        executions.push(e);
    }
    for &m in &missed {
        let mut e = new_execution(&s, ids, m, now, ExecutionStatus::Missed, Trigger::Schedule);
        e.reason = Some(format!("came due while the daemon was down (misfire_policy {policy})"));
        executions.push(e);
    }

    let (max_runs, expire) = rules::termination(s.rules.iter().map(|r| &r.rule));
    let mut in_flight = running;
    // A buffer_one instant whose release was lost (a crash after the running execution
    // finished): nothing is running any more, so it fires first.
    if running == 0
        && let Some(b) = s.buffered_ms.take()
    {
        executions.push(new_execution(&s, ids, b, now, ExecutionStatus::Pending, Trigger::Schedule));
        in_flight += 1;
        s.total_triggered += 1;
        s.last_run_ms = Some(now.max(b));
    }
    let mut done = false;
    for instant in to_fire {
        if expire.is_some_and(|e| instant >= e) {
            s.status = ScheduleStatus::Expired;
            s.reason = Some("expire_at reached".into());
            done = true;
            break;
        }
        if let Some(blocker) = s.rules.iter().find(|r| !r.rule.allows(instant)) {
            let mut e = new_execution(&s, ids, instant, now, ExecutionStatus::Skipped, Trigger::Schedule);
            e.skipped_rule = Some(blocker.id);
            e.reason = Some(format!("blocked by rule {} ({})", blocker.id, blocker.rule.type_name()));
            executions.push(e);
            continue;
        }
        if in_flight > 0 && !s.driver.is_one_off() {
            match s.overlap {
                OverlapPolicy::Allow => {}
                OverlapPolicy::Skip => {
                    let mut e = new_execution(&s, ids, instant, now, ExecutionStatus::Skipped, Trigger::Schedule);
                    e.reason = Some("previous execution still running (overlap_policy skip)".into());
                    executions.push(e);
                    continue;
                }
                OverlapPolicy::BufferOne => {
                    if s.buffered_ms.is_some() {
                        let mut e = new_execution(&s, ids, instant, now, ExecutionStatus::Skipped, Trigger::Schedule);
                        e.reason = Some("previous execution still running and one fire already buffered (overlap_policy buffer_one)".into());
                        executions.push(e);
                    } else {
                        s.buffered_ms = Some(instant);
                    }
                    continue;
                }
            }
        }
        executions.push(new_execution(&s, ids, instant, now, ExecutionStatus::Pending, Trigger::Schedule));
        in_flight += 1;
        s.total_triggered += 1;
        s.last_run_ms = executions.last().map(|e| now.max(e.due_ms));
        if s.driver.is_one_off() {
            s.status = ScheduleStatus::Completed;
            s.reason = Some("one-off schedule ran".into());
            done = true;
            break;
        }
        if max_runs.is_some_and(|m| s.total_triggered >= m) {
            s.status = ScheduleStatus::Completed;
            s.reason = Some("max_run_to_terminate_after reached".into());
            done = true;
            break;
        }
    }
    if done {
        s.next_fire_ms = None;
        return Plan { schedule: s, executions };
    }
    match resume_at {
        Some(r) => s.next_fire_ms = Some(r),
        None => advance_cursor(&mut s, last_due),
    }
    if let (Some(next), Some(e)) = (s.next_fire_ms, expire)
        && next >= e
    {
        s.status = ScheduleStatus::Expired;
        s.reason = Some("expire_at reached".into());
        s.next_fire_ms = None;
    }
    Plan { schedule: s, executions }
}

/// One bounded round of a long catch-up that has not reached the newest missed instant: every
/// walked instant that cannot be among the newest [`FIRE_ALL_MAX`] missed ones (those the
/// misfire policies may still fire) is recorded as missed in one summary record; the cursor
/// goes back to the oldest of the newest ones, which the next round walks again.
fn partial_catch_up(
    mut s: Schedule,
    ids: &mut dyn IdSource,
    now: Millis,
    pre: VecDeque<Millis>,
    omitted: (u64, Option<Millis>, Option<Millis>),
) -> Plan {
    let pre: Vec<Millis> = pre.into_iter().collect();
    let keep_from = pre.len().saturating_sub(FIRE_ALL_MAX);
    let decided = &pre[..keep_from];
    let n = omitted.0 + decided.len() as u64;
    let first = omitted.1.or(decided.first().copied());
    let last = decided.last().copied().or(omitted.2);
    let mut executions = Vec::new();
    if let (Some(first), Some(last)) = (first, last) {
        let mut e = new_execution(&s, ids, last, now, ExecutionStatus::Missed, Trigger::Schedule);
        e.reason = Some(format!(
            "came due while the daemon was down: {n} instants from {} to {} (summarised in this record; misfire_policy {})",
            crate::time::format_utc(first),
            crate::time::format_utc(last),
            s.misfire.as_str()
        ));
        executions.push(e);
    }
    if let Some(&resume) = pre.get(keep_from) {
        s.next_fire_ms = Some(resume);
    }
    Plan { schedule: s, executions }
}

/// Moves the cursor to the first instant after `after`; a driver with no more instants
/// completes the schedule with a reason.
pub fn advance_cursor(s: &mut Schedule, after: Millis) {
    s.next_fire_ms = s.driver.next_after(after);
    if s.next_fire_ms.is_none() && !matches!(s.driver, Driver::Debounce(_)) {
        s.status = ScheduleStatus::Completed;
        s.reason = Some(match &s.driver {
            Driver::Solar(_) => "the solar event does not occur within the next 366 days".into(),
            _ => "no further fire times".into(),
        });
    }
}

/// A `buffer_one` fire released when the running execution finished.
pub fn release_buffered(s: &Schedule, now: Millis, ids: &mut dyn IdSource) -> Option<Plan> {
    let instant = s.buffered_ms?;
    let mut s = s.clone();
    s.buffered_ms = None;
    if s.status != ScheduleStatus::Active {
        return Some(Plan { schedule: s, executions: Vec::new() });
    }
    let e = new_execution(&s, ids, instant, now, ExecutionStatus::Pending, Trigger::Schedule);
    s.total_triggered += 1;
    s.last_run_ms = Some(now);
    let (max_runs, _) = rules::termination(s.rules.iter().map(|r| &r.rule));
    if max_runs.is_some_and(|m| s.total_triggered >= m) {
        s.status = ScheduleStatus::Completed;
        s.reason = Some("max_run_to_terminate_after reached".into());
        s.next_fire_ms = None;
    }
    Some(Plan { schedule: s, executions: vec![e] })
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        into.insert(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BrandId, ExecutionId, ScheduleId, ScheduleRule, SeqIds, TargetKind};
    use crate::schedule::interval::{IntervalSpec, Period};
    use crate::schedule::rules::Rule;

    const SEC: i64 = 1000;

    /// `on_due` with deterministic ids: the plan's executions are ids 1, 2, 3, … in order.
    fn due(s: &Schedule, now: Millis, started_at: Millis, running: usize) -> Plan {
        on_due(s, now, started_at, running, &mut SeqIds::new())
    }

    fn every_second(misfire: MisfirePolicy) -> Schedule {
        Schedule {
            id: ScheduleId::new(),
            brand: BrandId::new(),
            name: None,
            target_kind: TargetKind::Webhook,
            target_id: uuid::Uuid::new_v4(),
            driver: Driver::Interval(IntervalSpec {
                value: 1,
                period: Period::Second,
                anchor_ms: 0,
                anchor_fires: false,
                one_off: false,
            }),
            initial_context: Map::new(),
            misfire,
            misfire_grace_seconds: 3600,
            overlap: OverlapPolicy::Allow,
            jitter_seconds: 0,
            status: ScheduleStatus::Active,
            reason: None,
            rules: Vec::new(),
            next_fire_ms: Some(SEC),
            last_run_ms: None,
            total_triggered: 0,
            debounce: Default::default(),
            buffered_ms: None,
            version: 0,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn statuses(p: &Plan) -> Vec<(i64, &'static str)> {
        p.executions.iter().map(|e| (e.scheduled_ms / SEC, e.status.as_str())).collect()
    }

    #[test]
    fn a_live_fire_fires_and_advances_the_cursor() {
        let s = every_second(MisfirePolicy::FireOnce);
        let p = due(&s, SEC + 3, 0, 0);
        assert_eq!(statuses(&p), [(1, "pending")]);
        assert_eq!(p.schedule.next_fire_ms, Some(2 * SEC));
        assert_eq!(p.schedule.total_triggered, 1);
    }

    #[test]
    fn misfire_policies_after_downtime() {
        // Down from 1 s to 5.5 s: instants 1..5 came due before the process started at 5.5 s.
        let now = 5 * SEC + 500;
        let once = due(&every_second(MisfirePolicy::FireOnce), now, now, 0);
        assert_eq!(statuses(&once), [(1, "missed"), (2, "missed"), (3, "missed"), (4, "missed"), (5, "pending")]);
        assert_eq!(once.schedule.next_fire_ms, Some(6 * SEC));
        let skip = due(&every_second(MisfirePolicy::Skip), now, now, 0);
        assert_eq!(statuses(&skip).iter().filter(|x| x.1 == "missed").count(), 5);
        let all = due(&every_second(MisfirePolicy::FireAll), now, now, 0);
        assert_eq!(statuses(&all).iter().filter(|x| x.1 == "pending").count(), 5);
        assert_eq!(all.schedule.total_triggered, 5);
    }

    #[test]
    fn fire_once_outside_the_grace_period_misses_everything() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.misfire_grace_seconds = 0;
        let now = 10 * SEC + 500;
        let p = due(&s, now, now, 0);
        assert!(p.executions.iter().all(|e| e.status == ExecutionStatus::Missed), "{:?}", statuses(&p));
        assert_eq!(p.executions.len(), 10);
    }

    #[test]
    fn long_catch_ups_lose_nothing() {
        // Live instants beyond one round stay on the cursor for the next round.
        let s = every_second(MisfirePolicy::FireOnce);
        let p = due(&s, 1500 * SEC, 0, 0);
        assert_eq!(p.executions.len(), CATCHUP_INSTANTS_MAX);
        assert_eq!(p.schedule.next_fire_ms, Some((CATCHUP_INSTANTS_MAX as i64 + 1) * SEC));
        let p2 = due(&p.schedule, 1500 * SEC, 0, 0);
        assert_eq!(p2.executions.len(), 500);
        assert_eq!(p2.schedule.next_fire_ms, Some(1501 * SEC));
        // Downtime instants beyond the cap are summarised in one record.
        let q = due(&s, 1500 * SEC + 1, 1500 * SEC + 1, 0);
        let missed = q.executions.iter().filter(|e| e.status == ExecutionStatus::Missed).count();
        assert_eq!(missed, CATCHUP_INSTANTS_MAX, "999 listed + 1 summary");
        assert!(q.executions.iter().any(|e| { e.reason.as_deref().is_some_and(|r| r.contains("500 instants")) }));
    }

    #[test]
    fn instants_due_after_start_all_fire() {
        let p = due(&every_second(MisfirePolicy::Skip), 3 * SEC, 0, 0);
        assert_eq!(statuses(&p), [(1, "pending"), (2, "pending"), (3, "pending")]);
    }

    #[test]
    fn rules_skip_without_counting_and_termination_completes() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.rules = vec![ScheduleRule {
            id: crate::model::RuleId::new(),
            rule: Rule::Termination { max_runs: Some(2), expire_at_ms: None },
            created_ms: 0,
        }];
        let p1 = due(&s, SEC, 0, 0);
        let p2 = due(&p1.schedule, 2 * SEC, 0, 0);
        assert_eq!(p2.schedule.status, ScheduleStatus::Completed);
        assert_eq!(p2.schedule.next_fire_ms, None);
        assert_eq!(p2.schedule.total_triggered, 2);
    }

    #[test]
    fn overlap_skip_and_buffer_one() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.overlap = OverlapPolicy::Skip;
        let p = due(&s, SEC, 0, 1);
        assert_eq!(statuses(&p), [(1, "skipped")]);
        assert_eq!(p.schedule.total_triggered, 0);
        s.overlap = OverlapPolicy::BufferOne;
        let p = due(&s, SEC, 0, 1);
        assert!(p.executions.is_empty());
        assert_eq!(p.schedule.buffered_ms, Some(SEC));
        let p2 = due(&p.schedule, 2 * SEC, 0, 1);
        assert_eq!(statuses(&p2), [(2, "skipped")], "only one buffered");
        let released = release_buffered(&p2.schedule, 2 * SEC + 10, &mut SeqIds::new()).unwrap();
        assert_eq!(statuses(&released), [(1, "pending")]);
        assert_eq!(released.schedule.buffered_ms, None);
    }

    #[test]
    fn a_buffered_instant_left_by_a_crash_fires_when_nothing_runs() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.overlap = OverlapPolicy::BufferOne;
        s.buffered_ms = Some(SEC);
        s.next_fire_ms = Some(2 * SEC);
        let p = due(&s, 2 * SEC, 0, 0);
        assert_eq!(statuses(&p), [(1, "pending")], "the buffered instant fires; the current one is buffered behind it");
        assert_eq!(p.schedule.buffered_ms, Some(2 * SEC));
    }

    #[test]
    fn expiry_ends_the_schedule_before_firing() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.rules = vec![ScheduleRule {
            id: crate::model::RuleId::new(),
            rule: Rule::Termination { max_runs: None, expire_at_ms: Some(2 * SEC) },
            created_ms: 0,
        }];
        let p = due(&s, SEC, 0, 0);
        assert_eq!(statuses(&p), [(1, "pending")]);
        assert_eq!(p.schedule.status, ScheduleStatus::Expired, "the next instant is at expire_at");
    }

    #[test]
    fn idempotency_keys_are_deterministic_and_jitter_is_bounded() {
        let mut s = every_second(MisfirePolicy::FireOnce);
        s.jitter_seconds = 3;
        let a = due(&s, 10 * SEC, 0, 0);
        let b = due(&s, 10 * SEC, 0, 0);
        let ka: Vec<_> = a.executions.iter().map(|e| e.idempotency_key.clone()).collect();
        let kb: Vec<_> = b.executions.iter().map(|e| e.idempotency_key.clone()).collect();
        assert_eq!(ka, kb);
        for e in &a.executions {
            assert!((0..3000).contains(&(e.due_ms - e.scheduled_ms)));
        }
    }

    #[test]
    fn a_plan_is_a_function_of_its_inputs() {
        // The same schedule, time and id source give the same plan, ids included: missed
        // instants first, then the fired ones, each with the next id drawn.
        let s = every_second(MisfirePolicy::FireOnce);
        let now = 3 * SEC + 500;
        let (a, b) = (due(&s, now, 2 * SEC, 0), due(&s, now, 2 * SEC, 0));
        let ids = |p: &Plan| p.executions.iter().map(|e| (e.id, e.status.as_str())).collect::<Vec<_>>();
        let id = |n| ExecutionId(SeqIds::id(n));
        assert_eq!(ids(&a), [(id(1), "pending"), (id(2), "pending"), (id(3), "pending")]);
        assert_eq!(ids(&a), ids(&b));
        let mut ids_src = SeqIds::new();
        let p = on_due(&s, 5 * SEC + 500, 5 * SEC + 500, 0, &mut ids_src);
        assert_eq!(
            ids(&p),
            [(id(1), "missed"), (id(2), "missed"), (id(3), "missed"), (id(4), "missed"), (id(5), "pending")]
        );
        // A later call draws on from the same source.
        let next = on_due(&p.schedule, 6 * SEC, 0, 0, &mut ids_src);
        assert_eq!(ids(&next), [(id(6), "pending")]);
        let mut buffered = s.clone();
        buffered.buffered_ms = Some(SEC);
        let released = release_buffered(&buffered, 2 * SEC, &mut ids_src).expect("a buffered fire");
        assert_eq!(ids(&released), [(id(7), "pending")]);
        assert_eq!(released.executions[0].created_ms, 2 * SEC, "time comes from the caller too");
    }

    /// Counts the instants a plan decides: its records, with a summary record counting for
    /// the instants it summarises.
    fn instants_decided(p: &Plan) -> u64 {
        p.executions
            .iter()
            .map(|e| match e.reason.as_deref().and_then(|r| r.split("down: ").nth(1)) {
                Some(rest) => rest.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(1),
                None => 1,
            })
            .sum()
    }

    #[test]
    fn a_long_outage_is_caught_up_in_bounded_rounds_and_every_instant_is_decided() {
        // Three days of a one-second cron expression came due while the daemon was down.
        for misfire in [MisfirePolicy::FireOnce, MisfirePolicy::Skip, MisfirePolicy::FireAll] {
            let mut s = every_second(misfire);
            s.driver = Driver::Cron(crate::schedule::cron::CronSpec::new("* * * * * *", "America/New_York", false));
            let now = 3 * 86_400 * SEC + 500;
            let total = (now / SEC) as u64; // instants 1 s ..= now
            let mut ids = SeqIds::new();
            let (mut rounds, mut decided, mut records, mut fired) = (0u64, 0u64, 0usize, 0usize);
            loop {
                let p = on_due(&s, now, now, 0, &mut ids);
                rounds += 1;
                decided += instants_decided(&p);
                records += p.executions.len();
                fired += p.fired().count();
                let done = p.schedule.next_fire_ms.is_some_and(|n| n > now);
                s = p.schedule;
                if done {
                    break;
                }
                assert!(rounds < 1000, "the catch-up does not progress");
            }
            assert_eq!(decided, total, "{misfire:?}: every missed instant is recorded once");
            assert!(rounds as usize >= (total as usize) / CATCHUP_WALK_MAX, "bounded rounds: {rounds}");
            assert!(records < rounds as usize + CATCHUP_INSTANTS_MAX + 10, "{misfire:?}: {records} records");
            let expected_fired = match misfire {
                MisfirePolicy::FireOnce => 1,
                MisfirePolicy::Skip => 0,
                MisfirePolicy::FireAll => FIRE_ALL_MAX,
            };
            assert_eq!(fired, expected_fired, "{misfire:?}");
            assert_eq!(s.next_fire_ms, Some((now / SEC + 1) * SEC));
        }
    }

    #[test]
    fn a_schedule_that_is_not_due_yet_is_left_alone() {
        let s = every_second(MisfirePolicy::FireOnce);
        let p = due(&s, SEC - 100, 0, 0);
        assert!(p.executions.is_empty());
        assert_eq!(p.schedule.next_fire_ms, Some(SEC), "the cursor stays on the instant");
    }
}
