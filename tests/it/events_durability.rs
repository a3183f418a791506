//! Inbound events under crashes and restarts, against the real binary (product.md §10 and
//! issue 10's acceptance): a `kill -9` in the middle of a burst of ingests, replay and bulk
//! retry jobs restarted mid-way, fan-out to a webhook, a workflow and a debounce schedule,
//! `delay_seconds` across a restart, IP allow-lists, and verification of requests signed by
//! the senders' own reference libraries (`standardwebhooks`, `stripe` from PyPI).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::events::{WAIT, add_source, event_details, event_template, ingest, subscribe};
use crate::receiver::{Receiver, Script};
use crate::support::*;

/// Lists in pages of 1,000; no API or ingest rate limit in the way of a burst.
const CONFIG: &str = "[api]\npage_size = 1000\nrate_limit_per_minute = 0\n[events]\ningest_rate_per_second = 0\n";
/// Bounds a wait for work that takes seconds (thousands of deliveries, a paced job).
const LONG: Duration = Duration::from_secs(90);

fn ms(s: &Value) -> i64 {
    let text = s.as_str().unwrap_or_else(|| panic!("not an instant: {s}"));
    text.parse::<jiff::Timestamp>().unwrap_or_else(|e| panic!("not RFC 3339: {text:?}: {e}")).as_millisecond()
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).expect("instant").strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The hex form ids take in idempotency keys.
fn simple(id: &str) -> String {
    id.replace('-', "")
}

fn key(event: &str, sub: &str) -> String {
    format!("hw_evt_{}_{}", simple(event), simple(sub))
}

fn replay_key(event: &str, sub: &str, job: &str) -> String {
    format!("{}_{}", key(event, sub), simple(job))
}

/// The idempotency keys a receiver got, each with how many requests carried it.
fn keys_at(rx: &Receiver) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in rx.requests() {
        let k = r.header("idempotency-key").unwrap_or_else(|| panic!("no idempotency-key: {:?}", r.headers));
        *out.entry(k.to_string()).or_default() += 1;
    }
    out
}

/// Waits until the receiver has got every key of `want` at least once.
fn wait_keys(rx: &Receiver, want: &HashSet<String>, what: &str) -> HashMap<String, usize> {
    wait_for(what, LONG, || {
        if rx.count() < want.len() {
            return None;
        }
        let got = keys_at(rx);
        want.iter().all(|k| got.contains_key(k)).then_some(got)
    })
}

fn send_event(api: &Api, ty: &str, payload: Value) -> (String, u64) {
    let r = api.post("send_event", json!({"event_type": ty, "payload": payload}));
    assert_eq!(r.status, 200, "{}", r.text);
    (r.json["event_uuid"].as_str().expect("event_uuid").to_string(), r.json["executions_created"].as_u64().expect("n"))
}

/// `meta.total_count` of a list call with its query (`action?a=b`).
fn total(api: &Api, action_and_query: &str) -> u64 {
    let r = api.get(action_and_query);
    assert_eq!(r.status, 200, "{action_and_query}: {}", r.text);
    r.json["meta"]["total_count"].as_u64().unwrap_or_else(|| panic!("no total_count: {}", r.text))
}

fn execution(api: &Api, id: &str) -> Value {
    let r = api.post("get_execution_details", json!({"execution_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["data"].clone()
}

fn job(api: &Api, id: &str) -> Value {
    let r = api.post("get_replay_job", json!({"job_uuid": id}));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["data"].clone()
}

fn wait_job_completed(api: &Api, id: &str) -> Value {
    wait_for("the job to complete", LONG, || {
        let j = job(api, id);
        (j["status"] != "running").then_some(j)
    })
}

/// Runs `f` over `items` on a few threads; results in the items' order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let chunk = items.len().div_ceil(4).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(chunk).map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker")).collect()
    })
}

// ---- 1. kill -9 during a burst ----

const BURST: usize = 5000;
const CLIENTS: usize = 8;
/// Answers received before the kill.
const KILL_AFTER: usize = 2000;

/// What one ingest request got: an event id with a 2xx, or no answer at all.
enum Outcome {
    Answered(String),
    NoAnswer,
}

