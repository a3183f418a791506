//! CPU-bound request work — schedule previews with their rules, and the driver checks and
//! first-instant computation of a schedule create or update — runs here, off the async
//! workers: on tokio's blocking pool, at most one task per core at a time (a semaphore; a
//! request beyond that waits for a permit without holding a worker), each with a time budget
//! (`api.compute_budget_ms`) that the work checks cooperatively. `/healthz`, the scheduler loop
//! and every other request keep their workers however many heavy requests arrive.
//!
//! Three lanes, each with its own permits: previews (read-only, any number of them a client may
//! send), changes (the checks of a schedule create or update) and transforms (subscription
//! transforms run on each routed event), so a flood of previews, or of events whose transforms
//! are slow, never delays another brand's creates. The preview lane's queue is bounded: beyond
//! [`PREVIEW_WAITING_MAX`] waiting previews a new one is refused with 429 and `Retry-After`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::metrics::Metrics;
use crate::time::Stopwatch;

/// A time budget for one piece of work, started when the work starts running (waiting for a
/// permit does not count). The pure code it is handed to asks [`Budget::spent`] between steps;
/// it never reads the clock itself.
pub struct Budget {
    watch: Stopwatch,
    limit_secs: f64,
}

impl Budget {
    /// A budget of `ms` milliseconds from now.
    pub fn new(ms: u64) -> Budget {
        Budget { watch: Stopwatch::start(), limit_secs: ms as f64 / 1000.0 }
    }

    /// Whether the budget is used up.
    pub fn spent(&self) -> bool {
        self.watch.elapsed_secs() >= self.limit_secs
    }

    pub fn limit_ms(&self) -> u64 {
        (self.limit_secs * 1000.0).round() as u64
    }
}

/// Most previews waiting for a permit; one more is refused (429).
pub const PREVIEW_WAITING_MAX: usize = 16;

/// Which permits a piece of work takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// `preview_schedule`: bounded queue, refused with 429 beyond it.
    Preview,
    /// The checks of a schedule create or update: waits its turn.
    Change,
    /// Subscription transforms of a routed event (`api::events::contexts`): waits its turn.
    /// A single built-in call of a program cannot be interrupted by the budget, so a slow one
    /// may overrun it; its own permits keep that from reaching the other lanes.
    Transform,
}

/// The gate in front of the blocking pool.
pub struct Compute {
    previews: Arc<Semaphore>,
    changes: Arc<Semaphore>,
    transforms: Arc<Semaphore>,
    /// Per tenant (brand), the permits of [`Compute::run_fair`]: one fewer than the cores (at
    /// least one), so no tenant holds every permit of a lane while another waits.
    tenants: Mutex<HashMap<uuid::Uuid, Arc<Semaphore>>>,
    per_tenant: usize,
    previews_waiting: Arc<AtomicUsize>,
    metrics: Metrics,
}

impl Compute {
    /// One permit per core (at least one) in each lane.
    pub fn new(metrics: Metrics) -> Compute {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Compute {
            previews: Arc::new(Semaphore::new(cores)),
            changes: Arc::new(Semaphore::new(cores)),
            transforms: Arc::new(Semaphore::new(cores)),
            tenants: Mutex::new(HashMap::new()),
            per_tenant: cores.saturating_sub(1).max(1),
            previews_waiting: Arc::new(AtomicUsize::new(0)),
            metrics,
        }
    }

