//! The endpoint table: every `/v1/api/` action with its methods, summary and handler. Each
//! handler takes one typed input (see [`super::input`]); the table reads the input's schema
//! from the handler's own signature, so routing, `/openapi.json` and validation share one
//! definition of every request.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use schemars::Schema;

use super::input;
use super::reply::ApiResult;
use super::request::{Cx, Req};
use super::{domains, executions, responses, schedules, secrets, templates, timezones, workflows};

pub type Handler = fn(Cx, Req) -> Pin<Box<dyn Future<Output = ApiResult> + Send>>;

/// A handler together with what the table knows about its input type.
pub struct Op {
    /// Reads the typed input from the request, then runs the handler.
    pub run: Handler,
    /// The input type's JSON Schema (body object, or query parameters for `GET`).
    pub schema: fn() -> Schema,
    /// Every name the input type accepts at its top level, aliases included.
    pub accepted: fn() -> &'static [&'static str],
    /// Reads a JSON body as the input type, without running the handler (for the examples'
    /// test).
    pub check: fn(serde_json::Map<String, serde_json::Value>) -> Result<(), super::error::ApiError>,
}

/// The JSON Schema of a success answer (a type of [`super::responses`]).
pub fn reply<T: schemars::JsonSchema>() -> Schema {
    input::schema_of::<T>()
}

pub struct Endpoint {
    pub name: &'static str,
    pub methods: &'static [Method],
    /// Creates or changes something: `Idempotency-Key` applies.
    pub mutating: bool,
    pub tag: &'static str,
    pub summary: &'static str,
    pub op: Op,
    /// The schema of the `200` answer's body.
    pub reply: fn() -> Schema,
}

