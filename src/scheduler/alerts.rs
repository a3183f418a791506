//! The alert worker (product.md §12): applies queued signals and judges the window rules.
//!
//! It wakes at start, after every commit that queued a signal (`store::SIGNAL_WAKE`), and at
//! least every second. Each round it (1) feeds the executions that ended since the last round
//! into the in-memory [`OutcomeLog`] and judges every `failure_rate` and `lateness` rule over
//! its window, queueing a signal for each that crossed its threshold (at most one per rule per
//! cooldown; the log is empty after a restart); (2) raises `approval_waiting` for plans that
//! waited long enough (`Store::check_waiting_approvals`); (3) applies the outbox
//! (`Store::apply_alert_outbox`: rules, cooldowns, history and the channel executions in one
//! write) and dispatches the executions it created. A store that cannot write makes it wait
//! and try again next round: signals stay queued, nothing is lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::delivery::Dispatch;
use crate::metrics::Metrics;
use crate::model::{AlertOutcome, AlertRule, BrandId};
use crate::monitor::alert::OutcomeLog;
use crate::store::{OUTBOX_BATCH_MAX, SIGNAL_WAKE, Store};
use crate::time::{Clock, Millis};

/// The longest the worker sleeps between rounds.
const ROUND_MS: u64 = 1000;

/// Starts the worker; it runs until the runtime stops.
pub fn spawn(
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    dispatch: Arc<dyn Dispatch>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut w = Worker {
            store,
            clock,
            metrics,
            dispatch,
            log: OutcomeLog::default(),
            raised: HashMap::new(),
            failing: false,
        };
        loop {
            w.round().await;
            tokio::select! {
                _ = SIGNAL_WAKE.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(ROUND_MS)) => {}
            }
        }
    })
}

struct Worker {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    dispatch: Arc<dyn Dispatch>,
    log: OutcomeLog,
    /// When each window rule last raised its signal (in memory: a restart may raise once more,
    /// and the rule's cooldown in the store still applies).
    raised: HashMap<uuid::Uuid, Millis>,
    /// The last round failed (the store could not write): one WARN line per outage.
    failing: bool,
}

impl Worker {
    async fn round(&mut self) {
        let now = self.clock.now_ms();
        let mut failed = None;
        if let Err(e) = self.windows(now).await {
            failed = Some(format!("judging the failure-rate and lateness rules: {e}"));
        }
        if let Err(e) = self.store.check_waiting_approvals(now).await {
            failed = Some(format!("checking waiting approvals: {e}"));
        }
        if let Err(e) = self.outbox().await {
            failed = Some(format!("applying queued signals (they stay queued): {e}"));
        }
        match failed {
            Some(why) if !self.failing => {
                tracing::warn!(error = %why, "the alert worker cannot use the store; it tries again every second");
                self.failing = true;
            }
            Some(why) => tracing::debug!(error = %why, "the alert worker still cannot use the store"),
            None if self.failing => {
                tracing::info!("the alert worker can use the store again");
                self.failing = false;
            }
            None => {}
        }
    }

    /// Applies the outbox until it is empty and dispatches the sends.
    async fn outbox(&mut self) -> Result<(), crate::store::StoreError> {
        loop {
            let pass = self.store.apply_alert_outbox(self.clock.now_ms()).await?;
            for (rule_type, outcome) in &pass.outcomes {
                self.metrics.observe_alert(rule_type.as_str(), outcome.as_str());
                if *outcome == AlertOutcome::Sent {
                    tracing::info!(rule_type = rule_type.as_str(), "alert sent");
                } else {
                    tracing::debug!(rule_type = rule_type.as_str(), "alert suppressed by its cooldown");
                }
            }
            for e in pass.executions {
                self.dispatch.dispatch(e);
            }
            if pass.signals < OUTBOX_BATCH_MAX {
                return Ok(());
            }
        }
    }

