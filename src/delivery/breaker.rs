//! The circuit breaker of one domain, pure: no clock, no store, no tokio. The caller passes
//! `now` and the domain's settings, and persists the transitions this returns.
//!
//! States (product.md §12; semantics after hookstream's breaker):
//! - **closed**: attempts go through. `failure_threshold` failed attempts in a row open it,
//!   and so does a failure rate: with `failure_rate_percent` > 0, a failure that brings the
//!   window's failed share to at least that percentage opens it, once the window holds at
//!   least `failure_rate_min_count` attempts (fewer are not judged). The window is the last
//!   `failure_rate_window_seconds`, kept in ten buckets of a tenth of it each
//!   ([`RateWindow`]): an attempt leaves the window between 0.9 and 1 window after it ended.
//!   The window starts empty whenever the circuit closes (a successful probe, a reset), so
//!   the failures that opened it do not open it again.
//! - **open** until `opened + open_seconds`: attempts wait in the domain's queue. They are
//!   not sent, not failed and do not use up retries.
//! - **half_open**: once `open_seconds` have passed, exactly one attempt — the probe — goes
//!   through; the rest keep waiting for its outcome. A probe that succeeds closes the circuit;
//!   one that fails opens it again for another `open_seconds`. A probe that never sent a
//!   request (its waiter went away, the egress policy refused it) lets the next attempt probe.
//!
//! What counts ([`verdict`]): the receiver is judged, not the request. A failure is what says
//! the host is unwell: no answer (timeout, connection or TLS error), a 5xx, `408` or `429`.
//! Any other answer — 2xx, 3xx, other 4xx, `410` — shows the host up and counts as a success
//! for the breaker, even where delivery retries it (a `404` from one bad template must not
//! hold back every other template on the domain). An attempt that sent nothing (egress
//! refused, an invalid header) does not count.
//!
//! Attempts that started while the circuit was closed may end after it opened: their
//! outcomes only move the counters. A disabled breaker never opens (and disabling an open
//! one closes it); its counters still count.

use crate::model::{BreakerSettings, CircuitState, DomainCircuit, RATE_WINDOW_BUCKETS, RateWindow};
use crate::time::Millis;

use super::retry::Outcome;

/// How an attempt counts for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver answered (see the module's rules).
    Success,
    /// No answer, a 5xx, `408` or `429`.
    Failure,
    /// Nothing was sent.
    NotSent,
}

/// The breaker's reading of an attempt: its HTTP status (`None`: no answer), its delivery
/// outcome, and whether a request went out at all.
pub fn verdict(status: Option<u16>, outcome: &Outcome, sent: bool) -> Verdict {
    if !sent {
        return Verdict::NotSent;
    }
    match (status, outcome) {
        (_, Outcome::Success) => Verdict::Success,
        (None, _) => Verdict::Failure,
        (Some(s), _) if s >= 500 || s == 408 || s == 429 => Verdict::Failure,
        (Some(_), _) => Verdict::Success,
    }
}

/// What the queue does with the attempt at its head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Send it.
    Go,
    /// Send it as the probe: report its outcome with this token (a reset in between makes
    /// the token stale, and the outcome then counts as a plain attempt's).
    Probe(u64),
    /// Wait until this instant (or a reset), then ask again.
    WaitUntil(Millis),
    /// Wait for the probe's outcome (or a reset), then ask again.
    WaitProbe,
}

/// A change of state, to persist and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static str,
    pub to: &'static str,
    /// Why, in a few words (for the log line).
    pub why: &'static str,
}

/// A domain's breaker: the stored record plus the rules that move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker(pub DomainCircuit);

fn open_ms(s: &BreakerSettings) -> i64 {
    i64::from(s.open_seconds.max(1)) * 1000
}

/// The width of one bucket of the settings' window, ms (at least 1).
fn bucket_ms(s: &BreakerSettings) -> i64 {
    (i64::from(s.failure_rate_window_seconds.max(1)) * 1000 / RATE_WINDOW_BUCKETS as i64).max(1)
}

