//! Hierarchical timing wheel: owns the set of armed timers (a [`TimerId`] and an absolute
//! deadline in epoch milliseconds) and nothing else. It is a data structure, not a task: no
//! clock, no I/O; time moves only when the caller passes `now` to [`Wheel::advance`].
//! Entry points: [`Wheel::insert`], [`Wheel::cancel`], [`Wheel::advance`] (returns every entry
//! whose deadline is `<= now`, none early, none lost) and [`Wheel::next_deadline`] (when to wake).
//!
//! # Geometry
//!
//! Time is an integer count of milliseconds. There are [`LEVELS`] = 6 levels of 64 slots; at
//! level `L` a slot is `64^L` ms wide and the level spans `64^(L+1)` ms:
//!
//! | level | slot width       | level span          |
//! |-------|------------------|---------------------|
//! | 0     | 1 ms             | 64 ms               |
//! | 1     | 64 ms            | ~4.1 s              |
//! | 2     | ~4.1 s           | ~4.4 min            |
//! | 3     | ~4.4 min         | ~4.7 h              |
//! | 4     | ~4.7 h           | ~12.4 days          |
//! | 5     | ~12.4 days       | 2^36 ms ≈ 2.2 years |
//!
//! Read a deadline as base-64 digits. An entry lives at the level of the most significant digit
//! in which its deadline differs from the wheel's time (`elapsed`), in the slot named by that
//! digit of the deadline. Entries whose deadline differs from `elapsed` above bit 36 (beyond
//! the top level's span) wait in the *overflow* list and are re-placed when time enters their
//! 2^36 ms block. When time reaches the start of an occupied slot at level `L > 0`, the slot is
//! emptied and its entries cascade to lower levels (or fire, if due exactly then); a level-0
//! slot holds exactly one deadline, so all of its entries fire.
//!
//! # Invariants (checked by `debug_assert!`s and, in tests, by a full walk after every step)
//!
//! - Every armed entry has `deadline > elapsed`, and is in exactly one list: the one that
//!   [`place_for`]`(elapsed, deadline)` names. Hence an occupied slot at level `L` is always
//!   strictly after `elapsed`'s own digit at `L`, in the same `64^(L+1)` block, and an entry's
//!   list can be recomputed from its deadline (no per-entry location field is stored).
//! - A level's occupancy bit is set exactly when its slot list is non-empty.
//! - `overflow_floor` is `<=` every overflow deadline, and its 2^36 block is after `elapsed`'s.
//! - Time never moves backwards (except by an explicit [`Wheel::rewind`], which re-places every
//!   entry), and never past an occupied slot's start without processing it.
//!
//! # Cost and memory
//!
//! Insert and cancel are O(1): entries live in a slab indexed by the timer's id (ids are small
//! integers the caller allocates and reuses, as the scheduler's timer slots are, see
//! [`TimerId`]) and are chained into per-slot doubly linked lists by that index, so no map
//! from id to entry is needed. A 64-bit occupancy bitmap per level finds the next occupied slot
//! with one `trailing_zeros`. `advance` costs O(levels) per occupied slot it passes plus O(1)
//! per entry moved or fired; each entry moves at most [`LEVELS`] times, plus once per overflow
//! rescan. An entry costs 16 bytes (deadline, two links), and the slab is as long as the
//! largest id + 1: 1,000,000 armed timers with dense ids take 16 MB.

use std::fmt;

/// Identifies an armed timer; assigned by the caller. Ids index the wheel's slab directly, so
/// they must be dense (reuse the ids of fired and cancelled timers) and below [`ID_LIMIT`]:
/// the slab is as long as the largest id ever armed + 1.
pub type TimerId = u64;

/// Ids must be below this (the slab's links are `u32`, two values are reserved).
pub const ID_LIMIT: u64 = VACANT as u64;

