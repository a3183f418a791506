//! The endpoint table: every `/v1/api/` action with its methods, its documented fields and its
//! handler. Routing and `/openapi.json` both read this one list, so they cannot drift apart.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;

use super::dispatch::Cx;
use super::reply::ApiResult;
use super::request::Req;
use super::{domains, secrets, templates, timezones};

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
        handler: handler!(templates::detail),
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
