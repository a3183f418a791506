//! Alert rules, the pure core (product.md §12): what happened ([`Signal`]), which rules it
//! concerns ([`matches`]), whether a rule's cooldown lets it through ([`cooldown_allows`]),
//! the window rules computed from an in-memory log of finished executions ([`OutcomeLog`]:
//! `failure_rate`, `lateness`), and the payloads a channel is sent ([`webhook_payload`],
//! [`slack_body`], [`discord_body`], [`email_message`]).
//!
//! Takes time and ids from its caller; no store, API or tokio. Rule semantics follow
//! hookstream's alert rules where product.md is silent: a rule watches one object (a monitor,
//! domain, webhook template, workflow or schedule) or, with none, the whole brand; a cooldown is
//! per rule and subject (the object the signal is about), counted from the last alert *sent*.
//!
//! The window rules read an in-memory log that delivery feeds as executions end: after a
//! restart it starts empty, so a `failure_rate` or `lateness` rule judges only what ended since
//! the start (docs/api.md, "Alerts and notification channels").

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::time::Millis;

/// Default cooldown of a rule, seconds.
pub const COOLDOWN_SECONDS_DEFAULT: u32 = 300;
/// Most executions kept in the in-memory outcome log (the oldest are dropped).
pub const OUTCOME_LOG_MAX: usize = 100_000;
/// Longest window of a `failure_rate` or `lateness` rule, seconds (one day).
pub const WINDOW_SECONDS_MAX: u32 = 86_400;
/// Discord refuses a `content` longer than this (characters).
const DISCORD_CONTENT_CHARS_MAX: usize = 2000;

/// A rule's type (product.md §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    ExecutionFailed,
    FailureRate,
    Lateness,
    MonitorDown,
    MonitorUp,
    CircuitOpen,
    ApprovalWaiting,
    /// Pipelines' cost budgets (per instance, per day).
    BudgetExceeded,
}

impl RuleType {
    pub const ALL: [RuleType; 8] = [
        RuleType::ExecutionFailed,
        RuleType::FailureRate,
        RuleType::Lateness,
        RuleType::MonitorDown,
        RuleType::MonitorUp,
        RuleType::CircuitOpen,
        RuleType::ApprovalWaiting,
        RuleType::BudgetExceeded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::ExecutionFailed => "execution_failed",
            RuleType::FailureRate => "failure_rate",
            RuleType::Lateness => "lateness",
            RuleType::MonitorDown => "monitor_down",
            RuleType::MonitorUp => "monitor_up",
            RuleType::CircuitOpen => "circuit_open",
            RuleType::ApprovalWaiting => "approval_waiting",
            RuleType::BudgetExceeded => "budget_exceeded",
        }
    }

    pub fn parse(s: &str) -> Option<RuleType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The kinds of object a rule of this type may watch (none = the whole brand is always
    /// allowed).
    pub fn watchable(self) -> &'static [WatchKind] {
        use WatchKind::*;
        match self {
            RuleType::ExecutionFailed | RuleType::Lateness => &[Webhook, Workflow, Schedule],
            RuleType::FailureRate => &[Domain, Webhook, Workflow, Schedule],
            RuleType::MonitorDown | RuleType::MonitorUp | RuleType::BudgetExceeded => &[Monitor],
            RuleType::CircuitOpen => &[Domain],
            RuleType::ApprovalWaiting => &[Workflow],
        }
    }
}

/// The kind of object a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchKind {
    Monitor,
    Domain,
    /// A webhook template (a target).
    Webhook,
    Workflow,
    Schedule,
}

impl WatchKind {
    /// The API field that names an object of this kind.
    pub fn field(self) -> &'static str {
        match self {
            WatchKind::Monitor => "monitor_uuid",
            WatchKind::Domain => "domain_uuid",
            WatchKind::Webhook => "webhook_uuid",
            WatchKind::Workflow => "workflow_uuid",
            WatchKind::Schedule => "schedule_uuid",
        }
    }
}

/// What a rule watches: one object, or (`None`) the whole brand.
pub type Watch = Option<(WatchKind, Uuid)>;