/// Counts an attempt that ended at `now` in the window (emptied first when the window's
/// width changed).
pub fn window_add(w: &mut RateWindow, s: &BreakerSettings, now: Millis, failed: bool) {
    let width = bucket_ms(s);
    if w.bucket_ms != width {
        *w = RateWindow { bucket_ms: width, ..RateWindow::default() };
    }
    let n = now.div_euclid(width);
    let slot = &mut w.buckets[n.rem_euclid(RATE_WINDOW_BUCKETS as i64) as usize];
    if slot.0 != n {
        *slot = (n, 0, 0);
    }
    slot.1 = slot.1.saturating_add(1);
    if failed {
        slot.2 = slot.2.saturating_add(1);
    }
}

/// The attempts and failures in the window at `now`: the buckets of the last
/// [`RATE_WINDOW_BUCKETS`] bucket numbers up to `now`'s.
pub fn window_counts(w: &RateWindow, s: &BreakerSettings, now: Millis) -> (u64, u64) {
    if w.bucket_ms == 0 || w.bucket_ms != bucket_ms(s) {
        return (0, 0);
    }
    let n = now.div_euclid(w.bucket_ms);
    let oldest = n - (RATE_WINDOW_BUCKETS as i64 - 1);
    w.buckets
        .iter()
        .filter(|b| b.1 > 0 && (oldest..=n).contains(&b.0))
        .fold((0, 0), |(a, f), b| (a + u64::from(b.1), f + u64::from(b.2)))
}

/// Whether the window's failure rate at `now` opens the circuit: the rate trip is on, the
/// window holds at least `failure_rate_min_count` attempts (at least 1), and failures are at
/// least `failure_rate_percent` % of them.
pub fn rate_tripped(w: &RateWindow, s: &BreakerSettings, now: Millis) -> bool {
    if s.failure_rate_percent == 0 {
        return false;
    }
    let (attempts, failures) = window_counts(w, s, now);
    attempts >= u64::from(s.failure_rate_min_count.max(1))
        && failures * 100 >= u64::from(s.failure_rate_percent.min(100)) * attempts
}

impl Breaker {
    pub fn new(now: Millis) -> Self {
        Breaker(DomainCircuit::new(now))
    }

    /// A breaker read back after a restart: a probe that was in flight did not survive it.
    pub fn restored(mut c: DomainCircuit) -> Self {
        if let CircuitState::HalfOpen { opened_ms, .. } = c.state {
            c.state = CircuitState::HalfOpen { opened_ms, probe_in_flight: false };
        }
        Breaker(c)
    }

    pub fn state(&self) -> CircuitState {
        self.0.state
    }

    fn go(&mut self, to: CircuitState, now: Millis, why: &'static str) -> Option<Transition> {
        let from = self.0.state.name();
        self.0.state = to;
        if from == to.name() {
            return None;
        }
        if to == CircuitState::Closed {
            self.0.window = RateWindow::default();
        }
        self.0.changed_ms = now;
        self.0.seq += 1;
        Some(Transition { from, to: to.name(), why })
    }

    /// Whether the attempt at the head of the queue may go now.
    pub fn admit(&mut self, s: &BreakerSettings, now: Millis) -> (Admit, Option<Transition>) {
        if !s.enabled {
            let t = self.go(CircuitState::Closed, now, "breaker disabled");
            return (Admit::Go, t);
        }
        match self.0.state {
            CircuitState::Closed => (Admit::Go, None),
            CircuitState::Open { opened_ms, until_ms } => {
                if now < until_ms {
                    return (Admit::WaitUntil(until_ms), None);
                }
                let t = self.go(CircuitState::HalfOpen { opened_ms, probe_in_flight: true }, now, "open time over");
                (Admit::Probe(self.0.seq), t)
            }
            CircuitState::HalfOpen { probe_in_flight: true, .. } => (Admit::WaitProbe, None),
            CircuitState::HalfOpen { opened_ms, probe_in_flight: false } => {
                self.0.state = CircuitState::HalfOpen { opened_ms, probe_in_flight: true };
                (Admit::Probe(self.0.seq), None)
            }
        }
    }

