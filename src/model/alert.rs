//! Notification channels, alert rules and the alert history (product.md §12). The decisions
//! (matching, cooldowns, windows, payloads) live in `crate::monitor::alert`.

use serde::{Deserialize, Serialize};

use super::{AlertId, AlertRuleId, BrandId, ChannelId, ExecutionId, Sealed};
use crate::monitor::alert::{RuleSpec, Signal};
use crate::time::Millis;

/// A channel's type (product.md §12 `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A JSON alert signed with Standard Webhooks.
    Webhook,
    /// A Slack incoming webhook (`{"text": …}`).
    Slack,
    /// A Discord incoming webhook (`{"content": …}`).
    Discord,
    /// A mail through the SMTP server of config `[smtp]`.
    Email,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 4] =
        [ChannelKind::Webhook, ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<ChannelKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a channel sends: an HTTP(S) URL, or mail addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ChannelAddress {
    /// The URL sealed by the vault (the channel id as associated data): Slack and Discord
    /// URLs are credentials. `origin` (`scheme://host[:port]`) is what responses show.
    Url { sealed: Sealed, origin: String },
    /// The recipients.
    Email { to: Vec<String> },
}

/// A notification channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationChannel {
    pub id: ChannelId,
    pub brand: BrandId,
    pub name: String,
    pub kind: ChannelKind,
    pub address: ChannelAddress,
    /// A `webhook` channel's Standard Webhooks signing secret (`whsec_…`), sealed with the
    /// channel id (as a domain id) as associated data.
    pub signing: Option<Sealed>,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// An alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub brand: BrandId,
    pub spec: RuleSpec,
    /// At least one, all of the brand.
    pub channels: Vec<ChannelId>,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// What became of a matched signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertOutcome {
    /// One execution per channel was created.
    Sent,
    /// Within the rule's cooldown for the same subject: nothing sent.
    Suppressed,
}

impl AlertOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOutcome::Sent => "sent",
            AlertOutcome::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<AlertOutcome> {
        match s {
            "sent" => Some(AlertOutcome::Sent),
            "suppressed" => Some(AlertOutcome::Suppressed),
            _ => None,
        }
    }
}

/// One alert of the history: a rule that matched a signal, sent or suppressed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub id: AlertId,
    pub brand: BrandId,
    pub rule: AlertRuleId,
    pub rule_type: String,
    pub outcome: AlertOutcome,
    pub signal: Signal,
    pub summary: String,
    pub channels: Vec<ChannelId>,
    /// The channel sends (one execution per channel; empty when suppressed).
    pub executions: Vec<ExecutionId>,
    /// When the signal was raised.
    pub raised_ms: Millis,
    /// When the rule was applied.
    pub at_ms: Millis,
}

/// Alerts kept per brand in the history (the oldest is dropped beyond this).
pub const ALERTS_KEPT_MAX: u64 = 10_000;

/// A raised signal waiting in the outbox for the alert worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxSignal {
    pub brand: BrandId,
    pub signal: Signal,
    pub raised_ms: Millis,
}
