//! Per-operation cost of the timing wheel with 1,000,000 timers armed: insert, cancel and
//! expire (advance over a range that fires timers). Every benchmark keeps the wheel at about
//! `ARMED` entries by undoing its operation in criterion's untimed batch setup.
//! Run with `cargo bench --bench wheel`; the time reported per iteration is per operation,
//! except `expire/burst`, whose iteration fires `BURST` timers (see its throughput line).

use std::cell::RefCell;
use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use hookwheel::wheel::{TimerId, Wheel};

/// Timers armed during every measurement: the daemon's design load.
const ARMED: u64 = 1_000_000;
/// An epoch-millisecond start, so slot boundaries are not artificially aligned.
const T0: u64 = 1_700_000_000_000;
/// Insert/cancel deadlines are uniform over the next 7 days, so entries spread over levels
/// 0-4 with most of them in levels 3-4, as minute-to-week schedules would.
const HORIZON_MS: u64 = 7 * 86_400_000;
/// Operations per criterion batch: small enough that the wheel stays within 0.1% of `ARMED`.
const BATCH: u64 = 1_024;
/// Timers due per millisecond in `expire/burst`, and milliseconds advanced per iteration.
const BURST_PER_MS: u64 = 16;
const BURST_STEP_MS: u64 = 64;
const BURST: u64 = BURST_PER_MS * BURST_STEP_MS;

/// splitmix64: deterministic, dependency-free random numbers.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

/// A wheel with `ARMED` random-deadline timers and the ids currently armed.
struct Armed {
    wheel: Wheel,
    ids: Vec<TimerId>,
    next_id: TimerId,
    rng: Rng,
}

impl Armed {
    fn new() -> Armed {
        let mut rng = Rng(42);
        let before = resident_bytes();
        let mut wheel = Wheel::new(T0);
        for id in 0..ARMED {
            wheel.insert(id, T0 + 1 + rng.below(HORIZON_MS)).unwrap();
        }
        if let (Some(before), Some(after)) = (before, resident_bytes()) {
            let per_timer = after.saturating_sub(before) as f64 / ARMED as f64;
            println!("wheel resident memory: {per_timer:.1} bytes per timer at {ARMED} armed");
        }
        Armed { wheel, ids: (0..ARMED).collect(), next_id: ARMED, rng }
    }

    /// Replaces a random armed id by a fresh one; returns (old id, fresh id, fresh deadline).
    fn rotate(&mut self) -> (TimerId, TimerId, u64) {
        let slot = self.rng.below(ARMED) as usize;
        let fresh = self.next_id;
        self.next_id += 1;
        let old = std::mem::replace(&mut self.ids[slot], fresh);
        (old, fresh, T0 + 1 + self.rng.below(HORIZON_MS))
    }
}

/// Resident memory of this process in bytes (Linux), to check the memory budget.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn insert_and_cancel(c: &mut Criterion) {
    let state = RefCell::new(Armed::new());

    let mut group = c.benchmark_group("wheel_1M_armed");
    group.throughput(Throughput::Elements(1));
    group.bench_function("insert", |b| {
        b.iter_batched(
            || {
                // Untimed: make room by cancelling a random armed timer.
                let s = &mut *state.borrow_mut();
                let (old, fresh, deadline) = s.rotate();
                s.wheel.cancel(old);
                (fresh, deadline)
            },
            |(id, deadline)| state.borrow_mut().wheel.insert(id, deadline),
            BatchSize::NumIterations(BATCH),
        );
    });
    group.bench_function("cancel", |b| {
        b.iter_batched(
            || {
                // Untimed: arm a replacement for the random timer about to be cancelled.
                let s = &mut *state.borrow_mut();
                let (old, fresh, deadline) = s.rotate();
                s.wheel.insert(fresh, deadline).unwrap();
                old
            },
            |id| state.borrow_mut().wheel.cancel(id),
            BatchSize::NumIterations(BATCH),
        );
    });
    group.finish();
}

/// A wheel with `ARMED` timers due `per_ms` per millisecond from `T0 + 1` on: timer `n` is
/// due at `T0 + 1 + n / per_ms`, so each millisecond advanced fires exactly `per_ms` timers.
struct Due {
    wheel: Wheel,
    expired: Vec<(TimerId, u64)>,
    /// The next id to arm, at the tail.
    next_id: TimerId,
    per_ms: u64,
}

impl Due {
    fn new(per_ms: u64) -> Due {
        let mut due = Due { wheel: Wheel::new(T0), expired: Vec::new(), next_id: 0, per_ms };
        due.refill(ARMED);
        due
    }

    /// Arms the next `n` timers at the tail.
    fn refill(&mut self, n: u64) {
        for _ in 0..n {
            let deadline = T0 + 1 + self.next_id / self.per_ms;
            self.wheel.insert(self.next_id, deadline).unwrap();
            self.next_id += 1;
        }
    }

    /// Advances by `step_ms`; returns how many timers fired.
    fn step(&mut self, step_ms: u64) -> usize {
        self.expired.clear();
        let now = self.wheel.elapsed() + step_ms;
        self.wheel.advance(now, &mut self.expired);
        self.expired.len()
    }
}

fn expire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wheel_1M_armed_expire");

    // The event loop waking once per millisecond with one timer due.
    let single = RefCell::new(Due::new(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| {
        b.iter_batched(
            || single.borrow_mut().refill(1),
            |()| {
                let fired = single.borrow_mut().step(1);
                debug_assert_eq!(fired, 1);
                black_box(fired)
            },
            BatchSize::NumIterations(BATCH),
        );
    });

    // A busy moment: 16 timers due every millisecond, 64 ms passed per advance.
    let burst = RefCell::new(Due::new(BURST_PER_MS));
    group.throughput(Throughput::Elements(BURST));
    group.bench_function("burst", |b| {
        b.iter_batched(
            || burst.borrow_mut().refill(BURST),
            |()| {
                let fired = burst.borrow_mut().step(BURST_STEP_MS);
                debug_assert_eq!(fired as u64, BURST);
                black_box(fired)
            },
            BatchSize::NumIterations(BATCH / BURST_STEP_MS),
        );
    });
    group.finish();
}

criterion_group!(benches, insert_and_cancel, expire);
criterion_main!(benches);
