//! Cron driver, on croner: 5-field (minute resolution) or 6-field (with seconds) expressions,
//! `@yearly` … `@hourly`, `L`, `W`, `#`, names, 0 and 7 = Sunday; evaluated in an IANA zone.
//!
//! Day-of-month and day-of-week combine as in Linux crontab (Vixie cron, cronie: `find_jobs`
//! in `cron.c`, with `DOM_STAR`/`DOW_STAR` set in `entry.c` from each field's first
//! character): when either field starts with `*`, a day must match both; otherwise either.
//! So `0 0 */2 * 1` fires on Mondays that are odd days of the month, `0 0 1 * 1` on the 1st
//! and on every Monday. See [`days_must_match_both`].
//!
//! Daylight saving follows Vixie/OCPS (croner implements it): a fixed-time fire that falls in a
//! spring-forward gap runs at the first valid instant after the gap; a fixed-time fire in a
//! fall-back overlap runs once; interval-like fields (`*/15`, `*`) fire at every real matching
//! instant. `next_after` is strictly increasing by construction. croner carries a gap's fire
//! only to the same calendar day and gives up on gaps over two hours; `gap_fire` covers the
//! rest (a gap ending at midnight, Apia's skipped day). Table tests: `super::dst_tests`.

use croner::parser::{CronParser, Seconds, Year};
use croner::{Cron, JobType};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::time::{Millis, tz};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CronSpec {
    pub expression: String,
    pub timezone: String,
    pub one_off: bool,
    /// The expression, parsed once per spec (not stored): a catch-up walks thousands of
    /// instants of one schedule, and parsing is most of a `next_after`.
    #[serde(skip)]
    pub parsed: ParsedCron,
}

/// A lazily parsed expression. It never takes part in equality (it is derived data), and a
/// spec whose expression changes is a new spec, so the cache cannot go stale.
#[derive(Clone, Default)]
pub struct ParsedCron(std::sync::OnceLock<Option<std::sync::Arc<Cron>>>);

impl PartialEq for ParsedCron {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for ParsedCron {}

impl std::fmt::Debug for ParsedCron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "parsed" } else { "unparsed" })
    }
}

/// Why an expression or zone was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronError {
    Expression(String),
    Zone,
    NeverFires,
}

/// How far ahead a next match is searched before an expression counts as never firing
/// (e.g. `0 0 30 2 *`). Rare expressions wait long: `0 0 29 2 *` eight years across 2100, and
/// a fifth weekday of February (`0 9 * 2 5#5`: Feb 29 on a Friday, 2036 then 2064) up to 40
/// years in the Gregorian cycle; 41 years cover every expression.
const SEARCH_HORIZON_MS: i64 = 41 * 366 * 86_400_000;

fn parser(dom_and_dow: bool) -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).dom_and_dow(dom_and_dow).build()
}

/// Crontab's rule for the two day fields: true (a day must match both) when the day-of-month
/// or the day-of-week field starts with `*` (`*`, `*/2`; croner's `?` counts as `*`), false
/// (either matches) otherwise. Macros have a `*` day field, where both readings agree.
pub fn days_must_match_both(expression: &str) -> bool {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let (dom, dow) = match fields.as_slice() {
        [_, _, dom, _, dow] | [_, _, _, dom, _, dow] => (*dom, *dow),
        _ => return false,
    };
    [dom, dow].iter().any(|f| f.starts_with('*') || f.starts_with('?'))
}

/// Parses an expression (5 or 6 fields, or a macro), with crontab's day rule.
pub fn parse(expression: &str) -> Result<Cron, CronError> {
    let e = expression.trim();
    if e.is_empty() {
        return Err(CronError::Expression("empty expression".into()));
    }
    parser(days_must_match_both(e)).parse(e).map_err(|err| CronError::Expression(explain(e, &err)))
}

/// The fields of a 5-field expression and, with seconds first, of a 6-field one, with the
/// values each takes (crontab(5); 0 and 7 are both Sunday).
const FIELDS_5: [(&str, &str); 5] = [
    ("minute", "0–59"),
    ("hour", "0–23"),
    ("day-of-month", "1–31"),
    ("month", "1–12 or JAN–DEC"),
    ("day-of-week", "0–7 or SUN–SAT"),
];
const SECOND: (&str, &str) = ("second", "0–59");

