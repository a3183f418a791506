//! Workflow endpoints: `add_workflow_template`, `add_workflow_step`,
//! `get_workflow_template_paginated`, `single_workflow_template_detail` and the SDK's variants;
//! extensions `update_/delete_workflow_template`, `update_/delete_workflow_step`,
//! `execute_workflow`, run history (`get_workflow_runs_paginated`, `get_workflow_run_details`,
//! `rerun_workflow_run`); human approval (`get_all_pending_approvals_paginated`,
//! `human_approval_action`).
//!
//! Routes (`on_success_next_step_identifier`, `on_fail_next_step_identifier`) may name a step
//! that does not exist yet (HookPulse clients add steps in index order); the detail view lists
//! such dangling routes, and a run that reaches one fails.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::fields::{Context, Id, Int, JsonBody, JsonObject, Line, List, Nullable, OneOf, Text};
use super::reply::{ApiResult, PAGE_MAX, PageQuery, ok, page_number, paginated};
use super::request::Cx;
use super::templates::{
    CallFields, DESCRIPTION_CHARS_MAX, HEADERS_MAX, MaxRetries, NAME_CHARS_MAX, PATH_CHARS_MAX, QUERY_PARAMS_MAX,
    Required, RetryDelay, TimeoutMs, URL_CHARS_MAX,
};
use crate::model::{
    Backoff, Condition, ConditionOp, Domain, DomainId, Execution, ExecutionId, ExecutionStatus, FailureStrategy,
    HttpMethod, PlanId, RetryPolicy, RetryStrategy, RunType, Step, StepId, StepStatus, TargetKind, TimeoutAction,
    Workflow, WorkflowId,
};
use crate::store::StoreError;
use crate::template::{Kind, for_each_string, scan};
use crate::time::{format_utc, tz};

/// Longest `step_identifier` (and route target).
const IDENTIFIER_CHARS_MAX: usize = 100;
const WORKFLOW_RETRIES_MAX: i64 = 100;
/// Longest delay, retry delay or approval timeout: 30 days, in seconds.
const DELAY_SECONDS_MAX: i64 = 30 * 86_400;
/// Most steps one request may carry; the configured `workflows.steps_per_workflow_max` (at most
/// this) applies on top.
const STEPS_PER_REQUEST_MAX: usize = 10_000;
/// Longest condition field path.
const CONDITION_FIELD_CHARS_MAX: usize = 1024;
/// Steps may be ordered anywhere in ±this range.
const INDEX_ABS_MAX: i64 = 1_000_000;

type Identifier = Line<IDENTIFIER_CHARS_MAX>;
type Delay = Int<0, DELAY_SECONDS_MAX>;
type ApprovalTimeout = Int<1, DELAY_SECONDS_MAX>;
type Index = Int<{ -INDEX_ABS_MAX }, INDEX_ABS_MAX>;

/// `add_workflow_template`: the documented fields, or the SDK's `name`, `mode` and inline
/// `steps` (each step object takes the `add_workflow_step` fields, or `name` + `url`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddWorkflow {
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub workflow_name: Line<NAME_CHARS_MAX>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub workflow_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// `fifo_sequential` or `concurrently` (also `fifo`, `concurrent`). Required, except that
    /// a request with inline `steps` defaults to `concurrently` (the SDK's default mode).
    #[serde(alias = "mode")]
    #[schemars(extend("x-aliases" = ["mode"]))]
    pub runtype: Option<OneOf<RunType>>,
    /// `stop` (default) or `continue`.
    pub failure_strategy: Option<OneOf<FailureStrategy>>,
    /// `none` (default), `from_failed_step` or `from_initial_step`.
    pub retry_strategy: Option<OneOf<RetryStrategy>>,
    /// Times a failed run is retried by `retry_strategy` (default 0).
    pub workflow_max_retries: Option<Int<0, WORKFLOW_RETRIES_MAX>>,
    /// Seconds before a failed run is retried.
    pub workflow_retry_delay: Option<Delay>,
    /// SDK: the steps, created with the workflow.
    pub steps: Option<List<InlineStep, STEPS_PER_REQUEST_MAX>>,
}

/// `update_workflow_template` (extension; the SDK sends `template_uuid` plus any fields).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkflow {
    /// The workflow's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub workflow_uuid: Id,
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub workflow_name: Option<Line<NAME_CHARS_MAX>>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub workflow_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// `fifo_sequential` (one step after another, by index) or `concurrently` (all at once).
    #[serde(alias = "mode")]
    #[schemars(extend("x-aliases" = ["mode"]))]
    pub runtype: Option<OneOf<RunType>>,
    /// A failed step without `on_fail_next_step_identifier`: `stop` the run (default) or `continue`.
    pub failure_strategy: Option<OneOf<FailureStrategy>>,
    /// How a failed run is retried: `none` (default), `from_failed_step` or `from_initial_step`.
    pub retry_strategy: Option<OneOf<RetryStrategy>>,
    /// Times a failed run is retried by `retry_strategy` (default 0).
    pub workflow_max_retries: Option<Int<0, WORKFLOW_RETRIES_MAX>>,
    /// Seconds before a failed run is retried.
    pub workflow_retry_delay: Option<Delay>,
}

/// A step's `execution_condition`: `{field, operator, value}`; `{}` or `null` means none.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionIn {
    /// Template path of the value to test, e.g. `step.response.status` (braces optional).
    pub field: Option<Line<CONDITION_FIELD_CHARS_MAX>>,
    /// The comparison: `eq`, `ne`, `lt`, `gt`, `lte`, `gte`, `in` (value is a list holding the field) or `contains` (the field holds the value).
    pub operator: Option<OneOf<ConditionOp>>,
    /// The value to compare with: any JSON value.
    pub value: Option<Value>,
}

