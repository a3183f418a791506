//! hookwheel: a single-binary scheduler daemon with a HookPulse-compatible HTTP API.
//!
//! Modules in reading order: configuration and time first, then the domain model, the store
//! and the vault that persist it, the credential logic, and finally the HTTP API, the admin
//! channel, the HTTP server and the daemon that wires them together. See ARCHITECTURE.md for
//! the map.

pub mod config;
pub mod time;

pub mod model;
pub mod template;

pub mod monitor;
pub mod schedule;
pub mod wheel;

pub mod store;
pub mod vault;

pub mod activity;
pub mod auth;
pub mod metrics;

pub mod delivery;
pub mod events;
pub mod scheduler;
pub mod workflow;

pub mod admin;
pub mod api;
pub mod server;
pub mod ui;

pub mod cli;
pub mod cli_views;
pub mod daemon;
pub mod devreceiver;
pub mod firstrun;
pub mod manual;
