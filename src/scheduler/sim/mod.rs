//! The seeded simulation test, after FoundationDB's simulator and TigerBeetle's VOPR: the real
//! scheduler loop, delivery engine (guard, retries, recording) and store (writer thread, redb
//! file) run under tokio's paused clock against a fake receiver, while the simulation injects
//! receiver faults (5xx, 429/503 with `Retry-After`, 410, timeouts, resets, slow answers),
//! store faults (the `store::*` failpoints: disk full at commit, I/O errors in writes and
//! reads) and kills (the whole runtime is dropped mid-step, the store reopened after a random
//! downtime). After every step [`checker::Checker`] checks the safety invariants; at the end,
//! with faults off, liveness: everything due is recorded and nothing is left pending.
//!
//! One seed decides the workload (schedules, templates, policies), when each fault and kill
//! happens and how the receiver answers each request. `HW_SIM_SEED=0x…` (or decimal) replays a
//! seed; `HW_SIM_STEPS` and `HW_SIM_SCHEDULES` make the run longer or wider. The store's writer
//! is a real thread, so how far simulated time moves while a commit is in flight can differ
//! between two runs of one seed; a failure names the seed and the invariant that broke.

mod checker;
mod transport;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde_json::{Map, json};
use tokio::sync::mpsc;

use crate::delivery::egress::EgressPolicy;
use crate::delivery::{DeliveryLimits, Engine};
use crate::metrics::Metrics;
use crate::model::{
    Brand, BrandId, Domain, DomainId, HttpMethod, MisfirePolicy, OverlapPolicy, Protocol, RetryPolicy, RuleId,
    Schedule, ScheduleId, ScheduleRule, ScheduleStatus, Secret, SecretId, SigningKey, TargetKind, TemplateId,
    WebhookTemplate,
};
use crate::schedule::Driver;
use crate::schedule::clocked::ClockedSpec;
use crate::schedule::cron::CronSpec;
use crate::schedule::interval::{IntervalSpec, Period};
use crate::schedule::rules::Rule;
use crate::store::{Store, StoreError, WriterSettings};
use crate::time::{Clock, Millis, TokioClock};
use crate::vault::{KeySource, Vault};
use checker::{Checker, SchedSpec};
use transport::{FakeTransport, Log, Mix};

/// The `Authorization` header every template renders from the brand's secret `token`.
const AUTHORIZATION: &str = "Bearer s3cr3t-token";
const SECRET_VALUE: &str = "s3cr3t-token";

/// Steps of the faulty phase in a default run: about 14 simulated minutes up, and with ten
/// kills' downtime (a few seconds to 45 minutes each) about an hour of simulated time.
const STEPS_DEFAULT: u64 = 4_000;
const SCHEDULES_DEFAULT: usize = 32;
/// Kills in a run of [`STEPS_DEFAULT`] steps, on average.
const KILLS_PER_DEFAULT_RUN: f64 = 10.0;
/// One step of the faulty phase lasts this long (uniform), in simulated ms.
const STEP_MS: (u64, u64) = (20, 400);
/// Steps of the quiet phase, in simulated ms.
const QUIET_STEP_MS: u64 = 1000;
/// How long the quiet phase may take to finish everything due before the horizon.
const QUIESCE_MAX_MS: i64 = 2 * 3_600_000;
/// Delivery limits: a small in-memory queue per domain so that executions get parked in the
/// store and brought back (`spilled`), a short cap on retry delays.
const LIMITS: DeliveryLimits = DeliveryLimits {
    max_in_flight: 32,
    max_response_bytes: 4096,
    retry_delay_max_ms: 30_000,
    queue_memory_max: 16,
    signing_overlap_ms: 0,
};

/// Store faults the simulation switches on for a few steps: (failpoint, action, what it is).
/// Only faults of the store file itself (I/O): the daemon must ride them out without losing
/// or stranding anything. Counted actions (`3*…`) are deterministic, unlike `fail`'s
/// probabilities, whose random source is not seeded.
const STORE_FAULTS: [(&str, &str); 8] = [
    ("store::commit", "return"),
    ("store::commit", "1*return"),
    ("store::write", "return(eio)"),
    ("store::write", "3*return(eio)"),
    ("store::read", "return"),
    ("store::get", "return(eio)"),
    ("store::get", "return(eio:templates)"),
    ("store::get", "return(eio:executions)"),
];
const FAILPOINTS: [&str; 4] = ["store::commit", "store::write", "store::read", "store::get"];