/// `add_workflow_step`: a step with its own inline webhook, routing, condition and approval.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddStep {
    /// The workflow's id.
    pub workflow_uuid: Id,
    /// `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: OneOf<HttpMethod>,
    /// Order in a FIFO run (lowest first).
    pub index: Index,
    /// Unique in the workflow: 1–100 of `[A-Za-z0-9_-]`.
    #[serde(alias = "identifier")]
    #[schemars(extend("x-aliases" = ["identifier"]))]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]+$"))]
    pub step_identifier: Identifier,
    /// Default `step <n>`.
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub webhook_name: Option<Line<NAME_CHARS_MAX>>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub webhook_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// Required unless `url` is given.
    #[schemars(schema_with = "super::templates::optional_path_schema")]
    pub path: Option<Line<PATH_CHARS_MAX>>,
    /// Required unless `url` is given.
    pub domain_uuid: Option<Id>,
    /// `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid` (the domain is reused or registered).
    #[schemars(schema_with = "super::templates::optional_url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// Seconds before the first retry (default 10).
    pub retry_delay: Option<RetryDelay>,
    /// How the delay grows: `linear` (default) or `exponential`.
    pub retry_backoff_mode: Option<OneOf<Backoff>>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    /// Per-attempt timeout in milliseconds (default 5000).
    pub request_timeout_in_milliseconds: Option<TimeoutMs>,
    /// The body: an object or array; string values are templatable.
    #[serde(alias = "body")]
    #[schemars(extend("x-aliases" = ["body"]))]
    pub request_body_json: Option<JsonBody>,
    /// Header name → value (scalars); values are templatable.
    #[serde(alias = "headers")]
    #[schemars(extend("x-aliases" = ["headers"]))]
    #[schemars(schema_with = "super::templates::optional_headers_schema")]
    pub headers_json: Option<JsonObject<HEADERS_MAX>>,
    /// Query parameter → value (scalars); values are templatable.
    #[serde(alias = "query_params")]
    #[schemars(extend("x-aliases" = ["query_params"]))]
    pub query_params_json: Option<JsonObject<QUERY_PARAMS_MAX>>,
    /// Whether the step waits for `human_approval_action` before its request (default false).
    pub human_approval_required: Option<bool>,
    /// The step to go to after success; empty or null = the next index. It may name a step
    /// added later.
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_success_next_step_identifier: Option<Identifier>,
    /// The step to go to after failure; empty or null = `failure_strategy`. It may name a step
    /// added later.
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_fail_next_step_identifier: Option<Identifier>,
    /// Seconds to wait before the next step.
    pub delay_to_next_step: Option<Delay>,
    /// Run the step only when this holds; `{}` or `null` means always.
    #[serde(alias = "condition")]
    #[schemars(extend("x-aliases" = ["condition"]))]
    pub execution_condition: Option<ConditionIn>,
    /// How long a step waiting for approval waits, in seconds (default: no timeout).
    pub approval_timeout_seconds: Option<ApprovalTimeout>,
    /// `reject` (default) or `approve`.
    pub approval_timeout_action: Option<OneOf<TimeoutAction>>,
}

/// What an inline step is (the SDK README's step objects carry `"type": "webhook"`).
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    Webhook,
}

/// One step of `add_workflow_template`'s `steps` (SDK): the `add_workflow_step` fields, all
/// optional. `index` defaults to the position, `step_identifier` to `step_<position>`; a step
/// without a name needs no `method` (POST).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InlineStep {
    /// Unique in the workflow: 1–100 of `[A-Za-z0-9_-]`.
    #[serde(alias = "identifier", alias = "id")]
    #[schemars(extend("x-aliases" = ["identifier", "id"]))]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]+$"))]
    pub step_identifier: Option<Identifier>,
    /// SDK: only `webhook` steps exist.
    #[serde(rename = "type")]
    pub step_type: Option<StepType>,
    /// Order in a FIFO run (lowest first).
    pub index: Option<Index>,
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub webhook_name: Option<Line<NAME_CHARS_MAX>>,
    /// The HTTP method: `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: Option<OneOf<HttpMethod>>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub webhook_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// Path on the domain, starting with `/` (or a `{{ placeholder }}`); templatable.
    #[schemars(schema_with = "super::templates::optional_path_schema")]
    pub path: Option<Line<PATH_CHARS_MAX>>,
    /// The domain's id.
    pub domain_uuid: Option<Id>,
    /// `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid` (the domain is reused or registered).
    #[schemars(schema_with = "super::templates::optional_url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// Seconds before the first retry (default 10).
    pub retry_delay: Option<RetryDelay>,
    /// How the delay grows: `linear` (default) or `exponential`.
    pub retry_backoff_mode: Option<OneOf<Backoff>>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    /// Per-attempt timeout in milliseconds (default 5000).
    pub request_timeout_in_milliseconds: Option<TimeoutMs>,
    /// The body: an object or array; string values are templatable.
    #[serde(alias = "body")]
    #[schemars(extend("x-aliases" = ["body"]))]
    pub request_body_json: Option<JsonBody>,
    /// Header name → value (scalars); values are templatable.
    #[serde(alias = "headers")]
    #[schemars(extend("x-aliases" = ["headers"]))]
    #[schemars(schema_with = "super::templates::optional_headers_schema")]
    pub headers_json: Option<JsonObject<HEADERS_MAX>>,
    /// Query parameter → value (scalars); values are templatable.
    #[serde(alias = "query_params")]
    #[schemars(extend("x-aliases" = ["query_params"]))]
    pub query_params_json: Option<JsonObject<QUERY_PARAMS_MAX>>,
    /// Whether the step waits for `human_approval_action` before its request (default false).
    pub human_approval_required: Option<bool>,
    /// The step to go to after success; empty or null = the next index.
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_success_next_step_identifier: Option<Identifier>,
    /// The step to go to after failure; empty or null = `failure_strategy`.
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_fail_next_step_identifier: Option<Identifier>,
    /// Seconds to wait before the next step (default 0).
    pub delay_to_next_step: Option<Delay>,
    /// Run the step only when this holds; `{}` or `null` means always.
    #[serde(alias = "condition")]
    #[schemars(extend("x-aliases" = ["condition"]))]
    pub execution_condition: Option<ConditionIn>,
    /// How long a step waiting for approval waits, in seconds (default: no timeout).
    pub approval_timeout_seconds: Option<ApprovalTimeout>,
    /// What happens when the approval times out: `reject` (default) or `approve`.
    pub approval_timeout_action: Option<OneOf<TimeoutAction>>,
}

