//! The single writer: a dedicated thread that owns every redb write transaction.
//!
//! Callers enqueue operations on a bounded channel (they wait when it is full). The thread takes
//! the first queued operation, drains up to `commit_batch_max - 1` more without waiting, runs
//! them all in one write transaction and commits once (`Durability::Immediate`: durable when
//! `commit` returns). Only then does each caller get its result. A write transaction is never
//! held across an `.await`, because it lives on this thread alone.

use std::sync::Arc;

use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::{StoreError, WriterSettings};
use crate::metrics::Metrics;
use crate::time::Stopwatch;

/// Runs an operation (or, with `None`, reports that no transaction could be opened) and
/// returns the continuation that delivers its result once the commit outcome is known.
type Job = Box<dyn FnOnce(Option<&WriteTransaction>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(&Result<(), StoreError>) + Send>;

enum Msg {
    Job(Job),
    Stop(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
}

impl Writer {
    pub fn start(db: Arc<Database>, settings: WriterSettings, metrics: Metrics) -> Writer {
        let (tx, rx) = mpsc::channel(settings.write_queue_capacity.max(1));
        let batch_max = settings.commit_batch_max.max(1);
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(db, rx, batch_max, metrics))
            .expect("spawn the store writer thread");
        Writer { tx }
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    pub async fn write<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |w| {
            let result = match w {
                Some(w) => op(w),
                None => Err(StoreError::Closed),
            };
            Box::new(move |commit: &Result<(), StoreError>| {
                let out = match (commit, result) {
                    (Ok(()), r) => r,
                    // The operation failed on its own: it wrote nothing, report its error.
                    // No transaction could be opened: report why.
                    (Err(e), Err(StoreError::Closed)) => Err(e.clone()),
                    (Err(_), Err(e)) => Err(e),
                    (Err(e), Ok(_)) => Err(e.clone()),
                };
                let _ = reply.send(out);
            })
        });
        self.tx.send(Msg::Job(job)).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn run(db: Arc<Database>, mut rx: mpsc::Receiver<Msg>, batch_max: usize, metrics: Metrics) {
    let mut stop: Option<oneshot::Sender<()>> = None;
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut jobs = Vec::new();
        match first {
            Msg::Job(j) => jobs.push(j),
            Msg::Stop(s) => stop = Some(s),
        }
        // Drain what is already queued, without waiting: this is the group in group commit.
        while jobs.len() < batch_max && stop.is_none() {
            match rx.try_recv() {
                Ok(Msg::Job(j)) => jobs.push(j),
                Ok(Msg::Stop(s)) => stop = Some(s),
                Err(_) => break,
            }
        }
        if jobs.is_empty() {
            continue;
        }
        let watch = Stopwatch::start();
        let batch = jobs.len();
        match db.begin_write() {
            Ok(w) => {
                let completions: Vec<Completion> = jobs.into_iter().map(|j| j(Some(&w))).collect();
                let outcome = w.commit().map_err(StoreError::from_db);
                if let Err(e) = &outcome {
                    tracing::error!(error = %e, batch, "store commit failed");
                }
                metrics.observe_commit(watch.elapsed_secs(), batch);
                completions.into_iter().for_each(|c| c(&outcome));
            }
            Err(e) => {
                let err = Err(StoreError::from_db(e));
                tracing::error!(batch, "cannot open a store write transaction");
                jobs.into_iter().for_each(|j| j(None)(&err));
            }
        }
    }
    // Release the database (and its file lock) before confirming the stop.
    drop(db);
    drop(rx);
    if let Some(s) = stop {
        let _ = s.send(());
    }
}
