//! Hierarchical timing wheel (placeholder: the implementation is being written).

/// Identifies an armed timer; assigned by the scheduler.
pub type TimerId = u64;
