//! Unit tests of the wheel, and a property test against a `HashMap` oracle.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// A realistic epoch-millisecond start (2023-11-14), so blocks are not conveniently aligned.
const T0: u64 = 1_700_000_000_000;
const SECOND: u64 = 1_000;
const DAY: u64 = 86_400 * SECOND;
const YEAR: u64 = 365 * DAY;

/// Advances `w` to `now`, checks the invariants, and returns what fired, sorted.
fn advance(w: &mut Wheel, now: u64) -> Vec<(TimerId, u64)> {
    let mut expired = Vec::new();
    w.advance(now, &mut expired);
    w.check_invariants();
    expired.sort_unstable();
    expired
}

/// Drives `w` like the event loop: wake at `next_deadline`, advance, repeat until nothing is
/// armed. Checks every entry fires when time is exactly its deadline; returns the wake count.
fn run_event_loop(w: &mut Wheel) -> usize {
    let mut wakes = 0;
    while let Some(at) = w.next_deadline() {
        assert!(at > w.elapsed(), "next_deadline {at} is not in the future");
        for (id, deadline) in advance(w, at) {
            assert_eq!(deadline, at, "timer {id} fired at {at}, not at its deadline");
        }
        wakes += 1;
    }
    wakes
}

#[test]
fn entry_stays_16_bytes() {
    // The memory budget (1,000,000 armed schedules in 128 MiB, docs/design.md "Memory")
    // depends on this: the slab is indexed by id, so an entry is all a timer costs here.
    assert_eq!(std::mem::size_of::<Entry>(), 16);
}

#[test]
fn placement_follows_level_geometry() {
    let slot = |level, slot| Place::Slot { level, slot };
    #[rustfmt::skip]
    let cases = [
        // (elapsed, deadline, place)
        (0, 1, slot(0, 1)),
        (0, 63, slot(0, 63)),
        (0, 64, slot(1, 1)),
        (63, 64, slot(1, 1)),            // 1 ms ahead, but across a 64 ms boundary
        (64, 127, slot(0, 63)),
        (0, 64 * 64 - 1, slot(1, 63)),
        (0, 64 * 64, slot(2, 1)),
        (0, 1 << 30, slot(5, 1)),
        (0, WHEEL_SPAN_MS - 1, slot(5, 63)),
        (0, WHEEL_SPAN_MS, Place::Overflow),
        (WHEEL_SPAN_MS - 1, WHEEL_SPAN_MS, Place::Overflow), // 1 ms ahead, next 2^36 block
        (WHEEL_SPAN_MS, WHEEL_SPAN_MS + 1, slot(0, 1)),
        (T0, T0 + 1, slot(0, ((T0 + 1) & 63) as usize)),
        (T0, u64::MAX, Place::Overflow),
    ];
    for (elapsed, deadline, expect) in cases {
        assert_eq!(place_for(elapsed, deadline), expect, "place_for({elapsed}, {deadline})");
    }
}

#[test]
fn insert_already_due_returns_err_and_stores_nothing() {
    let mut w = Wheel::new(T0);
    assert_eq!(w.insert(1, T0), Err(1));
    assert_eq!(w.insert(2, T0 - 1), Err(2));
    assert_eq!(w.insert(3, 0), Err(3));
    assert!(w.is_empty());
    assert_eq!(w.len(), 0);
    assert_eq!(w.deadline(1), None);
    assert_eq!(w.next_deadline(), None);
    assert_eq!(advance(&mut w, T0 + YEAR), vec![]);
    assert_eq!(w.insert(4, T0 + YEAR), Err(4));
    assert_eq!(w.insert(4, T0 + YEAR + 1), Ok(()));
}

#[test]
fn due_insert_of_an_armed_id_cancels_its_old_deadline() {
    let mut w = Wheel::new(T0);
    w.insert(1, T0 + 10).unwrap();
    assert_eq!(w.insert(1, T0), Err(1));
    assert_eq!(w.deadline(1), None);
    assert!(w.is_empty());
    assert_eq!(advance(&mut w, T0 + 10), vec![]);
}

