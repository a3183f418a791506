//! Notification channels, alert rules, the alert history, and the signal outbox (product.md
//! §12).
//!
//! A signal is raised with [`enqueue_signal`] INSIDE the write operation that made the change
//! behind it (a monitor's transition, a circuit opening, an execution's final failure, an
//! approval that waited too long), so the signal commits with the change or not at all. The
//! alert worker (`scheduler::alerts`) applies queued signals with
//! [`Store::apply_alert_outbox`]: in ONE write it matches the brand's rules, applies their
//! cooldowns, writes the history (sent / suppressed), creates one channel execution per
//! channel of each sent alert, and removes the signal from the outbox. A crash before that
//! commit leaves the signal queued; after it, the executions are pending and delivery resumes
//! them on start: each alert is created once, and sent at least once.

use std::sync::atomic::{AtomicBool, Ordering};

use redb::ReadableTableMetadata;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{all_prefix, any_with_prefix, get, get_raw, page_prefix, put, put_raw, remove, remove_oldest, scan_prefix};
use crate::model::{
    ALERTS_KEPT_MAX, AlertId, AlertOutcome, AlertRecord, AlertRule, AlertRuleId, BrandId, ChannelId, Execution,
    ExecutionId, NotificationChannel, OutboxSignal, Page, PlanStatus, TargetKind, Trigger,
};
use crate::monitor::alert::{self, AlertFacts, RuleType, Signal};
use crate::store::codec;
use crate::store::tables::{
    ALERT_APPROVAL_MARKS, ALERT_COOLDOWNS, ALERT_COUNTS, ALERT_OUTBOX, ALERT_RULE_BY_CHANNEL, ALERT_RULES, ALERTS,
    NOTIFICATION_CHANNELS, PLANS, key,
};
use crate::store::{Store, StoreError};
use crate::time::Millis;

/// Signals the worker applies per write.
pub const OUTBOX_BATCH_MAX: usize = 64;

/// Set when a write queued a signal; the alert worker is woken after the commit (a hint: the
/// worker also polls every second).
static SIGNAL_QUEUED: AtomicBool = AtomicBool::new(false);
/// Wakes the alert worker.
pub static SIGNAL_WAKE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Called by `Store::write` after a commit: wakes the alert worker if the write queued a signal.
pub(crate) fn after_commit() {
    if SIGNAL_QUEUED.swap(false, Ordering::SeqCst) {
        SIGNAL_WAKE.notify_one();
    }
}

/// Queues a signal inside the caller's write transaction: it commits (or is undone) with the
/// change that raised it.
pub(crate) fn enqueue_signal(
    w: &redb::WriteTransaction,
    brand: BrandId,
    signal: Signal,
    now: Millis,
) -> Result<(), StoreError> {
    let mut t = w.open_table(ALERT_OUTBOX).map_err(StoreError::from_db)?;
    let id = Uuid::now_v7();
    put(&mut t, id.as_bytes(), &OutboxSignal { brand, signal, raised_ms: now })?;
    SIGNAL_QUEUED.store(true, Ordering::SeqCst);
    Ok(())
}