/// The thresholds of a rule; which are required depends on its type ([`RuleSpec::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Thresholds {
    /// `failure_rate`: the share of failed executions (1-100 %) that fires the rule.
    pub threshold_percent: Option<u32>,
    /// `failure_rate`, `lateness`: the window, seconds.
    pub window_seconds: Option<u32>,
    /// `failure_rate`, `lateness`: fewest executions in the window before it is judged
    /// (default 1).
    pub min_count: Option<u32>,
    /// `lateness`: the p99 lateness above which the rule fires, ms.
    pub lateness_ms: Option<u64>,
    /// `approval_waiting`: how long a plan waits before the rule fires, seconds.
    pub waiting_seconds: Option<u32>,
}

/// A rule's decision-relevant part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub rule_type: RuleType,
    pub watch: Watch,
    pub thresholds: Thresholds,
    pub cooldown_seconds: u32,
}

/// A rule that cannot be: the API field to name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: &'static str,
    pub why: String,
}

fn spec_err(field: &'static str, why: impl Into<String>) -> SpecError {
    SpecError { field, why: why.into() }
}

impl RuleSpec {
    /// Checks the type-specific fields: the watched object's kind, required thresholds, and no
    /// threshold the type does not read.
    pub fn validate(&self) -> Result<(), SpecError> {
        let t = self.rule_type;
        if let Some((kind, _)) = self.watch
            && !t.watchable().contains(&kind)
        {
            let allowed: Vec<&str> = t.watchable().iter().map(|k| k.field()).collect();
            return Err(spec_err(
                kind.field(),
                format!("a {} rule watches {} or the whole brand", t.as_str(), allowed.join(", ")),
            ));
        }
        let th = &self.thresholds;
        let needs: &[&'static str] = match t {
            RuleType::FailureRate => &["threshold_percent", "window_seconds"],
            RuleType::Lateness => &["lateness_ms", "window_seconds"],
            RuleType::ApprovalWaiting => &["waiting_seconds"],
            _ => &[],
        };
        let given = [
            ("threshold_percent", th.threshold_percent.is_some()),
            ("window_seconds", th.window_seconds.is_some()),
            ("min_count", th.min_count.is_some()),
            ("lateness_ms", th.lateness_ms.is_some()),
            ("waiting_seconds", th.waiting_seconds.is_some()),
        ];
        for need in needs {
            if given.iter().any(|(f, present)| f == need && !present) {
                return Err(spec_err(need, format!("required for a {} rule", t.as_str())));
            }
        }
        for (field, present) in given {
            let read = needs.contains(&field)
                || (field == "min_count" && matches!(t, RuleType::FailureRate | RuleType::Lateness));
            if present && !read {
                return Err(spec_err(field, format!("not used by a {} rule", t.as_str())));
            }
        }
        if th.threshold_percent.is_some_and(|p| !(1..=100).contains(&p)) {
            return Err(spec_err("threshold_percent", "between 1 and 100"));
        }
        if th.window_seconds.is_some_and(|w| !(1..=WINDOW_SECONDS_MAX).contains(&w)) {
            return Err(spec_err("window_seconds", format!("between 1 and {WINDOW_SECONDS_MAX}")));
        }
        Ok(())
    }
}

/// An object a signal is about (the ids a rule's watch is compared with).
pub type Subject = (WatchKind, Uuid);

/// What happened, with the ids of the objects it concerns. Stored in the outbox and in the
/// alert history; names are copied in at the time so an alert reads well after a rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    /// A heartbeat monitor went down.
    MonitorDown {
        monitor: Uuid,
        name: String,
        /// A ping reported a failure (`/fail`, a non-zero exit status); false: a ping did not
        /// arrive in time.
        #[serde(default)]
        failed: bool,
    },
    /// A monitor that was down got a ping.
    MonitorUp { monitor: Uuid, name: String },
    /// An execution ended failed after its retries (a webhook delivery or a workflow run).
    ExecutionFailed {
        execution: Uuid,
        schedule: Option<Uuid>,
        /// `webhook` or `workflow`.
        target_kind: String,
        target: Uuid,
        reason: String,
    },
    /// A domain's circuit breaker opened (closed → open).
    CircuitOpen { domain: Uuid, host: String },
    /// An approval plan has waited at least `waited_seconds` (raised for one rule: `rule`).
    ApprovalWaiting { rule: Uuid, plan: Uuid, workflow: Option<Uuid>, title: String, waited_seconds: u64 },
    /// A `failure_rate` rule's window crossed its threshold (raised for that rule only).
    FailureRate { rule: Uuid, watch: Watch, failed: u64, count: u64, percent: u32, window_seconds: u32 },
    /// A `lateness` rule's window p99 went above its bound (raised for that rule only).
    Lateness { rule: Uuid, watch: Watch, p99_ms: i64, count: u64, window_seconds: u32 },
    /// A pipeline instance stalled: its stage did not report in time (`monitor_down` rules).
    Stalled { monitor: Uuid, name: String, stage: String },
    /// A pipeline's cost budget (per instance or per day) was exceeded.
    BudgetExceeded { monitor: Uuid, name: String, cost: f64, budget: f64 },
}