#[test]
fn insert_replaces_an_armed_id() {
    let mut w = Wheel::new(T0);
    w.insert(1, T0 + 2 * SECOND).unwrap();
    w.insert(1, T0 + 1_500).unwrap(); // earlier
    w.insert(2, T0 + 100).unwrap();
    w.insert(2, T0 + 3 * YEAR).unwrap(); // later, into overflow
    w.insert(3, T0 + 3 * YEAR).unwrap();
    w.insert(3, T0 + 3 * YEAR).unwrap(); // same deadline
    assert_eq!(w.len(), 3);
    assert_eq!(w.deadline(1), Some(T0 + 1_500));
    assert_eq!(w.deadline(2), Some(T0 + 3 * YEAR));
    w.check_invariants();
    assert_eq!(advance(&mut w, T0 + 1_499), vec![]);
    assert_eq!(advance(&mut w, T0 + 10 * SECOND), vec![(1, T0 + 1_500)]);
    assert_eq!(advance(&mut w, T0 + 3 * YEAR), vec![(2, T0 + 3 * YEAR), (3, T0 + 3 * YEAR)]);
    assert!(w.is_empty());
}

#[test]
fn cancel_returns_the_deadline_and_forgets_the_entry() {
    let mut w = Wheel::new(T0);
    let deadlines = [T0 + 1, T0 + 64, T0 + 5 * SECOND, T0 + 40 * DAY, T0 + 4 * YEAR];
    for (id, &d) in (0..).zip(&deadlines) {
        w.insert(id, d).unwrap();
    }
    assert_eq!(w.cancel(99), None);
    for (i, &d) in deadlines.iter().enumerate().rev() {
        let id = i as TimerId;
        assert_eq!(w.cancel(id), Some(d));
        assert_eq!(w.cancel(id), None);
        assert_eq!(w.deadline(id), None);
        w.check_invariants();
    }
    assert!(w.is_empty());
    assert_eq!(w.next_deadline(), None);
    assert_eq!(advance(&mut w, T0 + 5 * YEAR), vec![]);
}

#[test]
fn cancel_after_cascade_finds_the_entry_in_its_new_slot() {
    let mut w = Wheel::new(T0);
    let d = T0 + 3 * DAY + 17;
    w.insert(7, d).unwrap();
    w.insert(8, d).unwrap();
    // Step to each cascade point; the entries move down, then are cancelled from wherever.
    while let Some(at) = w.next_deadline() {
        if at >= d {
            break;
        }
        assert_eq!(advance(&mut w, at), vec![]);
    }
    assert_eq!(w.cancel(7), Some(d));
    assert_eq!(advance(&mut w, d), vec![(8, d)]);
}

#[test]
fn far_future_entries_fire_exactly_when_due() {
    let mut w = Wheel::new(T0);
    let block_end = (T0 | (WHEEL_SPAN_MS - 1)) + 1;
    let deadlines = [
        T0 + 3 * YEAR,
        T0 + 3 * YEAR + 1,
        T0 + 3 * YEAR + 1, // two timers, one deadline
        T0 + 10 * YEAR + 12_345,
        T0 + 100 * YEAR,
        block_end - 1,
        block_end,
        block_end + WHEEL_SPAN_MS,
    ];
    for (id, &d) in (0..).zip(&deadlines) {
        w.insert(id, d).unwrap();
    }
    let mut distinct = deadlines.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    for d in distinct {
        assert_eq!(advance(&mut w, d - 1), vec![], "fired early before {d}");
        let expect: Vec<(TimerId, u64)> = (0..).zip(deadlines).filter(|&(_, deadline)| deadline == d).collect();
        assert_eq!(advance(&mut w, d), expect);
    }
    assert!(w.is_empty());

    // The same entries driven by next_deadline, as the event loop does.
    let mut w = Wheel::new(T0);
    for (id, &d) in (0..).zip(&deadlines) {
        w.insert(id, d).unwrap();
    }
    let wakes = run_event_loop(&mut w);
    // At most one wake per level and one per overflow block, per distinct deadline.
    assert!(wakes <= deadlines.len() * (LEVELS + 2), "{wakes} wakes");
}

