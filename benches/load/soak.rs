//! The `soak` scenario: HW_SOAK_SCHEDULES (2,000) schedules firing every second for
//! HW_SOAK_SECONDS (600) to a loopback receiver that answers a seeded random share of the
//! requests with faults (HW_SOAK_FAULTS), while the daemon is killed with SIGKILL HW_SOAK_KILLS
//! (10) times at random moments and restarted on the same data directory.
//!
//! At the end (schedules paused, HW_SOAK_QUIET_SECONDS for retries to finish) a Chronos-style
//! checker walks every due instant of every schedule, from its first fire to the end of the
//! load: each must have reached the receiver (by its Idempotency-Key `hw_<schedule>_<instant
//! ms>`) or be recorded as an execution (any status) in the API; a lost instant is neither.
//! Duplicates (a key answered 2xx more than once: at-least-once after a kill) are counted, and
//! the receiver's view is cross-checked with the recorded status. The daemon's resident memory
//! (VmRSS) and open file descriptors are sampled every 5 s after a 10 s warm-up in each life and
//! printed per life with a verdict: RSS is "flat" when the last sample of the run is within
//! 25 % of the first (after the first warm-up) and the last life's trend over the second half
//! of its samples projects less than 10 % growth over ten minutes; fds likewise (25 % + 16, the
//! slack for pooled connections). Kills fall in the first three quarters of the run, so the
//! last life is long enough for a trend. Store commits and attempts by outcome come from
//! /metrics (counters live in the process: summed over lives, last scrape before each kill).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::receiver::{Received, Receiver, Script};
use crate::{Api, Daemon, Row, env_usize, now_ms, stopwatch};

/// The template's per-attempt timeout (ms); a `timeout` fault answers 500 ms after it.
const REQUEST_TIMEOUT_MS: u64 = 1000;
/// Retries after the first attempt (linear backoff, 1 s × n: 1, 2, 3 s).
const MAX_RETRIES: u64 = 3;
/// Samples start this long after each (re)start.
const WARM_UP_MS: i64 = 10_000;
const SAMPLE_EVERY_MS: i64 = 5000;
/// The default fault mix: shares of all requests (the rest answer 200 at once).
const DEFAULT_FAULTS: &str = "500=0.05,timeout=0.03,reset=0.03,slow=0.04";

/// A 64-bit LCG (Knuth's MMIX constants): the soak's only randomness, so a seed replays the
/// fault sequence and the kill plan.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }
}

/// How the receiver answers one request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Answer {
    Ok,
    Status500,
    /// Answers 200 half a second after the request timeout.
    Timeout,
    /// Closes the connection without an answer.
    Reset,
    /// 200 at once, 64 body bytes over 0.3 × the request timeout.
    SlowBody,
    /// 200 at once, 64 body bytes over 1.5 × the request timeout (the read times out after the
    /// status arrived).
    SlowBodyPastTimeout,
}

impl Answer {
    const ALL: [Answer; 6] =
        [Answer::Ok, Answer::Status500, Answer::Timeout, Answer::Reset, Answer::SlowBody, Answer::SlowBodyPastTimeout];

    fn label(self) -> &'static str {
        match self {
            Answer::Ok => "200",
            Answer::Status500 => "500",
            Answer::Timeout => "timeout",
            Answer::Reset => "reset",
            Answer::SlowBody => "slow body",
            Answer::SlowBodyPastTimeout => "slow body past timeout",
        }
    }

    /// The receiver sent a 2xx status line.
    fn is_2xx(self) -> bool {
        matches!(self, Answer::Ok | Answer::SlowBody | Answer::SlowBodyPastTimeout)
    }

    fn script(self) -> Script {
        let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
        match self {
            Answer::Ok => Script::default(),
            Answer::Status500 => Script::status(500),
            Answer::Timeout => Script::default().with_delay(timeout + Duration::from_millis(500)),
            Answer::Reset => Script::reset(),
            Answer::SlowBody => Script::default().with_body_bytes(64).with_slow_body(timeout * 3 / 10),
            Answer::SlowBodyPastTimeout => Script::default().with_body_bytes(64).with_slow_body(timeout * 3 / 2),
        }
    }
}