    /// Whether `token` ([`Admit::Probe`]) names the probe in flight now.
    fn is_probe(&self, token: Option<u64>) -> bool {
        token == Some(self.0.seq) && matches!(self.0.state, CircuitState::HalfOpen { probe_in_flight: true, .. })
    }

    /// Records how an attempt ended (`probe`: the token it was admitted with as the probe).
    pub fn record(&mut self, s: &BreakerSettings, now: Millis, v: Verdict, probe: Option<u64>) -> Option<Transition> {
        let probe = self.is_probe(probe);
        match v {
            Verdict::NotSent => {
                if probe {
                    self.probe_abandoned();
                }
                return None;
            }
            Verdict::Success => {
                self.0.attempts += 1;
                self.0.successes += 1;
                self.0.consecutive_failures = 0;
            }
            Verdict::Failure => {
                self.0.attempts += 1;
                self.0.failures += 1;
                self.0.consecutive_failures = self.0.consecutive_failures.saturating_add(1);
            }
        }
        if self.0.state == CircuitState::Closed {
            window_add(&mut self.0.window, s, now, v == Verdict::Failure);
        }
        match (self.0.state, probe) {
            (CircuitState::HalfOpen { opened_ms, .. }, true) => match v {
                Verdict::Success => self.go(CircuitState::Closed, now, "probe succeeded"),
                _ => {
                    let until_ms = now + open_ms(s);
                    self.0.state = CircuitState::Open { opened_ms, until_ms };
                    self.0.changed_ms = now;
                    self.0.seq += 1;
                    Some(Transition { from: "half_open", to: "open", why: "probe failed" })
                }
            },
            (CircuitState::Closed, _) if s.enabled && v == Verdict::Failure => {
                let why = if self.0.consecutive_failures >= s.failure_threshold.max(1) {
                    "consecutive failures"
                } else if rate_tripped(&self.0.window, s, now) {
                    "failure rate"
                } else {
                    return None;
                };
                let until_ms = now + open_ms(s);
                self.go(CircuitState::Open { opened_ms: now, until_ms }, now, why)
            }
            _ => None,
        }
    }

    /// The probe admitted with `token` ended without sending anything: the next attempt
    /// probes instead.
    pub fn release_probe(&mut self, token: u64) {
        if self.is_probe(Some(token)) {
            self.probe_abandoned();
        }
    }

    fn probe_abandoned(&mut self) {
        if let CircuitState::HalfOpen { opened_ms, probe_in_flight: true } = self.0.state {
            self.0.state = CircuitState::HalfOpen { opened_ms, probe_in_flight: false };
        }
    }