impl Signal {
    /// The rule type that listens to this signal.
    pub fn rule_type(&self) -> RuleType {
        match self {
            Signal::MonitorDown { .. } | Signal::Stalled { .. } => RuleType::MonitorDown,
            Signal::MonitorUp { .. } => RuleType::MonitorUp,
            Signal::ExecutionFailed { .. } => RuleType::ExecutionFailed,
            Signal::CircuitOpen { .. } => RuleType::CircuitOpen,
            Signal::ApprovalWaiting { .. } => RuleType::ApprovalWaiting,
            Signal::FailureRate { .. } => RuleType::FailureRate,
            Signal::Lateness { .. } => RuleType::Lateness,
            Signal::BudgetExceeded { .. } => RuleType::BudgetExceeded,
        }
    }

    /// The signal's name (`kind` in stored and sent JSON).
    pub fn kind(&self) -> &'static str {
        match self {
            Signal::MonitorDown { .. } => "monitor_down",
            Signal::MonitorUp { .. } => "monitor_up",
            Signal::ExecutionFailed { .. } => "execution_failed",
            Signal::CircuitOpen { .. } => "circuit_open",
            Signal::ApprovalWaiting { .. } => "approval_waiting",
            Signal::FailureRate { .. } => "failure_rate",
            Signal::Lateness { .. } => "lateness",
            Signal::Stalled { .. } => "stalled",
            Signal::BudgetExceeded { .. } => "budget_exceeded",
        }
    }

    /// The objects the signal concerns, most specific first.
    pub fn subjects(&self) -> Vec<Subject> {
        match self {
            Signal::MonitorDown { monitor, .. }
            | Signal::MonitorUp { monitor, .. }
            | Signal::Stalled { monitor, .. }
            | Signal::BudgetExceeded { monitor, .. } => vec![(WatchKind::Monitor, *monitor)],
            Signal::ExecutionFailed { schedule, target_kind, target, .. } => {
                let kind = if target_kind == "workflow" { WatchKind::Workflow } else { WatchKind::Webhook };
                let mut v = vec![(kind, *target)];
                v.extend(schedule.map(|s| (WatchKind::Schedule, s)));
                v
            }
            Signal::CircuitOpen { domain, .. } => vec![(WatchKind::Domain, *domain)],
            Signal::ApprovalWaiting { workflow, .. } => {
                workflow.map(|w| (WatchKind::Workflow, w)).into_iter().collect()
            }
            Signal::FailureRate { watch, .. } | Signal::Lateness { watch, .. } => watch.iter().copied().collect(),
        }
    }

    /// The key a cooldown is kept under with its rule: the object the alert is about (the
    /// monitor, the domain, the plan, the target), or nil for a brand-wide window rule.
    pub fn cooldown_subject(&self) -> Uuid {
        match self {
            Signal::ApprovalWaiting { plan, .. } => *plan,
            Signal::ExecutionFailed { target, .. } => *target,
            _ => self.subjects().first().map_or(Uuid::nil(), |s| s.1),
        }
    }

    /// One line for people: what happened.
    pub fn summary(&self) -> String {
        match self {
            Signal::MonitorDown { name, failed: false, .. } => {
                format!("Monitor \"{name}\" is DOWN: an expected ping did not arrive")
            }
            Signal::MonitorDown { name, failed: true, .. } => {
                format!("Monitor \"{name}\" is DOWN: a ping reported a failure")
            }
            Signal::MonitorUp { name, .. } => format!("Monitor \"{name}\" is UP again"),
            Signal::ExecutionFailed { execution, target_kind, target, reason, .. } => {
                format!("Execution {execution} of {target_kind} {target} failed: {reason}")
            }
            Signal::CircuitOpen { host, .. } => {
                format!("Circuit breaker OPEN for domain {host}: deliveries to it are held")
            }
            Signal::ApprovalWaiting { title, waited_seconds, .. } => {
                format!("Approval \"{title}\" has been waiting for {waited_seconds} s")
            }
            Signal::FailureRate { failed, count, percent, window_seconds, .. } => {
                format!("Failure rate {percent}% ({failed} of {count} executions) over the last {window_seconds} s")
            }
            Signal::Lateness { p99_ms, count, window_seconds, .. } => {
                format!("Fire lateness p99 {p99_ms} ms over {count} executions in the last {window_seconds} s")
            }
            Signal::Stalled { name, stage, .. } => format!("Pipeline \"{name}\" stalled at stage \"{stage}\""),
            Signal::BudgetExceeded { name, cost, budget, .. } => {
                format!("Pipeline \"{name}\" exceeded its budget: {cost} of {budget}")
            }
        }
    }

    /// The signal as JSON (its `kind` and fields; ids as strings).
    ///
    /// Ids are named as everywhere else in the API: `monitor_uuid`, `domain_uuid`,
    /// `execution_uuid`, `schedule_uuid`, `target_uuid`, `execution_plan_uuid`,
    /// `workflow_uuid`, `alert_rule_uuid` (the stored form keeps the short names).
    pub fn to_json(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let k = match k.as_str() {
                            "monitor" | "domain" | "execution" | "schedule" | "target" | "workflow" => {
                                format!("{k}_uuid")
                            }
                            "plan" => "execution_plan_uuid".into(),
                            "rule" => "alert_rule_uuid".into(),
                            _ => k,
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }
    }
}