/// Deterministic pseudo-random deadlines at every scale, from 1 ms to ~9 years ahead.
fn spread_deadlines(start: u64, n: u64) -> Vec<(TimerId, u64)> {
    (0..n)
        .map(|id| {
            let r = fmix64(id + 1);
            let scale = 1 + (r % 38); // up to 2^38 ms ≈ 8.7 years
            (id, start + 1 + (r >> 8) % (1u64 << scale))
        })
        .collect()
}

#[test]
fn advance_in_one_big_jump_expires_everything_due() {
    let entries = spread_deadlines(T0, 5_000);
    let mut w = Wheel::new(T0);
    for &(id, d) in &entries {
        w.insert(id, d).unwrap();
    }
    w.check_invariants();
    let now = T0 + 5 * YEAR;
    let mut due: Vec<_> = entries.iter().copied().filter(|&(_, d)| d <= now).collect();
    due.sort_unstable();
    assert!(!due.is_empty() && due.len() < entries.len());
    assert_eq!(advance(&mut w, now), due);
    assert_eq!(w.len(), entries.len() - due.len());
    assert_eq!(w.elapsed(), now);
    let mut rest: Vec<_> = entries.iter().copied().filter(|&(_, d)| d > now).collect();
    rest.sort_unstable();
    assert_eq!(advance(&mut w, u64::MAX), rest);
}

#[test]
fn advance_in_small_steps_fires_each_entry_at_its_deadline() {
    // Dense near-term timers, stepped through one millisecond at a time.
    let mut w = Wheel::new(T0);
    let horizon = 20 * SECOND;
    for id in 0..2_000 {
        w.insert(id, T0 + 1 + fmix64(id) % horizon).unwrap();
    }
    let mut fired = 0;
    for now in T0 + 1..=T0 + horizon {
        let mut expired = Vec::new();
        w.advance(now, &mut expired);
        assert!(expired.iter().all(|&(_, d)| d == now), "early or late at {now}");
        fired += expired.len();
    }
    w.check_invariants();
    assert_eq!(fired, 2_000);
    assert!(w.is_empty());

    // Spread timers, stepped through in uneven strides: each fires in the first step that
    // reaches its deadline.
    let entries = spread_deadlines(T0, 3_000);
    let mut w = Wheel::new(T0);
    for &(id, d) in &entries {
        w.insert(id, d).unwrap();
    }
    let (mut now, mut stride, mut fired) = (T0, 1u64, 0);
    while !w.is_empty() {
        let before = now;
        now += stride;
        stride = (stride * 3 / 2 + 7) % (40 * DAY);
        for (id, d) in advance(&mut w, now) {
            assert!(before < d && d <= now, "timer {id} due {d} fired in ({before}, {now}]");
            fired += 1;
        }
    }
    assert_eq!(fired, entries.len());
}

#[test]
fn next_deadline_is_never_later_than_the_earliest_deadline() {
    let mut w = Wheel::new(T0);
    assert_eq!(w.next_deadline(), None);
    w.insert(1, T0 + 5 * YEAR).unwrap();
    assert!(w.next_deadline().unwrap() <= T0 + 5 * YEAR);
    w.insert(2, T0 + 10 * DAY).unwrap();
    assert!(w.next_deadline().unwrap() <= T0 + 10 * DAY);
    let level0 = (T0 | 63) - 1; // in the current 64 ms block: exact
    if level0 > T0 {
        w.insert(3, level0).unwrap();
        assert_eq!(w.next_deadline(), Some(level0));
        w.cancel(3);
    }
    // Through a whole run, every answer is a lower bound, and exact once the earliest entry
    // reached level 0.
    let entries = spread_deadlines(T0, 2_000);
    for &(id, d) in &entries {
        w.insert(id + 10, d).unwrap();
    }
    while let Some(next) = w.next_deadline() {
        let earliest =
            entries.iter().map(|&(id, _)| id + 10).chain([1, 2]).filter_map(|id| w.deadline(id)).min().unwrap();
        assert!(next <= earliest, "next_deadline {next} > earliest {earliest}");
        if earliest >> SLOT_BITS == w.elapsed() >> SLOT_BITS {
            assert_eq!(next, earliest, "not exact for a level-0 entry");
        }
        advance(&mut w, next);
    }
}