/// Shares of requests answered with each fault (HW_SOAK_FAULTS, `500=0.05,timeout=0.03,…`).
#[derive(Clone, Copy)]
struct Mix {
    status500: f64,
    timeout: f64,
    reset: f64,
    slow: f64,
}

impl Mix {
    fn parse(text: &str) -> Mix {
        let mut m = Mix { status500: 0.0, timeout: 0.0, reset: 0.0, slow: 0.0 };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) =
                part.split_once('=').unwrap_or_else(|| panic!("HW_SOAK_FAULTS: `{part}` is not name=share"));
            let share: f64 =
                share.trim().parse().unwrap_or_else(|_| panic!("HW_SOAK_FAULTS: `{share}` is not a number"));
            match name.trim() {
                "500" => m.status500 = share,
                "timeout" => m.timeout = share,
                "reset" => m.reset = share,
                "slow" => m.slow = share,
                other => panic!("HW_SOAK_FAULTS: unknown fault `{other}` (500, timeout, reset, slow)"),
            }
        }
        assert!(m.status500 + m.timeout + m.reset + m.slow <= 1.0, "HW_SOAK_FAULTS: shares add up to more than 1");
        m
    }

    fn draw(&self, rng: &mut Lcg) -> Answer {
        let mut x = rng.unit();
        for (share, answer) in
            [(self.status500, Answer::Status500), (self.timeout, Answer::Timeout), (self.reset, Answer::Reset)]
        {
            if x < share {
                return answer;
            }
            x -= share;
        }
        if x < self.slow {
            // Half of the slow bodies end within the request timeout, half after it.
            return if x < self.slow / 2.0 { Answer::SlowBody } else { Answer::SlowBodyPastTimeout };
        }
        Answer::Ok
    }

    fn describe(&self) -> String {
        format!(
            "500 {:.0}%, timeout {:.0}%, reset {:.0}%, slow body {:.0}%",
            self.status500 * 100.0,
            self.timeout * 100.0,
            self.reset * 100.0,
            self.slow * 100.0
        )
    }
}

/// What the receiver saw of one instant (all attempts, all lives).
#[derive(Default, Clone, Copy)]
struct Seen {
    requests: u32,
    answered_2xx: u32,
}

/// The receiver's record, kept compact: 1.2 M instants at the default size.
#[derive(Default)]
struct Tally {
    /// Schedule uuid without dashes → its position.
    index: HashMap<String, u32>,
    seen: HashMap<(u32, i64), Seen>,
    answers: HashMap<Answer, u64>,
    /// Requests whose key names no schedule of the soak.
    unknown: u64,
}

/// `hw_<schedule>_<instant ms>` → (schedule, instant).
fn parse_key(key: &str) -> Option<(&str, i64)> {
    let (schedule, instant) = key.strip_prefix("hw_")?.rsplit_once('_')?;
    Some((schedule, instant.parse().ok()?))
}

struct Sample {
    at_ms: i64,
    rss_mib: f64,
    fds: usize,
}

/// Counters from /metrics (in memory in the daemon: they restart with each life).
#[derive(Default, Clone)]
struct Counters {
    commits: f64,
    attempts: HashMap<String, f64>,
    executions: HashMap<String, f64>,
    fires: HashMap<String, f64>,
}

impl Counters {
    fn scrape(base: &str) -> Option<Counters> {
        let text = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .ok()?
            .get(format!("{base}/metrics"))
            .send()
            .and_then(|r| r.text())
            .ok()?;
        let mut c = Counters::default();
        let label = |line: &str, name: &str| -> String {
            line.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string()
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some(v) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else { continue };
            if line.starts_with("hookwheel_store_commits_total ") {
                c.commits += v;
            } else if line.starts_with("hookwheel_attempts_total{") {
                *c.attempts.entry(label(line, "outcome")).or_default() += v;
            } else if line.starts_with("hookwheel_executions_total{") {
                *c.executions.entry(label(line, "status")).or_default() += v;
            } else if line.starts_with("hookwheel_fires_total{") {
                *c.fires.entry(label(line, "status")).or_default() += v;
            }
        }
        Some(c)
    }

