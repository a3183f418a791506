//! The release timer: finishes an execution's wait for its instant precisely.
//!
//! tokio's timer has 1 ms ticks and rounds a deadline up to the next tick, so a task that sleeps
//! until its instant wakes 0–1 ms after it (plus the tick's own lag); the minimal scheduler the
//! load harness compares against shows that as its lateness floor. A fire here sleeps on tokio
//! only until [`COARSE_LEAD_US`] before its instant, then waits on this timer: one OS thread
//! with a heap of waiters ordered by instant, sleeping on a condition variable until the
//! earliest (with the thread's timer slack set to 1 µs, `prctl(PR_SET_TIMERSLACK)`), and
//! releasing every waiter whose instant has come in one wake. Nothing spins: the thread sleeps
//! between instants, and fires of the same millisecond share its wake.
//!
//! A waiter is never released before its instant (the thread checks the clock before it
//! releases); one whose instant has passed when it registers returns at once.
//!
//! Only the daemon uses it (with the real clock); tests with a manual clock keep the plain
//! tokio sleep (`Engine::set_release_timer`).

use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

/// How long before its instant a fire stops sleeping on tokio's timer and waits here, in µs:
/// tokio may wake up to about a tick (1 ms) late, so two ticks ahead leaves this timer the
/// last part of the wait.
pub const COARSE_LEAD_US: i64 = 2_000;

/// The current time in µs since the epoch (the same clock as `time::SystemClock`).
#[allow(clippy::disallowed_methods)] // the release timer's purpose is the real clock
pub fn now_us() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

struct Waiter {
    at_us: i64,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest instant first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Waiter>,
    seq: u64,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

/// The release timer (see the module docs); dropping it stops its thread.
pub struct ReleaseTimer {
    shared: Arc<Shared>,
}

impl ReleaseTimer {
    /// Starts the timer's thread (`hookwheel-release`).
    ///
    /// # Errors
    /// The OS refused a new thread.
    pub fn start() -> std::io::Result<ReleaseTimer> {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()), wake: Condvar::new() });
        let s = shared.clone();
        std::thread::Builder::new().name("hookwheel-release".into()).spawn(move || run(&s))?;
        Ok(ReleaseTimer { shared })
    }

    /// Waits until `at_us` (µs since the epoch): on tokio's timer until [`COARSE_LEAD_US`]
    /// before it, then on this timer. Returns at once when the instant has passed.
    pub async fn wait_until_us(&self, at_us: i64) {
        let early = at_us - COARSE_LEAD_US - now_us();
        if early > 0 {
            tokio::time::sleep(Duration::from_micros(early as u64)).await;
        }
        if now_us() >= at_us {
            return;
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            st.seq += 1;
            let seq = st.seq;
            let first = st.heap.peek().is_none_or(|w| at_us < w.at_us);
            st.heap.push(Waiter { at_us, seq, tx });
            if first {
                self.shared.wake.notify_one();
            }
        }
        // The sender is dropped only when the timer stops: then there is no one to wait for.
        let _ = rx.await;
    }
}

impl Drop for ReleaseTimer {
    fn drop(&mut self) {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
        self.shared.wake.notify_one();
    }
}

fn run(shared: &Shared) {
    // 1 µs of timer slack instead of the default 50 µs: this thread's sleeps end on time.
    // Failing to set it only costs precision.
    let _ = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1));
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if st.stop {
            return;
        }
        let now = now_us();
        while st.heap.peek().is_some_and(|w| w.at_us <= now) {
            if let Some(w) = st.heap.pop() {
                let _ = w.tx.send(());
            }
        }
        st = match st.heap.peek() {
            None => shared.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(w) => {
                let wait = Duration::from_micros((w.at_us - now).max(1) as u64);
                shared.wake.wait_timeout(st, wait).unwrap_or_else(|e| e.into_inner()).0
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waiters registered out of order, some already due, are each released once and never
    /// before their instant (no upper bound is asserted: that would depend on the machine).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn waiters_are_released_once_and_never_before_their_instant() {
        let timer = Arc::new(ReleaseTimer::start().unwrap());
        let base = now_us();
        let mut tasks = Vec::new();
        for i in 0..300i64 {
            // Instants from 5 ms in the past to 60 ms ahead, in a scrambled order.
            let at = base - 5_000 + (i * 7_919 % 65) * 1_000 + i % 7;
            let t = timer.clone();
            tasks.push(tokio::spawn(async move {
                t.wait_until_us(at).await;
                (at, now_us())
            }));
        }
        for task in tasks {
            let (at, released) = task.await.unwrap();
            assert!(released >= at, "released {} µs before its instant", at - released);
        }
        assert!(timer.shared.state.lock().unwrap().heap.is_empty(), "a waiter left behind");
    }

    #[tokio::test]
    async fn a_stopped_timer_releases_its_waiters() {
        let timer = ReleaseTimer::start().unwrap();
        let shared = timer.shared.clone();
        let far = now_us() + 3_600_000_000;
        let (tx, rx) = oneshot::channel();
        shared.state.lock().unwrap().heap.push(Waiter { at_us: far, seq: 1, tx });
        drop(timer);
        // The thread returns and drops its state's senders with the last handle; the
        // waiter sees its channel closed rather than waiting an hour.
        drop(shared);
        assert!(rx.await.is_err());
    }
}
