//! Prometheus metrics, kept in memory and rendered as text by `GET /metrics`.
//!
//! A small hand-written registry (counters and fixed-bucket histograms behind one mutex each):
//! the set of series is small and known, and this avoids a global recorder that tests running
//! several daemons in one process would share.
//!
//! Labels carry no tenant identifiers (brand, domain or schedule UUIDs) unless
//! `metrics.tenant_labels` is on: per-domain series are then labelled `domain="<uuid>"`,
//! otherwise summed into one unlabelled sample. Routes are action names, never raw paths.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};

/// Bucket upper bounds, in seconds, for every latency histogram.
const LATENCY_BUCKETS_SECONDS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; LATENCY_BUCKETS_SECONDS.len()];
        }
        for (i, b) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
            let c = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (route, status) -> count
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route -> latency
    request_latency: Mutex<BTreeMap<String, Histogram>>,
    commit_latency: Mutex<Histogram>,
    /// (commits, operations)
    commits: Mutex<(u64, u64)>,
    /// (driver, execution status) -> count
    fires: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    fire_lateness: Mutex<Histogram>,
    delivery_lateness: Mutex<Histogram>,
    delivery_latency: Mutex<Histogram>,
    /// attempt outcome -> count
    attempts: Mutex<BTreeMap<&'static str, u64>>,
    /// execution final status -> count
    executions: Mutex<BTreeMap<&'static str, u64>>,
    armed: std::sync::atomic::AtomicU64,
    /// executions waiting as ids for a delivery task (`delivery::DEFER_FACTOR`)
    deferred: std::sync::atomic::AtomicU64,
    /// store fault kind (`write`, `commit`, `panic`, `reopen`) -> count
    store_faults: Mutex<BTreeMap<&'static str, u64>>,
    /// 1 while the store accepts writes, 0 while it cannot write (disk full, I/O error)
    store_writable: std::sync::atomic::AtomicU64,
    /// domain id -> executions waiting at its traffic guard
    queue_depths: Mutex<Vec<(String, usize)>>,
    /// CPU-bound API tasks (previews, schedule checks): (running, waiting for a permit)
    compute: Mutex<(i64, i64)>,
    /// domain id -> its circuit's state (`closed`, `open`, `half_open`), for the domains
    /// delivery has seen since the start
    circuits: Mutex<BTreeMap<String, &'static str>>,
    /// state entered -> circuit transitions
    circuit_transitions: Mutex<BTreeMap<&'static str, u64>>,
    /// `metrics.tenant_labels`: label per-domain series with the domain's UUID
    tenant_labels: std::sync::atomic::AtomicBool,
    /// (source id or `send_event`, outcome `accepted`/`rejected`/`duplicate`) -> count
    events: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// subscription id -> executions created
    event_executions: Mutex<BTreeMap<String, u64>>,
    /// Recent activity for the summary log line, `status` and `executions tail`.
    activity: crate::activity::Activity,
    /// monitor status -> monitors in it
    monitors: Mutex<BTreeMap<&'static str, i64>>,
    /// ping kind (`success`, `start`, `fail`) -> pings recorded
    pings: Mutex<BTreeMap<&'static str, u64>>,
    /// signal (`monitor_down`, `monitor_up`) -> raised
    monitor_signals: Mutex<BTreeMap<&'static str, u64>>,
    /// (rule type, outcome `sent`/`suppressed`/`failed`) -> alerts
    alerts: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Ended executions not yet taken by the alert worker (the window rules' feed; bounded).
    alert_feed: Mutex<Vec<crate::monitor::alert::Outcome>>,
    /// pipeline instance status -> kept instances in it
    pipeline_instances: Mutex<BTreeMap<&'static str, i64>>,
    /// pipeline instances that turned `stalled`
    pipeline_stalled: std::sync::atomic::AtomicU64,
}

/// Most ended executions waiting for the alert worker; beyond, the newest are dropped (the
/// worker takes them every second).
const ALERT_FEED_MAX: usize = 100_000;

