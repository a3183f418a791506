//! Interval driver: fires at `anchor + k × interval`, never drifting with delivery latency.
//! Fixed units (second … week) are exact multiples of milliseconds; `month` keeps the anchor's
//! day-of-month and UTC time of day, clamped to the month's last day (Jan 31 → Feb 28/29 →
//! Mar 31: each fire is computed from the anchor, so a short month does not shift later ones).

use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Period {
    pub fn parse(s: &str) -> Option<Period> {
        match s.trim_end_matches('s') {
            "second" => Some(Period::Second),
            "minute" => Some(Period::Minute),
            "hour" => Some(Period::Hour),
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Second => "second",
            Period::Minute => "minute",
            Period::Hour => "hour",
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
    /// Length in milliseconds of one unit; `None` for months (variable length).
    fn unit_ms(self) -> Option<i64> {
        match self {
            Period::Second => Some(1_000),
            Period::Minute => Some(60_000),
            Period::Hour => Some(3_600_000),
            Period::Day => Some(86_400_000),
            Period::Week => Some(604_800_000),
            Period::Month => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntervalSpec {
    pub value: u32,
    pub period: Period,
    /// Creation time, or the user's `start_at`.
    pub anchor_ms: Millis,
    /// True when the anchor is a user-given `start_at`, which is itself a fire (k ≥ 0).
    pub anchor_fires: bool,
    pub one_off: bool,
}

/// `anchor` plus `months` calendar months in UTC, clamped to the target month's last day.
pub fn add_months(anchor: Millis, months: i64) -> Option<Millis> {
    let ts = jiff::Timestamp::from_millisecond(anchor).ok()?;
    let dt: DateTime = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let total = i64::from(dt.year()) * 12 + i64::from(dt.month() - 1) + months;
    let (year, month) = (i16::try_from(total.div_euclid(12)).ok()?, (total.rem_euclid(12) + 1) as i8);
    // Years past jiff's range (±9999) have no fire: None, not a panic.
    let first = jiff::civil::Date::new(year, month, 1).ok()?;
    let day = dt.day().min(first.days_in_month());
    let target =
        jiff::civil::DateTime::new(year, month, day, dt.hour(), dt.minute(), dt.second(), dt.subsec_nanosecond())
            .ok()?;
    Some(target.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp().as_millisecond())
}

impl IntervalSpec {
    fn k_min(&self) -> i64 {
        if self.anchor_fires { 0 } else { 1 }
    }

    /// The k-th instant.
    fn nth(&self, k: i64) -> Option<Millis> {
        match self.period.unit_ms() {
            Some(unit) => k.checked_mul(unit * i64::from(self.value))?.checked_add(self.anchor_ms),
            None => add_months(self.anchor_ms, k.checked_mul(i64::from(self.value))?),
        }
    }

    /// The first instant strictly after `t`.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        if self.one_off {
            // One interval after the anchor, once.
            return self.nth(1).filter(|&f| f > t);
        }
        let k_min = self.k_min();
        let first = self.nth(k_min)?;
        if first > t {
            return Some(first);
        }
        let mut k = match self.period.unit_ms() {
            Some(unit) => (t - self.anchor_ms).div_euclid(unit * i64::from(self.value)) + 1,
            // ~30.44 days per month: a close estimate, corrected below.
            None => ((t - self.anchor_ms) / (2_629_746_000 * i64::from(self.value))).max(k_min),
        };
        k = k.max(k_min);
        while self.nth(k)? <= t {
            k += 1;
        }
        while k > k_min && self.nth(k - 1)? > t {
            k -= 1;
        }
        self.nth(k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }
    fn iso(t: Millis) -> String {
        crate::time::format_utc(t)
    }
    fn spec(value: u32, period: Period, anchor: &str, anchor_fires: bool) -> IntervalSpec {
        IntervalSpec { value, period, anchor_ms: ms(anchor), anchor_fires, one_off: false }
    }
    fn firsts(s: &IntervalSpec, from: &str, n: usize) -> Vec<String> {
        let mut t = ms(from);
        (0..n)
            .map(|_| {
                t = s.next_after(t).unwrap();
                iso(t)
            })
            .collect()
    }

    #[test]
    fn fixed_units_are_anchored_multiples() {
        let s = spec(15, Period::Minute, "2026-01-01T12:00:00Z", false);
        assert_eq!(
            firsts(&s, "2026-01-01T12:00:00Z", 3),
            ["2026-01-01T12:15:00.000Z", "2026-01-01T12:30:00.000Z", "2026-01-01T12:45:00.000Z"]
        );
        // Computed from any later instant, still on the grid (no drift).
        assert_eq!(firsts(&s, "2026-01-01T13:07:12.345Z", 1), ["2026-01-01T13:15:00.000Z"]);
        assert_eq!(firsts(&s, "2026-01-01T13:15:00Z", 1), ["2026-01-01T13:30:00.000Z"], "strictly after");
    }

    #[test]
    fn start_at_fires_itself_and_keeps_milliseconds() {
        let s = spec(2, Period::Second, "2026-01-01T00:00:00.250Z", true);
        assert_eq!(firsts(&s, "2025-12-31T00:00:00Z", 2), ["2026-01-01T00:00:00.250Z", "2026-01-01T00:00:02.250Z"]);
    }

    #[test]
    fn days_and_weeks_are_fixed_24h_and_168h() {
        let d = spec(1, Period::Day, "2026-03-07T12:00:00Z", false);
        assert_eq!(firsts(&d, "2026-03-07T12:00:00Z", 2), ["2026-03-08T12:00:00.000Z", "2026-03-09T12:00:00.000Z"]);
        let w = spec(2, Period::Week, "2026-03-07T12:00:00Z", false);
        assert_eq!(firsts(&w, "2026-03-07T12:00:00Z", 1), ["2026-03-21T12:00:00.000Z"]);
    }

    #[test]
    fn months_clamp_to_the_last_day_without_drifting() {
        let s = spec(1, Period::Month, "2026-01-31T09:30:00Z", false);
        assert_eq!(
            firsts(&s, "2026-01-31T09:30:00Z", 4),
            [
                "2026-02-28T09:30:00.000Z",
                "2026-03-31T09:30:00.000Z",
                "2026-04-30T09:30:00.000Z",
                "2026-05-31T09:30:00.000Z"
            ]
        );
        let leap = spec(12, Period::Month, "2024-02-29T00:00:00Z", false);
        assert_eq!(firsts(&leap, "2024-02-29T00:00:00Z", 4)[3], "2028-02-29T00:00:00.000Z");
        assert_eq!(firsts(&leap, "2024-02-29T00:00:00Z", 1), ["2025-02-28T00:00:00.000Z"]);
        // From far ahead, the estimate still lands on the right month.
        assert_eq!(firsts(&s, "2030-06-15T00:00:00Z", 1), ["2030-06-30T09:30:00.000Z"]);
        // Beyond the calendar's range there is no next fire (and no panic).
        let far = spec(100_000, Period::Month, "2026-01-01T00:00:00Z", false);
        assert_eq!(far.next_after(ms("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn one_off_fires_once_one_interval_after_the_anchor() {
        let mut s = spec(5, Period::Minute, "2026-01-01T00:00:00Z", false);
        s.one_off = true;
        assert_eq!(s.next_after(ms("2026-01-01T00:00:00Z")), Some(ms("2026-01-01T00:05:00Z")));
        assert_eq!(s.next_after(ms("2026-01-01T00:05:00Z")), None);
    }
}
