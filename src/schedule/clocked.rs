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

/// Reads an ISO-8601 date-time, absolute or local to `zone`. `Err` names what is wrong.
pub fn parse_instant(raw: &str, zone: &str) -> Result<Millis, &'static str> {
    let s = raw.trim();
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    let dt: DateTime = s.parse().map_err(|_| "expected an ISO-8601 date-time such as 2026-12-25T00:00:00Z")?;
    let zone = tz::zone(zone).ok_or("unknown time zone")?;
    let zoned = zone.to_ambiguous_zoned(dt).compatible().map_err(|_| "not a valid local time")?;
    Ok(zoned.timestamp().as_millisecond())
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
    fn fires_once() {
        let s = ClockedSpec { run_at_ms: 1000, run_at: String::new(), timezone: "UTC".into() };
        assert_eq!(s.next_after(0), Some(1000));
        assert_eq!(s.next_after(1000), None);
    }
}