/// log2 of the slots per level: 64 slots, so one `u64` is a level's whole occupancy bitmap.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Mask selecting one base-64 digit of a time.
const DIGIT_MASK: u64 = SLOTS as u64 - 1;
/// Number of levels. Six levels of 64 slots cover 64^6 ms = 2^36 ms ≈ 2.2 years, which holds
/// every ordinary schedule; farther deadlines (rare: one-off fires years ahead) go to overflow.
pub const LEVELS: usize = 6;
/// Bits of time the wheel's levels cover; a deadline differing from `elapsed` above these
/// bits is in overflow.
const WHEEL_BITS: u32 = SLOT_BITS * LEVELS as u32;
/// The top level's span, 2^36 ms: the size of the blocks in which overflow is rescanned.
const WHEEL_SPAN_MS: u64 = 1 << WHEEL_BITS;
/// "No entry" in the slab's `u32` links. Slab indices are `u32` to keep an entry at 24 bytes;
/// 4 billion armed timers would need ~100 GiB, so the limit is never the binding one.
const NIL: u32 = u32::MAX;
/// `Entry::prev` of a slab cell that holds no armed timer.
const VACANT: u32 = u32::MAX - 1;

/// One armed timer (its id is its index in the slab), or a vacant cell (`prev` = `VACANT`).
#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: u64,
    /// Previous entry in the same list, `NIL` at the head, `VACANT` in a vacant cell.
    prev: u32,
    /// Next entry in the same list, or `NIL` at the tail.
    next: u32,
}

const VACANT_ENTRY: Entry = Entry { deadline: 0, prev: VACANT, next: NIL };

/// Which list an entry belongs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Slot { level: usize, slot: usize },
    Overflow,
}

/// The list that holds an entry due at `deadline` while the wheel's time is `elapsed`:
/// the level of the most significant base-64 digit in which the two differ, the slot being
/// that digit of `deadline`; overflow when they differ above the top level.
fn place_for(elapsed: u64, deadline: u64) -> Place {
    debug_assert!(deadline > elapsed, "only future deadlines have a place");
    // `| DIGIT_MASK` maps a difference confined to the lowest digit to level 0.
    let differing = (elapsed ^ deadline) | DIGIT_MASK;
    let top_bit = u64::BITS - 1 - differing.leading_zeros();
    let level = (top_bit / SLOT_BITS) as usize;
    if level >= LEVELS {
        Place::Overflow
    } else {
        let slot = ((deadline >> (level as u32 * SLOT_BITS)) & DIGIT_MASK) as usize;
        Place::Slot { level, slot }
    }
}

/// Entries by timer id; vacant cells are marked, not chained (ids are reused by the caller).
#[derive(Debug)]
struct Slab {
    entries: Vec<Entry>,
    /// Armed entries.
    len: usize,
}

impl Slab {
    fn new() -> Slab {
        Slab { entries: Vec::new(), len: 0 }
    }

    /// The index of `id`'s cell, if it is armed.
    fn armed(&self, id: TimerId) -> Option<u32> {
        let idx = u32::try_from(id).ok()?;
        self.entries.get(idx as usize).filter(|e| e.prev != VACANT).map(|_| idx)
    }

    /// Fills `id`'s (vacant) cell, growing the slab to reach it.
    fn fill(&mut self, id: TimerId, deadline: u64) -> u32 {
        let idx = u32::try_from(id).ok().filter(|&i| i < VACANT).expect("timer ids are below wheel::ID_LIMIT");
        if idx as usize >= self.entries.len() {
            self.entries.resize(idx as usize + 1, VACANT_ENTRY);
        }
        debug_assert_eq!(self.entries[idx as usize].prev, VACANT, "filling an armed cell");
        self.entries[idx as usize] = Entry { deadline, prev: NIL, next: NIL };
        self.len += 1;
        idx
    }

    fn release(&mut self, idx: u32) {
        self.entries[idx as usize] = VACANT_ENTRY;
        self.len -= 1;
    }

    fn get(&self, idx: u32) -> &Entry {
        &self.entries[idx as usize]
    }

    fn get_mut(&mut self, idx: u32) -> &mut Entry {
        &mut self.entries[idx as usize]
    }
}

