//! Load harness: runs the release daemon against its own store and a loopback receiver and
//! prints one table of the performance goals (product.md §9) with the measured figures.
//!
//!     cargo bench --bench load                  # everything, default sizes
//!     HW_LOAD_SCHEDULES=200000 cargo bench --bench load -- rearm
//!     cargo bench --bench load -- soak          # the 10-minute soak (never part of the default run)
//!
//! Scenarios (names as arguments select a subset):
//! - `rearm`: a store with HW_LOAD_SCHEDULES (1,000,000) active schedules is written through
//!   the library, then the daemon is started on it HW_LOAD_RUNS (3) times: time to re-arm
//!   (from the daemon's log) and resident memory once it serves (VmRSS), medians.
//! - `lateness`: at each rate of HW_LOAD_FIRES (`2000,5000,10000`), HW_LOAD_RUNS (3) runs of
//!   hookwheel and of the floor (a minimal scheduler in a child process, `load/floor.rs`: one
//!   tokio `sleep_until` per fire + a pooled reqwest POST), one after the other, each against a
//!   fresh in-process loopback receiver: `fires` schedules firing every second for
//!   HW_LOAD_SECONDS (20), anchors spread evenly over the second; lateness = arrival at the
//!   receiver − scheduled instant (from the Idempotency-Key) over all fires after a 3 s
//!   warm-up, p50/p99/max as medians (min–max) of the runs, hookwheel / floor / ratio, with
//!   each scheduler's CPU and the receiver's (% of one core).
//! - `throughput`: HW_LOAD_THROUGHPUT_SCHEDULES (10,000) schedules firing every second to a
//!   loopback receiver: executions recorded as succeeded per second (from /metrics), and the
//!   delivery overhead (arrival − instant) p50/p99.
//! - `workflows`: HW_LOAD_RUNS_WF (1,000) 3-step FIFO workflow runs started at once: runs
//!   per second and the step-to-step overhead p50/p99.
//! - `create`: schedule creations through the API with 16 concurrent clients (durable
//!   acknowledgement, group commit), creations per second.
//! - `ingest`: HW_LOAD_INGEST_CLIENTS (64) closed-loop keep-alive clients post events to one
//!   source's ingest URL for HW_LOAD_INGEST_SECONDS (60), each event fanned out by 2
//!   subscriptions to webhooks on a loopback receiver: events/s accepted, ingest latency
//!   p50/p99, executions/s delivered and the backlog left, CPU of the daemon, the receiver and
//!   the clients, the daemon's RSS at the start and the end. Details in `benches/load/ingest.rs`.
//! - `monitors`: HW_LOAD_MONITORS (100,000) heartbeat monitors created through the API, pinged
//!   round-robin at HW_LOAD_PING_RATE (2,000) pings/s by open-loop keep-alive clients for
//!   HW_LOAD_PING_SECONDS (60) after a warm-up round: ping latency p50/p99/max beside a floor
//!   (the same clients against the loopback receiver), CPU, RSS at the start and the end; then
//!   HW_LOAD_MONITOR_SAMPLE (1,000) monitors are no longer pinged while the others are, and
//!   detection − deadline of their `down` change is p50/p99/max. Details in
//!   `benches/load/monitors.rs`.
//! - `soak` (only when named: it takes HW_SOAK_SECONDS, 600 by default, plus set-up and
//!   check): HW_SOAK_SCHEDULES (2,000) schedules × 1/s to a loopback receiver that answers a
//!   seeded random share of requests with faults (HW_SOAK_FAULTS, default
//!   `500=0.05,timeout=0.03,reset=0.03,slow=0.04`: status 500, an answer after the template's
//!   1 s request timeout, a connection closed without an answer, a body sent slowly; the
//!   template retries 3 times, 1/2/3 s apart), with HW_SOAK_KILLS (10) `kill -9`s at random
//!   moments, each followed by a restart on the same data directory. Then a Chronos-style
//!   check: every due instant reached the receiver or is recorded as an execution (lost = 0),
//!   duplicates counted; the daemon's RSS and open fds per life with a flat/growing verdict;
//!   store commits and attempts by outcome from /metrics. HW_SOAK_SEED replays a run (the
//!   seed is printed); HW_SOAK_QUIET_SECONDS (20) is the wait for retries after the load;
//!   HW_SOAK_KEEP=1 keeps the data directory and the daemon logs (kept anyway when an instant
//!   is lost); HW_SOAK_CACHE_MIB (16) is the daemon's `store.cache_mib`, small so that the page
//!   cache filling up is not mistaken for growth. Details in `benches/load/soak.rs`.
//!
//! HW_LOAD_BIN runs another build of the daemon instead of this one (e.g. a copy of
//! `target/release/hookwheel` from another commit, to compare two builds in one sitting).
//!
//! The wheel's own per-operation cost is `cargo bench --bench wheel`.

