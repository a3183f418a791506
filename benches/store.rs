//! The store's per-record and per-page costs: the record codec and one page of the execution
//! list, at 1,000 and at 1,000,000 executions stored.
//!
//!     cargo bench --bench store
//!     HW_BENCH_ROWS=1000,100000 cargo bench --bench store      # other store sizes
//!     cargo bench --bench store -- codec                        # criterion's name filter
//!
//! - `codec/{encode,decode}_{schedule,execution}`: one record through the store's record codec
//!   (`store::encode_record` / `store::decode_record`, what every table write and read does): a
//!   cron schedule with a name and an initial context, and a failed webhook execution
//!   with 2 attempts (request with headers and body, response excerpt). Time per record; the
//!   encoded size is printed.
//! - `point_read/get_execution`: `Store::get_execution` of one of 1,000 stored records
//!   (a read transaction, one B-tree get, one decode), through the public store API.
//! - `list_<rows>/{newest,failed,schedule}`: `Store::list_executions` page 1 of 100, newest
//!   first, unfiltered, with `status = failed`, and with a schedule filter, on a real redb file
//!   in a temporary directory holding `rows` executions of one brand (HW_BENCH_ROWS,
//!   `1000,1000000` by default): spread round-robin over HW_BENCH_SCHEDULES (10) schedules,
//!   1 % failed (2 attempts each), the others succeeded (1 attempt). The store is written
//!   through `Store::record_fires`, 10,000 executions per commit; the set-up time is printed.
//!   Only page 1 is measured: a deep page is not what a user opens.
//!
//! Every list iteration reads a fresh snapshot, as one API request does. Groups with a slow
//! iteration (more than 50 ms) are sampled flat with criterion's minimum of 10 samples of
//! one iteration, so the whole run stays within a few minutes whatever the store does.

#[path = "load/records.rs"]
mod records;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hookwheel::metrics::Metrics;
use hookwheel::model::{BrandId, Execution, ExecutionId, ExecutionStatus, Schedule, ScheduleId};
use hookwheel::store::{
    CACHE_BYTES_DEFAULT, ExecutionFilter, STORE_FILE, Store, WriterSettings, decode_record, encode_record,
};

/// A page of the list, as the API's default page size.
const PER_PAGE: u64 = 100;
/// An epoch-millisecond start for the stored executions (one per second of schedule time).
const T0: i64 = 1_760_000_000_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[allow(clippy::disallowed_methods)] // the bench measures set-up time against the real clock
fn stopwatch() -> std::time::Instant {
    std::time::Instant::now()
}

fn codec(c: &mut Criterion) {
    let brand = BrandId::new();
    let schedule = records::sample_schedule(brand, T0);
    let execution = records::execution(brand, schedule.id, schedule.target_id, 7, T0, true);
    let (s_bytes, e_bytes) = (encode_record(&schedule), encode_record(&execution));
    println!("codec: schedule record {} bytes, execution record (2 attempts) {} bytes", s_bytes.len(), e_bytes.len());

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_schedule", |b| b.iter(|| encode_record(black_box(&schedule))));
    group.bench_function("decode_schedule", |b| {
        b.iter(|| decode_record::<Schedule>("schedules", black_box(&s_bytes)).expect("decodes"))
    });
    group.bench_function("encode_execution", |b| b.iter(|| encode_record(black_box(&execution))));
    group.bench_function("decode_execution", |b| {
        b.iter(|| decode_record::<Execution>("executions", black_box(&e_bytes)).expect("decodes"))
    });
    group.finish();
}

/// A store in a temporary directory with `rows` executions of one brand.
struct Filled {
    _dir: tempfile::TempDir,
    store: Store,
    brand: BrandId,
    schedules: Vec<ScheduleId>,
    /// Kept alive for the store's writer thread.
    _rt: tokio::runtime::Runtime,
}

fn fill(rows: usize, n_schedules: usize) -> Filled {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(
        &dir.path().join(STORE_FILE),
        WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 256,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        },
        Metrics::new(),
    )
    .expect("open store");
    let brand = BrandId::new();
    let t = stopwatch();
    let schedules = rt.block_on(records::fill_executions(&store, brand, rows, n_schedules, T0, 1000));
    let secs = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(dir.path().join(STORE_FILE)).map(|m| m.len()).unwrap_or(0);
    println!(
        "list set-up: {rows} executions over {n_schedules} schedules written in {secs:.1} s ({:.0}/s), store file {:.0} MiB",
        rows as f64 / secs,
        size as f64 / (1024.0 * 1024.0)
    );
    Filled { _dir: dir, store, brand, schedules, _rt: rt }
}

/// Benchmarks one page of the list with `filter`; the page must hold `expect` items.
fn bench_page(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    f: &Filled,
    filter: ExecutionFilter,
) {
    let page = f.store.list_executions(f.brand, &filter, 1, PER_PAGE).expect("list");
    assert!(!page.items.is_empty(), "{name}: the page is not empty");
    assert!(page.items.windows(2).all(|w| w[0].scheduled_ms >= w[1].scheduled_ms), "{name}: the page is newest first");
    group.bench_function(name, |b| {
        b.iter(|| f.store.list_executions(f.brand, black_box(&filter), 1, PER_PAGE).expect("list"))
    });
}

fn list(c: &mut Criterion) {
    let sizes: Vec<usize> = std::env::var("HW_BENCH_ROWS")
        .unwrap_or_else(|_| "1000,1000000".into())
        .split(',')
        .filter_map(|r| r.trim().replace('_', "").parse().ok())
        .collect();
    let n_schedules = env_usize("HW_BENCH_SCHEDULES", 10).max(1);
    for rows in sizes {
        let f = fill(rows, n_schedules);
        // One untimed unfiltered read tells how slow an iteration is.
        let t = stopwatch();
        black_box(f.store.list_executions(f.brand, &ExecutionFilter::default(), 1, PER_PAGE).expect("list"));
        let once = t.elapsed();
        let mut group = c.benchmark_group(format!("list_{rows}"));
        if once > Duration::from_millis(50) {
            group.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_millis(1));
        }
        group.measurement_time(Duration::from_secs(5));
        bench_page(&mut group, "newest", &f, ExecutionFilter::default());
        bench_page(
            &mut group,
            "failed",
            &f,
            ExecutionFilter { status: Some(ExecutionStatus::Failed), ..Default::default() },
        );
        bench_page(
            &mut group,
            "schedule",
            &f,
            ExecutionFilter { schedule: Some(f.schedules[0]), ..Default::default() },
        );
        group.finish();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(f.store.shutdown());
    }
}

fn point_read(c: &mut Criterion) {
    let f = fill(1_000, 10);
    let ids: Vec<ExecutionId> = f
        .store
        .list_executions(f.brand, &ExecutionFilter::default(), 1, 1_000)
        .expect("list")
        .items
        .iter()
        .map(|e| e.id)
        .collect();
    let mut next = 0usize;
    let mut group = c.benchmark_group("point_read");
    group.throughput(Throughput::Elements(1));
    group.bench_function("get_execution", |b| {
        b.iter(|| {
            next = (next + 1) % ids.len();
            f.store.get_execution(f.brand, ids[next]).expect("read").expect("found")
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = codec, point_read, list
}
criterion_main!(benches);
