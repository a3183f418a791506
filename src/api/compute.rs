//! CPU-bound request work — schedule previews with their rules, and the driver checks and
//! first-instant computation of a schedule create or update — runs here, off the async
//! workers: on tokio's blocking pool, at most one task per core at a time (a semaphore; a
//! request beyond that waits for a permit without holding a worker), each with a time budget
//! (`api.compute_budget_ms`) that the work checks cooperatively. `/healthz`, the scheduler loop
//! and every other request keep their workers however many heavy requests arrive.

use std::sync::Arc;

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

/// The gate in front of the blocking pool.
pub struct Compute {
    permits: Arc<Semaphore>,
    metrics: Metrics,
}

impl Compute {
    /// One permit per core (at least one).
    pub fn new(metrics: Metrics) -> Compute {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Compute { permits: Arc::new(Semaphore::new(cores)), metrics }
    }

    /// Runs `work` on the blocking pool once a permit is free, with a fresh budget of
    /// `budget_ms`. A panic in `work` is a 500 (logged by the dispatcher), never a crash.
    pub async fn run<T, F>(&self, budget_ms: u64, work: F) -> Result<T, ApiError>
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
        let waiting = Gauge::new(&self.metrics, 0, 1);
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the compute gate is closed".into()))?;
        drop(waiting);
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
