//! Integration tests: every test drives the real `hookwheel` binary over loopback HTTP.

mod python;
mod sdk;
mod support;
