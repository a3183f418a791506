//! What the daemon did lately, for the people who run it: the counts behind the periodic
//! summary log line, the last failures shown by `hookwheel status`, and the stream of ended
//! executions behind `hookwheel executions tail`.
//!
//! One [`Activity`] lives inside the daemon's [`crate::metrics::Metrics`] handle, so the
//! scheduler and the delivery engine report to it through the handle they already hold. It
//! never reads the clock: callers pass the instants (an execution's own `finished_ms`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::model::{BrandId, Execution, ExecutionStatus};
use crate::time::{Millis, format_utc};

/// Most lateness samples kept per summary interval; past it the oldest are overwritten, so the
/// p99 is that of the last this-many executions of the interval (80 KiB at most).
pub const LATENESS_SAMPLES_MAX: usize = 10_000;
/// How many recent failures `hookwheel status` shows.
pub const RECENT_ERRORS_MAX: usize = 10;
/// Ended executions buffered for slow `executions tail` readers; one that falls further behind
/// is told how many it missed.
pub const TAIL_BUFFER: usize = 1024;

/// Upper bounds (ms, inclusive) of the lateness histogram behind [`Activity::lateness_summary`]
/// (the 1-2-5 steps of Prometheus' default buckets, widened to an hour); a last bucket holds
/// everything later.
pub const LATENESS_BOUNDS_MS: [i64; 19] =
    [0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 3_600_000];
/// Hours of lateness kept per brand.
pub const LATENESS_HOURS_MAX: usize = 24;
const HOUR_MS: i64 = 3_600_000;

/// One hour of a brand's first-request lateness: a histogram over [`LATENESS_BOUNDS_MS`].
#[derive(Clone)]
struct LatenessHour {
    /// Hours since the epoch.
    hour: i64,
    counts: [u64; LATENESS_BOUNDS_MS.len() + 1],
    max_ms: i64,
}

/// A brand's first-request lateness over the last `hours` hours (see
/// [`Activity::lateness_summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatenessSummary {
    /// First requests measured (executions whose first request started in the window).
    pub measured: u64,
    /// The upper bound of the histogram bucket holding the median, ms (`None` without data;
    /// `i64::MAX` past the last bound).
    pub p50_at_most_ms: Option<i64>,
    /// The same for the 99th percentile (nearest rank).
    pub p99_at_most_ms: Option<i64>,
    /// The largest lateness measured, exactly, ms.
    pub max_ms: Option<i64>,
    /// Start of the window: the hour the oldest bucket covers (ms since the epoch).
    pub since_ms: Millis,
}

/// The counts of one summary interval (see [`Activity::take_window`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// Executions created by schedule fires (pending ones; skipped and missed instants do not
    /// count).
    pub fires: u64,
    /// Executions that ended succeeded.
    pub succeeded: u64,
    /// Executions that ended failed.
    pub failed: u64,
    /// 99th percentile of the lateness (first request start minus scheduled instant, ms) of
    /// the executions whose first request was made in the interval; `None` without any.
    pub lateness_p99_ms: Option<i64>,
}

impl Window {
    /// True when nothing was fired or ended.
    pub fn is_idle(&self) -> bool {
        self.fires == 0 && self.succeeded == 0 && self.failed == 0 && self.lateness_p99_ms.is_none()
    }
}

#[derive(Default)]
struct Counts {
    fires: u64,
    succeeded: u64,
    failed: u64,
    lateness: Vec<i64>,
    /// Samples seen in this interval (the next overwrite position once `lateness` is full).
    seen: usize,
}

struct Inner {
    window: Mutex<Counts>,
    /// Per brand, up to [`LATENESS_HOURS_MAX`] hours of first-request lateness, oldest first.
    hours: Mutex<HashMap<BrandId, VecDeque<LatenessHour>>>,
    errors: Mutex<VecDeque<Value>>,
    ended: broadcast::Sender<Value>,
}

/// A handle to the daemon's recent activity; cheap to clone.
#[derive(Clone)]
pub struct Activity(Arc<Inner>);

impl Default for Activity {
    fn default() -> Self {
        let (ended, _) = broadcast::channel(TAIL_BUFFER);
        Activity(Arc::new(Inner { window: Mutex::default(), hours: Mutex::default(), errors: Mutex::default(), ended }))
    }
}

impl Activity {
    /// `n` executions were created by schedule fires.
    pub fn fired(&self, n: u64) {
        lock(&self.0.window).fires += n;
    }

