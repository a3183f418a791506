//! Schedules compute; the scheduler acts. Pure next-fire computation for every driver and the
//! rules that restrict fires. Nothing here reads the clock or does I/O: every function takes
//! the instant to compute from, which makes DST gaps, polar days and rule windows table tests.
//! Entry points: [`Driver::next_after`], [`preview`].

pub mod clocked;
pub mod cron;
pub mod debounce;
#[cfg(test)]
mod dst_tests;
pub mod interval;
pub mod rules;
pub mod solar;

use serde::{Deserialize, Serialize};

use crate::time::Millis;

/// A solar driver: an event at a location, shifted by an offset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolarSpec {
    pub event: solar::SolarEvent,
    pub lat: f64,
    pub lon: f64,
    pub offset_seconds: i32,
    pub one_off: bool,
}

impl SolarSpec {
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        let offset = i64::from(self.offset_seconds) * 1000;
        solar::next_event_after(t - offset, self.lat, self.lon, self.event).map(|e| e + offset)
    }
}

/// What decides a schedule's fire times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Driver {
    Interval(interval::IntervalSpec),
    Cron(cron::CronSpec),
    Clocked(clocked::ClockedSpec),
    Solar(SolarSpec),
    Debounce(debounce::DebounceSpec),
}

impl Driver {
    pub fn kind(&self) -> &'static str {
        match self {
            Driver::Interval(_) => "interval",
            Driver::Cron(_) => "cron",
            Driver::Clocked(_) => "clocked",
            Driver::Solar(_) => "solar",
            Driver::Debounce(_) => "debounce",
        }
    }

    /// The next calendar fire strictly after `t`; `None` when there is none (a one-off that
    /// passed, a solar event that stopped occurring, a debounce schedule — those fire from
    /// triggers — or a fire that would come after [`crate::time::INSTANT_MS_MAX`]).
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        let next = match self {
            Driver::Interval(s) => s.next_after(t),
            Driver::Cron(s) => s.next_after(t),
            Driver::Clocked(s) => s.next_after(t),
            Driver::Solar(s) => s.next_after(t),
            Driver::Debounce(_) => None,
        };
        next.filter(|&n| n <= crate::time::INSTANT_MS_MAX)
    }

    /// One-off drivers complete after their first run.
    pub fn is_one_off(&self) -> bool {
        match self {
            Driver::Interval(s) => s.one_off,
            Driver::Cron(s) => s.one_off,
            Driver::Clocked(_) => true,
            Driver::Solar(s) => s.one_off,
            Driver::Debounce(_) => false,
        }
    }

    /// The zone the driver is evaluated in, if it has one.
    pub fn zone(&self) -> Option<&str> {
        match self {
            Driver::Cron(s) => Some(&s.timezone),
            Driver::Clocked(s) => Some(&s.timezone),
            _ => None,
        }
    }
}

/// Most candidates [`preview`] examines before giving up (rules that block nearly everything).
pub const PREVIEW_CANDIDATES_MAX: usize = 100_000;
/// Most instants one preview returns.
pub const PREVIEW_COUNT_MAX: usize = 1000;
/// How many candidates [`preview_until`] examines between two calls of its `stop` callback.
const PREVIEW_STOP_CHECK_EVERY: usize = 64;

/// The result of [`preview_until`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub times: Vec<Millis>,
    /// False when `stop` ended the search before `count` instants (or the schedule's end) were
    /// found: `times` is then a prefix of the full answer.
    pub complete: bool,
    /// The last candidate instant examined: a search that was stopped can go on from there.
    pub searched_to: Millis,
}

/// The next `count` fire instants after `from` with rules applied: blocked instants are left
/// out, termination (runs already done + expiry) ends the list. Exactly the instants the
/// scheduler would fire, given no downtime. Rules that block nearly every candidate make this
/// long: `stop` is asked every few candidates whether to give up (the caller's time budget;
/// this module never reads the clock).
pub fn preview_until(
    driver: &Driver,
    rules: &[rules::Rule],
    from: Millis,
    count: usize,
    runs_done: u64,
    stop: &mut dyn FnMut() -> bool,
) -> Preview {
    let (max_runs, expire) = rules::termination(rules.iter());
    let mut out = Vec::new();
    let mut t = from;
    let mut runs = runs_done;
    let mut examined = 0usize;
    loop {
        if out.len() >= count.min(PREVIEW_COUNT_MAX) || max_runs.is_some_and(|m| runs >= m) {
            break;
        }
        examined += 1;
        if examined.is_multiple_of(PREVIEW_STOP_CHECK_EVERY) && stop() {
            return Preview { times: out, complete: false, searched_to: t };
        }
        let Some(next) = driver.next_after(t) else {
            break;
        };
        if expire.is_some_and(|e| next >= e) {
            break;
        }
        t = next;
        if rules.iter().all(|r| r.allows(next)) {
            out.push(next);
            runs += 1;
            if driver.is_one_off() {
                break;
            }
        }
    }
    Preview { times: out, complete: true, searched_to: t }
}