/// A refusal that names the field, its column (1-based, in characters) and what is wrong:
/// `minute field (column 1): 61 is out of range 0–59`. croner reports only what failed, not
/// where, so each field (then each comma-separated item of it) is tried alone with `*` in the
/// other fields; the first one refused is the culprit. Falls back to croner's own message.
fn explain(expression: &str, err: &croner::errors::CronError) -> String {
    let fallback = || croner_message(err);
    if expression.starts_with('@') {
        return format!("unknown macro {expression:?}; use @yearly, @annually, @monthly, @weekly, @daily or @hourly");
    }
    let fields: Vec<(usize, &str)> = split_with_columns(expression, ' ');
    let names: Vec<(&str, &str)> = match fields.len() {
        5 => FIELDS_5.to_vec(),
        6 => std::iter::once(SECOND).chain(FIELDS_5).collect(),
        n => {
            return format!(
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), found {n}"
            );
        }
    };
    let alone = |i: usize, text: &str| {
        let probe: Vec<&str> = (0..fields.len()).map(|j| if j == i { text } else { "*" }).collect();
        parser(true).parse(&probe.join(" "))
    };
    for (i, &(column, field)) in fields.iter().enumerate() {
        let Err(field_err) = alone(i, field) else { continue };
        let (name, values) = names[i];
        // The first item of a list that is refused on its own, or the whole field.
        let (at, item, why) = split_with_columns(field, ',')
            .into_iter()
            .find_map(|(c, item)| alone(i, item).err().map(|e| (column + c - 1, item, e)))
            .unwrap_or((column, field, field_err));
        let out_of_range = item
            .split(['-', '/'])
            .take(if item.contains('/') { 1 } else { 2 })
            .filter_map(|n| n.parse::<u32>().ok())
            .find(|n| !value_in(name, *n));
        return match out_of_range {
            Some(n) => format!("{name} field (column {at}): {n} is out of range {values}"),
            None => format!("{name} field (column {at}): {item:?} is not valid ({})", croner_message(&why)),
        };
    }
    fallback()
}

fn value_in(field: &str, n: u32) -> bool {
    match field {
        "second" | "minute" => n <= 59,
        "hour" => n <= 23,
        "day-of-month" => (1..=31).contains(&n),
        "month" => (1..=12).contains(&n),
        _ => n <= 7,
    }
}

/// croner's message without its prefix and final period: `Invalid step`.
fn croner_message(err: &croner::errors::CronError) -> String {
    let text = err.to_string();
    let text = ["Component error: ", "Invalid pattern: ", "Pattern contains illegal characters: CronPattern contains "]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(&text);
    text.trim_end_matches('.').to_string()
}

/// The non-empty parts of `text` split on `sep` (runs of whitespace when `sep` is a space),
/// each with its 1-based column in characters.
fn split_with_columns(text: &str, sep: char) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    let is_sep = |c: char| if sep == ' ' { c.is_whitespace() } else { c == sep };
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), sep))) {
        match (is_sep(c), start) {
            (true, Some(s)) => {
                out.push((text[..s].chars().count() + 1, &text[s..i]));
                start = None;
            }
            (true, None) => {}
            (false, None) => start = Some(i),
            (false, Some(_)) => {}
        }
    }
    out
}

impl CronSpec {
    pub fn new(expression: impl Into<String>, timezone: impl Into<String>, one_off: bool) -> CronSpec {
        CronSpec { expression: expression.into(), timezone: timezone.into(), one_off, parsed: ParsedCron::default() }
    }

    /// The parsed expression (parsed on first use, then kept).
    fn cron(&self) -> Option<&Cron> {
        self.parsed.0.get_or_init(|| parse(&self.expression).ok().map(std::sync::Arc::new)).as_deref()
    }

    /// Checks the expression and zone, and that the expression fires at least once after `now`.
    pub fn validate(&self, now: Millis) -> Result<(), CronError> {
        parse(&self.expression)?;
        if tz::zone(&self.timezone).is_none() {
            return Err(CronError::Zone);
        }
        match self.next_after(now) {
            Some(_) => Ok(()),
            None => Err(CronError::NeverFires),
        }
    }

    /// The first matching instant strictly after `t`.
    pub fn next_after(&self, t: Millis) -> Option<Millis> {
        next_after_parsed(self.cron()?, &self.timezone, t)
    }
}

/// `next_after` with an already parsed expression (the scheduler keeps parsed ones).
pub fn next_after_parsed(cron: &Cron, zone: &str, t: Millis) -> Option<Millis> {
    let zone = tz::zone(zone)?;
    let start = jiff::Timestamp::from_millisecond(t).ok()?.to_zoned(zone.clone());
    let at = croner_next(cron, &start, t).filter(|&at| at - t <= SEARCH_HORIZON_MS);
    match gap_fire(cron, &zone, t, at.unwrap_or(t.saturating_add(SEARCH_HORIZON_MS))) {
        Some(gap) => Some(at.map_or(gap, |a| a.min(gap))),
        None => at,
    }
}

