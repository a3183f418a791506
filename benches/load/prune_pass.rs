//! One retention pass measured against other writes: a store filled through the library with
//! `n` finished executions (each with one attempt and its request, spread over 100 schedules,
//! so the index rows go too), then `prune_executions` removes them all while another task
//! writes an idempotency record every millisecond. Used by `cargo bench --bench prune` and by
//! the load harness's `prune` scenario.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hookwheel::metrics::Metrics;
use hookwheel::model::{Attempt, BrandId, Execution, ExecutionStatus, ScheduleId, TargetKind, Trigger};
use hookwheel::store::{IdempotentReply, RunWrite, Store, WriterSettings};
use serde_json::{Map, json};

#[allow(clippy::disallowed_methods)] // the harness measures against the real clock
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

/// What one pass did and what the other writes saw meanwhile.
pub struct PrunePass {
    /// Seconds to fill the store.
    pub fill_s: f64,
    /// Prune batches (store writes).
    pub batches: u64,
    /// The longest time one batch ran inside the writer's transaction, ms.
    pub longest_batch_ms: f64,
    /// The whole pass, seconds.
    pub pass_s: f64,
    /// Latency of the other writes during the pass (enqueue to durable commit), ms, sorted.
    pub other_writes_ms: Vec<f64>,
}

/// `p` quantile of sorted figures (NaN when empty).
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A finished execution the size of a typical fire: context, one attempt with its request.
fn finished(brand: BrandId, schedule: ScheduleId, i: usize) -> Execution {
    let mut context = Map::new();
    context.insert("order".into(), json!(i));
    context.insert("customer".into(), json!("c-0042"));
    let mut e = Execution::manual(brand, Some(schedule), (TargetKind::Webhook, uuid::Uuid::now_v7()), context, 1_000);
    e.trigger = Trigger::Schedule;
    e.status = ExecutionStatus::Succeeded;
    e.finished_ms = Some(1_100);
    e.lateness_ms = Some(3);
    e.attempts = vec![Attempt {
        n: 1,
        started_ms: 1_003,
        latency_ms: 42,
        status_code: Some(200),
        error: None,
        request: json!({
            "method": "POST",
            "url": "https://api.example.com/hooks/orders",
            "headers": {"content-type": "application/json", "authorization": "Bearer {{ #token }}"},
            "body": {"order": i, "customer": "c-0042", "items": [1, 2, 3]},
        }),
        response_excerpt: Some("{\"ok\":true}".into()),
        response_json: None,
    }];
    e
}

/// Fills a store in a temporary directory with `n` finished executions and prunes them all
/// while another task writes one small record every millisecond.
pub fn run(n: usize) -> PrunePass {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(
            &dir.path().join("hookwheel.redb"),
            WriterSettings {
                commit_batch_max: 256,
                write_queue_capacity: 1024,
                cache_bytes: hookwheel::store::CACHE_BYTES_DEFAULT,
                ..Default::default()
            },
            Metrics::new(),
        )
        .expect("open store");
        let brand = BrandId::new();
        let schedules: Vec<ScheduleId> = (0..100).map(|_| ScheduleId::new()).collect();
        let fill = stopwatch();
        for start in (0..n).step_by(1_000) {
            let executions = (start..(start + 1_000).min(n)).map(|i| finished(brand, schedules[i % 100], i)).collect();
            store.write_run(RunWrite { executions, ..Default::default() }).await.expect("fill");
        }
        let fill_s = fill.elapsed().as_secs_f64();

        // Another writer, as the API or the scheduler would be: one small write per ms.
        let stop = Arc::new(AtomicBool::new(false));
        let other = {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut hash = [0u8; 32];
                    hash[..8].copy_from_slice(&i.to_be_bytes());
                    i += 1;
                    let reply = IdempotentReply {
                        action: "bench".into(),
                        request_hash: [0; 32],
                        status: 200,
                        body: "{}".into(),
                        created_ms: i64::MAX,
                    };
                    let t = stopwatch();
                    store.put_idempotent(brand, hash, reply).await.expect("other write");
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                latencies
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let pass = stopwatch();
        let c = store.prune_executions(2_000).await.expect("prune");
        let pass_s = pass.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let mut lat = other.await.expect("other writer");
        lat.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
        assert_eq!(c.executions, n as u64, "every finished execution was pruned: {c:?}");
        store.shutdown().await;
        PrunePass { fill_s, batches: c.batches, longest_batch_ms: c.longest_batch_ms, pass_s, other_writes_ms: lat }
    })
}
