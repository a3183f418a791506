//! Time: the only module that reads the OS clock.
//!
//! Everything else receives `now` as an argument (a [`Millis`] since the Unix epoch) or asks a
//! [`Clock`]. Tests use [`ManualClock`] to run hours of schedule time in microseconds.
//! [`tz`] chooses the newest time-zone database available and formats instants in a zone.

pub mod tz;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, UTC. The unit of every stored instant.
pub type Millis = i64;

/// The earliest instant the API accepts (1970-01-01T00:00:00Z): schedules anchor, fire and
/// expire from the Unix epoch on.
pub const INSTANT_MS_MIN: Millis = 0;
/// The latest instant a schedule fires at, and the latest the API accepts
/// (9999-12-30T00:00:00Z): one day before the end of the calendar range the API can format
/// (year 9999), which leaves room for jitter and solar offsets (each at most a day).
pub const INSTANT_MS_MAX: Millis = 253_402_128_000_000;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // this is the one place that reads the OS clock
    fn now_ms(&self) -> Millis {
        jiff::Timestamp::now().as_millisecond()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug, Default, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }
    pub fn set(&self, t: Millis) {
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wall-clock time that follows tokio's clock from a fixed start: under
/// `tokio::time::pause` it advances only as the test runtime's time does.
#[derive(Debug, Clone)]
pub struct TokioClock {
    base_ms: Millis,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new(base_ms: Millis) -> Self {
        Self { base_ms, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> Millis {
        self.base_ms + self.start.elapsed().as_millis() as i64
    }
}

/// Measures elapsed time (monotonic): for metrics, and for the time budget of CPU-bound API
/// requests (a preview stops when its budget is spent). Never used for scheduling decisions.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // monotonic durations: metrics and request time budgets
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }
    pub fn elapsed_secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Formats an instant as RFC 3339 UTC, with milliseconds only when they are not zero:
/// `2026-03-08T07:00:00Z`, `2026-03-08T07:00:00.250Z`.
pub fn format_utc_seconds(t: Millis) -> String {
    match jiff::Timestamp::from_millisecond(t) {
        Ok(ts) if t.rem_euclid(1000) == 0 => ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Ok(_) => format_utc(t),
        Err(_) => String::from("invalid-time"),
    }
}

/// Formats an instant as RFC 3339 UTC with millisecond precision: `2026-03-08T07:00:00.000Z`.
pub fn format_utc(t: Millis) -> String {
    match jiff::Timestamp::from_millisecond(t) {
        Ok(ts) => ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        Err(_) => String::from("invalid-time"),
    }
}
