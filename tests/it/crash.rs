//! Crash safety with the real binary: 200 schedules firing every second to a loopback
//! receiver, `kill -9` at random moments ten times, restart each time. A Chronos-style checker
//! then matches every due instant to a received request or to a recorded `missed`/`skipped`
//! execution, and checks that duplicates carry the original's Idempotency-Key.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use crate::receiver::Receiver;
use crate::support::TestDaemon;

const SCHEDULES: usize = 200;
const KILLS: usize = 10;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[allow(clippy::disallowed_methods)] // the test compares against the real clock the daemon uses
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[test]
fn kill_9_ten_times_loses_no_fire() {
    let seed = now_ms() as u64;
    println!("crash test seed {seed}");
    let mut rng = Lcg(seed);
    let rx = Receiver::start();
    let mut d = TestDaemon::start_with("[api]\npage_size = 1000\nrate_limit_per_minute = 0\n");
    let api = d.client();
    let domain = api.add_domain(&rx.host());
    let template = api.add_template(&domain, "crash");

    // A common anchor a few seconds ahead, on a whole second: instants are start + k s.
    let start = (now_ms() / 1000 + 4) * 1000;
    let start_iso = jiff::Timestamp::from_millisecond(start).unwrap().to_string();
    let mut ids = Vec::new();
    for _ in 0..SCHEDULES {
        let r = api.post(
            "add_interval_schedule",
            json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
                   "interval_period": "second", "is_one_off_task": false, "start_at": start_iso}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        ids.push(r.json["schedule_uuid"].as_str().unwrap().to_string());
    }

    for k in 0..KILLS {
        std::thread::sleep(Duration::from_millis(3000 + rng.next(7000)));
        d.kill9();
        let down = rng.next(2500);
        println!("kill {k}: down {down} ms");
        std::thread::sleep(Duration::from_millis(down));
        d.restart();
    }
    std::thread::sleep(Duration::from_secs(4));
    // Every instant up to here must be accounted for once the daemon has had time to deliver.
    let horizon = now_ms() - 1000;
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(d.stop(), Some(0), "graceful stop");

    // What the receiver got, by idempotency key.
    let mut received: HashMap<String, usize> = HashMap::new();
    for r in rx.requests() {
        let key = r.header("idempotency-key").expect("every request carries Idempotency-Key").to_string();
        assert_eq!(r.header("webhook-id"), Some(key.as_str()), "webhook-id equals the Idempotency-Key");
        *received.entry(key).or_default() += 1;
    }
    let valid: HashSet<String> = ids
        .iter()
        .flat_map(|id| {
            let simple = id.replace('-', "");
            (0..)
                .map(move |k| start + k * 1000)
                .take_while(|t| *t <= horizon + 60_000)
                .map(move |t| format!("hw_{simple}_{t}"))
        })
        .collect();
    for key in received.keys() {
        assert!(valid.contains(key), "a request carried an unknown key {key}");
    }

    d.restart();
    let api = d.client();
    let mut missing = Vec::new();
    let (mut fired, mut missed, mut duplicates) = (0usize, 0usize, 0usize);
    for id in &ids {
        let simple = id.replace('-', "");
        let mut accounted: HashSet<i64> = HashSet::new();
        for status in ["missed", "skipped"] {
            let r = api.get(&format!("get_executions_paginated?schedule_uuid={id}&filter_status={status}&page=1"));
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(r.json["meta"]["total_count"].as_u64().unwrap() <= 1000, "more than one page");
            for e in r.json["data"].as_array().unwrap() {
                let at = jiff::Timestamp::strptime("%Y-%m-%dT%H:%M:%S%.fZ", e["scheduled_at"].as_str().unwrap())
                    .map(|t| t.as_millisecond())
                    .unwrap_or_else(|_| {
                        e["scheduled_at"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap().as_millisecond()
                    });
                accounted.insert(at);
                missed += 1;
            }
        }
        let mut t = start;
        while t <= horizon {
            let key = format!("hw_{simple}_{t}");
            match received.get(&key) {
                Some(n) => {
                    fired += 1;
                    duplicates += n - 1;
                }
                None if accounted.contains(&t) => {}
                None => missing.push(format!("{id} @ {t}")),
            }
            t += 1000;
        }
    }
    println!("fired {fired}, missed/skipped {missed}, duplicate deliveries {duplicates}");
    assert!(
        missing.is_empty(),
        "seed {seed}: {} due instants neither delivered nor recorded, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(fired > SCHEDULES * 30, "seed {seed}: only {fired} deliveries");
}
