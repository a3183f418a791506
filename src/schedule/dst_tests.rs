//! Table tests for the schedule drivers around daylight-saving transitions, month ends, leap
//! days and rule combinations. One line per case:
//! `check(expression, zone, after, expected local instants)`.
//!
//! The expected offsets and transition instants are what the time-zone database in use says
//! (`tz::database_version()`: the bundled 2026f at the time of writing, see
//! `transitions_are_what_the_database_says`), not what one remembers of a zone. Where the
//! database differs from common knowledge, the database wins and a comment says so.
//!
//! The DST rules under test (spec §4.1, Vixie/OCPS): a fixed-time fire that falls in a
//! spring-forward gap runs at the first valid instant after the gap (which is the transition
//! instant itself); a fixed-time fire in a fall-back overlap runs once, at the first
//! occurrence; interval-like fields (`*/15`, `*`) fire at every real instant that matches, so
//! `*/30` fires in both passes of a repeated hour; fire times are strictly increasing.

use jiff::civil::DateTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};

use super::cron::CronSpec;
use super::interval::{IntervalSpec, Period};
use super::rules::Rule;
use super::{Driver, preview};
use crate::time::{Millis, tz};

const HOUR_MS: i64 = 3_600_000;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn zone(name: &str) -> TimeZone {
    tz::zone(name).unwrap_or_else(|| panic!("unknown zone {name}"))
}

/// An instant: RFC 3339 with `Z` or an offset is absolute; a civil `YYYY-MM-DDTHH:MM[:SS]` is
/// read in `zone_name` and must exist exactly once there (no gap, no overlap).
fn at(s: &str, zone_name: &str) -> Millis {
    if let Ok(ts) = s.parse::<Timestamp>() {
        return ts.as_millisecond();
    }
    let dt: DateTime = s.parse().unwrap_or_else(|e| panic!("neither an instant nor a civil time: {s}: {e}"));
    zone(zone_name)
        .to_ambiguous_zoned(dt)
        .unambiguous()
        .unwrap_or_else(|e| panic!("{s} is not a unique local time in {zone_name}: {e}"))
        .timestamp()
        .as_millisecond()
}

fn local(t: Millis, zone_name: &str) -> String {
    tz::format_in_zone_seconds(t, zone_name)
}

/// The next `n` instants of `next`, starting strictly after `from`, checked strictly increasing.
fn run(next: impl Fn(Millis) -> Option<Millis>, from: Millis, n: usize) -> Vec<Millis> {
    let mut t = from;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let Some(fire) = next(t) else { break };
        assert!(fire > t, "not strictly after {t}: {fire}");
        t = fire;
        out.push(fire);
    }
    out
}

fn cron(expression: &str, zone_name: &str) -> CronSpec {
    CronSpec::new(expression, zone_name, false)
}

/// The next fires of a cron expression in `zone_name` after `after`, as local times.
#[track_caller]
fn check(expression: &str, zone_name: &str, after: &str, expected: &[&str]) {
    let spec = cron(expression, zone_name);
    let got: Vec<String> = run(|t| spec.next_after(t), at(after, zone_name), expected.len())
        .into_iter()
        .map(|t| local(t, zone_name))
        .collect();
    assert_eq!(got, expected, "`{expression}` in {zone_name} after {after}");
}

/// The next fires of an interval schedule anchored at `anchor` (not itself a fire) after
/// `after`, shown in `zone_name`.
#[track_caller]
fn check_every(value: u32, period: Period, anchor: &str, zone_name: &str, after: &str, expected: &[&str]) {
    let spec = IntervalSpec { value, period, anchor_ms: at(anchor, zone_name), anchor_fires: false, one_off: false };
    let got: Vec<String> = run(|t| spec.next_after(t), at(after, zone_name), expected.len())
        .into_iter()
        .map(|t| local(t, zone_name))
        .collect();
    assert_eq!(got, expected, "every {value} {period:?} from {anchor} after {after}");
}

/// `preview` with rules, shown in `zone_name`.
#[track_caller]
fn check_preview(driver: &Driver, rules: &[Rule], zone_name: &str, from: &str, runs_done: u64, expected: &[&str]) {
    let got: Vec<String> =
        preview(driver, rules, at(from, zone_name), 100, runs_done).into_iter().map(|t| local(t, zone_name)).collect();
    assert_eq!(got, expected, "preview from {from}");
}

fn date(s: &str) -> jiff::civil::Date {
    s.parse().unwrap()
}

/// `+05:30`-style offset, for the transition table.
fn offset_str(o: Offset) -> String {
    let s = o.seconds();
    let sign = if s < 0 { '-' } else { '+' };
    let a = s.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
}

