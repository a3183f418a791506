//! Inbound events (product.md §10): the pure core. Takes requests, secrets and time from its
//! caller; imports no store, API or tokio. [`verify`]: the check of a source's requests
//! against its verification mode. [`route`]: the body and headers as kept, event types, dedup
//! keys, the `{"event": …}` context, and which subscriptions select an event. [`transform`]: a
//! subscription's jq transform of an event into the target's initial context, bounded by a
//! caller's time budget.

pub mod route;
pub mod transform;
pub mod verify;