/// `update_workflow_step` (extension): absent fields keep their values; a route or condition
/// given as `null` (or `""`, `{}`) is removed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateStep {
    /// The step's id.
    pub step_uuid: Id,
    /// Speeds up the lookup; must be the step's workflow when given.
    pub workflow_uuid: Option<Id>,
    /// Order in a FIFO run (lowest first).
    pub index: Option<Index>,
    /// Unique in the workflow: 1–100 of `[A-Za-z0-9_-]`.
    #[serde(alias = "identifier")]
    #[schemars(extend("x-aliases" = ["identifier"]))]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]+$"))]
    pub step_identifier: Option<Identifier>,
    /// Display name (not blank).
    #[serde(alias = "name")]
    #[schemars(extend("x-aliases" = ["name"]))]
    #[schemars(extend("pattern" = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*[^\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff][^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b\\u200e\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]*$"))]
    pub webhook_name: Option<Line<NAME_CHARS_MAX>>,
    /// The HTTP method: `GET`, `POST`, `PUT`, `DELETE` or `PATCH`.
    pub method: Option<OneOf<HttpMethod>>,
    /// Free-text description (default empty).
    #[serde(alias = "description")]
    #[schemars(extend("x-aliases" = ["description"]))]
    pub webhook_description: Option<Text<DESCRIPTION_CHARS_MAX>>,
    /// Path on the domain, starting with `/` (or a `{{ placeholder }}`); templatable.
    #[schemars(schema_with = "super::templates::optional_path_schema")]
    pub path: Option<Line<PATH_CHARS_MAX>>,
    /// The domain's id.
    pub domain_uuid: Option<Id>,
    /// `http(s)://host[:port]/path?query` instead of `path` + `domain_uuid` (the domain is reused or registered).
    #[schemars(schema_with = "super::templates::optional_url_schema")]
    pub url: Option<Line<URL_CHARS_MAX>>,
    /// Seconds before the first retry (default 10).
    pub retry_delay: Option<RetryDelay>,
    /// How the delay grows: `linear` (default) or `exponential`.
    pub retry_backoff_mode: Option<OneOf<Backoff>>,
    /// Retries after the first attempt (default 5).
    pub max_retries: Option<MaxRetries>,
    /// Per-attempt timeout in milliseconds (default 5000).
    pub request_timeout_in_milliseconds: Option<TimeoutMs>,
    /// The body: an object or array; string values are templatable.
    #[serde(alias = "body")]
    #[schemars(extend("x-aliases" = ["body"]))]
    pub request_body_json: Option<JsonBody>,
    /// Header name → value (scalars); values are templatable.
    #[serde(alias = "headers")]
    #[schemars(extend("x-aliases" = ["headers"]))]
    #[schemars(schema_with = "super::templates::optional_headers_schema")]
    pub headers_json: Option<JsonObject<HEADERS_MAX>>,
    /// Query parameter → value (scalars); values are templatable.
    #[serde(alias = "query_params")]
    #[schemars(extend("x-aliases" = ["query_params"]))]
    pub query_params_json: Option<JsonObject<QUERY_PARAMS_MAX>>,
    /// Whether the step waits for `human_approval_action` before its request (default false).
    pub human_approval_required: Option<bool>,
    /// The step to go to after success; empty or null = the next index.
    #[serde(default)]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_success_next_step_identifier: Nullable<Identifier>,
    /// The step to go to after failure; empty or null = `failure_strategy`.
    #[serde(default)]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]*$"))]
    pub on_fail_next_step_identifier: Nullable<Identifier>,
    /// Seconds to wait before the next step (default 0).
    pub delay_to_next_step: Option<Delay>,
    /// Run the step only when this holds; `{}` or `null` means always.
    #[serde(default, alias = "condition")]
    #[schemars(extend("x-aliases" = ["condition"]))]
    pub execution_condition: Nullable<ConditionIn>,
    /// How long a step waiting for approval waits, in seconds (default: no timeout).
    pub approval_timeout_seconds: Option<ApprovalTimeout>,
    /// What happens when the approval times out: `reject` (default) or `approve`.
    pub approval_timeout_action: Option<OneOf<TimeoutAction>>,
}

/// `delete_workflow_step` (extension).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRef {
    /// The step's id.
    pub step_uuid: Id,
    /// Speeds up the lookup; must be the step's workflow when given.
    pub workflow_uuid: Option<Id>,
}

/// A workflow by id: `single_workflow_template_detail`, `delete_workflow_template`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowRef {
    /// The workflow's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub workflow_uuid: Id,
}

/// The SDK's `get_workflow_template_uuid` (`{template_uuid}`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkWorkflowRef {
    /// The template's id (the SDK's name).
    #[serde(alias = "workflow_uuid")]
    #[schemars(extend("x-aliases" = ["workflow_uuid"]))]
    pub template_uuid: Id,
}

/// `execute_workflow`: start one run now.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteWorkflow {
    /// The workflow's id.
    #[serde(alias = "template_uuid")]
    #[schemars(extend("x-aliases" = ["template_uuid"]))]
    pub workflow_uuid: Id,
    /// The run's initial context (`{{ initial.key }}`).
    #[serde(alias = "initial_context_template", alias = "context")]
    #[schemars(extend("x-aliases" = ["initial_context_template", "context"]))]
    pub initial_context: Option<Context>,
}

/// `get_workflow_runs_paginated` (query).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// 1-based page number (default 1).
    pub page: Option<Int<1, PAGE_MAX>>,
    /// Only this workflow's runs.
    pub workflow_uuid: Option<Id>,
}

/// A run by id: `get_workflow_run_details`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRef {
    /// The run's id (the execution id `execute_workflow` returned).
    pub run_uuid: Id,
}

/// Where a rerun starts.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RerunFrom {
    InitialStep,
    FailedStep,
}

/// `rerun_workflow_run`: a finished run again, from its first step or its failed step.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rerun {
    /// The run's id (the execution id `execute_workflow` returned).
    pub run_uuid: Id,
    /// `initial_step` (default) or `failed_step`.
    pub from: Option<RerunFrom>,
    /// A new initial context (default: the run's).
    #[serde(alias = "context")]
    #[schemars(extend("x-aliases" = ["context"]))]
    pub initial_context: Option<Context>,
}

/// A human decision.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// `human_approval_action`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalAction {
    /// `approve` or `reject`.
    pub action: Decision,
    /// The waiting execution plan's id (from `get_all_pending_approvals_paginated`).
    #[serde(alias = "execution_plan_id")]
    #[schemars(extend("x-aliases" = ["execution_plan_id"]))]
    pub execution_plan_uuid: Id,
    /// A note recorded with the decision (extension; up to 2,000 characters).
    pub notes: Option<Text<NOTES_CHARS_MAX>>,
}

/// Longest `notes` of a decision.
const NOTES_CHARS_MAX: usize = 2000;

/// The step fields of one request, whichever input type carried them.
#[derive(Default)]
struct StepFields {
    call: CallFields,
    index: Option<i64>,
    identifier: Option<String>,
    human_approval_required: Option<bool>,
    on_success: Nullable<String>,
    on_fail: Nullable<String>,
    delay: Option<u32>,
    condition: Nullable<ConditionIn>,
    approval_timeout_seconds: Option<u32>,
    approval_timeout_action: Option<TimeoutAction>,
}

fn present<T>(o: Option<T>) -> Nullable<T> {
    o.map_or(Nullable::Absent, Nullable::Value)
}

fn line<const N: usize>(l: Line<N>) -> String {
    l.0
}

fn nullable_line<const N: usize>(n: Nullable<Line<N>>) -> Nullable<String> {
    match n {
        Nullable::Absent => Nullable::Absent,
        Nullable::Null => Nullable::Null,
        Nullable::Value(l) => Nullable::Value(l.0),
    }
}

impl From<AddStep> for StepFields {
    fn from(i: AddStep) -> Self {
        StepFields {
            call: CallFields {
                name: i.webhook_name.map(line),
                description: i.webhook_description.map(|d| d.0),
                method: Some(i.method.0),
                path: i.path.map(line),
                domain_uuid: i.domain_uuid,
                url: i.url.map(line),
                retry_delay: i.retry_delay,
                backoff: i.retry_backoff_mode.map(|b| b.0),
                max_retries: i.max_retries,
                timeout_ms: i.request_timeout_in_milliseconds,
                body: i.request_body_json,
                headers: i.headers_json,
                query: i.query_params_json,
            },
            index: Some(i.index.get()),
            identifier: Some(i.step_identifier.0),
            human_approval_required: i.human_approval_required,
            on_success: present(i.on_success_next_step_identifier.map(line)),
            on_fail: present(i.on_fail_next_step_identifier.map(line)),
            delay: i.delay_to_next_step.map(Int::u32),
            condition: present(i.execution_condition),
            approval_timeout_seconds: i.approval_timeout_seconds.map(Int::u32),
            approval_timeout_action: i.approval_timeout_action.map(|a| a.0),
        }
    }
}