/// MurmurHash3's 64-bit finalizer (the tests' spread of deadlines).
#[cfg(test)]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A hierarchical timing wheel holding timer ids and their deadlines (see the module docs).
pub struct Wheel {
    /// The wheel's time: every armed deadline is later than this.
    elapsed: u64,
    slab: Slab,
    /// Head of each slot's list.
    heads: [[u32; SLOTS]; LEVELS],
    /// Bit `s` of `occupied[L]` is set iff `heads[L][s]` is not `NIL`.
    occupied: [u64; LEVELS],
    overflow_head: u32,
    overflow_len: usize,
    /// A lower bound of the overflow deadlines (exact after a rescan, may be stale-low after a
    /// cancel); `u64::MAX` when overflow is empty.
    overflow_floor: u64,
}

impl fmt::Debug for Wheel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len())
            .field("overflow_len", &self.overflow_len)
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

impl Wheel {
    /// An empty wheel whose time starts at `now_ms` (absolute epoch milliseconds).
    pub fn new(now_ms: u64) -> Wheel {
        Wheel {
            elapsed: now_ms,
            slab: Slab::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow_head: NIL,
            overflow_len: 0,
            overflow_floor: u64::MAX,
        }
    }

    /// Makes room for `n` more timers at once (a restart that re-arms a known number).
    pub fn reserve(&mut self, n: usize) {
        self.slab.entries.reserve_exact(n);
    }

    /// The wheel's current time: the last `now_ms` passed to [`Wheel::advance`] (or to `new`).
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of armed timers.
    pub fn len(&self) -> usize {
        self.slab.len
    }

    pub fn is_empty(&self) -> bool {
        self.slab.len == 0
    }

    /// Arms `id` to fire at `deadline_ms`, replacing its previous deadline if it is armed.
    ///
    /// Returns `Err(id)` when the deadline is already due (`<= elapsed()`): nothing is stored,
    /// and a previous deadline of `id` is cancelled too, so the caller fires it exactly once.
    pub fn insert(&mut self, id: TimerId, deadline_ms: u64) -> Result<(), TimerId> {
        if deadline_ms <= self.elapsed {
            self.cancel(id);
            return Err(id);
        }
        let idx = match self.find(id) {
            Some(idx) => {
                self.unlink(idx);
                self.slab.get_mut(idx).deadline = deadline_ms;
                idx
            }
            None => self.slab.fill(id, deadline_ms),
        };
        self.link(idx);
        Ok(())
    }

    /// Disarms `id`; returns the deadline it had, or `None` if it was not armed.
    pub fn cancel(&mut self, id: TimerId) -> Option<u64> {
        let idx = self.find(id)?;
        let deadline = self.slab.get(idx).deadline;
        self.unlink(idx);
        self.slab.release(idx);
        Some(deadline)
    }

    /// The deadline of `id`, if armed.
    pub fn deadline(&self, id: TimerId) -> Option<u64> {
        self.find(id).map(|idx| self.slab.get(idx).deadline)
    }

    /// The slab index of `id`, if armed.
    fn find(&self, id: TimerId) -> Option<u32> {
        self.slab.armed(id)
    }

    /// When the event loop should next call [`Wheel::advance`]: a lower bound of the earliest
    /// armed deadline, exact when that entry is in level 0 (due within the current 64 ms
    /// block). Otherwise it is the start of the slot (or overflow block) to cascade, which is
    /// never later than any deadline in it. `None` when nothing is armed.
    pub fn next_deadline(&self) -> Option<u64> {
        self.next_expiration().map(|(at, _)| at)
    }

    /// Moves the wheel's time to `now_ms` and appends every entry with `deadline <= now_ms` to
    /// `expired` as `(id, deadline)`, disarming it. Entries come out slot by slot, so in
    /// nondecreasing deadline order per cascade step but not overall. A `now_ms` earlier than
    /// [`Wheel::elapsed`] changes nothing: the wheel's time never moves backwards.
    pub fn advance(&mut self, now_ms: u64, expired: &mut Vec<(TimerId, u64)>) {
        while let Some((at, place)) = self.next_expiration() {
            if at > now_ms {
                break;
            }
            debug_assert!(at > self.elapsed, "an occupied slot lies in the past");
            self.elapsed = at;
            let head = self.detach(place);
            self.replace_all(head, place, expired);
        }
        self.elapsed = self.elapsed.max(now_ms);
    }