#[path = "load/floor.rs"]
mod floor;
#[path = "load/ingest.rs"]
mod ingest;
#[path = "load/monitors.rs"]
mod monitors;
#[path = "../tests/it/receiver.rs"]
mod receiver;
#[path = "load/soak.rs"]
mod soak;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use hookwheel::metrics::Metrics;
use hookwheel::model::{BrandId, MisfirePolicy, OverlapPolicy, Schedule, ScheduleId, ScheduleStatus, TargetKind};
use hookwheel::schedule::Driver;
use hookwheel::schedule::interval::{IntervalSpec, Period};
use hookwheel::store::{STORE_FILE, Store, WriterSettings};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_hookwheel");

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[allow(clippy::disallowed_methods)] // the harness measures against the real clock
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[allow(clippy::disallowed_methods)]
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Daemon {
    child: Child,
    base: String,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Daemon {
    /// Starts `serve` on `data` and waits until it listens.
    fn start(dir: &Path, extra: &str) -> Daemon {
        let config = dir.join("hookwheel.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = [\"127.0.0.1:0\"]\ndata_dir = \"{}\"\n[api]\nrate_limit_per_minute = 0\npage_size = 1000\n{extra}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let bin = std::env::var("HW_LOAD_BIN").unwrap_or_else(|_| BIN.to_string());
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hookwheel");
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        let mut base = String::new();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("hookwheel listening on ") {
                base = a.trim().to_string();
                break;
            }
        }
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        assert!(!base.is_empty(), "daemon did not start: {:?}", log.lock().unwrap());
        Daemon { child, base, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    /// Open file descriptors of the daemon (entries of /proc/<pid>/fd).
    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map(|d| d.count()).unwrap_or(0)
    }

    /// SIGKILL, then reaps the process; returns the lines it logged.
    fn kill9(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    fn rearm_seconds(&self) -> Option<f64> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("scheduler re-armed schedules"))
            .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("seconds=")).and_then(|s| s.parse().ok()))
    }

    fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

fn credentials(dir: &Path) -> (String, String) {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("data/initial-credentials.json")).unwrap()).unwrap();
    (v["brand_uuid"].as_str().unwrap().into(), v["api_key"].as_str().unwrap().into())
}

struct Api {
    base: String,
    brand: String,
    key: String,
    http: reqwest::blocking::Client,
}