impl From<InlineStep> for StepFields {
    fn from(i: InlineStep) -> Self {
        // `type` can only be `webhook` (its type has that one value): nothing to apply.
        let _: Option<StepType> = i.step_type;
        StepFields {
            call: CallFields {
                name: i.webhook_name.map(line),
                description: i.webhook_description.map(|d| d.0),
                method: i.method.map(|m| m.0),
                path: i.path.map(line),
                domain_uuid: i.domain_uuid,
                url: i.url.map(line),
                retry_delay: i.retry_delay,
                backoff: i.retry_backoff_mode.map(|b| b.0),
                max_retries: i.max_retries,
                timeout_ms: i.request_timeout_in_milliseconds,
                body: i.request_body_json,
                headers: i.headers_json,
                query: i.query_params_json,
            },
            index: i.index.map(Int::get),
            identifier: i.step_identifier.map(line),
            human_approval_required: i.human_approval_required,
            on_success: present(i.on_success_next_step_identifier.map(line)),
            on_fail: present(i.on_fail_next_step_identifier.map(line)),
            delay: i.delay_to_next_step.map(Int::u32),
            condition: present(i.execution_condition),
            approval_timeout_seconds: i.approval_timeout_seconds.map(Int::u32),
            approval_timeout_action: i.approval_timeout_action.map(|a| a.0),
        }
    }
}

impl From<UpdateStep> for StepFields {
    fn from(i: UpdateStep) -> Self {
        StepFields {
            call: CallFields {
                name: i.webhook_name.map(line),
                description: i.webhook_description.map(|d| d.0),
                method: i.method.map(|m| m.0),
                path: i.path.map(line),
                domain_uuid: i.domain_uuid,
                url: i.url.map(line),
                retry_delay: i.retry_delay,
                backoff: i.retry_backoff_mode.map(|b| b.0),
                max_retries: i.max_retries,
                timeout_ms: i.request_timeout_in_milliseconds,
                body: i.request_body_json,
                headers: i.headers_json,
                query: i.query_params_json,
            },
            index: i.index.map(Int::get),
            identifier: i.step_identifier.map(line),
            human_approval_required: i.human_approval_required,
            on_success: nullable_line(i.on_success_next_step_identifier),
            on_fail: nullable_line(i.on_fail_next_step_identifier),
            delay: i.delay_to_next_step.map(Int::u32),
            condition: i.execution_condition,
            approval_timeout_seconds: i.approval_timeout_seconds.map(Int::u32),
            approval_timeout_action: i.approval_timeout_action.map(|a| a.0),
        }
    }
}

/// The workflow-level settings of a create or update.
struct Settings {
    name: Option<String>,
    description: Option<String>,
    runtype: Option<RunType>,
    failure_strategy: Option<FailureStrategy>,
    retry_strategy: Option<RetryStrategy>,
    max_retries: Option<u32>,
    retry_delay: Option<u32>,
}

fn load(cx: &Cx, id: Id) -> Result<Workflow, ApiError> {
    cx.app.store.get_workflow(cx.brand.id, WorkflowId(id.0))?.ok_or(ApiError::NotFound("Workflow"))
}

fn apply_settings(s: Settings, wf: &mut Workflow) -> Result<(), ApiError> {
    if let Some(n) = s.name {
        if n.trim().is_empty() {
            return Err(ApiError::invalid("workflow_name", format!("1 to {NAME_CHARS_MAX} characters")));
        }
        wf.name = n;
    }
    if let Some(d) = s.description {
        wf.description = d;
    }
    if let Some(rt) = s.runtype {
        wf.runtype = rt;
    }
    if let Some(f) = s.failure_strategy {
        wf.failure_strategy = f;
    }
    if let Some(r) = s.retry_strategy {
        wf.retry_strategy = r;
    }
    if let Some(m) = s.max_retries {
        wf.max_retries = m;
    }
    if let Some(d) = s.retry_delay {
        wf.retry_delay_seconds = d;
    }
    Ok(())
}

/// The request field of the step that references `{{ step… }}`, if any.
fn step_variable_field(s: &Step) -> Option<&'static str> {
    let is_step = |path: &str| path == "step" || path.starts_with("step.");
    let uses = |v: &Value| {
        let mut found = false;
        for_each_string(v, &mut |x| {
            found |= scan(x).iter().any(|p| matches!(p.kind, Kind::Path(path) if is_step(path)))
        });
        found
    };
    if uses(&Value::String(s.path.clone())) {
        return Some("path");
    }
    if s.headers.values().any(uses) {
        return Some("headers_json");
    }
    if s.query.values().any(uses) {
        return Some("query_params_json");
    }
    if uses(&s.body) {
        return Some("request_body_json");
    }
    match &s.condition {
        Some(c) if is_step(crate::workflow::condition::field_path(&c.field)) => Some("execution_condition.field"),
        _ => None,
    }
}

fn check_identifier(field: &str, i: &str) -> Result<(), ApiError> {
    if i.is_empty() || !i.chars().all(crate::template::is_name_char) {
        return Err(ApiError::invalid(field, format!("1-{IDENTIFIER_CHARS_MAX} letters, digits, '_' or '-'")));
    }
    Ok(())
}

/// A route as given: absent keeps it, `null` or `""` removes it, else it names a step (which
/// need not exist yet).
fn route(field: &'static str, r: Nullable<String>) -> Result<Option<Option<String>>, ApiError> {
    match r {
        Nullable::Absent => Ok(None),
        Nullable::Null => Ok(Some(None)),
        Nullable::Value(s) if s.trim().is_empty() => Ok(Some(None)),
        Nullable::Value(s) => {
            let s = s.trim().to_string();
            check_identifier(field, &s)?;
            Ok(Some(Some(s)))
        }
    }
}

fn condition(c: Nullable<ConditionIn>) -> Result<Option<Option<Condition>>, ApiError> {
    let c = match c {
        Nullable::Absent => return Ok(None),
        Nullable::Null => return Ok(Some(None)),
        Nullable::Value(c) => c,
    };
    if c.field.is_none() && c.operator.is_none() && c.value.is_none() {
        return Ok(Some(None));
    }
    let field = c
        .field
        .map(|f| f.0)
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| ApiError::Missing("execution_condition.field".into()))?;
    let operator = c.operator.ok_or_else(|| ApiError::Missing("execution_condition.operator".into()))?.0;
    Ok(Some(Some(Condition { field, operator, value: c.value.unwrap_or(Value::Null) })))
}