    fn add(&mut self, o: &Counters) {
        self.commits += o.commits;
        for (mine, theirs) in
            [(&mut self.attempts, &o.attempts), (&mut self.executions, &o.executions), (&mut self.fires, &o.fires)]
        {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
    }
}

fn show(m: &HashMap<String, f64>) -> String {
    let mut v: Vec<_> = m.iter().filter(|(_, n)| **n > 0.0).collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.iter().map(|(k, n)| format!("{k} {n:.0}")).collect::<Vec<_>>().join(", ")
}

/// One daemon process, from its start to its kill (or the end of the soak).
struct Life {
    started_ms: i64,
    samples: Vec<Sample>,
    counters: Counters,
    ended: &'static str,
}

impl Life {
    fn new() -> Life {
        Life { started_ms: now_ms(), samples: Vec::new(), counters: Counters::default(), ended: "running" }
    }

    fn sample(&mut self, d: &Daemon) {
        self.samples.push(Sample { at_ms: now_ms(), rss_mib: d.rss_mib(), fds: d.open_fds() });
        if let Some(c) = Counters::scrape(&d.base) {
            self.counters = c;
        }
    }

    /// Least-squares slope of `f` over the second half of the samples (once the process has
    /// settled), per minute; `None` with fewer than 3 samples there.
    fn trend(&self, f: impl Fn(&Sample) -> f64) -> Option<f64> {
        let tail = &self.samples[self.samples.len() / 2..];
        if tail.len() < 3 {
            return None;
        }
        let n = tail.len() as f64;
        let xs: Vec<f64> = tail.iter().map(|s| (s.at_ms - self.started_ms) as f64 / 60_000.0).collect();
        let ys: Vec<f64> = tail.iter().map(f).collect();
        let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
        let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        (sxx > 0.0).then(|| sxy / sxx)
    }
}

/// `kills` moments (ms after the load starts) in [10 s, ¾ of the run], at least 15 s apart
/// when the run is long enough: every life gets past its warm-up, and the last one runs the
/// final quarter undisturbed, long enough for a memory trend.
fn kill_plan(rng: &mut Lcg, kills: usize, seconds: i64) -> Vec<i64> {
    let (lo, hi) = (10_000, (seconds * 750).max(10_001));
    for _ in 0..10_000 {
        let mut at: Vec<i64> = (0..kills).map(|_| lo + rng.below((hi - lo) as u64) as i64).collect();
        at.sort();
        if at.windows(2).all(|w| w[1] - w[0] >= 15_000) {
            return at;
        }
    }
    (0..kills).map(|k| lo + (hi - lo) * k as i64 / kills.max(1) as i64).collect()
}

/// Every execution of one schedule: instant → statuses (more than one = a second record).
fn executions_of(api: &Api, schedule: &str) -> HashMap<i64, Vec<String>> {
    let mut out: HashMap<i64, Vec<String>> = HashMap::new();
    for page in 1.. {
        let r = api.get(&format!("get_executions_paginated?schedule_uuid={schedule}&page={page}"));
        let data = r["data"].as_array().cloned().unwrap_or_else(|| panic!("listing executions of {schedule}: {r}"));
        for e in &data {
            let at = e["scheduled_at"]
                .as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_millisecond())
                .or_else(|| e["idempotency_key"].as_str().and_then(parse_key).map(|(_, t)| t));
            if let Some(at) = at {
                out.entry(at).or_default().push(e["status"].as_str().unwrap_or("?").to_string());
            }
        }
        let total = r["meta"]["total_count"].as_u64().unwrap_or(0);
        if data.is_empty() || page * 1000 >= total {
            break;
        }
    }
    out
}

fn drain(rx: &Receiver) {
    // The chooser keeps the compact tally; the full records are not needed.
    drop(rx.take_requests());
}