#[test]
fn kill_9_during_a_burst_of_ingests_keeps_every_answered_event_routed_exactly_once() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let (rx_a, rx_b) = (Receiver::start(), Receiver::start());
    let ta = event_template(&api, &rx_a, json!({"n": "{{ event.body.n }}"}));
    let tb = event_template(&api, &rx_b, json!({"n": "{{ event.body.n }}"}));
    let (source, url) = add_source(&api, json!({"source_name": "burst"}));
    let sa = subscribe(
        &api,
        json!({"subscription_name": "a", "source_uuid": source, "schedule_to": "webhook", "model_to_schedule_uuid": ta}),
    );
    let sb = subscribe(
        &api,
        json!({"subscription_name": "b", "source_uuid": source, "schedule_to": "webhook", "model_to_schedule_uuid": tb}),
    );

    // Several clients post to the one ingest URL until the burst is used up or the daemon dies.
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let outcomes: Arc<Mutex<Vec<(usize, Outcome)>>> = Arc::new(Mutex::new(Vec::new()));
    let full_url = api.url(&url);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, answered, outcomes, url) = (next.clone(), answered.clone(), outcomes.clone(), full_url.clone());
            std::thread::spawn(move || {
                let http =
                    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= BURST {
                        return;
                    }
                    let sent = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(json!({"n": n}).to_string())
                        .send()
                        .and_then(|r| {
                            let status = r.status().as_u16();
                            r.json::<Value>().map(|v| (status, v))
                        });
                    match sent {
                        Ok((status, body)) => {
                            assert_eq!(status, 202, "request {n}: {body}");
                            let id = body["event_uuid"].as_str().expect("event_uuid").to_string();
                            outcomes.lock().unwrap().push((n, Outcome::Answered(id)));
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            outcomes.lock().unwrap().push((n, Outcome::NoAnswer));
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    wait_for("the first answers of the burst", LONG, || (answered.load(Ordering::SeqCst) >= KILL_AFTER).then_some(()));
    d.kill9();
    for c in clients {
        c.join().expect("client thread");
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    let answered: HashMap<String, usize> = outcomes
        .iter()
        .filter_map(|(n, o)| match o {
            Outcome::Answered(id) => Some((id.clone(), *n)),
            Outcome::NoAnswer => None,
        })
        .collect();
    let unanswered: HashSet<usize> =
        outcomes.iter().filter(|(_, o)| matches!(o, Outcome::NoAnswer)).map(|(n, _)| *n).collect();
    assert!(answered.len() >= KILL_AFTER && answered.len() < BURST, "the kill was not mid-burst: {}", answered.len());
    assert_eq!(unanswered.len(), CLIENTS, "each client stops at its first unanswered request");

    println!("burst: {} answered, {} without an answer before the kill", answered.len(), unanswered.len());
    d.restart();
    let api = d.client();
    // The log: every answered event, plus at most the requests that got no answer.
    let log = api.all_pages("get_events_paginated");
    let ids: Vec<String> = log.iter().map(|e| e["event_uuid"].as_str().expect("event_uuid").to_string()).collect();
    let in_log: HashSet<&String> = ids.iter().collect();
    assert_eq!(in_log.len(), ids.len(), "an event listed twice");
    let missing: Vec<&String> = answered.keys().filter(|id| !in_log.contains(id)).collect();
    assert!(missing.is_empty(), "{} answered events are not stored, e.g. {:?}", missing.len(), &missing[..1]);
    assert!(ids.len() <= answered.len() + unanswered.len(), "{} events for {} answers", ids.len(), answered.len());
    for e in &log {
        assert_eq!(
            (e["status"].as_str(), e["routes"].as_u64(), e["executions"].as_u64()),
            (Some("accepted"), Some(2), Some(2)),
            "{e}"
        );
    }
    // Each stored event, with its request and its two routes, one per subscription.
    let details = par_map(&ids, |id| event_details(&api, id));
    let subs: HashSet<String> = [sa.clone(), sb.clone()].into();
    for (id, detail) in ids.iter().zip(&details) {
        let n = detail["request"]["body"]["n"].as_u64().expect("n") as usize;
        match answered.get(id) {
            Some(sent) => assert_eq!(*sent, n, "event {id} holds another request's body"),
            None => assert!(unanswered.contains(&n), "event {id} (request {n}) got an answer under another id"),
        }
        let deliveries = detail["deliveries"].as_array().expect("deliveries");
        let routed: HashSet<String> =
            deliveries.iter().map(|r| r["subscription_uuid"].as_str().expect("sub").to_string()).collect();
        assert_eq!((deliveries.len(), &routed), (2, &subs), "{detail}");
        assert!(deliveries.iter().all(|r| r["outcome"] == "execution" && r["execution_uuid"].is_string()), "{detail}");
    }
    // Exactly one execution per event and subscription: no execution outside the routes.
    for t in [&ta, &tb] {
        assert_eq!(total(&api, &format!("get_executions_paginated?target_uuid={t}")), ids.len() as u64);
    }
    // Every route delivered (at least once: a request in flight at the kill is sent again),
    // with its own key, and nothing else.
    for (rx, sub) in [(&rx_a, &sa), (&rx_b, &sb)] {
        let want: HashSet<String> = ids.iter().map(|e| key(e, sub)).collect();
        let got = wait_keys(rx, &want, "every stored event delivered to both receivers");
        let stray: Vec<&String> = got.keys().filter(|k| !want.contains(*k)).collect();
        assert!(stray.is_empty(), "deliveries of events not stored: {stray:?}");
    }
    for t in [&ta, &tb] {
        wait_for("every execution to succeed", LONG, || {
            (total(&api, &format!("get_executions_paginated?target_uuid={t}&filter_status=succeeded"))
                == ids.len() as u64)
                .then_some(())
        });
    }
}

// ---- 2. replay and bulk retry, restarted mid-job ----

const RATE: u64 = 20;

/// Polls a paced job until it has created at least `at_least` items, checking on the way
/// that it never ran ahead of its rate; returns the job as last seen.
fn watch_paced_job(api: &Api, job_id: &str, started: std::time::Instant, at_least: u64) -> Value {
    wait_for("the job to be under way", LONG, || {
        let j = job(api, job_id);
        let created = j["created"].as_u64().expect("created");
        let bound = RATE * (started.elapsed().as_secs() + 1);
        assert!(created <= bound, "{created} created after {:?}: faster than {RATE}/s", started.elapsed());
        (created >= at_least).then_some(j)
    })
}

#[test]
fn a_replay_to_one_subscription_survives_a_kill_and_replays_each_event_once() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let (live_rx, replay_rx) = (Receiver::start(), Receiver::start());
    let live_t = event_template(&api, &live_rx, json!({"n": "{{ event.body.n }}"}));
    let replay_t = event_template(&api, &replay_rx, json!({"n": "{{ event.body.n }}"}));
    let live = subscribe(
        &api,
        json!({"subscription_name": "live", "event_types": ["order.*"], "schedule_to": "webhook", "model_to_schedule_uuid": live_t}),
    );
    let archive = subscribe(
        &api,
        json!({"subscription_name": "archive", "event_types": ["order.*"], "schedule_to": "webhook",
            "model_to_schedule_uuid": replay_t, "enabled": false}),
    );
    // 5 events before the range, 150 in it, 5 after, with gaps so no two groups share a ms.
    let mut send = |n: u64| {
        std::thread::sleep(Duration::from_millis(3));
        send_event(&api, "order.created", json!({"n": n})).0
    };
    let before: Vec<String> = (0..5).map(&mut send).collect();
    std::thread::sleep(Duration::from_millis(20));
    let inside: Vec<String> = (5..155).map(&mut send).collect();
    std::thread::sleep(Duration::from_millis(20));
    let after: Vec<String> = (155..160).map(&mut send).collect();
    let from = ms(&event_details(&api, &inside[0])["received_at"]);
    let to = ms(&event_details(&api, &after[0])["received_at"]);
    let last_before = ms(&event_details(&api, &before[4])["received_at"]);
    assert!(last_before < from, "the groups share a millisecond");
    let all: Vec<&String> = before.iter().chain(&inside).chain(&after).collect();
    let live_keys: HashSet<String> = all.iter().map(|e| key(e, &live)).collect();
    wait_keys(&live_rx, &live_keys, "the live deliveries");
    assert_eq!(replay_rx.count(), 0, "the disabled subscription took no live event");

    let started = now();
    let r = api.post(
        "replay_events",
        json!({"from": iso(from), "to": iso(to), "subscription_uuid": archive, "rate_per_second": RATE}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let job_id = r.json["job_uuid"].as_str().expect("job_uuid").to_string();
    let seen = watch_paced_job(&api, &job_id, started, 2 * RATE);
    assert_eq!(seen["status"], "running", "{seen}");
    assert!(seen["created"].as_u64().unwrap() < inside.len() as u64, "the job finished before the kill: {seen}");
    d.kill9();
    d.restart();
    let api = d.client();
    let done = wait_job_completed(&api, &job_id);
    assert_eq!(
        (done["status"].as_str(), done["matched"].as_u64(), done["created"].as_u64(), done["scanned"].as_u64()),
        (Some("completed"), Some(150), Some(150), Some(151)),
        "{done}"
    );

    // Each event of the range has exactly one route to the archive, made by this job; the
    // others have only their live route.
    for e in &all {
        let detail = event_details(&api, e);
        let routes = detail["deliveries"].as_array().expect("deliveries");
        let replays: Vec<&Value> = routes.iter().filter(|r| r["subscription_uuid"] == archive.as_str()).collect();
        let want = usize::from(inside.contains(e));
        assert_eq!((routes.len(), replays.len()), (1 + want, want), "{detail}");
        for r in replays {
            assert_eq!((r["job_uuid"].as_str(), r["outcome"].as_str()), (Some(job_id.as_str()), Some("execution")));
        }
    }
    assert_eq!(total(&api, &format!("get_executions_paginated?target_uuid={replay_t}")), 150);
    let want: HashSet<String> = inside.iter().map(|e| replay_key(e, &archive, &job_id)).collect();
    let got = wait_keys(&replay_rx, &want, "every replayed event at the archive's receiver");
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), want, "a replay outside the range or to a wrong key");
    let live_got = keys_at(&live_rx);
    assert_eq!(live_got.keys().cloned().collect::<HashSet<_>>(), live_keys, "the replay reached the live subscription");
}

#[test]
fn a_bulk_retry_survives_a_kill_and_retries_each_failed_execution_once() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    // The first request of each key fails, every later one succeeds.
    let rx = Receiver::start();
    let firsts: Arc<Mutex<HashSet<String>>> = Arc::default();
    let f = firsts.clone();
    rx.set_chooser(move |r| {
        let k = r.header("idempotency-key").unwrap_or("").to_string();
        if f.lock().unwrap().insert(k) { Script::status(500) } else { Script::status(200) }
    });
    let other_rx = Receiver::start();
    other_rx.set_script(Script::status(500));
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    let other_t = event_template(&api, &other_rx, json!({"n": "{{ event.body.n }}"}));
    let sub = subscribe(
        &api,
        json!({"subscription_name": "orders", "event_types": ["order.*"], "schedule_to": "webhook", "model_to_schedule_uuid": t}),
    );
    subscribe(
        &api,
        json!({"subscription_name": "users", "event_types": ["user.*"], "schedule_to": "webhook", "model_to_schedule_uuid": other_t}),
    );
    let events: Vec<String> = (0..100).map(|n| send_event(&api, "order.created", json!({"n": n})).0).collect();
    for n in 0..5 {
        send_event(&api, "user.created", json!({"n": n}));
    }
    wait_for("every first attempt to fail", LONG, || {
        (total(&api, &format!("get_executions_paginated?target_uuid={t}&filter_status=failed")) == 100
            && total(&api, &format!("get_executions_paginated?target_uuid={other_t}&filter_status=failed")) == 5)
            .then_some(())
    });
    let originals: HashSet<String> = events
        .iter()
        .map(|e| event_details(&api, e)["deliveries"][0]["execution_uuid"].as_str().expect("execution").to_string())
        .collect();

    let started = now();
    let r = api.post("bulk_retry_executions", json!({"subscription_uuid": sub, "rate_per_second": RATE}));
    assert_eq!(r.status, 200, "{}", r.text);
    let job_id = r.json["job_uuid"].as_str().expect("job_uuid").to_string();
    let seen = watch_paced_job(&api, &job_id, started, RATE);
    assert_eq!(seen["status"], "running", "{seen}");
    assert!(seen["created"].as_u64().unwrap() < 100, "the job finished before the kill: {seen}");
    d.kill9();
    d.restart();
    let api = d.client();
    let done = wait_job_completed(&api, &job_id);
    assert_eq!(
        (done["status"].as_str(), done["matched"].as_u64(), done["created"].as_u64()),
        (Some("completed"), Some(100), Some(100)),
        "{done}"
    );

    // 200 executions of the template: the 100 failed ones and exactly one retry of each.
    let rows = api.all_pages(&format!("get_executions_paginated?target_uuid={t}"));
    assert_eq!(rows.len(), 200);
    let ids: Vec<String> = rows.iter().map(|x| x["execution_uuid"].as_str().expect("id").to_string()).collect();
    let all = par_map(&ids, |id| execution(&api, id));
    let mut retried: HashMap<String, usize> = HashMap::new();
    let mut key_of: HashMap<String, String> = HashMap::new();
    for x in &all {
        key_of.insert(x["execution_uuid"].as_str().unwrap().to_string(), x["idempotency_key"].as_str().unwrap().into());
    }
    for x in &all {
        match x["retry_of"].as_str() {
            None => {
                assert!(originals.contains(x["execution_uuid"].as_str().unwrap()), "{x}");
                assert_eq!(x["status"], "failed", "{x}");
            }
            Some(of) => {
                *retried.entry(of.to_string()).or_default() += 1;
                assert_eq!(
                    x["idempotency_key"].as_str(),
                    key_of.get(of).map(String::as_str),
                    "same key as the original"
                );
                assert_eq!(x["subscription_uuid"], sub.as_str(), "{x}");
            }
        }
    }
    assert_eq!(retried.keys().cloned().collect::<HashSet<_>>(), originals);
    assert!(retried.values().all(|n| *n == 1), "an execution retried twice: {retried:?}");
    // Each key reached the receiver twice at least (the 500, then the retry's 200), and the
    // retries all succeeded.
    wait_for("every retry to succeed", LONG, || {
        (total(&api, &format!("get_executions_paginated?target_uuid={t}&filter_status=succeeded")) == 100).then_some(())
    });
    let got = keys_at(&rx);
    let want: HashSet<String> = events.iter().map(|e| key(e, &sub)).collect();
    assert_eq!(got.keys().cloned().collect::<HashSet<_>>(), want);
    assert!(got.values().all(|n| *n >= 2), "{got:?}");
    // The other subscription's failures were not retried.
    assert_eq!(total(&api, &format!("get_executions_paginated?target_uuid={other_t}")), 5);
}

#[test]
fn a_bulk_retry_whose_range_ends_in_the_future_never_retries_its_own_retries() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    rx.set_script(Script::status(500));
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    subscribe(&api, json!({"subscription_name": "all", "schedule_to": "webhook", "model_to_schedule_uuid": t}));
    for n in 0..3 {
        send_event(&api, "x", json!({"n": n}));
    }
    let failed = || total(&api, &format!("get_executions_paginated?target_uuid={t}&filter_status=failed"));
    wait_for("the three failures", WAIT, || (failed() == 3).then_some(()));
    let to = iso((unix_now_s() + 3600) * 1000);
    let r = api.post("bulk_retry_executions", json!({"to": to, "rate_per_second": 10}));
    assert_eq!(r.status, 200, "{}", r.text);
    let job_id = r.json["job_uuid"].as_str().expect("job_uuid").to_string();
    let done = wait_for("the job to complete", WAIT, || {
        let j = job(&api, &job_id);
        (j["status"] == "completed").then_some(j)
    });
    assert_eq!((done["matched"].as_u64(), done["created"].as_u64()), (Some(3), Some(3)), "{done}");
    wait_for("the retries to fail", WAIT, || (failed() == 6).then_some(()));
    assert_eq!(total(&api, &format!("get_executions_paginated?target_uuid={t}")), 6);
}

// ---- the event log's time ranges ----

/// Sends `send_event` with its body held back for `hold`: the event is received (its
/// `received_at`) when the request starts, and its body arrives later.
fn send_event_slowly(base: &str, brand: &str, key: &str, body: &str, hold: Duration) -> Value {
    use std::io::{BufRead, BufReader, Read};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let head = format!(
        "POST /v1/api/send_event/ HTTP/1.1\r\nhost: {addr}\r\nx-hookpulse-api-key: {key}\r\nx-brand-uuid: {brand}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    s.flush().expect("flush");
    std::thread::sleep(hold);
    s.write_all(body.as_bytes()).expect("body");
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    assert!(status.contains(" 200 "), "{status}");
    let mut rest = String::new();
    reader.read_to_string(&mut rest).expect("answer");
    let json = rest.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{json:?}: {e}"))
}

#[test]
fn an_event_whose_body_arrived_late_is_in_the_range_of_its_received_time() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    let sub = subscribe(
        &api,
        json!({"subscription_name": "off", "schedule_to": "webhook", "model_to_schedule_uuid": t, "enabled": false}),
    );
    let answer = send_event_slowly(
        &d.base,
        &d.brand,
        &d.key,
        r#"{"event_type": "slow", "payload": {"n": 1}}"#,
        Duration::from_millis(1500),
    );
    let event = answer["event_uuid"].as_str().expect("event_uuid").to_string();
    let received = ms(&event_details(&api, &event)["received_at"]);
    // The event was received in [received, received + 1 ms): a list or a replay of that
    // range holds it.
    let range = format!("from={}&to={}", iso(received), iso(received + 1));
    let listed = api.get(&format!("get_events_paginated?{}", range.replace(':', "%3A")));
    assert_eq!(listed.json["meta"]["total_count"], 1, "{}", listed.text);
    let r =
        api.post("replay_events", json!({"from": iso(received), "to": iso(received + 1), "subscription_uuid": sub}));
    assert_eq!(r.status, 200, "{}", r.text);
    let job_id = r.json["job_uuid"].as_str().expect("job_uuid").to_string();
    let done = wait_job_completed(&api, &job_id);
    assert_eq!((done["matched"].as_u64(), done["created"].as_u64()), (Some(1), Some(1)), "{done}");
    let want: HashSet<String> = [replay_key(&event, &sub, &job_id)].into();
    wait_keys(&rx, &want, "the replayed event");
}

// ---- 3. fan-out ----

#[test]
fn one_event_fans_out_to_a_webhook_a_workflow_and_a_debounce_schedule() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let domain = api.add_domain(&rx.host());
    let template = |path: &str, via: &str| {
        let r = api.post(
            "add_webhook_template",
            json!({"webhook_name": via, "webhook_description": "fan-out", "method": "POST", "path": path,
                "domain_uuid": domain, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
                "request_timeout_in_milliseconds": 2000, "request_body_json": {"via": via, "x": "{{ event.body.x }}"},
                "headers_json": {}, "query_params_json": {}}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
        r.json["webhook_uuid"].as_str().expect("webhook_uuid").to_string()
    };
    let webhook = template("/webhook", "webhook");
    let debounced = template("/debounce", "debounce");
    let r = api.post(
        "add_workflow_template",
        json!({"workflow_name": "fan", "workflow_description": "test", "runtype": "fifo_sequential"}),
    );
    assert_ok(&r);
    let workflow = r.json["workflow_uuid"].as_str().expect("workflow_uuid").to_string();
    let r = api.post(
        "add_workflow_step",
        json!({"index": 0, "workflow_uuid": workflow, "webhook_name": "step", "webhook_description": "a step",
            "method": "POST", "path": "/workflow", "domain_uuid": domain, "human_approval_required": false,
            "step_identifier": "only", "on_success_next_step_identifier": "", "on_fail_next_step_identifier": "",
            "delay_to_next_step": 0, "retry_delay": 1, "retry_backoff_mode": "linear", "max_retries": 0,
            "request_timeout_in_milliseconds": 2000, "request_body_json": {"via": "workflow", "x": "{{ event.body.x }}"},
            "headers_json": {}, "query_params_json": {}}),
    );
    assert_ok(&r);
    let r = api.post(
        "add_debounce_schedule",
        json!({"schedule_to": "webhook", "model_to_schedule_uuid": debounced, "debounce_seconds": 1}),
    );
    assert_ok(&r);
    let schedule = r.json["schedule_uuid"].as_str().expect("schedule_uuid").to_string();
    let mut subs = HashMap::new();
    for (to, target, outcome) in [
        ("webhook", &webhook, "execution"),
        ("workflow", &workflow, "execution"),
        ("debounce_schedule", &schedule, "debounce_triggered"),
    ] {
        let s = subscribe(
            &api,
            json!({"subscription_name": to, "event_types": ["fan.*"], "schedule_to": to, "model_to_schedule_uuid": target}),
        );
        subs.insert(s, outcome);
    }

    let (event, created) = send_event(&api, "fan.out", json!({"x": 42}));
    assert_eq!(created, 2, "the webhook's and the workflow's executions");
    rx.wait_for(3, WAIT);
    std::thread::sleep(Duration::from_millis(1500));
    let mut got: Vec<(String, Value)> = rx.requests().iter().map(|r| (r.path.clone(), r.json())).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        got,
        vec![
            ("/debounce".to_string(), json!({"via": "debounce", "x": 42})),
            ("/webhook".to_string(), json!({"via": "webhook", "x": 42})),
            ("/workflow".to_string(), json!({"via": "workflow", "x": 42})),
        ]
    );
    let detail = event_details(&api, &event);
    let deliveries = detail["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 3, "{detail}");
    for r in deliveries {
        let sub = r["subscription_uuid"].as_str().expect("sub");
        assert_eq!(r["outcome"].as_str(), subs.get(sub).copied(), "{r}");
        assert_eq!(r["execution_uuid"].is_string(), r["outcome"] == "execution", "{r}");
    }
    let schedule_detail = api.post("get_single_schedule_details", json!({"schedule_uuid": schedule}));
    assert_eq!(schedule_detail.json["data"]["total_triggered"], 1, "{}", schedule_detail.text);
}

// ---- 4. delay_seconds ----

#[test]
fn a_delayed_subscription_waits_its_delay_even_across_a_restart() {
    let mut d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    subscribe(
        &api,
        json!({"subscription_name": "later", "schedule_to": "webhook", "model_to_schedule_uuid": t, "delay_seconds": 2}),
    );
    // The execution exists at once, due `delay_seconds` after the event was received.
    let pending = |api: &Api, event: &str| {
        let detail = event_details(api, event);
        let received = ms(&detail["received_at"]);
        let x = execution(api, detail["deliveries"][0]["execution_uuid"].as_str().expect("execution"));
        assert_eq!(ms(&x["scheduled_at"]), received + 2000, "{x}");
        // Until its attempt starts (the receiver's clock below says when that was).
        if x["status"] == "pending" {
            assert_eq!(ms(&x["next_attempt_at"]), received + 2000, "{x}");
        }
        (x, received)
    };

    let (event, created) = send_event(&api, "x", json!({"n": 1}));
    assert_eq!(created, 1);
    let (x, received) = pending(&api, &event);
    let first = x["execution_uuid"].as_str().expect("execution").to_string();
    assert_eq!(rx.wait_for(1, WAIT), 1);
    let at = rx.requests()[0].at_ms;
    assert!(at >= received + 2000, "delivered {} ms early", received + 2000 - at);
    wait_for("the execution to succeed", WAIT, || (execution(&api, &first)["status"] == "succeeded").then_some(()));

    // Killed during the delay: delivered once, after the delay, by the restarted daemon.
    let (event, _) = send_event(&api, "x", json!({"n": 2}));
    d.kill9();
    assert_eq!(rx.count(), 1, "delivered before its delay");
    d.restart();
    let api = d.client();
    let (x, received) = pending(&api, &event);
    let second = x["execution_uuid"].as_str().expect("execution").to_string();
    assert_eq!(rx.wait_for(2, WAIT), 2);
    let at = rx.requests()[1].at_ms;
    assert!(at >= received + 2000, "delivered {} ms early", received + 2000 - at);
    assert_eq!(rx.requests()[1].json(), json!({"n": 2}));
    let x = wait_for("the execution to succeed", WAIT, || {
        let x = execution(&api, &second);
        (x["status"] == "succeeded").then_some(x)
    });
    assert_eq!(x["attempt_count"], 1, "{x}");
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(rx.count(), 2, "delivered more than once");
}

// ---- 5. IP allow-lists ----

#[test]
fn ip_allow_lists_refuse_other_addresses_and_name_a_bad_range() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    subscribe(&api, json!({"subscription_name": "all", "schedule_to": "webhook", "model_to_schedule_uuid": t}));
    let (ten, ten_url) = add_source(&api, json!({"source_name": "ten", "ip_allow_cidrs": ["10.0.0.0/8"]}));
    let (_, loop_url) = add_source(&api, json!({"source_name": "loop", "ip_allow_cidrs": ["127.0.0.0/8"]}));
    let (_, one_url) = add_source(&api, json!({"source_name": "one", "ip_allow_cidrs": ["127.0.0.1"]}));
    let (_, v6_url) = add_source(&api, json!({"source_name": "v6", "ip_allow_cidrs": ["::1/128"]}));

    let refused = ingest(&api, &ten_url, &[], br#"{"n":1}"#);
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["error"], "Forbidden: this address may not send to this source");
    let detail = event_details(&api, refused.json["event_uuid"].as_str().expect("event_uuid"));
    assert_eq!(
        (detail["status"].as_str(), detail["reason"].as_str(), detail["deliveries"].clone()),
        (Some("rejected"), Some("address not allowed"), json!([])),
        "{detail}"
    );
    assert_eq!(detail["request"]["client_ip"], "127.0.0.1");
    assert_eq!(ingest(&api, &loop_url, &[], br#"{"n":2}"#).status, 202);
    assert_eq!(ingest(&api, &one_url, &[], br#"{"n":3}"#).status, 202);
    assert_eq!(ingest(&api, &v6_url, &[], br#"{"n":4}"#).status, 403, "127.0.0.1 is not ::1");
    rx.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let mut got: Vec<Value> = rx.requests().iter().map(|r| r.json()["n"].clone()).collect();
    got.sort_by_key(|v| v.as_i64());
    assert_eq!(got, vec![json!(2), json!(3)], "only the allowed requests were routed");

    // Bad ranges: 400 naming the entry, nothing written.
    let sources = total(&api, "get_sources_paginated");
    for (list, field) in [
        (json!(["10.0.0.0/33"]), "ip_allow_cidrs[0]"),
        (json!(["nope"]), "ip_allow_cidrs[0]"),
        (json!(["127.0.0.1", "300.1.1.1"]), "ip_allow_cidrs[1]"),
    ] {
        assert_invalid(&api.post("add_source", json!({"source_name": "bad", "ip_allow_cidrs": list})), field);
        assert_invalid(&api.post("update_source", json!({"source_uuid": ten, "ip_allow_cidrs": list})), field);
    }
    assert_eq!(total(&api, "get_sources_paginated"), sources);
    // An empty list lets every address in again.
    assert_eq!(api.post("update_source", json!({"source_uuid": ten, "ip_allow_cidrs": []})).status, 200);
    assert_eq!(ingest(&api, &ten_url, &[], br#"{"n":5}"#).status, 202);
}

// ---- 6. requests signed by the senders' reference libraries ----

/// Signs with `tests/senders/sign.py` (the `standardwebhooks` and `stripe` packages): one
/// header map per job.
fn sign(jobs: Value) -> Vec<HashMap<String, String>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/senders/sign.py");
    let mut child = Command::new(crate::python::senders())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sign.py");
    child.stdin.take().expect("stdin").write_all(jobs.to_string().as_bytes()).expect("write jobs");
    let out = child.wait_with_output().expect("sign.py output");
    assert!(out.status.success(), "sign.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("sign.py prints header maps")
}

#[test]
fn requests_signed_by_the_senders_libraries_verify_and_wrong_or_stale_ones_do_not() {
    let d = TestDaemon::start_with(CONFIG);
    let api = d.client();
    let rx = Receiver::start();
    let t = event_template(&api, &rx, json!({"n": "{{ event.body.n }}"}));
    subscribe(&api, json!({"subscription_name": "all", "schedule_to": "webhook", "model_to_schedule_uuid": t}));
    // Standard Webhooks' own example secret (its README) and a Stripe-style endpoint secret.
    let sw_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sw_wrong = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGw=";
    let stripe_secret = "whsec_test_4eC39HqLyjWDarjtT1zdp7dc";
    api.add_secret("sw", sw_secret);
    api.add_secret("stripe", stripe_secret);
    let (_, sw_url) = add_source(
        &api,
        json!({"source_name": "sw", "verification": {"type": "standard_webhooks", "secret_key": "sw"}}),
    );
    let (_, stripe_url) = add_source(
        &api,
        json!({"source_name": "stripe", "verification": {"type": "stripe", "secret_key": "stripe"},
            "event_type_from": {"body_field": "type"}}),
    );
    let now = unix_now_s();
    let sw_body = r#"{"n": 1, "type": "user.created"}"#;
    let stripe_body = r#"{"id": "evt_1", "n": 2, "type": "invoice.paid"}"#;
    let headers = sign(json!([
        {"scheme": "standard_webhooks", "secret": sw_secret, "id": "msg_1", "timestamp": now, "body": sw_body},
        {"scheme": "standard_webhooks", "secret": sw_wrong, "id": "msg_2", "timestamp": now, "body": sw_body},
        {"scheme": "standard_webhooks", "secret": sw_secret, "id": "msg_3", "timestamp": now - 400, "body": sw_body},
        {"scheme": "stripe", "secret": stripe_secret, "timestamp": now, "body": stripe_body},
        {"scheme": "stripe", "secret": "whsec_not_the_endpoint_secret", "timestamp": now, "body": stripe_body},
        {"scheme": "stripe", "secret": stripe_secret, "timestamp": now - 400, "body": stripe_body},
    ]));
    let post = |url: &str, h: &HashMap<String, String>, body: &str| {
        let pairs: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ingest(&api, url, &pairs, body.as_bytes())
    };
    let reason = |r: &Resp| event_details(&api, r.json["event_uuid"].as_str().expect("event_uuid"))["reason"].clone();

    let ok = post(&sw_url, &headers[0], sw_body);
    assert_eq!(ok.status, 202, "{}", ok.text);
    let wrong = post(&sw_url, &headers[1], sw_body);
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(reason(&wrong), "verification failed: signature does not match");
    let stale = post(&sw_url, &headers[2], sw_body);
    assert_eq!(stale.status, 401, "{}", stale.text);
    assert_eq!(reason(&stale), "verification failed: timestamp outside the tolerance");
    let tampered = post(&sw_url, &headers[0], r#"{"n": 1, "type": "user.deleted"}"#);
    assert_eq!(tampered.status, 401, "{}", tampered.text);

    let ok2 = post(&stripe_url, &headers[3], stripe_body);
    assert_eq!(ok2.status, 202, "{}", ok2.text);
    let wrong = post(&stripe_url, &headers[4], stripe_body);
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert_eq!(reason(&wrong), "verification failed: signature does not match");
    let stale = post(&stripe_url, &headers[5], stripe_body);
    assert_eq!(stale.status, 401, "{}", stale.text);
    assert_eq!(reason(&stale), "verification failed: timestamp outside the tolerance");

    let stripe_event = event_details(&api, ok2.json["event_uuid"].as_str().expect("event_uuid"));
    assert_eq!(stripe_event["event_type"], "invoice.paid");
    assert_eq!(stripe_event["request"]["headers"]["stripe-signature"], "[redacted]");
    // Only the two verified requests were routed.
    rx.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let mut got: Vec<Value> = rx.requests().iter().map(|r| r.json()["n"].clone()).collect();
    got.sort_by_key(|v| v.as_i64());
    assert_eq!(got, vec![json!(1), json!(2)]);
    assert_eq!(total(&api, "get_events_paginated?filter_status=rejected"), 5);
}