    /// Moves the wheel's time back to `now_ms` (a wall clock stepped backwards: a manual
    /// `date -s`, a VM resumed from an old snapshot) and re-places every armed entry relative
    /// to it; no entry fires or is lost. Without this, a deadline between `now_ms` and
    /// [`Wheel::elapsed`] could not be armed ([`Wheel::insert`] would call it due although the
    /// clock has not reached it). A `now_ms` not before `elapsed()` changes nothing. O(armed
    /// entries + slab length): for a rare event, not for every tick.
    pub fn rewind(&mut self, now_ms: u64) {
        if now_ms >= self.elapsed {
            return;
        }
        // An empty wheel at `now_ms` that keeps the slab (the armed entries and their
        // deadlines), then every entry linked again: each armed deadline was later than the
        // old time, so it is later than the new one.
        let slab = std::mem::replace(&mut self.slab, Slab::new());
        *self = Wheel { slab, ..Wheel::new(now_ms) };
        for idx in 0..self.slab.entries.len() as u32 {
            if self.slab.get(idx).prev != VACANT {
                self.link(idx);
            }
        }
    }

    /// The earliest slot (or the overflow list) to process and the time at which to process
    /// it. The first non-empty level wins: every occupied slot of level `L + 1` starts after
    /// the current `64^(L+1)` block, in which all of level `L` lies; likewise overflow lies
    /// beyond the current 2^36 block that contains the whole wheel.
    fn next_expiration(&self) -> Option<(u64, Place)> {
        for level in 0..LEVELS {
            let occupied = self.occupied[level];
            let shift = level as u32 * SLOT_BITS;
            let digit = (self.elapsed >> shift) & DIGIT_MASK;
            debug_assert_eq!(
                occupied & (u64::MAX >> (DIGIT_MASK - digit)),
                0,
                "level {level} has an occupied slot at or before the current one"
            );
            if occupied != 0 {
                let slot = u64::from(occupied.trailing_zeros());
                let block_start = self.elapsed & !((1u64 << (shift + SLOT_BITS)) - 1);
                let at = block_start + (slot << shift);
                let place = Place::Slot { level, slot: slot as usize };
                return Some((at, place));
            }
        }
        if self.overflow_len > 0 {
            let at = self.overflow_floor & !(WHEEL_SPAN_MS - 1);
            debug_assert!(at > self.elapsed, "overflow floor lies in the current block");
            return Some((at, Place::Overflow));
        }
        None
    }

    /// Empties the list at `place` and returns its former head.
    fn detach(&mut self, place: Place) -> u32 {
        match place {
            Place::Slot { level, slot } => {
                self.occupied[level] &= !(1u64 << slot);
                std::mem::replace(&mut self.heads[level][slot], NIL)
            }
            Place::Overflow => {
                self.overflow_len = 0;
                self.overflow_floor = u64::MAX;
                std::mem::replace(&mut self.overflow_head, NIL)
            }
        }
    }

    /// Re-places every entry of a detached list (starting at `head`, formerly at `from`)
    /// relative to the new `elapsed`: due entries fire, the rest move to a lower level (or,
    /// from overflow, into the wheel or back into overflow).
    fn replace_all(&mut self, mut idx: u32, from: Place, expired: &mut Vec<(TimerId, u64)>) {
        while idx != NIL {
            let Entry { deadline, next, .. } = *self.slab.get(idx);
            let id = TimerId::from(idx);
            if deadline <= self.elapsed {
                debug_assert_eq!(deadline, self.elapsed, "entry {id} was not fired in time");
                expired.push((id, deadline));
                self.slab.release(idx);
            } else {
                debug_assert!(
                    match (from, place_for(self.elapsed, deadline)) {
                        (Place::Slot { level: 0, .. }, _) => false,
                        (Place::Slot { level: old, .. }, Place::Slot { level: new, .. }) => new < old,
                        (Place::Slot { .. }, Place::Overflow) => false,
                        (Place::Overflow, _) => true,
                    },
                    "entry {id} did not cascade downwards"
                );
                self.link(idx);
            }
            idx = next;
        }
    }