    /// `reset_domain_circuit`: closed, counters and the failure streak back to zero.
    pub fn reset(&mut self, now: Millis) -> Option<Transition> {
        let t = self.go(CircuitState::Closed, now, "reset by hand");
        self.0.consecutive_failures = 0;
        self.0.attempts = 0;
        self.0.successes = 0;
        self.0.failures = 0;
        self.0.counters_since_ms = now;
        self.0.changed_ms = now;
        self.0.window = RateWindow::default();
        // A reset is always written, also when the circuit was closed (the counters changed).
        if t.is_none() {
            self.0.seq += 1;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ManualClock};

    fn on(threshold: u32, open_seconds: u32) -> BreakerSettings {
        BreakerSettings { enabled: true, failure_threshold: threshold, open_seconds, ..BreakerSettings::default() }
    }

    const FAIL: Verdict = Verdict::Failure;
    const OK: Verdict = Verdict::Success;

    /// Admits the head of the queue, which must be the probe; returns its token.
    fn probe(b: &mut Breaker, s: &BreakerSettings, now: Millis) -> Option<u64> {
        match b.admit(s, now).0 {
            Admit::Probe(token) => Some(token),
            other => panic!("expected the probe at {now}, got {other:?} in {:?}", b.state()),
        }
    }

    #[test]
    fn verdicts_judge_the_receiver() {
        let retry = Outcome::Retryable { retry_after_ms: None };
        assert_eq!(verdict(Some(200), &Outcome::Success, true), OK);
        assert_eq!(verdict(None, &retry, true), FAIL, "timeout / connection error");
        for s in [500, 502, 503, 504, 408, 429] {
            assert_eq!(verdict(Some(s), &retry, true), FAIL, "{s}");
        }
        for s in [302, 400, 401, 404, 422] {
            assert_eq!(verdict(Some(s), &retry, true), OK, "{s}: the host answered");
        }
        assert_eq!(verdict(Some(410), &Outcome::Permanent, true), OK);
        assert_eq!(verdict(None, &Outcome::Permanent, false), Verdict::NotSent, "egress refused");
    }

    /// closed → open → half_open → closed, with a manual clock.
    #[test]
    fn opens_after_the_threshold_probes_once_and_closes_on_success() {
        let clock = ManualClock::new(1_000);
        let s = on(5, 30);
        let mut b = Breaker::new(clock.now_ms());
        for i in 1..=4 {
            assert_eq!(b.admit(&s, clock.now_ms()), (Admit::Go, None));
            assert_eq!(b.record(&s, clock.now_ms(), FAIL, None), None, "failure {i} of 5 keeps it closed");
            clock.advance(100);
        }
        assert_eq!(b.0.consecutive_failures, 4);
        let t = b.record(&s, clock.now_ms(), FAIL, None).expect("the 5th failure opens it");
        assert_eq!((t.from, t.to), ("closed", "open"));
        let opened = clock.now_ms();
        assert_eq!(b.state(), CircuitState::Open { opened_ms: opened, until_ms: opened + 30_000 });
        assert_eq!(b.0.seq, 1);
        // While open, the head of the queue waits for the end of the open time.
        clock.advance(29_999);
        assert_eq!(b.admit(&s, clock.now_ms()), (Admit::WaitUntil(opened + 30_000), None));
        clock.advance(1);
        let (a, t) = b.admit(&s, clock.now_ms());
        let Admit::Probe(token) = a else { panic!("{a:?}") };
        assert_eq!(t.map(|t| (t.from, t.to)), Some(("open", "half_open")));
        // Only one probe: the next attempt waits for its outcome.
        assert_eq!(b.admit(&s, clock.now_ms()), (Admit::WaitProbe, None));
        clock.advance(50);
        let t = b.record(&s, clock.now_ms(), OK, Some(token)).expect("the probe's success closes it");
        assert_eq!((t.from, t.to), ("half_open", "closed"));
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.0.consecutive_failures, 0);
        assert_eq!((b.0.attempts, b.0.successes, b.0.failures), (6, 1, 5));
        assert_eq!(b.admit(&s, clock.now_ms()), (Admit::Go, None));
    }

    /// half_open → open: a failed probe opens it for another `open_seconds`, keeping when the
    /// open spell began.
    #[test]
    fn a_failed_probe_opens_it_again() {
        let clock = ManualClock::new(0);
        let s = on(2, 10);
        let mut b = Breaker::new(0);
        b.record(&s, 0, FAIL, None);
        assert!(b.record(&s, 0, FAIL, None).is_some());
        clock.advance(10_000);
        let token = probe(&mut b, &s, clock.now_ms());
        clock.advance(700);
        let t = b.record(&s, clock.now_ms(), FAIL, token).expect("transition");
        assert_eq!((t.from, t.to), ("half_open", "open"));
        assert_eq!(b.state(), CircuitState::Open { opened_ms: 0, until_ms: 20_700 });
        assert_eq!(b.0.consecutive_failures, 3);
        assert_eq!(b.admit(&s, 20_699).0, Admit::WaitUntil(20_700));
        probe(&mut b, &s, 20_700);
    }