impl Api {
    fn new(d: &Daemon, dir: &Path) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (brand, key) = credentials(dir);
        Api { base: d.base.clone(), brand, key, http: reqwest::blocking::Client::new() }
    }
    fn post(&self, action: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/v1/api/{action}/", self.base))
            .header("x-hookpulse-api-key", &self.key)
            .header("x-brand-uuid", &self.brand)
            .json(&body)
            .send()
            .expect("request");
        r.json().unwrap_or(Value::Null)
    }
    /// POST `/v1/api/<action>/` and the new object's id, the string at `field` of the answer.
    fn id_of(&self, action: &str, body: Value, field: &str) -> String {
        let r = self.post(action, body);
        r[field].as_str().unwrap_or_else(|| panic!("{action}: no {field} in {r}")).to_string()
    }
    /// GET `/v1/api/<action>/?<query>` (`action_and_query` = `action?query`).
    fn get(&self, action_and_query: &str) -> Value {
        let (action, query) = action_and_query.split_once('?').unwrap_or((action_and_query, ""));
        let r = self
            .http
            .get(format!("{}/v1/api/{action}/?{query}", self.base))
            .header("x-hookpulse-api-key", &self.key)
            .header("x-brand-uuid", &self.brand)
            .send()
            .expect("request");
        r.json().unwrap_or(Value::Null)
    }
}

/// Writes `n` active hourly schedules (workflow targets, spread over the next hour) straight
/// into a store file, through the library's group-committing writer.
fn populate(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = Store::open(
            &dir.join("data").join(STORE_FILE),
            WriterSettings { commit_batch_max: 4096, write_queue_capacity: 16384, cache_bytes: 256 * 1024 * 1024 },
            Metrics::new(),
        )
        .unwrap();
        let brand = BrandId::new();
        let now = now_ms();
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let anchor = now - (i as i64 * 3_600_000 / n as i64);
            let driver = Driver::Interval(IntervalSpec {
                value: 1,
                period: Period::Hour,
                anchor_ms: anchor,
                anchor_fires: false,
                one_off: false,
            });
            let s = Schedule {
                id: ScheduleId::new(),
                brand,
                name: None,
                target_kind: TargetKind::Workflow,
                target_id: uuid::Uuid::new_v4(),
                next_fire_ms: driver.next_after(now),
                driver,
                initial_context: Default::default(),
                misfire: MisfirePolicy::FireOnce,
                misfire_grace_seconds: 3600,
                overlap: OverlapPolicy::Allow,
                jitter_seconds: 0,
                status: ScheduleStatus::Active,
                reason: None,
                rules: Vec::new(),
                last_run_ms: None,
                total_triggered: 0,
                debounce: Default::default(),
                buffered_ms: None,
                version: 0,
                created_ms: now,
                updated_ms: now,
            };
            let st = store.clone();
            set.spawn(async move { st.create_schedule(s).await.map(|_| ()) });
            if set.len() >= 8192 {
                while let Some(r) = set.join_next().await {
                    r.unwrap().unwrap();
                    if set.len() < 4096 {
                        break;
                    }
                }
            }
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        store.shutdown().await;
    });
}

struct Row {
    metric: String,
    goal: String,
    measured: String,
    met: Option<bool>,
}

fn rearm(rows: &mut Vec<Row>) {
    let n = env_usize("HW_LOAD_SCHEDULES", 1_000_000);
    let runs = env_usize("HW_LOAD_RUNS", 3);
    let dir = tempfile::tempdir().unwrap();
    let t = stopwatch();
    populate(dir.path(), n);
    let populate_s = t.elapsed().as_secs_f64();
    eprintln!(
        "rearm: wrote {n} schedules in {populate_s:.1} s ({:.0}/s through the library writer)",
        n as f64 / populate_s
    );
    let (mut secs, mut rss, mut ready) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let t = stopwatch();
        let d = Daemon::start(dir.path(), "");
        ready.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(500));
        let s = d.rearm_seconds().unwrap_or(f64::NAN);
        let r = d.rss_mib();
        eprintln!("rearm run {run}: re-armed in {s:.2} s, ready after {:.2} s, RSS {r:.0} MiB", ready.last().unwrap());
        secs.push(s);
        rss.push(r);
        d.stop();
    }
    let (s, r, ready_s) = (median(secs), median(rss), median(ready));
    rows.push(Row {
        metric: format!("restart re-arm, {n} schedules (median of {runs})"),
        goal: "≤ 3 s".into(),
        measured: format!("{s:.2} s (ready to serve after {ready_s:.2} s)"),
        met: Some(s <= 3.0),
    });
    rows.push(Row {
        metric: format!("RSS with {n} armed schedules (median of {runs})"),
        goal: "≤ 512 MiB".into(),
        measured: format!("{r:.0} MiB"),
        met: Some(r <= 512.0),
    });
}