    /// Feeds the log and queues the window rules' signals.
    async fn windows(&mut self, now: Millis) -> Result<(), crate::store::StoreError> {
        for o in self.metrics.take_alert_outcomes() {
            self.log.push(o);
        }
        self.log.prune(now);
        if self.log.is_empty() {
            return Ok(());
        }
        let rules: Vec<AlertRule> = self.store.window_alert_rules()?;
        let (mut signals, mut raised) = (Vec::new(), Vec::new());
        for r in rules {
            let cooldown_ms = i64::from(r.spec.cooldown_seconds) * 1000;
            if self.raised.get(&r.id.0).is_some_and(|at| now - at < cooldown_ms.max(1000)) {
                continue;
            }
            if let Some(s) = self.log.evaluate(r.brand.0, r.id.0, &r.spec, now) {
                raised.push(r.id.0);
                signals.push((BrandId(r.brand.0), s));
            }
        }
        if !signals.is_empty() {
            // Marked as raised once queued: a failed write judges them again next round.
            self.store.enqueue_signals(signals, now).await?;
            for id in raised {
                self.raised.insert(id, now);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::model::*;
    use crate::monitor::alert::{Outcome, RuleSpec, RuleType, Thresholds};
    use crate::store::{CACHE_BYTES_DEFAULT, WriterSettings};
    use crate::time::ManualClock;

    #[derive(Default)]
    struct Sent(Mutex<Vec<Execution>>);

    impl Dispatch for Arc<Sent> {
        fn dispatch(&self, exec: Execution) {
            self.0.lock().unwrap().push(exec);
        }
    }

    fn failed(brand: BrandId, domain: DomainId, at: Millis) -> Outcome {
        Outcome {
            at_ms: at,
            brand: brand.0,
            ok: false,
            lateness_ms: Some(5),
            domain: Some(domain.0),
            webhook: None,
            workflow: None,
            schedule: None,
        }
    }

    #[tokio::test]
    async fn a_failure_rate_window_raises_once_per_cooldown_and_its_alert_is_dispatched() {
        let dir = tempfile::tempdir().unwrap();
        let settings = WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 64,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        let metrics = Metrics::new();
        let store = Store::open(&dir.path().join("s.redb"), settings, metrics.clone()).unwrap();
        let brand = BrandId::new();
        let channel = NotificationChannel {
            id: ChannelId::new(),
            brand,
            name: "ops".into(),
            kind: ChannelKind::Discord,
            address: ChannelAddress::Url {
                sealed: Sealed { nonce: [0; 12], ciphertext: vec![1] },
                origin: "https://discord.example".into(),
            },
            signing: None,
            created_ms: 0,
            updated_ms: 0,
        };
        let channel = store.create_channel(channel).await.unwrap();
        let domain = DomainId::new();
        let rule = AlertRule {
            id: AlertRuleId::new(),
            brand,
            spec: RuleSpec {
                rule_type: RuleType::FailureRate,
                watch: Some((crate::monitor::alert::WatchKind::Domain, domain.0)),
                thresholds: Thresholds {
                    threshold_percent: Some(50),
                    window_seconds: Some(60),
                    min_count: Some(2),
                    ..Thresholds::default()
                },
                cooldown_seconds: 120,
            },
            channels: vec![channel.id],
            created_ms: 0,
            updated_ms: 0,
        };
        store.create_alert_rule(rule).await.unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sent = Arc::new(Sent::default());
        let mut w = Worker {
            store: store.clone(),
            clock: clock.clone(),
            metrics: metrics.clone(),
            dispatch: Arc::new(sent.clone()),
            log: OutcomeLog::default(),
            raised: HashMap::new(),
            failing: false,
        };
        metrics.feed_alert_outcome(failed(brand, domain, 999_000));
        w.round().await;
        assert!(sent.0.lock().unwrap().is_empty(), "one execution is below min_count");
        metrics.feed_alert_outcome(failed(brand, domain, 999_500));
        w.round().await;
        assert_eq!(sent.0.lock().unwrap().len(), 1);
        // Still above the threshold: nothing more within the cooldown, nothing suppressed either.
        clock.advance(10_000);
        metrics.feed_alert_outcome(failed(brand, domain, 1_009_000));
        w.round().await;
        assert_eq!(sent.0.lock().unwrap().len(), 1);
        assert_eq!(store.list_alerts(brand, None, None, 1, 10).unwrap().total, 1);
        // After the cooldown, with failures still in the window, it alerts again.
        clock.advance(120_000);
        metrics.feed_alert_outcome(failed(brand, domain, 1_129_000));
        metrics.feed_alert_outcome(failed(brand, domain, 1_129_500));
        w.round().await;
        assert_eq!(sent.0.lock().unwrap().len(), 2);
        let e = &sent.0.lock().unwrap()[1];
        assert_eq!((e.target_kind, e.target_id), (TargetKind::Channel, channel.id.0));
        assert_eq!(e.context["rule_type"], "failure_rate");
        assert!(metrics.render().contains("hookwheel_alerts_total{rule_type=\"failure_rate\",outcome=\"sent\"} 2"));
    }
}