    /// An execution made its first request `ms` after its scheduled instant.
    pub fn lateness(&self, ms: i64) {
        let mut w = lock(&self.0.window);
        if w.lateness.len() < LATENESS_SAMPLES_MAX {
            w.lateness.push(ms);
        } else {
            let at = w.seen % LATENESS_SAMPLES_MAX;
            w.lateness[at] = ms;
        }
        w.seen += 1;
    }

    /// An execution reached its final status: counted, kept among the recent failures when
    /// it failed, and sent to every `executions tail` reader.
    pub fn ended(&self, e: &Execution) {
        self.ended_row(e.status, execution_row(e));
    }

    /// A brand's execution made its first request at `now_ms`, `lateness_ms` after its
    /// scheduled instant: counted in that hour's histogram. Memory: at most
    /// [`LATENESS_HOURS_MAX`] hours of 20 counters per brand.
    pub fn first_request(&self, brand: BrandId, now_ms: Millis, lateness_ms: i64) {
        let hour = now_ms.div_euclid(HOUR_MS);
        let mut all = lock(&self.0.hours);
        let hours = all.entry(brand).or_default();
        if hours.back().is_none_or(|h| h.hour < hour) {
            hours.push_back(LatenessHour { hour, counts: [0; LATENESS_BOUNDS_MS.len() + 1], max_ms: i64::MIN });
            while hours.len() > LATENESS_HOURS_MAX {
                hours.pop_front();
            }
        }
        // A clock stepped back files into the latest hour rather than reopening an old one.
        let Some(h) = hours.back_mut() else { return };
        let ms = lateness_ms.max(0);
        let bucket = LATENESS_BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(LATENESS_BOUNDS_MS.len());
        h.counts[bucket] += 1;
        h.max_ms = h.max_ms.max(ms);
    }

    /// A brand's first-request lateness over the last `hours` hours including the current one
    /// (1 to [`LATENESS_HOURS_MAX`]), kept in memory since the daemon started: percentiles are
    /// histogram bucket bounds ([`LATENESS_BOUNDS_MS`]), the maximum is exact.
    pub fn lateness_summary(&self, brand: BrandId, now_ms: Millis, hours: usize) -> LatenessSummary {
        let hours = hours.clamp(1, LATENESS_HOURS_MAX) as i64;
        let first_hour = now_ms.div_euclid(HOUR_MS) - (hours - 1);
        let mut counts = [0u64; LATENESS_BOUNDS_MS.len() + 1];
        let mut max_ms = None::<i64>;
        if let Some(kept) = lock(&self.0.hours).get(&brand) {
            for h in kept.iter().filter(|h| h.hour >= first_hour) {
                counts.iter_mut().zip(h.counts).for_each(|(c, n)| *c += n);
                max_ms = Some(max_ms.map_or(h.max_ms, |m| m.max(h.max_ms)));
            }
        }
        let measured: u64 = counts.iter().sum();
        let at_rank = |q: u64| {
            // Nearest rank: the smallest value with at least q% of the samples at or below it.
            let rank = (measured * q).div_ceil(100).max(1);
            let mut seen = 0;
            counts.iter().position(|n| {
                seen += n;
                seen >= rank
            })
        };
        let bound = |i: usize| LATENESS_BOUNDS_MS.get(i).copied().unwrap_or(i64::MAX);
        let (p50, p99) = if measured == 0 { (None, None) } else { (at_rank(50).map(bound), at_rank(99).map(bound)) };
        LatenessSummary {
            measured,
            p50_at_most_ms: p50,
            p99_at_most_ms: p99,
            max_ms: if measured == 0 { None } else { max_ms },
            since_ms: first_hour * HOUR_MS,
        }
    }

    /// Whether [`Activity::ended_row`] would use the row of an execution (`id`, its UUID) that
    /// ends with `status`: a failure (kept among the recent errors), a retry entry it replaces,
    /// or an `executions tail` reader listening. Building the row costs more than the rest, so
    /// a success nobody watches is only counted ([`Activity::ended_quietly`]). A reader who
    /// subscribes between this answer and the end misses that one execution.
    pub fn needs_row(&self, status: ExecutionStatus, id: impl std::fmt::Display) -> bool {
        if status == ExecutionStatus::Failed || self.0.ended.receiver_count() > 0 {
            return true;
        }
        let errors = lock(&self.0.errors);
        // Formatted only when there is an entry to compare with (most of the time there is none).
        !errors.is_empty() && {
            let id = id.to_string();
            errors.iter().any(|r| r["execution_uuid"] == id.as_str())
        }
    }

