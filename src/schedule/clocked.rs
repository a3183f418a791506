//! Clocked driver: one instant. `clocked_run_at` with an offset or `Z` is absolute; without
//! one it is a wall-clock time in `clocked_timezone` (a time in a DST gap moves forward past
//! the gap, an ambiguous one takes the first occurrence, as for cron).

use jiff::Timestamp;
use jiff::civil::DateTime;
use serde::{Deserialize, Serialize};

use crate::time::{Millis, tz};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockedSpec {
    pub run_at_ms: Millis,
    /// The text the user gave, echoed back.
    pub run_at: String,
    pub timezone: String,
}

/// Largest UTC offset accepted in an instant: RFC 3339 offsets have hours 00–23.
const OFFSET_SECONDS_MAX: i32 = 23 * 3600 + 59 * 60;

/// Reads an ISO-8601 date-time, absolute or local to `zone`. `Err` names what is wrong.
/// Stricter than the parser underneath: an offset must be within ±23:59 (RFC 3339 §5.6), the
/// seconds field below 60 (a leap second would silently read as :59), and the instant between
/// [`crate::time::INSTANT_MS_MIN`] and [`crate::time::INSTANT_MS_MAX`].
pub fn parse_instant(raw: &str, zone: &str) -> Result<Millis, &'static str> {
    let s = raw.trim();
    if leap_second(s) {
        return Err("seconds must be 00-59 (leap seconds are not supported)");
    }
    if let Ok(p) = jiff::fmt::temporal::Pieces::parse(s)
        && let Some(jiff::fmt::temporal::PiecesOffset::Numeric(o)) = p.offset()
        && o.offset().seconds().abs() > OFFSET_SECONDS_MAX
    {
        return Err("the UTC offset must be between -23:59 and +23:59");
    }
    const OUT_OF_RANGE: &str = "must be between 1970-01-01T00:00:00Z and 9999-12-30T00:00:00Z";
    let ms = match s.parse::<Timestamp>() {
        Ok(ts) => ts.as_millisecond(),
        // Well-formed but past the range of an instant (e.g. 9999-12-31T12:00:00Z).
        Err(_) if jiff::fmt::temporal::Pieces::parse(s).is_ok_and(|p| p.offset().is_some()) => {
            return Err(OUT_OF_RANGE);
        }
        Err(_) => {
            let dt: DateTime = s.parse().map_err(|_| "expected an ISO-8601 date-time such as 2026-12-25T00:00:00Z")?;
            let zone = tz::zone(zone).ok_or("unknown time zone")?;
            // `compatible` resolves gaps and folds; what it cannot resolve is out of range.
            let zoned = zone.to_ambiguous_zoned(dt).compatible().map_err(|_| OUT_OF_RANGE)?;
            zoned.timestamp().as_millisecond()
        }
    };
    if !(crate::time::INSTANT_MS_MIN..=crate::time::INSTANT_MS_MAX).contains(&ms) {
        return Err(OUT_OF_RANGE);
    }
    Ok(ms)
}

/// Whether the time of a date-time text has 60 seconds (`…T23:59:60`, or basic `…T235960`).
fn leap_second(s: &str) -> bool {
    let Some(sep) = s.find(['T', 't', ' ']) else { return false };
    let time = &s.as_bytes()[sep + 1..];
    let digits = |r: std::ops::Range<usize>| time.get(r.clone()).is_some_and(|b| b.iter().all(u8::is_ascii_digit));
    if time.get(2) == Some(&b':') && time.get(5) == Some(&b':') && digits(6..8) {
        return &time[6..8] == b"60";
    }
    digits(0..6) && &time[4..6] == b"60"
}

impl ClockedSpec {
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        (self.run_at_ms > t).then_some(self.run_at_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn offsets_win_and_local_times_use_the_zone() {
        assert_eq!(parse_instant("2026-12-25T00:00:00Z", "Asia/Kolkata"), Ok(ms("2026-12-25T00:00:00Z")));
        assert_eq!(parse_instant("2026-12-25T00:00:00+05:30", "UTC"), Ok(ms("2026-12-24T18:30:00Z")));
        assert_eq!(parse_instant("2026-12-25T00:00:00", "Asia/Kolkata"), Ok(ms("2026-12-24T18:30:00Z")));
        assert_eq!(parse_instant("2026-12-25T00:00:00.250Z", "UTC"), Ok(ms("2026-12-25T00:00:00.250Z")));
        // In the New York spring-forward gap: moved past the gap.
        assert_eq!(parse_instant("2026-03-08T02:30:00", "America/New_York"), Ok(ms("2026-03-08T07:30:00Z")));
        assert!(parse_instant("tomorrow", "UTC").is_err());
        assert!(parse_instant("2026-12-25T00:00:00", "Nowhere/Zone").is_err());
    }

    #[test]
    fn offsets_leap_seconds_and_the_range_are_checked() {
        assert_eq!(parse_instant("2026-12-25T00:00:00+23:59", "UTC"), Ok(ms("2026-12-24T00:01:00Z")));
        assert_eq!(
            parse_instant("2026-12-25T00:00:00+25:00", "UTC"),
            Err("the UTC offset must be between -23:59 and +23:59")
        );
        assert!(parse_instant("2026-12-25T00:00:00-24:00", "UTC").is_err());
        assert_eq!(
            parse_instant("2026-12-31T23:59:60Z", "UTC"),
            Err("seconds must be 00-59 (leap seconds are not supported)")
        );
        assert!(parse_instant("2026-12-31T23:59:60", "UTC").is_err());
        assert!(parse_instant("20261231T235960Z", "UTC").is_err());
        assert_eq!(parse_instant("2026-12-31T23:59:59Z", "UTC"), Ok(ms("2026-12-31T23:59:59Z")));
        assert!(parse_instant("0001-01-01T00:00:00Z", "UTC").is_err());
        assert!(parse_instant("1969-12-31T23:59:59Z", "UTC").is_err());
        assert!(parse_instant("9999-12-31T00:00:00Z", "UTC").is_err());
        assert_eq!(
            parse_instant("9999-12-31T12:00:00Z", "UTC"),
            Err("must be between 1970-01-01T00:00:00Z and 9999-12-30T00:00:00Z")
        );
        assert!(parse_instant("9999-12-31T12:00:00", "Asia/Tokyo").is_err());
        assert_eq!(parse_instant("9999-12-30T00:00:00Z", "UTC"), Ok(crate::time::INSTANT_MS_MAX));
    }

    #[test]
    fn fires_once() {
        let s = ClockedSpec { run_at_ms: 1000, run_at: String::new(), timezone: "UTC".into() };
        assert_eq!(s.next_after(0), Some(1000));
        assert_eq!(s.next_after(1000), None);
    }
}