/// Whether a rule fires for a signal: same type, the signal concerns the watched object (or
/// the rule watches the whole brand), a window signal only for the rule that raised it, and an
/// `approval_waiting` signal only for its rule, once the plan has waited its `waiting_seconds`.
pub fn matches(rule_id: Uuid, rule: &RuleSpec, signal: &Signal) -> bool {
    if rule.rule_type != signal.rule_type() {
        return false;
    }
    match signal {
        Signal::FailureRate { rule: r, .. } | Signal::Lateness { rule: r, .. } => return *r == rule_id,
        Signal::ApprovalWaiting { rule: r, waited_seconds, .. } => {
            return *r == rule_id && *waited_seconds >= u64::from(rule.thresholds.waiting_seconds.unwrap_or(0));
        }
        _ => {}
    }
    match rule.watch {
        None => true,
        Some(w) => signal.subjects().contains(&w),
    }
}

/// Whether an alert may be sent now, given when this rule last sent one for the same subject:
/// nothing sent yet, or `cooldown_seconds` have passed since.
pub fn cooldown_allows(last_sent_ms: Option<Millis>, cooldown_seconds: u32, now: Millis) -> bool {
    match last_sent_ms {
        None => true,
        Some(last) => now.saturating_sub(last) >= i64::from(cooldown_seconds) * 1000,
    }
}

/// One execution that ended (fed by delivery), for the window rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub at_ms: Millis,
    pub brand: Uuid,
    pub ok: bool,
    /// First attempt's start minus the scheduled instant.
    pub lateness_ms: Option<i64>,
    pub domain: Option<Uuid>,
    pub webhook: Option<Uuid>,
    pub workflow: Option<Uuid>,
    pub schedule: Option<Uuid>,
}

impl Outcome {
    fn concerns(&self, brand: Uuid, watch: &Watch) -> bool {
        if self.brand != brand {
            return false;
        }
        match watch {
            None => true,
            Some((WatchKind::Domain, id)) => self.domain == Some(*id),
            Some((WatchKind::Webhook, id)) => self.webhook == Some(*id),
            Some((WatchKind::Workflow, id)) => self.workflow == Some(*id),
            Some((WatchKind::Schedule, id)) => self.schedule == Some(*id),
            Some((WatchKind::Monitor, _)) => false,
        }
    }
}