#[test]
fn advance_never_moves_time_backwards() {
    let mut w = Wheel::new(T0);
    w.insert(1, T0 + 100).unwrap();
    assert_eq!(advance(&mut w, T0 - 1_000), vec![]);
    assert_eq!(w.elapsed(), T0);
    assert_eq!(advance(&mut w, T0 + 50), vec![]);
    assert_eq!(advance(&mut w, T0 + 10), vec![]);
    assert_eq!(w.elapsed(), T0 + 50);
    assert_eq!(advance(&mut w, T0 + 100), vec![(1, T0 + 100)]);
}

#[test]
fn rewind_re_places_every_entry_and_fires_each_at_its_deadline() {
    let mut w = Wheel::new(T0);
    let deadlines = [T0 + 10 * SECOND + 1, T0 + 11 * SECOND, T0 + 2 * DAY, T0 + 3 * YEAR];
    for (id, &d) in deadlines.iter().enumerate() {
        w.insert(id as TimerId, d).unwrap();
    }
    assert_eq!(advance(&mut w, T0 + 10 * SECOND), vec![]);
    // The clock steps back 6 s: a deadline the wheel's time has passed is armable again.
    w.rewind(T0 + 4 * SECOND);
    w.check_invariants();
    assert_eq!(w.elapsed(), T0 + 4 * SECOND);
    assert_eq!(w.len(), 4);
    w.insert(9, T0 + 7 * SECOND).unwrap();
    // Rewinding forwards is not a rewind: nothing changes.
    w.rewind(T0 + 5 * SECOND);
    assert_eq!(w.elapsed(), T0 + 4 * SECOND);
    let mut fired = Vec::new();
    while let Some(at) = w.next_deadline() {
        fired.extend(advance(&mut w, at));
    }
    let mut want: Vec<(TimerId, u64)> = deadlines.iter().enumerate().map(|(id, &d)| (id as TimerId, d)).collect();
    want.push((9, T0 + 7 * SECOND));
    want.sort_by_key(|&(_, d)| d);
    assert_eq!(fired, want);
}

#[test]
fn reuses_slab_cells() {
    let mut w = Wheel::new(T0);
    for round in 0..10 {
        for id in 0..100 {
            w.insert(id, T0 + 1 + round * 1_000 + id).unwrap();
        }
        advance(&mut w, T0 + (round + 1) * 1_000);
    }
    assert!(w.slab.entries.len() <= 100);
}

// ---------------------------------------------------------------------------------------------
// Property test: random insert / cancel / advance sequences against a HashMap oracle.

/// Ids come from a small space so that replaces and cancels of armed ids are frequent.
const ID_SPACE: u64 = 48;

#[derive(Debug, Clone)]
enum Op {
    /// Insert at `elapsed + ahead` (or `elapsed - ahead` when `past`: already due).
    Insert {
        id: TimerId,
        ahead: u64,
        past: bool,
    },
    Cancel {
        id: TimerId,
    },
    /// Advance by `by` ms (0 included).
    Advance {
        by: u64,
    },
    /// Advance to exactly `next_deadline()`, as the event loop does.
    AdvanceToNext,
    /// Advance to exactly the deadline of `id` (or by 1 ms if it is not armed).
    AdvanceToDeadline {
        id: TimerId,
    },
    /// Ask to move time back by `by` ms; nothing may change.
    Backwards {
        by: u64,
    },
    /// Rewind the wheel's time by `by` ms (a wall clock stepped back): every entry stays.
    Rewind {
        by: u64,
    },
}