/// Lateness in µs of every fire due in `[warm, end)` as the receiver saw it: arrival − the
/// instant carried in the `Idempotency-Key` (`…_<instant ms>`), sorted.
fn lateness_at_receiver(rx: &receiver::Receiver, warm: i64, end: i64) -> Vec<i64> {
    let mut late: Vec<i64> = rx
        .requests()
        .iter()
        .filter_map(|r| {
            let key = r.header("idempotency-key")?;
            let instant: i64 = key.rsplit('_').next()?.parse().ok()?;
            (instant >= warm && instant < end).then_some(r.at_us - instant * 1000)
        })
        .collect();
    late.sort();
    late
}

/// CPU ticks (utime + stime) of a process so far.
fn cpu_ticks(pid: u32) -> u64 {
    ingest::stat_ticks(Path::new(&format!("/proc/{pid}/stat"))).map_or(0, |t| t.1)
}

/// % of one core used between two tick readings `secs` apart.
fn cpu_percent(ticks: u64, secs: f64) -> f64 {
    ticks as f64 / ingest::ticks_per_second() / secs * 100.0
}

/// One measured run of a scheduler: lateness percentiles (ms), share of due fires that
/// arrived, the scheduler's and the receiver's CPU (% of one core).
#[derive(Clone, Copy)]
struct LatenessRun {
    p50: f64,
    p99: f64,
    max: f64,
    arrived: f64,
    cpu: f64,
    receiver_cpu: f64,
}

impl LatenessRun {
    fn measure(rx: &receiver::Receiver, warm: i64, end: i64, fires: usize, cpu: f64, receiver_cpu: f64) -> LatenessRun {
        let late = lateness_at_receiver(rx, warm, end);
        let expected = fires as f64 * (end - warm) as f64 / 1000.0;
        let ms = |us: i64| us as f64 / 1000.0;
        LatenessRun {
            p50: ms(percentile(&late, 0.5)),
            p99: ms(percentile(&late, 0.99)),
            max: ms(late.last().copied().unwrap_or(-1000)),
            arrived: late.len() as f64 / expected,
            cpu,
            receiver_cpu,
        }
    }
}

/// Median and range of one figure over runs, printed `median (min–max)`.
fn spread(runs: &[LatenessRun], f: impl Fn(&LatenessRun) -> f64) -> (f64, String) {
    let v: Vec<f64> = runs.iter().map(f).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = median(v);
    if hi < 100.0 { (m, format!("{m:.1} ({lo:.1}–{hi:.1})")) } else { (m, format!("{m:.0} ({lo:.0}–{hi:.0})")) }
}

/// The harness's own CPU over a window: the in-process receiver's (the harness's main thread
/// only sleeps while a run goes on).
struct HarnessCpu(u64);

impl HarnessCpu {
    fn start() -> HarnessCpu {
        HarnessCpu(cpu_ticks(std::process::id()))
    }
    fn percent(&self, secs: f64) -> f64 {
        cpu_percent(cpu_ticks(std::process::id()).saturating_sub(self.0), secs)
    }
}