    /// An execution ended for which [`Activity::needs_row`] said no row is needed: counted.
    pub fn ended_quietly(&self, status: ExecutionStatus) {
        let mut w = lock(&self.0.window);
        match status {
            ExecutionStatus::Succeeded => w.succeeded += 1,
            ExecutionStatus::Failed => w.failed += 1,
            _ => {}
        }
    }

    /// [`Activity::ended`] for an execution already turned into its [`execution_row`].
    pub fn ended_row(&self, status: ExecutionStatus, row: Value) {
        self.ended_quietly(status);
        let mut errors = lock(&self.0.errors);
        // An execution that was retrying has ended: its retry entry gives way to the outcome.
        errors.retain(|r| r["execution_uuid"] != row["execution_uuid"]);
        if status == ExecutionStatus::Failed {
            if errors.len() == RECENT_ERRORS_MAX {
                errors.pop_front();
            }
            errors.push_back(row.clone());
        }
        drop(errors);
        // No reader is not an error.
        let _ = self.0.ended.send(row);
    }

    /// An attempt failed and another is scheduled: kept among the recent errors (status
    /// `pending`, with `last_error` and `next_attempt_at`), so that a target failing through
    /// its retries shows in `hookwheel status` before the execution ends failed.
    pub fn retrying(&self, e: &Execution) {
        let mut errors = lock(&self.0.errors);
        // One entry per execution: its latest attempt.
        let id = e.id.to_string();
        errors.retain(|r| r["execution_uuid"] != id.as_str());
        if errors.len() == RECENT_ERRORS_MAX {
            errors.pop_front();
        }
        errors.push_back(execution_row(e));
    }

    /// The counts since the last call, and a fresh interval.
    pub fn take_window(&self) -> Window {
        let c = std::mem::take(&mut *lock(&self.0.window));
        Window { fires: c.fires, succeeded: c.succeeded, failed: c.failed, lateness_p99_ms: p99(c.lateness) }
    }

    /// The last [`RECENT_ERRORS_MAX`] failed executions, oldest first, as [`execution_row`]s.
    pub fn recent_errors(&self) -> Vec<Value> {
        lock(&self.0.errors).iter().cloned().collect()
    }

    /// A receiver of every execution that ends from now on, as [`execution_row`]s.
    pub fn subscribe(&self) -> broadcast::Receiver<Value> {
        self.0.ended.subscribe()
    }
}

/// The nearest-rank 99th percentile.
fn p99(mut samples: Vec<i64>) -> Option<i64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = (samples.len() * 99).div_ceil(100).max(1);
    samples.get(rank - 1).copied()
}

fn time(t: Option<Millis>) -> Value {
    t.map(|t| Value::String(format_utc(t))).unwrap_or(Value::Null)
}

/// One execution as a line of `executions list` / `executions tail` (JSON): ids, status,
/// times (RFC 3339 UTC), attempts, lateness, the reason (final) and the last attempt's error
/// (`last_error`: also while retries are pending). Records hold secrets only masked,
/// so neither does this.
pub fn execution_row(e: &Execution) -> Value {
    let last = e.attempts.last();
    json!({
        "execution_uuid": e.id.to_string(),
        "brand_uuid": e.brand.to_string(),
        "schedule_uuid": e.schedule.map(|s| s.to_string()),
        "target_kind": e.target_kind.as_str(),
        "target_uuid": e.target_id.to_string(),
        "status": e.status.as_str(),
        "scheduled_at": format_utc(e.scheduled_ms),
        "finished_at": time(e.finished_ms),
        "next_attempt_at": time(e.next_attempt_ms),
        "attempts": e.attempts.len(),
        "last_status_code": last.and_then(|a| a.status_code),
        "lateness_ms": e.lateness_ms,
        "reason": e.reason,
        "last_error": last.and_then(|a| match (a.status_code, &a.error) {
            (_, Some(err)) => Some(err.clone()),
            (Some(code), None) if !(200..300).contains(&code) => Some(format!("HTTP {code}")),
            _ => None,
        }),
    })
}