/// Builds or changes a step from the fields given. On create, a step without a name is named
/// `step <position>` and needs no method (POST); `index` defaults to the position and
/// `step_identifier` to `step_<position>`. Returns a domain to create when the step names a new
/// `url`'s domain.
fn apply_step(
    cx: &Cx,
    f: StepFields,
    s: &mut Step,
    creating: bool,
    position: usize,
) -> Result<Option<Domain>, ApiError> {
    let mut t = s.as_template(cx.brand.id);
    let required = match (creating, f.call.name.is_some()) {
        (false, _) => Required::NONE,
        (true, true) => Required::ALL,
        (true, false) => {
            t.name = format!("step {position}");
            Required { name: false, method: false, target: true }
        }
    };
    let new_domain = super::templates::apply(cx, f.call, &mut t, required)?;
    s.set_call(t);
    match f.index {
        Some(i) => s.index = i,
        None if creating => s.index = position as i64,
        None => {}
    }
    let ident = match f.identifier {
        None if creating => Some(format!("step_{position}")),
        other => other,
    };
    if let Some(i) = ident {
        check_identifier("step_identifier", &i)?;
        s.identifier = i;
    }
    if let Some(b) = f.human_approval_required {
        s.human_approval_required = b;
    }
    if let Some(r) = route("on_success_next_step_identifier", f.on_success)? {
        s.on_success = r;
    }
    if let Some(r) = route("on_fail_next_step_identifier", f.on_fail)? {
        s.on_fail = r;
    }
    if let Some(d) = f.delay {
        s.delay_to_next_step_seconds = d;
    }
    if let Some(c) = condition(f.condition)? {
        s.condition = c;
    }
    if let Some(t) = f.approval_timeout_seconds {
        s.approval_timeout_seconds = Some(t);
    }
    if let Some(a) = f.approval_timeout_action {
        s.approval_timeout_action = a;
    }
    Ok(new_domain)
}

fn blank_step(now: i64) -> Step {
    Step {
        id: StepId::new(),
        index: 0,
        identifier: String::new(),
        webhook_id: uuid::Uuid::now_v7(),
        name: String::new(),
        description: String::new(),
        method: HttpMethod::Post,
        path: "/".into(),
        domain: DomainId(uuid::Uuid::nil()),
        retry: RetryPolicy::DEFAULT,
        body: Value::Object(Map::new()),
        headers: Map::new(),
        query: Map::new(),
        human_approval_required: false,
        on_success: None,
        on_fail: None,
        delay_to_next_step_seconds: 0,
        condition: None,
        approval_timeout_seconds: None,
        approval_timeout_action: TimeoutAction::Reject,
        created_ms: now,
    }
}

/// Checks a workflow as a whole: the step-count bound, unique identifiers, no step variables in
/// concurrent mode. Routes are not checked here: they may name steps added later (see
/// [`dangling_routes`]).
fn validate(wf: &Workflow, steps_max: usize) -> Result<(), StoreError> {
    if wf.steps.len() > steps_max {
        return Err(StoreError::rejected(
            "steps",
            format!("a workflow has at most {steps_max} steps (workflows.steps_per_workflow_max)"),
        ));
    }
    for (i, s) in wf.steps.iter().enumerate() {
        if wf.steps[..i].iter().any(|o| o.identifier == s.identifier) {
            return Err(StoreError::rejected(
                "step_identifier",
                format!("{:?} is already used in this workflow", s.identifier),
            ));
        }
        if wf.runtype == RunType::Concurrently
            && let Some(field) = step_variable_field(s)
        {
            return Err(StoreError::rejected(
                field,
                format!(
                    "step {:?} uses {{{{ step… }}}} variables, which concurrent workflows cannot resolve",
                    s.identifier
                ),
            ));
        }
    }
    Ok(())
}

/// Routes that name no step of the workflow: (step identifier, route field, target).
fn dangling_routes(wf: &Workflow) -> Vec<(&str, &'static str, &str)> {
    let mut out = Vec::new();
    for s in &wf.steps {
        for (field, r) in
            [("on_success_next_step_identifier", &s.on_success), ("on_fail_next_step_identifier", &s.on_fail)]
        {
            if let Some(target) = r
                && !wf.steps.iter().any(|o| &o.identifier == target)
            {
                out.push((s.identifier.as_str(), field, target.as_str()));
            }
        }
    }
    out
}

async fn ensure_domain(cx: &Cx, d: Option<Domain>) -> Result<Option<DomainId>, ApiError> {
    match d {
        Some(d) => super::domains::ensure_domain(cx, d).await.map(Some),
        None => Ok(None),
    }
}

pub async fn add_template(cx: Cx, input: AddWorkflow) -> ApiResult {
    let mut wf = Workflow {
        id: WorkflowId::new(),
        brand: cx.brand.id,
        name: String::new(),
        description: String::new(),
        runtype: RunType::FifoSequential,
        failure_strategy: FailureStrategy::Stop,
        retry_strategy: RetryStrategy::None,
        max_retries: 0,
        retry_delay_seconds: 0,
        steps: Vec::new(),
        created_ms: cx.now,
        updated_ms: cx.now,
    };
    let runtype = match (input.runtype, &input.steps) {
        (Some(rt), _) => rt.0,
        // The SDK's default mode.
        (None, Some(_)) => RunType::Concurrently,
        (None, None) => return Err(ApiError::Missing("runtype".into())),
    };
    let settings = Settings {
        name: Some(input.workflow_name.0),
        description: input.workflow_description.map(|d| d.0),
        runtype: Some(runtype),
        failure_strategy: input.failure_strategy.map(|f| f.0),
        retry_strategy: input.retry_strategy.map(|r| r.0),
        max_retries: input.workflow_max_retries.map(Int::u32),
        retry_delay: input.workflow_retry_delay.map(Int::u32),
    };
    apply_settings(settings, &mut wf)?;
    // The SDK sends inline `steps`; domains their urls name are registered only once the
    // whole workflow checked out (a refused call writes nothing).
    let mut new_domains: Vec<(StepId, Domain)> = Vec::new();
    for (i, item) in input.steps.map(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        let mut s = blank_step(cx.now);
        let nd = apply_step(&cx, item.into(), &mut s, true, i).map_err(|e| e.within(&format!("steps[{i}]")))?;
        if let Some(d) = nd {
            new_domains.push((s.id, d));
        }
        wf.steps.push(s);
    }
    wf.steps.sort_by_key(|s| s.index);
    validate(&wf, cx.app.live().workflows.steps_per_workflow_max)?;
    for s in wf.steps.iter().filter(|s| !new_domains.iter().any(|(id, _)| *id == s.id)) {
        cx.app.store.get_domain(cx.brand.id, s.domain)?.ok_or(ApiError::NotFound("Domain"))?;
    }
    for (id, d) in new_domains {
        if let Some(d) = ensure_domain(&cx, Some(d)).await?
            && let Some(s) = wf.steps.iter_mut().find(|s| s.id == id)
        {
            s.domain = d;
        }
    }
    let wf = cx.app.store.create_workflow(wf).await?;
    // The documented success text really says "Webhook Template added".
    ok(json!({"success": true, "details": "Webhook Template added", "workflow_uuid": wf.id.to_string()}))
}

