//! The endpoint table: every `/v1/api/` action with its methods, its documented fields and its
//! handler. Routing and `/openapi.json` both read this one list, so they cannot drift apart.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;

use super::dispatch::Cx;
use super::reply::ApiResult;
use super::request::Req;
use super::{domains, executions, schedules, secrets, templates, timezones};

pub type Handler = fn(Cx, Req) -> Pin<Box<dyn Future<Output = ApiResult> + Send>>;

/// One documented request field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    /// JSON type: "string", "integer", "boolean", "object", "array", "number|string".
    pub ty: &'static str,
    pub required: bool,
}

const fn req(name: &'static str, ty: &'static str) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}
const fn opt(name: &'static str, ty: &'static str) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

pub struct Endpoint {
    pub name: &'static str,
    pub methods: &'static [Method],
    /// Creates or changes something: `Idempotency-Key` applies.
    pub mutating: bool,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Body fields (POST/DELETE) or query parameters (GET).
    pub fields: &'static [Field],
    pub handler: Handler,
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const DELETE_OR_POST: &[Method] = &[Method::DELETE, Method::POST];

macro_rules! handler {
    ($f:path) => {
        |cx, req| Box::pin($f(cx, req))
    };
}

const PAGE: &[Field] = &[opt("page", "integer")];

const DOMAIN_FIELDS: &[Field] = &[
    req("protocol_type", "string"),
    req("domain", "string"),
    opt("rate_limit_enabled", "boolean"),
    opt("concurrency_control_enabled", "boolean"),
    opt("max_concurrent_jobs", "integer"),
    opt("max_requests_per_second", "integer"),
    opt("protocol", "string"),
    opt("max_concurrent", "integer"),
    opt("rate_limit_per_second", "integer"),
];

const TEMPLATE_FIELDS: &[Field] = &[
    req("webhook_name", "string"),
    opt("webhook_description", "string"),
    req("method", "string"),
    req("path", "string"),
    req("domain_uuid", "string"),
    opt("retry_delay", "integer"),
    opt("retry_backoff_mode", "string"),
    opt("max_retries", "integer"),
    opt("request_timeout_in_milliseconds", "integer"),
    opt("request_body_json", "object"),
    opt("headers_json", "object"),
    opt("query_params_json", "object"),
    opt("name", "string"),
    opt("url", "string"),
    opt("headers", "object"),
    opt("body", "object"),
];

const TEMPLATE_UPDATE_FIELDS: &[Field] = &[
    req("webhook_uuid", "string"),
    opt("template_uuid", "string"),
    opt("webhook_name", "string"),
    opt("webhook_description", "string"),
    opt("method", "string"),
    opt("path", "string"),
    opt("domain_uuid", "string"),
    opt("retry_delay", "integer"),
    opt("retry_backoff_mode", "string"),
    opt("max_retries", "integer"),
    opt("request_timeout_in_milliseconds", "integer"),
    opt("request_body_json", "object"),
    opt("headers_json", "object"),
    opt("query_params_json", "object"),
    opt("name", "string"),
    opt("url", "string"),
    opt("headers", "object"),
    opt("body", "object"),
];

macro_rules! schedule_fields {
    ($($f:expr),* $(,)?) => {
        &[req("schedule_to", "string"), req("model_to_schedule_uuid", "string"), $($f,)*
          opt("initial_context_template", "object"), opt("misfire_policy", "string"), opt("misfire_grace_seconds", "integer"),
          opt("overlap_policy", "string"), opt("jitter_seconds", "integer"), opt("name", "string")]
    };
}

const RULE_BODY: &[Field] = &[
    req("schedule_uuid", "string"),
    req("rule_type", "string"),
    opt("start_time", "string"),
    opt("end_time", "string"),
    opt("timezone", "string"),
    opt("allow_days", "array"),
    opt("allow_months", "array"),
    opt("allow_weekdays", "array"),
    opt("exclusion_dates", "array"),
    opt("solar_start_event", "string"),
    opt("solar_end_event", "string"),
    opt("solar_lat", "number|string"),
    opt("solar_long", "number|string"),
    opt("max_run_to_terminate_after", "integer"),
    opt("expire_at", "string"),
];

pub static ENDPOINTS: &[Endpoint] = &[
    // Domains
    Endpoint {
        name: "add_domain",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "Register a delivery domain with its traffic-guard settings; returns domain_uuid.",
        fields: DOMAIN_FIELDS,
        handler: handler!(domains::add),
    },
    Endpoint {
        name: "get_domain_paginated",
        methods: GET,
        mutating: false,
        tag: "domains",
        summary: "List the brand's domains.",
        fields: PAGE,
        handler: handler!(domains::list),
    },
    Endpoint {
        name: "get_domain_uuid",
        methods: POST,
        mutating: false,
        tag: "domains",
        summary: "Find a domain's uuid by name and protocol (SDK).",
        fields: &[
            req("domain", "string"),
            opt("protocol", "string"),
            opt("protocol_type", "string"),
        ],
        handler: handler!(domains::find_uuid),
    },
    Endpoint {
        name: "update_domain",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "Change a domain (extension). Absent fields keep their values.",
        fields: &[
            req("domain_uuid", "string"),
            opt("protocol_type", "string"),
            opt("domain", "string"),
            opt("rate_limit_enabled", "boolean"),
            opt("concurrency_control_enabled", "boolean"),
            opt("max_concurrent_jobs", "integer"),
            opt("max_requests_per_second", "integer"),
        ],
        handler: handler!(domains::update),
    },
    Endpoint {
        name: "delete_domain",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "domains",
        summary: "Delete a domain (extension); 409 while webhook templates use it.",
        fields: &[req("domain_uuid", "string")],
        handler: handler!(domains::delete),
    },
    // Webhook templates
    Endpoint {
        name: "add_webhook_template",
        methods: POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Create a webhook template (or, SDK style, from a full url); returns webhook_uuid.",
        fields: TEMPLATE_FIELDS,
        handler: handler!(templates::add),
    },
    Endpoint {
        name: "get_webhook_template_paginated",
        methods: GET,
        mutating: false,
        tag: "webhook templates",
        summary: "List the brand's webhook templates.",
        fields: PAGE,
        handler: handler!(templates::list),
    },
    Endpoint {
        name: "single_webhook_template_detail",
        methods: POST,
        mutating: false,
        tag: "webhook templates",
        summary: "One webhook template with its body, headers and query.",
        fields: &[req("webhook_uuid", "string")],
        handler: handler!(templates::detail),
    },
    Endpoint {
        name: "get_webhook_template_uuid",
        methods: POST,
        mutating: false,
        tag: "webhook templates",
        summary: "SDK alias of single_webhook_template_detail.",
        fields: &[req("template_uuid", "string")],
        handler: handler!(templates::detail_sdk),
    },
    Endpoint {
        name: "update_webhook_template",
        methods: POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Change a webhook template (extension). Absent fields keep their values.",
        fields: TEMPLATE_UPDATE_FIELDS,
        handler: handler!(templates::update),
    },
    Endpoint {
        name: "delete_webhook_template",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "webhook templates",
        summary: "Delete a webhook template (extension).",
        fields: &[
            req("webhook_uuid", "string"),
            opt("template_uuid", "string"),
        ],
        handler: handler!(templates::delete),
    },
    // Secret vault
    Endpoint {
        name: "add_system_secret",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "Store a secret, usable as {{ #secret_key }}; returns secret_uuid.",
        fields: &[
            req("secret_key", "string"),
            req("secret_value", "string"),
            opt("key", "string"),
            opt("value", "string"),
        ],
        handler: handler!(secrets::add),
    },
    Endpoint {
        name: "get_secrets_paginated",
        methods: GET,
        mutating: false,
        tag: "secret vault",
        summary: "List secret names (never values).",
        fields: PAGE,
        handler: handler!(secrets::list),
    },
    Endpoint {
        name: "get_system_secret_paginated",
        methods: GET,
        mutating: false,
        tag: "secret vault",
        summary: "SDK alias of get_secrets_paginated.",
        fields: PAGE,
        handler: handler!(secrets::list),
    },
    Endpoint {
        name: "get_value_of_secret",
        methods: POST,
        mutating: false,
        tag: "secret vault",
        summary: "Read one secret, including its value (the only endpoint that returns it).",
        fields: &[req("secret_uuid", "string")],
        handler: handler!(secrets::value_of),
    },
    Endpoint {
        name: "get_system_secret_uuid",
        methods: POST,
        mutating: false,
        tag: "secret vault",
        summary: "One secret's metadata without its value (the SDK's get_secret; only get_value_of_secret reveals values).",
        fields: &[req("secret_uuid", "string")],
        handler: handler!(secrets::metadata),
    },
    Endpoint {
        name: "update_secret_value",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "Replace a secret's value.",
        fields: &[
            req("secret_uuid", "string"),
            req("secret_value", "string"),
            opt("value", "string"),
        ],
        handler: handler!(secrets::update),
    },
    Endpoint {
        name: "update_system_secret",
        methods: POST,
        mutating: true,
        tag: "secret vault",
        summary: "SDK alias of update_secret_value.",
        fields: &[
            req("secret_uuid", "string"),
            req("secret_value", "string"),
            opt("value", "string"),
        ],
        handler: handler!(secrets::update),
    },
    Endpoint {
        name: "delete_secret",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "secret vault",
        summary: "Delete a secret.",
        fields: &[req("secret_uuid", "string")],
        handler: handler!(secrets::delete),
    },
    Endpoint {
        name: "delete_system_secret",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "secret vault",
        summary: "SDK alias of delete_secret.",
        fields: &[req("secret_uuid", "string")],
        handler: handler!(secrets::delete),
    },
    // Schedules
    Endpoint {
        name: "add_interval_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire every interval_value interval_period (second|minute|hour, extension day|week|month); returns schedule_uuid.",
        fields: schedule_fields!(
            req("interval_value", "integer"),
            req("interval_period", "string"),
            req("is_one_off_task", "boolean"),
            opt("start_at", "string")
        ),
        handler: handler!(schedules::add_interval),
    },
    Endpoint {
        name: "add_cron_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire on a 5- or 6-field cron expression in an IANA zone; returns schedule_uuid.",
        fields: schedule_fields!(
            req("cron_expression", "string"),
            req("cron_timezone", "string"),
            req("is_one_off_task", "boolean")
        ),
        handler: handler!(schedules::add_cron),
    },
    Endpoint {
        name: "add_clocked_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire once at clocked_run_at; returns schedule_uuid.",
        fields: schedule_fields!(
            req("clocked_run_at", "string"),
            req("clocked_timezone", "string")
        ),
        handler: handler!(schedules::add_clocked),
    },
    Endpoint {
        name: "add_solar_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Fire at a solar event (plus offset) at a location, daily or once; returns schedule_uuid.",
        fields: schedule_fields!(
            req("solar_event", "string"),
            req("solar_lat", "number|string"),
            req("solar_long", "number|string"),
            req("is_one_off_task", "boolean"),
            opt("solar_offset_seconds", "integer")
        ),
        handler: handler!(schedules::add_solar),
    },
    Endpoint {
        name: "add_debounce_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "A schedule fired by trigger_debounce_schedule, debounced (extension); returns schedule_uuid.",
        fields: schedule_fields!(
            req("debounce_seconds", "integer"),
            opt("debounce_mode", "string"),
            opt("max_wait_seconds", "integer")
        ),
        handler: handler!(schedules::add_debounce),
    },
    Endpoint {
        name: "add_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "SDK create_schedule: schedule_type + driver fields, targeting webhook_url or a documented target.",
        fields: &[
            req("schedule_type", "string"),
            opt("webhook_url", "string"),
            opt("schedule_to", "string"),
            opt("model_to_schedule_uuid", "string"),
            opt("interval_seconds", "integer"),
            opt("cron_expression", "string"),
            opt("timezone", "string"),
            opt("scheduled_time", "string"),
            opt("solar_event", "string"),
            opt("latitude", "number|string"),
            opt("longitude", "number|string"),
        ],
        handler: handler!(schedules::add_sdk),
    },
    Endpoint {
        name: "add_schedule_rule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Attach a rule (time_window, calendar_window, solar_window, exclusion, termination); returns rule_uuid.",
        fields: RULE_BODY,
        handler: handler!(schedules::add_rule),
    },
    Endpoint {
        name: "list_schedule_rules",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "A schedule's rules (extension).",
        fields: &[req("schedule_uuid", "string")],
        handler: handler!(schedules::list_rules),
    },
    Endpoint {
        name: "delete_schedule_rule",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "schedules",
        summary: "Remove a rule (extension).",
        fields: &[req("rule_uuid", "string"), req("schedule_uuid", "string")],
        handler: handler!(schedules::delete_rule),
    },
    Endpoint {
        name: "get_schedules_paginated",
        methods: GET,
        mutating: false,
        tag: "schedules",
        summary: "List schedules with a status.",
        fields: &[req("filter_status", "string"), opt("page", "integer")],
        handler: handler!(schedules::list),
    },
    Endpoint {
        name: "get_schedule_paginated",
        methods: GET,
        mutating: false,
        tag: "schedules",
        summary: "SDK get_schedules (status optional).",
        fields: &[opt("status", "string"), opt("page", "integer")],
        handler: handler!(schedules::list_sdk),
    },
    Endpoint {
        name: "get_single_schedule_details",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "One schedule: driver, status, next/last run, rules.",
        fields: &[req("schedule_uuid", "string")],
        handler: handler!(schedules::detail),
    },
    Endpoint {
        name: "get_schedule_uuid",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "SDK alias of get_single_schedule_details.",
        fields: &[req("schedule_uuid", "string")],
        handler: handler!(schedules::detail),
    },
    Endpoint {
        name: "change_schedule_status",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Pause or resume (active|paused); completed and expired schedules cannot change.",
        fields: &[
            req("schedule_uuid", "string"),
            req("update_status_to", "string"),
        ],
        handler: handler!(schedules::change_status),
    },
    Endpoint {
        name: "update_schedule_status",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "SDK alias of change_schedule_status (status: active|paused|stopped).",
        fields: &[req("schedule_uuid", "string"), req("status", "string")],
        handler: handler!(schedules::change_status_sdk),
    },
    Endpoint {
        name: "update_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Change a schedule's driver fields, context or policies; re-arms atomically (extension).",
        fields: &[
            req("schedule_uuid", "string"),
            opt("initial_context_template", "object"),
        ],
        handler: handler!(schedules::update),
    },
    Endpoint {
        name: "delete_schedule",
        methods: DELETE_OR_POST,
        mutating: true,
        tag: "schedules",
        summary: "Delete a schedule and its rules (success text under \"error\", as documented).",
        fields: &[req("schedule_uuid", "string")],
        handler: handler!(schedules::delete),
    },
    Endpoint {
        name: "preview_schedule",
        methods: POST,
        mutating: false,
        tag: "schedules",
        summary: "The next fire instants of a schedule, or of driver fields + rules, without creating anything (extension).",
        fields: &[
            opt("schedule_uuid", "string"),
            opt("driver_type", "string"),
            opt("rules", "array"),
            opt("count", "integer"),
            opt("from", "string"),
        ],
        handler: handler!(schedules::preview_times),
    },
    Endpoint {
        name: "trigger_schedule_now",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Run a schedule's target once now; the schedule is unchanged (extension).",
        fields: &[req("schedule_uuid", "string"), opt("context", "object")],
        handler: handler!(schedules::trigger_now),
    },
    Endpoint {
        name: "trigger_debounce_schedule",
        methods: POST,
        mutating: true,
        tag: "schedules",
        summary: "Trigger a debounce schedule (extension).",
        fields: &[req("schedule_uuid", "string"), opt("context", "object")],
        handler: handler!(schedules::trigger_debounce),
    },
    // Executions
    Endpoint {
        name: "get_executions_paginated",
        methods: GET,
        mutating: false,
        tag: "executions",
        summary: "Execution log, newest first; filters schedule_uuid, target_uuid, filter_status, from, to (extension).",
        fields: &[
            opt("page", "integer"),
            opt("schedule_uuid", "string"),
            opt("target_uuid", "string"),
            opt("filter_status", "string"),
            opt("from", "string"),
            opt("to", "string"),
        ],
        handler: handler!(executions::list),
    },
    Endpoint {
        name: "get_execution_details",
        methods: POST,
        mutating: false,
        tag: "executions",
        summary: "One execution with every attempt (secrets masked) (extension).",
        fields: &[req("execution_uuid", "string")],
        handler: handler!(executions::detail),
    },
    Endpoint {
        name: "retry_execution",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Re-run a failed or cancelled execution as a new one linked to it (extension).",
        fields: &[req("execution_uuid", "string")],
        handler: handler!(executions::retry),
    },
    Endpoint {
        name: "cancel_execution",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Cancel a pending execution, including one waiting to retry (extension).",
        fields: &[req("execution_uuid", "string")],
        handler: handler!(executions::cancel),
    },
    Endpoint {
        name: "execute_webhook_template",
        methods: POST,
        mutating: true,
        tag: "executions",
        summary: "Run a webhook template once, now, with an initial context (extension).",
        fields: &[
            req("webhook_uuid", "string"),
            opt("initial_context", "object"),
        ],
        handler: handler!(executions::execute_template),
    },
    // Domain signing
    Endpoint {
        name: "get_domain_signing_secret",
        methods: POST,
        mutating: false,
        tag: "domains",
        summary: "The whsec_ secret(s) signing this domain's requests (Standard Webhooks) (extension).",
        fields: &[req("domain_uuid", "string")],
        handler: handler!(domains::signing_secret),
    },
    Endpoint {
        name: "rotate_domain_signing_secret",
        methods: POST,
        mutating: true,
        tag: "domains",
        summary: "New signing secret; the old one keeps signing during the overlap (extension).",
        fields: &[req("domain_uuid", "string")],
        handler: handler!(domains::rotate_signing_secret),
    },
    // Time zones
    Endpoint {
        name: "get_timezones",
        methods: GET,
        mutating: false,
        tag: "time zones",
        summary: "Every IANA zone name accepted by the API.",
        fields: &[],
        handler: handler!(timezones::list),
    },
    Endpoint {
        name: "get_timezone_options",
        methods: GET,
        mutating: false,
        tag: "time zones",
        summary: "Alias of get_timezones.",
        fields: &[],
        handler: handler!(timezones::list),
    },
];

/// The endpoint for an action name, if any.
pub fn find(action: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.name == action)
}
