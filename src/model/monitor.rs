//! Monitors (product.md §11): the stored monitor, its state, its ping history, its status
//! changes, and the brand's ping key. The decisions live in `crate::monitor::heartbeat`.

use serde::{Deserialize, Serialize};

use super::{BrandId, MonitorId, PingId, Sealed};
use crate::monitor::heartbeat::{self, PingKind, Signal, Status};
use crate::time::Millis;

/// A monitor's kind (product.md §11 `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorKind {
    Heartbeat,
    /// Stage pings (`crate::monitor::pipeline`); its `spec` is unused.
    Pipeline,
}

impl MonitorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MonitorKind::Heartbeat => "heartbeat",
            MonitorKind::Pipeline => "pipeline",
        }
    }
}

/// A monitor's configuration. Changed only through the API; its state is a separate record
/// ([`MonitorState`]) written by pings and deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Monitor {
    pub id: MonitorId,
    pub brand: BrandId,
    pub name: String,
    /// Unique within the brand; addresses the monitor under the brand's ping key.
    pub slug: String,
    pub kind: MonitorKind,
    pub spec: heartbeat::Spec,
    /// A pipeline monitor's stages, timeouts and budgets (`kind` `pipeline` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<crate::monitor::pipeline::Spec>,
    /// The ping token, sealed by the vault (the monitor id as associated data).
    pub token: Sealed,
    /// SHA-256 of the token: the index key that finds the monitor.
    pub token_hash: [u8; 32],
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

/// A monitor's changing state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorState {
    pub state: heartbeat::State,
    /// Pings received in all (the history keeps the newest [`PINGS_KEPT_MAX`]).
    pub pings_total: u64,
    /// Pings in the history now.
    pub pings_kept: u32,
    /// Status changes in all (also the key of the next one).
    pub flips_total: u64,
    /// Status changes in the history now.
    pub flips_kept: u32,
}

/// Pings kept per monitor (the oldest is removed when a new one arrives beyond this).
pub const PINGS_KEPT_MAX: u32 = 1000;
/// Status changes kept per monitor.
pub const FLIPS_KEPT_MAX: u32 = 100;
/// Bytes of a ping's body kept (Healthchecks keeps the first 10 KiB by default).
pub const PING_BODY_BYTES_MAX: usize = 10 * 1024;

impl MonitorState {
    pub fn new(now: Millis) -> MonitorState {
        MonitorState { state: heartbeat::State::new(now), pings_total: 0, pings_kept: 0, flips_total: 0, flips_kept: 0 }
    }
}

/// One ping as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub id: PingId,
    pub kind: PingKind,
    /// The exit status of a `/ping/<token>/<exit_status>` ping.
    pub exit_status: Option<u8>,
    pub rid: Option<String>,
    /// `GET`, `POST` or `HEAD`.
    pub method: String,
    /// Which URL form: `token` or `slug`.
    pub via: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The body's first [`PING_BODY_BYTES_MAX`] bytes, as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body's full length, bytes.
    pub body_bytes: u64,
    /// A run's duration: this end ping paired with its start (ms).
    pub duration_ms: Option<i64>,
    pub received_ms: Millis,
    /// The monitor's status after this ping.
    pub status_after: Status,
}

/// What changed a monitor's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlipCause {
    Ping,
    Deadline,
    Pause,
    Resume,
    Update,
    /// A pipeline's stage ping (its current instance opened, continued or completed).
    Stage,
    /// A pipeline's current instance stalled (its stall deadline passed).
    Stalled,
}

impl FlipCause {
    pub fn as_str(self) -> &'static str {
        match self {
            FlipCause::Ping => "ping",
            FlipCause::Deadline => "deadline",
            FlipCause::Pause => "pause",
            FlipCause::Resume => "resume",
            FlipCause::Update => "update",
            FlipCause::Stage => "stage",
            FlipCause::Stalled => "stalled",
        }
    }
}

/// One status change as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flip {
    pub seq: u64,
    pub from: Status,
    pub to: Status,
    pub at_ms: Millis,
    /// A deadline's change: the deadline that expired.
    pub deadline_ms: Option<Millis>,
    pub cause: FlipCause,
    pub signal: Option<Signal>,
}

/// A brand's ping key: addresses monitors by slug (`/ping/<ping_key>/<slug>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingKey {
    pub brand: BrandId,
    /// Sealed by the vault (the brand id as associated data).
    pub sealed: Sealed,
    pub hash: [u8; 32],
    pub created_ms: Millis,
}

/// A pipeline monitor's running record beside its [`MonitorState`]: its current instance, the
/// bounded instance history's counters, the day's spending, and (dynamic pipelines) the stages
/// seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// The instance stage pings apply to (the newest one).
    pub current: Option<super::InstanceId>,
    /// Instances opened in all (the history keeps the newest [`INSTANCES_KEPT_MAX`]).
    pub instances_total: u64,
    /// Instances in the history now.
    pub instances_kept: u32,
    /// Strict-mode refusals with no instance open (those with one are in its history).
    pub refused_without_instance: u64,
    pub day: crate::monitor::pipeline::DayBudget,
    /// A dynamic pipeline's stages as seen (path, latest label), in path order; at most
    /// `pipeline::STAGES_MAX`.
    pub seen: Vec<(crate::monitor::pipeline::StagePath, Option<String>)>,
}

/// Instances kept per pipeline monitor (the oldest is removed beyond this).
pub const INSTANCES_KEPT_MAX: u32 = 1000;
