//! A schedule's driver in words ("every 5 minutes", "at 07:00 Europe/Berlin on weekdays",
//! "at sunrise at 59.91, 10.75 −15 min"), from the `driver` object that
//! `get_single_schedule_details` answers (docs/api.md). Pure: no store, no clock.

use serde_json::Value;

fn text<'a>(d: &'a Value, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `n thing` / `n things` (`1 minute`, `5 minutes`).
fn count(n: i64, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// A signed offset in minutes when whole (`−15 min`, `+90 min`), else in seconds (`+30 s`).
/// The minus sign is U+2212.
fn offset(seconds: i64) -> String {
    let sign = if seconds < 0 { "\u{2212}" } else { "+" };
    let abs = seconds.unsigned_abs();
    if abs.is_multiple_of(60) { format!("{sign}{} min", abs / 60) } else { format!("{sign}{abs} s") }
}

/// The driver of a schedule in words; the `driver` object of the schedule's details (its
/// `type` and the fields of that type). Unknown or partial shapes still give a sentence (the
/// driver's type and what is known), never an error.
pub fn describe(driver: &Value) -> String {
    let once = driver.get("is_one_off").and_then(Value::as_bool).unwrap_or(false);
    match text(driver, "type").unwrap_or("") {
        "interval" => {
            let value = driver.get("interval_value").and_then(Value::as_i64).unwrap_or(1);
            let period = text(driver, "interval_period").unwrap_or("second");
            let every = if value == 1 { format!("every {period}") } else { format!("every {}", count(value, period)) };
            if once { format!("once, {} from its start", count(value, period)) } else { every }
        }
        "cron" => {
            let expr = text(driver, "cron_expression").unwrap_or("");
            let zone = text(driver, "cron_timezone").unwrap_or("UTC");
            let words = cron_words(expr, zone).unwrap_or_else(|| format!("cron \u{201c}{expr}\u{201d} in {zone}"));
            if once { format!("once, {words}") } else { words }
        }
        "clocked" => {
            let at = text(driver, "clocked_run_at").unwrap_or("?").replacen('T', " ", 1);
            match text(driver, "clocked_timezone") {
                Some(zone) => format!("once at {at} {zone}"),
                None => format!("once at {at}"),
            }
        }
        "solar" => {
            let event = text(driver, "solar_event").unwrap_or("sunrise").replace('_', " ");
            let lat = text(driver, "solar_lat").unwrap_or("?");
            let lon = text(driver, "solar_long").unwrap_or("?");
            let off = driver.get("solar_offset").and_then(Value::as_i64).unwrap_or(0);
            let mut s = format!("at {event} at {lat}, {lon}");
            if off != 0 {
                s.push(' ');
                s.push_str(&offset(off));
            }
            if once { format!("once, {s}") } else { s }
        }
        "debounce" => {
            let window = driver.get("debounce_seconds").and_then(Value::as_i64).unwrap_or(0);
            let mode = text(driver, "debounce_mode").unwrap_or("trailing");
            let mut s = match mode {
                "leading" => format!("on the first trigger, then quiet for {}", count(window, "second")),
                _ => format!("{} after the last trigger", count(window, "second")),
            };
            if let Some(max) = driver.get("max_wait_seconds").and_then(Value::as_i64) {
                s.push_str(&format!(", at most {} after the first", count(max, "second")));
            }
            s
        }
        "" => "unknown driver".to_string(),
        other => format!("{other} schedule"),
    }
}

const DAY_NAMES: [&str; 7] = ["Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"];

fn number(field: &str, max: u32) -> Option<u32> {
    field.parse::<u32>().ok().filter(|n| *n <= max)
}

/// `on weekdays`, `on weekends`, `on Mondays and Fridays`, `every day`; `None` for a
/// day-of-week field in another form.
fn weekdays(field: &str) -> Option<String> {
    let field = field.to_ascii_uppercase();
    let mut days = [false; 7];
    if field == "*" || field == "?" {
        return Some("every day".into());
    }
    let day = |s: &str| -> Option<usize> {
        const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        NAMES.iter().position(|n| *n == s).or_else(|| number(s, 7).map(|n| n as usize % 7))
    };
    for part in field.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, number(b, 7).map(|n| n as usize).or_else(|| day(b))?);
                if a > b {
                    return None;
                }
                for d in a..=b {
                    days[d % 7] = true;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    let on: Vec<usize> = (0..7).filter(|d| days[*d]).collect();
    Some(match on.as_slice() {
        [1, 2, 3, 4, 5] => "on weekdays".into(),
        [0, 6] => "on weekends".into(),
        all if all.len() == 7 => "every day".into(),
        [one] => format!("on {}", DAY_NAMES[*one]),
        many => {
            let names: Vec<&str> = many.iter().map(|d| DAY_NAMES[*d]).collect();
            let (last, rest) = names.split_last()?;
            format!("on {} and {last}", rest.join(", "))
        }
    })
}

/// The common cron shapes in words; `None` for the others (shown as the expression).
fn cron_words(expr: &str, zone: &str) -> Option<String> {
    let expanded = match expr.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let f: Vec<&str> = expanded.split_whitespace().collect();
    let [min, hour, dom, month, dow] = f.as_slice() else { return None };
    if *month != "*" {
        return None;
    }
    let days = if *dom == "*" || *dom == "?" {
        weekdays(dow)?
    } else if *dow == "*" || *dow == "?" {
        format!("on day {} of the month", number(dom, 31)?)
    } else {
        return None;
    };
    let every_day = days == "every day";
    let suffix = if every_day { String::new() } else { format!(" {days}") };
    if let (Some(m), Some(h)) = (number(min, 59), number(hour, 23)) {
        let at = format!("at {h:02}:{m:02} {zone}");
        return Some(if every_day { format!("{at} every day") } else { format!("{at}{suffix}") });
    }
    if *hour == "*" {
        if *min == "*" {
            return Some(format!("every minute{suffix}"));
        }
        if let Some(step) = min.strip_prefix("*/").and_then(|s| number(s, 59)) {
            return Some(format!("every {}{suffix}", count(i64::from(step), "minute")));
        }
        if let Some(m) = number(min, 59) {
            return Some(format!("every hour at :{m:02}{suffix}"));
        }
    }
    if let (Some(step), Some(m)) = (hour.strip_prefix("*/").and_then(|s| number(s, 23)), number(min, 59)) {
        return Some(format!("every {} at :{m:02} {zone}{suffix}", count(i64::from(step), "hour")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intervals() {
        let d = json!({"type": "interval", "interval_value": 5, "interval_period": "minute", "is_one_off": false});
        assert_eq!(describe(&d), "every 5 minutes");
        let d = json!({"type": "interval", "interval_value": 1, "interval_period": "hour", "is_one_off": false});
        assert_eq!(describe(&d), "every hour");
        let d = json!({"type": "interval", "interval_value": 30, "interval_period": "second", "is_one_off": true});
        assert_eq!(describe(&d), "once, 30 seconds from its start");
    }

    #[test]
    fn crons_in_words_with_their_zone() {
        let cron = |e: &str, z: &str| json!({"type": "cron", "cron_expression": e, "cron_timezone": z});
        assert_eq!(describe(&cron("0 7 * * 1-5", "Europe/Berlin")), "at 07:00 Europe/Berlin on weekdays");
        assert_eq!(describe(&cron("30 18 * * *", "UTC")), "at 18:30 UTC every day");
        assert_eq!(describe(&cron("0 9 * * sat,sun", "Europe/Oslo")), "at 09:00 Europe/Oslo on weekends");
        assert_eq!(describe(&cron("15 8 * * 1,3,5", "UTC")), "at 08:15 UTC on Mondays, Wednesdays and Fridays");
        assert_eq!(describe(&cron("0 6 1 * *", "UTC")), "at 06:00 UTC on day 1 of the month");
        assert_eq!(describe(&cron("*/5 * * * *", "UTC")), "every 5 minutes");
        assert_eq!(describe(&cron("* * * * *", "UTC")), "every minute");
        assert_eq!(describe(&cron("5 * * * MON", "UTC")), "every hour at :05 on Mondays");
        assert_eq!(describe(&cron("0 */2 * * *", "Asia/Tokyo")), "every 2 hours at :00 Asia/Tokyo");
        assert_eq!(describe(&cron("@daily", "UTC")), "at 00:00 UTC every day");
        assert_eq!(describe(&cron("0 7 * * 0-6", "UTC")), "at 07:00 UTC every day");
        assert_eq!(describe(&cron("0 7 * * 7", "UTC")), "at 07:00 UTC on Sundays");
    }

    #[test]
    fn unusual_crons_are_shown_as_the_expression() {
        let d = json!({"type": "cron", "cron_expression": "0 7 1 6 *", "cron_timezone": "UTC"});
        assert_eq!(describe(&d), "cron \u{201c}0 7 1 6 *\u{201d} in UTC");
        let d = json!({"type": "cron", "cron_expression": "0 0 7 L * ?", "cron_timezone": "UTC"});
        assert_eq!(describe(&d), "cron \u{201c}0 0 7 L * ?\u{201d} in UTC");
        let d = json!({"type": "cron", "cron_expression": "0 7 * * 5-1", "cron_timezone": "UTC"});
        assert!(describe(&d).starts_with("cron "), "a reversed range is not put in words");
    }

    #[test]
    fn clocked_solar_and_debounce() {
        let d =
            json!({"type": "clocked", "clocked_run_at": "2026-12-24T18:00:00", "clocked_timezone": "Europe/Berlin"});
        assert_eq!(describe(&d), "once at 2026-12-24 18:00:00 Europe/Berlin");
        let d = json!({"type": "solar", "solar_event": "sunrise", "solar_lat": "59.91", "solar_long": "10.75", "solar_offset": -900});
        assert_eq!(describe(&d), "at sunrise at 59.91, 10.75 \u{2212}15 min");
        let d = json!({"type": "solar", "solar_event": "civil_dusk", "solar_lat": "1", "solar_long": "2", "solar_offset": 30});
        assert_eq!(describe(&d), "at civil dusk at 1, 2 +30 s");
        let d =
            json!({"type": "solar", "solar_event": "sunset", "solar_lat": "1", "solar_long": "2", "solar_offset": 0});
        assert_eq!(describe(&d), "at sunset at 1, 2");
        let d =
            json!({"type": "debounce", "debounce_seconds": 30, "debounce_mode": "trailing", "max_wait_seconds": 300});
        assert_eq!(describe(&d), "30 seconds after the last trigger, at most 300 seconds after the first");
        let d =
            json!({"type": "debounce", "debounce_seconds": 10, "debounce_mode": "leading", "max_wait_seconds": null});
        assert_eq!(describe(&d), "on the first trigger, then quiet for 10 seconds");
    }

    #[test]
    fn odd_shapes_still_give_words() {
        assert_eq!(describe(&json!({})), "unknown driver");
        assert_eq!(describe(&json!({"type": "lunar"})), "lunar schedule");
        assert_eq!(describe(&json!(null)), "unknown driver");
    }
}
