//! The traffic guard of one domain: a FIFO queue in front of a concurrency cap and a rate
//! limit, shared by every template, step and brand that targets the domain record.
//!
//! One pump task per domain takes waiters in arrival order; for each it first takes a
//! concurrency permit (if the cap is on), then waits for the rate limiter's next start slot (if
//! the limit is on), then hands the permit to the waiter. Rate limiting is GCRA with a burst of
//! one: starts are released one every 1/N s, which smooths bursts. Waiting here never counts
//! against a request's timeout. The queue's length is bounded by the caller (see
//! `Engine::enqueue`), which spills to the store beyond `delivery.queue_memory_max`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::model::Domain;
use crate::time::{Clock, Millis};

/// GCRA with a burst of one: given the theoretical arrival time `tat` of the next start, the
/// earliest start for a request at `now`, and the new `tat`.
pub fn gcra(tat: Millis, now: Millis, interval_ms: Millis) -> (Millis, Millis) {
    let start = tat.max(now);
    (start, start + interval_ms)
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

pub struct Gate {
    tx: mpsc::UnboundedSender<Waiter>,
    /// Waiters in memory (queued or being served).
    pub queued: Arc<AtomicUsize>,
    /// Executions of this domain parked in the store because the queue was full.
    pub spilled: AtomicUsize,
}

impl Gate {
    pub fn new(clock: Arc<dyn Clock>) -> Gate {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(pump(rx, clock));
        Gate { tx, queued, spilled: AtomicUsize::new(0) }
    }

    /// Waits for this domain's turn under `limits` (the domain's current settings).
    pub async fn pass(&self, limits: Limits) -> Option<Pass> {
        let (reply, rx) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.send(Waiter { limits, reply }).is_ok();
        let pass = if sent { rx.await.ok() } else { None };
        self.queued.fetch_sub(1, Ordering::SeqCst);
        pass
    }

    pub fn depth(&self) -> usize {
        self.queued.load(Ordering::SeqCst) + self.spilled.load(Ordering::SeqCst)
    }
}

async fn pump(mut rx: mpsc::UnboundedReceiver<Waiter>, clock: Arc<dyn Clock>) {
    let mut sem: Option<(u32, Arc<Semaphore>)> = None;
    let mut tat: Millis = 0;
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
            let interval = (1000 / i64::from(rps.max(1))).max(1);
            let now = clock.now_ms();
            let (start, next) = gcra(tat, now, interval);
            tat = next;
            if start > now {
                tokio::time::sleep(Duration::from_millis((start - now) as u64)).await;
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

    #[test]
    fn gcra_spaces_starts_evenly() {
        let (mut tat, mut starts) = (0, Vec::new());
        for _ in 0..4 {
            let (s, n) = gcra(tat, 1000, 200);
            starts.push(s);
            tat = n;
        }
        assert_eq!(starts, [1000, 1200, 1400, 1600], "a burst of 4 at 5/s is spread over 600 ms");
        let (s, _) = gcra(tat, 5000, 200);
        assert_eq!(s, 5000, "after a quiet spell, no delay");
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