    #[test]
    fn successes_break_the_streak_and_late_outcomes_only_count() {
        let s = on(3, 1);
        let mut b = Breaker::new(0);
        for v in [FAIL, FAIL, OK, FAIL, FAIL] {
            assert_eq!(b.record(&s, 0, v, None), None);
        }
        assert_eq!(b.state(), CircuitState::Closed, "never 3 in a row");
        assert!(b.record(&s, 0, FAIL, None).is_some());
        // Attempts already in flight when it opened end later: counted, nothing moves.
        assert_eq!(b.record(&s, 10, OK, None), None);
        assert_eq!(b.record(&s, 10, FAIL, None), None);
        assert!(matches!(b.state(), CircuitState::Open { .. }));
        assert_eq!((b.0.attempts, b.0.successes, b.0.failures), (8, 2, 6));
    }

    #[test]
    fn a_probe_that_sent_nothing_lets_the_next_attempt_probe() {
        let s = on(1, 1);
        let mut b = Breaker::new(0);
        b.record(&s, 0, FAIL, None);
        let token = probe(&mut b, &s, 1_000);
        assert_eq!(b.record(&s, 1_000, Verdict::NotSent, token), None);
        let token = probe(&mut b, &s, 1_000);
        assert_eq!(b.admit(&s, 1_000).0, Admit::WaitProbe);
        b.release_probe(token.unwrap_or_default());
        probe(&mut b, &s, 1_000);
        assert_eq!(b.0.attempts, 1, "nothing sent, nothing counted");
    }

    #[test]
    fn disabled_never_opens_and_disabling_closes() {
        let off = BreakerSettings { enabled: false, ..on(1, 30) };
        let mut b = Breaker::new(0);
        for _ in 0..10 {
            assert_eq!(b.record(&off, 0, FAIL, None), None);
            assert_eq!(b.admit(&off, 0), (Admit::Go, None));
        }
        assert_eq!(b.0.failures, 10);
        let s = on(1, 30);
        b.record(&s, 0, FAIL, None);
        assert!(matches!(b.state(), CircuitState::Open { .. }));
        let (a, t) = b.admit(&off, 1);
        assert_eq!(a, Admit::Go);
        assert_eq!(t.map(|t| t.to), Some("closed"));
    }

    #[test]
    fn reset_closes_and_zeroes_and_a_restart_forgets_the_probe() {
        let s = on(1, 30);
        let mut b = Breaker::new(0);
        b.record(&s, 0, FAIL, None);
        let t = b.reset(5).expect("open → closed");
        assert_eq!((t.from, t.to), ("open", "closed"));
        assert_eq!((b.0.attempts, b.0.failures, b.0.consecutive_failures, b.0.counters_since_ms), (0, 0, 0, 5));
        let seq = b.0.seq;
        assert_eq!(b.reset(6), None);
        assert!(b.0.seq > seq, "a reset of a closed circuit is still written");
        b.record(&s, 7, FAIL, None);
        let stale = probe(&mut b, &s, 40_000);
        let back = Breaker::restored(b.0);
        assert_eq!(back.state(), CircuitState::HalfOpen { opened_ms: 7, probe_in_flight: false });
        let mut back = back;
        probe(&mut back, &s, 40_001);
        // A probe admitted before a reset ends as a plain attempt: it is not the probe of the
        // next open spell.
        b.reset(40_002);
        b.record(&s, 40_003, FAIL, None);
        let fresh = probe(&mut b, &s, 80_000);
        assert_ne!(stale, fresh);
        assert_eq!(b.record(&s, 80_001, OK, stale), None);
        assert_eq!(b.state(), CircuitState::HalfOpen { opened_ms: 40_003, probe_in_flight: true });
        assert_eq!(b.record(&s, 80_002, OK, fresh).map(|t| t.to), Some("closed"));
    }

