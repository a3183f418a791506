//! Heartbeat monitors, the pure core: a monitor expects a success ping every period; past the
//! period it is `late`, past the period plus its grace it is `down`.
//!
//! Semantics (Healthchecks.io's documented ping API, https://healthchecks.io/docs/, where
//! product.md §11 is silent):
//!
//! - a **success** ping (`/ping/<token>`, exit status 0) makes the monitor `up`; the next ping
//!   is due one period after it (an interval monitor: the ping plus `interval_seconds`; a cron
//!   monitor: the first cron instant strictly after the ping, in the monitor's zone, through
//!   [`crate::schedule::cron`]). It is `late` from that instant and `down` `grace` later.
//! - a **start** ping (`/start`) opens a run: the status does not change, but the run must end
//!   (success or failure) within `grace` of its start, else the monitor goes `down` at
//!   `start + grace` (or earlier, at the regular deadline). The end ping's run duration is the
//!   time since the start; with a run id (`rid`) only an end carrying the same id pairs with
//!   the start; an end without a run id pairs with the open start whatever its id.
//! - a **fail** ping (`/fail`, exit status 1–255) makes the monitor `down` at once; it stays
//!   `down` (no deadlines) until a success ping.
//! - **paused**: no deadlines; the next ping of any kind resumes it (success → `up`, failure →
//!   `down`, start → `new` with the run's deadline), as does `resume` (→ `new`, waiting for its
//!   first ping like a monitor just created). Pausing closes an open run.
//! - **new**: created, never pinged: no deadline (except an open run's).
//!
//! Signals: `monitor_down` when the monitor enters `down` (from any other state, also from
//! `new` through a failure), `monitor_up` when a success ping ends a `down`. Entering `late`
//! raises nothing. A deadline that passed long ago (the daemon was stopped) is one transition
//! straight to the furthest state, so one signal.
//!
//! Everything here takes `now` (ms since the epoch) from the caller; nothing reads the clock.

use serde::{Deserialize, Serialize};

use crate::schedule::cron::{CronError, CronSpec};
use crate::time::Millis;

/// Shortest period of an interval monitor, seconds.
pub const INTERVAL_SECONDS_MIN: u32 = 1;
/// Longest period of an interval monitor, seconds (365 days, Healthchecks' longest timeout).
pub const INTERVAL_SECONDS_MAX: u32 = 31_536_000;
/// Longest grace, seconds (365 days).
pub const GRACE_SECONDS_MAX: u32 = 31_536_000;

/// How often a success ping is expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Period {
    /// Every `seconds` after the last success ping.
    Interval { seconds: u32 },
    /// At the first instant of the cron expression after the last success ping, in its zone.
    Cron(CronSpec),
}

impl Period {
    /// When the next success ping is due after one at `after`; `None` when a cron expression
    /// never matches again.
    pub fn next_due(&self, after: Millis) -> Option<Millis> {
        match self {
            Period::Interval { seconds } => Some(after.saturating_add(i64::from(*seconds) * 1000)),
            Period::Cron(spec) => spec.next_after(after),
        }
    }
}

/// A monitor's expectations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec {
    pub period: Period,
    /// How long after the due instant (or a run's start) the monitor turns `down`, seconds.
    pub grace_seconds: u32,
}

/// Why a spec was refused; each names the API field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: &'static str,
    pub why: String,
}

impl Spec {
    fn grace_ms(&self) -> i64 {
        i64::from(self.grace_seconds) * 1000
    }

    /// Checks the bounds and, for a cron period, the expression and zone (and that it matches
    /// at least once after `now`).
    pub fn validate(&self, now: Millis) -> Result<(), SpecError> {
        if self.grace_seconds > GRACE_SECONDS_MAX {
            return Err(SpecError { field: "grace_seconds", why: format!("must be at most {GRACE_SECONDS_MAX}") });
        }
        match &self.period {
            Period::Interval { seconds } if !(INTERVAL_SECONDS_MIN..=INTERVAL_SECONDS_MAX).contains(seconds) => {
                Err(SpecError {
                    field: "interval_seconds",
                    why: format!("must be between {INTERVAL_SECONDS_MIN} and {INTERVAL_SECONDS_MAX}"),
                })
            }
            Period::Interval { .. } => Ok(()),
            Period::Cron(c) => c.validate(now).map_err(|e| match e {
                CronError::Expression(why) => SpecError { field: "cron_expression", why },
                CronError::Zone => SpecError { field: "cron_timezone", why: "unknown IANA time zone".into() },
                CronError::NeverFires => SpecError { field: "cron_expression", why: "never matches after now".into() },
            }),
        }
    }
}

