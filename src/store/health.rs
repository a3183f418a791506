//! Write health: whether the store currently accepts writes, and the fault that stopped it.
//! The writer updates it on every commit outcome; `/readyz`, the systemd watchdog and the
//! `hookwheel_store_writable` metric read it.

use std::sync::Mutex;

use crate::metrics::Metrics;

/// A snapshot of the store's write health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteHealth {
    /// Writes commit.
    pub writable: bool,
    /// The last fault was "no space left" (ENOSPC/EDQUOT): the API answers 507, else 503.
    pub disk_full: bool,
    /// The last write fault, while not writable.
    pub last_error: Option<String>,
}

pub(crate) struct Health {
    state: Mutex<WriteHealth>,
    metrics: Metrics,
}

impl Health {
    pub fn new(metrics: Metrics) -> Health {
        metrics.set_store_writable(true);
        Health { state: Mutex::new(WriteHealth { writable: true, disk_full: false, last_error: None }), metrics }
    }

    pub fn snapshot(&self) -> WriteHealth {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn is_writable(&self) -> bool {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).writable
    }

    /// Records a failed commit (or a write transaction that could not start). Logs once per
    /// transition to not-writable.
    pub fn failed(&self, disk_full: bool, error: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.writable {
            tracing::error!(
                error,
                disk_full,
                "store: writes are failing; the API answers 507/503 to writes and the scheduler retries until the store recovers"
            );
        }
        *s = WriteHealth { writable: false, disk_full, last_error: Some(error.to_string()) };
        self.metrics.set_store_writable(false);
    }

    /// Records a successful commit. Logs the recovery.
    pub fn succeeded(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !s.writable {
            tracing::info!(previous_error = s.last_error.as_deref().unwrap_or(""), "store: writes succeed again");
            *s = WriteHealth { writable: true, disk_full: false, last_error: None };
            self.metrics.set_store_writable(true);
        }
    }

    /// The error an operation gets while the store is known not to write.
    pub fn unavailable(&self) -> super::StoreError {
        let s = self.snapshot();
        super::StoreError::Unavailable {
            disk_full: s.disk_full,
            cause: s.last_error.unwrap_or_else(|| "the store cannot write".into()),
        }
    }
}