/// croner's next occurrence strictly after `t` (`start` is `t` in the zone).
fn croner_next(cron: &Cron, start: &jiff::Zoned, t: Millis) -> Option<Millis> {
    let next = cron.find_next_occurrence(start, false).ok()?;
    let at = next.timestamp().as_millisecond();
    // croner works in whole seconds; keep the strictly-after contract for sub-second `t`.
    let at = if at <= t {
        let later = jiff::Timestamp::from_millisecond(at + 1000).ok()?.to_zoned(start.time_zone().clone());
        cron.find_next_occurrence(&later, true).ok()?.timestamp().as_millisecond()
    } else {
        at
    };
    (at > t).then_some(at)
}

/// The first fixed-time fire in `(t, until)` that falls in a spring-forward gap, at the first
/// valid instant after that gap (the transition instant). croner carries such a fire past the
/// gap only when the instant after the gap is on the same calendar day (OCPS), so a gap that
/// ends at midnight (America/Nuuk: Saturday 23:00 → Sunday 00:00) would drop a fire
/// restricted to that Saturday (`30 23 * * 6`, `30 23 28 3 *`), and a gap longer than two
/// hours makes croner give up. Interval-like expressions skip gaps by design: `None`.
fn gap_fire(cron: &Cron, zone: &TimeZone, t: Millis, until: Millis) -> Option<Millis> {
    if cron.determine_job_type() != JobType::FixedTime {
        return None;
    }
    // A fixed-time job has exactly one hour, minute and second.
    let p = &cron.pattern;
    let hour = (0..24).find(|&h| p.hour_match(h).unwrap_or(false))?;
    let minute = (0..60).find(|&m| p.minute_match(m).unwrap_or(false))?;
    let second = (0..60).find(|&s| p.second_match(s).unwrap_or(false))?;
    let time = jiff::civil::Time::new(hour as i8, minute as i8, second as i8, 0).ok()?;
    let from = jiff::Timestamp::from_millisecond(t).ok()?;
    for tr in zone.following(from) {
        let at = tr.timestamp();
        if at.as_millisecond() >= until {
            break;
        }
        let before = zone.to_offset(at - jiff::SignedDuration::from_secs(1));
        let after = tr.offset();
        if after <= before {
            continue;
        }
        // The wall-clock times that do not exist: [gap_start, gap_end).
        let (gap_start, gap_end) = (before.to_datetime(at), after.to_datetime(at));
        let mut day = gap_start.date();
        while day <= gap_end.date() {
            let wall = day.to_datetime(time);
            if gap_start <= wall && wall < gap_end {
                // Match the date fields on that wall-clock time, read in the old offset.
                let probe = before.to_timestamp(wall).ok()?.to_zoned(TimeZone::fixed(before));
                if cron.is_time_matching(&probe).unwrap_or(false) {
                    return Some(at.as_millisecond());
                }
            }
            day = day.tomorrow().ok()?;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        s.parse::<jiff::Timestamp>().unwrap().as_millisecond()
    }
    fn local(t: Millis, zone: &str) -> String {
        crate::time::tz::format_in_zone(t, zone)
    }
    fn run(expr: &str, zone: &str, from: &str, n: usize) -> Vec<String> {
        let s = CronSpec::new(expr, zone, false);
        let mut t = ms(from);
        (0..n)
            .map(|_| {
                t = s.next_after(t).expect("fires");
                local(t, zone)
            })
            .collect()
    }

    #[test]
    fn documented_examples() {
        assert_eq!(
            run("0 9 * * 1-5", "UTC", "2026-11-27T10:00:00Z", 2),
            ["2026-11-30T09:00:00.000+00:00", "2026-12-01T09:00:00.000+00:00"]
        );
        assert_eq!(run("0 9 * * 0", "UTC", "2026-11-27T10:00:00Z", 1), ["2026-11-29T09:00:00.000+00:00"]);
        assert_eq!(run("0 9 * * 7", "UTC", "2026-11-27T10:00:00Z", 1), ["2026-11-29T09:00:00.000+00:00"], "7 = Sunday");
        assert_eq!(
            run("0 0 1,15 * *", "UTC", "2026-11-27T10:00:00Z", 2),
            ["2026-12-01T00:00:00.000+00:00", "2026-12-15T00:00:00.000+00:00"]
        );
        assert_eq!(
            run("*/15 * * * *", "UTC", "2026-11-27T10:07:00Z", 2),
            ["2026-11-27T10:15:00.000+00:00", "2026-11-27T10:30:00.000+00:00"]
        );
        assert_eq!(run("0 0-23/2 * * *", "UTC", "2026-11-27T10:00:00Z", 1), ["2026-11-27T12:00:00.000+00:00"]);
    }

    #[test]
    fn seconds_macros_and_special_characters() {
        assert_eq!(
            run("*/20 * * * * *", "UTC", "2026-11-27T10:00:00Z", 2),
            ["2026-11-27T10:00:20.000+00:00", "2026-11-27T10:00:40.000+00:00"]
        );
        assert_eq!(run("@daily", "UTC", "2026-11-27T10:00:00Z", 1), ["2026-11-28T00:00:00.000+00:00"]);
        assert_eq!(run("@monthly", "UTC", "2026-11-27T10:00:00Z", 1), ["2026-12-01T00:00:00.000+00:00"]);
        assert_eq!(
            run("0 12 L * *", "UTC", "2026-02-01T00:00:00Z", 1),
            ["2026-02-28T12:00:00.000+00:00"],
            "L = last day"
        );
        assert_eq!(
            run("0 12 15W * *", "UTC", "2026-08-01T00:00:00Z", 1),
            ["2026-08-14T12:00:00.000+00:00"],
            "15 Aug 2026 is a Saturday"
        );
        assert_eq!(
            run("0 12 * * MON#2", "UTC", "2026-11-01T00:00:00Z", 1),
            ["2026-11-09T12:00:00.000+00:00"],
            "second Monday"
        );
        assert_eq!(
            run("0 0 29 FEB *", "UTC", "2026-03-01T00:00:00Z", 1),
            ["2028-02-29T00:00:00.000+00:00"],
            "leap day"
        );
    }

    #[test]
    fn new_york_spring_forward_gap_runs_after_the_gap() {
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT.
        assert_eq!(
            run("30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T03:00:00.000-04:00", "2026-03-09T02:30:00.000-04:00"]
        );
    }

    #[test]
    fn new_york_fall_back_overlap_runs_once() {
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
        assert_eq!(
            run("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T01:30:00.000-04:00", "2026-11-02T01:30:00.000-05:00"]
        );
    }

    #[test]
    fn interval_fields_fire_at_every_real_instant_across_fall_back() {
        let got = run("*/30 * * * *", "America/New_York", "2026-11-01T04:45:00Z", 5);
        assert_eq!(
            got,
            [
                "2026-11-01T01:00:00.000-04:00",
                "2026-11-01T01:30:00.000-04:00",
                "2026-11-01T01:00:00.000-05:00",
                "2026-11-01T01:30:00.000-05:00",
                "2026-11-01T02:00:00.000-05:00"
            ]
        );
    }

    /// Case 20b and crontab's day rule (Vixie cron, cronie): AND when either day field starts
    /// with `*`, OR otherwise. From Tuesday 2024-12-31 23:59 UTC.
    #[test]
    fn day_of_month_and_day_of_week_follow_crontab() {
        let from = "2024-12-31T23:59:00Z";
        let cases: &[(&str, &[&str])] = &[
            // `*/2` starts with `*`: odd days that are Mondays (Jan 13 and 27, Feb 3 …), not
            // Wednesday Jan 1 (odd) nor Monday Jan 6 (even).
            (
                "0 0 */2 * 1",
                &["2025-01-13T00:00:00.000+00:00", "2025-01-27T00:00:00.000+00:00", "2025-02-03T00:00:00.000+00:00"],
            ),
            // The same with seconds.
            ("0 0 0 */2 * 1", &["2025-01-13T00:00:00.000+00:00", "2025-01-27T00:00:00.000+00:00"]),
            // Neither starts with `*`: the 1st of the month or any Monday.
            (
                "0 0 1 * 1",
                &[
                    "2025-01-01T00:00:00.000+00:00",
                    "2025-01-06T00:00:00.000+00:00",
                    "2025-01-13T00:00:00.000+00:00",
                    "2025-01-20T00:00:00.000+00:00",
                    "2025-01-27T00:00:00.000+00:00",
                    "2025-02-01T00:00:00.000+00:00",
                    "2025-02-03T00:00:00.000+00:00",
                ],
            ),
            ("0 0 1,15 * MON", &["2025-01-01T00:00:00.000+00:00", "2025-01-06T00:00:00.000+00:00"]),
            // A `*` day-of-month: every Monday.
            ("0 0 * * 1", &["2025-01-06T00:00:00.000+00:00", "2025-01-13T00:00:00.000+00:00"]),
            // A `*` day-of-week: days 1–7, whatever their weekday.
            (
                "0 0 1-7 * *",
                &[
                    "2025-01-01T00:00:00.000+00:00",
                    "2025-01-02T00:00:00.000+00:00",
                    "2025-01-03T00:00:00.000+00:00",
                    "2025-01-04T00:00:00.000+00:00",
                    "2025-01-05T00:00:00.000+00:00",
                    "2025-01-06T00:00:00.000+00:00",
                    "2025-01-07T00:00:00.000+00:00",
                    "2025-02-01T00:00:00.000+00:00",
                ],
            ),
            // Both start with `*`: odd days.
            (
                "0 0 */2 * *",
                &["2025-01-01T00:00:00.000+00:00", "2025-01-03T00:00:00.000+00:00", "2025-01-05T00:00:00.000+00:00"],
            ),
            // A day-of-week starting with `*` with a fixed day-of-month: the 1st when it is a
            // Sunday, Tuesday, Thursday or Saturday (`*/2` = 0,2,4,6): Feb 1 2025 is a Saturday.
            ("0 0 1 * */2", &["2025-02-01T00:00:00.000+00:00", "2025-03-01T00:00:00.000+00:00"]),
            // croner's `?` reads as `*`.
            ("0 0 ? * 1", &["2025-01-06T00:00:00.000+00:00"]),
            // Last-day and nth-weekday forms keep their meaning.
            ("0 0 L * *", &["2025-01-31T00:00:00.000+00:00", "2025-02-28T00:00:00.000+00:00"]),
            ("0 0 * * MON#2", &["2025-01-13T00:00:00.000+00:00", "2025-02-10T00:00:00.000+00:00"]),
        ];
        for (expr, expected) in cases {
            assert_eq!(run(expr, "UTC", from, expected.len()), *expected, "{expr}");
        }
        assert!(days_must_match_both("0 0 */2 * 1"));
        assert!(days_must_match_both("0 0 0 1 * *"));
        assert!(!days_must_match_both("0 0 1 * 1"));
        assert!(!days_must_match_both("@daily"));
    }

    #[test]
    fn refusals_name_the_field_and_its_column() {
        let why = |e: &str| match parse(e) {
            Err(CronError::Expression(w)) => w,
            other => panic!("{e}: {other:?}"),
        };
        assert_eq!(why("61 * * * *"), "minute field (column 1): 61 is out of range 0–59");
        assert_eq!(why("0 24 * * *"), "hour field (column 3): 24 is out of range 0–23");
        assert_eq!(why("0 0 0 * *"), "day-of-month field (column 5): 0 is out of range 1–31");
        assert_eq!(why("0 0 1 13 *"), "month field (column 7): 13 is out of range 1–12 or JAN–DEC");
        assert_eq!(why("0 0 * * 1,8"), "day-of-week field (column 11): 8 is out of range 0–7 or SUN–SAT");
        assert_eq!(why("0 5-70 * * *"), "hour field (column 3): 70 is out of range 0–23");
        assert_eq!(why("60 0 0 * * *"), "second field (column 1): 60 is out of range 0–59");
        assert_eq!(
            why("0  0 * * MON,1,XYZ"),
            "day-of-week field (column 16): \"XYZ\" is not valid (illegal character 'X' in part 'XYZ')"
        );
        assert!(
            why("*/0 * * * *").starts_with("minute field (column 1): \"*/0\" is not valid ("),
            "{}",
            why("*/0 * * * *")
        );
        assert_eq!(
            why("* * *"),
            "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), found 3"
        );
        assert!(why("@fortnightly").starts_with("unknown macro \"@fortnightly\""));
    }

    #[test]
    fn bad_input_is_refused() {
        let now = ms("2026-11-27T00:00:00Z");
        let mk = |e: &str, z: &str| CronSpec::new(e, z, false);
        assert!(matches!(mk("61 * * * *", "UTC").validate(now), Err(CronError::Expression(_))));
        assert!(matches!(mk("* * *", "UTC").validate(now), Err(CronError::Expression(_))));
        assert!(matches!(mk("0 0 * * *", "Mars/Olympus").validate(now), Err(CronError::Zone)));
        assert!(matches!(mk("0 0 30 2 *", "UTC").validate(now), Err(CronError::NeverFires)));
        assert!(mk("0 0 * * *", "Asia/Kolkata").validate(now).is_ok());
    }
}