    /// [`Compute::run`] after a permit of `tenant`'s own: a tenant's work waits behind its own
    /// earlier work, never taking every permit of the lane, so one brand's slow transforms
    /// cannot hold up another brand's events.
    pub async fn run_fair<T, F>(&self, lane: Lane, tenant: uuid::Uuid, budget_ms: u64, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> T + Send + 'static,
    {
        let gate = {
            let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            tenants.entry(tenant).or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant))).clone()
        };
        let _mine = gate.acquire_owned().await.map_err(|_| ApiError::Internal("the compute gate is closed".into()))?;
        self.run(lane, budget_ms, work).await
    }

    /// Runs `work` on the blocking pool once a permit of `lane` is free, with a fresh budget
    /// of `budget_ms`. A panic in `work` is a 500 (logged by the dispatcher), never a crash;
    /// a preview beyond the lane's queue bound is [`ApiError::Busy`] (429).
    pub async fn run<T, F>(&self, lane: Lane, budget_ms: u64, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Budget) -> T + Send + 'static,
    {
        /// Counts a task in one of the gauges while it lives (also when the request is dropped
        /// while waiting, or the work panics).
        struct Gauge(Metrics, i64, i64);
        impl Gauge {
            fn new(m: &Metrics, running: i64, waiting: i64) -> Gauge {
                m.add_compute(running, waiting);
                Gauge(m.clone(), running, waiting)
            }
        }
        impl Drop for Gauge {
            fn drop(&mut self) {
                self.0.add_compute(-self.1, -self.2);
            }
        }
        /// Holds a place in the preview queue.
        struct Place(Arc<AtomicUsize>);
        impl Drop for Place {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let (permits, place) = match lane {
            Lane::Change => (self.changes.clone(), None),
            Lane::Transform => (self.transforms.clone(), None),
            Lane::Preview => {
                if self.previews_waiting.fetch_add(1, Ordering::SeqCst) >= PREVIEW_WAITING_MAX {
                    self.previews_waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(ApiError::Busy("Too many previews in progress; retry shortly"));
                }
                (self.previews.clone(), Some(Place(self.previews_waiting.clone())))
            }
        };
        let waiting = Gauge::new(&self.metrics, 0, 1);
        let permit =
            permits.acquire_owned().await.map_err(|_| ApiError::Internal("the compute gate is closed".into()))?;
        drop((waiting, place));
        let running = Gauge::new(&self.metrics, 1, 0);
        tokio::task::spawn_blocking(move || {
            let _running = running;
            let _permit = permit;
            work(&Budget::new(budget_ms))
        })
        .await
        .map_err(|e| ApiError::Internal(format!("a compute task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    /// Transforms that hold every permit of their lane (a slow built-in overrunning its
    /// budget) leave schedule creates and previews their own permits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transforms_that_hold_their_lane_do_not_delay_the_other_lanes() {
        let compute = Arc::new(Compute::new(Metrics::new()));
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let mut held = Vec::new();
        for _ in 0..cores {
            let (c, rx, started) = (compute.clone(), release_rx.clone(), started_tx.clone());
            held.push(tokio::spawn(async move {
                c.run(Lane::Transform, 1, move |_| {
                    let _ = started.send(());
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        for _ in 0..cores {
            started_rx.recv().expect("a transform started");
        }
        assert_eq!(compute.transforms.available_permits(), 0, "the transform lane is full");
        // A create's checks and a preview still run while every transform permit is held.
        assert_eq!(compute.run(Lane::Change, 100, |_| 7).await.expect("change ran"), 7);
        assert_eq!(compute.run(Lane::Preview, 100, |_| 8).await.expect("preview ran"), 8);
        for _ in 0..cores {
            release_tx.send(()).expect("release");
        }
        for h in held {
            h.await.expect("join").expect("transform ran");
        }
    }

    /// A tenant that keeps its share of the transform lane busy leaves a permit for another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_tenant_never_holds_every_transform_permit() {
        let compute = Arc::new(Compute::new(Metrics::new()));
        let (a, b) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(std::sync::Mutex::new(release_rx));
        let (started_tx, started_rx) = mpsc::channel::<()>();
        // Tenant a sends more slow work than there are cores.
        let mut held = Vec::new();
        for _ in 0..4 {
            let (c, rx, started) = (compute.clone(), release_rx.clone(), started_tx.clone());
            held.push(tokio::spawn(async move {
                c.run_fair(Lane::Transform, a, 1, move |_| {
                    let _ = started.send(());
                    let _ = rx.lock().map(|r| r.recv());
                })
                .await
            }));
        }
        for _ in 0..compute.per_tenant {
            started_rx.recv().expect("a's work started");
        }
        // Tenant b still runs while a's work holds a's share.
        assert_eq!(compute.run_fair(Lane::Transform, b, 100, |_| 9).await.expect("b ran"), 9);
        for _ in 0..4 {
            release_tx.send(()).expect("release");
        }
        for h in held {
            h.await.expect("join").expect("a's work ran");
        }
    }
}
