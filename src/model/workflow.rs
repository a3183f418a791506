//! Workflows (definitions), their runs (state of one execution of a workflow) and approval
//! plans. A run's id is the id of the execution it belongs to (`run_uuid` = execution id).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{BrandId, DomainId, ExecutionId, HttpMethod, KeyId, PlanId, RetryPolicy, StepId, WorkflowId};
use crate::time::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunType {
    FifoSequential,
    Concurrently,
}

impl RunType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fifo_sequential" | "fifo" | "sequential" => Some(RunType::FifoSequential),
            "concurrently" | "concurrent" => Some(RunType::Concurrently),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunType::FifoSequential => "fifo_sequential",
            RunType::Concurrently => "concurrently",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStrategy {
    Stop,
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStrategy {
    None,
    FromFailedStep,
    FromInitialStep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Lte,
    Gte,
    In,
    Contains,
    /// The field is present and not `null` (`value` `false`: absent or `null`).
    Exists,
}

impl ConditionOp {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => ConditionOp::Eq,
            "ne" => ConditionOp::Ne,
            "lt" => ConditionOp::Lt,
            "gt" => ConditionOp::Gt,
            "lte" => ConditionOp::Lte,
            "gte" => ConditionOp::Gte,
            "in" => ConditionOp::In,
            "contains" => ConditionOp::Contains,
            "exists" => ConditionOp::Exists,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionOp::Eq => "eq",
            ConditionOp::Ne => "ne",
            ConditionOp::Lt => "lt",
            ConditionOp::Gt => "gt",
            ConditionOp::Lte => "lte",
            ConditionOp::Gte => "gte",
            ConditionOp::In => "in",
            ConditionOp::Contains => "contains",
            ConditionOp::Exists => "exists",
        }
    }
}

/// `execution_condition`: the step runs only if `field` (a template path) compares true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub field: String,
    pub operator: ConditionOp,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    Reject,
    Approve,
}

/// A workflow step: its inline HTTP call plus routing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: StepId,
    pub index: i64,
    pub identifier: String,
    /// The step's webhook, shown as `webhook.webhook_uuid`.
    pub webhook_id: uuid::Uuid,
    pub name: String,
    pub description: String,
    pub method: HttpMethod,
    pub path: String,
    pub domain: DomainId,
    pub retry: RetryPolicy,
    pub body: Value,
    pub headers: Map<String, Value>,
    pub query: Map<String, Value>,
    pub human_approval_required: bool,
    pub on_success: Option<String>,
    pub on_fail: Option<String>,
    pub delay_to_next_step_seconds: u32,
    pub condition: Option<Condition>,
    pub approval_timeout_seconds: Option<u32>,
    pub approval_timeout_action: TimeoutAction,
    pub created_ms: Millis,
}

impl Step {
    /// The step's inline call as a webhook template (rendering and views treat both alike).
    pub fn as_template(&self, brand: BrandId) -> super::WebhookTemplate {
        super::WebhookTemplate {
            id: super::TemplateId(self.webhook_id),
            brand,
            name: self.name.clone(),
            description: self.description.clone(),
            method: self.method,
            path: self.path.clone(),
            domain: self.domain,
            retry: self.retry,
            body: self.body.clone(),
            headers: self.headers.clone(),
            query: self.query.clone(),
            created_ms: self.created_ms,
            updated_ms: self.created_ms,
        }
    }

    /// Takes the call fields back from a template (the inverse of [`Step::as_template`]).
    pub fn set_call(&mut self, t: super::WebhookTemplate) {
        self.name = t.name;
        self.description = t.description;
        self.method = t.method;
        self.path = t.path;
        self.domain = t.domain;
        self.retry = t.retry;
        self.body = t.body;
        self.headers = t.headers;
        self.query = t.query;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub id: WorkflowId,
    pub brand: BrandId,
    pub name: String,
    pub description: String,
    pub runtype: RunType,
    pub failure_strategy: FailureStrategy,
    pub retry_strategy: RetryStrategy,
    pub max_retries: u32,
    pub retry_delay_seconds: u32,
    /// Ordered by index.
    pub steps: Vec<Step>,
    pub created_ms: Millis,
    pub updated_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    WaitingApproval,
    Succeeded,
    Failed,
    CompletedWithFailures,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::WaitingApproval => "waiting_approval",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::CompletedWithFailures => "completed_with_failures",
            RunStatus::Cancelled => "cancelled",
        }
    }
    pub fn is_finished(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::WaitingApproval)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    WaitingApproval,
    Rejected,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::WaitingApproval => "waiting_approval",
            StepStatus::Rejected => "rejected",
        }
    }
    pub fn is_finished(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed | StepStatus::Skipped | StepStatus::Rejected)
    }
}

