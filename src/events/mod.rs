//! Inbound events (product.md §10): the pure core. Takes requests, secrets and time from its
//! caller; imports no store, API or tokio. So far: [`verify`], the check of a source's
//! requests against its verification mode; [`transform`], a subscription's jq transform of an
//! event into the target's initial context, bounded by a caller's time budget. Routing
//! (subscriptions, filters, fan-out) and the store and API parts follow the boundaries in
//! ARCHITECTURE.md ("Planned next").

pub mod transform;
pub mod verify;
