//! The floor: a minimal scheduler measured beside hookwheel in the same run, against the same
//! receiver, so every lateness figure can be read as hookwheel / floor / ratio.
//!
//! The floor keeps nothing durable: one tokio task per schedule sleeps until each instant
//! (`tokio::time::sleep_until`) and sends one POST through a pooled `reqwest` client, at most
//! [`IN_FLIGHT_MAX`] at once (the daemon's default `delivery.max_in_flight`), carrying
//! the instant in its `Idempotency-Key` (`floor_<schedule>_<instant ms>`) the way hookwheel's
//! keys do (`hw_<schedule>_<instant ms>`), so the harness computes lateness the same way for
//! both. It runs in a child process (this bench binary started again with
//! [`ROLE_ENV`] set), so that its CPU is measured apart from the harness and the receiver.

use std::time::Duration;

/// Set (to anything) in the child's environment: the process is the floor scheduler, not the
/// harness. Its arguments: receiver base URL, fires per second, first anchor (ms since the
/// epoch), seconds to run.
pub const ROLE_ENV: &str = "HW_LOAD_FLOOR_ROLE";

/// Requests in flight at most, as the daemon's default `delivery.max_in_flight` (1024). Without
/// a bound, a receiver slowed by a loaded machine made the floor open a connection per request
/// until the harness (which runs the receiver) ran out of file descriptors and the floor's row
/// failed (seen when `throughput` ran after another scenario).
pub const IN_FLIGHT_MAX: usize = 1024;

/// Runs the floor scheduler when this process was started as one; returns false otherwise.
pub fn run_if_child() -> bool {
    if std::env::var_os(ROLE_ENV).is_none() {
        return false;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let [url, fires, start, seconds] = args.as_slice() else {
        eprintln!("floor: want <url> <fires per second> <start ms> <seconds>, got {args:?}");
        std::process::exit(2);
    };
    let (fires, start, seconds): (usize, i64, i64) =
        (fires.parse().expect("fires"), start.parse().expect("start"), seconds.parse().expect("seconds"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(schedule_all(url.clone(), fires, start, seconds));
    true
}

/// `fires` schedules, one per anchor spread evenly over the second from `start`, each firing
/// every second until `start + seconds`.
async fn schedule_all(url: String, fires: usize, start: i64, seconds: i64) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("client");
    let (base_instant, base_ms) = (tokio::time::Instant::now(), super::now_ms());
    let end = start + seconds * 1000;
    let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT_MAX));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..fires {
        let (client, url, in_flight) = (client.clone(), url.clone(), in_flight.clone());
        let anchor = start + (i as i64 * 1000) / fires as i64;
        tasks.spawn(async move {
            let mut instant = anchor;
            while instant < end {
                let wait = Duration::from_millis((instant - base_ms).max(0) as u64);
                tokio::time::sleep_until(base_instant + wait).await;
                let request = client
                    .post(&url)
                    .header("idempotency-key", format!("floor_{i}_{instant}"))
                    .header("content-type", "application/json")
                    .body(r#"{"source":"floor"}"#);
                let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
                tokio::spawn(async move {
                    let _ = request.send().await;
                    drop(permit);
                });
                instant += 1000;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    // Let the last requests finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Starts the floor scheduler as a child process (this binary with [`ROLE_ENV`] set).
pub fn spawn(url: &str, fires: usize, start: i64, seconds: i64) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("current exe"))
        .env(ROLE_ENV, "1")
        .args([url.to_string(), fires.to_string(), start.to_string(), seconds.to_string()])
        .spawn()
        .expect("start the floor scheduler")
}
