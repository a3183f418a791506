//! Typed ids. Brands and keys use random (v4) UUIDs; stored objects use time-ordered (v7)
//! UUIDs so that a brand's objects list in creation order straight from the store's key order.
//! The pure core never draws ids itself: it takes an [`IdSource`] from its caller.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($name:ident, $new:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::$new())
            }
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s.trim()).ok().map(Self)
            }
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(BrandId, new_v4);
id_type!(KeyId, now_v7);
id_type!(DomainId, now_v7);
id_type!(TemplateId, now_v7);
id_type!(SecretId, now_v7);
id_type!(ScheduleId, now_v7);
id_type!(RuleId, now_v7);
id_type!(ExecutionId, now_v7);
id_type!(WorkflowId, now_v7);
id_type!(StepId, now_v7);
id_type!(PlanId, now_v7);
id_type!(SourceId, now_v7);
id_type!(SubscriptionId, now_v7);
id_type!(EventId, now_v7);
id_type!(JobId, now_v7);
id_type!(MonitorId, now_v7);
id_type!(PingId, now_v7);
id_type!(ChannelId, now_v7);
id_type!(AlertRuleId, now_v7);
id_type!(AlertId, now_v7);
/// A pipeline instance's id, defined with the pure pipeline core.
pub use crate::monitor::pipeline::InstanceId;

impl EventId {
    /// A v7 id whose timestamp is the event's `received_ms` (ms since the epoch) instead of the
    /// moment the id is drawn, so the event log's key order and the time ranges read from it
    /// (`from`/`to` of `get_events_paginated` and of replays) agree with `received_at`, however
    /// long the request's body took to arrive. The other bits are a fresh v7's (random), and
    /// ids drawn in this process for one millisecond increase in drawing order (RFC 9562
    /// §6.2, method 2: the 62 random bits of the last id plus one), so a batch's events list in
    /// the batch's order.
    pub fn received_at(received_ms: i64) -> Self {
        static LAST: std::sync::Mutex<u128> = std::sync::Mutex::new(0);
        let mut b = *Uuid::now_v7().as_bytes();
        let ms = received_ms.clamp(0, (1 << 48) - 1) as u64;
        b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        let mut id = u128::from_be_bytes(b);
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        const RAND_B: u128 = (1 << 62) - 1;
        if *last >> 80 == id >> 80 && id <= *last && *last & RAND_B != RAND_B {
            id = *last + 1;
        }
        *last = id;
        Self(Uuid::from_u128(id))
    }
}

/// Where the pure core (fire planning in `scheduler::fire`, the workflow engine) gets the ids
/// of the records it creates, so that its output is a function of its inputs: the scheduler
/// passes [`FreshIds`], tests pass [`SeqIds`] and can name the ids they expect.
pub trait IdSource {
    /// The id of a new execution (a fire, a missed or skipped instant).
    fn execution(&mut self) -> ExecutionId;
    /// The id of a new approval plan.
    fn plan(&mut self) -> PlanId;
}

/// Fresh time-ordered (v7) ids, as every stored object gets; what the daemon uses.
#[derive(Debug, Default, Clone, Copy)]
pub struct FreshIds;

impl IdSource for FreshIds {
    fn execution(&mut self) -> ExecutionId {
        ExecutionId::new()
    }
    fn plan(&mut self) -> PlanId {
        PlanId::new()
    }
}

/// Deterministic ids for tests and simulations: the n-th id drawn (from 1, shared by every
/// kind) is `Uuid::from_u128(n)`, so ids increase in draw order like v7 ids do.
#[derive(Debug, Default, Clone)]
pub struct SeqIds {
    drawn: u128,
}

impl SeqIds {
    pub fn new() -> Self {
        Self::default()
    }
    /// The id `n` as a [`Uuid`] (for assertions: `SeqIds::id(1)` is the first id drawn).
    pub fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn next(&mut self) -> Uuid {
        self.drawn += 1;
        Uuid::from_u128(self.drawn)
    }
}

impl IdSource for SeqIds {
    fn execution(&mut self) -> ExecutionId {
        ExecutionId(self.next())
    }
    fn plan(&mut self) -> PlanId {
        PlanId(self.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_carries_its_received_time() {
        let ms = 1_700_000_000_123;
        let (a, b) = (EventId::received_at(ms), EventId::received_at(ms));
        assert_ne!(a, b, "two events of one millisecond");
        for id in [a, b] {
            assert_eq!(id.0.get_version_num(), 7);
            let (s, n) = id.0.get_timestamp().expect("a v7 timestamp").to_unix();
            assert_eq!(s as i64 * 1000 + i64::from(n / 1_000_000), ms);
        }
        assert!(EventId::received_at(ms - 1) < a && a < EventId::received_at(ms + 1), "ordered by received time");
        let run: Vec<EventId> = (0..1000).map(|_| EventId::received_at(ms + 5)).collect();
        assert!(run.windows(2).all(|w| w[0] < w[1]), "one millisecond's ids increase in drawing order");
        assert!(run.iter().all(|id| id.0.get_version_num() == 7 && id.0.get_variant() == uuid::Variant::RFC4122));
    }
}