pub async fn add_step(cx: Cx, input: AddStep) -> ApiResult {
    let wf = load(&cx, input.workflow_uuid)?;
    let mut s = blank_step(cx.now);
    let nd = apply_step(&cx, input.into(), &mut s, true, wf.steps.len())?;
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    if nd.is_some() {
        // Check before registering the url's domain (the writer checks again).
        let mut probe = wf.clone();
        probe.steps.push(s.clone());
        validate(&probe, steps_max)?;
    }
    if let Some(d) = ensure_domain(&cx, nd).await? {
        s.domain = d;
    }
    let id = s.id;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            w.steps.push(s);
            w.steps.sort_by_key(|s| s.index);
            validate(w, steps_max)
        })
        .await?;
    ok(json!({"success": true, "details": "Workflow webhook added successfully", "step_uuid": id.to_string()}))
}

fn find_step(cx: &Cx, step: Id, workflow: Option<Id>) -> Result<(Workflow, StepId), ApiError> {
    let step = StepId(step.0);
    if let Some(w) = workflow {
        let wf = load(cx, w)?;
        if wf.steps.iter().any(|s| s.id == step) {
            return Ok((wf, step));
        }
        return Err(ApiError::NotFound("Step"));
    }
    let mut page = 1;
    loop {
        let p = cx.app.store.list_workflows(cx.brand.id, page, 500)?;
        if let Some(wf) = p.items.into_iter().find(|w| w.steps.iter().any(|s| s.id == step)) {
            return Ok((wf, step));
        }
        if page * 500 >= p.total {
            return Err(ApiError::NotFound("Step"));
        }
        page += 1;
    }
}

pub async fn update_step(cx: Cx, input: UpdateStep) -> ApiResult {
    let (wf, step_id) = find_step(&cx, input.step_uuid, input.workflow_uuid)?;
    let mut s = wf.steps.iter().find(|s| s.id == step_id).cloned().ok_or(ApiError::NotFound("Step"))?;
    let nd = apply_step(&cx, input.into(), &mut s, false, 0)?;
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    if nd.is_some() {
        // Check before registering the url's domain (the writer checks again).
        let mut probe = wf.clone();
        if let Some(slot) = probe.steps.iter_mut().find(|x| x.id == step_id) {
            *slot = s.clone();
        }
        validate(&probe, steps_max)?;
    }
    if let Some(d) = ensure_domain(&cx, nd).await? {
        s.domain = d;
    }
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            let slot = w.steps.iter_mut().find(|x| x.id == step_id).ok_or(StoreError::NotFound("Step"))?;
            let old = std::mem::replace(slot, s);
            // A route may name a step not added yet, but a change must not break one that
            // resolves today.
            if !w.steps.iter().any(|x| x.identifier == old.identifier)
                && let Some(by) = w.steps.iter().find(|x| {
                    x.on_success.as_deref() == Some(old.identifier.as_str())
                        || x.on_fail.as_deref() == Some(old.identifier.as_str())
                })
            {
                return Err(StoreError::rejected(
                    "step_identifier",
                    format!("step {:?} routes to {:?}; change its routes first", by.identifier, old.identifier),
                ));
            }
            w.steps.sort_by_key(|s| s.index);
            validate(w, steps_max)
        })
        .await?;
    ok(json!({"success": true, "details": "Workflow step updated successfully", "step_uuid": step_id.to_string()}))
}

pub async fn delete_step(cx: Cx, input: StepRef) -> ApiResult {
    let (wf, step_id) = find_step(&cx, input.step_uuid, input.workflow_uuid)?;
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            let gone = w
                .steps
                .iter()
                .find(|x| x.id == step_id)
                .map(|x| x.identifier.clone())
                .ok_or(StoreError::NotFound("Step"))?;
            w.steps.retain(|x| x.id != step_id);
            if w.steps
                .iter()
                .any(|x| x.on_success.as_deref() == Some(gone.as_str()) || x.on_fail.as_deref() == Some(gone.as_str()))
            {
                return Err(StoreError::rejected(
                    "step_uuid",
                    format!("other steps route to {gone:?}; change their routes first"),
                ));
            }
            validate(w, steps_max)
        })
        .await?;
    ok(json!({"success": true, "details": "Workflow step deleted successfully", "step_uuid": step_id.to_string()}))
}

pub async fn update_template(cx: Cx, input: UpdateWorkflow) -> ApiResult {
    let wf = load(&cx, input.workflow_uuid)?;
    let mut probe = wf.clone();
    let settings = Settings {
        name: input.workflow_name.map(|n| n.0),
        description: input.workflow_description.map(|d| d.0),
        runtype: input.runtype.map(|r| r.0),
        failure_strategy: input.failure_strategy.map(|f| f.0),
        retry_strategy: input.retry_strategy.map(|r| r.0),
        max_retries: input.workflow_max_retries.map(Int::u32),
        retry_delay: input.workflow_retry_delay.map(Int::u32),
    };
    apply_settings(settings, &mut probe)?;
    if probe.runtype == RunType::Concurrently
        && let Some(s) = probe.steps.iter().find(|s| step_variable_field(s).is_some())
    {
        return Err(ApiError::invalid(
            "runtype",
            format!(
                "step {:?} uses {{{{ step… }}}} variables, which concurrent workflows cannot resolve",
                s.identifier
            ),
        ));
    }
    let steps_max = cx.app.live().workflows.steps_per_workflow_max;
    cx.app
        .store
        .update_workflow(cx.brand.id, wf.id, cx.now, move |w| {
            w.name = probe.name;
            w.description = probe.description;
            w.runtype = probe.runtype;
            w.failure_strategy = probe.failure_strategy;
            w.retry_strategy = probe.retry_strategy;
            w.max_retries = probe.max_retries;
            w.retry_delay_seconds = probe.retry_delay_seconds;
            validate(w, steps_max)
        })
        .await?;
    ok(
        json!({"success": true, "details": "Workflow template updated successfully", "workflow_uuid": wf.id.to_string()}),
    )
}

pub async fn delete_template(cx: Cx, input: WorkflowRef) -> ApiResult {
    let wf = load(&cx, input.workflow_uuid)?;
    let deactivated = cx.app.store.delete_workflow(cx.brand.id, wf.id, cx.now).await?;
    cx.app.schedules_deactivated(cx.brand.id, &deactivated, "its workflow template was deleted").await;
    ok(
        json!({"success": true, "details": "Workflow template deleted successfully", "workflow_uuid": wf.id.to_string()}),
    )
}

pub async fn list(cx: Cx, input: PageQuery) -> ApiResult {
    let page = input.number();
    let items = cx.app.store.list_workflows(cx.brand.id, page, cx.page_size)?;
    let zone = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &zone, |w| {
        json!({
            "inserted_at": tz::format_in_zone(w.created_ms, &zone),
            "workflow_name": w.name,
            "workflow_uuid": w.id.to_string(),
            "workflow_description": w.description,
            "runtype": w.runtype.as_str(),
            "total_workflow_steps": w.steps.len(),
        })
    })
}

