//! The `ingest` scenario (product.md §9: ≥ 10,000 events/s accepted durably, each fanned out to
//! 2 subscriptions, sustained for 60 s with flat memory).
//!
//! One source (verification `none`, no dedup) and 2 subscriptions on it, each to its own webhook
//! template on the harness's loopback receiver (no retries). HW_LOAD_INGEST_CLIENTS (64)
//! closed-loop clients (tokio tasks sharing one HTTP/1.1 keep-alive pool, one request at a time
//! each) post a small JSON event to the ingest URL for HW_LOAD_INGEST_SECONDS (60) on
//! HW_LOAD_INGEST_THREADS (2) client threads. The daemon runs with
//! `events.ingest_rate_per_second = 0` (no per-source limit).
//!
//! Reported: events accepted (2xx, answered after the commit) per second; ingest latency
//! (request sent → 2xx head received) p50/p99/max; executions delivered per second (requests
//! counted at the receiver during the load / its duration), the backlog still pending when the
//! load stops (2 × accepted − delivered) and how long it takes to drain (at most
//! HW_LOAD_INGEST_DRAIN_SECONDS, 120); CPU over the load of the daemon, of the receiver's
//! threads and of the client threads (% of one core; the box has 200 %); the daemon's RSS when
//! the load starts and when it stops, sampled every 5 s, with a verdict: "flat" when the last
//! sample is within 25 % of the first one after a 10 s warm-up (the soak's rule).
//!
//! The receiver runs in this process: its CPU is the process's CPU minus the client threads'
//! (named `ingest-client`) and the main thread's (which only counts and samples). The receiver
//! keeps what it receives, so the main thread takes its record every second and keeps the
//! count only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::receiver::Receiver;
use crate::{Api, Daemon, Row, env_usize, now_ms, percentile, stopwatch};

/// Subscriptions each event fans out to.
const SUBSCRIPTIONS: u64 = 2;
/// product.md §9: accepted events per second.
const GOAL_EVENTS_PER_SECOND: f64 = 10_000.0;
/// The client runtime's thread name (≤ 15 bytes: the kernel's `comm`).
const CLIENT_THREAD: &str = "ingest-client";
const WARM_UP_MS: i64 = 10_000;
const SAMPLE_EVERY_MS: i64 = 5000;

/// (`comm`, utime + stime in clock ticks) of a `/proc/…/stat` file.
pub fn stat_ticks(path: &std::path::Path) -> Option<(String, u64)> {
    let s = std::fs::read_to_string(path).ok()?;
    let (open, close) = (s.find('(')?, s.rfind(')')?);
    // Fields after the `comm`: the first is field 3 (state); utime is field 14, stime 15.
    let rest: Vec<&str> = s.get(close + 2..)?.split_whitespace().collect();
    let t = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some((s[open + 1..close].to_string(), t))
}

pub fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system; no memory is passed.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU ticks so far: the daemon, this whole process, its client threads, its main thread.
#[derive(Clone, Copy)]
struct Cpu {
    daemon: u64,
    process: u64,
    client: u64,
    main: u64,
}

impl Cpu {
    fn read(daemon_pid: u32) -> Cpu {
        let pid = std::process::id();
        let ticks = |p: String| stat_ticks(std::path::Path::new(&p)).map(|t| t.1).unwrap_or(0);
        let client = std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.flatten()
                    .filter_map(|e| stat_ticks(&e.path().join("stat")))
                    .filter(|(comm, _)| comm.starts_with(CLIENT_THREAD))
                    .map(|(_, t)| t)
                    .sum()
            })
            .unwrap_or(0);
        Cpu {
            daemon: ticks(format!("/proc/{daemon_pid}/stat")),
            process: ticks("/proc/self/stat".into()),
            client,
            main: ticks(format!("/proc/self/task/{pid}/stat")),
        }
    }

    /// % of one core over `secs`: (daemon, receiver, clients).
    fn percent_since(&self, start: &Cpu, secs: f64) -> (f64, f64, f64) {
        let pct = |t: u64| t as f64 / ticks_per_second() / secs * 100.0;
        let client = self.client.saturating_sub(start.client);
        let main = self.main.saturating_sub(start.main);
        let receiver = self.process.saturating_sub(start.process).saturating_sub(client + main);
        (pct(self.daemon.saturating_sub(start.daemon)), pct(receiver), pct(client))
    }
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Counts of the clients' answers.
#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    /// Answers that were not 2xx (the last status is kept in `last_refusal`).
    refused: AtomicU64,
    last_refusal: AtomicU64,
    /// Transport errors (no answer).
    failed: AtomicU64,
}

