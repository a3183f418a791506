//! Monitors (product.md §11): work that must happen and did not. Pure decisions only; the
//! store applies them inside its write operations and the scheduler arms their deadlines.
//!
//! [`alert`]: alert rules, signals, cooldowns, window rules and channel payloads (§12).
//!
//! [`heartbeat`]: a job pings a URL on a period; a missing ping past the period and its grace
//! turns the monitor `down`. Semantics follow Healthchecks.io's documented ping API
//! (https://healthchecks.io/docs/: success, `/start`, `/fail`, `/<exit status>`, `rid`).

pub mod alert;
pub mod heartbeat;

/// [`pipeline`]: ordered (or hierarchical) stages pinged in turn; an instance opened by the
/// first stage must reach each next stage within its timeout, else it is `stalled`
/// (PingPulse's stage pings).
pub mod pipeline;