    /// Pushes entry `idx` onto the head of the list its deadline belongs in.
    fn link(&mut self, idx: u32) {
        let deadline = self.slab.get(idx).deadline;
        let place = place_for(self.elapsed, deadline);
        let head = match place {
            Place::Slot { level, slot } => {
                self.occupied[level] |= 1u64 << slot;
                &mut self.heads[level][slot]
            }
            Place::Overflow => {
                self.overflow_len += 1;
                self.overflow_floor = self.overflow_floor.min(deadline);
                &mut self.overflow_head
            }
        };
        let old_head = std::mem::replace(head, idx);
        let entry = self.slab.get_mut(idx);
        entry.prev = NIL;
        entry.next = old_head;
        if old_head != NIL {
            self.slab.get_mut(old_head).prev = idx;
        }
    }

    /// Removes entry `idx` from its list (recomputed from its deadline, see the invariants).
    fn unlink(&mut self, idx: u32) {
        let Entry { deadline, prev, next, .. } = *self.slab.get(idx);
        let place = place_for(self.elapsed, deadline);
        if next != NIL {
            self.slab.get_mut(next).prev = prev;
        }
        if prev != NIL {
            self.slab.get_mut(prev).next = next;
        } else {
            match place {
                Place::Slot { level, slot } => {
                    debug_assert_eq!(self.heads[level][slot], idx, "entry not in its slot");
                    self.heads[level][slot] = next;
                    if next == NIL {
                        self.occupied[level] &= !(1u64 << slot);
                    }
                }
                Place::Overflow => {
                    debug_assert_eq!(self.overflow_head, idx, "entry not in overflow");
                    self.overflow_head = next;
                }
            }
        }
        if place == Place::Overflow {
            self.overflow_len -= 1;
            if self.overflow_len == 0 {
                self.overflow_floor = u64::MAX;
            }
        }
    }

    /// Walks every list and checks every invariant of the module docs. O(n): tests only.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut seen = 0usize;
        let mut walk = |head: u32, expect: Place| {
            let mut prev = NIL;
            let mut idx = head;
            let mut count = 0usize;
            while idx != NIL {
                let e = self.slab.get(idx);
                assert_eq!(e.prev, prev, "broken back link");
                assert!(e.deadline > self.elapsed, "armed entry {idx} is overdue");
                assert_eq!(place_for(self.elapsed, e.deadline), expect, "misplaced {idx}");
                assert_ne!(e.prev, VACANT, "a vacant cell in a list");
                if expect == Place::Overflow {
                    assert!(e.deadline >= self.overflow_floor, "overflow floor too high");
                }
                prev = idx;
                idx = e.next;
                count += 1;
            }
            seen += count;
            count
        };
        for level in 0..LEVELS {
            for slot in 0..SLOTS {
                let count = walk(self.heads[level][slot], Place::Slot { level, slot });
                let bit = self.occupied[level] & (1u64 << slot) != 0;
                assert_eq!(bit, count > 0, "occupancy bit of level {level} slot {slot}");
            }
        }
        let overflow = walk(self.overflow_head, Place::Overflow);
        assert_eq!(overflow, self.overflow_len);
        if overflow > 0 {
            assert!(self.overflow_floor & !(WHEEL_SPAN_MS - 1) > self.elapsed);
        } else {
            assert_eq!(self.overflow_floor, u64::MAX);
        }
        let armed = self.slab.entries.iter().filter(|e| e.prev != VACANT).count();
        assert_eq!(seen, armed, "entries outside every list");
        assert_eq!(seen, self.slab.len, "armed count");
    }
}

#[cfg(test)]
mod tests;
