//! Debounce driver: fires from triggers, not from the calendar.
//!
//! `trailing` (default): a burst of triggers fires once, `window` after the last trigger, or at
//! the latest `max_wait` after the burst's first trigger. `leading`: the first trigger fires at
//! once; triggers during the following `window` are absorbed (they do not extend it). The state
//! is stored with the schedule, so a burst in progress survives a restart.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Trailing,
    Leading,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "trailing" => Some(Mode::Trailing),
            "leading" => Some(Mode::Leading),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Trailing => "trailing",
            Mode::Leading => "leading",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebounceSpec {
    pub window_seconds: u32,
    pub mode: Mode,
    pub max_wait_seconds: Option<u32>,
}

/// The durable state of a debounce schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DebounceState {
    /// First trigger of the burst in progress (trailing mode).
    pub burst_first_ms: Option<Millis>,
    pub burst_last_ms: Option<Millis>,
    /// Context of the latest trigger, merged over the initial context when the fire happens.
    pub context: Map<String, Value>,
    /// Leading mode: triggers before this instant are absorbed.
    pub quiet_until_ms: Option<Millis>,
}

/// What a trigger leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerOutcome {
    /// A fire is (re)scheduled at this instant (may be `now`).
    FireAt(Millis),
    /// Absorbed by a leading-mode quiet window.
    Absorbed,
}

impl DebounceSpec {
    /// Applies a trigger at `now`; updates `state` and says when the schedule fires.
    pub fn trigger(
        &self,
        state: &mut DebounceState,
        now: Millis,
        context: Option<Map<String, Value>>,
    ) -> TriggerOutcome {
        let window = i64::from(self.window_seconds) * 1000;
        match self.mode {
            Mode::Trailing => {
                let first = *state.burst_first_ms.get_or_insert(now);
                state.burst_last_ms = Some(now);
                if let Some(c) = context {
                    state.context = c;
                }
                let mut at = now + window;
                if let Some(max) = self.max_wait_seconds {
                    at = at.min(first + i64::from(max) * 1000);
                }
                TriggerOutcome::FireAt(at.max(now))
            }
            Mode::Leading => {
                if state.quiet_until_ms.is_some_and(|q| now < q) {
                    return TriggerOutcome::Absorbed;
                }
                state.quiet_until_ms = Some(now + window);
                state.context = context.unwrap_or_default();
                TriggerOutcome::FireAt(now)
            }
        }
    }

    /// When the pending fire of `state` is due, if one is pending.
    pub fn due(&self, state: &DebounceState) -> Option<Millis> {
        match self.mode {
            Mode::Trailing => {
                let (first, last) = (state.burst_first_ms?, state.burst_last_ms?);
                let mut at = last + i64::from(self.window_seconds) * 1000;
                if let Some(max) = self.max_wait_seconds {
                    at = at.min(first + i64::from(max) * 1000);
                }
                Some(at)
            }
            Mode::Leading => None,
        }
    }

    /// Clears the burst after its fire; returns the context to use.
    pub fn take_burst(&self, state: &mut DebounceState) -> Map<String, Value> {
        state.burst_first_ms = None;
        state.burst_last_ms = None;
        std::mem::take(&mut state.context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mode: Mode, window: u32, max_wait: Option<u32>) -> DebounceSpec {
        DebounceSpec { window_seconds: window, mode, max_wait_seconds: max_wait }
    }

    #[test]
    fn trailing_fires_once_after_the_last_trigger() {
        let s = spec(Mode::Trailing, 10, None);
        let mut st = DebounceState::default();
        assert_eq!(s.trigger(&mut st, 0, None), TriggerOutcome::FireAt(10_000));
        assert_eq!(s.trigger(&mut st, 4_000, None), TriggerOutcome::FireAt(14_000));
        assert_eq!(s.trigger(&mut st, 9_000, None), TriggerOutcome::FireAt(19_000));
        assert_eq!(s.due(&st), Some(19_000));
        s.take_burst(&mut st);
        assert_eq!(s.due(&st), None);
    }

    #[test]
    fn trailing_max_wait_caps_a_long_burst() {
        let s = spec(Mode::Trailing, 10, Some(25));
        let mut st = DebounceState::default();
        for t in (0..=40_000).step_by(5_000) {
            let out = s.trigger(&mut st, t, None);
            assert!(matches!(out, TriggerOutcome::FireAt(at) if at <= 25_000.max(t)), "{t}: {out:?}");
        }
        assert_eq!(s.due(&st), Some(25_000));
    }

    #[test]
    fn trailing_keeps_the_last_context() {
        let s = spec(Mode::Trailing, 1, None);
        let mut st = DebounceState::default();
        let ctx = |v: i64| Some(serde_json::json!({"n": v}).as_object().unwrap().clone());
        s.trigger(&mut st, 0, ctx(1));
        s.trigger(&mut st, 10, ctx(2));
        assert_eq!(s.take_burst(&mut st)["n"], 2);
    }

    #[test]
    fn leading_fires_first_and_absorbs_the_window() {
        let s = spec(Mode::Leading, 10, None);
        let mut st = DebounceState::default();
        assert_eq!(s.trigger(&mut st, 0, None), TriggerOutcome::FireAt(0));
        assert_eq!(s.trigger(&mut st, 5_000, None), TriggerOutcome::Absorbed);
        assert_eq!(s.trigger(&mut st, 9_999, None), TriggerOutcome::Absorbed);
        assert_eq!(s.trigger(&mut st, 10_000, None), TriggerOutcome::FireAt(10_000));
    }
}
