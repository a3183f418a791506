//! Integration tests: every test drives the real `hookwheel` binary over loopback HTTP.

mod cli;
mod conventions;
mod crash;
mod delivery;
mod domains;
mod durability;
mod events;
mod faults;
mod hook0;
mod inputs;
mod observe;
mod operator;
mod python;
mod readme;
mod receiver;
mod schedules;
mod schemathesis;
mod sdk;
mod secrets;
mod security;
mod server;
mod support;
mod templates;
mod timezones;
mod tls;
mod workflows;