/// Starting instants (chosen by the seed), each 15 minutes before a DST transition of a zone
/// the cron schedules use: New York spring and fall, London spring, Lord Howe (30-minute shift).
const STARTS: [&str; 4] =
    ["2027-03-14T06:45:00Z", "2027-11-07T05:45:00Z", "2027-03-28T00:45:00Z", "2027-10-02T15:15:00Z"];
const ZONES: [&str; 5] = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata"];
const CRONS: [&str; 9] = [
    "*/5 * * * * *",
    "*/13 * * * * *",
    "0,20,40 * * * * *",
    "15 */2 * * * *",
    "0 * * * * *",
    "30 */3 * * * *",
    "*/2 * * * *",
    "10 30 * * * *",
    "0 0,15,30,45 * * * *",
];

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        transport::mix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// The run's size and seed, from the environment.
struct Config {
    seed: u64,
    steps: u64,
    schedules: usize,
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok().or_else(|| u64::from_str_radix(v, 16).ok()),
    };
    Some(parsed.unwrap_or_else(|| panic!("{name}={v:?} is not a number (decimal, or hex with 0x)")))
}

impl Config {
    fn from_env() -> Config {
        let seed = env_number("HW_SIM_SEED").unwrap_or_else(|| getrandom::u64().expect("OS random source"));
        Config {
            seed,
            steps: env_number("HW_SIM_STEPS").unwrap_or(STEPS_DEFAULT),
            schedules: env_number("HW_SIM_SCHEDULES").map_or(SCHEDULES_DEFAULT, |n| n as usize),
        }
    }
}

/// Removes every failpoint when the test ends, however it ends (the lock is released after).
struct Failpoints;