/// The in-memory log of ended executions, oldest first, at most [`OUTCOME_LOG_MAX`] and
/// nothing older than the longest window.
#[derive(Debug, Default)]
pub struct OutcomeLog {
    entries: VecDeque<Outcome>,
}

impl OutcomeLog {
    pub fn push(&mut self, o: Outcome) {
        if self.entries.len() >= OUTCOME_LOG_MAX {
            self.entries.pop_front();
        }
        self.entries.push_back(o);
    }

    /// Drops what no window can see any more.
    pub fn prune(&mut self, now: Millis) {
        let oldest = now - i64::from(WINDOW_SECONDS_MAX) * 1000;
        while self.entries.front().is_some_and(|e| e.at_ms < oldest) {
            self.entries.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn window<'a>(
        &'a self,
        brand: Uuid,
        watch: &'a Watch,
        seconds: u32,
        now: Millis,
    ) -> impl Iterator<Item = &'a Outcome> {
        let from = now - i64::from(seconds) * 1000;
        self.entries.iter().filter(move |e| e.at_ms > from && e.at_ms <= now && e.concerns(brand, watch))
    }

    /// Judges a `failure_rate` or `lateness` rule over its window: the signal to raise, if the
    /// window holds at least `min_count` (default 1) executions and crosses the threshold.
    pub fn evaluate(&self, brand: Uuid, rule_id: Uuid, rule: &RuleSpec, now: Millis) -> Option<Signal> {
        let th = &rule.thresholds;
        let window_seconds = th.window_seconds?;
        let min = u64::from(th.min_count.unwrap_or(1).max(1));
        match rule.rule_type {
            RuleType::FailureRate => {
                let (mut count, mut failed) = (0u64, 0u64);
                for e in self.window(brand, &rule.watch, window_seconds, now) {
                    count += 1;
                    failed += u64::from(!e.ok);
                }
                let threshold = u64::from(th.threshold_percent?);
                if count < min || failed * 100 < threshold * count {
                    return None;
                }
                let percent = (failed * 100 / count) as u32;
                Some(Signal::FailureRate { rule: rule_id, watch: rule.watch, failed, count, percent, window_seconds })
            }
            RuleType::Lateness => {
                let mut late: Vec<i64> =
                    self.window(brand, &rule.watch, window_seconds, now).filter_map(|e| e.lateness_ms).collect();
                if (late.len() as u64) < min {
                    return None;
                }
                let p99 = p99(&mut late)?;
                let bound = i64::try_from(th.lateness_ms?).unwrap_or(i64::MAX);
                (p99 > bound).then_some(Signal::Lateness {
                    rule: rule_id,
                    watch: rule.watch,
                    p99_ms: p99,
                    count: late.len() as u64,
                    window_seconds,
                })
            }
            _ => None,
        }
    }
}

/// The 99th percentile (nearest rank) of the values; `None` when empty.
pub fn p99(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = (values.len() * 99).div_ceil(100).max(1);
    Some(values[rank - 1])
}

/// What a channel is sent, built once per alert (the execution's context): the `webhook`
/// channel's JSON body as is; the other channels render from its `summary`.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub alert: Uuid,
    /// The rule (`None`: `test_notification_channel`).
    pub rule: Option<Uuid>,
    pub rule_type: &'a str,
    pub brand: Uuid,
    pub signal: &'a Signal,
    /// When the signal was raised, RFC 3339 UTC.
    pub raised_at: String,
}

/// The JSON body of a `webhook` channel's alert (it is signed by Standard Webhooks like every
/// delivery): `{"type": "alert.<rule_type>", "alert_uuid", "alert_rule_uuid", "rule_type",
/// "brand_uuid", "summary", "signal": {...}, "raised_at"}`.
pub fn webhook_payload(f: &AlertFacts<'_>) -> Value {
    json!({
        "type": format!("alert.{}", f.rule_type),
        "alert_uuid": f.alert.to_string(),
        "alert_rule_uuid": f.rule.map(|r| r.to_string()),
        "rule_type": f.rule_type,
        "brand_uuid": f.brand.to_string(),
        "summary": f.signal.summary(),
        "signal": f.signal.to_json(),
        "raised_at": f.raised_at,
    })
}