fn add_template(api: &Api, domain: &str, name: &str) -> String {
    let r = api.post(
        "add_webhook_template",
        json!({"webhook_name": name, "method": "POST", "path": format!("/{name}"), "domain_uuid": domain, "max_retries": 0,
               "request_body_json": {"order": "{{ event.body.n }}", "type": "{{ event.type }}"}}),
    );
    r["webhook_uuid"].as_str().unwrap_or_else(|| panic!("add_webhook_template: {r}")).to_string()
}

pub fn ingest(rows: &mut Vec<Row>) {
    let clients = env_usize("HW_LOAD_INGEST_CLIENTS", 64).max(1);
    let threads = env_usize("HW_LOAD_INGEST_THREADS", 2).max(1);
    let seconds = env_usize("HW_LOAD_INGEST_SECONDS", 60).max(1) as u64;
    let drain_seconds = env_usize("HW_LOAD_INGEST_DRAIN_SECONDS", 120) as u64;
    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "[events]\ningest_rate_per_second = 0\n");
    let pid = d.child.id();
    let api = Api::new(&d, dir.path());
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": rx.host()}), "domain_uuid");
    let source = api.post(
        "add_source",
        json!({"source_name": "bench", "verification": {"type": "none"}, "event_type_from": {"body_field": "type"}}),
    );
    let (Some(source_uuid), Some(path)) = (source["source_uuid"].as_str(), source["ingest_url"].as_str()) else {
        panic!("add_source: {source}")
    };
    let url = format!("{}{path}", d.base);
    for k in 1..=SUBSCRIPTIONS {
        let template = add_template(&api, &domain, &format!("sub{k}"));
        let r = api.post(
            "add_subscription",
            json!({"subscription_name": format!("sub{k}"), "source_uuid": source_uuid, "event_types": ["order.*"],
                   "schedule_to": "webhook", "model_to_schedule_uuid": template}),
        );
        assert_eq!(r["success"], true, "add_subscription: {r}");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(clients)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let rss_start = d.rss_mib();
    let cpu_start = Cpu::read(pid);
    let t = stopwatch();
    let started_ms = now_ms();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (http, url, stop, tally) = (http.clone(), url.clone(), stop.clone(), tally.clone());
            rt.spawn(async move {
                // Latencies of 2xx answers, µs.
                let mut lat: Vec<u32> = Vec::with_capacity(1 << 16);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = format!(
                        r#"{{"type":"order.created","client":{c},"n":{n},"amount":{},"currency":"EUR","customer":{{"id":"cus_{c}_{n}","country":"FR"}}}}"#,
                        n % 997
                    );
                    let sent = stopwatch();
                    match http.post(&url).header("content-type", "application/json").body(body).send().await {
                        Ok(r) => {
                            let us = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                            let status = r.status();
                            let _ = r.bytes().await;
                            if status.is_success() {
                                tally.accepted.fetch_add(1, Ordering::Relaxed);
                                lat.push(us);
                            } else {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                                tally.last_refusal.store(u64::from(status.as_u16()), Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                lat
            })
        })
        .collect();

    // The main thread: counts what the receiver got (dropping the record) and samples RSS.
    let mut delivered = 0u64;
    let mut samples: Vec<(i64, f64)> = Vec::new();
    let (mut last_ms, mut last_accepted, mut last_delivered) = (started_ms, 0u64, 0u64);
    let mut next_sample = started_ms + SAMPLE_EVERY_MS;
    while t.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1).min(Duration::from_secs(seconds).saturating_sub(t.elapsed())));
        delivered += rx.take_requests().len() as u64;
        let now = now_ms();
        if now >= next_sample {
            next_sample += SAMPLE_EVERY_MS;
            let rss = d.rss_mib();
            samples.push((now, rss));
            let accepted = tally.accepted.load(Ordering::Relaxed);
            let dt = (now - last_ms) as f64 / 1000.0;
            eprintln!(
                "ingest +{:>3} s: {:>6.0} events/s accepted, {:>6.0} executions/s delivered, RSS {rss:.0} MiB",
                (now - started_ms) / 1000,
                (accepted - last_accepted) as f64 / dt,
                (delivered - last_delivered) as f64 / dt,
            );
            (last_ms, last_accepted, last_delivered) = (now, accepted, delivered);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let secs = t.elapsed().as_secs_f64();
    let accepted_in_run = tally.accepted.load(Ordering::Relaxed);
    delivered += rx.take_requests().len() as u64;
    let delivered_in_run = delivered;
    let cpu_end = Cpu::read(pid);
    let rss_end = d.rss_mib();
    let ended_ms = now_ms();
    samples.push((ended_ms, rss_end));
    let mut lat: Vec<i64> = Vec::new();
    for task in tasks {
        lat.extend(rt.block_on(task).unwrap_or_default().into_iter().map(i64::from));
    }
    rt.shutdown_timeout(Duration::from_secs(5));
    lat.sort_unstable();
    let accepted = tally.accepted.load(Ordering::Relaxed);
    let (refused, failed) = (tally.refused.load(Ordering::Relaxed), tally.failed.load(Ordering::Relaxed));

    // The backlog when the load stopped, then the wait for it to drain.
    let expected = accepted * SUBSCRIPTIONS;
    let backlog = expected.saturating_sub(delivered_in_run);
    let drain = stopwatch();
    while delivered < expected && drain.elapsed() < Duration::from_secs(drain_seconds) {
        std::thread::sleep(Duration::from_millis(200));
        delivered += rx.take_requests().len() as u64;
    }
    let drained = (delivered >= expected).then(|| drain.elapsed().as_secs_f64());
    let peak = peak_rss_mib(pid);
    let store_mib = std::fs::metadata(dir.path().join("data").join(hookwheel::store::STORE_FILE))
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(f64::NAN);
    let errors = d.log.lock().unwrap().iter().filter(|l| l.contains(" ERROR ")).count();
    d.stop();

    let rate = accepted_in_run as f64 / secs;
    let exec_rate = delivered_in_run as f64 / secs;
    let (daemon_cpu, receiver_cpu, client_cpu) = cpu_end.percent_since(&cpu_start, secs);
    // Daemon CPU per accepted event (its ingest, routing, commit and its 2 deliveries), µs.
    let cpu_per_event = daemon_cpu / 100.0 * secs / accepted_in_run.max(1) as f64 * 1e6;
    let ms = |us: i64| us as f64 / 1000.0;
    let (p50, p99, max) =
        (ms(percentile(&lat, 0.5)), ms(percentile(&lat, 0.99)), ms(lat.last().copied().unwrap_or(-1)));
    // Flat: the last sample within 25 % of the first after the warm-up (as the soak).
    let settled = samples.iter().find(|(at, _)| *at >= started_ms + WARM_UP_MS).map(|s| s.1);
    let flat = settled.map(|first| rss_end <= first * 1.25);
    let drained_text = match drained {
        Some(s) => format!("drained in {s:.1} s"),
        None => format!("{} still pending after {drain_seconds} s", expected.saturating_sub(delivered)),
    };
    eprintln!(
        "ingest: {clients} clients on {threads} threads, {secs:.1} s: {accepted_in_run} accepted ({rate:.0}/s), {refused} refused \
         (last status {}), {failed} without an answer; latency p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.1} ms; \
         {delivered_in_run} executions delivered ({exec_rate:.0}/s), backlog {backlog} at the end, {drained_text}; \
         CPU daemon {daemon_cpu:.0} % ({cpu_per_event:.0} µs per event), receiver {receiver_cpu:.0} %, clients {client_cpu:.0} %; RSS {rss_start:.0} → \
         {rss_end:.0} MiB (peak {peak:.0}); store file {store_mib:.0} MiB; {errors} ERROR lines in the daemon's log",
        tally.last_refusal.load(Ordering::Relaxed)
    );
    eprintln!(
        "ingest: RSS samples (s: MiB): {}",
        samples.iter().map(|(at, r)| format!("{}: {r:.0}", (at - started_ms) / 1000)).collect::<Vec<_>>().join(", ")
    );
    rows.push(Row {
        metric: format!(
            "ingest: events accepted durably (2xx after commit), 1 source → 2 subscriptions → webhooks, {clients} clients, {secs:.0} s"
        ),
        goal: "≥ 10,000 events/s".into(),
        measured: format!(
            "{rate:.0} events/s ({refused} refused, {failed} failed); ingest latency p50 {p50:.2} ms, p99 {p99:.2} ms; \
             {exec_rate:.0} executions/s delivered, backlog {backlog} at the end ({drained_text})"
        ),
        cpu: format!(
            "daemon {daemon_cpu:.0} ({cpu_per_event:.0} µs per event), receiver {receiver_cpu:.0}, clients {client_cpu:.0}"
        ),
        met: Some(rate >= GOAL_EVENTS_PER_SECOND && refused == 0 && failed == 0),
        ..Row::default()
    });
    rows.push(Row {
        metric: format!("ingest: daemon RSS over the {secs:.0} s run (the default store.cache_mib)"),
        goal: "flat".into(),
        measured: format!(
            "{rss_start:.0} MiB at the start → {rss_end:.0} MiB at the end (after {}s warm-up: {} MiB; peak {peak:.0} MiB)",
            WARM_UP_MS / 1000,
            settled.map(|s| format!("{s:.0}")).unwrap_or("-".into())
        ),
        met: flat,
        ..Row::default()
    });
}