/// Time distances of every magnitude: sub-slot, each level's span, overflow, and beyond.
fn magnitude() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..=2u64,
        0..64u64,
        0..4_096u64,
        0..(1u64 << 18),
        0..(1u64 << 24),
        0..(1u64 << 30),
        0..(1u64 << 36),
        (1u64 << 36) - 70..(1u64 << 36) + 70,
        0..(1u64 << 42), // ~139 years
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..ID_SPACE, magnitude(), prop::bool::weighted(0.1))
            .prop_map(|(id, ahead, past)| Op::Insert { id, ahead, past }),
        2 => (0..ID_SPACE).prop_map(|id| Op::Cancel { id }),
        4 => magnitude().prop_map(|by| Op::Advance { by }),
        2 => Just(Op::AdvanceToNext),
        2 => (0..ID_SPACE).prop_map(|id| Op::AdvanceToDeadline { id }),
        1 => magnitude().prop_map(|by| Op::Backwards { by }),
        1 => magnitude().prop_map(|by| Op::Rewind { by }),
    ]
}

/// Start times: ordinary epoch values, values just before a 2^36 (overflow) block boundary,
/// and values near the end of time.
fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..(1u64 << 42),
        (1..40u64, 0..200u64).prop_map(|(k, d)| k * WHEEL_SPAN_MS - d),
        u64::MAX - (1u64 << 40)..=u64::MAX,
    ]
}

/// Checks everything observable about `w` against the oracle.
fn check_against(w: &Wheel, oracle: &HashMap<TimerId, u64>) {
    w.check_invariants();
    assert_eq!(w.len(), oracle.len());
    assert_eq!(w.is_empty(), oracle.is_empty());
    for id in 0..ID_SPACE {
        assert_eq!(w.deadline(id), oracle.get(&id).copied(), "deadline of {id}");
    }
    let earliest = oracle.values().copied().min();
    match (w.next_deadline(), earliest) {
        (None, None) => {}
        (Some(next), Some(earliest)) => {
            assert!(next > w.elapsed(), "next_deadline {next} not in the future");
            assert!(next <= earliest, "next_deadline {next} > earliest {earliest}");
            if earliest >> SLOT_BITS == w.elapsed() >> SLOT_BITS {
                assert_eq!(next, earliest, "not exact for a level-0 entry");
            }
        }
        (next, earliest) => panic!("next_deadline {next:?} but earliest {earliest:?}"),
    }
}

fn run_ops(start: u64, ops: &[Op]) {
    let mut w = Wheel::new(start);
    let mut oracle: HashMap<TimerId, u64> = HashMap::new();
    for op in ops {
        let now = w.elapsed();
        let advance_to = match *op {
            Op::Insert { id, ahead, past } => {
                let deadline = if past { now.saturating_sub(ahead) } else { now.saturating_add(ahead) };
                let result = w.insert(id, deadline);
                if deadline <= now {
                    assert_eq!(result, Err(id));
                    oracle.remove(&id);
                } else {
                    assert_eq!(result, Ok(()));
                    oracle.insert(id, deadline);
                }
                None
            }
            Op::Cancel { id } => {
                assert_eq!(w.cancel(id), oracle.remove(&id));
                None
            }
            Op::Advance { by } => Some(now.saturating_add(by)),
            Op::AdvanceToNext => Some(w.next_deadline().unwrap_or(now)),
            Op::AdvanceToDeadline { id } => Some(oracle.get(&id).copied().unwrap_or(now.saturating_add(1))),
            Op::Backwards { by } => Some(now.saturating_sub(by)),
            Op::Rewind { by } => {
                w.rewind(now.saturating_sub(by));
                assert_eq!(w.elapsed(), now.saturating_sub(by));
                None
            }
        };
        if let Some(to) = advance_to {
            let mut fired = Vec::new();
            w.advance(to, &mut fired);
            let effective = to.max(now);
            assert_eq!(w.elapsed(), effective);
            fired.sort_unstable();
            let mut due: Vec<(TimerId, u64)> =
                oracle.iter().filter(|&(_, &d)| d <= effective).map(|(&id, &d)| (id, d)).collect();
            due.sort_unstable();
            oracle.retain(|_, &mut d| d > effective);
            assert_eq!(fired, due, "advance {now} -> {to}");
        }
        check_against(&w, &oracle);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_oracle(start in start(), ops in prop::collection::vec(op(), 1..200)) {
        run_ops(start, &ops);
    }
}