/// One attempt as shown by `get_execution_details` and `hookwheel executions show`: number,
/// start (RFC 3339 UTC), latency, status code, error, the request as recorded (secrets masked)
/// and the response excerpt.
pub fn attempt_row(a: &crate::model::Attempt) -> Value {
    json!({
        "attempt": a.n,
        "started_at": format_utc(a.started_ms),
        "latency_ms": a.latency_ms,
        "status_code": a.status_code,
        "error": a.error,
        "request": a.request,
        "response_excerpt": a.response_excerpt,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_the_nearest_rank() {
        assert_eq!(p99(vec![]), None);
        assert_eq!(p99(vec![7]), Some(7));
        assert_eq!(p99((1..=100).rev().collect()), Some(99));
        assert_eq!(p99((1..=1000).collect()), Some(990));
    }

    #[test]
    fn lateness_is_summarised_per_brand_over_the_last_hours() {
        let a = Activity::default();
        let (b, other) = (BrandId::new(), BrandId::new());
        let h = 3_600_000;
        let now = 1_000 * h + 5;
        assert_eq!(a.lateness_summary(b, now, 24).measured, 0);
        assert_eq!(a.lateness_summary(b, now, 24).p99_at_most_ms, None);
        // 98 on time, one at 4 ms, one at 40 ms, an hour ago; one early (counted as 0) now.
        for _ in 0..98 {
            a.first_request(b, now - h, 0);
        }
        a.first_request(b, now - h, 4);
        a.first_request(b, now - h, 40);
        a.first_request(b, now, -3);
        a.first_request(other, now, 90_000);
        let s = a.lateness_summary(b, now, 24);
        assert_eq!((s.measured, s.p50_at_most_ms, s.p99_at_most_ms, s.max_ms), (101, Some(0), Some(5), Some(40)));
        assert_eq!(s.since_ms, (1_000 - 23) * h);
        // The last hour alone holds only the early one.
        let s = a.lateness_summary(b, now, 1);
        assert_eq!((s.measured, s.p99_at_most_ms, s.max_ms), (1, Some(0), Some(0)));
        // Another brand's figures stay its own; past the last bound is i64::MAX.
        let s = a.lateness_summary(other, now, 24);
        assert_eq!((s.measured, s.p99_at_most_ms, s.max_ms), (1, Some(300_000), Some(90_000)));
        a.first_request(other, now, 4_000_000);
        assert_eq!(a.lateness_summary(other, now, 24).p99_at_most_ms, Some(i64::MAX));
        // Hours older than 24 fall out.
        a.first_request(b, now + 30 * h, 1);
        let s = a.lateness_summary(b, now + 30 * h, 24);
        assert_eq!((s.measured, s.max_ms), (1, Some(1)));
        assert!(lock(&a.0.hours)[&b].len() <= LATENESS_HOURS_MAX);
    }

    #[test]
    fn a_success_nobody_watches_needs_no_row_and_is_still_counted() {
        let a = Activity::default();
        let id = "0190d4f0-0000-7000-8000-000000000001";
        assert!(!a.needs_row(ExecutionStatus::Succeeded, id));
        assert!(a.needs_row(ExecutionStatus::Failed, id), "failures are kept among the recent errors");
        // A retry entry of this execution must give way to its outcome.
        lock(&a.0.errors).push_back(serde_json::json!({"execution_uuid": id}));
        assert!(a.needs_row(ExecutionStatus::Succeeded, id));
        assert!(!a.needs_row(ExecutionStatus::Succeeded, "another"));
        let tail = a.subscribe();
        assert!(a.needs_row(ExecutionStatus::Succeeded, "another"), "a tail reader gets every row");
        drop(tail);
        a.ended_quietly(ExecutionStatus::Succeeded);
        assert_eq!(a.take_window().succeeded, 1);
    }

    #[test]
    fn a_window_counts_since_the_last_take() {
        let a = Activity::default();
        a.fired(3);
        for ms in 0..200 {
            a.lateness(ms);
        }
        let w = a.take_window();
        assert_eq!((w.fires, w.succeeded, w.failed, w.lateness_p99_ms), (3, 0, 0, Some(197)));
        assert!(a.take_window().is_idle());
    }

    #[test]
    fn lateness_samples_are_bounded() {
        let a = Activity::default();
        for _ in 0..LATENESS_SAMPLES_MAX {
            a.lateness(1_000);
        }
        // The next ones overwrite the oldest: the p99 now sees the recent values.
        for _ in 0..LATENESS_SAMPLES_MAX {
            a.lateness(5);
        }
        assert_eq!(lock(&a.0.window).lateness.len(), LATENESS_SAMPLES_MAX);
        assert_eq!(a.take_window().lateness_p99_ms, Some(5));
    }
}
