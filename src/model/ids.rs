//! Typed ids. Brands and keys use random (v4) UUIDs; stored objects use time-ordered (v7)
//! UUIDs so that a brand's objects list in creation order straight from the store's key order.

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