/// The text line every chat channel shows.
fn chat_text(payload: &Value) -> String {
    let summary = payload["summary"].as_str().unwrap_or("alert");
    let at = payload["raised_at"].as_str().unwrap_or("");
    format!("[hookwheel] {summary} ({at})")
}

/// A Slack incoming-webhook message: `{"text": ..., "blocks": [a section with the same
/// text]}` (Slack shows `text` in notifications and `blocks` in the channel).
pub fn slack_body(payload: &Value) -> Value {
    let text = chat_text(payload);
    json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

/// A Discord incoming-webhook message: `{"content": ...}`, cut to Discord's 2,000
/// characters.
pub fn discord_body(payload: &Value) -> Value {
    let text = chat_text(payload);
    let content: String = match text.char_indices().nth(DISCORD_CONTENT_CHARS_MAX) {
        Some((at, _)) => format!("{}…", &text[..at - 3]),
        None => text,
    };
    json!({"content": content})
}

/// An email's subject and plain-text body.
pub fn email_message(payload: &Value) -> (String, String) {
    let summary = payload["summary"].as_str().unwrap_or("alert");
    let mut subject: String = format!("[hookwheel] {summary}").chars().filter(|c| !c.is_control()).collect();
    if let Some((at, _)) = subject.char_indices().nth(200) {
        subject.truncate(at);
    }
    let signal = serde_json::to_string_pretty(&payload["signal"]).unwrap_or_default();
    let body = format!(
        "{summary}\n\nRule type: {}\nRule: {}\nAlert: {}\nRaised at: {}\n\nSignal:\n{signal}\n",
        payload["rule_type"].as_str().unwrap_or(""),
        payload["alert_rule_uuid"].as_str().unwrap_or("(test)"),
        payload["alert_uuid"].as_str().unwrap_or(""),
        payload["raised_at"].as_str().unwrap_or(""),
    );
    (subject, mail_text(&body))
}

/// A mail body safe for SMTP DATA: line ends are LF only (the client sends each as CRLF; a
/// bare CR is never sent, RFC 5321 §2.3.8), and other control characters but tab are dropped.
fn mail_text(body: &str) -> String {
    body.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn a_monitor_down_summary_says_whether_a_ping_failed_or_none_came() {
        let missed = Signal::MonitorDown { monitor: id(1), name: "backup".into(), failed: false };
        let failed = Signal::MonitorDown { monitor: id(1), name: "backup".into(), failed: true };
        assert_eq!(missed.summary(), "Monitor \"backup\" is DOWN: an expected ping did not arrive");
        assert_eq!(failed.summary(), "Monitor \"backup\" is DOWN: a ping reported a failure");
        // An outbox entry written before the field existed still reads (as a missed ping).
        let old: Signal =
            serde_json::from_value(json!({"kind": "monitor_down", "monitor": id(1), "name": "b"})).unwrap();
        assert_eq!(old, Signal::MonitorDown { monitor: id(1), name: "b".into(), failed: false });
    }

    #[test]
    fn a_mail_body_carries_no_bare_cr_nor_other_control_characters() {
        let p = json!({"summary": "Approval \"a\rBcc: evil@x.com\u{0}\" waits", "signal": {"title": "x\ry\u{7}"}});
        let (subject, body) = email_message(&p);
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        assert!(!body.contains('\r') && !body.contains('\u{0}') && !body.contains('\u{7}'), "{body:?}");
        assert!(body.starts_with("Approval \"a\nBcc: evil@x.com\" waits\n"), "{body:?}");
    }

    fn rule(t: RuleType, watch: Watch) -> RuleSpec {
        RuleSpec { rule_type: t, watch, thresholds: Thresholds::default(), cooldown_seconds: COOLDOWN_SECONDS_DEFAULT }
    }

    fn down(m: u128) -> Signal {
        Signal::MonitorDown { monitor: id(m), name: "backup".into(), failed: false }
    }

    #[test]
    fn rules_match_their_type_and_watched_object() {
        let r = rule(RuleType::MonitorDown, None);
        assert!(matches(id(9), &r, &down(1)), "a brand-wide rule sees every monitor");
        assert!(!matches(id(9), &r, &Signal::MonitorUp { monitor: id(1), name: "x".into() }));
        let watched = rule(RuleType::MonitorDown, Some((WatchKind::Monitor, id(1))));
        assert!(matches(id(9), &watched, &down(1)));
        assert!(!matches(id(9), &watched, &down(2)));
        let failed = Signal::ExecutionFailed {
            execution: id(5),
            schedule: Some(id(6)),
            target_kind: "webhook".into(),
            target: id(7),
            reason: "HTTP 500".into(),
        };
        assert!(matches(id(9), &rule(RuleType::ExecutionFailed, Some((WatchKind::Schedule, id(6)))), &failed));
        assert!(matches(id(9), &rule(RuleType::ExecutionFailed, Some((WatchKind::Webhook, id(7)))), &failed));
        assert!(!matches(id(9), &rule(RuleType::ExecutionFailed, Some((WatchKind::Workflow, id(7)))), &failed));
        let open = Signal::CircuitOpen { domain: id(3), host: "api.example".into() };
        assert!(matches(id(9), &rule(RuleType::CircuitOpen, Some((WatchKind::Domain, id(3)))), &open));
        // The stalled signal of a pipeline goes to monitor_down rules of that monitor.
        let stalled = Signal::Stalled { monitor: id(1), name: "etl".into(), stage: "load".into() };
        assert!(matches(id(9), &watched, &stalled));
    }

    #[test]
    fn window_signals_go_to_the_rule_that_raised_them() {
        let mut r = rule(RuleType::FailureRate, None);
        r.thresholds = Thresholds { threshold_percent: Some(50), window_seconds: Some(60), ..Thresholds::default() };
        let s = Signal::FailureRate { rule: id(1), watch: None, failed: 1, count: 1, percent: 100, window_seconds: 60 };
        assert!(matches(id(1), &r, &s));
        assert!(!matches(id(2), &r, &s));
    }

    #[test]
    fn approval_waiting_needs_the_rules_wait() {
        let mut r = rule(RuleType::ApprovalWaiting, None);
        r.thresholds.waiting_seconds = Some(60);
        let s = |w| Signal::ApprovalWaiting {
            rule: id(9),
            plan: id(1),
            workflow: None,
            title: "deploy".into(),
            waited_seconds: w,
        };
        assert!(!matches(id(9), &r, &s(59)));
        assert!(matches(id(9), &r, &s(60)));
        assert!(!matches(id(8), &r, &s(60)), "raised for another rule");
        assert_eq!(s(60).cooldown_subject(), id(1));
    }

    #[test]
    fn cooldown_counts_from_the_last_sent_alert() {
        assert!(cooldown_allows(None, 300, 0));
        assert!(!cooldown_allows(Some(1_000), 300, 300_999));
        assert!(cooldown_allows(Some(1_000), 300, 301_000));
        assert!(cooldown_allows(Some(1_000), 0, 1_000));
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = rule(RuleType::FailureRate, None);
        assert_eq!(r.validate().unwrap_err().field, "threshold_percent");
        r.thresholds.threshold_percent = Some(50);
        assert_eq!(r.validate().unwrap_err().field, "window_seconds");
        r.thresholds.window_seconds = Some(60);
        assert!(r.validate().is_ok());
        r.thresholds.waiting_seconds = Some(1);
        assert_eq!(r.validate().unwrap_err().field, "waiting_seconds");
        r.thresholds.waiting_seconds = None;
        r.thresholds.threshold_percent = Some(101);
        assert_eq!(r.validate().unwrap_err().field, "threshold_percent");
        let m = rule(RuleType::MonitorDown, Some((WatchKind::Domain, id(1))));
        assert_eq!(m.validate().unwrap_err().field, "domain_uuid");
        let l = rule(RuleType::Lateness, None);
        assert_eq!(l.validate().unwrap_err().field, "lateness_ms");
        let a = rule(RuleType::ApprovalWaiting, None);
        assert_eq!(a.validate().unwrap_err().field, "waiting_seconds");
        assert!(rule(RuleType::BudgetExceeded, Some((WatchKind::Monitor, id(1)))).validate().is_ok());
    }

    fn outcome(at: Millis, ok: bool, late: i64) -> Outcome {
        Outcome {
            at_ms: at,
            brand: id(100),
            ok,
            lateness_ms: Some(late),
            domain: Some(id(3)),
            webhook: Some(id(7)),
            workflow: None,
            schedule: Some(id(6)),
        }
    }

    #[test]
    fn failure_rate_over_a_window_with_a_minimum_count() {
        let mut r = rule(RuleType::FailureRate, Some((WatchKind::Domain, id(3))));
        r.thresholds = Thresholds {
            threshold_percent: Some(50),
            window_seconds: Some(60),
            min_count: Some(4),
            ..Default::default()
        };
        let mut log = OutcomeLog::default();
        log.push(outcome(1_000, false, 0));
        log.push(outcome(2_000, false, 0));
        log.push(outcome(3_000, true, 0));
        assert_eq!(log.evaluate(id(100), id(1), &r, 10_000), None, "below the minimum count");
        log.push(outcome(4_000, true, 0));
        let s = log.evaluate(id(100), id(1), &r, 10_000).expect("2 of 4 = 50 %");
        assert!(matches!(s, Signal::FailureRate { failed: 2, count: 4, percent: 50, .. }));
        assert_eq!(log.evaluate(id(101), id(1), &r, 10_000), None, "another brand sees nothing");
        // The failures leave the window.
        assert_eq!(log.evaluate(id(100), id(1), &r, 62_500), None);
        let other = rule(RuleType::FailureRate, Some((WatchKind::Domain, id(4))));
        assert_eq!(log.evaluate(id(100), id(1), &other, 10_000), None);
    }

    #[test]
    fn lateness_p99_over_a_window() {
        let mut r = rule(RuleType::Lateness, None);
        r.thresholds = Thresholds { lateness_ms: Some(500), window_seconds: Some(60), ..Default::default() };
        let mut log = OutcomeLog::default();
        for i in 0..99 {
            log.push(outcome(1_000 + i, true, 10));
        }
        log.push(outcome(2_000, true, 5_000));
        // 100 values: the p99 (nearest rank) is the 99th smallest: 10 ms.
        assert_eq!(log.evaluate(id(100), id(1), &r, 3_000), None);
        log.push(outcome(2_001, true, 5_000));
        let s = log.evaluate(id(100), id(1), &r, 3_000).expect("two slow of 101");
        assert!(matches!(s, Signal::Lateness { p99_ms: 5_000, count: 101, .. }));
        log.prune(3_000 + i64::from(WINDOW_SECONDS_MAX) * 1000);
        assert!(log.is_empty());
        assert_eq!(p99(&mut []), None);
        assert_eq!(p99(&mut [7]), Some(7));
    }

    #[test]
    fn payloads_for_each_channel_type() {
        let s = down(1);
        let f = AlertFacts {
            alert: id(20),
            rule: Some(id(21)),
            rule_type: "monitor_down",
            brand: id(100),
            signal: &s,
            raised_at: "2026-12-01T10:00:00Z".into(),
        };
        let p = webhook_payload(&f);
        assert_eq!(p["type"], "alert.monitor_down");
        assert_eq!(p["signal"]["kind"], "monitor_down");
        assert_eq!(p["signal"]["monitor_uuid"], id(1).to_string());
        assert!(p["summary"].as_str().unwrap().contains("\"backup\" is DOWN"));
        let slack = slack_body(&p);
        assert!(slack["text"].as_str().unwrap().starts_with("[hookwheel] Monitor \"backup\" is DOWN"));
        assert_eq!(slack["blocks"][0]["text"]["type"], "mrkdwn");
        let discord = discord_body(&p);
        assert_eq!(discord["content"], slack["text"]);
        let mut long = p.clone();
        long["summary"] = json!("x".repeat(5000));
        assert!(discord_body(&long)["content"].as_str().unwrap().chars().count() <= DISCORD_CONTENT_CHARS_MAX);
        let (subject, body) = email_message(&p);
        assert_eq!(subject, "[hookwheel] Monitor \"backup\" is DOWN: an expected ping did not arrive");
        assert!(body.contains("Rule type: monitor_down"));
        assert!(body.contains(&id(21).to_string()));
        let mut nl = p.clone();
        nl["summary"] = json!("a\r\nBcc: x@example.com");
        assert!(!email_message(&nl).0.contains('\n'), "no header injection through the subject");
    }
}
