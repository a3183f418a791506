//! Inbound events (product.md §10): the pure core. Takes requests, secrets and time from its
//! caller; imports no store, API or tokio. [`verify`]: the check of a source's requests
//! against its verification mode. [`route`]: the body and headers as kept, event types, dedup
//! keys, the `{"event": …}` context, and which subscriptions select an event.

pub mod route;
pub mod transform;
pub mod verify;
