//! `get_timezones` / `get_timezone_options` (compat §2.7): the IANA zone names the API accepts.

use serde_json::Value;

use crate::support::{TestDaemon, assert_ok};

fn zones(d: &TestDaemon, action: &str) -> (Value, Vec<String>) {
    let r = d.client().get(action);
    assert_ok(&r);
    let names: Vec<String> = serde_json::from_value(r.json["data"].clone())
        .unwrap_or_else(|e| panic!("{action}: data is not a list of names ({e}): {}", r.text));
    (r.json, names)
}

#[test]
fn get_timezones_lists_the_iana_zones() {
    let d = TestDaemon::start();
    let (body, names) = zones(&d, "get_timezones");
    assert!(names.len() > 400, "only {} zones", names.len());
    for z in ["America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata", "Europe/London", "America/Vancouver"] {
        assert!(names.iter().any(|n| n == z), "{z} missing");
    }
    for z in ["Factory", "localtime", "posixrules"] {
        assert!(!names.iter().any(|n| n == z), "{z} must not be offered");
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "the list is sorted and has no duplicates");
    assert!(names.iter().all(|n| !n.is_empty() && !n.starts_with('/') && !n.contains(' ')), "odd names");
    // The tzdb version matches /readyz.
    let ready = d.client().plain_get("/readyz");
    assert_eq!(body["tzdb_version"], ready.json["tzdb"]["version"], "{}", ready.text);

    // The alias answers the same.
    let (alias_body, alias) = zones(&d, "get_timezone_options");
    assert_eq!(alias, names);
    assert_eq!(alias_body, body);

    // Every listed zone is accepted where a zone is taken (a brand's time zone), spot-checked.
    for z in ["Australia/Lord_Howe", "America/New_York"] {
        let (code, out, err) = d.cli(&["brand", "create", "--name", z, "--timezone", z, "--json"]);
        assert_eq!(code, 0, "{z}: {out}{err}");
    }
}