/// A monitor's status (product.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created (or resumed), not pinged since.
    New,
    /// Pinged on time.
    Up,
    /// Past due, within grace.
    Late,
    /// Past due and grace, or a failure was reported.
    Down,
    /// Not watched.
    Paused,
}

impl Status {
    pub const ALL: [Status; 5] = [Status::New, Status::Up, Status::Late, Status::Down, Status::Paused];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Up => "up",
            Status::Late => "late",
            Status::Down => "down",
            Status::Paused => "paused",
        }
    }
}

/// What a ping reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PingKind {
    /// The job succeeded (`/ping/<token>`, exit status 0).
    Success,
    /// The job started (`/start`).
    Start,
    /// The job failed (`/fail`, exit status 1–255).
    Fail,
}

impl PingKind {
    /// The kind of an exit-status ping: 0 success, anything else failure.
    pub fn from_exit_status(code: u8) -> PingKind {
        if code == 0 { PingKind::Success } else { PingKind::Fail }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PingKind::Success => "success",
            PingKind::Start => "start",
            PingKind::Fail => "fail",
        }
    }
}

/// An open run: a start ping not yet followed by its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub started_ms: Millis,
    /// The start ping's `rid`, if it had one.
    pub rid: Option<String>,
}

/// A monitor's state as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// When the monitor entered `status`.
    pub since_ms: Millis,
    /// The last success or failure ping (a start does not count, as in Healthchecks).
    pub last_ping_ms: Option<Millis>,
    /// The open run, if any.
    pub run: Option<Run>,
    /// When the monitor turns `late` (only while `up`).
    pub late_at: Option<Millis>,
    /// When it turns `down`.
    pub down_at: Option<Millis>,
}

impl State {
    /// A monitor just created at `now`.
    pub fn new(now: Millis) -> State {
        State { status: Status::New, since_ms: now, last_ping_ms: None, run: None, late_at: None, down_at: None }
    }

    /// The instant the monitor's timer must go off: turning late while `up`, else turning down.
    pub fn next_deadline(&self) -> Option<Millis> {
        match self.status {
            Status::Up => match (self.late_at, self.down_at) {
                (Some(l), Some(d)) => Some(l.min(d)),
                (l, d) => l.or(d),
            },
            Status::Down => None,
            Status::New | Status::Late | Status::Paused => self.down_at,
        }
    }

    /// When the next success ping is due: the `late` instant while up or late.
    pub fn next_due(&self, spec: &Spec) -> Option<Millis> {
        match self.status {
            Status::Up | Status::Late => self.last_ping_ms.and_then(|p| spec.period.next_due(p)),
            _ => None,
        }
    }
}

/// A signal for the alerting layer (product.md §12 `monitor_down` / `monitor_up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    MonitorDown,
    MonitorUp,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::MonitorDown => "monitor_down",
            Signal::MonitorUp => "monitor_up",
        }
    }
}

/// The outcome of one input: the new state (with its deadlines), where it came from, and what
/// to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub state: State,
    pub signal: Option<Signal>,
    /// An end ping paired with its start: the run's duration, ms.
    pub duration_ms: Option<i64>,
    /// `on_deadline`: the deadline that expired (the instant the status change was due).
    pub deadline_ms: Option<Millis>,
}

impl Transition {
    /// Whether the status changed.
    pub fn changed(&self) -> bool {
        self.from != self.state.status
    }

    fn unchanged(state: &State) -> Transition {
        Transition { from: state.status, state: state.clone(), signal: None, duration_ms: None, deadline_ms: None }
    }
}

/// The deadlines of a state: `late_at` while up or late (the due instant after the last
/// success), `down_at` = due + grace, or an open run's start + grace if earlier.
fn deadlines(spec: &Spec, s: &State) -> (Option<Millis>, Option<Millis>) {
    let grace = spec.grace_ms();
    let (late, down) = match s.status {
        Status::Down => return (None, None),
        Status::Up | Status::Late => match s.last_ping_ms.and_then(|p| spec.period.next_due(p)) {
            Some(due) => (Some(due), Some(due.saturating_add(grace))),
            None => (None, None),
        },
        Status::New | Status::Paused => (None, None),
    };
    let run_down = s.run.as_ref().map(|r| r.started_ms.saturating_add(grace));
    let down = match (down, run_down) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    (late, down)
}