fn step_view(cx: &Cx, s: &Step) -> Result<Value, ApiError> {
    let zone = cx.brand.timezone.as_str();
    let d = cx.app.store.get_domain(cx.brand.id, s.domain)?;
    let (host, proto) = d.map(|d| (d.host, d.protocol.as_str())).unwrap_or_default();
    let t = s.as_template(cx.brand.id);
    Ok(json!({
        "index": s.index,
        "timezone": zone,
        "inserted_at": tz::format_in_zone(s.created_ms, zone),
        "step_identifier": s.identifier,
        "human_approval_required": s.human_approval_required,
        "delay_to_next_step": s.delay_to_next_step_seconds,
        "webhook": {
            "path": s.path,
            "domain": {"protocol": proto, "domain": host},
            "method": s.method.as_str(),
            "webhook_uuid": s.webhook_id.to_string(),
            "webhook_name": s.name,
            "headers_json": s.headers,
            "query_params_json": s.query,
            "request_body_json": s.body,
            "expected_system_variables": super::templates::expected_system_variables(&t),
            "domain_uuid": s.domain.to_string(),
        },
        "step_uuid": s.id.to_string(),
        "execution_conditions": s.condition.iter().map(|c| json!({"value": c.value, "operator": c.operator.as_str(), "field": c.field})).collect::<Vec<_>>(),
        "on_success_next_step_identifier": s.on_success,
        "on_fail_next_step_identifier": s.on_fail,
        "retry_delay": s.retry.retry_delay_seconds,
        "retry_backoff_mode": s.retry.backoff.as_str(),
        "max_retries": s.retry.max_retries,
        "request_timeout_in_milliseconds": s.retry.request_timeout_ms,
        "approval_timeout_seconds": s.approval_timeout_seconds,
        "approval_timeout_action": match s.approval_timeout_action { TimeoutAction::Reject => "reject", TimeoutAction::Approve => "approve" },
    }))
}

fn detail_of(cx: &Cx, wf: &Workflow) -> ApiResult {
    let zone = cx.brand.timezone.as_str();
    let steps = wf.steps.iter().map(|s| step_view(cx, s)).collect::<Result<Vec<_>, _>>()?;
    ok(json!({"success": true, "data": {
        "timezone": zone,
        "inserted_at": tz::format_in_zone(wf.created_ms, zone),
        "workflow_name": wf.name,
        "workflow_uuid": wf.id.to_string(),
        "workflow_description": wf.description,
        "runtype": wf.runtype.as_str(),
        "workflow_steps": steps,
        "failure_strategy": match wf.failure_strategy { FailureStrategy::Stop => "stop", FailureStrategy::Continue => "continue" },
        "retry_strategy": match wf.retry_strategy { RetryStrategy::None => "none", RetryStrategy::FromFailedStep => "from_failed_step", RetryStrategy::FromInitialStep => "from_initial_step" },
        "workflow_max_retries": wf.max_retries,
        "workflow_retry_delay": wf.retry_delay_seconds,
        "dangling_routes": dangling_routes(wf)
            .into_iter()
            .map(|(step, field, target)| json!({"step_identifier": step, "field": field, "target": target}))
            .collect::<Vec<_>>(),
    }}))
}

pub async fn detail(cx: Cx, input: WorkflowRef) -> ApiResult {
    let wf = load(&cx, input.workflow_uuid)?;
    detail_of(&cx, &wf)
}

/// The SDK's `get_workflow_template_uuid` (`{template_uuid}`).
pub async fn detail_sdk(cx: Cx, input: SdkWorkflowRef) -> ApiResult {
    let wf = load(&cx, input.template_uuid)?;
    detail_of(&cx, &wf)
}

// ---- runs ----

fn run_execution(cx: &Cx, wf: &Workflow, context: Map<String, Value>, retry_of: Option<ExecutionId>) -> Execution {
    let mut e = Execution::manual(cx.brand.id, None, (TargetKind::Workflow, wf.id.0), context, cx.now);
    e.retry_of = retry_of;
    e
}

/// `execute_workflow` (`{workflow_uuid, initial_context}`): starts one run now.
pub async fn execute(cx: Cx, input: ExecuteWorkflow) -> ApiResult {
    let wf = load(&cx, input.workflow_uuid)?;
    let context = input.initial_context.unwrap_or_default().0;
    let e = cx.app.store.create_execution(run_execution(&cx, &wf, context, None)).await?;
    cx.app.scheduler.start_run(cx.brand.id, e.id).await;
    ok(
        json!({"success": true, "details": "Workflow run started", "run_uuid": e.id.to_string(), "execution_uuid": e.id.to_string()}),
    )
}

/// `rerun_workflow_run` (`{run_uuid, from: initial_step | failed_step, initial_context?}`).
pub async fn rerun(cx: Cx, input: Rerun) -> ApiResult {
    let old_id = ExecutionId(input.run_uuid.0);
    let old = cx.app.store.get_run(cx.brand.id, old_id)?.ok_or(ApiError::NotFound("Run"))?;
    if !old.status.is_finished() {
        return Err(ApiError::conflict(format!("Run is still {}", old.status.as_str())));
    }
    let wf = cx.app.store.get_workflow(cx.brand.id, old.workflow)?.ok_or(ApiError::NotFound("Workflow"))?;
    let from = input.from.unwrap_or(RerunFrom::InitialStep);
    let context = input.initial_context.map(|c| c.0).unwrap_or_else(|| old.initial_context.clone());
    let e = run_execution(&cx, &wf, context.clone(), Some(old.id));
    let mut run = crate::workflow::new_run(e.id, &wf, context, cx.now);
    let start: Vec<StepId> = match from {
        RerunFrom::InitialStep => Vec::new(),
        RerunFrom::FailedStep => {
            let failed =
                old.visits.iter().rev().find(|v| matches!(v.status, StepStatus::Failed | StepStatus::Rejected));
            let Some(failed) = failed else {
                return Err(ApiError::invalid("from", "the run has no failed step; use initial_step"));
            };
            // Earlier results carry over, so later steps can still read them.
            match wf.runtype {
                RunType::FifoSequential => {
                    let cut = old.visits.iter().position(|v| std::ptr::eq(v, failed)).unwrap_or(0);
                    run.visits =
                        old.visits[..cut].iter().filter(|v| v.status == StepStatus::Succeeded).cloned().collect();
                    vec![failed.step]
                }
                RunType::Concurrently => {
                    run.visits = old
                        .visits
                        .iter()
                        .filter(|v| matches!(v.status, StepStatus::Succeeded | StepStatus::Skipped))
                        .cloned()
                        .collect();
                    wf.steps.iter().filter(|s| !run.visits.iter().any(|v| v.step == s.id)).map(|s| s.id).collect()
                }
            }
        }
    };
    let e = cx.app.store.create_execution(e).await?;
    if start.is_empty() {
        cx.app.scheduler.start_run(cx.brand.id, e.id).await;
    } else {
        cx.app.store.write_run(crate::store::RunWrite { runs: vec![run], ..Default::default() }).await?;
        cx.app.scheduler.resume_run(cx.brand.id, e.id, start).await;
    }
    ok(
        json!({"success": true, "details": "Workflow run restarted", "run_uuid": e.id.to_string(), "rerun_of": old_id.to_string()}),
    )
}