fn ckey(brand: BrandId, id: ChannelId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

fn rkey(brand: BrandId, id: AlertRuleId) -> Vec<u8> {
    key(&[brand.as_bytes(), id.as_bytes()])
}

/// What one outbox pass did: the channel executions to dispatch, and each alert's rule type
/// and outcome (metrics).
#[derive(Debug, Default)]
pub struct OutboxPass {
    pub executions: Vec<Execution>,
    pub outcomes: Vec<(RuleType, AlertOutcome)>,
    /// Signals taken from the outbox.
    pub signals: usize,
}

/// A channel execution for an alert: its context is the alert's `webhook` JSON payload.
pub fn channel_execution(
    brand: BrandId,
    channel: ChannelId,
    alert_key: &str,
    payload: &Value,
    now: Millis,
) -> Execution {
    let context: Map<String, Value> = payload.as_object().cloned().unwrap_or_default();
    let id = ExecutionId::new();
    let mut e = Execution::manual_as(id, brand, None, (TargetKind::Channel, channel.0), context, now);
    e.trigger = Trigger::Alert;
    e.idempotency_key = format!("hw_alert_{alert_key}_{}", channel.0.simple());
    e
}

/// Applies one signal: every matching rule of its brand sends (one execution per channel) or
/// is suppressed by its cooldown; each is recorded in the history.
fn apply_signal(
    w: &redb::WriteTransaction,
    entry: &OutboxSignal,
    now: Millis,
    pass: &mut OutboxPass,
) -> Result<(), StoreError> {
    let brand = entry.brand;
    let rules: Vec<AlertRule> = {
        let t = w.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
        all_prefix(&t, "alert_rules", brand.as_bytes())?
    };
    for rule in rules {
        if !alert::matches(rule.id.0, &rule.spec, &entry.signal) {
            continue;
        }
        let subject = entry.signal.cooldown_subject();
        let cool_key = key(&[brand.as_bytes(), rule.id.as_bytes(), subject.as_bytes()]);
        let mut cooldowns = w.open_table(ALERT_COOLDOWNS).map_err(StoreError::from_db)?;
        let last = get_raw(&cooldowns, &cool_key)?.and_then(|v| v.try_into().ok().map(i64::from_le_bytes));
        let alert_id = AlertId::new();
        let mut record = AlertRecord {
            id: alert_id,
            brand,
            rule: rule.id,
            rule_type: rule.spec.rule_type.as_str().to_string(),
            outcome: AlertOutcome::Suppressed,
            signal: entry.signal.clone(),
            summary: entry.signal.summary(),
            channels: rule.channels.clone(),
            executions: Vec::new(),
            raised_ms: entry.raised_ms,
            at_ms: now,
        };
        if alert::cooldown_allows(last, rule.spec.cooldown_seconds, now) {
            put_raw(&mut cooldowns, &cool_key, &now.to_le_bytes())?;
            let payload = alert::webhook_payload(&AlertFacts {
                alert: alert_id.0,
                rule: Some(rule.id.0),
                rule_type: rule.spec.rule_type.as_str(),
                brand: brand.0,
                signal: &entry.signal,
                raised_at: crate::time::format_utc(entry.raised_ms),
            });
            let channels = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            let mut execs = Vec::new();
            for ch in &rule.channels {
                if get_raw(&channels, &ckey(brand, *ch))?.is_none() {
                    continue;
                }
                execs.push(channel_execution(brand, *ch, &alert_id.0.simple().to_string(), &payload, now));
            }
            drop(channels);
            super::schedules::upsert_executions(w, &execs)?;
            record.outcome = AlertOutcome::Sent;
            record.executions = execs.iter().map(|e| e.id).collect();
            pass.executions.extend(execs);
        }
        drop(cooldowns);
        pass.outcomes.push((rule.spec.rule_type, record.outcome));
        let mut alerts = w.open_table(ALERTS).map_err(StoreError::from_db)?;
        put(&mut alerts, &key(&[brand.as_bytes(), alert_id.as_bytes()]), &record)?;
        let mut counts = w.open_table(ALERT_COUNTS).map_err(StoreError::from_db)?;
        let mut n =
            get_raw(&counts, brand.as_bytes())?.and_then(|v| v.try_into().ok().map(u64::from_le_bytes)).unwrap_or(0);
        n += 1;
        if n > ALERTS_KEPT_MAX {
            remove_oldest(&mut alerts, brand.as_bytes())?;
            n -= 1;
        }
        put_raw(&mut counts, brand.as_bytes(), &n.to_le_bytes())?;
    }
    Ok(())
}

impl Store {
    // ---- channels ----

    pub async fn create_channel(&self, c: NotificationChannel) -> Result<NotificationChannel, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            put(&mut t, &ckey(c.brand, c.id), &c)?;
            Ok(c)
        })
        .await
    }

    pub fn get_channel(&self, brand: BrandId, id: ChannelId) -> Result<Option<NotificationChannel>, StoreError> {
        self.read(|r| {
            let t = r.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            get(&t, "notification_channels", &ckey(brand, id))
        })
    }

    /// One page (1-based) of a brand's channels, in creation order.
    pub fn list_channels(
        &self,
        brand: BrandId,
        page: u64,
        per_page: u64,
    ) -> Result<Page<NotificationChannel>, StoreError> {
        self.read(|r| {
            let t = r.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            page_prefix(&t, "notification_channels", brand.as_bytes(), page, per_page)
        })
    }

    /// Every channel of every brand (vault key rotation).
    pub fn all_channels(&self) -> Result<Vec<NotificationChannel>, StoreError> {
        self.read(|r| {
            let t = r.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            all_prefix(&t, "notification_channels", &[])
        })
    }

    /// Read-modify-write of a channel; `f` may refuse.
    pub async fn update_channel(
        &self,
        brand: BrandId,
        id: ChannelId,
        now: Millis,
        f: impl FnOnce(&mut NotificationChannel) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<NotificationChannel, StoreError> {
        self.write(move |w| {
            let mut t = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            let k = ckey(brand, id);
            let mut c: NotificationChannel =
                get(&t, "notification_channels", &k)?.ok_or(StoreError::NotFound("Notification channel"))?;
            f(&mut c)?;
            c.updated_ms = now;
            put(&mut t, &k, &c)?;
            Ok(c)
        })
        .await
    }

    /// Deletes a channel; a conflict while an alert rule sends to it (`existing`: a rule).
    pub async fn delete_channel(&self, brand: BrandId, id: ChannelId) -> Result<NotificationChannel, StoreError> {
        self.write(move |w| {
            let idx = w.open_table(ALERT_RULE_BY_CHANNEL).map_err(StoreError::from_db)?;
            let mut user = None;
            scan_prefix(&idx, &ckey(brand, id), |k, _| {
                user = Some(codec::decode_id("alert_rule_by_channel", &k[32..])?);
                Ok(false)
            })?;
            if let Some(rule) = user {
                return Err(StoreError::Conflict {
                    what: "Notification channel used by an alert rule",
                    existing: Some(rule),
                });
            }
            let mut t = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
            let k = ckey(brand, id);
            let c: NotificationChannel =
                get(&t, "notification_channels", &k)?.ok_or(StoreError::NotFound("Notification channel"))?;
            remove(&mut t, &k)?;
            Ok(c)
        })
        .await
    }

    // ---- rules ----

    /// Checks that every channel of a rule exists in its brand (inside the write).
    fn rule_channels_exist(w: &redb::WriteTransaction, r: &AlertRule) -> Result<(), StoreError> {
        let t = w.open_table(NOTIFICATION_CHANNELS).map_err(StoreError::from_db)?;
        for ch in &r.channels {
            if get_raw(&t, &ckey(r.brand, *ch))?.is_none() {
                return Err(StoreError::NotFound("Notification channel"));
            }
        }
        Ok(())
    }

    fn index_rule(w: &redb::WriteTransaction, r: &AlertRule, add: bool) -> Result<(), StoreError> {
        let mut idx = w.open_table(ALERT_RULE_BY_CHANNEL).map_err(StoreError::from_db)?;
        for ch in &r.channels {
            let k = key(&[r.brand.as_bytes(), ch.as_bytes(), r.id.as_bytes()]);
            if add { put_raw(&mut idx, &k, &[])? } else { remove(&mut idx, &k)? }
        }
        Ok(())
    }

    /// Creates a rule; its channels must exist in the brand (`NotFound` otherwise).
    pub async fn create_alert_rule(&self, r: AlertRule) -> Result<AlertRule, StoreError> {
        self.write(move |w| {
            Self::rule_channels_exist(w, &r)?;
            Self::index_rule(w, &r, true)?;
            let mut t = w.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            put(&mut t, &rkey(r.brand, r.id), &r)?;
            Ok(r)
        })
        .await
    }

    pub fn get_alert_rule(&self, brand: BrandId, id: AlertRuleId) -> Result<Option<AlertRule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            get(&t, "alert_rules", &rkey(brand, id))
        })
    }

    /// One page (1-based) of a brand's rules, in creation order.
    pub fn list_alert_rules(&self, brand: BrandId, page: u64, per_page: u64) -> Result<Page<AlertRule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            page_prefix(&t, "alert_rules", brand.as_bytes(), page, per_page)
        })
    }

    /// Every `failure_rate` and `lateness` rule of every brand (the alert worker's windows).
    pub fn window_alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        self.read(|r| {
            let t = r.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            let all: Vec<AlertRule> = all_prefix(&t, "alert_rules", &[])?;
            Ok(all
                .into_iter()
                .filter(|r| matches!(r.spec.rule_type, RuleType::FailureRate | RuleType::Lateness))
                .collect())
        })
    }

    /// Read-modify-write of a rule; `f` may refuse; the channel index follows.
    pub async fn update_alert_rule(
        &self,
        brand: BrandId,
        id: AlertRuleId,
        now: Millis,
        f: impl FnOnce(&mut AlertRule) -> Result<(), StoreError> + Send + 'static,
    ) -> Result<AlertRule, StoreError> {
        self.write(move |w| {
            let k = rkey(brand, id);
            let old: AlertRule = {
                let t = w.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
                get(&t, "alert_rules", &k)?.ok_or(StoreError::NotFound("Alert rule"))?
            };
            let mut r = old.clone();
            f(&mut r)?;
            r.updated_ms = now;
            Self::rule_channels_exist(w, &r)?;
            Self::index_rule(w, &old, false)?;
            Self::index_rule(w, &r, true)?;
            let mut t = w.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            put(&mut t, &k, &r)?;
            Ok(r)
        })
        .await
    }

    /// Deletes a rule with its channel index entries, cooldowns and approval marks (its
    /// history stays).
    pub async fn delete_alert_rule(&self, brand: BrandId, id: AlertRuleId) -> Result<AlertRule, StoreError> {
        self.write(move |w| {
            let k = rkey(brand, id);
            let mut t = w.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            let r: AlertRule = get(&t, "alert_rules", &k)?.ok_or(StoreError::NotFound("Alert rule"))?;
            remove(&mut t, &k)?;
            drop(t);
            Self::index_rule(w, &r, false)?;
            for table in [ALERT_COOLDOWNS, ALERT_APPROVAL_MARKS] {
                let mut t = w.open_table(table).map_err(StoreError::from_db)?;
                let mut keys = Vec::new();
                scan_prefix(&t, &k, |key, _| {
                    keys.push(key.to_vec());
                    Ok(true)
                })?;
                for key in keys {
                    remove(&mut t, &key)?;
                }
            }
            Ok(r)
        })
        .await
    }

    // ---- signals and history ----

    /// Queues signals raised outside any other write (the window rules' verdicts).
    pub async fn enqueue_signals(&self, signals: Vec<(BrandId, Signal)>, now: Millis) -> Result<(), StoreError> {
        self.write(move |w| {
            for (brand, s) in signals {
                enqueue_signal(w, brand, s, now)?;
            }
            Ok(())
        })
        .await
    }

    /// Whether any signal waits in the outbox.
    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        self.read(|r| {
            let t = r.open_table(ALERT_OUTBOX).map_err(StoreError::from_db)?;
            t.len().map_err(StoreError::from_db)
        })
    }

    /// Applies up to [`OUTBOX_BATCH_MAX`] queued signals, oldest first, in one write (see the
    /// module doc). The caller dispatches the returned executions after the commit.
    pub async fn apply_alert_outbox(&self, now: Millis) -> Result<OutboxPass, StoreError> {
        self.write(move |w| {
            let mut queued = Vec::new();
            {
                let t = w.open_table(ALERT_OUTBOX).map_err(StoreError::from_db)?;
                scan_prefix(&t, &[], |k, v| {
                    queued.push((k.to_vec(), codec::decode::<OutboxSignal>("alert_outbox", v)?));
                    Ok(queued.len() < OUTBOX_BATCH_MAX)
                })?;
            }
            let mut pass = OutboxPass { signals: queued.len(), ..OutboxPass::default() };
            for (k, entry) in queued {
                apply_signal(w, &entry, now, &mut pass)?;
                let mut t = w.open_table(ALERT_OUTBOX).map_err(StoreError::from_db)?;
                remove(&mut t, &k)?;
            }
            Ok(pass)
        })
        .await
    }

    /// One page (1-based) of a brand's alert history, newest first, optionally only one rule's
    /// and/or one outcome's.
    pub fn list_alerts(
        &self,
        brand: BrandId,
        rule: Option<AlertRuleId>,
        outcome: Option<AlertOutcome>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<AlertRecord>, StoreError> {
        self.read(|r| {
            let t = r.open_table(ALERTS).map_err(StoreError::from_db)?;
            let prefix = brand.as_bytes().to_vec();
            let mut end = prefix.clone();
            end.extend_from_slice(&[0xff; 17]);
            let skip = page.saturating_sub(1).saturating_mul(per_page);
            let mut items = Vec::new();
            let mut total = 0u64;
            for entry in t.range::<&[u8]>(prefix.as_slice()..end.as_slice()).map_err(StoreError::from_db)?.rev() {
                let (_, v) = entry.map_err(StoreError::from_db)?;
                let a: AlertRecord = codec::decode("alerts", v.value())?;
                if rule.is_some_and(|r| r != a.rule) || outcome.is_some_and(|o| o != a.outcome) {
                    continue;
                }
                if total >= skip && (items.len() as u64) < per_page {
                    items.push(a);
                }
                total += 1;
            }
            Ok(Page { items, total })
        })
    }

    /// The `approval_waiting` check: for every such rule, each plan of its brand waiting for a
    /// decision at least the rule's `waiting_seconds` (and of the watched workflow, if any) is
    /// raised once per rule and plan. A read finds the candidates; one write marks them and
    /// queues their signals (a plan decided meanwhile is skipped). Returns how many were raised.
    pub async fn check_waiting_approvals(&self, now: Millis) -> Result<usize, StoreError> {
        let candidates = self.read(|r| {
            let rules = r.open_table(ALERT_RULES).map_err(StoreError::from_db)?;
            let plans = r.open_table(PLANS).map_err(StoreError::from_db)?;
            let marks = r.open_table(ALERT_APPROVAL_MARKS).map_err(StoreError::from_db)?;
            let mut out = Vec::new();
            let mut rule_list: Vec<AlertRule> = Vec::new();
            scan_prefix(&rules, &[], |_, v| {
                let rule: AlertRule = codec::decode("alert_rules", v)?;
                if rule.spec.rule_type == RuleType::ApprovalWaiting {
                    rule_list.push(rule);
                }
                Ok(true)
            })?;
            for rule in rule_list {
                let wait_ms = i64::from(rule.spec.thresholds.waiting_seconds.unwrap_or(0)) * 1000;
                scan_prefix(&plans, rule.brand.as_bytes(), |k, v| {
                    let p: crate::model::ApprovalPlan = codec::decode("plans", v)?;
                    let watched = match rule.spec.watch {
                        Some((alert::WatchKind::Workflow, wf)) => !p.is_standalone() && p.workflow.0 == wf,
                        _ => true,
                    };
                    if p.status == PlanStatus::WaitingApproval && watched && now - p.created_ms >= wait_ms {
                        let mk = key(&[rule.brand.as_bytes(), rule.id.as_bytes(), &k[16..]]);
                        if get_raw(&marks, &mk)?.is_none() {
                            out.push((rule.brand, rule.id, mk, p.id));
                        }
                    }
                    Ok(true)
                })?;
            }
            Ok(out)
        })?;
        if candidates.is_empty() {
            return Ok(0);
        }
        self.write(move |w| {
            let mut raised = 0;
            for (brand, rule, mk, plan_id) in candidates {
                let mut marks = w.open_table(ALERT_APPROVAL_MARKS).map_err(StoreError::from_db)?;
                if any_with_prefix(&marks, &mk)? {
                    continue;
                }
                let plans = w.open_table(PLANS).map_err(StoreError::from_db)?;
                let Some(p) =
                    get::<crate::model::ApprovalPlan>(&plans, "plans", &key(&[brand.as_bytes(), plan_id.as_bytes()]))?
                else {
                    continue;
                };
                if p.status != PlanStatus::WaitingApproval {
                    continue;
                }
                put_raw(&mut marks, &mk, &[])?;
                drop((marks, plans));
                let title = match &p.standalone {
                    Some(s) => s.title.clone(),
                    None => format!("{} / {}", p.workflow_name, p.identifier),
                };
                let signal = Signal::ApprovalWaiting {
                    rule: rule.0,
                    plan: p.id.0,
                    workflow: (!p.is_standalone()).then_some(p.workflow.0),
                    title,
                    waited_seconds: u64::try_from((now - p.created_ms) / 1000).unwrap_or(0),
                };
                enqueue_signal(w, brand, signal, now)?;
                raised += 1;
            }
            Ok(raised)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;
    use crate::model::*;
    use crate::monitor::alert::{RuleSpec, RuleType, Signal, Thresholds};
    use crate::store::{CACHE_BYTES_DEFAULT, Store, StoreError, WriterSettings};

    fn open(dir: &tempfile::TempDir) -> Store {
        let settings = WriterSettings {
            commit_batch_max: 64,
            write_queue_capacity: 64,
            cache_bytes: CACHE_BYTES_DEFAULT,
            ..Default::default()
        };
        Store::open(&dir.path().join("s.redb"), settings, Metrics::new()).unwrap()
    }

    fn channel(brand: BrandId) -> NotificationChannel {
        NotificationChannel {
            id: ChannelId::new(),
            brand,
            name: "ops".into(),
            kind: ChannelKind::Webhook,
            address: ChannelAddress::Url {
                sealed: Sealed { nonce: [0; 12], ciphertext: vec![1] },
                origin: "https://alerts.example".into(),
            },
            signing: None,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn rule(brand: BrandId, t: RuleType, channel: ChannelId, thresholds: Thresholds) -> AlertRule {
        AlertRule {
            id: AlertRuleId::new(),
            brand,
            spec: RuleSpec { rule_type: t, watch: None, thresholds, cooldown_seconds: 300 },
            channels: vec![channel],
            created_ms: 0,
            updated_ms: 0,
        }
    }

    fn down(m: u128) -> Signal {
        Signal::MonitorDown { monitor: uuid::Uuid::from_u128(m), name: "m".into(), failed: false }
    }

    #[tokio::test]
    async fn the_outbox_sends_once_per_cooldown_and_records_every_match() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let brand = BrandId::new();
        let c = store.create_channel(channel(brand)).await.unwrap();
        let r = store.create_alert_rule(rule(brand, RuleType::MonitorDown, c.id, Thresholds::default())).await.unwrap();
        // Another brand's rule never sees this brand's signals.
        let other = BrandId::new();
        let oc = store.create_channel(channel(other)).await.unwrap();
        store.create_alert_rule(rule(other, RuleType::MonitorDown, oc.id, Thresholds::default())).await.unwrap();

        store.enqueue_signals(vec![(brand, down(1)), (brand, down(1)), (brand, down(2))], 1_000).await.unwrap();
        assert_eq!(store.outbox_len().unwrap(), 3);
        let pass = store.apply_alert_outbox(1_000).await.unwrap();
        assert_eq!(store.outbox_len().unwrap(), 0);
        let outcomes: Vec<AlertOutcome> = pass.outcomes.iter().map(|o| o.1).collect();
        assert_eq!(outcomes, [AlertOutcome::Sent, AlertOutcome::Suppressed, AlertOutcome::Sent], "per subject");
        assert_eq!(pass.executions.len(), 2);
        let e = &pass.executions[0];
        assert_eq!((e.target_kind, e.trigger, e.target_id), (TargetKind::Channel, Trigger::Alert, c.id.0));
        assert_eq!(e.context["rule_type"], "monitor_down");
        assert!(store.get_execution(brand, e.id).unwrap().is_some(), "the send is committed with the alert");
        let history = store.list_alerts(brand, None, None, 1, 10).unwrap();
        assert_eq!(history.total, 3);
        assert_eq!(history.items[1].outcome, AlertOutcome::Suppressed, "newest first");
        assert_eq!(store.list_alerts(brand, Some(r.id), Some(AlertOutcome::Sent), 1, 10).unwrap().total, 2);
        assert_eq!(store.list_alerts(other, None, None, 1, 10).unwrap().total, 0);

        // After the cooldown the same subject sends again.
        store.enqueue_signals(vec![(brand, down(1))], 301_000).await.unwrap();
        let pass = store.apply_alert_outbox(301_000).await.unwrap();
        assert_eq!(pass.outcomes, [(RuleType::MonitorDown, AlertOutcome::Sent)]);

        // A channel in use cannot be deleted; once the rule is gone it can.
        assert!(matches!(store.delete_channel(brand, c.id).await, Err(StoreError::Conflict { .. })));
        store.delete_alert_rule(brand, r.id).await.unwrap();
        store.delete_channel(brand, c.id).await.unwrap();
        // A rule naming a missing channel is refused.
        let missing = rule(brand, RuleType::MonitorUp, ChannelId::new(), Thresholds::default());
        assert!(matches!(store.create_alert_rule(missing).await, Err(StoreError::NotFound(_))));
    }

    #[tokio::test]
    async fn the_history_keeps_the_newest_ten_thousand_per_brand() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let brand = BrandId::new();
        let c = store.create_channel(channel(brand)).await.unwrap();
        store.create_alert_rule(rule(brand, RuleType::MonitorDown, c.id, Thresholds::default())).await.unwrap();
        let n = ALERTS_KEPT_MAX as usize + 5;
        store.enqueue_signals((0..n).map(|_| (brand, down(1))).collect(), 1_000).await.unwrap();
        let mut applied = 0;
        while applied < n {
            applied += store.apply_alert_outbox(2_000).await.unwrap().signals;
        }
        let page = store.list_alerts(brand, None, None, 1, 1).unwrap();
        assert_eq!(page.total, ALERTS_KEPT_MAX);
        // The first (the one sent) was among the oldest dropped; the rest were suppressed.
        assert_eq!(store.list_alerts(brand, None, Some(AlertOutcome::Sent), 1, 1).unwrap().total, 0);
    }

    #[tokio::test]
    async fn approval_waiting_is_raised_once_per_rule_and_plan() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let brand = BrandId::new();
        let c = store.create_channel(channel(brand)).await.unwrap();
        let th = Thresholds { waiting_seconds: Some(60), ..Thresholds::default() };
        store.create_alert_rule(rule(brand, RuleType::ApprovalWaiting, c.id, th)).await.unwrap();
        let plan = ApprovalPlan {
            id: PlanId::new(),
            brand,
            run: ExecutionId::new(),
            workflow: WorkflowId::new(),
            workflow_name: "deploy".into(),
            step: StepId::new(),
            identifier: "approve".into(),
            index: 0,
            visit: 0,
            delay_to_next_step_seconds: 0,
            status: PlanStatus::WaitingApproval,
            deadline_ms: None,
            timeout_action: TimeoutAction::Reject,
            decided_by: None,
            decided_at: None,
            created_ms: 0,
            notes: None,
            standalone: None,
        };
        store.create_plan(plan).await.unwrap();
        assert_eq!(store.check_waiting_approvals(59_999).await.unwrap(), 0, "not waited long enough");
        assert_eq!(store.check_waiting_approvals(60_000).await.unwrap(), 1);
        assert_eq!(store.check_waiting_approvals(120_000).await.unwrap(), 0, "once per rule and plan");
        let pass = store.apply_alert_outbox(120_000).await.unwrap();
        assert_eq!(pass.outcomes, [(RuleType::ApprovalWaiting, AlertOutcome::Sent)]);
        let a = &store.list_alerts(brand, None, None, 1, 1).unwrap().items[0];
        assert!(a.summary.contains("deploy / approve"), "{}", a.summary);
    }
}