/// The database's transitions in `[from, to)` as `instant before→after`.
fn transitions(zone_name: &str, from: &str, to: &str) -> Vec<(Timestamp, Offset, Offset)> {
    let tz = zone(zone_name);
    let (from, to): (Timestamp, Timestamp) = (from.parse().unwrap(), to.parse().unwrap());
    tz.following(from)
        .take_while(|tr| tr.timestamp() < to)
        .map(|tr| {
            let before = tz.to_offset(tr.timestamp() - SignedDuration::from_secs(1));
            (tr.timestamp(), before, tr.offset())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// What the database says
// ---------------------------------------------------------------------------------------------

/// Every zone the tests below use, with its 2026 transitions (UTC instant, offset before →
/// after). Computed with jiff from the database in use, then pinned here: when a database
/// update changes a zone, this test names the zone before the driver tests fail.
const TRANSITIONS_2026: &[(&str, &[&str])] = &[
    // Gap 02:00→03:00 (Mar 8), overlap 01:00–02:00 (Nov 1).
    ("America/New_York", &["2026-03-08T07:00:00Z -05:00→-04:00", "2026-11-01T06:00:00Z -04:00→-05:00"]),
    // Gap 01:00→02:00 (Mar 29), overlap 01:00–02:00 (Oct 25).
    ("Europe/London", &["2026-03-29T01:00:00Z +00:00→+01:00", "2026-10-25T01:00:00Z +01:00→+00:00"]),
    // Gap 02:00→03:00, overlap 02:00–03:00.
    ("Europe/Berlin", &["2026-03-29T01:00:00Z +01:00→+02:00", "2026-10-25T01:00:00Z +02:00→+01:00"]),
    // Overlap 02:00–03:00 (Apr 5), gap 02:00→03:00 (Oct 4).
    ("Australia/Sydney", &["2026-04-04T16:00:00Z +11:00→+10:00", "2026-10-03T16:00:00Z +10:00→+11:00"]),
    // 30-minute shift: overlap 01:30–02:00 (Apr 5), gap 02:00→02:30 (Oct 4).
    ("Australia/Lord_Howe", &["2026-04-04T15:00:00Z +11:00→+10:30", "2026-10-03T15:30:00Z +10:30→+11:00"]),
    // 45-minute offsets: overlap 02:45–03:45 (Apr 5), gap 02:45→03:45 (Sep 27).
    ("Pacific/Chatham", &["2026-04-04T14:00:00Z +13:45→+12:45", "2026-09-26T14:00:00Z +12:45→+13:45"]),
    // At midnight: overlap Sat Apr 4 23:00–24:00, gap Sun Sep 6 00:00→01:00.
    ("America/Santiago", &["2026-04-05T03:00:00Z -03:00→-04:00", "2026-09-06T04:00:00Z -04:00→-03:00"]),
    // Iran abolished DST in 2022 (tzdb 2022b): nothing.
    ("Asia/Tehran", &[]),
    // Ramadan: overlap 02:00–03:00 (Feb 15), gap 02:00→03:00 (Mar 22). The 2026f database then
    // ends Morocco's +01 on Sep 20 (overlap 01:00–02:00) and keeps +00 from then on (no later
    // transition at all; see `tzdb_2026_changes`).
    (
        "Africa/Casablanca",
        &[
            "2026-02-15T02:00:00Z +01:00→+00:00",
            "2026-03-22T02:00:00Z +00:00→+01:00",
            "2026-09-20T01:00:00Z +01:00→+00:00",
        ],
    ),
    // Gap Mar 8. On Nov 1 British Columbia stays on -07 for good: the database records a
    // transition PDT→MST with no change of offset, so there is no overlap.
    ("America/Vancouver", &["2026-03-08T10:00:00Z -08:00→-07:00", "2026-11-01T09:00:00Z -07:00→-07:00"]),
    // Midnight gap 00:00→01:00 (Mar 8). The 2026f database has no fall-back in 2026: Cuba
    // stays on -04 until 2027-11-07 (overlap 00:00–01:00 then).
    ("America/Havana", &["2026-03-08T05:00:00Z -05:00→-04:00"]),
    // No DST since 2019.
    ("America/Sao_Paulo", &[]),
    // Overlap 02:00–03:00 (Apr 5), gap 02:00→03:00 (Sep 27).
    ("Pacific/Auckland", &["2026-04-04T14:00:00Z +13:00→+12:00", "2026-09-26T14:00:00Z +12:00→+13:00"]),
    // tzdb's source calls winter GMT a negative DST; the offsets (what scheduling sees) are the
    // same as London's.
    ("Europe/Dublin", &["2026-03-29T01:00:00Z +00:00→+01:00", "2026-10-25T01:00:00Z +01:00→+00:00"]),
    ("America/St_Johns", &["2026-03-08T05:30:00Z -03:30→-02:30", "2026-11-01T04:30:00Z -02:30→-03:30"]),
    // Gap on Friday Mar 27 02:00→03:00, overlap Oct 25 01:00–02:00.
    ("Asia/Jerusalem", &["2026-03-27T00:00:00Z +02:00→+03:00", "2026-10-24T23:00:00Z +03:00→+02:00"]),
    // No DST since 2022.
    ("America/Mexico_City", &[]),
    ("Australia/Adelaide", &["2026-04-04T16:30:00Z +10:30→+09:30", "2026-10-03T16:30:00Z +09:30→+10:30"]),
    ("America/Denver", &["2026-03-08T09:00:00Z -07:00→-06:00", "2026-11-01T08:00:00Z -06:00→-07:00"]),
    // No DST since 2011, last offset change 2014.
    ("Europe/Moscow", &[]),
    ("Asia/Kolkata", &[]),
    ("America/Chicago", &["2026-03-08T08:00:00Z -06:00→-05:00", "2026-11-01T07:00:00Z -05:00→-06:00"]),
    // Gap 01:00→02:00, overlap 01:00–02:00.
    ("Europe/Lisbon", &["2026-03-29T01:00:00Z +00:00→+01:00", "2026-10-25T01:00:00Z +01:00→+00:00"]),
    // Two-hour shift: gap 01:00→03:00, overlap 01:00–03:00.
    ("Antarctica/Troll", &["2026-03-29T01:00:00Z +00:00→+02:00", "2026-10-25T01:00:00Z +02:00→+00:00"]),
    // EU rule at 01:00 UTC = 23:00 local: the gap (Sat Mar 28 23:00→Sun 00:00) ends at
    // midnight, the overlap (Sat Oct 24 23:00–24:00) ends at midnight.
    ("America/Nuuk", &["2026-03-29T01:00:00Z -02:00→-01:00", "2026-10-25T01:00:00Z -01:00→-02:00"]),
    // Gap Fri Apr 24 00:00→01:00, overlap Thu Oct 29 23:00–24:00.
    ("Africa/Cairo", &["2026-04-23T22:00:00Z +02:00→+03:00", "2026-10-29T21:00:00Z +03:00→+02:00"]),
    // Gap 00:00→01:00, overlap 00:00–01:00.
    ("Atlantic/Azores", &["2026-03-29T01:00:00Z -01:00→+00:00", "2026-10-25T01:00:00Z +00:00→-01:00"]),
    // Gap 03:00→04:00, overlap 03:00–04:00.
    ("Europe/Athens", &["2026-03-29T01:00:00Z +02:00→+03:00", "2026-10-25T01:00:00Z +03:00→+02:00"]),
    ("Pacific/Norfolk", &["2026-04-04T15:00:00Z +12:00→+11:00", "2026-10-03T15:00:00Z +11:00→+12:00"]),
    ("America/Los_Angeles", &["2026-03-08T10:00:00Z -08:00→-07:00", "2026-11-01T09:00:00Z -07:00→-08:00"]),
    ("America/Halifax", &["2026-03-08T06:00:00Z -04:00→-03:00", "2026-11-01T05:00:00Z -03:00→-04:00"]),
    // Like Vancouver: Alberta stays on -06 from Nov 1 (MDT→CST, no offset change).
    ("America/Edmonton", &["2026-03-08T09:00:00Z -07:00→-06:00", "2026-11-01T08:00:00Z -06:00→-06:00"]),
    // Paraguay: permanent -03 since October 2024.
    ("America/Asuncion", &[]),
];

#[test]
fn transitions_are_what_the_database_says() {
    let (version, _) = tz::database_version();
    assert!(version >= "2026f", "these expectations are for tzdb 2026f or newer, in use: {version}");
    for (zone_name, expected) in TRANSITIONS_2026 {
        let got: Vec<String> = transitions(zone_name, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
            .into_iter()
            .map(|(t, b, a)| format!("{t} {}→{}", offset_str(b), offset_str(a)))
            .collect();
        assert_eq!(&got, expected, "{zone_name}");
    }
    // The years some cases below rely on.
    let years = |z: &str, from: &str, to: &str| -> Vec<String> {
        transitions(z, from, to)
            .into_iter()
            .map(|(t, b, a)| format!("{t} {}→{}", offset_str(b), offset_str(a)))
            .collect()
    };
    assert_eq!(
        years("America/Havana", "2025-06-01T00:00:00Z", "2028-01-01T00:00:00Z"),
        [
            "2025-11-02T05:00:00Z -04:00→-05:00",
            "2026-03-08T05:00:00Z -05:00→-04:00",
            "2027-11-07T05:00:00Z -04:00→-05:00"
        ]
    );
    assert_eq!(
        years("America/Vancouver", "2025-06-01T00:00:00Z", "2040-01-01T00:00:00Z"),
        [
            "2025-11-02T09:00:00Z -07:00→-08:00",
            "2026-03-08T10:00:00Z -08:00→-07:00",
            "2026-11-01T09:00:00Z -07:00→-07:00"
        ]
    );
    assert_eq!(years("Africa/Casablanca", "2026-09-21T00:00:00Z", "2040-01-01T00:00:00Z"), Vec::<String>::new());
    assert_eq!(
        years("Asia/Tehran", "2022-01-01T00:00:00Z", "2040-01-01T00:00:00Z"),
        ["2022-03-21T20:30:00Z +03:30→+04:30", "2022-09-21T19:30:00Z +04:30→+03:30"]
    );
}

// ---------------------------------------------------------------------------------------------
// (a) Fixed-time jobs in a spring-forward gap: once, at the first valid instant after the gap
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
#[test]
fn gap_fixed_time_runs_once_at_the_first_instant_after_the_gap() {
    // America/New_York, Mar 8: 02:00 EST → 03:00 EDT.
    check("30 2 * * *", "America/New_York", "2026-03-07T12:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
    check("0 2 * * *", "America/New_York", "2026-03-07T12:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]);
    check("59 2 * * *", "America/New_York", "2026-03-07T12:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:59:00-04:00"]);
    // Europe/London, Mar 29: 01:00 GMT → 02:00 BST.
    check("30 1 * * *", "Europe/London", "2026-03-28T12:00", &["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]);
    // Europe/Berlin, Mar 29: 02:00 → 03:00.
    check("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]);
    check("0 2 * * *", "Europe/Berlin", "2026-03-28T12:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]);
    // Australia/Sydney, Oct 4: 02:00 → 03:00.
    check("30 2 * * *", "Australia/Sydney", "2026-10-03T12:00", &["2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"]);
    // Australia/Lord_Howe, Oct 4: 02:00 → 02:30 (+10:30 → +11); 02:30 itself exists.
    check("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", &["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]);
    check("0 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", &["2026-10-04T02:30:00+11:00", "2026-10-05T02:00:00+11:00"]);
    check("29 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", &["2026-10-04T02:30:00+11:00", "2026-10-05T02:29:00+11:00"]);
    check("30 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00", &["2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"]);
    // Pacific/Chatham, Sep 27: 02:45 → 03:45 (+12:45 → +13:45).
    check("0 3 * * *", "Pacific/Chatham", "2026-09-26T12:00", &["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"]);
    check("45 2 * * *", "Pacific/Chatham", "2026-09-26T12:00", &["2026-09-27T03:45:00+13:45", "2026-09-28T02:45:00+13:45"]);
    check("44 3 * * *", "Pacific/Chatham", "2026-09-26T12:00", &["2026-09-27T03:45:00+13:45", "2026-09-28T03:44:00+13:45"]);
    // America/Santiago, Sun Sep 6: 00:00 → 01:00 (midnight does not exist).
    check("30 0 * * *", "America/Santiago", "2026-09-05T12:00", &["2026-09-06T01:00:00-03:00", "2026-09-07T00:30:00-03:00"]);
    check("0 0 * * 0", "America/Santiago", "2026-09-01T12:00", &["2026-09-06T01:00:00-03:00", "2026-09-13T00:00:00-03:00"]);
    // Africa/Casablanca, Mar 22 (end of Ramadan time): 02:00 → 03:00.
    check("30 2 * * *", "Africa/Casablanca", "2026-03-21T12:00", &["2026-03-22T03:00:00+01:00", "2026-03-23T02:30:00+01:00"]);
    // America/Vancouver, Mar 8: 02:00 → 03:00.
    check("30 2 * * *", "America/Vancouver", "2026-03-07T12:00", &["2026-03-08T03:00:00-07:00", "2026-03-09T02:30:00-07:00"]);
    // America/Havana, Sun Mar 8: 00:00 → 01:00.
    check("30 0 * * *", "America/Havana", "2026-03-07T12:00", &["2026-03-08T01:00:00-04:00", "2026-03-09T00:30:00-04:00"]);
    check("0 0 * * *", "America/Havana", "2026-03-07T12:00", &["2026-03-08T01:00:00-04:00", "2026-03-09T00:00:00-04:00"]);
    check("0 0 8 3 *", "America/Havana", "2026-03-01T12:00", &["2026-03-08T01:00:00-04:00", "2027-03-08T00:00:00-04:00"]);
    // Pacific/Auckland, Sep 27: 02:00 → 03:00.
    check("30 2 * * *", "Pacific/Auckland", "2026-09-26T12:00", &["2026-09-27T03:00:00+13:00", "2026-09-28T02:30:00+13:00"]);
    // Europe/Dublin, Mar 29: 01:00 → 02:00.
    check("30 1 * * *", "Europe/Dublin", "2026-03-28T12:00", &["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]);
    // America/St_Johns, Mar 8: 02:00 → 03:00 (-03:30 → -02:30).
    check("30 2 * * *", "America/St_Johns", "2026-03-07T12:00", &["2026-03-08T03:00:00-02:30", "2026-03-09T02:30:00-02:30"]);
    // Asia/Jerusalem, Fri Mar 27: 02:00 → 03:00.
    check("30 2 * * *", "Asia/Jerusalem", "2026-03-26T12:00", &["2026-03-27T03:00:00+03:00", "2026-03-28T02:30:00+03:00"]);
    check("30 2 * * 5", "Asia/Jerusalem", "2026-03-21T12:00", &["2026-03-27T03:00:00+03:00", "2026-04-03T02:30:00+03:00"]);
    // Australia/Adelaide, Oct 4: 02:00 → 03:00 (+09:30 → +10:30).
    check("30 2 * * *", "Australia/Adelaide", "2026-10-03T12:00", &["2026-10-04T03:00:00+10:30", "2026-10-05T02:30:00+10:30"]);
    // America/Denver, Mar 8.
    check("0 2 * * *", "America/Denver", "2026-03-07T12:00", &["2026-03-08T03:00:00-06:00", "2026-03-09T02:00:00-06:00"]);
    // America/Chicago, Mar 8, also with seconds.
    check("59 2 * * *", "America/Chicago", "2026-03-07T12:00", &["2026-03-08T03:00:00-05:00", "2026-03-09T02:59:00-05:00"]);
    check("30 59 2 * * *", "America/Chicago", "2026-03-07T12:00", &["2026-03-08T03:00:00-05:00", "2026-03-09T02:59:30-05:00"]);
    // Europe/Lisbon, Mar 29: 01:00 → 02:00.
    check("0 1 * * *", "Europe/Lisbon", "2026-03-28T12:00", &["2026-03-29T02:00:00+01:00", "2026-03-30T01:00:00+01:00"]);
    // Antarctica/Troll, Mar 29: 01:00 → 03:00 (two hours).
    check("0 1 * * *", "Antarctica/Troll", "2026-03-28T12:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T01:00:00+02:00"]);
    check("0 2 * * *", "Antarctica/Troll", "2026-03-28T12:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]);
    check("59 2 * * *", "Antarctica/Troll", "2026-03-28T12:00", &["2026-03-29T03:00:00+02:00", "2026-03-30T02:59:00+02:00"]);
    // America/Nuuk, Sat Mar 28: 23:00 → Sun 00:00. The first valid instant after the gap is on
    // the next day; a fire restricted to the Saturday still runs there, once.
    check("30 23 * * *", "America/Nuuk", "2026-03-28T12:00", &["2026-03-29T00:00:00-01:00", "2026-03-29T23:30:00-01:00"]);
    check("30 23 * * 6", "America/Nuuk", "2026-03-28T12:00", &["2026-03-29T00:00:00-01:00", "2026-04-04T23:30:00-01:00"]);
    check("30 23 28 3 *", "America/Nuuk", "2026-03-01T12:00", &["2026-03-29T00:00:00-01:00", "2027-03-28T23:30:00-01:00"]);
    // Africa/Cairo, Fri Apr 24: 00:00 → 01:00.
    check("30 0 * * 5", "Africa/Cairo", "2026-04-20T12:00", &["2026-04-24T01:00:00+03:00", "2026-05-01T00:30:00+03:00"]);
    // Atlantic/Azores, Mar 29: 00:00 → 01:00.
    check("0 0 * * *", "Atlantic/Azores", "2026-03-28T12:00", &["2026-03-29T01:00:00+00:00", "2026-03-30T00:00:00+00:00"]);
    // Europe/Athens, Mar 29: 03:00 → 04:00.
    check("30 3 * * *", "Europe/Athens", "2026-03-28T12:00", &["2026-03-29T04:00:00+03:00", "2026-03-30T03:30:00+03:00"]);
    // Pacific/Norfolk, Oct 4: 02:00 → 03:00.
    check("30 2 * * *", "Pacific/Norfolk", "2026-10-03T12:00", &["2026-10-04T03:00:00+12:00", "2026-10-05T02:30:00+12:00"]);
    // America/Los_Angeles, America/Halifax, America/Edmonton, Mar 8.
    check("30 2 * * *", "America/Los_Angeles", "2026-03-07T12:00", &["2026-03-08T03:00:00-07:00", "2026-03-09T02:30:00-07:00"]);
    check("30 2 * * *", "America/Halifax", "2026-03-07T12:00", &["2026-03-08T03:00:00-03:00", "2026-03-09T02:30:00-03:00"]);
    check("30 2 * * *", "America/Edmonton", "2026-03-07T12:00", &["2026-03-08T03:00:00-06:00", "2026-03-09T02:30:00-06:00"]);
    // Computed again from just before the transition (a restart at 01:59:59): same answer.
    check("30 2 * * *", "America/New_York", "2026-03-08T01:59:59-05:00", &["2026-03-08T03:00:00-04:00"]);
    // Computed from the gap's own fire, or a millisecond before it: not repeated, not lost.
    check("30 2 * * *", "America/New_York", "2026-03-08T03:00:00-04:00", &["2026-03-09T02:30:00-04:00"]);
    check("30 2 * * *", "America/New_York", "2026-03-08T01:59:59.999-05:00", &["2026-03-08T03:00:00-04:00"]);
    check("30 23 * * 6", "America/Nuuk", "2026-03-28T22:59:59.999-02:00", &["2026-03-29T00:00:00-01:00", "2026-04-04T23:30:00-01:00"]);
    check("30 23 * * 6", "America/Nuuk", "2026-03-29T00:00:00-01:00", &["2026-04-04T23:30:00-01:00"]);
    // Pacific/Apia skipped Friday 2011-12-30 entirely (-10 → +14): a noon job runs at the
    // first instant after the 24-hour gap, then at noon as usual.
    check("0 12 * * *", "Pacific/Apia", "2011-12-29T13:00", &["2011-12-31T00:00:00+14:00", "2011-12-31T12:00:00+14:00"]);
    check("0 12 30 12 *", "Pacific/Apia", "2011-12-01T00:00", &["2011-12-31T00:00:00+14:00", "2012-12-30T12:00:00+14:00"]);
}

// ---------------------------------------------------------------------------------------------
// (b) Fixed-time jobs in a fall-back overlap: once, at the first occurrence
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
#[test]
fn overlap_fixed_time_runs_once_at_the_first_occurrence() {
    // America/New_York, Nov 1: 01:00–02:00 twice (-04, then -05).
    check("30 1 * * *", "America/New_York", "2026-10-31T12:00", &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]);
    // Recomputed from its own fire, from later in the first pass, and from inside the second
    // pass (a restart): the second 01:30 never fires.
    check("30 1 * * *", "America/New_York", "2026-11-01T01:30:00-04:00", &["2026-11-02T01:30:00-05:00"]);
    check("30 1 * * *", "America/New_York", "2026-11-01T01:45:00-04:00", &["2026-11-02T01:30:00-05:00"]);
    check("30 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00", &["2026-11-02T01:30:00-05:00"]);
    check("30 1 * * *", "America/New_York", "2026-11-01T01:29:59.999-04:00", &["2026-11-01T01:30:00-04:00"]);
    check("30 1 * * *", "America/New_York", "2026-11-01T01:30:00.001-04:00", &["2026-11-02T01:30:00-05:00"]);
    check("30 1 * * *", "America/New_York", "2026-11-01T01:29:59.999-05:00", &["2026-11-02T01:30:00-05:00"]);
    // Europe/London, Oct 25: 01:00–02:00 twice.
    check("30 1 * * *", "Europe/London", "2026-10-24T12:00", &["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]);
    // Europe/Berlin, Oct 25: 02:00–03:00 twice.
    check("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00", &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]);
    check("0 2 * * *", "Europe/Berlin", "2026-10-24T12:00", &["2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+01:00"]);
    // Australia/Sydney, Apr 5: 02:00–03:00 twice.
    check("30 2 * * *", "Australia/Sydney", "2026-04-04T12:00", &["2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"]);
    // Australia/Lord_Howe, Apr 5: only 01:30–02:00 twice (+11, then +10:30).
    check("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00", &["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]);
    check("30 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00", &["2026-04-05T01:30:00+11:00", "2026-04-06T01:30:00+10:30"]);
    check("45 1 * * *", "Australia/Lord_Howe", "2026-04-05T01:40:00+10:30", &["2026-04-06T01:45:00+10:30"]);
    // Pacific/Chatham, Apr 5: 02:45–03:45 twice (+13:45, then +12:45).
    check("0 3 * * *", "Pacific/Chatham", "2026-04-04T12:00", &["2026-04-05T03:00:00+13:45", "2026-04-06T03:00:00+12:45"]);
    check("45 2 * * *", "Pacific/Chatham", "2026-04-04T12:00", &["2026-04-05T02:45:00+13:45", "2026-04-06T02:45:00+12:45"]);
    // America/Santiago, Sat Apr 4: 23:00–24:00 twice (-03, then -04).
    check("30 23 * * *", "America/Santiago", "2026-04-04T12:00", &["2026-04-04T23:30:00-03:00", "2026-04-05T23:30:00-04:00"]);
    check("30 23 * * 6", "America/Santiago", "2026-04-01T12:00", &["2026-04-04T23:30:00-03:00", "2026-04-11T23:30:00-04:00"]);
    // Africa/Casablanca, Feb 15 (Ramadan time starts): 02:00–03:00 twice; Sep 20: 01:00–02:00.
    check("30 2 * * *", "Africa/Casablanca", "2026-02-14T12:00", &["2026-02-15T02:30:00+01:00", "2026-02-16T02:30:00+00:00"]);
    check("30 1 * * *", "Africa/Casablanca", "2026-09-19T12:00", &["2026-09-20T01:30:00+01:00", "2026-09-21T01:30:00+00:00"]);
    // America/Vancouver, 2025-11-02 (the last fall-back it has): 01:00–02:00 twice.
    check("30 1 * * *", "America/Vancouver", "2025-11-01T12:00", &["2025-11-02T01:30:00-07:00", "2025-11-03T01:30:00-08:00"]);
    // America/Havana, 2025-11-02 and 2027-11-07: 00:00–01:00 twice.
    check("30 0 * * *", "America/Havana", "2025-11-01T12:00", &["2025-11-02T00:30:00-04:00", "2025-11-03T00:30:00-05:00"]);
    check("0 0 * * *", "America/Havana", "2025-11-01T12:00", &["2025-11-02T00:00:00-04:00", "2025-11-03T00:00:00-05:00"]);
    check("30 0 * * *", "America/Havana", "2027-11-06T12:00", &["2027-11-07T00:30:00-04:00", "2027-11-08T00:30:00-05:00"]);
    // Pacific/Auckland, Apr 5: 02:00–03:00 twice.
    check("30 2 * * *", "Pacific/Auckland", "2026-04-04T12:00", &["2026-04-05T02:30:00+13:00", "2026-04-06T02:30:00+12:00"]);
    // Europe/Dublin, Oct 25.
    check("30 1 * * *", "Europe/Dublin", "2026-10-24T12:00", &["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]);
    // America/St_Johns, Nov 1.
    check("30 1 * * *", "America/St_Johns", "2026-10-31T12:00", &["2026-11-01T01:30:00-02:30", "2026-11-02T01:30:00-03:30"]);
    // Asia/Jerusalem, Oct 25: 01:00–02:00 twice.
    check("30 1 * * *", "Asia/Jerusalem", "2026-10-24T12:00", &["2026-10-25T01:30:00+03:00", "2026-10-26T01:30:00+02:00"]);
    // Australia/Adelaide, Apr 5: 02:00–03:00 twice.
    check("30 2 * * *", "Australia/Adelaide", "2026-04-04T12:00", &["2026-04-05T02:30:00+10:30", "2026-04-06T02:30:00+09:30"]);
    // America/Denver, America/Chicago, Nov 1.
    check("0 1 * * *", "America/Denver", "2026-10-31T12:00", &["2026-11-01T01:00:00-06:00", "2026-11-02T01:00:00-07:00"]);
    check("59 1 * * *", "America/Chicago", "2026-10-31T12:00", &["2026-11-01T01:59:00-05:00", "2026-11-02T01:59:00-06:00"]);
    // Europe/Lisbon, Oct 25.
    check("0 1 * * *", "Europe/Lisbon", "2026-10-24T12:00", &["2026-10-25T01:00:00+01:00", "2026-10-26T01:00:00+00:00"]);
    // Antarctica/Troll, Oct 25: 01:00–03:00 twice (+02, then +00).
    check("30 1 * * *", "Antarctica/Troll", "2026-10-24T12:00", &["2026-10-25T01:30:00+02:00", "2026-10-26T01:30:00+00:00"]);
    check("30 2 * * *", "Antarctica/Troll", "2026-10-24T12:00", &["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+00:00"]);
    // America/Nuuk, Sat Oct 24: 23:00–24:00 twice.
    check("30 23 * * 6", "America/Nuuk", "2026-10-20T12:00", &["2026-10-24T23:30:00-01:00", "2026-10-31T23:30:00-02:00"]);
    // Africa/Cairo, Thu Oct 29: 23:00–24:00 twice.
    check("30 23 * * 4", "Africa/Cairo", "2026-10-25T12:00", &["2026-10-29T23:30:00+03:00", "2026-11-05T23:30:00+02:00"]);
    // Atlantic/Azores, Oct 25: 00:00–01:00 twice.
    check("0 0 * * *", "Atlantic/Azores", "2026-10-24T12:00", &["2026-10-25T00:00:00+00:00", "2026-10-26T00:00:00-01:00"]);
    // Europe/Athens, Oct 25: 03:00–04:00 twice.
    check("30 3 * * *", "Europe/Athens", "2026-10-24T12:00", &["2026-10-25T03:30:00+03:00", "2026-10-26T03:30:00+02:00"]);
    // Pacific/Norfolk, Apr 5: 02:00–03:00 twice.
    check("30 2 * * *", "Pacific/Norfolk", "2026-04-04T12:00", &["2026-04-05T02:30:00+12:00", "2026-04-06T02:30:00+11:00"]);
    // America/Los_Angeles, America/Halifax, Nov 1.
    check("30 1 * * *", "America/Los_Angeles", "2026-10-31T12:00", &["2026-11-01T01:30:00-07:00", "2026-11-02T01:30:00-08:00"]);
    check("30 1 * * *", "America/Halifax", "2026-10-31T12:00", &["2026-11-01T01:30:00-03:00", "2026-11-02T01:30:00-04:00"]);
}

// ---------------------------------------------------------------------------------------------
// (c) Interval-like fields: every real matching instant, in both passes of an overlap
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
#[test]
fn interval_like_fields_fire_at_every_real_instant() {
    // America/New_York.
    check("*/15 * * * *", "America/New_York", "2026-03-08T01:30:00-05:00", &["2026-03-08T01:45:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]);
    check("*/30 * * * *", "America/New_York", "2026-11-01T00:45:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"]);
    check("0 * * * *", "America/New_York", "2026-11-01T00:30:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]);
    check("*/20 * * * * *", "America/New_York", "2026-03-08T01:59:30-05:00", &["2026-03-08T01:59:40-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:00:20-04:00"]);
    // Europe/London.
    check("0 * * * *", "Europe/London", "2026-03-28T23:30:00+00:00", &["2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T03:00:00+01:00"]);
    check("*/30 * * * *", "Europe/London", "2026-10-25T00:45:00+01:00", &["2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00+00:00", "2026-10-25T01:30:00+00:00", "2026-10-25T02:00:00+00:00"]);
    // Europe/Berlin.
    check("*/15 * * * *", "Europe/Berlin", "2026-03-29T01:40:00+01:00", &["2026-03-29T01:45:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00"]);
    check("*/30 * * * *", "Europe/Berlin", "2026-10-25T01:45:00+02:00", &["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:30:00+01:00", "2026-10-25T03:00:00+01:00"]);
    // Australia/Sydney.
    check("0 * * * *", "Australia/Sydney", "2026-04-05T01:30:00+11:00", &["2026-04-05T02:00:00+11:00", "2026-04-05T02:00:00+10:00", "2026-04-05T03:00:00+10:00"]);
    check("*/15 * * * *", "Australia/Sydney", "2026-10-04T01:50:00+10:00", &["2026-10-04T03:00:00+11:00", "2026-10-04T03:15:00+11:00"]);
    // Australia/Lord_Howe: half-hour shifts.
    check("*/15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:40:00+10:30", &["2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00"]);
    check("*/15 * * * *", "Australia/Lord_Howe", "2026-04-05T01:20:00+11:00", &["2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T01:45:00+10:30", "2026-04-05T02:00:00+10:30"]);
    check("*/30 * * * *", "Australia/Lord_Howe", "2026-04-05T01:20:00+11:00", &["2026-04-05T01:30:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T02:00:00+10:30"]);
    check("0 * * * *", "Australia/Lord_Howe", "2026-04-05T00:30:00+11:00", &["2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30", "2026-04-05T03:00:00+10:30"]);
    // Pacific/Chatham: 45-minute offsets.
    check("0 * * * *", "Pacific/Chatham", "2026-09-27T01:30:00+12:45", &["2026-09-27T02:00:00+12:45", "2026-09-27T04:00:00+13:45", "2026-09-27T05:00:00+13:45"]);
    check("*/30 * * * *", "Pacific/Chatham", "2026-04-05T02:20:00+13:45", &["2026-04-05T02:30:00+13:45", "2026-04-05T03:00:00+13:45", "2026-04-05T03:30:00+13:45", "2026-04-05T03:00:00+12:45", "2026-04-05T03:30:00+12:45", "2026-04-05T04:00:00+12:45"]);
    // America/Santiago: around midnight.
    check("*/30 * * * *", "America/Santiago", "2026-04-04T22:45:00-03:00", &["2026-04-04T23:00:00-03:00", "2026-04-04T23:30:00-03:00", "2026-04-04T23:00:00-04:00", "2026-04-04T23:30:00-04:00", "2026-04-05T00:00:00-04:00"]);
    check("*/15 * * * *", "America/Santiago", "2026-09-05T23:40:00-04:00", &["2026-09-05T23:45:00-04:00", "2026-09-06T01:00:00-03:00", "2026-09-06T01:15:00-03:00"]);
    // Africa/Casablanca.
    check("*/30 * * * *", "Africa/Casablanca", "2026-02-15T01:45:00+01:00", &["2026-02-15T02:00:00+01:00", "2026-02-15T02:30:00+01:00", "2026-02-15T02:00:00+00:00", "2026-02-15T02:30:00+00:00", "2026-02-15T03:00:00+00:00"]);
    check("0 * * * *", "Africa/Casablanca", "2026-03-22T00:30:00+00:00", &["2026-03-22T01:00:00+00:00", "2026-03-22T03:00:00+01:00", "2026-03-22T04:00:00+01:00"]);
    check("*/30 * * * *", "Africa/Casablanca", "2026-09-20T00:45:00+01:00", &["2026-09-20T01:00:00+01:00", "2026-09-20T01:30:00+01:00", "2026-09-20T01:00:00+00:00", "2026-09-20T01:30:00+00:00", "2026-09-20T02:00:00+00:00"]);
    // America/Havana: the repeated hour starts at midnight.
    check("0 * * * *", "America/Havana", "2026-03-07T22:30:00-05:00", &["2026-03-07T23:00:00-05:00", "2026-03-08T01:00:00-04:00", "2026-03-08T02:00:00-04:00"]);
    check("*/30 * * * *", "America/Havana", "2025-11-01T23:45:00-04:00", &["2025-11-02T00:00:00-04:00", "2025-11-02T00:30:00-04:00", "2025-11-02T00:00:00-05:00", "2025-11-02T00:30:00-05:00", "2025-11-02T01:00:00-05:00"]);
    // Pacific/Auckland.
    check("0 * * * *", "Pacific/Auckland", "2026-04-05T01:30:00+13:00", &["2026-04-05T02:00:00+13:00", "2026-04-05T02:00:00+12:00", "2026-04-05T03:00:00+12:00"]);
    check("*/30 * * * *", "Pacific/Auckland", "2026-09-27T01:15:00+12:00", &["2026-09-27T01:30:00+12:00", "2026-09-27T03:00:00+13:00", "2026-09-27T03:30:00+13:00"]);
    // Europe/Dublin.
    check("*/15 * * * *", "Europe/Dublin", "2026-03-29T00:40:00+00:00", &["2026-03-29T00:45:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T02:15:00+01:00"]);
    check("0 * * * *", "Europe/Dublin", "2026-10-25T00:30:00+01:00", &["2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"]);
    // America/St_Johns.
    check("*/30 * * * *", "America/St_Johns", "2026-11-01T00:45:00-02:30", &["2026-11-01T01:00:00-02:30", "2026-11-01T01:30:00-02:30", "2026-11-01T01:00:00-03:30", "2026-11-01T01:30:00-03:30", "2026-11-01T02:00:00-03:30"]);
    // Asia/Jerusalem.
    check("0 * * * *", "Asia/Jerusalem", "2026-03-27T00:30:00+02:00", &["2026-03-27T01:00:00+02:00", "2026-03-27T03:00:00+03:00", "2026-03-27T04:00:00+03:00"]);
    check("*/30 * * * *", "Asia/Jerusalem", "2026-10-25T00:45:00+03:00", &["2026-10-25T01:00:00+03:00", "2026-10-25T01:30:00+03:00", "2026-10-25T01:00:00+02:00", "2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00"]);
    // Australia/Adelaide.
    check("*/30 * * * *", "Australia/Adelaide", "2026-04-05T01:45:00+10:30", &["2026-04-05T02:00:00+10:30", "2026-04-05T02:30:00+10:30", "2026-04-05T02:00:00+09:30", "2026-04-05T02:30:00+09:30", "2026-04-05T03:00:00+09:30"]);
    // America/Denver.
    check("*/15 * * * *", "America/Denver", "2026-11-01T01:40:00-06:00", &["2026-11-01T01:45:00-06:00", "2026-11-01T01:00:00-07:00", "2026-11-01T01:15:00-07:00"]);
    // America/Chicago: every minute, across both edges.
    check("* * * * *", "America/Chicago", "2026-03-08T01:58:00-06:00", &["2026-03-08T01:59:00-06:00", "2026-03-08T03:00:00-05:00", "2026-03-08T03:01:00-05:00"]);
    check("* * * * *", "America/Chicago", "2026-11-01T01:58:00-05:00", &["2026-11-01T01:59:00-05:00", "2026-11-01T01:00:00-06:00", "2026-11-01T01:01:00-06:00"]);
    // Europe/Lisbon.
    check("*/20 * * * *", "Europe/Lisbon", "2026-10-25T00:50:00+01:00", &["2026-10-25T01:00:00+01:00", "2026-10-25T01:20:00+01:00", "2026-10-25T01:40:00+01:00", "2026-10-25T01:00:00+00:00", "2026-10-25T01:20:00+00:00", "2026-10-25T01:40:00+00:00", "2026-10-25T02:00:00+00:00"]);
    // Antarctica/Troll: two repeated hours, two missing hours.
    check("0 * * * *", "Antarctica/Troll", "2026-10-25T00:30:00+02:00", &["2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00", "2026-10-25T03:00:00+00:00"]);
    check("0 * * * *", "Antarctica/Troll", "2026-03-29T00:30:00+00:00", &["2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]);
    // America/Nuuk: the missing and the repeated hour end at midnight.
    check("*/30 * * * *", "America/Nuuk", "2026-03-28T22:40:00-02:00", &["2026-03-29T00:00:00-01:00", "2026-03-29T00:30:00-01:00"]);
    check("0 * * * *", "America/Nuuk", "2026-10-24T22:30:00-01:00", &["2026-10-24T23:00:00-01:00", "2026-10-24T23:00:00-02:00", "2026-10-25T00:00:00-02:00"]);
    // Africa/Cairo.
    check("*/30 * * * *", "Africa/Cairo", "2026-04-23T23:40:00+02:00", &["2026-04-24T01:00:00+03:00", "2026-04-24T01:30:00+03:00"]);
    check("0 * * * *", "Africa/Cairo", "2026-10-29T22:30:00+03:00", &["2026-10-29T23:00:00+03:00", "2026-10-29T23:00:00+02:00", "2026-10-30T00:00:00+02:00"]);
    // Atlantic/Azores.
    check("*/30 * * * *", "Atlantic/Azores", "2026-10-24T23:45:00+00:00", &["2026-10-25T00:00:00+00:00", "2026-10-25T00:30:00+00:00", "2026-10-25T00:00:00-01:00", "2026-10-25T00:30:00-01:00", "2026-10-25T01:00:00-01:00"]);
    // Europe/Athens.
    check("0 * * * *", "Europe/Athens", "2026-03-29T02:30:00+02:00", &["2026-03-29T04:00:00+03:00", "2026-03-29T05:00:00+03:00"]);
    // Pacific/Norfolk.
    check("0 * * * *", "Pacific/Norfolk", "2026-04-05T01:30:00+12:00", &["2026-04-05T02:00:00+12:00", "2026-04-05T02:00:00+11:00", "2026-04-05T03:00:00+11:00"]);
    // Lists count as interval-like (OCPS): `0 1,2` is not carried past the gap, and fires in
    // both passes of an overlap. Pinned so that a change is deliberate.
    check("30 1,2 * * *", "America/New_York", "2026-03-08T00:00", &["2026-03-08T01:30:00-05:00", "2026-03-09T01:30:00-04:00"]);
    check("30 1,2 * * *", "America/New_York", "2026-11-01T00:00", &["2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"]);
}

// ---------------------------------------------------------------------------------------------
// Zones without DST, and the 2026 database changes
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
#[test]
fn zones_without_dst_have_no_transition() {
    // Asia/Tehran: Iran abolished DST in 2022 (tzdb 2022b), and the database in use agrees:
    // a daily 00:30 job fires at 00:30 +03:30 every day of March, including around Nowruz
    // (Mar 21/22), when the clocks used to go forward at midnight.
    let tehran = cron("30 0 * * *", "Asia/Tehran");
    let fires = run(|t| tehran.next_after(t), at("2026-02-28T12:00", "Asia/Tehran"), 31);
    let expected: Vec<String> = (1..=31).map(|d| format!("2026-03-{d:02}T00:30:00+03:30")).collect();
    assert_eq!(fires.iter().map(|&t| local(t, "Asia/Tehran")).collect::<Vec<_>>(), expected);
    // ... while in 2022 the database still has the last gap (00:00 → 01:00 on Mar 22) and the
    // last overlap (23:00–24:00 on Sep 21).
    check("30 0 * * *", "Asia/Tehran", "2022-03-21T12:00", &["2022-03-22T01:00:00+04:30", "2022-03-23T00:30:00+04:30"]);
    check("30 23 * * *", "Asia/Tehran", "2022-09-21T12:00", &["2022-09-21T23:30:00+04:30", "2022-09-22T23:30:00+03:30"]);
    // America/Sao_Paulo: no DST since 2019. First Sunday of November (the old start, at
    // midnight) and the old February end are plain days now...
    check("0 0 * * *", "America/Sao_Paulo", "2026-10-31T12:00", &["2026-11-01T00:00:00-03:00", "2026-11-02T00:00:00-03:00"]);
    check("*/30 * * * *", "America/Sao_Paulo", "2026-02-14T22:45:00-03:00", &["2026-02-14T23:00:00-03:00", "2026-02-14T23:30:00-03:00", "2026-02-15T00:00:00-03:00"]);
    // ... but the historic 2018 gap is still in the database.
    check("0 0 * * *", "America/Sao_Paulo", "2018-11-03T12:00", &["2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"]);
    // America/Mexico_City: no DST since 2022 (old rule: first Sunday of April, last of October).
    check("30 2 * * *", "America/Mexico_City", "2026-04-04T12:00", &["2026-04-05T02:30:00-06:00", "2026-04-06T02:30:00-06:00"]);
    check("*/30 * * * *", "America/Mexico_City", "2026-10-25T00:45:00-06:00", &["2026-10-25T01:00:00-06:00", "2026-10-25T01:30:00-06:00", "2026-10-25T02:00:00-06:00"]);
    check("30 2 * * *", "America/Mexico_City", "2022-04-02T12:00", &["2022-04-03T03:00:00-05:00", "2022-04-04T02:30:00-05:00"]);
    // Europe/Moscow: none on the EU dates; the 2014 change (02:00 → 01:00) is history.
    check("30 2 * * *", "Europe/Moscow", "2026-03-28T12:00", &["2026-03-29T02:30:00+03:00", "2026-03-30T02:30:00+03:00"]);
    check("*/30 * * * *", "Europe/Moscow", "2026-10-25T01:45:00+03:00", &["2026-10-25T02:00:00+03:00", "2026-10-25T02:30:00+03:00", "2026-10-25T03:00:00+03:00"]);
    check("30 1 * * *", "Europe/Moscow", "2014-10-25T12:00", &["2014-10-26T01:30:00+04:00", "2014-10-27T01:30:00+03:00"]);
    // Asia/Kolkata: none.
    check("*/30 * * * *", "Asia/Kolkata", "2026-03-08T01:45:00+05:30", &["2026-03-08T02:00:00+05:30", "2026-03-08T02:30:00+05:30", "2026-03-08T03:00:00+05:30"]);
    check("30 2 * * *", "Asia/Kolkata", "2026-10-24T12:00", &["2026-10-25T02:30:00+05:30", "2026-10-26T02:30:00+05:30"]);
    // America/Asuncion: permanent -03 since October 2024 (old start: first Sunday of October).
    check("0 0 * * *", "America/Asuncion", "2026-10-03T12:00", &["2026-10-04T00:00:00-03:00", "2026-10-05T00:00:00-03:00"]);
}

#[rustfmt::skip]
#[test]
fn tzdb_2026_changes() {
    // America/Vancouver: the 2026f database ends the clock changes: on 2026-11-01 the zone
    // goes from PDT to MST at 09:00 UTC with no change of offset (-07 before and after), so
    // 01:30 exists once and a daily 01:30 job fires once that day (with an older database it
    // would be an overlap, still fired once). Every half hour of that night happens once.
    check("30 1 * * *", "America/Vancouver", "2026-10-31T12:00", &["2026-11-01T01:30:00-07:00", "2026-11-02T01:30:00-07:00"]);
    check("*/30 * * * *", "America/Vancouver", "2026-11-01T00:45:00-07:00", &["2026-11-01T01:00:00-07:00", "2026-11-01T01:30:00-07:00", "2026-11-01T02:00:00-07:00", "2026-11-01T02:30:00-07:00"]);
    // ... and no spring-forward gap in March 2027.
    check("30 2 * * *", "America/Vancouver", "2027-03-13T12:00", &["2027-03-14T02:30:00-07:00", "2027-03-15T02:30:00-07:00"]);
    // America/Edmonton: the same for Alberta at -06.
    check("30 1 * * *", "America/Edmonton", "2026-10-31T12:00", &["2026-11-01T01:30:00-06:00", "2026-11-02T01:30:00-06:00"]);
    check("30 2 * * *", "America/Edmonton", "2027-03-13T12:00", &["2027-03-14T02:30:00-06:00", "2027-03-15T02:30:00-06:00"]);
    // America/Havana: the 2026f database keeps Cuba on -04 from 2026-03-08 until 2027-11-07:
    // no overlap on 2026-11-01 and no gap on 2027-03-14 (the usual dates).
    check("30 0 * * *", "America/Havana", "2026-10-31T12:00", &["2026-11-01T00:30:00-04:00", "2026-11-02T00:30:00-04:00"]);
    check("*/30 * * * *", "America/Havana", "2026-10-31T23:45:00-04:00", &["2026-11-01T00:00:00-04:00", "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00"]);
    check("30 0 * * *", "America/Havana", "2027-03-13T12:00", &["2027-03-14T00:30:00-04:00", "2027-03-15T00:30:00-04:00"]);
    // Africa/Casablanca: in the 2026f database the Ramadan switches of 2026 (Feb 15 and
    // Mar 22, above) are the last ones; after the Sep 20 switch to +00 there is no transition,
    // so Ramadan 2027 (February) moves nothing: every month's 1st at 02:30 is +00.
    check("30 2 1 * *", "Africa/Casablanca", "2026-12-15T12:00", &[
        "2027-01-01T02:30:00+00:00", "2027-02-01T02:30:00+00:00", "2027-03-01T02:30:00+00:00",
        "2027-04-01T02:30:00+00:00", "2027-05-01T02:30:00+00:00", "2027-06-01T02:30:00+00:00",
    ]);
    check("30 2 * * *", "Africa/Casablanca", "2027-02-06T12:00", &["2027-02-07T02:30:00+00:00", "2027-02-08T02:30:00+00:00", "2027-02-09T02:30:00+00:00"]);
}

// ---------------------------------------------------------------------------------------------
// Every transition of every zone, against an oracle built from the database
// ---------------------------------------------------------------------------------------------

/// Every zone above, DST or not.
fn all_zones() -> impl Iterator<Item = &'static str> {
    TRANSITIONS_2026.iter().map(|(z, _)| *z)
}

fn ts(t: Millis) -> Timestamp {
    Timestamp::from_millisecond(t).unwrap()
}

/// For every transition from 2025 to 2027 in every zone, with fire times derived from the
/// database alone (not from croner):
/// - a fixed-time job at the start, middle and last minute of a gap — daily, and restricted to
///   that very date — fires exactly at the transition instant, once;
/// - a fixed-time job at the start, middle and last minute of an overlap fires once, at the
///   first occurrence, also when recomputed from inside the second pass;
/// - `*/15 * * * *` and `0 * * * *` fire at exactly the real instants whose local minute
///   matches, within three hours either side.
#[test]
fn every_transition_2025_to_2027_follows_the_dst_rules() {
    let mut checked = 0;
    for zone_name in all_zones() {
        let tz = zone(zone_name);
        for (tr, before, after) in transitions(zone_name, "2025-01-01T00:00:00Z", "2028-01-01T00:00:00Z") {
            let t = tr.as_millisecond();
            let delta = i64::from(after.seconds() - before.seconds());
            // Wall clock at the transition in the old offset: the start of a gap, the end of an
            // overlap.
            let wall = before.to_datetime(tr);
            let plus = |dt: DateTime, secs: i64| dt.checked_add(SignedDuration::from_secs(secs)).unwrap();
            let points = |start: DateTime, len: i64| [start, plus(start, len / 2 / 60 * 60), plus(start, len - 60)];
            let exprs = |c: DateTime| {
                [
                    format!("{} {} * * *", c.minute(), c.hour()),
                    format!("{} {} {} {} *", c.minute(), c.hour(), c.day(), c.month()),
                ]
            };
            if delta > 0 {
                for c in points(wall, delta) {
                    for e in exprs(c) {
                        let s = cron(&e, zone_name);
                        let got = s.next_after(t - HOUR_MS);
                        assert_eq!(
                            got.map(|g| local(g, zone_name)),
                            Some(local(t, zone_name)),
                            "{zone_name}: `{e}` ({c} is in the gap at {tr})"
                        );
                        assert!(
                            s.next_after(t).unwrap() > t + 12 * HOUR_MS,
                            "{zone_name}: `{e}` fired twice around {tr}"
                        );
                    }
                }
            } else if delta < 0 {
                let start = plus(wall, delta);
                for c in points(start, -delta) {
                    let first = before.to_timestamp(c).unwrap().as_millisecond();
                    for e in exprs(c) {
                        let s = cron(&e, zone_name);
                        assert_eq!(
                            s.next_after(first - HOUR_MS).map(|g| local(g, zone_name)),
                            Some(local(first, zone_name)),
                            "{zone_name}: `{e}` ({c} is repeated at {tr})"
                        );
                        for from in [first, t - 1000, t] {
                            assert!(
                                s.next_after(from).unwrap() > t + 12 * HOUR_MS,
                                "{zone_name}: `{e}` fired twice around {tr} (from {})",
                                local(from, zone_name)
                            );
                        }
                    }
                }
            }
            for (e, step) in [("*/15 * * * *", 15), ("0 * * * *", 60)] {
                let (from, to) = (t - 3 * HOUR_MS, t + 3 * HOUR_MS);
                let oracle: Vec<Millis> = (from / 60_000 + 1..=to / 60_000)
                    .map(|m| m * 60_000)
                    .filter(|&m| ts(m).to_zoned(tz.clone()).minute() % step == 0)
                    .collect();
                let s = cron(e, zone_name);
                let got: Vec<Millis> =
                    run(|x| s.next_after(x), from, oracle.len() + 1).into_iter().filter(|&x| x <= to).collect();
                assert_eq!(
                    got.iter().map(|&x| local(x, zone_name)).collect::<Vec<_>>(),
                    oracle.iter().map(|&x| local(x, zone_name)).collect::<Vec<_>>(),
                    "{zone_name}: `{e}` around {tr}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} transitions");
}

// ---------------------------------------------------------------------------------------------
// A long run
// ---------------------------------------------------------------------------------------------

/// 10,000 fires of `*/7 * * * *` in Australia/Lord_Howe, twice: across the April overlap and
/// across the October gap. Strictly increasing, every one matches (local minute divisible by
/// 7, second 0), and none is missing (every real minute that matches is there).
#[test]
fn ten_thousand_fires_in_lord_howe_are_strictly_increasing_and_all_match() {
    let z = "Australia/Lord_Howe";
    let tz = zone(z);
    let s = cron("*/7 * * * *", z);
    for start in ["2026-03-20T00:00:00Z", "2026-09-15T00:00:00Z"] {
        let from = at(start, z);
        let fires = run(|t| s.next_after(t), from, 10_000);
        assert_eq!(fires.len(), 10_000);
        assert!(fires.windows(2).all(|w| w[0] < w[1]));
        for &f in &fires {
            let l = ts(f).to_zoned(tz.clone());
            assert!(l.minute() % 7 == 0 && l.second() == 0 && l.subsec_nanosecond() == 0, "{}", local(f, z));
        }
        let last = *fires.last().unwrap();
        let oracle: Vec<Millis> = (from / 60_000 + 1..=last / 60_000)
            .map(|m| m * 60_000)
            .filter(|&m| ts(m).to_zoned(tz.clone()).minute() % 7 == 0)
            .collect();
        assert_eq!(fires, oracle, "from {start}");
        // The run really crosses the transition.
        let spans_transition = !transitions(z, start, &ts(last).to_string()).is_empty();
        assert!(spans_transition, "from {start}");
    }
}

// ---------------------------------------------------------------------------------------------
// Month ends and leap days
// ---------------------------------------------------------------------------------------------

#[rustfmt::skip]
#[test]
fn cron_month_ends_leap_days_l_w_and_hash() {
    // The 31st: months without one are skipped.
    check("0 0 31 * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-31T00:00:00+00:00", "2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00", "2026-10-31T00:00:00+00:00", "2026-12-31T00:00:00+00:00"]);
    check("0 0 30 * *", "UTC", "2026-01-15T00:00:00Z", &["2026-01-30T00:00:00+00:00", "2026-03-30T00:00:00+00:00", "2026-04-30T00:00:00+00:00"]);
    // In a DST zone, local midnight of the 31st, whatever the offset.
    check("0 0 31 * *", "Europe/Berlin", "2026-01-01T00:00:00Z", &["2026-01-31T00:00:00+01:00", "2026-03-31T00:00:00+02:00", "2026-05-31T00:00:00+02:00"]);
    // Feb 29: leap years only, and 2100 is not one (an eight-year wait).
    check("0 0 29 2 *", "UTC", "2024-03-01T00:00:00Z", &["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]);
    check("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", &["2104-02-29T00:00:00+00:00"]);
    check("0 0 29 2 *", "Pacific/Auckland", "2026-01-01T00:00", &["2028-02-29T00:00:00+13:00"]);
    // L: the last day of each month, Feb 29 in leap years.
    check("0 12 L * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-31T12:00:00+00:00", "2026-02-28T12:00:00+00:00", "2026-03-31T12:00:00+00:00", "2026-04-30T12:00:00+00:00"]);
    check("0 12 L 2 *", "UTC", "2027-03-01T00:00:00Z", &["2028-02-29T12:00:00+00:00", "2029-02-28T12:00:00+00:00"]);
    // 1W: Aug 1 2026 is a Saturday → Monday 3rd (never back into July); Nov 1 is a Sunday →
    // Monday 2nd.
    check("0 9 1W * *", "UTC", "2026-07-15T00:00:00Z", &["2026-08-03T09:00:00+00:00", "2026-09-01T09:00:00+00:00", "2026-10-01T09:00:00+00:00", "2026-11-02T09:00:00+00:00"]);
    // 31W: Jan 31 is a Saturday → Friday 30th; May 31 a Sunday → Friday 29th (never into
    // June); Oct 31 a Saturday → Friday 30th; months without a 31st are skipped.
    check("0 9 31W * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-30T09:00:00+00:00", "2026-03-31T09:00:00+00:00", "2026-05-29T09:00:00+00:00", "2026-07-31T09:00:00+00:00", "2026-08-31T09:00:00+00:00", "2026-10-30T09:00:00+00:00", "2026-12-31T09:00:00+00:00"]);
    // 15W: Aug 15 is a Saturday → Friday 14th.
    check("0 12 15W 8 *", "UTC", "2026-01-01T00:00:00Z", &["2026-08-14T12:00:00+00:00"]);
    // LW: the last weekday of each month.
    check("0 9 LW * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-30T09:00:00+00:00", "2026-02-27T09:00:00+00:00", "2026-03-31T09:00:00+00:00", "2026-04-30T09:00:00+00:00", "2026-05-29T09:00:00+00:00", "2026-06-30T09:00:00+00:00", "2026-07-31T09:00:00+00:00", "2026-08-31T09:00:00+00:00"]);
    // 5#5: the fifth Friday, only in months that have one.
    check("0 9 * * 5#5", "UTC", "2026-01-01T00:00:00Z", &["2026-01-30T09:00:00+00:00", "2026-05-29T09:00:00+00:00", "2026-07-31T09:00:00+00:00", "2026-10-30T09:00:00+00:00", "2027-01-29T09:00:00+00:00"]);
    check("0 9 * * FRI#5", "UTC", "2026-01-01T00:00:00Z", &["2026-01-30T09:00:00+00:00", "2026-05-29T09:00:00+00:00"]);
    check("0 9 * * MON#1", "UTC", "2026-07-15T00:00:00Z", &["2026-08-03T09:00:00+00:00", "2026-09-07T09:00:00+00:00"]);
    // A fifth Friday in February needs Feb 29 to be a Friday: 2036, then 2064.
    check("0 9 * 2 5#5", "UTC", "2026-01-01T00:00:00Z", &["2036-02-29T09:00:00+00:00", "2064-02-29T09:00:00+00:00"]);
    // 5L: the last Friday.
    check("0 9 * * 5L", "UTC", "2026-01-01T00:00:00Z", &["2026-01-30T09:00:00+00:00", "2026-02-27T09:00:00+00:00", "2026-03-27T09:00:00+00:00"]);
    // The EU transitions fall on the last Sunday: `0L` meets the gap and the overlap.
    check("30 2 * * 0L", "Europe/Berlin", "2026-03-01T00:00", &["2026-03-29T03:00:00+02:00", "2026-04-26T02:30:00+02:00"]);
    check("30 2 * * 0L", "Europe/Berlin", "2026-10-01T00:00", &["2026-10-25T02:30:00+02:00", "2026-11-29T02:30:00+01:00"]);
    // The US transitions fall on the second Sunday of March and the first of November.
    check("30 2 * * 0#2", "America/New_York", "2026-03-01T00:00", &["2026-03-08T03:00:00-04:00", "2026-04-12T02:30:00-04:00"]);
    check("30 1 * * SUN#1", "America/New_York", "2026-10-15T00:00", &["2026-11-01T01:30:00-04:00", "2026-12-06T01:30:00-05:00"]);
}

#[rustfmt::skip]
#[test]
fn interval_month_ends_and_leap_days() {
    // Monthly from Jan 31: clamped to each month's last day, never drifting.
    check_every(1, Period::Month, "2026-01-31T09:30:00Z", "UTC", "2026-01-31T09:30:00Z", &["2026-02-28T09:30:00+00:00", "2026-03-31T09:30:00+00:00", "2026-04-30T09:30:00+00:00", "2026-05-31T09:30:00+00:00", "2026-06-30T09:30:00+00:00"]);
    check_every(1, Period::Month, "2028-01-31T09:30:00Z", "UTC", "2028-01-31T09:30:00Z", &["2028-02-29T09:30:00+00:00", "2028-03-31T09:30:00+00:00"]);
    // From the 30th: only February clamps.
    check_every(1, Period::Month, "2026-01-30T00:00:00Z", "UTC", "2026-01-30T00:00:00Z", &["2026-02-28T00:00:00+00:00", "2026-03-30T00:00:00+00:00"]);
    // Monthly from Feb 29: the 29th every month, Feb 28 in common years.
    check_every(1, Period::Month, "2024-02-29T00:00:00Z", "UTC", "2025-01-15T00:00:00Z", &["2025-01-29T00:00:00+00:00", "2025-02-28T00:00:00+00:00", "2025-03-29T00:00:00+00:00"]);
    // Every 12 months from Feb 29: Feb 28, back to Feb 29 in the next leap year.
    check_every(12, Period::Month, "2024-02-29T00:00:00Z", "UTC", "2024-02-29T00:00:00Z", &["2025-02-28T00:00:00+00:00", "2026-02-28T00:00:00+00:00", "2027-02-28T00:00:00+00:00", "2028-02-29T00:00:00+00:00", "2029-02-28T00:00:00+00:00"]);
    // 2100 is not a leap year.
    check_every(12, Period::Month, "2096-02-29T00:00:00Z", "UTC", "2099-06-01T00:00:00Z", &["2100-02-28T00:00:00+00:00", "2101-02-28T00:00:00+00:00"]);
    // Every 3 months from Nov 30.
    check_every(3, Period::Month, "2025-11-30T12:00:00Z", "UTC", "2025-11-30T12:00:00Z", &["2026-02-28T12:00:00+00:00", "2026-05-30T12:00:00+00:00", "2026-08-30T12:00:00+00:00", "2026-11-30T12:00:00+00:00"]);
    // Months are counted in UTC (spec): the local date moves in a zone across the date line.
    check_every(1, Period::Month, "2026-01-31T23:30:00Z", "Pacific/Auckland", "2026-02-01T00:00:00Z", &["2026-03-01T12:30:00+13:00", "2026-04-01T12:30:00+13:00", "2026-05-01T11:30:00+12:00"]);
    // Computed from far later: still on the anchor's grid.
    check_every(1, Period::Month, "2026-01-31T09:30:00Z", "UTC", "2031-02-28T09:30:00Z", &["2031-03-31T09:30:00+00:00"]);
    // Days are fixed 24 h (spec): across the New York gap the local time moves by an hour.
    check_every(1, Period::Day, "2026-03-07T12:00:00Z", "America/New_York", "2026-03-07T12:00:00Z", &["2026-03-08T08:00:00-04:00", "2026-03-09T08:00:00-04:00"]);
    // Hours across the Lord Howe overlap: every real hour, local times repeat.
    check_every(1, Period::Hour, "2026-04-04T00:00:00Z", "Australia/Lord_Howe", "2026-04-04T13:30:00Z", &["2026-04-05T01:00:00+11:00", "2026-04-05T01:30:00+10:30", "2026-04-05T02:30:00+10:30"]);
}

// ---------------------------------------------------------------------------------------------
// Rules with preview
// ---------------------------------------------------------------------------------------------

fn cron_driver(expression: &str, zone_name: &str) -> Driver {
    Driver::Cron(cron(expression, zone_name))
}

#[rustfmt::skip]
#[test]
fn preview_time_window_wrapping_midnight_across_dst() {
    // Hourly in Berlin, only 22:00–06:00 Berlin time.
    let night = [Rule::TimeWindow { start_seconds: 22 * 3600, end_seconds: 6 * 3600, timezone: "Europe/Berlin".into() }];
    let hourly = cron_driver("0 * * * *", "Europe/Berlin");
    let limit = [night[0].clone(), Rule::Termination { max_runs: Some(12), expire_at_ms: None }];
    // Fall back: 02:00 happens twice, both inside the window: 9 fires that night.
    check_preview(&hourly, &limit, "Europe/Berlin", "2026-10-24T12:00", 0, &[
        "2026-10-24T22:00:00+02:00", "2026-10-24T23:00:00+02:00", "2026-10-25T00:00:00+02:00",
        "2026-10-25T01:00:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00",
        "2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00", "2026-10-25T05:00:00+01:00",
        "2026-10-25T22:00:00+01:00", "2026-10-25T23:00:00+01:00", "2026-10-26T00:00:00+01:00",
    ]);
    // Spring forward: 02:00 does not exist: 7 fires that night.
    let limit = [night[0].clone(), Rule::Termination { max_runs: Some(8), expire_at_ms: None }];
    check_preview(&hourly, &limit, "Europe/Berlin", "2026-03-28T12:00", 0, &[
        "2026-03-28T22:00:00+01:00", "2026-03-28T23:00:00+01:00", "2026-03-29T00:00:00+01:00",
        "2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00",
        "2026-03-29T05:00:00+02:00", "2026-03-29T22:00:00+02:00",
    ]);
    // A UTC-anchored hourly interval with a 23:00–02:00 New York window: the repeated 01:00 is
    // inside the window twice; 02:00 (end) is excluded.
    let every_hour = Driver::Interval(IntervalSpec { value: 1, period: Period::Hour, anchor_ms: at("2026-10-31T00:00:00Z", "UTC"), anchor_fires: false, one_off: false });
    let ny_night = [
        Rule::TimeWindow { start_seconds: 23 * 3600, end_seconds: 2 * 3600, timezone: "America/New_York".into() },
        Rule::Termination { max_runs: Some(5), expire_at_ms: None },
    ];
    check_preview(&every_hour, &ny_night, "America/New_York", "2026-11-01T00:00:00Z", 0, &[
        "2026-10-31T23:00:00-04:00", "2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00", "2026-11-01T23:00:00-05:00",
    ]);
    // A window in the 30-minute Lord Howe zone, 01:30–02:00 (exactly the repeated half hour):
    // `*/10` fires there six times that night, three on each pass.
    let lh = [
        Rule::TimeWindow { start_seconds: 5400, end_seconds: 7200, timezone: "Australia/Lord_Howe".into() },
        Rule::Termination { max_runs: Some(7), expire_at_ms: None },
    ];
    check_preview(&cron_driver("*/10 * * * *", "Australia/Lord_Howe"), &lh, "Australia/Lord_Howe", "2026-04-05T00:00", 0, &[
        "2026-04-05T01:30:00+11:00", "2026-04-05T01:40:00+11:00", "2026-04-05T01:50:00+11:00",
        "2026-04-05T01:30:00+10:30", "2026-04-05T01:40:00+10:30", "2026-04-05T01:50:00+10:30",
        "2026-04-06T01:30:00+10:30",
    ]);
}

#[rustfmt::skip]
#[test]
fn preview_exclusion_dates_across_the_date_line() {
    // A Los Angeles 17:00 job with Christmas excluded in Auckland: 17:00 PST on Dec 24 is
    // already Dec 25 in Auckland (blocked), 17:00 on Dec 25 is Dec 26 there (allowed).
    let xmas_nz = [
        Rule::Exclusion { dates: vec![date("2026-12-25")], timezone: "Pacific/Auckland".into() },
        Rule::Termination { max_runs: Some(4), expire_at_ms: None },
    ];
    check_preview(&cron_driver("0 17 * * *", "America/Los_Angeles"), &xmas_nz, "America/Los_Angeles", "2026-12-22T00:00", 0, &[
        "2026-12-22T17:00:00-08:00", "2026-12-23T17:00:00-08:00",
        "2026-12-25T17:00:00-08:00", "2026-12-26T17:00:00-08:00",
    ]);
    // The same dates excluded in Los Angeles block the other day.
    let xmas_la = [
        Rule::Exclusion { dates: vec![date("2026-12-25")], timezone: "America/Los_Angeles".into() },
        Rule::Termination { max_runs: Some(3), expire_at_ms: None },
    ];
    check_preview(&cron_driver("0 17 * * *", "America/Los_Angeles"), &xmas_la, "America/Los_Angeles", "2026-12-23T00:00", 0, &[
        "2026-12-23T17:00:00-08:00", "2026-12-24T17:00:00-08:00", "2026-12-26T17:00:00-08:00",
    ]);
    // The Auckland spring-forward day (Sep 27, 23 hours long) excluded, for an hourly UTC job:
    // all 23 instants of that local day are blocked, the next fire is Auckland midnight of the
    // 28th (11:00 UTC).
    let gap_day = [
        Rule::Exclusion { dates: vec![date("2026-09-27")], timezone: "Pacific/Auckland".into() },
        Rule::Termination { max_runs: Some(3), expire_at_ms: None },
    ];
    check_preview(&cron_driver("0 * * * *", "UTC"), &gap_day, "Pacific/Auckland", "2026-09-26T10:30:00Z", 0, &[
        "2026-09-26T23:00:00+12:00", "2026-09-28T00:00:00+13:00", "2026-09-28T01:00:00+13:00",
    ]);
    let blocked = preview(&cron_driver("0 * * * *", "UTC"), &gap_day[..1], at("2026-09-26T11:30:00Z", "UTC"), 1000, 0);
    assert_eq!(blocked.iter().filter(|&&t| t < at("2026-09-28T00:00", "Pacific/Auckland")).count(), 0);
    // The Auckland fall-back day (Apr 5, 25 hours long) excluded with the zone's own daily
    // job: the 02:30 of that day (in the overlap) is blocked, the days around are not.
    let long_day = [Rule::Exclusion { dates: vec![date("2026-04-05")], timezone: "Pacific/Auckland".into() }, Rule::Termination { max_runs: Some(2), expire_at_ms: None }];
    check_preview(&cron_driver("30 2 * * *", "Pacific/Auckland"), &long_day, "Pacific/Auckland", "2026-04-04T00:00", 0, &[
        "2026-04-04T02:30:00+13:00", "2026-04-06T02:30:00+12:00",
    ]);
}

#[rustfmt::skip]
#[test]
fn preview_termination_by_count_and_expiry() {
    // A 02:30 New York job across the Mar 8 gap (that day it runs at 03:00).
    let ny = cron_driver("30 2 * * *", "America/New_York");
    let from = "2026-03-06T12:00";
    // Count first.
    let both = [Rule::Termination { max_runs: Some(3), expire_at_ms: Some(at("2026-03-20T00:00:00Z", "UTC")) }];
    check_preview(&ny, &both, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
    // Expiry first; a fire exactly at expire_at does not happen.
    let both = [Rule::Termination { max_runs: Some(10), expire_at_ms: Some(at("2026-03-09T02:30:00-04:00", "UTC")) }];
    check_preview(&ny, &both, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00"]);
    // Expiry at the gap's fire instant cuts it too.
    let both = [Rule::Termination { max_runs: Some(10), expire_at_ms: Some(at("2026-03-08T07:00:00Z", "UTC")) }];
    check_preview(&ny, &both, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00"]);
    // Two termination rules combine to the strictest of each; runs already done count.
    let two = [
        Rule::Termination { max_runs: Some(5), expire_at_ms: None },
        Rule::Termination { max_runs: None, expire_at_ms: Some(at("2026-03-11T00:00:00Z", "UTC")) },
    ];
    check_preview(&ny, &two, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]);
    check_preview(&ny, &two, "America/New_York", from, 3, &["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00"]);
    check_preview(&ny, &two, "America/New_York", from, 5, &[]);
    // Blocked fires do not count as runs: excluding the gap day shifts the three runs.
    let excl = [
        Rule::Exclusion { dates: vec![date("2026-03-08")], timezone: "America/New_York".into() },
        Rule::Termination { max_runs: Some(3), expire_at_ms: Some(at("2026-04-01T00:00:00Z", "UTC")) },
    ];
    check_preview(&ny, &excl, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]);
    // ... but the expiry still ends the list while fires are blocked.
    let excl = [
        Rule::Exclusion { dates: vec![date("2026-03-08"), date("2026-03-09")], timezone: "America/New_York".into() },
        Rule::Termination { max_runs: Some(3), expire_at_ms: Some(at("2026-03-10T00:00:00Z", "UTC")) },
    ];
    check_preview(&ny, &excl, "America/New_York", from, 0, &["2026-03-07T02:30:00-05:00"]);
    // A Lord Howe overlap with count and expiry: `*/15` from 01:00, three runs before the
    // expiry at the second 01:30 (+10:30) — the count (5) is not reached.
    let lh = cron_driver("*/15 * * * *", "Australia/Lord_Howe");
    let both = [Rule::Termination { max_runs: Some(5), expire_at_ms: Some(at("2026-04-05T01:30:00+10:30", "UTC")) }];
    check_preview(&lh, &both, "Australia/Lord_Howe", "2026-04-05T01:10:00+11:00", 0, &["2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00", "2026-04-05T01:45:00+11:00"]);
}

#[test]
fn one_off_cron_fires_at_the_next_match_only_also_in_a_gap() {
    let mut spec = cron("30 2 * * *", "America/New_York");
    spec.one_off = true;
    let d = Driver::Cron(spec);
    assert_eq!(
        preview(&d, &[], at("2026-03-07T12:00", "America/New_York"), 5, 0)
            .into_iter()
            .map(|t| local(t, "America/New_York"))
            .collect::<Vec<_>>(),
        ["2026-03-08T03:00:00-04:00"]
    );
}