fn settle(spec: &Spec, from: Status, mut s: State, now: Millis) -> State {
    if s.status != from {
        s.since_ms = now;
    }
    (s.late_at, s.down_at) = deadlines(spec, &s);
    s
}

/// A ping of `kind` (with its run id, if any) arrives at `now`.
pub fn on_ping(spec: &Spec, state: &State, kind: PingKind, rid: Option<&str>, now: Millis) -> Transition {
    let from = state.status;
    let mut s = state.clone();
    let mut signal = None;
    let mut duration_ms = None;
    match kind {
        PingKind::Start => {
            s.run = Some(Run { started_ms: now, rid: rid.map(str::to_string) });
            if s.status == Status::Paused {
                s.status = Status::New;
            }
        }
        PingKind::Success | PingKind::Fail => {
            if let Some(run) = &s.run
                && (rid.is_none() || run.rid.as_deref() == rid)
            {
                duration_ms = Some(now.saturating_sub(run.started_ms).max(0));
                s.run = None;
            }
            s.last_ping_ms = Some(now);
            if kind == PingKind::Success {
                s.status = Status::Up;
                if from == Status::Down {
                    signal = Some(Signal::MonitorUp);
                }
            } else {
                s.status = Status::Down;
                if from != Status::Down {
                    signal = Some(Signal::MonitorDown);
                }
            }
        }
    }
    Transition { from, state: settle(spec, from, s, now), signal, duration_ms, deadline_ms: None }
}

/// The monitor's timer went off at `now` (possibly late, possibly stale: a ping may have moved
/// the deadline since). Goes to the furthest state whose deadline has passed.
pub fn on_deadline(spec: &Spec, state: &State, now: Millis) -> Transition {
    let from = state.status;
    let mut s = state.clone();
    match s.status {
        Status::Down => Transition::unchanged(state),
        _ if s.down_at.is_some_and(|d| d <= now) => {
            let deadline = s.down_at;
            s.status = Status::Down;
            // The run is abandoned: a later end ping does not pair with it.
            s.run = None;
            Transition {
                from,
                state: settle(spec, from, s, now),
                signal: Some(Signal::MonitorDown),
                duration_ms: None,
                deadline_ms: deadline,
            }
        }
        Status::Up if s.late_at.is_some_and(|l| l <= now) => {
            let deadline = s.late_at;
            s.status = Status::Late;
            Transition {
                from,
                state: settle(spec, from, s, now),
                signal: None,
                duration_ms: None,
                deadline_ms: deadline,
            }
        }
        _ => Transition::unchanged(state),
    }
}

/// `pause_monitor`: no deadlines until the next ping or `resume`; an open run is closed.
pub fn pause(spec: &Spec, state: &State, now: Millis) -> Transition {
    let from = state.status;
    let mut s = state.clone();
    s.status = Status::Paused;
    s.run = None;
    Transition { from, state: settle(spec, from, s, now), signal: None, duration_ms: None, deadline_ms: None }
}

/// `resume_monitor`: a paused monitor starts over as `new` (waiting for its first ping, as
/// Healthchecks' resume does); any other is left as it is.
pub fn resume(spec: &Spec, state: &State, now: Millis) -> Transition {
    if state.status != Status::Paused {
        return Transition::unchanged(state);
    }
    let mut s = state.clone();
    s.status = Status::New;
    Transition {
        from: Status::Paused,
        state: settle(spec, Status::Paused, s, now),
        signal: None,
        duration_ms: None,
        deadline_ms: None,
    }
}