/// Fire lateness of hookwheel and of the floor (`floor.rs`) at each rate of HW_LOAD_FIRES
/// (`2000,5000,10000`), HW_LOAD_RUNS runs each, one after the other against the same kind of
/// loopback receiver: `fires` interval schedules × 1 s, anchors spread evenly over the second,
/// lateness = arrival − instant over HW_LOAD_SECONDS after a 3 s warm-up; medians with min–max,
/// each process's CPU beside.
fn lateness(rows: &mut Vec<Row>) {
    let rates: Vec<usize> = std::env::var("HW_LOAD_FIRES")
        .unwrap_or_else(|_| "2000,5000,10000".into())
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .collect();
    let seconds = env_usize("HW_LOAD_SECONDS", 20) as i64;
    let runs = env_usize("HW_LOAD_RUNS", 3);
    for fires in rates {
        let (mut ours, mut floors) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let r = lateness_hookwheel(fires, seconds);
            eprintln!(
                "lateness {fires}/s run {run} hookwheel: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.1}% arrived, CPU {:.0} %, receiver {:.0} %",
                r.p50,
                r.p99,
                r.max,
                r.arrived * 100.0,
                r.cpu,
                r.receiver_cpu
            );
            ours.push(r);
            let f = lateness_floor(fires, seconds);
            eprintln!(
                "lateness {fires}/s run {run} floor: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.1}% arrived, CPU {:.0} %, receiver {:.0} %",
                f.p50,
                f.p99,
                f.max,
                f.arrived * 100.0,
                f.cpu,
                f.receiver_cpu
            );
            floors.push(f);
        }
        let (p99, p99_s) = spread(&ours, |r| r.p99);
        let (floor_p99, floor_p99_s) = spread(&floors, |r| r.p99);
        let (_, p50_s) = spread(&ours, |r| r.p50);
        let (_, max_s) = spread(&ours, |r| r.max);
        let (_, floor_p50_s) = spread(&floors, |r| r.p50);
        let (_, cpu_s) = spread(&ours, |r| r.cpu);
        let (_, floor_cpu_s) = spread(&floors, |r| r.cpu);
        let (_, rx_cpu_s) = spread(&ours, |r| r.receiver_cpu);
        let (arrived, _) = spread(&ours, |r| r.arrived * 1000.0);
        let limit = match fires {
            ..=2000 => Some(1.0),
            10_000.. => Some(5.0),
            _ => None,
        };
        let ratio = p99 / floor_p99.max(0.001);
        rows.push(Row {
            metric: format!(
                "fire lateness at {fires} fires/s, receiver arrival − instant, hookwheel / floor (median (min–max) of {runs} runs)"
            ),
            goal: match limit {
                Some(l) => format!("p99 ≤ {l} ms and ≤ 0.5 × floor"),
                None => "p99 ≤ 0.5 × floor".into(),
            },
            measured: format!(
                "p99 {p99_s} / {floor_p99_s} ms (ratio {ratio:.2}); p50 {p50_s} / {floor_p50_s} ms; max {max_s} ms; \
                 CPU {cpu_s} / {floor_cpu_s} %, receiver {rx_cpu_s} %; {:.1}% of due fires arrived",
                arrived / 10.0
            ),
            met: Some(limit.is_none_or(|l| p99 <= l) && ratio <= 0.5),
        });
    }
}

/// One hookwheel run: a fresh daemon, `fires` interval schedules created through the API.
fn lateness_hookwheel(fires: usize, seconds: i64) -> LatenessRun {
    let rx = receiver::Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let api = Api::new(&d, dir.path());
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": rx.host()}), "domain_uuid");
    let template = api.id_of(
        "add_webhook_template",
        json!({"webhook_name": "load", "method": "POST", "path": "/load", "domain_uuid": domain, "max_retries": 0}),
        "webhook_uuid",
    );
    // Anchors spread evenly over one second: `fires` fires per second, about the same number
    // due in every millisecond; creation goes first (about 2,000 per second).
    let start = (now_ms() / 1000 + 2 + fires as i64 / 2000) * 1000;
    for i in 0..fires {
        let start_iso =
            jiff::Timestamp::from_millisecond(start + (i as i64 * 1000) / fires as i64).unwrap().to_string();
        let r = api.post(
            "add_interval_schedule",
            json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1, "interval_period": "second",
                   "is_one_off_task": false, "start_at": start_iso}),
        );
        assert_eq!(r["success"], true, "{r}");
    }
    let run_start = now_ms().max(start);
    let (warm, end) = (run_start + 3000, run_start + seconds * 1000);
    std::thread::sleep(Duration::from_millis((warm - now_ms()).max(0) as u64));
    let (daemon0, harness) = (cpu_ticks(d.pid()), HarnessCpu::start());
    std::thread::sleep(Duration::from_millis((end - now_ms()).max(0) as u64));
    let secs = (end - warm) as f64 / 1000.0;
    let (cpu, receiver_cpu) = (cpu_percent(cpu_ticks(d.pid()).saturating_sub(daemon0), secs), harness.percent(secs));
    std::thread::sleep(Duration::from_millis(1500));
    d.stop();
    LatenessRun::measure(&rx, warm, end, fires, cpu, receiver_cpu)
}

