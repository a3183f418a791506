//! Inbound events (product.md §10): the pure core. Takes requests, secrets and time from its
//! caller; imports no store, API or tokio. So far: [`verify`], the check of a source's
//! requests against its verification mode. Routing (subscriptions, filters, fan-out) and the
//! store and API parts follow the boundaries in ARCHITECTURE.md ("Planned next").

pub mod verify;