/// The spec changed (`update_monitor`): the deadlines are computed anew from the last ping; a
/// `late` monitor whose new due instant is still ahead is `up` again. A deadline that has
/// already passed is left to the timer ([`on_deadline`] right away).
pub fn reschedule(spec: &Spec, state: &State, now: Millis) -> Transition {
    let from = state.status;
    let mut s = state.clone();
    (s.late_at, s.down_at) = deadlines(spec, &s);
    if s.status == Status::Late && s.late_at.is_some_and(|l| l > now) {
        s.status = Status::Up;
    }
    Transition { from, state: settle(spec, from, s, now), signal: None, duration_ms: None, deadline_ms: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ManualClock};

    const T0: Millis = 1_780_000_000_000;

    fn every(seconds: u32, grace: u32) -> Spec {
        Spec { period: Period::Interval { seconds }, grace_seconds: grace }
    }

    fn ms(rfc3339: &str) -> Millis {
        rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn a_new_monitor_has_no_deadline_and_its_first_success_makes_it_up() {
        let spec = every(60, 30);
        let s = State::new(T0);
        assert_eq!((s.status, s.next_deadline()), (Status::New, None));
        let t = on_ping(&spec, &s, PingKind::Success, None, T0 + 5_000);
        assert_eq!((t.from, t.state.status, t.signal), (Status::New, Status::Up, None));
        assert_eq!(t.state.late_at, Some(T0 + 65_000));
        assert_eq!(t.state.down_at, Some(T0 + 95_000));
        assert_eq!(t.state.next_deadline(), Some(T0 + 65_000));
        assert_eq!(t.state.since_ms, T0 + 5_000);
        assert_eq!(t.state.last_ping_ms, Some(T0 + 5_000));
    }

    #[test]
    fn up_late_down_up_with_a_manual_clock() {
        let clock = ManualClock::new(T0);
        let spec = every(60, 30);
        let s = on_ping(&spec, &State::new(T0), PingKind::Success, None, clock.now_ms()).state;

        // The timer goes off early (a stale timer): nothing changes.
        clock.advance(59_999);
        let t = on_deadline(&spec, &s, clock.now_ms());
        assert!(!t.changed());
        assert_eq!(t.state, s);

        clock.advance(1);
        let t = on_deadline(&spec, &s, clock.now_ms());
        assert_eq!((t.from, t.state.status, t.signal), (Status::Up, Status::Late, None));
        assert_eq!(t.deadline_ms, Some(T0 + 60_000));
        assert_eq!(t.state.next_deadline(), Some(T0 + 90_000));
        let s = t.state;

        clock.advance(29_999);
        assert!(!on_deadline(&spec, &s, clock.now_ms()).changed());
        clock.advance(1);
        let t = on_deadline(&spec, &s, clock.now_ms());
        assert_eq!((t.from, t.state.status, t.signal), (Status::Late, Status::Down, Some(Signal::MonitorDown)));
        assert_eq!(t.deadline_ms, Some(T0 + 90_000));
        assert_eq!(t.state.next_deadline(), None);
        assert_eq!(t.state.since_ms, T0 + 90_000);
        let s = t.state;

        // Down stays down without deadlines; a later deadline call is a no-op.
        clock.advance(3_600_000);
        assert!(!on_deadline(&spec, &s, clock.now_ms()).changed());

        let t = on_ping(&spec, &s, PingKind::Success, None, clock.now_ms());
        assert_eq!((t.from, t.state.status, t.signal), (Status::Down, Status::Up, Some(Signal::MonitorUp)));
        assert_eq!(t.state.late_at, Some(clock.now_ms() + 60_000));
    }

    #[test]
    fn a_ping_while_late_makes_it_up_without_a_signal() {
        let spec = every(60, 30);
        let s = on_ping(&spec, &State::new(T0), PingKind::Success, None, T0).state;
        let late = on_deadline(&spec, &s, T0 + 70_000).state;
        assert_eq!(late.status, Status::Late);
        let t = on_ping(&spec, &late, PingKind::Success, None, T0 + 75_000);
        assert_eq!((t.state.status, t.signal), (Status::Up, None));
        assert_eq!(t.state.late_at, Some(T0 + 135_000));
    }

    #[test]
    fn a_deadline_long_past_is_one_transition_straight_to_down() {
        let spec = every(60, 30);
        let s = on_ping(&spec, &State::new(T0), PingKind::Success, None, T0).state;
        // The daemon was stopped across both deadlines: up → down in one step, one signal.
        let t = on_deadline(&spec, &s, T0 + 3_600_000);
        assert_eq!((t.from, t.state.status, t.signal), (Status::Up, Status::Down, Some(Signal::MonitorDown)));
        assert_eq!(t.deadline_ms, Some(T0 + 90_000));
        assert_eq!(t.state.since_ms, T0 + 3_600_000);
    }

    #[test]
    fn fail_and_nonzero_exit_status_are_down_at_once_and_signal_once() {
        let spec = every(60, 30);
        let up = on_ping(&spec, &State::new(T0), PingKind::Success, None, T0).state;
        let t = on_ping(&spec, &up, PingKind::from_exit_status(3), None, T0 + 1_000);
        assert_eq!((t.state.status, t.signal), (Status::Down, Some(Signal::MonitorDown)));
        assert_eq!(t.state.next_deadline(), None);
        let again = on_ping(&spec, &t.state, PingKind::Fail, None, T0 + 2_000);
        assert_eq!((again.state.status, again.signal), (Status::Down, None));
        // A new monitor's first ping may be a failure.
        let t = on_ping(&spec, &State::new(T0), PingKind::Fail, None, T0);
        assert_eq!((t.from, t.state.status, t.signal), (Status::New, Status::Down, Some(Signal::MonitorDown)));
        assert_eq!(PingKind::from_exit_status(0), PingKind::Success);
        assert_eq!(PingKind::from_exit_status(255), PingKind::Fail);
    }

    #[test]
    fn start_opens_a_run_that_must_end_within_grace_and_pairs_by_rid() {
        let spec = every(3600, 60);
        let up = on_ping(&spec, &State::new(T0), PingKind::Success, None, T0).state;
        let t = on_ping(&spec, &up, PingKind::Start, Some("a"), T0 + 10_000);
        assert_eq!((t.state.status, t.signal, t.duration_ms), (Status::Up, None, None));
        // The run's deadline (start + grace) comes before the regular one.
        assert_eq!(t.state.down_at, Some(T0 + 70_000));
        assert_eq!(t.state.late_at, Some(T0 + 3_600_000));
        let started = t.state;
        // An end with another run id does not pair.
        let other = on_ping(&spec, &started, PingKind::Success, Some("b"), T0 + 20_000);
        assert_eq!(other.duration_ms, None);
        assert!(other.state.run.is_some());
        // The same id pairs: duration 15 s, run closed, deadlines from this ping.
        let end = on_ping(&spec, &started, PingKind::Success, Some("a"), T0 + 25_000);
        assert_eq!(end.duration_ms, Some(15_000));
        assert_eq!(end.state.run, None);
        assert_eq!(end.state.down_at, Some(T0 + 25_000 + 3_600_000 + 60_000));
        // No id pairs with the open start whatever its id; a failure end too.
        let end = on_ping(&spec, &started, PingKind::Fail, None, T0 + 40_000);
        assert_eq!((end.duration_ms, end.state.status), (Some(30_000), Status::Down));
        // A run that never ends: down at start + grace.
        let t = on_deadline(&spec, &started, T0 + 70_000);
        assert_eq!(
            (t.state.status, t.signal, t.deadline_ms),
            (Status::Down, Some(Signal::MonitorDown), Some(T0 + 70_000))
        );
        assert_eq!(t.state.run, None);
    }

    #[test]
    fn a_start_on_a_new_monitor_arms_only_the_run_deadline() {
        let spec = every(60, 10);
        let t = on_ping(&spec, &State::new(T0), PingKind::Start, None, T0);
        assert_eq!(t.state.status, Status::New);
        assert_eq!((t.state.late_at, t.state.down_at), (None, Some(T0 + 10_000)));
        let t = on_deadline(&spec, &t.state, T0 + 10_000);
        assert_eq!((t.from, t.state.status), (Status::New, Status::Down));
    }

    #[test]
    fn paused_has_no_deadlines_until_a_ping_or_resume() {
        let clock = ManualClock::new(T0);
        let spec = every(60, 30);
        let up = on_ping(&spec, &State::new(T0), PingKind::Success, None, clock.now_ms()).state;
        clock.advance(10_000);
        let p = pause(&spec, &up, clock.now_ms());
        assert_eq!((p.from, p.state.status, p.signal), (Status::Up, Status::Paused, None));
        assert_eq!(p.state.next_deadline(), None);
        clock.advance(86_400_000);
        assert!(!on_deadline(&spec, &p.state, clock.now_ms()).changed());

        // resume → new, still no deadline until the next ping.
        let r = resume(&spec, &p.state, clock.now_ms());
        assert_eq!((r.from, r.state.status), (Status::Paused, Status::New));
        assert_eq!(r.state.next_deadline(), None);
        assert!(!resume(&spec, &r.state, clock.now_ms()).changed());

        // A success ping resumes a paused monitor as up; a failure as down (with its signal).
        let t = on_ping(&spec, &p.state, PingKind::Success, None, clock.now_ms());
        assert_eq!((t.state.status, t.signal), (Status::Up, None));
        assert_eq!(t.state.next_deadline(), Some(clock.now_ms() + 60_000));
        let t = on_ping(&spec, &p.state, PingKind::Fail, None, clock.now_ms());
        assert_eq!((t.state.status, t.signal), (Status::Down, Some(Signal::MonitorDown)));
        let t = on_ping(&spec, &p.state, PingKind::Start, None, clock.now_ms());
        assert_eq!((t.state.status, t.state.down_at), (Status::New, Some(clock.now_ms() + 30_000)));
        // Pausing closes an open run.
        let started = on_ping(&spec, &up, PingKind::Start, None, T0 + 1).state;
        assert_eq!(pause(&spec, &started, T0 + 2).state.run, None);
    }

    #[test]
    fn reschedule_moves_deadlines_and_turns_late_back_to_up_when_the_period_grows() {
        let s = on_ping(&every(60, 30), &State::new(T0), PingKind::Success, None, T0).state;
        let late = on_deadline(&every(60, 30), &s, T0 + 61_000).state;
        let t = reschedule(&every(120, 30), &late, T0 + 62_000);
        assert_eq!(
            (t.state.status, t.state.late_at, t.state.down_at),
            (Status::Up, Some(T0 + 120_000), Some(T0 + 150_000))
        );
        let t = reschedule(&every(10, 5), &s, T0 + 62_000);
        // Already past both: the timer goes off at once and turns it down.
        assert_eq!(t.state.next_deadline(), Some(T0 + 10_000));
        assert_eq!(on_deadline(&every(10, 5), &t.state, T0 + 62_000).state.status, Status::Down);
    }

    /// A `30 2 * * *` monitor in Europe/Berlin across both 2026 changes (Vixie/OCPS, as the
    /// cron driver): 02:30 does not exist on 29 March, so the run is due at 03:00 CEST; on
    /// 25 October 02:30 happens twice and is due once, at the first (CEST).
    #[test]
    fn a_cron_monitor_across_berlin_dst_changes() {
        let spec =
            Spec { period: Period::Cron(CronSpec::new("30 2 * * *", "Europe/Berlin", false)), grace_seconds: 600 };
        assert_eq!(spec.validate(ms("2026-03-01T00:00:00Z")), Ok(()));
        let check = |ping: &str, due: &str, down: &str| {
            let s = on_ping(&spec, &State::new(0), PingKind::Success, None, ms(ping)).state;
            assert_eq!(s.late_at, Some(ms(due)), "due after a ping at {ping}");
            assert_eq!(s.down_at, Some(ms(down)), "down after a ping at {ping}");
        };
        // Spring forward: ping at 02:30 CET on the 28th → due 03:00 CEST (01:00Z) on the 29th.
        check("2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:10:00Z");
        // The ping at that instant → due 02:30 CEST on the 30th.
        check("2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-30T00:40:00Z");
        // Fall back: ping at 02:30 CEST on the 24th → due at the first 02:30 (CEST, 00:30Z).
        check("2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T00:40:00Z");
        // A ping at the first 02:30 → not due again at the second (01:30Z) but on the 26th
        // at 02:30 CET.
        check("2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-26T01:40:00Z");

        // The deadline walk through the gap with the manual clock: up, late at 03:00 CEST,
        // down ten minutes later.
        let clock = ManualClock::new(ms("2026-03-28T01:30:00Z"));
        let s = on_ping(&spec, &State::new(0), PingKind::Success, None, clock.now_ms()).state;
        clock.set(ms("2026-03-29T00:59:59Z"));
        assert!(!on_deadline(&spec, &s, clock.now_ms()).changed());
        clock.set(ms("2026-03-29T01:00:00Z"));
        let late = on_deadline(&spec, &s, clock.now_ms());
        assert_eq!(late.state.status, Status::Late);
        clock.set(ms("2026-03-29T01:10:00Z"));
        let down = on_deadline(&spec, &late.state, clock.now_ms());
        assert_eq!((down.state.status, down.signal), (Status::Down, Some(Signal::MonitorDown)));
    }

    #[test]
    fn validation_names_the_field() {
        let now = ms("2026-01-01T00:00:00Z");
        assert_eq!(every(0, 0).validate(now).unwrap_err().field, "interval_seconds");
        assert_eq!(every(60, GRACE_SECONDS_MAX + 1).validate(now).unwrap_err().field, "grace_seconds");
        let cron = |e: &str, z: &str| Spec { period: Period::Cron(CronSpec::new(e, z, false)), grace_seconds: 0 };
        assert_eq!(cron("61 * * * *", "UTC").validate(now).unwrap_err().field, "cron_expression");
        assert_eq!(cron("* * * * *", "Mars/Olympus").validate(now).unwrap_err().field, "cron_timezone");
        assert_eq!(every(INTERVAL_SECONDS_MAX, GRACE_SECONDS_MAX).validate(now), Ok(()));
    }
}
