//! The `monitors` scenario (issue 11's benchmark: 100,000 heartbeat monitors pinged at 2,000
//! pings/s; ping latency, the daemon's RSS and CPU, and how long after its deadline a missing
//! ping is noticed). There is no product.md §9 goal for these; the row for detection carries
//! the issue's own target (a missing ping noticed within 1 s of the deadline).
//!
//! 1. HW_LOAD_MONITORS (100,000) interval monitors are created through `add_monitor` by
//!    HW_LOAD_MONITOR_CREATORS (16) keep-alive clients (the harness's daemon runs with
//!    `api.rate_limit_per_minute = 0`, no per-key limit). Their interval is the time one round
//!    of pings takes (monitors / rate) × 1.2 + 5 s, so a monitor pinged once a round never
//!    becomes due; grace HW_LOAD_MONITOR_GRACE (2) seconds.
//! 2. HW_LOAD_PING_CLIENTS (32) open-loop clients (tokio tasks on 2 client threads sharing one
//!    HTTP/1.1 keep-alive pool) send `GET /ping/<token>` at HW_LOAD_PING_RATE (2,000) pings/s
//!    in total, round-robin over the monitors: ping `i` is due at `i / rate` seconds after the
//!    start and goes to monitor `i mod monitors`, whatever happened to the pings before it.
//!    Latency is the 200 answer's arrival − the instant the ping was due (so a client that
//!    falls behind counts its wait). The first round (every monitor's first ping, `new → up`)
//!    is a warm-up; then HW_LOAD_PING_SECONDS (60) are measured: latency p50/p99/max, the
//!    daemon's CPU (% of one core; the box has 200 %) and the client threads', its RSS when the
//!    window starts and when it ends (and the peak).
//! 3. Detection: from the end of the window the pingers skip HW_LOAD_MONITOR_SAMPLE (1,000)
//!    monitors spread evenly over the round, and keep pinging the others at the same pace,
//!    until `/metrics` counts that many `down` (at most a round + interval + grace + 30 s).
//!    Each skipped monitor's `get_monitor_details` shows its `late → down` status change with
//!    `deadline_at` (last ping + interval + grace, the instant it became down) and `at` (when
//!    the daemon applied it): detection − deadline p50/p99/max. Monitors outside the sample
//!    that are not `up` at the end are counted (0 expected).
//!
//! Reference in the same run (product.md §9): before the monitors are pinged, the same clients
//! at the same rate send HW_LOAD_PING_FLOOR_SECONDS (10) of GETs to the harness's loopback
//! receiver (an HTTP/1.1 server answering 200 at once): the floor of the ping latency, printed
//! beside it with the ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::ingest::{peak_rss_mib, stat_ticks, ticks_per_second};
use crate::receiver::Receiver;
use crate::{Api, Daemon, Row, env_usize, metric, now_ms, percentile, stopwatch};

/// The target: a missing ping noticed within 1 s of the deadline.
const DETECTION_GOAL_MS: i64 = 1000;
/// The client runtime's thread name (≤ 15 bytes: the kernel's `comm`).
const CLIENT_THREAD: &str = "ping-client";
const SAMPLE_EVERY_MS: u64 = 5000;

/// Counts of the pingers' answers.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    /// Answers that were not 2xx (the last status is kept in `last_refusal`).
    refused: AtomicU64,
    last_refusal: AtomicU64,
    /// Transport errors (no answer).
    failed: AtomicU64,
}

/// One paced run of pings: ping `i` is due at `i / rate` s after `t0` and goes to
/// `urls[i % urls.len()]`. Offsets below `warm` are phase 0, below `detect` phase 1, later ones
/// phase 2, where the monitors marked in `sample` are skipped.
struct Pace {
    urls: Arc<Vec<String>>,
    rate: f64,
    clients: usize,
    warm: Duration,
    detect: Duration,
    sample: Arc<Vec<bool>>,
    /// No ping due at or after this offset is sent.
    end: Option<Duration>,
}