impl Drop for Failpoints {
    fn drop(&mut self) {
        for p in FAILPOINTS {
            fail::remove(p);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Faults and kills.
    Faulty,
    /// Faults off, no kills: everything due up to `horizon` must finish.
    Quiet { horizon: Millis },
}

enum LifeEnd {
    Killed,
    Done,
}

/// A store fault that is switched on.
struct ActiveFault {
    point: &'static str,
    until_step: u64,
}

#[derive(Debug, Default)]
struct Counters {
    steps: u64,
    kills: u64,
    queues_lost: u64,
    store_faults: u64,
    mix_changes: u64,
    downtime_ms: i64,
}

struct Sim {
    cfg: Config,
    rng: Rng,
    _dir: tempfile::TempDir,
    store_path: PathBuf,
    key_path: PathBuf,
    brand: BrandId,
    checker: Checker,
    log: Arc<Mutex<Log>>,
    now_ms: Millis,
    start_ms: Millis,
    lives: u32,
    phase: Phase,
    fault: Option<ActiveFault>,
    /// The step at which the last store fault was switched off.
    fault_ended_step: u64,
    /// The last life was killed with its writer's queue lost (commits fail until it ends).
    lose_queue: bool,
    counters: Counters,
}

#[test]
fn simulation() {
    let cfg = Config::from_env();
    let _serial = crate::store::FAULT_LOCK.blocking_lock();
    let _failpoints = Failpoints;
    eprintln!("simulation: seed {:#x} (set HW_SIM_SEED to replay it)", cfg.seed);
    // `HW_SIM_LOG=info` (a tracing filter) shows the daemon's log lines and the simulation's
    // events (faults, kills) on this thread, to follow a failing seed.
    let _log = std::env::var("HW_SIM_LOG").ok().map(|filter| {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .finish();
        tracing::subscriber::set_default(subscriber)
    });
    let wall = crate::time::Stopwatch::start();
    let mut sim = Sim::new(cfg);
    sim.run();
    let secs = wall.elapsed_secs();
    let (c, s) = (&sim.counters, &sim.checker.stats);
    eprintln!(
        "simulation: seed {:#x}: {} steps, {:.1} simulated min ({:.1} min down), {} lives, {} kills ({} losing the writer's queue), {} store faults, \
         {} receiver mixes; {} records: {} fired, {} missed (+{} summarised), {} skipped; {} requests, {} succeeded, \
         {} failed, {} duplicates after kills; {} unreadable steps; {:.1} s, {:.0} steps/s",
        sim.cfg.seed,
        c.steps,
        (sim.now_ms - sim.start_ms) as f64 / 60_000.0,
        c.downtime_ms as f64 / 60_000.0,
        sim.lives,
        c.kills,
        c.queues_lost,
        c.store_faults,
        c.mix_changes,
        s.records,
        s.fired,
        s.missed,
        s.summarised,
        s.skipped,
        s.requests,
        s.succeeded,
        s.failed,
        s.duplicates,
        s.unreadable_steps,
        secs,
        c.steps as f64 / secs.max(1e-9),
    );
}

impl Sim {
    fn new(cfg: Config) -> Sim {
        let mut rng = Rng(cfg.seed);
        // A tmpfs when there is one: every commit is durable (fsync), which costs nothing there.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
        let dir = dir.unwrap_or_else(|e| panic!("seed {:#x}: temporary directory: {e}", cfg.seed));
        let start: jiff::Timestamp = rng.pick(&STARTS).parse().expect("a valid start instant");
        let start_ms = start.as_millisecond();
        let brand = BrandId(uuid::Uuid::from_u128(u128::from(cfg.seed) | 1 << 100));
        Sim {
            store_path: dir.path().join("sim.redb"),
            key_path: dir.path().join("vault.key"),
            _dir: dir,
            checker: Checker::new(cfg.seed, brand),
            brand,
            rng,
            log: Arc::new(Mutex::new(Log::default())),
            now_ms: start_ms,
            start_ms,
            lives: 0,
            phase: Phase::Faulty,
            fault: None,
            fault_ended_step: 0,
            lose_queue: false,
            counters: Counters::default(),
            cfg,
        }
    }

    fn die(&self, what: impl std::fmt::Display) -> ! {
        panic!("seed {:#x}: {what}", self.cfg.seed)
    }

    fn run(&mut self) {
        loop {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap_or_else(|e| self.die(format!("runtime: {e}")));
            let end = rt.block_on(self.life());
            // A kill: every task of the daemon is dropped where it stands; its store handles
            // go with them, and the writer thread ends once it has finished what was queued.
            drop(rt);
            self.log.lock().unwrap_or_else(|e| e.into_inner()).life_ended();
            match end {
                LifeEnd::Done => return,
                LifeEnd::Killed => {
                    self.checker.life_killed();
                    self.counters.kills += 1;
                    let down = match self.rng.below(20) {
                        0..12 => self.rng.range(1, 3000),
                        12..19 => self.rng.range(3000, 300_000),
                        // Long enough for a 1 s schedule's summarised missed record.
                        _ => self.rng.range(17 * 60_000, 30 * 60_000),
                    } as i64;
                    self.counters.downtime_ms += down;
                    tracing::info!(step = self.counters.steps, now = self.now_ms, down_ms = down, "sim: killed");
                    self.now_ms += down;
                }
            }
        }
    }

    fn open_store(&self) -> Store {
        let settings = WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 256,
            cache_bytes: crate::store::CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        // The previous life's writer thread may still hold the file for a moment.
        for _ in 0..10_000 {
            match Store::open(&self.store_path, settings, Metrics::new()) {
                Ok(s) => return s,
                Err(StoreError::Locked(_)) => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => self.die(format!("cannot reopen the store: {e}")),
            }
        }
        self.die("the store file stayed locked after the previous life ended")
    }

    /// One life of the daemon: start it on the store file, step until killed or done.
    async fn life(&mut self) -> LifeEnd {
        let life = self.lives;
        self.lives += 1;
        let clock = Arc::new(TokioClock::new(self.now_ms));
        let store = self.open_store();
        // The previous life's writer has let go of the file: nothing it had queued committed.
        if std::mem::take(&mut self.lose_queue) {
            fail::remove("store::commit");
        }
        let vault = Vault::load(KeySource::File(self.key_path.clone()), &store)
            .await
            .unwrap_or_else(|e| self.die(format!("vault: {e}")));
        if life == 0 {
            self.create_fixtures(&store, &vault).await;
        }
        let metrics = Metrics::new();
        let (events, finished) = mpsc::channel(1024);
        let transport =
            Arc::new(FakeTransport { seed: self.cfg.seed, life, clock: clock.clone(), log: self.log.clone() });
        let engine = Engine::with_transport(
            store.clone(),
            vault,
            clock.clone(),
            metrics.clone(),
            LIMITS,
            Arc::new(RwLock::new(EgressPolicy::default())),
            transport,
            events,
        );
        let (handle, task) = super::start(store.clone(), clock.clone(), engine, metrics, finished)
            .await
            .unwrap_or_else(|e| self.die(format!("the scheduler did not start: {e}")));
        // While the writer thread works, the runtime must not look idle: the paused clock would
        // jump to the next timer and a commit would take simulated seconds. So this task holds
        // the runtime's thread until the writer has answered, then lets the answered tasks run.
        let gauge = store.write_gauge();
        tokio::spawn(async move {
            loop {
                if gauge.in_flight() > 0 {
                    // A short bound: a task may be waiting for room in the writer's queue.
                    gauge.wait_idle(Duration::from_millis(5));
                    tokio::task::yield_now().await;
                } else {
                    gauge.started().await;
                }
            }
        });
        let life_start = clock.now_ms();
        self.checker.life_started(life_start);
        tracing::info!(life, now = life_start, "sim: daemon started");
        // A store fault that was on when the last life was killed is still on (the disk is
        // still full); it applies once the daemon is up.
        store.inject_faults(self.fault.is_some());
        let kill_chance = KILLS_PER_DEFAULT_RUN / STEPS_DEFAULT as f64;
        loop {
            self.counters.steps += 1;
            let step = self.counters.steps;
            let kill = match self.phase {
                Phase::Faulty => {
                    self.store_faults(&store, step);
                    if self.rng.chance(1.0 / 150.0) {
                        let mix =
                            self.rng.pick(&[Mix::Healthy, Mix::Healthy, Mix::Flaky, Mix::Flaky, Mix::Down, Mix::Slow]);
                        self.log.lock().unwrap_or_else(|e| e.into_inner()).mix = Some(mix);
                        tracing::info!(step, ?mix, "sim: receiver mix");
                        self.counters.mix_changes += 1;
                    }
                    self.rng.chance(kill_chance)
                }
                Phase::Quiet { .. } => false,
            };
            let dt = match self.phase {
                Phase::Faulty => self.rng.range(STEP_MS.0, STEP_MS.1),
                Phase::Quiet { .. } => QUIET_STEP_MS,
            };
            tokio::time::sleep(Duration::from_millis(dt)).await;
            let now = clock.now_ms();
            self.now_ms = now;
            if task.is_finished() {
                self.die(format!("the scheduler loop ended at {now}"));
            }
            let mut writable = store.write_health().writable;
            if !writable && self.fault.is_none() {
                // The fault is gone: the writer reopens the file and probes within its recovery
                // interval of real time, while simulated time stands still.
                self.await_recovery(&store);
                writable = true;
            }
            let faulty = self.fault.is_some() || !writable || step < self.fault_ended_step + 3;
            self.checker.check(&store, &self.log, now, faulty, life_start);
            if kill {
                // Half the kills also lose what the writer has queued and not committed yet (a
                // `kill -9` before the fsync); the others let it commit (a kill just after).
                if self.rng.chance(0.5) && self.fault.as_ref().is_none_or(|f| f.point != "store::commit") {
                    fail::cfg("store::commit", "return").unwrap_or_else(|e| self.die(e));
                    store.inject_faults(true);
                    self.lose_queue = true;
                    self.counters.queues_lost += 1;
                }
                return LifeEnd::Killed;
            }
            match self.phase {
                Phase::Faulty if step >= self.cfg.steps => {
                    self.end_fault(&store);
                    self.log.lock().unwrap_or_else(|e| e.into_inner()).mix = Some(Mix::Healthy);
                    self.phase = Phase::Quiet { horizon: now };
                }
                Phase::Quiet { horizon } if self.checker.quiet(horizon) && !faulty => {
                    self.checker.final_check(&store, &self.log, LIMITS.retry_delay_max_ms);
                    handle.shutdown().await;
                    store.shutdown().await;
                    return LifeEnd::Done;
                }
                Phase::Quiet { horizon } if now - horizon > QUIESCE_MAX_MS => {
                    self.die(format!(
                        "{} min after the faults ended, not everything due by {horizon} is done: {}",
                        QUIESCE_MAX_MS / 60_000,
                        self.checker.not_quiet(horizon)
                    ));
                }
                _ => {}
            }
        }
    }

    /// Waits (real time, the runtime blocked) until the store writes again; it must recover
    /// without a restart once its fault is gone.
    fn await_recovery(&self, store: &Store) {
        let wall = crate::time::Stopwatch::start();
        while !store.write_health().writable {
            if wall.elapsed_secs() > 10.0 {
                self.die(format!("the store did not recover after its fault ended: {:?}", store.write_health()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Switches the store fault off when its time is up, or (rarely) a new one on.
    fn store_faults(&mut self, store: &Store, step: u64) {
        if self.fault.as_ref().is_some_and(|f| step >= f.until_step) {
            self.end_fault(store);
        } else if self.fault.is_none() && self.rng.chance(1.0 / 250.0) {
            let (point, action) = self.rng.pick(&STORE_FAULTS);
            let len = self.rng.range(3, 80);
            fail::cfg(point, action).unwrap_or_else(|e| self.die(format!("failpoint {point}={action}: {e}")));
            tracing::info!(step, point, action, steps = len, now = self.now_ms, "sim: store fault on");
            store.inject_faults(true);
            self.fault = Some(ActiveFault { point, until_step: step + len });
            self.counters.store_faults += 1;
        }
    }

    fn end_fault(&mut self, store: &Store) {
        if let Some(f) = self.fault.take() {
            store.inject_faults(false);
            fail::remove(f.point);
            tracing::info!(step = self.counters.steps, point = f.point, now = self.now_ms, "sim: store fault off");
            self.fault_ended_step = self.counters.steps;
        }
    }

    /// The brand, its secret, two domains (one plain and signed, one with a concurrency cap
    /// and a rate limit), four templates with different retry policies, and the schedules.
    async fn create_fixtures(&mut self, store: &Store, vault: &Vault) {
        let now = self.now_ms;
        let brand = self.brand;
        let seed = self.cfg.seed;
        let die = move |e: StoreError| -> ! { panic!("seed {seed:#x}: fixtures: {e}") };
        store
            .create_brand(Brand { id: brand, name: "sim".into(), timezone: "UTC".into(), created_ms: now })
            .await
            .unwrap_or_else(|e| die(e));
        let secret = SecretId::new();
        store
            .create_secret(Secret {
                id: secret,
                brand,
                key: "token".into(),
                sealed: vault.seal(secret, SECRET_VALUE.as_bytes()),
                created_ms: now,
                updated_ms: now,
            })
            .await
            .unwrap_or_else(|e| die(e));
        let mut domains = Vec::new();
        for (i, host) in ["127.0.0.1:9", "127.0.0.1:10"].into_iter().enumerate() {
            let id = DomainId::new();
            let signing = if i == 0 {
                let secret = crate::delivery::signing::new_secret();
                vec![SigningKey { sealed: vault.seal_signing(id, now, &secret), created_ms: now, expires_ms: None }]
            } else {
                Vec::new()
            };
            let d = Domain {
                id,
                brand,
                protocol: Protocol::Http,
                host: host.into(),
                rate_limit_enabled: i == 1,
                concurrency_control_enabled: i == 1,
                max_concurrent_jobs: 4,
                max_requests_per_second: 10,
                signing,
                breaker: Default::default(),
                created_ms: now,
                updated_ms: now,
            };
            store.create_domain(d.clone()).await.unwrap_or_else(|e| die(e));
            domains.push(d);
        }
        let mut templates = Vec::new();
        for i in 0..4u32 {
            let d = &domains[i as usize % 2];
            let retry = RetryPolicy {
                retry_delay_seconds: self.rng.range(1, 5) as u32,
                backoff: if self.rng.chance(0.5) {
                    crate::model::Backoff::Linear
                } else {
                    crate::model::Backoff::Exponential
                },
                max_retries: i,
                request_timeout_ms: self.rng.range(500, 3000) as u32,
            };
            let mut headers = Map::new();
            headers.insert("authorization".into(), json!("Bearer {{ #token }}"));
            let t = WebhookTemplate {
                id: TemplateId::new(),
                brand,
                name: format!("t{i}"),
                description: String::new(),
                method: HttpMethod::Post,
                path: format!("/hook/{i}"),
                domain: d.id,
                retry,
                body: json!({"template": i}),
                headers,
                query: Map::new(),
                created_ms: now,
                updated_ms: now,
            };
            let t = store.create_template(t, None).await.unwrap_or_else(|e| die(e));
            templates.push((t, d.host.clone(), !d.signing.is_empty()));
        }
        for _ in 0..self.cfg.schedules {
            let (t, host, signed) = templates[self.rng.below(templates.len() as u64) as usize].clone();
            let (s, spec) = self.schedule(&t, host, signed);
            store.create_schedule(s).await.unwrap_or_else(|e| die(e));
            self.checker.add_schedule(spec);
        }
    }

    /// A schedule drawn from the seed: its driver, policies and rules.
    fn schedule(&mut self, t: &WebhookTemplate, host: String, signed: bool) -> (Schedule, SchedSpec) {
        let now = self.now_ms;
        let r = &mut self.rng;
        let interval = |r: &mut Rng, one_off: bool| {
            let (value, period) = if r.chance(0.8) {
                (r.pick(&[1u32, 2, 3, 5, 10, 15, 20, 30, 45]), Period::Second)
            } else {
                (r.range(1, 5) as u32, Period::Minute)
            };
            let value = if one_off { value.max(5) } else { value };
            Driver::Interval(IntervalSpec {
                value,
                period,
                // A one-off fires once, `value` after its anchor.
                anchor_ms: if one_off { now } else { now - r.below(60_000) as i64 },
                anchor_fires: false,
                one_off,
            })
        };
        let driver = match r.below(100) {
            0..50 => interval(r, false),
            50..88 => Driver::Cron(CronSpec::new(r.pick(&CRONS), r.pick(&ZONES), false)),
            88..94 => {
                let run_at_ms = now + r.range(10, 50 * 60) as i64 * 1000;
                Driver::Clocked(ClockedSpec {
                    run_at_ms,
                    run_at: crate::time::format_utc_seconds(run_at_ms),
                    timezone: "UTC".into(),
                })
            }
            _ => interval(r, true),
        };
        let misfire =
            r.pick(&[MisfirePolicy::FireOnce, MisfirePolicy::FireOnce, MisfirePolicy::Skip, MisfirePolicy::FireAll]);
        let overlap =
            r.pick(&[OverlapPolicy::Allow, OverlapPolicy::Allow, OverlapPolicy::Skip, OverlapPolicy::BufferOne]);
        let mut rules = Vec::new();
        let mut has_window = false;
        let mut max_runs = None;
        if r.chance(0.15) {
            // Open for a quarter of an hour, starting 10 minutes in (UTC time of day).
            let tod = now.rem_euclid(86_400_000) / 1000;
            let start = ((tod + 600) % 86_400) as u32;
            let end = ((tod + 1500) % 86_400) as u32;
            rules.push(ScheduleRule {
                id: RuleId::new(),
                rule: Rule::TimeWindow { start_seconds: start, end_seconds: end, timezone: "UTC".into() },
                created_ms: now,
            });
            has_window = true;
        }
        if r.chance(0.1) {
            let m = r.range(3, 30);
            rules.push(ScheduleRule {
                id: RuleId::new(),
                rule: Rule::Termination { max_runs: Some(m), expire_at_ms: None },
                created_ms: now,
            });
            max_runs = Some(m);
        }
        let jitter_seconds = if r.chance(0.2) { r.range(1, 3) as u32 } else { 0 };
        let misfire_grace_seconds = r.pick(&[0u32, 5, 30, 120, 3600]);
        let first = driver.next_after(now);
        let s = Schedule {
            id: ScheduleId::new(),
            brand: self.brand,
            name: None,
            target_kind: TargetKind::Webhook,
            target_id: t.id.0,
            driver: driver.clone(),
            initial_context: Map::new(),
            misfire,
            misfire_grace_seconds,
            overlap,
            jitter_seconds,
            status: ScheduleStatus::Active,
            reason: None,
            rules,
            next_fire_ms: first,
            last_run_ms: None,
            total_triggered: 0,
            debounce: Default::default(),
            buffered_ms: None,
            version: 0,
            created_ms: now,
            updated_ms: now,
        };
        let spec = SchedSpec {
            id: s.id,
            driver,
            jitter_seconds,
            overlap,
            first,
            retry: t.retry,
            host,
            path: t.path.clone(),
            signed,
            has_window,
            max_runs,
        };
        (s, spec)
    }
}