fn sleep_draining(rx: &Receiver, ms: i64) {
    let until = now_ms() + ms;
    while now_ms() < until {
        drain(rx);
        std::thread::sleep(Duration::from_millis((until - now_ms()).clamp(0, 200) as u64));
    }
}

/// See the module documentation.
pub fn soak(rows: &mut Vec<Row>) {
    let seconds = env_usize("HW_SOAK_SECONDS", 600) as i64;
    let n = env_usize("HW_SOAK_SCHEDULES", 2000);
    let kills = env_usize("HW_SOAK_KILLS", 10);
    let quiet = env_usize("HW_SOAK_QUIET_SECONDS", 20) as i64;
    // The store's page cache is a configured bound (`store.cache_mib`, 128 by default) that
    // fills over the first minutes; a small one keeps that filling from hiding a leak.
    let store_config = format!("[store]\ncache_mib = {}\n", env_usize("HW_SOAK_CACHE_MIB", 16));
    let mix = Mix::parse(&std::env::var("HW_SOAK_FAULTS").unwrap_or_else(|_| DEFAULT_FAULTS.into()));
    let seed = std::env::var("HW_SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(now_ms() as u64);
    eprintln!(
        "soak: seed {seed} (HW_SOAK_SEED), {n} schedules × 1/s for {seconds} s, {kills} kill -9s, faults: {}",
        mix.describe()
    );
    let mut rng = Lcg(seed);
    let mut fault_rng = Lcg(seed ^ 0x9e37_79b9_7f4a_7c15);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let rx = Receiver::start();
    {
        let tally = tally.clone();
        rx.set_chooser(move |r: &Received| {
            let answer = mix.draw(&mut fault_rng);
            let mut t = tally.lock().unwrap();
            *t.answers.entry(answer).or_default() += 1;
            let pos = r.header("idempotency-key").and_then(parse_key).and_then(|(s, at)| Some((*t.index.get(s)?, at)));
            match pos {
                Some(pos) => {
                    let seen = t.seen.entry(pos).or_default();
                    seen.requests += 1;
                    seen.answered_2xx += u32::from(answer.is_2xx());
                }
                None => t.unknown += 1,
            }
            answer.script()
        });
    }

    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(dir.path(), &store_config);
    let mut api = Api::new(&d, dir.path());
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": rx.host()}), "domain_uuid");
    let template = api.id_of(
        "add_webhook_template",
        json!({"webhook_name": "soak", "method": "POST", "path": "/soak", "domain_uuid": domain,
               "max_retries": MAX_RETRIES, "retry_delay": 1, "retry_backoff_mode": "linear",
               "request_timeout_in_milliseconds": REQUEST_TIMEOUT_MS, "request_body_json": {"k": "v"}}),
        "webhook_uuid",
    );

    // Anchors spread evenly over one second; schedule i fires at anchor_i + k s, k ≥ 0.
    let start = (now_ms() / 1000 + 5 + n as i64 / 1000) * 1000;
    let anchors: Vec<i64> = (0..n).map(|i| start + (i as i64 * 1000) / n as i64).collect();
    let ids: Vec<String> = {
        let api = &api;
        let anchors = &anchors;
        let threads = 8;
        let mut ids = vec![String::new(); n];
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let template = &template;
                    s.spawn(move || {
                        (t..n)
                            .step_by(threads)
                            .map(|i| {
                                let at = jiff::Timestamp::from_millisecond(anchors[i]).unwrap().to_string();
                                let r = api.post(
                                    "add_interval_schedule",
                                    json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
                                           "interval_period": "second", "is_one_off_task": false, "start_at": at}),
                                );
                                assert_eq!(r["success"], true, "{r}");
                                (i, r["schedule_uuid"].as_str().unwrap().to_string())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            for h in handles {
                for (i, id) in h.join().unwrap() {
                    ids[i] = id;
                }
            }
        });
        ids
    };
    {
        let mut t = tally.lock().unwrap();
        for (i, id) in ids.iter().enumerate() {
            t.index.insert(id.replace('-', ""), i as u32);
        }
    }
    assert!(now_ms() < start, "creating {n} schedules took too long; lower HW_SOAK_SCHEDULES");
    let end = start + seconds * 1000;
    let plan: Vec<i64> = kill_plan(&mut rng, kills, seconds).into_iter().map(|k| start + k).collect();
    let downs: Vec<i64> = (0..kills).map(|_| rng.below(2500) as i64).collect();
    sleep_draining(&rx, start - now_ms());

    // The load: sample, kill, restart.
    let mut lives = vec![Life::new()];
    let mut life_logs: Vec<Vec<String>> = Vec::new();
    let mut kill_log: Vec<(i64, i64)> = Vec::new(); // (killed at, serving again at)
    let mut unexpected_exits = 0;
    let mut next_kill = 0;
    loop {
        let now = now_ms();
        if now >= end {
            break;
        }
        if let Ok(Some(status)) = d.child.try_wait() {
            // Not a kill of ours: report it, keep the soak going on a new process.
            unexpected_exits += 1;
            let lines = std::mem::take(&mut *d.log.lock().unwrap());
            eprintln!(
                "soak: the daemon exited by itself ({status}); last lines: {:?}",
                &lines[lines.len().saturating_sub(10)..]
            );
            lives.last_mut().unwrap().ended = "exited by itself";
            life_logs.push(lines);
            d = Daemon::start(dir.path(), &store_config);
            api = Api::new(&d, dir.path());
            lives.push(Life::new());
            continue;
        }
        if next_kill < plan.len() && now >= plan[next_kill] {
            let life = lives.last_mut().unwrap();
            life.sample(&d);
            life.ended = "kill -9";
            let killed_at = now_ms();
            life_logs.push(d.kill9());
            std::thread::sleep(Duration::from_millis(downs[next_kill] as u64));
            let spawned = stopwatch();
            d = Daemon::start(dir.path(), &store_config);
            let startup_ms = spawned.elapsed().as_millis();
            api = Api::new(&d, dir.path());
            kill_log.push((killed_at, now_ms()));
            eprintln!(
                "soak: kill {} at +{:.1} s, down {} ms, start-up {startup_ms} ms (spawn to listening), RSS {:.1} MiB once listening",
                next_kill + 1,
                (killed_at - start) as f64 / 1000.0,
                downs[next_kill],
                d.rss_mib()
            );
            lives.push(Life::new());
            next_kill += 1;
            continue;
        }
        let life = lives.last_mut().unwrap();
        let last = life.samples.last().map(|s| s.at_ms).unwrap_or(i64::MIN / 2);
        if now - life.started_ms >= WARM_UP_MS && now - last >= SAMPLE_EVERY_MS {
            life.sample(&d);
        }
        drain(&rx);
        std::thread::sleep(Duration::from_millis(100));
    }
    lives.last_mut().unwrap().sample(&d);

    // Stop new fires (a few seconds after the end, so that a scheduler running late has fired
    // every instant up to the end), then let retries finish.
    sleep_draining(&rx, 5000);
    std::thread::scope(|s| {
        for part in ids.chunks(n.div_ceil(4).max(1)) {
            let api = &api;
            s.spawn(move || {
                for id in part {
                    let r =
                        api.post("change_schedule_status", json!({"schedule_uuid": id, "update_status_to": "paused"}));
                    assert_eq!(r["success"], true, "{r}");
                }
            });
        }
    });
    sleep_draining(&rx, quiet * 1000);
    drain(&rx);
    let last_life = lives.last_mut().unwrap();
    if let Some(c) = Counters::scrape(&d.base) {
        last_life.counters = c;
    }
    last_life.ended = "end";

    // The checker.
    let t = stopwatch();
    let records: Vec<HashMap<i64, Vec<String>>> = {
        let mut out = vec![HashMap::new(); n];
        std::thread::scope(|s| {
            let api = &api;
            let handles: Vec<_> = (0..2)
                .map(|w| {
                    let ids = &ids;
                    s.spawn(move || (w..n).step_by(2).map(|i| (i, executions_of(api, &ids[i]))).collect::<Vec<_>>())
                })
                .collect();
            for h in handles {
                for (i, r) in h.join().unwrap() {
                    out[i] = r;
                }
            }
        });
        out
    };
    eprintln!("soak: read the execution records of {n} schedules in {:.1} s", t.elapsed().as_secs_f64());
    // Taken out, so the receiver never waits for the checker.
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    // A retry runs for up to 10 s (4 attempts of ≤ 1 s, 1 + 2 + 3 s apart): an instant in that
    // window before a kill, or before the daemon served again, may be sent twice.
    let near_kill = |at: i64| kill_log.iter().any(|(killed, back)| at >= killed - 12_000 && at <= back + 2_000);
    let mut duplicates_elsewhere = 0u64;
    let (mut due, mut delivered, mut attempted_only, mut recorded_only, mut duplicates) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut double_records, mut seen_without_record, mut succeeded_without_2xx) = (0u64, 0u64, 0u64);
    let mut status_of_due: HashMap<String, f64> = HashMap::new();
    let mut status_unseen: HashMap<String, f64> = HashMap::new();
    let mut status_2xx_not_succeeded: HashMap<String, f64> = HashMap::new();
    let mut lost: Vec<(usize, i64)> = Vec::new();
    for (i, anchor) in anchors.iter().enumerate() {
        let mut at = *anchor;
        while at <= end {
            due += 1;
            let seen = tally.seen.get(&(i as u32, at)).copied();
            let recs = records[i].get(&at);
            match recs {
                Some(r) => {
                    for st in r {
                        *status_of_due.entry(st.clone()).or_default() += 1.0;
                    }
                    double_records += u64::from(r.len() > 1);
                }
                None => *status_of_due.entry("(no record)".into()).or_default() += 1.0,
            }
            match (seen, recs) {
                (Some(s), r) => {
                    if s.answered_2xx > 0 {
                        delivered += 1;
                        duplicates += u64::from(s.answered_2xx - 1);
                        if s.answered_2xx > 1 && !near_kill(at) {
                            duplicates_elsewhere += u64::from(s.answered_2xx - 1);
                        }
                        if let Some(r) = r.filter(|r| !r.iter().any(|st| st == "succeeded")) {
                            *status_2xx_not_succeeded.entry(r.join("+")).or_default() += 1.0;
                        }
                    } else {
                        attempted_only += 1;
                        succeeded_without_2xx += u64::from(r.is_some_and(|r| r.iter().any(|st| st == "succeeded")));
                    }
                    seen_without_record += u64::from(r.is_none());
                }
                (None, Some(r)) => {
                    recorded_only += 1;
                    *status_unseen.entry(r.join("+")).or_default() += 1.0;
                }
                (None, None) => lost.push((i, at)),
            }
            at += 1000;
        }
    }
    let off_grid = tally
        .seen
        .keys()
        .filter(|(i, at)| {
            let anchor = anchors[*i as usize];
            *at < anchor || (at - anchor) % 1000 != 0
        })
        .count();
    let requests: u64 = tally.answers.values().sum();
    let answers = Answer::ALL
        .iter()
        .map(|a| format!("{} {}", a.label(), tally.answers.get(a).copied().unwrap_or(0)))
        .collect::<Vec<_>>()
        .join(", ");

    // Lives: memory and descriptors.
    let mut total = Counters::default();
    for (k, life) in lives.iter().enumerate() {
        total.add(&life.counters);
        let log = life_logs.get(k).cloned().unwrap_or_else(|| d.log.lock().unwrap().clone());
        let (first, last) = (life.samples.first(), life.samples.last());
        eprintln!(
            "soak: life {k}: +{:.1} s … {} ({} samples): RSS {} → {} MiB (trend {}), fds {} → {}; commits {:.0}, attempts {}; log: {} WARN, {} ERROR",
            (life.started_ms - start) as f64 / 1000.0,
            life.ended,
            life.samples.len(),
            first.map(|s| format!("{:.1}", s.rss_mib)).unwrap_or("-".into()),
            last.map(|s| format!("{:.1}", s.rss_mib)).unwrap_or("-".into()),
            life.trend(|s| s.rss_mib).map(|t| format!("{t:+.2} MiB/min")).unwrap_or("n/a".into()),
            first.map(|s| s.fds.to_string()).unwrap_or("-".into()),
            last.map(|s| s.fds.to_string()).unwrap_or("-".into()),
            life.counters.commits,
            show(&life.counters.attempts),
            log.iter().filter(|l| l.contains(" WARN ")).count(),
            log.iter().filter(|l| l.contains(" ERROR ")).count(),
        );
        for l in log.iter().filter(|l| l.contains(" ERROR ")).take(5) {
            eprintln!("soak:   {l}");
        }
    }
    let first = lives.iter().find_map(|l| l.samples.first()).expect("at least one sample");
    let last_life = lives.last().unwrap();
    let last = last_life.samples.last().expect("the last life was sampled");
    let rss_ratio = last.rss_mib / first.rss_mib;
    let rss_trend = last_life.trend(|s| s.rss_mib);
    let fds_trend = last_life.trend(|s| s.fds as f64);
    let max_rss = lives.iter().flat_map(|l| &l.samples).map(|s| s.rss_mib).fold(0.0, f64::max);
    let max_fds = lives.iter().flat_map(|l| &l.samples).map(|s| s.fds).max().unwrap_or(0);
    // Flat: the run ends within 25 % of where the first life started, and the last life does
    // not climb by more than 10 % of its start over ten minutes.
    let last_start = last_life.samples.first().unwrap();
    let rss_flat = rss_ratio <= 1.25 && rss_trend.is_none_or(|t| t * 10.0 <= last_start.rss_mib * 0.10);
    let fds_flat = last.fds <= first.fds + first.fds / 4 + 16
        && fds_trend.is_none_or(|t| t * 10.0 <= last_start.fds as f64 * 0.10 + 16.0);
    let store_mib = std::fs::metadata(dir.path().join("data").join(hookwheel::store::STORE_FILE))
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(f64::NAN);

    eprintln!(
        "soak: {due} due instants: {delivered} answered 2xx, {attempted_only} reached the receiver but only faults answered, \
         {recorded_only} recorded without a request, {} lost; {duplicates} duplicate 2xx deliveries ({duplicates_elsewhere} of them not near a kill)",
        lost.len()
    );
    eprintln!("soak: records of due instants by status: {}", show(&status_of_due));
    eprintln!("soak: instants never sent, by record: {}", show(&status_unseen));
    eprintln!(
        "soak: answered 2xx but not recorded succeeded: {}; recorded succeeded without a 2xx answer: {succeeded_without_2xx}; \
         sent but no record: {seen_without_record}; instants with two records: {double_records}",
        if status_2xx_not_succeeded.is_empty() { "0".into() } else { show(&status_2xx_not_succeeded) }
    );
    eprintln!(
        "soak: receiver: {requests} requests ({answers}); {} keys off the schedules' grid, {} requests with unknown keys",
        off_grid, tally.unknown
    );
    eprintln!(
        "soak: RSS first life start {:.1} MiB → last life end {:.1} MiB (×{rss_ratio:.2}), max {max_rss:.1} MiB, last life trend {}; \
         fds {} → {} (max {max_fds}), last life trend {}; store file {store_mib:.0} MiB",
        first.rss_mib,
        last.rss_mib,
        rss_trend.map(|t| format!("{t:+.2} MiB/min")).unwrap_or("n/a".into()),
        first.fds,
        last.fds,
        fds_trend.map(|t| format!("{t:+.2}/min")).unwrap_or("n/a".into()),
    );
    eprintln!(
        "soak: /metrics over all lives: commits {:.0}; attempts {}; executions {}; fires {}",
        total.commits,
        show(&total.attempts),
        show(&total.executions),
        show(&total.fires)
    );

    let keep = !lost.is_empty() || std::env::var("HW_SOAK_KEEP").is_ok();
    if !lost.is_empty() {
        eprintln!("soak: LOST instants (schedule @ instant, + seconds after start):");
        for (i, at) in lost.iter().take(20) {
            let around: Vec<String> = (-3..=3)
                .map(|k| {
                    let t = at + k * 1000;
                    let seen =
                        tally.seen.get(&(*i as u32, t)).map(|s| format!("{}req/{}ok", s.requests, s.answered_2xx));
                    let rec = records[*i].get(&t).map(|r| r.join("+"));
                    format!("{k:+}: {} {}", seen.unwrap_or("-".into()), rec.unwrap_or("-".into()))
                })
                .collect();
            eprintln!("soak:   {} @ {at} (+{:.3} s); neighbours {around:?}", ids[*i], (at - start) as f64 / 1000.0);
        }
        for (k, (killed, back)) in kill_log.iter().enumerate() {
            eprintln!(
                "soak:   kill {} at +{:.3} s, serving again at +{:.3} s",
                k + 1,
                (killed - start) as f64 / 1000.0,
                (back - start) as f64 / 1000.0
            );
        }
    }
    if keep {
        for (k, log) in life_logs.iter().enumerate() {
            let _ = std::fs::write(dir.path().join(format!("life-{k}.log")), log.join("\n"));
        }
    }
    let last_log = d.log.lock().unwrap().clone();
    d.stop();
    if keep {
        let _ = std::fs::write(dir.path().join(format!("life-{}.log", life_logs.len())), last_log.join("\n"));
        let kept = dir.keep();
        eprintln!("soak: kept the data directory and the daemon logs in {}", kept.display());
    }

    rows.push(Row {
        metric: format!(
            "soak: {n} schedules × 1/s for {seconds} s, {} kill -9s{}, faults ({}), seed {seed}: every due instant delivered or recorded",
            kill_log.len(),
            if unexpected_exits > 0 { format!(" + {unexpected_exits} exits by itself") } else { String::new() },
            mix.describe()
        ),
        goal: "0 lost".into(),
        measured: format!(
            "{due} due: {delivered} answered 2xx, {attempted_only} sent but only faults answered, {recorded_only} recorded \
             without a request ({}); {} lost; {duplicates} duplicate 2xx deliveries ({duplicates_elsewhere} not near a kill); \
             final records: {}",
            show(&status_unseen),
            lost.len(),
            show(&status_of_due)
        ),
        met: Some(lost.is_empty() && unexpected_exits == 0),
        ..Row::default()
    });
    rows.push(Row {
        metric: format!("soak: daemon RSS over {} lives (sampled every 5 s after a 10 s warm-up)", lives.len()),
        goal: "flat".into(),
        measured: format!(
            "{} — start {:.1} → end {:.1} MiB (×{rss_ratio:.2}), max {max_rss:.1} MiB; last life {:.1} → {:.1} MiB, trend {}",
            if rss_flat { "flat" } else { "growing" },
            first.rss_mib,
            last.rss_mib,
            last_start.rss_mib,
            last.rss_mib,
            rss_trend.map(|t| format!("{t:+.2} MiB/min")).unwrap_or("n/a".into())
        ),
        met: Some(rss_flat),
        ..Row::default()
    });
    rows.push(Row {
        metric: "soak: daemon open file descriptors".into(),
        goal: "no growth".into(),
        measured: format!(
            "{} — start {} → end {} (max {max_fds}); last life {} → {}, trend {}",
            if fds_flat { "flat" } else { "growing" },
            first.fds,
            last.fds,
            last_start.fds,
            last.fds,
            fds_trend.map(|t| format!("{t:+.2}/min")).unwrap_or("n/a".into())
        ),
        met: Some(fds_flat),
        ..Row::default()
    });
    rows.push(Row {
        metric: "soak: store commits, attempts and executions (/metrics, summed over lives)".into(),
        goal: "(report)".into(),
        measured: format!(
            "commits {:.0}; attempts {}; executions {}; receiver answers: {answers}; store file {store_mib:.0} MiB",
            total.commits,
            show(&total.attempts),
            show(&total.executions)
        ),
        met: None,
        ..Row::default()
    });
}
