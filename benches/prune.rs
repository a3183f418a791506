//! Retention pruning: how long one prune batch holds the store's writer, and what it does to
//! the latency of other writes meanwhile.
//!
//!     cargo bench --bench prune                        # 100,000 finished executions
//!     HW_PRUNE_EXECUTIONS=1000000 cargo bench --bench prune
//!
//! A store is filled through the library with HW_PRUNE_EXECUTIONS finished executions (each
//! with one attempt and its request, spread over 100 schedules, so the index rows go too),
//! then `prune_executions` removes them all while another task writes an idempotency record
//! every millisecond. Printed: batches, the longest time one batch ran inside the writer
//! (`PruneCounts::longest_batch_ms`), the whole pass, and the other writes' latency
//! (p50/p99/max, enqueue to durable commit).

#[path = "load/prune_pass.rs"]
mod prune_pass;

use hookwheel::store::PRUNE_BATCH_MAX;
use prune_pass::quantile;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let n = env_usize("HW_PRUNE_EXECUTIONS", 100_000);
    let p = prune_pass::run(n);
    eprintln!("filled {n} executions in {:.1} s", p.fill_s);
    let lat = &p.other_writes_ms;
    println!("| Prune of {n} finished executions | Measured |");
    println!("|---|---|");
    println!("| batches (at most {PRUNE_BATCH_MAX} executions each) | {} |", p.batches);
    println!("| longest batch inside the writer | {:.2} ms |", p.longest_batch_ms);
    println!("| whole pass | {:.2} s |", p.pass_s);
    println!(
        "| other writes meanwhile ({}): latency p50 / p99 / max | {:.2} / {:.2} / {:.2} ms |",
        lat.len(),
        quantile(lat, 0.5),
        quantile(lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN)
    );
}