/// Latencies (µs) of the 2xx answers by phase, per client task, and the offsets (ms) at which
/// measured pings were due that took over [`SLOW_MS`].
type Latencies = ([Vec<u32>; 3], Vec<u64>);
/// A measured ping slower than this is listed by the second it was due in.
const SLOW_MS: u32 = 100;

/// Starts the clients of `pace` on `rt`; they stop at `pace.end` or when `stop` is set.
fn start_pingers(
    rt: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    pace: Pace,
    t0: std::time::Instant,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) -> Vec<tokio::task::JoinHandle<Latencies>> {
    let pace = Arc::new(pace);
    (0..pace.clients)
        .map(|k| {
            let (http, pace, stop, tally) = (http.clone(), pace.clone(), stop.clone(), tally.clone());
            rt.spawn(async move {
                let (mut lat, mut slow): Latencies = Default::default();
                let n = pace.urls.len() as u64;
                let mut i = k as u64;
                loop {
                    let offset = Duration::from_secs_f64(i as f64 / pace.rate);
                    if pace.end.is_some_and(|e| offset >= e) || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let due = t0 + offset;
                    tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let m = (i % n) as usize;
                    i += pace.clients as u64;
                    let phase = if offset < pace.warm {
                        0
                    } else if offset < pace.detect {
                        1
                    } else {
                        2
                    };
                    if phase == 2 && pace.sample.get(m).copied().unwrap_or(false) {
                        continue;
                    }
                    match http.get(&pace.urls[m]).send().await {
                        Ok(r) => {
                            let status = r.status();
                            let _ = r.bytes().await;
                            let us = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
                            if status.is_success() {
                                tally.ok.fetch_add(1, Ordering::Relaxed);
                                lat[phase].push(us);
                                if phase == 1 && us / 1000 > SLOW_MS {
                                    slow.push(offset.as_millis() as u64);
                                }
                            } else {
                                tally.refused.fetch_add(1, Ordering::Relaxed);
                                tally.last_refusal.store(u64::from(status.as_u16()), Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            tally.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                (lat, slow)
            })
        })
        .collect()
}

/// Waits for the clients and merges their latencies, each phase sorted (µs), and the slow
/// measured pings counted by the second (from `t0`) they were due in.
fn join_pingers(
    rt: &tokio::runtime::Runtime,
    tasks: Vec<tokio::task::JoinHandle<Latencies>>,
) -> ([Vec<i64>; 3], std::collections::BTreeMap<u64, usize>) {
    let mut out: [Vec<i64>; 3] = Default::default();
    let mut slow = std::collections::BTreeMap::new();
    for task in tasks {
        let (lat, s) = rt.block_on(task).unwrap_or_default();
        for (o, l) in out.iter_mut().zip(lat) {
            o.extend(l.into_iter().map(i64::from));
        }
        for ms in s {
            *slow.entry(ms / 1000).or_default() += 1;
        }
    }
    for o in &mut out {
        o.sort_unstable();
    }
    (out, slow)
}

/// CPU ticks so far of the daemon and of this process's client threads.
fn cpu_ticks(daemon_pid: u32) -> (u64, u64) {
    let daemon = stat_ticks(std::path::Path::new(&format!("/proc/{daemon_pid}/stat"))).map(|t| t.1).unwrap_or(0);
    let clients = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|e| stat_ticks(&e.path().join("stat")))
                .filter(|(comm, _)| comm.starts_with(CLIENT_THREAD))
                .map(|(_, t)| t)
                .sum()
        })
        .unwrap_or(0);
    (daemon, clients)
}

fn ts_ms(v: &Value) -> Option<i64> {
    v.as_str()?.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

/// p50, p99, max of sorted µs, in ms.
fn spread_ms(sorted_us: &[i64]) -> (f64, f64, f64) {
    let ms = |us: i64| us as f64 / 1000.0;
    (ms(percentile(sorted_us, 0.5)), ms(percentile(sorted_us, 0.99)), ms(sorted_us.last().copied().unwrap_or(-1)))
}

pub fn monitors(rows: &mut Vec<Row>) {
    let n = env_usize("HW_LOAD_MONITORS", 100_000).max(10);
    let rate = env_usize("HW_LOAD_PING_RATE", 2000).max(1) as f64;
    let seconds = env_usize("HW_LOAD_PING_SECONDS", 60).max(1) as u64;
    let clients = env_usize("HW_LOAD_PING_CLIENTS", 32).max(1);
    let creators = env_usize("HW_LOAD_MONITOR_CREATORS", 16).max(1);
    let grace = env_usize("HW_LOAD_MONITOR_GRACE", 2) as u64;
    let floor_seconds = env_usize("HW_LOAD_PING_FLOOR_SECONDS", 10).max(1) as u64;
    let samples = env_usize("HW_LOAD_MONITOR_SAMPLE", 1000).clamp(1, n / 10);
    let round = Duration::from_secs_f64(n as f64 / rate);
    let interval = (round.as_secs_f64() * 1.2).ceil() as u64 + 5;

    let rx = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let pid = d.child.id();
    let api = Arc::new(Api::new(&d, dir.path()));

    // 1. The monitors.
    let t = stopwatch();
    let handles: Vec<_> = (0..creators)
        .map(|c| {
            let api = api.clone();
            std::thread::spawn(move || {
                let mut made = Vec::with_capacity(n / creators + 1);
                for i in (c..n).step_by(creators) {
                    let r = api.post(
                        "add_monitor",
                        json!({"monitor_name": format!("bench {i}"), "slug": format!("bench-{i}"),
                               "interval_seconds": interval, "grace_seconds": grace}),
                    );
                    let (Some(id), Some(path)) = (r["monitor_uuid"].as_str(), r["ping_url"].as_str()) else {
                        panic!("add_monitor: {r}")
                    };
                    made.push((i, id.to_string(), path.to_string()));
                }
                made
            })
        })
        .collect();
    let mut made: Vec<(usize, String, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    made.sort_unstable_by_key(|m| m.0);
    let create_secs = t.elapsed().as_secs_f64();
    let create_rate = n as f64 / create_secs;
    let ids: Vec<String> = made.iter().map(|m| m.1.clone()).collect();
    let urls: Arc<Vec<String>> = Arc::new(made.iter().map(|m| format!("{}{}", d.base, m.2)).collect());
    drop(made);
    let rss_created = d.rss_mib();
    eprintln!(
        "monitors: created {n} in {create_secs:.1} s ({create_rate:.0}/s, {creators} clients); interval {interval} s, \
         grace {grace} s; RSS {rss_created:.0} MiB"
    );
    // Evenly spread over the round.
    let step = n / samples;
    let sample: Arc<Vec<bool>> = Arc::new((0..n).map(|i| i.is_multiple_of(step) && i / step < samples).collect());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
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

    // The floor: the same clients and pace against a server that does nothing.
    let floor_tally = Arc::new(Tally::default());
    let never = Arc::new(AtomicBool::new(false));
    let floor_pace = Pace {
        urls: Arc::new(vec![format!("http://{}/ping", rx.host())]),
        rate,
        clients,
        warm: Duration::from_secs(1),
        detect: Duration::MAX,
        sample: Arc::new(Vec::new()),
        end: Some(Duration::from_secs(floor_seconds + 1)),
    };
    let tasks = start_pingers(&rt, &http, floor_pace, stopwatch() + Duration::from_millis(50), &never, &floor_tally);
    let (floor, _) = join_pingers(&rt, tasks);
    rx.take_requests();
    let (f50, f99, fmax) = spread_ms(&floor[1]);
    eprintln!(
        "monitors: floor (loopback receiver, {rate:.0}/s, {clients} clients): {} answered, p50 {f50:.2} ms, p99 {f99:.2} ms, \
         max {fmax:.1} ms",
        floor[1].len()
    );

    // 2. Pinging: a warm-up round, then the measured window, then detection.
    let warm = round;
    let detect = warm + Duration::from_secs(seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let pace = Pace { urls: urls.clone(), rate, clients, warm, detect, sample: sample.clone(), end: None };
    let t0 = stopwatch() + Duration::from_millis(50);
    let tasks = start_pingers(&rt, &http, pace, t0, &stop, &tally);
    let sleep_until = |at: std::time::Instant| std::thread::sleep(at.saturating_duration_since(stopwatch()));
    sleep_until(t0 + warm);
    let up = metric(&d.base, "hookwheel_monitors{", "status=\"up\"");
    let rss_start = d.rss_mib();
    let (cpu_d0, cpu_c0) = cpu_ticks(pid);
    let (ok0, window_ms0) = (tally.ok.load(Ordering::Relaxed), now_ms());
    eprintln!("monitors: warm-up round done, {up:.0} monitors up; RSS {rss_start:.0} MiB");
    let mut next = t0 + warm + Duration::from_millis(SAMPLE_EVERY_MS);
    while next < t0 + detect {
        sleep_until(next);
        eprintln!(
            "monitors +{:>3} s: {:.0} pings answered 2xx, RSS {:.0} MiB",
            (next - t0 - warm).as_secs(),
            tally.ok.load(Ordering::Relaxed) as f64,
            d.rss_mib()
        );
        next += Duration::from_millis(SAMPLE_EVERY_MS);
    }
    sleep_until(t0 + detect);
    let (cpu_d1, cpu_c1) = cpu_ticks(pid);
    let rss_end = d.rss_mib();
    let (ok1, window_ms1) = (tally.ok.load(Ordering::Relaxed), now_ms());
    let window_secs = (window_ms1 - window_ms0) as f64 / 1000.0;
    let pct = |ticks: u64| ticks as f64 / ticks_per_second() / window_secs * 100.0;
    let (daemon_cpu, client_cpu) = (pct(cpu_d1.saturating_sub(cpu_d0)), pct(cpu_c1.saturating_sub(cpu_c0)));
    let achieved = (ok1 - ok0) as f64 / window_secs;

    // 3. Detection: the sample is no longer pinged; wait for it to be down.
    let limit = round + Duration::from_secs(interval + grace + 30);
    let waited = stopwatch();
    let mut down = 0.0;
    while waited.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(500));
        down = metric(&d.base, "hookwheel_monitors{", "status=\"down\"");
        if down >= samples as f64 {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (lat, slow) = join_pingers(&rt, tasks);
    rt.shutdown_timeout(Duration::from_secs(5));
    let detect_wait = waited.elapsed().as_secs_f64();
    let gauge = |s: &str| metric(&d.base, "hookwheel_monitors{", &format!("status=\"{s}\""));
    let (up_end, late_end, down_end) = (gauge("up"), gauge("late"), gauge("down"));
    eprintln!(
        "monitors: {down:.0} of {samples} down after {detect_wait:.1} s; at the end {up_end:.0} up, {late_end:.0} late, \
         {down_end:.0} down"
    );
    let sampled: Vec<String> = ids.iter().zip(sample.iter()).filter(|(_, s)| **s).map(|(id, _)| id.clone()).collect();
    let mut detection: Vec<i64> = Vec::new();
    let mut missing = 0usize;
    for id in &sampled {
        let r = api.post("get_monitor_details", json!({"monitor_uuid": id}));
        let flip = r["data"]["status_changes"]
            .as_array()
            .and_then(|c| c.iter().find(|f| f["to"] == "down" && f["cause"] == "deadline"))
            .and_then(|f| Some(ts_ms(&f["at"])? - ts_ms(&f["deadline_at"])?));
        match flip {
            Some(ms) => detection.push(ms),
            None => missing += 1,
        }
    }
    detection.sort_unstable();
    let peak = peak_rss_mib(pid);
    let errors = d.log.lock().unwrap().iter().filter(|l| l.contains(" ERROR ")).count();
    d.stop();

    if !slow.is_empty() {
        let warm_s = warm.as_secs();
        eprintln!(
            "monitors: pings over {SLOW_MS} ms by second of the window (second: pings): {}",
            slow.iter().map(|(s, c)| format!("{}: {c}", s.saturating_sub(warm_s))).collect::<Vec<_>>().join(", ")
        );
    }
    let (refused, failed) = (tally.refused.load(Ordering::Relaxed), tally.failed.load(Ordering::Relaxed));
    let (p50, p99, max) = spread_ms(&lat[1]);
    let ratio = if f99 > 0.0 { p99 / f99 } else { f64::NAN };
    let (d50, d99, dmax) =
        (percentile(&detection, 0.5), percentile(&detection, 0.99), detection.last().copied().unwrap_or(-1));
    // Monitors outside the sample that were not up at the end (none expected).
    let others_not_up = (n as f64 - up_end - samples as f64).max(0.0);
    eprintln!(
        "monitors: {n} monitors, {rate:.0} pings/s offered, {achieved:.0}/s answered 2xx over {window_secs:.1} s; \
         {refused} refused (last status {}), {failed} without an answer; ping latency p50 {p50:.2} ms, p99 {p99:.2} ms, \
         max {max:.1} ms (floor p50 {f50:.2} ms, p99 {f99:.2} ms: ×{ratio:.1}); {} pings during detection; \
         CPU daemon {daemon_cpu:.0} %, clients {client_cpu:.0} %; RSS {rss_start:.0} → {rss_end:.0} MiB (peak {peak:.0}); \
         detection − deadline over {} monitors: p50 {d50} ms, p99 {d99} ms, max {dmax} ms ({missing} without a deadline \
         change); {others_not_up:.0} other monitors not up; {errors} ERROR lines in the daemon's log",
        tally.last_refusal.load(Ordering::Relaxed),
        lat[2].len(),
        detection.len(),
    );
    rows.push(Row {
        metric: format!(
            "monitors: {n} heartbeat monitors pinged at {rate:.0} pings/s, {clients} open-loop clients, {window_secs:.0} s \
             (answered after commit)"
        ),
        goal: "(no goal)".into(),
        measured: format!(
            "{achieved:.0} pings/s ({refused} refused, {failed} failed); ping latency p50 {p50:.2} ms, p99 {p99:.2} ms, \
             max {max:.1} ms (floor p99 {f99:.2} ms, ×{ratio:.1}); CPU daemon {daemon_cpu:.0} %, clients {client_cpu:.0} % \
             (of 200 %); created at {create_rate:.0}/s"
        ),
        met: None,
        ..Row::default()
    });
    rows.push(Row {
        metric: format!("monitors: daemon RSS with {n} monitors over the {window_secs:.0} s of pings"),
        goal: "(no goal)".into(),
        measured: format!(
            "{rss_start:.0} MiB at the start → {rss_end:.0} MiB at the end (after creation {rss_created:.0} MiB; peak {peak:.0} MiB)"
        ),
        met: None,
        ..Row::default()
    });
    rows.push(Row {
        metric: format!(
            "monitors: missing ping noticed, detection − deadline, {} of {samples} unpinged monitors (others still pinged)",
            detection.len()
        ),
        goal: "≤ 1 s (issue 11)".into(),
        measured: format!(
            "p50 {d50} ms, p99 {d99} ms, max {dmax} ms; {others_not_up:.0} pinged monitors not up"
        ),
        met: Some(detection.len() == samples && d99 <= DETECTION_GOAL_MS && others_not_up == 0.0),
        ..Row::default()
    });
}
