//! Schedule rules. Restricting rules (time, calendar and solar windows, exclusions) combine
//! with AND: a fire is allowed only if every one allows it; a blocked fire is skipped (recorded,
//! not counted) and the next one is computed after it. Termination rules end the schedule.

use jiff::civil::{Date, Time};
use serde::{Deserialize, Serialize};

use super::solar::{self, SolarEvent};
use crate::time::{Millis, tz};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule_type", rename_all = "snake_case")]
pub enum Rule {
    /// Local time of day in `timezone`: start inclusive, end exclusive, wrapping past midnight
    /// when end < start.
    TimeWindow { start_seconds: u32, end_seconds: u32, timezone: String },
    /// Empty lists allow everything; weekdays 0–6 with 0 = Sunday.
    CalendarWindow { days: Vec<u8>, months: Vec<u8>, weekdays: Vec<u8>, timezone: String },
    /// Between two solar events of the same local solar day at a location.
    SolarWindow { start: SolarEvent, end: SolarEvent, lat: f64, lon: f64 },
    /// Never on these dates in `timezone`.
    Exclusion { dates: Vec<Date>, timezone: String },
    /// Ends the schedule: `completed` after `max_runs` runs, `expired` at `expire_at_ms`.
    Termination { max_runs: Option<u64>, expire_at_ms: Option<Millis> },
}

impl Rule {
    pub fn type_name(&self) -> &'static str {
        match self {
            Rule::TimeWindow { .. } => "time_window",
            Rule::CalendarWindow { .. } => "calendar_window",
            Rule::SolarWindow { .. } => "solar_window",
            Rule::Exclusion { .. } => "exclusion",
            Rule::Termination { .. } => "termination",
        }
    }

    /// Whether this rule lets a fire at `t` happen. Termination rules always allow (they are
    /// applied by the scheduler through [`termination`]).
    pub fn allows(&self, t: Millis) -> bool {
        match self {
            Rule::TimeWindow { start_seconds, end_seconds, timezone } => {
                let Some(local) = local_time(t, timezone) else {
                    return false;
                };
                let s = local.hour() as u32 * 3600 + local.minute() as u32 * 60 + local.second() as u32;
                if start_seconds <= end_seconds {
                    *start_seconds <= s && s < *end_seconds
                } else {
                    s >= *start_seconds || s < *end_seconds
                }
            }
            Rule::CalendarWindow { days, months, weekdays, timezone } => {
                let Some(d) = local_date(t, timezone) else {
                    return false;
                };
                (days.is_empty() || days.contains(&(d.day() as u8)))
                    && (months.is_empty() || months.contains(&(d.month() as u8)))
                    && (weekdays.is_empty() || weekdays.contains(&(d.weekday().to_sunday_zero_offset() as u8)))
            }
            Rule::SolarWindow { start, end, lat, lon } => {
                // The local mean solar day containing t.
                let shifted = t + (lon / 15.0 * 3_600_000.0) as i64;
                let Some(day) = local_date(shifted, "UTC") else {
                    return false;
                };
                match (solar::event_on(day, *lat, *lon, *start), solar::event_on(day, *lat, *lon, *end)) {
                    (Some(s), Some(e)) if s <= e => s <= t && t < e,
                    (Some(s), Some(e)) => t >= s || t < e,
                    // An event that does not occur that day (polar day/night): closed.
                    _ => false,
                }
            }
            Rule::Exclusion { dates, timezone } => local_date(t, timezone).is_none_or(|d| !dates.contains(&d)),
            Rule::Termination { .. } => true,
        }
    }
}

fn zoned(t: Millis, zone: &str) -> Option<jiff::Zoned> {
    Some(jiff::Timestamp::from_millisecond(t).ok()?.to_zoned(tz::zone(zone)?))
}

fn local_time(t: Millis, zone: &str) -> Option<Time> {
    zoned(t, zone).map(|z| z.time())
}

fn local_date(t: Millis, zone: &str) -> Option<Date> {
    zoned(t, zone).map(|z| z.date())
}

/// The combined termination: the smallest run limit and the earliest expiry of all rules.
pub fn termination<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> (Option<u64>, Option<Millis>) {
    let (mut max_runs, mut expire): (Option<u64>, Option<Millis>) = (None, None);
    for r in rules {
        if let Rule::Termination { max_runs: m, expire_at_ms: e } = r {
            if let Some(m) = m {
                max_runs = Some(max_runs.map_or(*m, |x| x.min(*m)));
            }
            if let Some(e) = e {
                expire = Some(expire.map_or(*e, |x| x.min(*e)));
            }
        }
    }
    (max_runs, expire)
}

