//! The traffic guard of one domain: a FIFO queue in front of a concurrency cap and a rate
//! limit, shared by every template, step and brand that targets the domain record.
//!
//! One pump task per domain takes waiters in arrival order; for each it first takes a
//! concurrency permit (if the cap is on), then waits for the rate limiter's next start slot (if
//! the limit is on), then hands the permit to the waiter. Rate limiting is GCRA with a burst of
//! one, in nanoseconds: starts are released one every 1/N s (exact for any N, also above
//! 1,000/s, where several starts share a millisecond), which smooths bursts. Waiting here
//! never counts against a request's timeout. The queue's length is bounded by the caller (see
//! `Engine::enqueue`), which spills to the store beyond `delivery.queue_memory_max`.
//!
//! Last, the head of the queue asks the domain's [`Circuit`] (the breaker, [`super::breaker`]):
//! while it is open the pump holds the head — and with it everything behind it — until the
//! open time is over, then lets exactly one attempt through as the probe and holds the rest
//! until the probe's outcome is recorded ([`Pass::finish`]). Held attempts are neither sent,
//! failed nor charged a retry. Every transition is persisted through the store before the
//! queue moves on, so a restart finds the circuit as it was.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::breaker::{Admit, Breaker, Transition, Verdict};
use crate::metrics::Metrics;
use crate::model::{BrandId, BreakerSettings, Domain, DomainCircuit, DomainId};
use crate::store::Store;
use crate::time::{Clock, Millis};

/// Nanoseconds in a millisecond (the unit of [`Millis`]).
const NANOS_PER_MS: i128 = 1_000_000;

/// How late after its slot a start may be released and keep that slot, in ns: one tick of the
/// clock ([`Millis`]) and of tokio's timer (1 ms). A sleep ends on the next millisecond, so
/// without this each late wake-up would push every later slot back and the rate would fall
/// short (600/s would run at 500/s, 3,000/s at 2,000/s). A start later than this (the
/// domain was idle) starts a new schedule at `now`. So a start is never more than 1 ms closer
/// to the previous one than 1/N s, and over any longer span the rate is exactly N.
pub const SLACK_NS: i128 = NANOS_PER_MS;

/// The spacing of starts at `per_second` starts a second, in ns, rounded up so the rate is
/// never exceeded (the error is below 1 ns per start).
pub fn interval_ns(per_second: u32) -> i128 {
    i128::from(1_000_000_000u64.div_ceil(u64::from(per_second.max(1))))
}

/// GCRA with a burst of one, in nanoseconds: given the theoretical arrival time `tat` of the
/// next start and `now`, the start slot of a request (release it at `max(slot, now)`) and the
/// new `tat`. A `tat` less than [`SLACK_NS`] in the past is kept (a late wake-up); an older one
/// means the limiter was idle, and the slot is `now`.
pub fn gcra(tat: i128, now: i128, interval: i128) -> (i128, i128) {
    let start = if tat + SLACK_NS < now { now } else { tat };
    (start, start + interval)
}

/// The limits a gate enforces (`None` = off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_concurrent: Option<u32>,
    pub per_second: Option<u32>,
    pub breaker: BreakerSettings,
    /// When the domain record these come from was last changed (newer settings win).
    pub as_of: Millis,
}

impl Limits {
    pub fn of(d: &Domain) -> Limits {
        Limits {
            max_concurrent: (d.concurrency_control_enabled && d.max_concurrent_jobs > 0)
                .then_some(d.max_concurrent_jobs),
            per_second: (d.rate_limit_enabled && d.max_requests_per_second > 0).then_some(d.max_requests_per_second),
            breaker: d.breaker,
            as_of: d.updated_ms,
        }
    }
}

/// What a waiter receives: the concurrency slot it holds until its attempt ends, and its
/// standing with the breaker (a probe or a plain attempt). Report how the attempt went with
/// [`Pass::finish`]; a pass dropped unfinished counts as nothing sent.
pub struct Pass {
    _permit: Option<OwnedSemaphorePermit>,
    circuit: Arc<Circuit>,
    /// The probe token ([`Admit::Probe`]) when this attempt is the half-open probe.
    probe: Option<u64>,
    finished: bool,
}

impl Pass {
    /// Whether this attempt is the breaker's probe.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }

    /// Records the attempt's outcome with the breaker (persisting a transition it causes),
    /// then gives the concurrency slot back.
    pub async fn finish(mut self, v: Verdict, now: Millis) {
        self.finished = true;
        self.circuit.record(v, now, self.probe).await;
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if !self.finished
            && let Some(token) = self.probe
        {
            self.circuit.release_probe(token);
        }
    }
}

/// How long a transition's write waits for an unavailable store between tries, in ms
/// (doubling from the first up to the second).
const PERSIST_RETRY_MS: (u64, u64) = (100, 5_000);

/// A domain's circuit breaker at run time: the pure [`Breaker`] behind a lock, the settings
/// last seen on the domain, and the wake-up of the domain's pump. Shared by the domain's gate,
/// its passes and the API (`get_domain_health`, `reset_domain_circuit`).
pub struct Circuit {
    pub brand: BrandId,
    pub domain: DomainId,
    breaker: Mutex<Breaker>,
    /// The settings and the `updated_ms` of the domain record they come from.
    settings: Mutex<(BreakerSettings, Millis)>,
    wake: Notify,
    store: Store,
    metrics: Metrics,
}

impl Circuit {
    /// A circuit restored from its stored record (`None`: closed, counters from `now`).
    pub fn new(
        brand: BrandId,
        domain: DomainId,
        stored: Option<DomainCircuit>,
        settings: (BreakerSettings, Millis),
        now: Millis,
        store: Store,
        metrics: Metrics,
    ) -> Circuit {
        let breaker = stored.map_or_else(|| Breaker::new(now), Breaker::restored);
        metrics.set_circuit_state(domain, breaker.state().name());
        Circuit {
            brand,
            domain,
            breaker: Mutex::new(breaker),
            settings: Mutex::new(settings),
            wake: Notify::new(),
            store,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The domain's breaker settings as of its record's `updated_ms` (each attempt brings the
    /// domain as it read it; `update_domain` calls this at once, so a held queue sees a change
    /// straight away). Older settings than those applied are ignored.
    pub fn configure(&self, s: BreakerSettings, as_of: Millis) {
        let changed = {
            let mut cur = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            if as_of < cur.1 || cur.0 == s {
                cur.1 = cur.1.max(as_of);
                false
            } else {
                *cur = (s, as_of);
                true
            }
        };
        if changed {
            self.wake.notify_one();
        }
    }

    fn settings(&self) -> BreakerSettings {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// The circuit as it stands.
    pub fn snapshot(&self) -> DomainCircuit {
        self.lock().0
    }

    /// Waits until the head of the queue may go: `Some(token)` when it goes as the probe.
    async fn admit(&self, clock: &dyn Clock) -> Option<u64> {
        loop {
            let wake = self.wake.notified();
            let now = clock.now_ms();
            let (admit, change) = {
                let mut b = self.lock();
                let (a, t) = b.admit(&self.settings(), now);
                (a, t.map(|t| (t, b.0)))
            };
            if let Some((t, snap)) = change {
                self.persist(t, snap).await;
            }
            match admit {
                Admit::Go => return None,
                Admit::Probe(token) => return Some(token),
                Admit::WaitUntil(at) => {
                    let ms = u64::try_from(at - now).unwrap_or(0);
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        _ = wake => {}
                    }
                }
                Admit::WaitProbe => wake.await,
            }
        }
    }

    /// Records an attempt's outcome (see [`Pass::finish`]).
    async fn record(&self, v: Verdict, now: Millis, probe: Option<u64>) {
        let change = {
            let mut b = self.lock();
            b.record(&self.settings(), now, v, probe).map(|t| (t, b.0))
        };
        if let Some((t, snap)) = change {
            Box::pin(self.persist(t, snap)).await;
        }
        self.wake.notify_one();
    }

    fn release_probe(&self, token: u64) {
        self.lock().release_probe(token);
        self.wake.notify_one();
    }

    /// `reset_domain_circuit`: closes the circuit and zeroes its counters; returns it once
    /// stored.
    pub async fn reset(&self, now: Millis) -> Result<DomainCircuit, crate::store::StoreError> {
        let (t, snap) = {
            let mut b = self.lock();
            let t = b.reset(now);
            (t, b.0)
        };
        if let Some(t) = t {
            self.log(t, &snap);
        }
        self.metrics.set_circuit_state(self.domain, snap.state.name());
        self.wake.notify_one();
        self.store.record_circuit_transition(self.brand, self.domain, snap).await?;
        Ok(snap)
    }

    /// One line per transition: WARN when it opens, INFO otherwise.
    fn log(&self, t: Transition, c: &DomainCircuit) {
        let next_probe = match c.state {
            crate::model::CircuitState::Open { until_ms, .. } => crate::time::format_utc(until_ms),
            _ => String::new(),
        };
        if t.to == "open" {
            tracing::warn!(
                domain = %self.domain, from = t.from, to = t.to, why = t.why,
                consecutive_failures = c.consecutive_failures, next_probe_at = %next_probe,
                "circuit opened: attempts to this domain wait"
            );
        } else {
            tracing::info!(
                domain = %self.domain, from = t.from, to = t.to, why = t.why,
                consecutive_failures = c.consecutive_failures, "circuit {}", t.to
            );
        }
    }

    /// Logs, counts and stores a transition; waits while the store cannot write (the queue
    /// stays held meanwhile, as it would for any store outage).
    async fn persist(&self, t: Transition, snap: DomainCircuit) {
        self.log(t, &snap);
        self.metrics.set_circuit_state(self.domain, t.to);
        self.metrics.observe_circuit_transition(t.to);
        let mut wait = PERSIST_RETRY_MS.0;
        loop {
            match self.store.record_circuit_transition(self.brand, self.domain, snap).await {
                Ok(_) | Err(crate::store::StoreError::NotFound(_)) => return,
                Err(e) if e.is_unavailable() => {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    wait = (wait * 2).min(PERSIST_RETRY_MS.1);
                }
                Err(e) => {
                    tracing::error!(error = %e, domain = %self.domain, "could not record a circuit transition");
                    return;
                }
            }
        }
    }
}

struct Waiter {
    limits: Limits,
    reply: oneshot::Sender<Pass>,
}

/// Capacity of a gate's channel to its pump. The number of executions waiting in memory at a
/// domain is bounded by `delivery.queue_memory_max` (beyond it they are parked in the store);
/// this bounds the channel itself, and a full channel makes a waiter wait to enter it.
const GATE_CHANNEL_CAPACITY: usize = 1024;

pub struct Gate {
    tx: mpsc::Sender<Waiter>,
    pub circuit: Arc<Circuit>,
    /// Waiters in memory (queued or being served).
    pub queued: Arc<AtomicUsize>,
    /// Executions of this domain parked in the store because the queue was full.
    pub spilled: AtomicUsize,
}

impl Gate {
    pub fn new(clock: Arc<dyn Clock>, circuit: Arc<Circuit>) -> Gate {
        let (tx, rx) = mpsc::channel(GATE_CHANNEL_CAPACITY);
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(pump(rx, clock, circuit.clone()));
        Gate { tx, circuit, queued, spilled: AtomicUsize::new(0) }
    }

    /// Waits for this domain's turn under `limits` (the domain's current settings).
    pub async fn pass(&self, limits: Limits) -> Option<Pass> {
        let (reply, rx) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.send(Waiter { limits, reply }).await.is_ok();
        let pass = if sent { rx.await.ok() } else { None };
        self.queued.fetch_sub(1, Ordering::SeqCst);
        pass
    }

    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::SeqCst) + self.spilled.load(Ordering::SeqCst)
    }
}

async fn pump(mut rx: mpsc::Receiver<Waiter>, clock: Arc<dyn Clock>, circuit: Arc<Circuit>) {
    let mut sem: Option<(u32, Arc<Semaphore>)> = None;
    let mut tat: i128 = i128::from(Millis::MIN) * NANOS_PER_MS;
    while let Some(w) = rx.recv().await {
        let permit = match w.limits.max_concurrent {
            Some(n) => {
                // A changed cap takes a fresh semaphore; permits of the old one drain away.
                if sem.as_ref().is_none_or(|(size, _)| *size != n) {
                    sem = Some((n, Arc::new(Semaphore::new(n as usize))));
                }
                let s = sem.as_ref().expect("set above").1.clone();
                s.acquire_owned().await.ok()
            }
            None => None,
        };
        if let Some(rps) = w.limits.per_second {
            let now = i128::from(clock.now_ms()) * NANOS_PER_MS;
            let (start, next) = gcra(tat, now, interval_ns(rps));
            tat = next;
            if start > now {
                let wait = u64::try_from(start - now).unwrap_or(u64::MAX);
                tokio::time::sleep(Duration::from_nanos(wait)).await;
            }
        }
        // Last, so that nothing admitted by the breaker still waits behind a limit.
        circuit.configure(w.limits.breaker, w.limits.as_of);
        let probe = circuit.admit(clock.as_ref()).await;
        // A waiter that gave up just returns its permit (and its probe, see `Pass::drop`).
        let _ = w.reply.send(Pass { _permit: permit, circuit: circuit.clone(), probe, finished: false });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CircuitState, Protocol};
    use crate::store::{CACHE_BYTES_DEFAULT, WriterSettings};
    use crate::time::TokioClock;

    const MS: i128 = NANOS_PER_MS;

    /// A store in a temporary directory with one domain, and that domain's circuit.
    async fn circuit_on(settings: BreakerSettings, now: Millis) -> (Arc<Circuit>, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let ws = WriterSettings {
            commit_batch_max: 8,
            write_queue_capacity: 8,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        let store = Store::open(&dir.path().join("s.redb"), ws, Metrics::new()).unwrap();
        let d = Domain {
            id: DomainId::new(),
            brand: BrandId::new(),
            protocol: Protocol::Http,
            host: "127.0.0.1:9".into(),
            rate_limit_enabled: false,
            concurrency_control_enabled: false,
            max_concurrent_jobs: 0,
            max_requests_per_second: 0,
            signing: Vec::new(),
            breaker: settings,
            created_ms: 0,
            updated_ms: 0,
        };
        store.create_domain(d.clone()).await.unwrap();
        let stored = store.get_domain_circuit(d.brand, d.id).unwrap();
        let c = Circuit::new(d.brand, d.id, stored, (settings, 0), now, store.clone(), Metrics::new());
        (Arc::new(c), store, dir)
    }

    /// Polls `f` under paused time until it holds (transitions are stored by the store's
    /// writer thread, in real time, while tokio's clock may move on).
    async fn until(what: &str, mut f: impl FnMut() -> bool) {
        for _ in 0..100_000 {
            if f() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("never: {what}");
    }

    fn no_limits() -> Limits {
        Limits { max_concurrent: None, per_second: None, breaker: BreakerSettings::default(), as_of: 0 }
    }

    #[test]
    fn gcra_spaces_starts_evenly() {
        let (mut tat, mut starts) = (0, Vec::new());
        for _ in 0..4 {
            let (s, n) = gcra(tat, 1000 * MS, interval_ns(5));
            starts.push(s / MS);
            tat = n;
        }
        assert_eq!(starts, [1000, 1200, 1400, 1600], "a burst of 4 at 5/s is spread over 600 ms");
        let (s, _) = gcra(tat, 5000 * MS, interval_ns(5));
        assert_eq!(s, 5000 * MS, "after a quiet spell, no delay");
    }

    #[test]
    fn intervals_are_exact_in_nanoseconds() {
        assert_eq!(interval_ns(1), 1_000_000_000);
        assert_eq!(interval_ns(600), 1_666_667, "rounded up: never faster than asked");
        assert_eq!(interval_ns(1_500), 666_667);
        assert_eq!(interval_ns(3_000), 333_334);
        assert_eq!(interval_ns(1_000_000_000), 1);
        assert_eq!(interval_ns(u32::MAX), 1);
        assert_eq!(interval_ns(0), 1_000_000_000, "0 never reaches the limiter; treated as 1/s");
    }

    #[test]
    fn a_late_release_keeps_its_slot_an_idle_limiter_restarts_at_now() {
        let i = interval_ns(600);
        // Woken on the next millisecond after a slot at 1.667 ms: the next slot stays 3.333 ms.
        let (s, n) = gcra(i, 2 * MS, i);
        assert_eq!((s, n), (i, 2 * i), "released at once, the schedule is kept");
        // Idle for longer than the slack: a new schedule from now.
        let (s, n) = gcra(i, 10 * MS, i);
        assert_eq!((s, n), (10 * MS, 10 * MS + i));
    }

    /// Starts released under `per_second` while requests keep queuing, over 10 s of paused
    /// tokio time (several clients, so the queue is never empty).
    async fn starts_in_ten_seconds(per_second: u32) -> usize {
        let clock = Arc::new(TokioClock::new(0));
        let (circuit, _store, _dir) = circuit_on(BreakerSettings::default(), 0).await;
        let gate = Arc::new(Gate::new(clock.clone(), circuit));
        let limits = Limits { per_second: Some(per_second), ..no_limits() };
        let origin = tokio::time::Instant::now();
        let window = Duration::from_secs(10);
        let starts = Arc::new(AtomicUsize::new(0));
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (gate, starts) = (gate.clone(), starts.clone());
            clients.push(tokio::spawn(async move {
                loop {
                    let _pass = gate.pass(limits).await.expect("the pump runs");
                    if origin.elapsed() >= window {
                        return;
                    }
                    starts.fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        starts.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn rates_are_exact_below_and_above_one_thousand_a_second() {
        for per_second in [600u32, 7, 1_500, 3_000, 1_000, 999, 1] {
            let n = starts_in_ten_seconds(per_second).await as f64;
            let want = f64::from(per_second) * 10.0;
            assert!((n - want).abs() <= want * 0.01, "{per_second}/s: {n} starts in 10 s, want {want} ± 1 %");
            assert!(n <= want + 1.0, "{per_second}/s: never faster than the limit: {n} starts in 10 s");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rate_and_concurrency_are_enforced_in_fifo_order() {
        let clock = Arc::new(TokioClock::new(0));
        let (circuit, _store, _dir) = circuit_on(BreakerSettings::default(), 0).await;
        let gate = Arc::new(Gate::new(clock.clone(), circuit));
        let limits = Limits { max_concurrent: Some(2), per_second: Some(10), ..no_limits() };
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_seen = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..6 {
            let (gate, log, in_flight, max_seen, clock) =
                (gate.clone(), log.clone(), in_flight.clone(), max_seen.clone(), clock.clone());
            tasks.push(tokio::spawn(async move {
                let _pass = gate.pass(limits).await.unwrap();
                let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(n, Ordering::SeqCst);
                log.lock().unwrap().push((i, clock.now_ms()));
                tokio::time::sleep(Duration::from_millis(250)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }));
            tokio::task::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log.iter().map(|x| x.0).collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5], "FIFO");
        assert_eq!(max_seen.load(Ordering::SeqCst), 2, "never more than 2 in flight");
        for w in log.windows(2) {
            assert!(w[1].1 - w[0].1 >= 100, "starts at least 100 ms apart at 10/s: {log:?}");
        }
    }

    /// The breaker in the queue, under paused tokio time: 2 failures in a row hold the queue
    /// for the open time; then exactly one probe goes while the rest wait; a failed probe
    /// holds it again; a successful one lets everything drain. Every transition is stored.
    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_holds_the_queue_and_sends_one_probe() {
        let clock = Arc::new(TokioClock::new(0));
        let settings =
            BreakerSettings { enabled: true, failure_threshold: 2, open_seconds: 5, ..BreakerSettings::default() };
        let (circuit, store, _dir) = circuit_on(settings, 0).await;
        let gate = Arc::new(Gate::new(clock.clone(), circuit.clone()));
        let limits = Limits { breaker: settings, ..no_limits() };
        for _ in 0..2 {
            let pass = gate.pass(limits).await.unwrap();
            assert!(!pass.is_probe());
            pass.finish(Verdict::Failure, clock.now_ms()).await;
        }
        let opened = circuit.snapshot();
        assert!(matches!(opened.state, CircuitState::Open { until_ms: 5_000, .. }), "{opened:?}");
        assert_eq!(store.get_domain_circuit(circuit.brand, circuit.domain).unwrap(), Some(opened), "stored");
        // Five attempts queue up while it is open: nothing passes before 5 s.
        let passes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (gate, passes) = (gate.clone(), passes.clone());
            tasks.push(tokio::spawn(async move {
                let pass = gate.pass(limits).await.unwrap();
                passes.lock().unwrap().push((i, pass));
            }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(4_900)).await;
        assert_eq!(passes.lock().unwrap().len(), 0, "held while open");
        until("the probe passes", || !passes.lock().unwrap().is_empty()).await;
        assert!(clock.now_ms() >= 5_000);
        let probe = {
            let mut p = passes.lock().unwrap();
            assert_eq!(p.len(), 1, "one probe when half-open");
            p.pop().unwrap()
        };
        assert_eq!(probe.0, 0, "the head of the queue probes");
        assert!(probe.1.is_probe());
        assert_eq!(circuit.snapshot().state.name(), "half_open");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(passes.lock().unwrap().len(), 0, "the others wait for the probe's outcome");
        // The probe fails: held again for another 5 s, then the next in line probes.
        let failed_at = clock.now_ms();
        probe.1.finish(Verdict::Failure, failed_at).await;
        let reopened = circuit.snapshot();
        assert_eq!(reopened.state, CircuitState::Open { opened_ms: 0, until_ms: failed_at + 5_000 });
        assert_eq!(store.get_domain_circuit(circuit.brand, circuit.domain).unwrap(), Some(reopened));
        until("the second probe passes", || !passes.lock().unwrap().is_empty()).await;
        assert!(clock.now_ms() >= failed_at + 5_000, "not before the open time is over");
        let probe = passes.lock().unwrap().pop().expect("a second probe");
        assert_eq!(probe.0, 1);
        assert!(passes.lock().unwrap().is_empty());
        // It succeeds: closed, and the other three pass at once.
        probe.1.finish(Verdict::Success, clock.now_ms()).await;
        for t in tasks {
            t.await.unwrap();
        }
        let drained: Vec<usize> = passes
            .lock()
            .unwrap()
            .iter()
            .map(|(i, p)| {
                assert!(!p.is_probe());
                *i
            })
            .collect();
        assert_eq!(drained, [2, 3, 4], "FIFO");
        let closed = circuit.snapshot();
        assert_eq!(closed.state, CircuitState::Closed);
        assert_eq!((closed.attempts, closed.successes, closed.failures, closed.consecutive_failures), (4, 1, 3, 0));
        assert_eq!(
            store.get_domain_circuit(circuit.brand, circuit.domain).unwrap().map(|c| c.state),
            Some(CircuitState::Closed)
        );
    }

    /// A probe whose waiter went away before sending anything hands the probe to the next.
    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_unsent_lets_the_next_attempt_probe() {
        let clock = Arc::new(TokioClock::new(0));
        let settings =
            BreakerSettings { enabled: true, failure_threshold: 1, open_seconds: 1, ..BreakerSettings::default() };
        let (circuit, _store, _dir) = circuit_on(settings, 0).await;
        let gate = Arc::new(Gate::new(clock.clone(), circuit.clone()));
        let limits = Limits { breaker: settings, ..no_limits() };
        gate.pass(limits).await.unwrap().finish(Verdict::Failure, 0).await;
        let first = gate.pass(limits).await.unwrap();
        assert!(first.is_probe());
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(1), gate.pass(limits)).await.expect("not stuck").unwrap();
        assert!(second.is_probe());
    }

    /// Disabling the breaker (update_domain) releases a held queue at once; a reset closes it.
    #[tokio::test(start_paused = true)]
    async fn disabling_or_resetting_releases_a_held_queue() {
        let clock = Arc::new(TokioClock::new(0));
        let settings =
            BreakerSettings { enabled: true, failure_threshold: 1, open_seconds: 3_600, ..BreakerSettings::default() };
        let (circuit, store, _dir) = circuit_on(settings, 0).await;
        let gate = Arc::new(Gate::new(clock.clone(), circuit.clone()));
        let limits = Limits { breaker: settings, ..no_limits() };
        gate.pass(limits).await.unwrap().finish(Verdict::Failure, 0).await;
        let held = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pass(limits).await.map(|p| p.is_probe()) }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!held.is_finished());
        circuit.reset(clock.now_ms()).await.unwrap();
        assert_eq!(held.await.unwrap(), Some(false), "a plain attempt, not a probe");
        assert_eq!(
            store.get_domain_circuit(circuit.brand, circuit.domain).unwrap().map(|c| c.state),
            Some(CircuitState::Closed)
        );
        gate.pass(limits).await.unwrap().finish(Verdict::Failure, clock.now_ms()).await;
        assert_eq!(circuit.snapshot().state.name(), "open");
        let held = tokio::spawn({
            let gate = gate.clone();
            async move { gate.pass(limits).await.map(|p| p.is_probe()) }
        });
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(!held.is_finished());
        circuit.configure(BreakerSettings { enabled: false, ..settings }, 1);
        assert_eq!(held.await.unwrap(), Some(false));
        assert_eq!(circuit.snapshot().state, CircuitState::Closed);
    }
}
