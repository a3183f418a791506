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

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::model::Domain;
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
}

impl Limits {
    pub fn of(d: &Domain) -> Limits {
        Limits {
            max_concurrent: (d.concurrency_control_enabled && d.max_concurrent_jobs > 0)
                .then_some(d.max_concurrent_jobs),
            per_second: (d.rate_limit_enabled && d.max_requests_per_second > 0).then_some(d.max_requests_per_second),
        }
    }
}

/// What a waiter receives: the concurrency slot it holds until its attempt ends.
pub struct Pass {
    _permit: Option<OwnedSemaphorePermit>,
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
    /// Waiters in memory (queued or being served).
    pub queued: Arc<AtomicUsize>,
    /// Executions of this domain parked in the store because the queue was full.
    pub spilled: AtomicUsize,
}

impl Gate {
    pub fn new(clock: Arc<dyn Clock>) -> Gate {
        let (tx, rx) = mpsc::channel(GATE_CHANNEL_CAPACITY);
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(pump(rx, clock));
        Gate { tx, queued, spilled: AtomicUsize::new(0) }
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

async fn pump(mut rx: mpsc::Receiver<Waiter>, clock: Arc<dyn Clock>) {
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
        // A waiter that gave up just returns its permit.
        let _ = w.reply.send(Pass { _permit: permit });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::TokioClock;

    const MS: i128 = NANOS_PER_MS;

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
        let gate = Arc::new(Gate::new(clock.clone()));
        let limits = Limits { max_concurrent: None, per_second: Some(per_second) };
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
        let gate = Arc::new(Gate::new(clock.clone()));
        let limits = Limits { max_concurrent: Some(2), per_second: Some(10) };
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
}