/// One floor run against a fresh receiver of the same kind.
fn lateness_floor(fires: usize, seconds: i64) -> LatenessRun {
    let rx = receiver::Receiver::start();
    let start = (now_ms() / 1000 + 2) * 1000;
    let mut child = floor::spawn(&format!("http://{}/load", rx.host()), fires, start, seconds);
    let (warm, end) = (start + 3000, start + seconds * 1000);
    std::thread::sleep(Duration::from_millis((warm - now_ms()).max(0) as u64));
    let (floor0, harness) = (cpu_ticks(child.id()), HarnessCpu::start());
    std::thread::sleep(Duration::from_millis((end - now_ms()).max(0) as u64));
    let secs = (end - warm) as f64 / 1000.0;
    let (cpu, receiver_cpu) = (cpu_percent(cpu_ticks(child.id()).saturating_sub(floor0), secs), harness.percent(secs));
    let _ = child.wait();
    LatenessRun::measure(&rx, warm, end, fires, cpu, receiver_cpu)
}

/// Reads one counter from /metrics (sum over label sets matching `filter`).
fn metric(base: &str, name: &str, filter: &str) -> f64 {
    let text = reqwest::blocking::get(format!("{base}/metrics")).and_then(|r| r.text()).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// End-to-end throughput: HW_LOAD_THROUGHPUT_SCHEDULES (10,000) schedules firing every second,
/// anchors spread over the second, to a loopback receiver; executions recorded as succeeded
/// per second over HW_LOAD_SECONDS, and the delivery overhead (request arrival − instant).
fn throughput(rows: &mut Vec<Row>) {
    let n = env_usize("HW_LOAD_THROUGHPUT_SCHEDULES", 10_000);
    let seconds = env_usize("HW_LOAD_SECONDS", 20) as i64;
    let rx = receiver::Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let api = Api::new(&d, dir.path());
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": rx.host()}), "domain_uuid");
    let template = api.id_of("add_webhook_template", json!({"webhook_name": "tp", "method": "POST", "path": "/tp", "domain_uuid": domain, "max_retries": 0, "request_body_json": {"k": "v"}}), "webhook_uuid");
    let start = (now_ms() / 1000 + 5 + n as i64 / 2000) * 1000;
    let api = Arc::new(api);
    let threads = 8;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (api, template) = (api.clone(), template.clone());
            std::thread::spawn(move || {
                for i in (t..n).step_by(threads) {
                    let at =
                        jiff::Timestamp::from_millisecond(start + (i as i64 * 1000) / n as i64).unwrap().to_string();
                    let r = api.post(
                        "add_interval_schedule",
                        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1,
                               "interval_period": "second", "is_one_off_task": false, "start_at": at}),
                    );
                    assert_eq!(r["success"], true, "{r}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(now_ms() < start, "creating {n} schedules took too long; lower HW_LOAD_THROUGHPUT_SCHEDULES");
    std::thread::sleep(Duration::from_millis((start - now_ms()) as u64 + 3000));
    let (t0, c0) = (now_ms(), metric(&d.base, "hookwheel_executions_total", "succeeded"));
    std::thread::sleep(Duration::from_secs(seconds as u64));
    let (t1, c1) = (now_ms(), metric(&d.base, "hookwheel_executions_total", "succeeded"));
    let rate = (c1 - c0) / ((t1 - t0) as f64 / 1000.0);
    d.stop();
    let mut over: Vec<i64> = rx
        .requests()
        .iter()
        .filter_map(|r| {
            let instant: i64 = r.header("idempotency-key")?.rsplit('_').next()?.parse().ok()?;
            (instant >= t0 && instant < t1).then_some(r.at_ms - instant)
        })
        .collect();
    over.sort();
    eprintln!(
        "throughput: {rate:.0} executions/s recorded; overhead p50 {} ms, p99 {} ms",
        percentile(&over, 0.5),
        percentile(&over, 0.99)
    );
    rows.push(Row {
        metric: format!("end-to-end executions/s, {n} schedules × 1/s, durable (fire recorded, sent, result recorded)"),
        goal: "≥ 10,000 /s".into(),
        measured: format!(
            "{rate:.0} /s; delivery overhead p50 {} ms, p99 {} ms",
            percentile(&over, 0.5),
            percentile(&over, 0.99)
        ),
        met: Some(rate >= 10_000.0),
    });
}

/// HW_LOAD_RUNS_WF (1,000) runs of a 3-step FIFO workflow started at once (execute_workflow
/// from 8 clients) against a loopback receiver: runs per second until all finished, and the
/// step-to-step overhead (arrival of step n+1 − arrival of step n) p50/p99.
fn workflows(rows: &mut Vec<Row>) {
    let n = env_usize("HW_LOAD_RUNS_WF", 1000);
    let rx = receiver::Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let api = Arc::new(Api::new(&d, dir.path()));
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": rx.host()}), "domain_uuid");
    let wf = api.id_of(
        "add_workflow_template",
        json!({"workflow_name": "bench", "workflow_description": "", "runtype": "fifo_sequential"}),
        "workflow_uuid",
    );
    for (i, ident) in ["one", "two", "three"].iter().enumerate() {
        let r = api.post(
            "add_workflow_step",
            json!({"workflow_uuid": wf, "index": i, "step_identifier": ident, "webhook_name": ident, "webhook_description": "",
                   "method": "POST", "path": format!("/{ident}"), "domain_uuid": domain, "human_approval_required": false,
                   "on_success_next_step_identifier": "", "on_fail_next_step_identifier": "", "delay_to_next_step": 0,
                   "request_body_json": if i == 0 { json!({"k": "{{ initial.k }}"}) } else { json!({"prev": "{{ step.response.ok }}"}) }}),
        );
        assert_eq!(r["success"], true, "{r}");
    }
    let before = metric(&d.base, "hookwheel_executions_total", "succeeded");
    let t = stopwatch();
    let threads = 8;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (api, wf) = (api.clone(), wf.clone());
            std::thread::spawn(move || {
                for _ in 0..n / threads {
                    let r = api.post("execute_workflow", json!({"workflow_uuid": wf, "initial_context": {"k": 1}}));
                    assert_eq!(r["success"], true, "{r}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total = (n / threads * threads) as f64;
    // Each run records 3 step executions and its own execution.
    let target = before + total * 4.0;
    let deadline = stopwatch() + Duration::from_secs(600);
    while metric(&d.base, "hookwheel_executions_total", "succeeded") < target && stopwatch() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = t.elapsed().as_secs_f64();
    d.stop();
    let mut by_run: std::collections::HashMap<String, Vec<(usize, i64)>> = std::collections::HashMap::new();
    for r in rx.requests() {
        let Some(key) = r.header("idempotency-key") else { continue };
        // hw_manual_<run>_<identifier>_<visit>
        let parts: Vec<&str> = key.rsplitn(3, '_').collect();
        if let [visit, _ident, run] = parts[..] {
            by_run.entry(run.to_string()).or_default().push((visit.parse().unwrap_or(0), r.at_ms));
        }
    }
    let mut gaps = Vec::new();
    for v in by_run.values_mut() {
        v.sort();
        for w in v.windows(2) {
            gaps.push(w[1].1 - w[0].1);
        }
    }
    gaps.sort();
    let rate = total / secs;
    eprintln!(
        "workflows: {total} runs in {secs:.1} s ({rate:.0}/s); step-to-step p50 {} ms, p99 {} ms",
        percentile(&gaps, 0.5),
        percentile(&gaps, 0.99)
    );
    rows.push(Row {
        metric: format!("{total} concurrent 3-step FIFO workflow runs (execute_workflow, loopback receiver)"),
        goal: "(report)".into(),
        measured: format!(
            "{rate:.0} runs/s; step-to-step overhead p50 {} ms, p99 {} ms",
            percentile(&gaps, 0.5),
            percentile(&gaps, 0.99)
        ),
        met: None,
    });
}

fn create(rows: &mut Vec<Row>) {
    let n = env_usize("HW_LOAD_CREATES", 20_000);
    let threads = 16;
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let api = Arc::new(Api::new(&d, dir.path()));
    let domain = api.id_of("add_domain", json!({"protocol_type": "http", "domain": "127.0.0.1:9"}), "domain_uuid");
    let template = api.id_of(
        "add_webhook_template",
        json!({"webhook_name": "c", "method": "POST", "path": "/c", "domain_uuid": domain}),
        "webhook_uuid",
    );
    let t = stopwatch();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let api = api.clone();
            let template = template.clone();
            std::thread::spawn(move || {
                for _ in 0..n / threads {
                    let r = api.post(
                        "add_interval_schedule",
                        json!({"schedule_to": "webhook", "model_to_schedule_uuid": template, "interval_value": 1, "interval_period": "hour", "is_one_off_task": false}),
                    );
                    assert_eq!(r["success"], true);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let rate = (n / threads * threads) as f64 / t.elapsed().as_secs_f64();
    // What creation leaves behind: the daemon's RSS once the creations are answered and it
    // has had a second to settle.
    std::thread::sleep(Duration::from_secs(1));
    let rss = d.rss_mib();
    d.stop();
    rows.push(Row {
        metric: format!("schedule creations through the API, {threads} clients, durable"),
        goal: "≥ 10,000 /s".into(),
        measured: format!("{rate:.0} /s"),
        met: Some(rate >= 10_000.0),
    });
    rows.push(Row {
        metric: format!("RSS of the daemon after {} creations through the API", n / threads * threads),
        goal: "1,000,000 armed in ≤ 128 MiB".into(),
        measured: format!("{rss:.0} MiB"),
        met: None,
    });
}

fn main() {
    if floor::run_if_child() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let want = |name: &str| args.is_empty() || args.iter().any(|a| a == name);
    let mut rows = Vec::new();
    if want("rearm") {
        rearm(&mut rows);
    }
    if want("lateness") {
        lateness(&mut rows);
    }
    if want("create") {
        create(&mut rows);
    }
    if want("throughput") {
        throughput(&mut rows);
    }
    if want("workflows") {
        workflows(&mut rows);
    }
    if want("ingest") {
        ingest::ingest(&mut rows);
    }
    if want("monitors") {
        monitors::monitors(&mut rows);
    }
    // Ten minutes by default: only when asked for by name.
    if args.iter().any(|a| a == "soak") {
        soak::soak(&mut rows);
    }
    println!("\n| metric | goal | measured | met |\n|---|---|---|---|");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        println!("| {} | {} | {} | {met} |", r.metric, r.goal, r.measured);
    }
}