/// [`preview_until`] bounded by a candidate count ([`PREVIEW_CANDIDATES_MAX`]) instead of a
/// caller's budget: for tests and tools that want a plain list.
pub fn preview(driver: &Driver, rules: &[rules::Rule], from: Millis, count: usize, runs_done: u64) -> Vec<Millis> {
    let mut examined = 0usize;
    let mut stop = || {
        examined += PREVIEW_STOP_CHECK_EVERY;
        examined >= PREVIEW_CANDIDATES_MAX
    };
    preview_until(driver, rules, from, count, runs_done, &mut stop).times
}

#[cfg(test)]
mod tests {
    use super::rules::Rule;
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn preview_skips_blocked_instants_and_stops_at_termination() {
        let d = Driver::Interval(interval::IntervalSpec {
            value: 1,
            period: interval::Period::Hour,
            anchor_ms: ms("2026-11-27T00:00:00Z"),
            anchor_fires: false,
            one_off: false,
        });
        let rules = vec![
            Rule::TimeWindow { start_seconds: 9 * 3600, end_seconds: 12 * 3600, timezone: "UTC".into() },
            Rule::Termination { max_runs: Some(4), expire_at_ms: None },
        ];
        let got: Vec<String> =
            preview(&d, &rules, ms("2026-11-27T00:00:00Z"), 10, 0).into_iter().map(crate::time::format_utc).collect();
        assert_eq!(
            got,
            [
                "2026-11-27T09:00:00.000Z",
                "2026-11-27T10:00:00.000Z",
                "2026-11-27T11:00:00.000Z",
                "2026-11-28T09:00:00.000Z"
            ]
        );
        // Runs already done count against the limit.
        assert_eq!(preview(&d, &rules, ms("2026-11-27T00:00:00Z"), 10, 3).len(), 1);
        // Expiry cuts the list.
        let expiring = vec![Rule::Termination { max_runs: None, expire_at_ms: Some(ms("2026-11-27T03:00:00Z")) }];
        assert_eq!(preview(&d, &expiring, ms("2026-11-27T00:00:00Z"), 10, 0).len(), 2);
    }

    #[test]
    fn preview_stops_when_asked_and_says_so() {
        let every_second = Driver::Cron(cron::CronSpec::new("* * * * * *", "UTC", false));
        // February 31st never comes: no candidate is ever allowed.
        let never =
            vec![Rule::CalendarWindow { days: vec![31], months: vec![2], weekdays: vec![], timezone: "UTC".into() }];
        let mut asked = 0;
        let p = preview_until(&every_second, &never, ms("2026-11-27T00:00:00Z"), 10, 0, &mut || {
            asked += 1;
            asked == 3
        });
        assert!(!p.complete && p.times.is_empty(), "{p:?}");
        assert!(p.searched_to > ms("2026-11-27T00:00:00Z"), "{p:?}");
        assert_eq!(asked, 3, "asked every {PREVIEW_STOP_CHECK_EVERY} candidates until it said stop");
        // Found everything before being asked to stop: complete.
        let p = preview_until(&every_second, &[], ms("2026-11-27T00:00:00Z"), 3, 0, &mut || true);
        assert!(p.complete);
        assert_eq!(p.times.len(), 3);
    }

    #[test]
    fn fires_after_the_last_representable_instant_do_not_exist() {
        let d = Driver::Interval(interval::IntervalSpec {
            value: 1_000_000,
            period: interval::Period::Week,
            anchor_ms: ms("2026-11-27T00:00:00Z"),
            anchor_fires: false,
            one_off: false,
        });
        assert_eq!(d.next_after(ms("2026-11-27T00:00:00Z")), None);
    }

    #[test]
    fn one_off_previews_one_instant() {
        let d = Driver::Cron(cron::CronSpec::new("0 9 * * *", "UTC", true));
        assert_eq!(preview(&d, &[], ms("2026-11-27T00:00:00Z"), 5, 0), vec![ms("2026-11-27T09:00:00Z")]);
    }
}