/// A handle to the registry; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        *lock(&self.0.requests).entry((route.to_string(), status)).or_default() += 1;
        lock(&self.0.request_latency).entry(route.to_string()).or_default().observe(seconds);
    }

    pub fn observe_commit(&self, seconds: f64, operations: usize) {
        lock(&self.0.commit_latency).observe(seconds);
        let mut c = lock(&self.0.commits);
        c.0 += 1;
        c.1 += operations as u64;
    }

    /// A schedule instant processed by the scheduler, by driver and resulting status
    /// (`pending` = fired, `skipped`, `missed`). The labels are the model's static names, so
    /// counting allocates nothing.
    pub fn observe_fire(&self, driver: &'static str, status: &'static str) {
        *lock(&self.0.fires).entry((driver, status)).or_default() += 1;
    }

    /// How late the scheduler processed a due instant (ms).
    pub fn observe_fire_lateness(&self, ms: i64) {
        lock(&self.0.fire_lateness).observe(ms.max(0) as f64 / 1000.0);
    }

    /// Request start minus scheduled instant (ms).
    pub fn observe_lateness(&self, ms: i64) {
        lock(&self.0.delivery_lateness).observe(ms.max(0) as f64 / 1000.0);
    }

    /// Time from request start to the end of the response (ms).
    pub fn observe_delivery_latency(&self, ms: i64) {
        lock(&self.0.delivery_latency).observe(ms.max(0) as f64 / 1000.0);
    }

    pub fn observe_attempt(&self, success: bool) {
        *lock(&self.0.attempts).entry(if success { "success" } else { "failure" }).or_default() += 1;
    }

    /// An execution reached a final status (the model's static name).
    pub fn observe_execution(&self, status: &'static str) {
        *lock(&self.0.executions).entry(status).or_default() += 1;
    }

    pub fn set_queue_depths(&self, depths: Vec<(crate::model::DomainId, usize)>) {
        *lock(&self.0.queue_depths) = depths.into_iter().map(|(d, n)| (d.to_string(), n)).collect();
    }

    /// A store fault: `write` (an operation's write failed), `commit`, `panic` (an operation
    /// panicked inside the writer), `reopen` (the database file was reopened after an I/O error),
    /// `corrupt` (an unfinished execution's record did not decode at start-up and was skipped).
    pub fn observe_store_fault(&self, kind: &'static str) {
        *lock(&self.0.store_faults).entry(kind).or_default() += 1;
    }

    /// Whether the store currently accepts writes.
    pub fn set_store_writable(&self, writable: bool) {
        self.0.store_writable.store(u64::from(writable), std::sync::atomic::Ordering::Relaxed);
    }

    /// Adjusts the CPU-bound API task gauges (running on the blocking pool, waiting for a permit).
    pub fn add_compute(&self, running: i64, waiting: i64) {
        let mut c = lock(&self.0.compute);
        c.0 += running;
        c.1 += waiting;
    }

    /// A domain's circuit is now in `state` (`closed`, `open`, `half_open`).
    pub fn set_circuit_state(&self, domain: crate::model::DomainId, state: &'static str) {
        lock(&self.0.circuits).insert(domain.to_string(), state);
    }

    /// A circuit entered `state`.
    pub fn observe_circuit_transition(&self, state: &'static str) {
        *lock(&self.0.circuit_transitions).entry(state).or_default() += 1;
    }

    /// Whether series may carry tenant identifiers as labels (`metrics.tenant_labels`).
    pub fn set_tenant_labels(&self, on: bool) {
        self.0.tenant_labels.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// An inbound event by source (`None`: `send_event`) and outcome.
    pub fn observe_event(&self, source: Option<crate::model::SourceId>, outcome: &'static str) {
        let source = source.map_or_else(|| "send_event".to_string(), |s| s.to_string());
        *lock(&self.0.events).entry((source, outcome)).or_default() += 1;
    }

    /// Executions an event created for a subscription.
    pub fn observe_event_executions(&self, subscription: crate::model::SubscriptionId, n: u64) {
        *lock(&self.0.event_executions).entry(subscription.to_string()).or_default() += n;
    }

    pub fn set_armed(&self, n: usize) {
        self.0.armed.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Executions waiting as ids for a delivery task, as last reported.
    pub fn set_deferred(&self, n: usize) {
        self.0.deferred.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Timers armed in the scheduler's wheel, as last reported by the scheduler.
    pub fn armed(&self) -> u64 {
        self.0.armed.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the monitors-by-status gauge (at start, from the store).
    pub fn set_monitor_counts(&self, counts: impl IntoIterator<Item = (&'static str, i64)>) {
        *lock(&self.0.monitors) = counts.into_iter().collect();
    }

    /// A monitor entered `to` (or was created: `from` is `None`) or left `from` (deleted:
    /// `to` is `None`).
    pub fn monitor_moved(&self, from: Option<&'static str>, to: Option<&'static str>) {
        if from == to {
            return;
        }
        let mut m = lock(&self.0.monitors);
        if let Some(f) = from {
            *m.entry(f).or_default() -= 1;
        }
        if let Some(t) = to {
            *m.entry(t).or_default() += 1;
        }
    }

    /// A ping recorded, by kind.
    pub fn observe_ping(&self, kind: &'static str) {
        *lock(&self.0.pings).entry(kind).or_default() += 1;
    }

    /// An alert of a rule type: `sent`, `suppressed` (cooldown) or `failed` (its channel send
    /// ended failed).
    pub fn observe_alert(&self, rule_type: &str, outcome: &'static str) {
        *lock(&self.0.alerts).entry((rule_type.to_string(), outcome)).or_default() += 1;
    }

    /// An execution ended: fed to the alert worker's window rules (`failure_rate`,
    /// `lateness`).
    pub fn feed_alert_outcome(&self, o: crate::monitor::alert::Outcome) {
        let mut feed = lock(&self.0.alert_feed);
        if feed.len() < ALERT_FEED_MAX {
            feed.push(o);
        }
    }

    /// Takes the ended executions fed since the last call.
    pub fn take_alert_outcomes(&self) -> Vec<crate::monitor::alert::Outcome> {
        std::mem::take(&mut *lock(&self.0.alert_feed))
    }

    /// Sets the pipeline-instances-by-status gauge (at start, from the store).
    pub fn set_pipeline_instance_counts(&self, counts: impl IntoIterator<Item = (&'static str, i64)>) {
        *lock(&self.0.pipeline_instances) = counts.into_iter().collect();
    }

    /// A pipeline instance entered `to` (or was opened: `from` is `None`; or was removed:
    /// `to` is `None`).
    pub fn pipeline_instance_moved(&self, from: Option<&'static str>, to: Option<&'static str>) {
        if from == to {
            return;
        }
        let mut m = lock(&self.0.pipeline_instances);
        if let Some(f) = from {
            *m.entry(f).or_default() -= 1;
        }
        if let Some(t) = to {
            *m.entry(t).or_default() += 1;
        }
    }

    /// A pipeline instance turned `stalled`.
    pub fn observe_pipeline_stalled(&self) {
        self.0.pipeline_stalled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// A monitor signal raised (`monitor_down`, `monitor_up`).
    pub fn observe_monitor_signal(&self, signal: &'static str) {
        *lock(&self.0.monitor_signals).entry(signal).or_default() += 1;
    }

    /// The daemon's recent activity (summary counts, last failures, ended executions).
    pub fn activity(&self) -> &crate::activity::Activity {
        &self.0.activity
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP hookwheel_build_info Build information.\n# TYPE hookwheel_build_info gauge\n");
        let (tzv, tzs) = crate::time::tz::database_version();
        let _ = writeln!(
            out,
            "hookwheel_build_info{{version=\"{}\",tzdb=\"{tzv}\",tzdb_source=\"{tzs}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );

        out.push_str("# HELP hookwheel_http_requests_total API requests by route and status.\n# TYPE hookwheel_http_requests_total counter\n");
        for ((route, status), n) in lock(&self.0.requests).iter() {
            let _ = writeln!(out, "hookwheel_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_http_request_duration_seconds API request latency.\n# TYPE hookwheel_http_request_duration_seconds histogram\n");
        for (route, h) in lock(&self.0.request_latency).iter() {
            h.render(&mut out, "hookwheel_http_request_duration_seconds", &format!("route=\"{route}\""));
        }
        out.push_str("# HELP hookwheel_store_commit_duration_seconds Durable store commit latency.\n# TYPE hookwheel_store_commit_duration_seconds histogram\n");
        lock(&self.0.commit_latency).render(&mut out, "hookwheel_store_commit_duration_seconds", "");
        let (commits, ops) = *lock(&self.0.commits);
        out.push_str(
            "# HELP hookwheel_store_commits_total Store commits.\n# TYPE hookwheel_store_commits_total counter\n",
        );
        let _ = writeln!(out, "hookwheel_store_commits_total {commits}");
        out.push_str("# HELP hookwheel_store_operations_total Write operations folded into commits.\n# TYPE hookwheel_store_operations_total counter\n");
        let _ = writeln!(out, "hookwheel_store_operations_total {ops}");
        out.push_str("# HELP hookwheel_store_writable 1 while the store accepts writes, 0 while it cannot write (disk full, I/O error).\n# TYPE hookwheel_store_writable gauge\n");
        let _ = writeln!(
            out,
            "hookwheel_store_writable {}",
            self.0.store_writable.load(std::sync::atomic::Ordering::Relaxed)
        );
        out.push_str("# HELP hookwheel_store_faults_total Store faults by kind (write, commit, panic, reopen).\n# TYPE hookwheel_store_faults_total counter\n");
        for (kind, n) in lock(&self.0.store_faults).iter() {
            let _ = writeln!(out, "hookwheel_store_faults_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_fires_total Schedule instants processed, by driver and outcome (pending = fired).\n# TYPE hookwheel_fires_total counter\n");
        for ((driver, status), n) in lock(&self.0.fires).iter() {
            let _ = writeln!(out, "hookwheel_fires_total{{driver=\"{driver}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_fire_lateness_seconds Scheduler processing time minus scheduled instant.\n# TYPE hookwheel_fire_lateness_seconds histogram\n");
        lock(&self.0.fire_lateness).render(&mut out, "hookwheel_fire_lateness_seconds", "");
        out.push_str("# HELP hookwheel_delivery_lateness_seconds Request start minus scheduled instant.\n# TYPE hookwheel_delivery_lateness_seconds histogram\n");
        lock(&self.0.delivery_lateness).render(&mut out, "hookwheel_delivery_lateness_seconds", "");
        out.push_str("# HELP hookwheel_delivery_latency_seconds Request start to end of response.\n# TYPE hookwheel_delivery_latency_seconds histogram\n");
        lock(&self.0.delivery_latency).render(&mut out, "hookwheel_delivery_latency_seconds", "");
        out.push_str(
            "# HELP hookwheel_attempts_total Delivery attempts by outcome.\n# TYPE hookwheel_attempts_total counter\n",
        );
        for (outcome, n) in lock(&self.0.attempts).iter() {
            let _ = writeln!(out, "hookwheel_attempts_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_executions_total Executions by final status.\n# TYPE hookwheel_executions_total counter\n");
        for (status, n) in lock(&self.0.executions).iter() {
            let _ = writeln!(out, "hookwheel_executions_total{{status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_domain_queue_depth Executions waiting at the domains' traffic guards (per domain with metrics.tenant_labels).\n# TYPE hookwheel_domain_queue_depth gauge\n");
        let depths = lock(&self.0.queue_depths);
        if self.0.tenant_labels.load(std::sync::atomic::Ordering::Relaxed) {
            for (domain, n) in depths.iter() {
                let _ = writeln!(out, "hookwheel_domain_queue_depth{{domain=\"{domain}\"}} {n}");
            }
        } else {
            let _ = writeln!(out, "hookwheel_domain_queue_depth {}", depths.iter().map(|(_, n)| n).sum::<usize>());
        }
        drop(depths);
        out.push_str("# HELP hookwheel_circuit_state Domains whose circuit breaker is in each state (with metrics.tenant_labels: 1 per domain for its current state).\n# TYPE hookwheel_circuit_state gauge\n");
        let circuits = lock(&self.0.circuits);
        if self.0.tenant_labels.load(std::sync::atomic::Ordering::Relaxed) {
            for (domain, state) in circuits.iter() {
                let _ = writeln!(out, "hookwheel_circuit_state{{domain=\"{domain}\",state=\"{state}\"}} 1");
            }
        } else {
            for state in ["closed", "open", "half_open"] {
                let n = circuits.values().filter(|s| **s == state).count();
                let _ = writeln!(out, "hookwheel_circuit_state{{state=\"{state}\"}} {n}");
            }
        }
        drop(circuits);
        out.push_str("# HELP hookwheel_circuit_transitions_total Circuit-breaker transitions, by the state entered.\n# TYPE hookwheel_circuit_transitions_total counter\n");
        for (state, n) in lock(&self.0.circuit_transitions).iter() {
            let _ = writeln!(out, "hookwheel_circuit_transitions_total{{to=\"{state}\"}} {n}");
        }
        let tenant = self.0.tenant_labels.load(std::sync::atomic::Ordering::Relaxed);
        out.push_str("# HELP hookwheel_events_total Inbound events by outcome (accepted, rejected, duplicate); per source with metrics.tenant_labels.\n# TYPE hookwheel_events_total counter\n");
        let mut by_outcome: BTreeMap<&str, u64> = BTreeMap::new();
        for ((source, outcome), n) in lock(&self.0.events).iter() {
            if tenant {
                let _ = writeln!(out, "hookwheel_events_total{{source=\"{source}\",outcome=\"{outcome}\"}} {n}");
            } else {
                *by_outcome.entry(outcome).or_default() += n;
            }
        }
        for (outcome, n) in by_outcome {
            let _ = writeln!(out, "hookwheel_events_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_event_executions_total Executions created by inbound events; per subscription with metrics.tenant_labels.\n# TYPE hookwheel_event_executions_total counter\n");
        let created = lock(&self.0.event_executions);
        if tenant {
            for (sub, n) in created.iter() {
                let _ = writeln!(out, "hookwheel_event_executions_total{{subscription=\"{sub}\"}} {n}");
            }
        } else {
            let _ = writeln!(out, "hookwheel_event_executions_total {}", created.values().sum::<u64>());
        }
        drop(created);
        out.push_str(
            "# HELP hookwheel_armed_timers Schedules armed in the timing wheel.\n# TYPE hookwheel_armed_timers gauge\n",
        );
        let _ = writeln!(out, "hookwheel_armed_timers {}", self.0.armed.load(std::sync::atomic::Ordering::Relaxed));
        out.push_str(
            "# HELP hookwheel_delivery_deferred Recorded executions waiting as ids for a delivery task (delivery is behind its fires).\n# TYPE hookwheel_delivery_deferred gauge\n",
        );
        let _ =
            writeln!(out, "hookwheel_delivery_deferred {}", self.0.deferred.load(std::sync::atomic::Ordering::Relaxed));
        out.push_str("# HELP hookwheel_monitors Heartbeat monitors by status.\n# TYPE hookwheel_monitors gauge\n");
        let monitors = lock(&self.0.monitors).clone();
        for status in crate::monitor::heartbeat::Status::ALL {
            let n = monitors.get(status.as_str()).copied().unwrap_or(0);
            let _ = writeln!(out, "hookwheel_monitors{{status=\"{}\"}} {n}", status.as_str());
        }
        out.push_str("# HELP hookwheel_pings_total Monitor pings recorded, by kind (success, start, fail; stage for pipelines).\n# TYPE hookwheel_pings_total counter\n");
        for (kind, n) in lock(&self.0.pings).iter() {
            let _ = writeln!(out, "hookwheel_pings_total{{kind=\"{kind}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_monitor_signals_total Monitor signals raised (monitor_down, monitor_up).\n# TYPE hookwheel_monitor_signals_total counter\n");
        for (signal, n) in lock(&self.0.monitor_signals).iter() {
            let _ = writeln!(out, "hookwheel_monitor_signals_total{{signal=\"{signal}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_alerts_total Alerts by rule type and outcome (sent, suppressed by the cooldown, failed: the channel send failed).\n# TYPE hookwheel_alerts_total counter\n");
        for ((rule_type, outcome), n) in lock(&self.0.alerts).iter() {
            let _ = writeln!(out, "hookwheel_alerts_total{{rule_type=\"{rule_type}\",outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP hookwheel_pipeline_instances Pipeline instances kept, by status.\n# TYPE hookwheel_pipeline_instances gauge\n");
        let instances = lock(&self.0.pipeline_instances).clone();
        for status in crate::monitor::pipeline::InstanceStatus::ALL {
            let n = instances.get(status.as_str()).copied().unwrap_or(0);
            let _ = writeln!(out, "hookwheel_pipeline_instances{{status=\"{}\"}} {n}", status.as_str());
        }
        out.push_str("# HELP hookwheel_pipeline_stalled_total Pipeline instances that turned stalled.\n# TYPE hookwheel_pipeline_stalled_total counter\n");
        let _ = writeln!(
            out,
            "hookwheel_pipeline_stalled_total {}",
            self.0.pipeline_stalled.load(std::sync::atomic::Ordering::Relaxed)
        );
        let (running, waiting) = *lock(&self.0.compute);
        out.push_str("# HELP hookwheel_compute_tasks CPU-bound API tasks (previews, schedule checks) by state.\n# TYPE hookwheel_compute_tasks gauge\n");
        let _ = writeln!(out, "hookwheel_compute_tasks{{state=\"running\"}} {running}");
        let _ = writeln!(out, "hookwheel_compute_tasks{{state=\"waiting\"}} {waiting}");
        out
    }
}

/// Metrics must keep working even if a thread panicked while holding a lock.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new();
        m.observe_request("add_domain", 200, 0.002);
        m.observe_request("add_domain", 200, 0.2);
        m.observe_request("add_domain", 400, 0.001);
        let text = m.render();
        assert!(text.contains("hookwheel_http_requests_total{route=\"add_domain\",status=\"200\"} 2"));
        assert!(text.contains("hookwheel_http_requests_total{route=\"add_domain\",status=\"400\"} 1"));
        assert!(text.contains("hookwheel_http_request_duration_seconds_bucket{route=\"add_domain\",le=\"0.0025\"} 2"));
        assert!(text.contains("hookwheel_http_request_duration_seconds_bucket{route=\"add_domain\",le=\"+Inf\"} 3"));
        assert!(text.contains("hookwheel_http_request_duration_seconds_count{route=\"add_domain\"} 3"));
    }

    #[test]
    fn domain_ids_label_series_only_when_tenant_labels_are_on() {
        let m = Metrics::new();
        let (a, b) = (crate::model::DomainId::new(), crate::model::DomainId::new());
        m.set_queue_depths(vec![(a, 3), (b, 4)]);
        let text = m.render();
        assert!(text.contains("\nhookwheel_domain_queue_depth 7\n"), "{text}");
        assert!(!text.contains(&a.to_string()) && !text.contains(&b.to_string()), "{text}");
        m.set_tenant_labels(true);
        let text = m.render();
        assert!(text.contains(&format!("hookwheel_domain_queue_depth{{domain=\"{a}\"}} 3")), "{text}");
        assert!(text.contains(&format!("hookwheel_domain_queue_depth{{domain=\"{b}\"}} 4")), "{text}");
        m.set_tenant_labels(false);
        assert!(!m.render().contains(&a.to_string()));
    }

    #[test]
    fn circuit_states_are_counted_per_state_and_per_domain_only_with_tenant_labels() {
        let m = Metrics::new();
        let (a, b, c) = (crate::model::DomainId::new(), crate::model::DomainId::new(), crate::model::DomainId::new());
        m.set_circuit_state(a, "open");
        m.set_circuit_state(b, "open");
        m.set_circuit_state(c, "closed");
        m.set_circuit_state(b, "half_open");
        m.observe_circuit_transition("open");
        m.observe_circuit_transition("open");
        let text = m.render();
        assert!(text.contains("\nhookwheel_circuit_state{state=\"open\"} 1\n"), "{text}");
        assert!(text.contains("\nhookwheel_circuit_state{state=\"half_open\"} 1\n"), "{text}");
        assert!(text.contains("\nhookwheel_circuit_state{state=\"closed\"} 1\n"), "{text}");
        assert!(text.contains("\nhookwheel_circuit_transitions_total{to=\"open\"} 2\n"), "{text}");
        assert!(!text.contains(&a.to_string()), "{text}");
        m.set_tenant_labels(true);
        let text = m.render();
        assert!(text.contains(&format!("hookwheel_circuit_state{{domain=\"{b}\",state=\"half_open\"}} 1")), "{text}");
    }
}
