//! The store's per-record and per-page costs: the record codec and one page of the execution
//! list, at 1,000 and at 1,000,000 executions stored.
//!
//!     cargo bench --bench store
//!     HW_BENCH_ROWS=1000,100000 cargo bench --bench store      # other store sizes
//!     cargo bench --bench store -- codec                        # criterion's name filter
//!
//! - `codec/{encode,decode}_{schedule,execution}`: one record through the store's record codec
//!   (`store::encode_record` / `store::decode_record`: record format 3, MessagePack after a
//!   format byte and an empty header, as every record but schedules is written; a schedule
//!   adds a 9-byte header before the same MessagePack, and its decode skips it): a
//!   cron schedule with a name and an initial context, and a failed webhook execution
//!   with 2 attempts (request with headers and body, response excerpt). Time per record; the
//!   encoded size is printed. `codec/{encode,decode}_execution_json` put the same execution
//!   through format 1 (JSON), which a store written before schema 5 still holds: the
//!   reference the binary format is measured against in the same run.
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
//! - `write_path/fire_and_outcome`: what the store writer spends per execution on the fire
//!   path, through the public store API on a real redb file opened with the daemon's default
//!   writer settings (`config/hookwheel.toml`: batches of up to 1,024, 2 ms commit delay once 4
//!   writes are queued, a 16 MiB page cache). Each iteration records 1,000 fires (1,000
//!   active schedules × 1 pending execution, each fire moving its schedule's cursor a second
//!   on, as the load harness's throughput scenario: one `record_fires`), then their 1,000 outcomes
//!   (`put_execution`, all in flight at once, so the writer groups them as under load). Time
//!   per execution, commits and fsyncs included; the store grows by 1,000 executions per
//!   iteration. `write_path/writer_cpu` runs the same iterations and reports the CPU time of
//!   the `store-writer` thread alone (user + system, from `/proc/self/task`, in clock ticks of
//!   10 ms summed over a sample): the one thread whose work per execution bounds the
//!   daemon's throughput. `HW_BENCH_WRITE_SCHEDULES` sets the schedules (and so the fires)
//!   per iteration, `HW_BENCH_FIRES_PER_COMMIT` splits the fires into `record_fires` calls of
//!   that many, each awaited before the next (a commit each, as a daemon firing a few dozen
//!   schedules per timer slot; 0 or unset: one call). docs/design.md compares 20,000
//!   schedules at 64 per commit with the default.
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
    CACHE_BYTES_DEFAULT, ExecutionFilter, FireWrite, STORE_FILE, Store, WriterSettings, decode_record, encode_record,
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
    // Format 1, as a store written before schema 5 holds it.
    let json = |e: &Execution| {
        let mut out = vec![1];
        serde_json::to_writer(&mut out, e).expect("encodes");
        out
    };
    let j_bytes = json(&execution);
    println!("codec: the same execution in JSON (format 1) {} bytes", j_bytes.len());
    group.bench_function("encode_execution_json", |b| b.iter(|| json(black_box(&execution))));
    group.bench_function("decode_execution_json", |b| {
        b.iter(|| decode_record::<Execution>("executions", black_box(&j_bytes)).expect("decodes"))
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

/// Schedules, and executions per schedule, of one `write_path` iteration
/// (`HW_BENCH_WRITE_SCHEDULES` changes the first).
const WRITE_SCHEDULES: usize = 1_000;
const WRITE_PER_SCHEDULE: usize = 1;

fn write_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = WriterSettings {
        commit_batch_max: 1024,
        write_queue_capacity: 4096,
        cache_bytes: 16 * 1024 * 1024,
        commit_delay: Duration::from_micros(2000),
        commit_siblings: 4,
    };
    let store = Store::open(&dir.path().join(STORE_FILE), settings, Metrics::new()).expect("open store");
    let brand = BrandId::new();
    let write_schedules = env_usize("HW_BENCH_WRITE_SCHEDULES", WRITE_SCHEDULES);
    // Fires per `record_fires` call, each awaited before the next, so each is a commit of its
    // own as in a daemon firing a few dozen schedules per timer slot; 0: one call for all.
    let per_call = match env_usize("HW_BENCH_FIRES_PER_COMMIT", 0) {
        0 => write_schedules,
        n => n,
    };
    // Active schedules, as the scheduler fires them: each fire advances the cursor by a
    // second, so the armed index sees the deadlines move (no scheduler runs here to act on
    // them).
    let mut schedules: Vec<Schedule> = rt.block_on(async {
        let mut out = Vec::new();
        for _ in 0..write_schedules {
            let mut s = records::sample_schedule(brand, T0);
            s.target_kind = hookwheel::model::TargetKind::Workflow;
            s.version = 0;
            out.push(store.create_schedule(s).await.expect("create schedule"));
        }
        out
    });
    let mut next = 0usize;
    let mut group = c.benchmark_group("write_path");
    group.throughput(Throughput::Elements((write_schedules * WRITE_PER_SCHEDULE) as u64));
    group.sample_size(20);
    let mut one = |clock: &dyn Fn() -> Duration| {
        let mut fires = Vec::with_capacity(write_schedules);
        let mut outcomes = Vec::with_capacity(write_schedules * WRITE_PER_SCHEDULE);
        for s in &schedules {
            let mut executions = Vec::with_capacity(WRITE_PER_SCHEDULE);
            for _ in 0..WRITE_PER_SCHEDULE {
                next += 1;
                let done = records::execution(brand, s.id, s.target_id, next, T0 + next as i64 * 1000, false);
                let mut fired = done.clone();
                fired.status = ExecutionStatus::Pending;
                fired.attempts.clear();
                fired.finished_ms = None;
                fired.lateness_ms = None;
                executions.push(fired);
                outcomes.push(done);
            }
            let mut fired = s.clone();
            fired.next_fire_ms = s.next_fire_ms.map(|n| n + 1000);
            fires.push(FireWrite { schedule: fired, expected_version: s.version, executions });
        }
        let start = clock();
        rt.block_on(async {
            let mut fires = fires.into_iter().peekable();
            while fires.peek().is_some() {
                let call: Vec<FireWrite> = fires.by_ref().take(per_call).collect();
                let done = store.record_fires(call).await.expect("record fires");
                assert!(done.iter().all(|ok| *ok), "every fire is committed");
            }
            let mut set = tokio::task::JoinSet::new();
            for e in outcomes {
                let store = store.clone();
                set.spawn(async move { store.put_execution(&e).await });
            }
            while let Some(written) = set.join_next().await {
                assert!(written.expect("task").expect("put"), "every outcome is recorded");
            }
        });
        let took = clock().saturating_sub(start);
        for s in &mut schedules {
            s.version += 1;
            s.next_fire_ms = s.next_fire_ms.map(|n| n + 1000);
        }
        took
    };
    let t0 = stopwatch();
    let wall = move || t0.elapsed();
    group.bench_function("fire_and_outcome", |b| b.iter_custom(|iters| (0..iters).map(|_| one(&wall)).sum()));
    group.bench_function("writer_cpu", |b| b.iter_custom(|iters| (0..iters).map(|_| one(&writer_cpu)).sum()));
    group.finish();
}

/// CPU time (user + system) the `store-writer` thread of this process has used so far, from
/// `/proc/self/task/<tid>/stat` (fields 14 and 15, in clock ticks).
fn writer_cpu() -> Duration {
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "store-writer" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).expect("stat");
        // The fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
        let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
        // State is field 3 (index 0 here), so utime (14) and stime (15) are at 11 and 12.
        return Duration::from_millis((f[11] + f[12]) * 1000 / hz);
    }
    panic!("no store-writer thread")
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = codec, point_read, write_path, list
}
criterion_main!(benches);