    /// Rate trip only: the consecutive-failure threshold is out of reach.
    fn rate(percent: u32, window_seconds: u32, min_count: u32) -> BreakerSettings {
        BreakerSettings {
            enabled: true,
            failure_threshold: 1_000,
            open_seconds: 10,
            failure_rate_percent: percent,
            failure_rate_window_seconds: window_seconds,
            failure_rate_min_count: min_count,
        }
    }

    /// closed → open by the failure rate, judged only from `failure_rate_min_count` attempts.
    #[test]
    fn a_failure_rate_over_the_window_opens_it_from_the_minimum_count() {
        let clock = ManualClock::new(5_000);
        let s = rate(50, 10, 10);
        let mut b = Breaker::new(clock.now_ms());
        // 60 % failures, never more than two in a row: nine attempts are below the minimum.
        for (i, v) in [FAIL, OK, FAIL, FAIL, OK, FAIL, OK, FAIL, OK].into_iter().enumerate() {
            assert_eq!(b.record(&s, clock.now_ms(), v, None), None, "attempt {} is below min_count", i + 1);
            clock.advance(500);
        }
        assert_eq!(window_counts(&b.0.window, &s, clock.now_ms()), (9, 5));
        let t = b.record(&s, clock.now_ms(), FAIL, None).expect("the 10th attempt: 6 of 10 failed");
        assert_eq!((t.from, t.to, t.why), ("closed", "open", "failure rate"));
        let now = clock.now_ms();
        assert_eq!(b.state(), CircuitState::Open { opened_ms: now, until_ms: now + 10_000 });
        assert_eq!(b.0.consecutive_failures, 1);
    }