impl Endpoint {
    /// `GET` endpoints take their input from the query string.
    pub fn reads_query(&self) -> bool {
        self.methods == GET
    }
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const DELETE_OR_POST: &[Method] = &[Method::DELETE, Method::POST];

/// `op!(module::handler)`: the handler, its input schema and accepted names, with the input
/// type taken from the handler's signature `async fn handler(cx: Cx, input: TheInput)`.
macro_rules! op {
    ($f:path) => {
        Op {
            run: |cx, req| Box::pin(async move { $f(cx, req.input()?).await }),
            schema: || input::schema_of_handler($f),
            accepted: || input::accepted_names_of_handler($f),
            check: |body| input::check_body_of_handler($f, body),
        }
    };
}

pub static ENDPOINTS: &[Endpoint] = &[
    // Domains
    Endpoint {
        name: "add_domain",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "Register a delivery domain with its traffic-guard settings; returns domain_uuid.",
        op: op!(domains::add),
        reply: reply::<responses::DomainChanged>,
    },
    Endpoint {
        name: "get_domain_paginated",
        methods: GET,
        mutating: false,
        tag: "domains",
        summary: "List the brand's domains.",
        op: op!(domains::list),
        reply: reply::<responses::Paginated<responses::DomainItem>>,
    },
    Endpoint {
        name: "get_domain_uuid",
        methods: POST,
        mutating: false,
        tag: "domains",
        summary: "Find a domain's uuid by name and protocol (SDK).",
        op: op!(domains::find_uuid),
        reply: reply::<responses::DomainFound>,
    },
    Endpoint {
        name: "update_domain",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "Change a domain (extension). Absent fields keep their values.",
        op: op!(domains::update),
        reply: reply::<responses::DomainChanged>,
    },
    Endpoint {
        name: "delete_domain",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "domains",
        summary: "Delete a domain (extension); 409 while webhook templates use it.",
        op: op!(domains::delete),
        reply: reply::<responses::DomainChanged>,
    },
    // Webhook templates
    Endpoint {
        name: "add_webhook_template",
        methods: POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Create a webhook template (or, SDK style, from a full url); returns webhook_uuid.",
        op: op!(templates::add),
        reply: reply::<responses::TemplateAdded>,
    },
    Endpoint {
        name: "get_webhook_template_paginated",
        methods: GET,
        mutating: false,
        tag: "webhook templates",
        summary: "List the brand's webhook templates.",
        op: op!(templates::list),
        reply: reply::<responses::Paginated<responses::TemplateItem>>,
    },
    Endpoint {
        name: "single_webhook_template_detail",
        methods: POST,
        mutating: false,
        tag: "webhook templates",
        summary: "One webhook template with its body, headers and query.",
        op: op!(templates::detail),
        reply: reply::<responses::TemplateDetailAnswer>,
    },
    Endpoint {
        name: "get_webhook_template_uuid",
        methods: POST,
        mutating: false,
        tag: "webhook templates",
        summary: "SDK alias of single_webhook_template_detail.",
        op: op!(templates::detail_sdk),
        reply: reply::<responses::TemplateDetailAnswer>,
    },
    Endpoint {
        name: "update_webhook_template",
        methods: POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Change a webhook template (extension). Absent fields keep their values.",
        op: op!(templates::update),
        reply: reply::<responses::TemplateChanged>,
    },
    Endpoint {
        name: "delete_webhook_template",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Delete a webhook template (extension).",
        op: op!(templates::delete),
        reply: reply::<responses::TemplateChanged>,
    },
    // Secret vault
    Endpoint {
        name: "add_system_secret",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "Store a secret, usable as {{ #secret_key }}; returns secret_uuid.",
        op: op!(secrets::add),
        reply: reply::<responses::SecretChanged>,
    },
    Endpoint {
        name: "get_secrets_paginated",
        methods: GET,
        mutating: false,
        tag: "secret vault",
        summary: "List secret names (never values).",
        op: op!(secrets::list),
        reply: reply::<responses::Paginated<responses::SecretItem>>,
    },
    Endpoint {
        name: "get_system_secret_paginated",
        methods: GET,
        mutating: false,
        tag: "secret vault",
        summary: "SDK alias of get_secrets_paginated.",
        op: op!(secrets::list),
        reply: reply::<responses::Paginated<responses::SecretItem>>,
    },
    Endpoint {
        name: "get_value_of_secret",
        methods: POST,
        mutating: false,
        tag: "secret vault",
        summary: "Read one secret, including its value (the only endpoint that returns it).",
        op: op!(secrets::value_of),
        reply: reply::<responses::SecretValueAnswer>,
    },
    Endpoint {
        name: "get_system_secret_uuid",
        methods: POST,
        mutating: false,
        tag: "secret vault",
        summary: "One secret's metadata without its value (the SDK's get_secret; only get_value_of_secret reveals values).",
        op: op!(secrets::metadata),
        reply: reply::<responses::SecretAnswer>,
    },
    Endpoint {
        name: "update_secret_value",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "Replace a secret's value.",
        op: op!(secrets::update),
        reply: reply::<responses::SecretChanged>,
    },
    Endpoint {
        name: "update_system_secret",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "SDK alias of update_secret_value.",
        op: op!(secrets::update),
        reply: reply::<responses::SecretChanged>,
    },
    Endpoint {
        name: "delete_secret",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "secret vault",
        summary: "Delete a secret.",
        op: op!(secrets::delete),
        reply: reply::<responses::SecretChanged>,
    },
    Endpoint {
        name: "delete_system_secret",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "secret vault",
        summary: "SDK alias of delete_secret.",
        op: op!(secrets::delete),
        reply: reply::<responses::SecretChanged>,
    },
    // Schedules
    Endpoint {
        name: "add_interval_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire every interval_value interval_period (second|minute|hour, extension day|week|month); returns schedule_uuid.",
        op: op!(schedules::add_interval),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_cron_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire on a 5- or 6-field cron expression in an IANA zone; returns schedule_uuid.",
        op: op!(schedules::add_cron),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_clocked_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire once at clocked_run_at; returns schedule_uuid.",
        op: op!(schedules::add_clocked),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_solar_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire at a solar event (plus offset) at a location, daily or once; returns schedule_uuid.",
        op: op!(schedules::add_solar),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_debounce_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "A schedule fired by trigger_debounce_schedule, debounced (extension); returns schedule_uuid.",
        op: op!(schedules::add_debounce),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "SDK create_schedule: schedule_type + driver fields, targeting webhook_url or a documented target.",
        op: op!(schedules::add_sdk),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "add_schedule_rule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Attach a rule (time_window, calendar_window, solar_window, exclusion, termination); returns rule_uuid.",
        op: op!(schedules::add_rule),
        reply: reply::<responses::RuleChanged>,
    },
    Endpoint {
        name: "list_schedule_rules",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "A schedule's rules (extension).",
        op: op!(schedules::list_rules),
        reply: reply::<responses::RulesAnswer>,
    },
    Endpoint {
        name: "delete_schedule_rule",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "schedules",
        summary: "Remove a rule (extension).",
        op: op!(schedules::delete_rule),
        reply: reply::<responses::RuleChanged>,
    },
    Endpoint {
        name: "get_schedules_paginated",
        methods: GET,
        mutating: false,
        tag: "schedules",
        summary: "List schedules with a status.",
        op: op!(schedules::list),
        reply: reply::<responses::Paginated<responses::ScheduleItem>>,
    },
    Endpoint {
        name: "get_schedule_paginated",
        methods: GET,
        mutating: false,
        tag: "schedules",
        summary: "SDK get_schedules (status optional).",
        op: op!(schedules::list_sdk),
        reply: reply::<responses::Paginated<responses::ScheduleItem>>,
    },
    Endpoint {
        name: "get_single_schedule_details",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "One schedule: driver, status, next/last run, rules.",
        op: op!(schedules::detail),
        reply: reply::<responses::ScheduleDetailAnswer>,
    },
    Endpoint {
        name: "get_schedule_uuid",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "SDK alias of get_single_schedule_details.",
        op: op!(schedules::detail),
        reply: reply::<responses::ScheduleDetailAnswer>,
    },
    Endpoint {
        name: "change_schedule_status",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Pause or resume (active|paused); completed and expired schedules cannot change.",
        op: op!(schedules::change_status),
        reply: reply::<responses::StatusChanged>,
    },
    Endpoint {
        name: "update_schedule_status",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "SDK alias of change_schedule_status (status: active|paused|stopped).",
        op: op!(schedules::change_status_sdk),
        reply: reply::<responses::StatusChanged>,
    },
    Endpoint {
        name: "update_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Change a schedule's driver fields, context or policies; re-arms atomically (extension).",
        op: op!(schedules::update),
        reply: reply::<responses::ScheduleChanged>,
    },
    Endpoint {
        name: "delete_schedule",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "schedules",
        summary: "Delete a schedule and its rules (success text under \"error\", as documented).",
        op: op!(schedules::delete),
        reply: reply::<responses::ScheduleDeleted>,
    },
    Endpoint {
        name: "preview_schedule",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "The next fire instants of a schedule, or of driver fields + rules, without creating anything (extension).",
        op: op!(schedules::preview_times),
        reply: reply::<responses::PreviewAnswer>,
    },
    Endpoint {
        name: "trigger_schedule_now",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Run a schedule's target once now; the schedule is unchanged (extension).",
        op: op!(schedules::trigger_now),
        reply: reply::<responses::ExecutionStarted>,
    },
    Endpoint {
        name: "trigger_debounce_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Trigger a debounce schedule (extension).",
        op: op!(schedules::trigger_debounce),
        reply: reply::<responses::DebounceTriggered>,
    },
    // Executions
    Endpoint {
        name: "get_executions_paginated",
        methods: GET,
        mutating: false,
        tag: "executions",
        summary: "Execution log, newest first; filters schedule_uuid, target_uuid, filter_status, from, to (extension).",
        op: op!(executions::list),
        reply: reply::<responses::Paginated<responses::ExecutionItem>>,
    },
    Endpoint {
        name: "get_execution_details",
        methods: POST,
        mutating: false,
        tag: "executions",
        summary: "One execution with every attempt (secrets masked) (extension).",
        op: op!(executions::detail),
        reply: reply::<responses::ExecutionDetailAnswer>,
    },
    Endpoint {
        name: "retry_execution",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Re-run a failed or cancelled execution as a new one linked to it (extension).",
        op: op!(executions::retry),
        reply: reply::<responses::ExecutionRetried>,
    },
    Endpoint {
        name: "cancel_execution",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Cancel a pending execution, including one waiting to retry (extension).",
        op: op!(executions::cancel),
        reply: reply::<responses::ExecutionStarted>,
    },
    Endpoint {
        name: "execute_webhook_template",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Run a webhook template once, now, with an initial context (extension).",
        op: op!(executions::execute_template),
        reply: reply::<responses::ExecutionStarted>,
    },
    // Domain signing
    Endpoint {
        name: "get_domain_signing_secret",
        methods: POST,
        mutating: false,
        tag: "domains",
        summary: "The whsec_ secret(s) signing this domain's requests (Standard Webhooks) (extension).",
        op: op!(domains::signing_secret),
        reply: reply::<responses::SigningSecretAnswer>,
    },
    Endpoint {
        name: "rotate_domain_signing_secret",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "New signing secret; the old one keeps signing during the overlap (extension).",
        op: op!(domains::rotate_signing_secret),
        reply: reply::<responses::SigningRotated>,
    },
    // Workflows
    Endpoint {
        name: "add_workflow_template",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Create a workflow (runtype fifo_sequential|concurrently; SDK: name, mode, inline steps); returns workflow_uuid.",
        op: op!(workflows::add_template),
        reply: reply::<responses::WorkflowChanged>,
    },
    Endpoint {
        name: "add_workflow_step",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Add a step (its own inline webhook, routing, condition, approval); returns step_uuid.",
        op: op!(workflows::add_step),
        reply: reply::<responses::StepChanged>,
    },
    Endpoint {
        name: "get_workflow_template_paginated",
        methods: GET,
        mutating: false,
        tag: "workflows",
        summary: "List workflows.",
        op: op!(workflows::list),
        reply: reply::<responses::Paginated<responses::WorkflowItem>>,
    },
    Endpoint {
        name: "single_workflow_template_detail",
        methods: POST,
        mutating: false,
        tag: "workflows",
        summary: "One workflow with its steps.",
        op: op!(workflows::detail),
        reply: reply::<responses::WorkflowDetailAnswer>,
    },
    Endpoint {
        name: "get_workflow_template_uuid",
        methods: POST,
        mutating: false,
        tag: "workflows",
        summary: "SDK alias of single_workflow_template_detail.",
        op: op!(workflows::detail_sdk),
        reply: reply::<responses::WorkflowDetailAnswer>,
    },
    Endpoint {
        name: "update_workflow_template",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Change a workflow's name, description, runtype or strategies (extension).",
        op: op!(workflows::update_template),
        reply: reply::<responses::WorkflowChanged>,
    },
    Endpoint {
        name: "delete_workflow_template",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "workflows",
        summary: "Delete a workflow; its schedules become inactive (extension).",
        op: op!(workflows::delete_template),
        reply: reply::<responses::WorkflowChanged>,
    },
    Endpoint {
        name: "update_workflow_step",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Change a step (extension).",
        op: op!(workflows::update_step),
        reply: reply::<responses::StepChanged>,
    },
    Endpoint {
        name: "delete_workflow_step",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "workflows",
        summary: "Remove a step (extension).",
        op: op!(workflows::delete_step),
        reply: reply::<responses::StepChanged>,
    },
    Endpoint {
        name: "execute_workflow",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Start one run now with an initial context (extension); returns run_uuid.",
        op: op!(workflows::execute),
        reply: reply::<responses::RunStarted>,
    },
    Endpoint {
        name: "get_workflow_runs_paginated",
        methods: GET,
        mutating: false,
        tag: "workflows",
        summary: "Runs, newest first; filter workflow_uuid (extension).",
        op: op!(workflows::list_runs),
        reply: reply::<responses::Paginated<responses::RunItem>>,
    },
    Endpoint {
        name: "get_workflow_run_details",
        methods: POST,
        mutating: false,
        tag: "workflows",
        summary: "A run's timeline: each step visit's status, attempts, timings, response, context (extension).",
        op: op!(workflows::run_details),
        reply: reply::<responses::RunDetailAnswer>,
    },
    Endpoint {
        name: "rerun_workflow_run",
        methods: POST,
        mutating: true,
        tag: "workflows",
        summary: "Run a finished run again from initial_step or failed_step, optionally with a new context (extension).",
        op: op!(workflows::rerun),
        reply: reply::<responses::RunRestarted>,
    },
    // Human approval
    Endpoint {
        name: "get_all_pending_approvals_paginated",
        methods: GET,
        mutating: false,
        tag: "human approval",
        summary: "Execution plans waiting for a decision.",
        op: op!(workflows::pending_approvals),
        reply: reply::<responses::Paginated<responses::ApprovalItem>>,
    },
    Endpoint {
        name: "human_approval_action",
        methods: POST,
        mutating: true,
        tag: "human approval",
        summary: "Approve or reject a waiting execution plan (409 when it is not waiting).",
        op: op!(workflows::approval_action),
        reply: reply::<responses::Decided>,
    },
    // Time zones
    Endpoint {
        name: "get_timezones",
        methods: GET,
        mutating: false,
        tag: "time zones",
        summary: "Every IANA zone name accepted by the API.",
        op: op!(timezones::list),
        reply: reply::<responses::Timezones>,
    },
    Endpoint {
        name: "get_timezone_options",
        methods: GET,
        mutating: false,
        tag: "time zones",
        summary: "Alias of get_timezones.",
        op: op!(timezones::list),
        reply: reply::<responses::Timezones>,
    },
];

/// The endpoint for an action name, if any.
pub fn find(action: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.name == action)
}