pub async fn list_runs(cx: Cx, input: RunsQuery) -> ApiResult {
    let page = page_number(input.page);
    let wf = input.workflow_uuid.map(|w| WorkflowId(w.0));
    let items = cx.app.store.list_runs(cx.brand.id, wf, page, cx.page_size)?;
    paginated(items, page, cx.page_size, &cx.brand.timezone, |r| {
        json!({
            "run_uuid": r.id.to_string(),
            "workflow_uuid": r.workflow.to_string(),
            "status": r.status.as_str(),
            "reason": r.reason,
            "created_at": format_utc(r.created_ms),
            "finished_at": r.finished_ms.map(format_utc),
            "steps_started": r.steps_started,
            "workflow_retries": r.workflow_retries,
        })
    })
}

pub async fn run_details(cx: Cx, input: RunRef) -> ApiResult {
    let id = ExecutionId(input.run_uuid.0);
    let Some(r) = cx.app.store.get_run(cx.brand.id, id)? else {
        // The scheduler writes the run when it starts it, just after `execute_workflow` or a
        // fire answered with its id: until then the run is its execution, with no step yet.
        let e = cx
            .app
            .store
            .get_execution(cx.brand.id, id)?
            .filter(|e| e.target_kind == TargetKind::Workflow && e.step.is_none())
            .ok_or(ApiError::NotFound("Run"))?;
        let status = match e.status {
            ExecutionStatus::Pending | ExecutionStatus::Running => "running",
            other => other.as_str(),
        };
        return ok(json!({"success": true, "data": {
            "run_uuid": e.id.to_string(),
            "workflow_uuid": WorkflowId(e.target_id).to_string(),
            "status": status,
            "reason": e.reason,
            "initial_context": e.context,
            "created_at": format_utc(e.created_ms),
            "finished_at": e.finished_ms.map(format_utc),
            "workflow_retries": 0,
            "steps": [],
        }}));
    };
    let mut timeline = Vec::new();
    for v in &r.visits {
        let exec = match v.execution {
            Some(e) => cx.app.store.get_execution(cx.brand.id, e)?,
            None => None,
        };
        let attempts: Vec<Value> = exec
            .as_ref()
            .map(|e| {
                e.attempts
                    .iter()
                    .map(|a| json!({"attempt": a.n, "started_at": format_utc(a.started_ms), "latency_ms": a.latency_ms, "status_code": a.status_code, "error": a.error, "request": a.request, "response_excerpt": a.response_excerpt}))
                    .collect()
            })
            .unwrap_or_default();
        timeline.push(json!({
            "step_uuid": v.step.to_string(),
            "step_identifier": v.identifier,
            "index": v.index,
            "status": v.status.as_str(),
            "execution_uuid": v.execution.map(|e| e.to_string()),
            "execution_plan_uuid": v.plan.map(|p| p.to_string()),
            "started_at": v.started_ms.map(format_utc),
            "finished_at": v.finished_ms.map(format_utc),
            "status_code": v.status_code,
            "error": v.error,
            "response_excerpt": attempts.last().and_then(|a| a.get("response_excerpt").cloned()),
            "attempts": attempts,
            "context": v.context,
        }));
    }
    ok(json!({"success": true, "data": {
        "run_uuid": r.id.to_string(),
        "workflow_uuid": r.workflow.to_string(),
        "status": r.status.as_str(),
        "reason": r.reason,
        "initial_context": r.initial_context,
        "created_at": format_utc(r.created_ms),
        "finished_at": r.finished_ms.map(format_utc),
        "workflow_retries": r.workflow_retries,
        "steps": timeline,
    }}))
}

// ---- approvals ----

pub async fn pending_approvals(cx: Cx, input: PageQuery) -> ApiResult {
    let page = input.number();
    let items = cx.app.store.waiting_plans(cx.brand.id, page, cx.page_size)?;
    let zone = cx.brand.timezone.clone();
    paginated(items, page, cx.page_size, &zone, |p| {
        if let Some(s) = p.standalone.as_deref() {
            // A standalone approval request: no workflow, run or step.
            return json!({
                "execution_plan_uuid": p.id.to_string(),
                "kind": "standalone",
                "title": s.title,
                "context": s.context,
                "status": p.status.as_str(),
                "human_approval_required": true,
                "inserted_at": tz::format_in_zone(p.created_ms, &zone),
                "deadline_at": p.deadline_ms.map(format_utc),
                "timeout_action": timeout_action_str(p.timeout_action),
            });
        }
        json!({
            "execution_plan_uuid": p.id.to_string(),
            "kind": "workflow_step",
            "workflow_uuid": p.workflow.to_string(),
            "workflow_name": p.workflow_name,
            "step_identifier": p.identifier,
            "workflow_index": p.index,
            "status": p.status.as_str(),
            "human_approval_required": true,
            "delay_to_next_step": p.delay_to_next_step_seconds,
            "inserted_at": tz::format_in_zone(p.created_ms, &zone),
            "run_uuid": p.run.to_string(),
            "deadline_at": p.deadline_ms.map(format_utc),
            "timeout_action": timeout_action_str(p.timeout_action),
        })
    })
}

fn timeout_action_str(a: TimeoutAction) -> &'static str {
    match a {
        TimeoutAction::Reject => "reject",
        TimeoutAction::Approve => "approve",
    }
}

pub async fn approval_action(cx: Cx, input: ApprovalAction) -> ApiResult {
    let plan = PlanId(input.execution_plan_uuid.0);
    let approve = input.action == Decision::Approve;
    let p = cx.app.store.get_plan(cx.brand.id, plan)?.ok_or(ApiError::NotFound("Execution plan"))?;
    if p.status != crate::model::PlanStatus::WaitingApproval {
        // A standalone request names its outcome as get_approval_request does (`timed_out`).
        let status = if p.is_standalone() { crate::workflow::approval::request_status(&p) } else { p.status.as_str() };
        return Err(ApiError::conflict(format!("Execution plan is not waiting for approval (it is {status})")));
    }
    let notes = input.notes.map(|n| n.0);
    match cx.app.scheduler.decide(cx.brand.id, plan, approve, cx.key_id, notes).await {
        Ok(()) if p.is_standalone() && approve => ok(json!({"success": true, "message": "Approval request approved"})),
        Ok(()) if p.is_standalone() => ok(json!({"success": true, "message": "Approval request rejected"})),
        Ok(()) if approve => ok(json!({"success": true, "message": "Workflow approved and resumed"})),
        Ok(()) => ok(json!({"success": true, "message": "Workflow rejected and skipped"})),
        Err(crate::workflow::Refused::NotStored) => Err(super::executions::store_unavailable(&cx)),
        Err(_) => Err(ApiError::conflict("Execution plan is not waiting for approval")),
    }
}
