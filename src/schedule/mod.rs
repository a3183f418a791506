//! Schedules compute; the scheduler acts. Pure next-fire computation for every driver and the
//! rules that restrict fires. Nothing here reads the clock or does I/O: every function takes
//! the instant to compute from.

pub mod solar;