    #[test]
    fn below_the_rate_or_outside_the_window_it_stays_closed() {
        let s = rate(50, 10, 4);
        let mut b = Breaker::new(0);
        // 1 of 4, then 2 of 5 failed: under 50 %.
        for v in [OK, OK, OK, FAIL, FAIL] {
            assert_eq!(b.record(&s, 1_000, v, None), None);
        }
        // Failures at 0 s leave the window by 10 s: three fresh failures of three attempts
        // are below the minimum of 4.
        let mut b = Breaker::new(0);
        for _ in 0..3 {
            assert_eq!(b.record(&s, 0, FAIL, None), None, "below min_count");
        }
        assert_eq!(window_counts(&b.0.window, &s, 10_000), (0, 0), "the window moved on");
        for _ in 0..3 {
            assert_eq!(b.record(&s, 10_000, FAIL, None), None);
        }
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.record(&s, 10_500, FAIL, None).map(|t| t.why), Some("failure rate"), "4 of 4 in the window");
        // Rate trip off (0 %): never by rate.
        let off = rate(0, 10, 1);
        let mut b = Breaker::new(0);
        for _ in 0..50 {
            assert_eq!(b.record(&off, 0, FAIL, None), None);
        }
    }

    /// half_open → open (the probe fails) and half_open → closed (it succeeds) after a rate
    /// trip; closing empties the window, so the failures that opened it do not open it again.
    #[test]
    fn after_a_rate_trip_the_probe_decides_and_closing_starts_a_fresh_window() {
        let clock = ManualClock::new(0);
        let s = rate(60, 60, 5);
        let mut b = Breaker::new(0);
        for v in [FAIL, OK, FAIL, OK] {
            b.record(&s, clock.now_ms(), v, None);
        }
        assert_eq!(b.record(&s, clock.now_ms(), FAIL, None).map(|t| t.why), Some("failure rate"));
        clock.advance(10_000);
        let token = probe(&mut b, &s, clock.now_ms());
        let t = b.record(&s, clock.now_ms(), FAIL, token).expect("a failed probe");
        assert_eq!((t.from, t.to), ("half_open", "open"));
        assert_eq!(b.state(), CircuitState::Open { opened_ms: 0, until_ms: 20_000 });
        clock.advance(10_000);
        let token = probe(&mut b, &s, clock.now_ms());
        let t = b.record(&s, clock.now_ms(), OK, token).expect("a good probe");
        assert_eq!((t.from, t.to), ("half_open", "closed"));
        assert_eq!(window_counts(&b.0.window, &s, clock.now_ms()), (0, 0));
        for _ in 0..4 {
            assert_eq!(b.record(&s, clock.now_ms(), FAIL, None), None, "a fresh window, below min_count");
        }
        assert_eq!((b.0.attempts, b.0.failures), (11, 8), "the counters keep counting");
    }

    #[test]
    fn records_without_the_rate_fields_read_with_defaults() {
        let old: BreakerSettings =
            serde_json::from_str(r#"{"enabled":true,"failure_threshold":3,"open_seconds":7}"#).unwrap();
        assert_eq!(
            old,
            BreakerSettings { enabled: true, failure_threshold: 3, open_seconds: 7, ..BreakerSettings::default() }
        );
        assert_eq!(
            (old.failure_rate_percent, old.failure_rate_window_seconds, old.failure_rate_min_count),
            (0, 60, 10)
        );
        let c: DomainCircuit = serde_json::from_str(
            r#"{"state":{"state":"closed"},"consecutive_failures":0,"attempts":4,"successes":4,"failures":0,"counters_since_ms":1,"changed_ms":1,"seq":2}"#,
        )
        .unwrap();
        assert_eq!((c.attempts, c.window), (4, RateWindow::default()));
    }

    /// Random interleavings of admissions, outcomes (in any order), clock steps and resets:
    /// never two probes in flight, a waiting queue always has a probe that will answer,
    /// nothing is admitted while open before its time, and `seq` only grows.
    #[test]
    fn never_two_probes_and_nothing_goes_while_open() {
        use proptest::prelude::*;
        // 0 admit; 1 an attempt fails; 2 succeeds; 3 sends nothing; 4 the clock moves; 5 reset.
        let ops = proptest::collection::vec((0u8..6, 0usize..3_000), 1..300);
        proptest!(ProptestConfig::with_cases(512), |(ops in ops, threshold in 1u32..5, open_seconds in 1u32..3)| {
            let s = on(threshold, open_seconds);
            let mut b = Breaker::new(0);
            let mut now: Millis = 0;
            // The attempts in flight, each with its probe token.
            let mut in_flight: Vec<Option<u64>> = Vec::new();
            let mut seq = 0;
            for (o, n) in ops {
                match o {
                    0 => {
                        let before = b.state();
                        match b.admit(&s, now).0 {
                            Admit::Go => {
                                prop_assert_eq!(before, CircuitState::Closed);
                                in_flight.push(None);
                            }
                            Admit::Probe(token) => {
                                if let CircuitState::Open { until_ms, .. } = before {
                                    prop_assert!(now >= until_ms, "probe before the open time was over");
                                }
                                in_flight.push(Some(token));
                            }
                            Admit::WaitUntil(t) => prop_assert!(t > now),
                            Admit::WaitProbe => {}
                        }
                    }
                    1..=3 if !in_flight.is_empty() => {
                        let token = in_flight.remove(n % in_flight.len());
                        let v = [FAIL, OK, Verdict::NotSent][usize::from(o - 1)];
                        b.record(&s, now, v, token);
                    }
                    4 => now += n as Millis,
                    5 => {
                        b.reset(now);
                    }
                    _ => {}
                }
                prop_assert!(b.0.seq >= seq);
                seq = b.0.seq;
                let live = in_flight.iter().filter(|t| **t == Some(b.0.seq)).count();
                prop_assert!(live <= 1, "two probes in flight");
                if let CircuitState::HalfOpen { probe_in_flight, .. } = b.state() {
                    prop_assert_eq!(probe_in_flight, live == 1, "the queue waits for a probe that is not there");
                } else {
                    prop_assert_eq!(live, 0);
                }
            }
        });
    }
}