/// One visit of a step in a run (a cycle can visit a step more than once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub step: StepId,
    pub identifier: String,
    pub index: i64,
    pub status: StepStatus,
    /// The delivery execution carrying this visit's HTTP attempts.
    pub execution: Option<ExecutionId>,
    pub status_code: Option<u16>,
    /// The response body parsed as JSON (Null when it was not JSON).
    pub response: Option<Value>,
    pub error: Option<String>,
    pub started_ms: Option<Millis>,
    pub finished_ms: Option<Millis>,
    /// The context the step was rendered with (initial + earlier steps' results).
    pub context: Option<Value>,
    pub plan: Option<PlanId>,
}

/// What a run waits for, if anything besides running steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Waiting {
    /// `delay_to_next_step` before entering `next`.
    Delay { until: Millis, next: StepId },
    /// A workflow-level retry (`retry_strategy`) restarting at `from` (all failed steps in
    /// concurrent mode when `from` is None).
    Retry { until: Millis, from: Option<StepId> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// = the execution id of the run.
    pub id: ExecutionId,
    pub brand: BrandId,
    pub workflow: WorkflowId,
    pub status: RunStatus,
    pub initial_context: Map<String, Value>,
    pub visits: Vec<StepRun>,
    pub waiting: Option<Waiting>,
    /// Step visits started, against the configured bound.
    pub steps_started: u32,
    pub workflow_retries: u32,
    pub created_ms: Millis,
    pub finished_ms: Option<Millis>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    WaitingApproval,
    Approved,
    Rejected,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::WaitingApproval => "waiting_approval",
            PlanStatus::Approved => "active",
            PlanStatus::Rejected => "rejected",
        }
    }
}

/// A human-approval gate: in front of one step visit of a workflow run, or a standalone
/// approval request (`create_approval_request`, `standalone` set). A standalone plan has no
/// run: its workflow fields (`run`, `workflow`, `step`) are nil ids, `workflow_name` and
/// `identifier` empty, `index`, `visit` and `delay_to_next_step_seconds` 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalPlan {
    pub id: PlanId,
    pub brand: BrandId,
    pub run: ExecutionId,
    pub workflow: WorkflowId,
    pub workflow_name: String,
    pub step: StepId,
    pub identifier: String,
    pub index: i64,
    pub visit: usize,
    pub delay_to_next_step_seconds: u32,
    pub status: PlanStatus,
    pub deadline_ms: Option<Millis>,
    pub timeout_action: TimeoutAction,
    /// The API key that decided (None: decided by the timeout).
    pub decided_by: Option<KeyId>,
    pub decided_at: Option<Millis>,
    pub created_ms: Millis,
    /// The decider's note (`human_approval_action` `notes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// A standalone approval request's own data (None: a workflow step's plan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Box<StandaloneApproval>>,
}

impl ApprovalPlan {
    /// True for a standalone approval request (no workflow run behind it).
    pub fn is_standalone(&self) -> bool {
        self.standalone.is_some()
    }
}

/// What a standalone approval runs once decided: an execution of a webhook template or a
/// workflow (the `schedule_to` + `model_to_schedule_uuid` pair of subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalTarget {
    pub kind: super::TargetKind,
    pub id: uuid::Uuid,
}

/// The part of a plan only a standalone approval request has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandaloneApproval {
    pub title: String,
    /// Given at creation; the target's execution sees it plus `approval`.
    pub context: Map<String, Value>,
    pub on_approve: Option<ApprovalTarget>,
    pub on_reject: Option<ApprovalTarget>,
    /// The decision was the timeout's (`timeout_action`), not a person's.
    #[serde(default)]
    pub timed_out: bool,
    /// The execution of the chosen target, created with the decision.
    #[serde(default)]
    pub execution: Option<ExecutionId>,
}