/// Parses `HH:MM[:SS]` (two digits each; hours 00–23, minutes and seconds 00–59, so no leap
/// second) into seconds of the day.
pub fn parse_time_of_day(s: &str) -> Option<u32> {
    let mut parts = s.trim().split(':');
    let mut field = |max: u32| -> Option<u32> {
        let p = parts.next()?;
        if p.len() != 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u32>().ok().filter(|v| *v <= max)
    };
    let (h, m) = (field(23)?, field(59)?);
    let sec = match parts.next() {
        None => 0,
        Some(p) if p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u32>().ok().filter(|v| *v <= 59)?
        }
        Some(_) => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

pub fn format_time_of_day(seconds: u32) -> String {
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn time_window_is_start_inclusive_end_exclusive_in_its_zone() {
        let r = Rule::TimeWindow { start_seconds: 9 * 3600, end_seconds: 17 * 3600, timezone: "Asia/Kolkata".into() };
        assert!(r.allows(ms("2026-11-27T03:30:00Z")), "09:00 IST allowed");
        assert!(!r.allows(ms("2026-11-27T03:29:59Z")), "08:59:59 IST blocked");
        assert!(!r.allows(ms("2026-11-27T11:30:00Z")), "17:00 IST blocked");
    }

    #[test]
    fn time_window_wraps_past_midnight() {
        let r = Rule::TimeWindow { start_seconds: 22 * 3600, end_seconds: 6 * 3600, timezone: "UTC".into() };
        assert!(r.allows(ms("2026-11-27T23:00:00Z")));
        assert!(r.allows(ms("2026-11-27T02:00:00Z")));
        assert!(!r.allows(ms("2026-11-27T06:00:00Z")));
        assert!(!r.allows(ms("2026-11-27T12:00:00Z")));
    }

    #[test]
    fn calendar_window_days_months_weekdays() {
        let r = Rule::CalendarWindow { days: vec![1, 15], months: vec![], weekdays: vec![], timezone: "UTC".into() };
        assert!(r.allows(ms("2026-12-15T10:00:00Z")));
        assert!(!r.allows(ms("2026-12-16T10:00:00Z")));
        let r = Rule::CalendarWindow { days: vec![], months: vec![12], weekdays: vec![0, 6], timezone: "UTC".into() };
        assert!(r.allows(ms("2026-12-13T10:00:00Z")), "a Sunday in December");
        assert!(!r.allows(ms("2026-12-14T10:00:00Z")), "a Monday");
        assert!(!r.allows(ms("2026-11-29T10:00:00Z")), "a Sunday in November");
    }

    #[test]
    fn exclusion_dates_are_read_in_their_zone() {
        let r = Rule::Exclusion { dates: vec![jiff::civil::date(2026, 12, 25)], timezone: "America/New_York".into() };
        assert!(r.allows(ms("2026-12-25T04:59:00Z")), "still the 24th in New York");
        assert!(!r.allows(ms("2026-12-25T05:00:00Z")));
        assert!(!r.allows(ms("2026-12-26T04:59:00Z")));
        assert!(r.allows(ms("2026-12-26T05:00:00Z")));
    }

    #[test]
    fn termination_combines_to_the_strictest() {
        let rules = [
            Rule::Termination { max_runs: Some(5), expire_at_ms: None },
            Rule::Termination { max_runs: Some(3), expire_at_ms: Some(100) },
        ];
        assert_eq!(termination(rules.iter()), (Some(3), Some(100)));
    }

    #[test]
    fn times_of_day_parse() {
        assert_eq!(parse_time_of_day("09:00:00"), Some(32_400));
        assert_eq!(parse_time_of_day("17:30"), Some(63_000));
        assert_eq!(parse_time_of_day("25:00:00"), None);
        assert_eq!(parse_time_of_day("23:59:60"), None, "no leap second");
        assert_eq!(parse_time_of_day("23:59:59"), Some(86_399));
        for bad in ["9:00", "09:00:00:00", "09:0a", "", "09:00:00.5", "-1:00"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad:?}");
        }
        assert_eq!(format_time_of_day(63_005), "17:30:05");
    }
}
