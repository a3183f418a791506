//! `ApiError`: every way an API call can fail, each knowing its status and client message.
//! Internal detail (store faults) is logged with the request id, never sent to the client.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// 400 `Missing required field: <name>`
    Missing(String),
    /// 400 `Invalid field value: <name>` with an optional explanation
    Invalid { field: String, why: Option<String> },
    /// 400 `Invalid request body` with an optional explanation
    BadBody(Option<String>),
    /// 400 `Unknown field: <path>`, with `(did you mean <name>?)` when a declared name is close
    UnknownField { field: String, suggestion: Option<String> },
    /// 401 with one of the documented auth messages
    Unauthorized(&'static str),
    /// 404 `<Thing> not found`
    NotFound(&'static str),
    /// 404 `Resource not found: no action <name>`, with `(did you mean <action>?)` when an
    /// action's name is close (Jaro–Winkler ≥ 0.85) and a pointer to `/openapi.json`
    UnknownAction { action: String, suggestion: Option<&'static str> },
    /// 404 `<Thing> not found`, plus the id that was asked for under `key`
    NotFoundWith { what: &'static str, key: &'static str, id: String },
    /// 405
    MethodNotAllowed(String),
    /// 409 with a message and extra keys (e.g. the existing object's id)
    Conflict { message: String, extra: Map<String, Value> },
    /// 413
    TooLarge(usize),
    /// 415
    UnsupportedMediaType,
    /// 429 (headers are added by the dispatcher)
    RateLimited,
    /// 429: a bounded queue of heavy work is full (`Retry-After: 1`); the message says which.
    Busy(&'static str),
    /// 507 (`disk_full`) or 503: the store cannot write right now; nothing was changed and the
    /// client may retry (the dispatcher adds `Retry-After`).
    Unavailable { disk_full: bool },
    /// 500: a real internal fault; the detail goes to the log only
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, why: impl Into<String>) -> Self {
        ApiError::Invalid { field: field.to_string(), why: Some(why.into()) }
    }

    /// The same error with its field named inside `parent`: `steps[0]` and `method` make
    /// `steps[0].method`. Errors that name no field are unchanged.
    pub fn within(self, parent: &str) -> Self {
        let join = |f: String| format!("{parent}.{f}");
        match self {
            ApiError::Missing(f) => ApiError::Missing(join(f)),
            ApiError::Invalid { field, why } => ApiError::Invalid { field: join(field), why },
            ApiError::UnknownField { field, suggestion } => ApiError::UnknownField { field: join(field), suggestion },
            other => other,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict { message: message.into(), extra: Map::new() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Missing(_) | ApiError::Invalid { .. } | ApiError::BadBody(_) | ApiError::UnknownField { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) | ApiError::NotFoundWith { .. } | ApiError::UnknownAction { .. } => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited | ApiError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { disk_full: true } => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Unavailable { disk_full: false } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::Missing(f) => format!("Missing required field: {f}"),
            ApiError::Invalid { field, why: None } => format!("Invalid field value: {field}"),
            ApiError::Invalid { field, why: Some(w) } => format!("Invalid field value: {field} ({w})"),
            ApiError::BadBody(None) => "Invalid request body".into(),
            ApiError::BadBody(Some(w)) => format!("Invalid request body: {w}"),
            ApiError::UnknownField { field, suggestion: None } => format!("Unknown field: {}", shown_name(field)),
            ApiError::UnknownField { field, suggestion: Some(s) } => {
                format!("Unknown field: {} (did you mean {s}?)", shown_name(field))
            }
            ApiError::Unauthorized(m) => (*m).into(),
            ApiError::NotFound(what) | ApiError::NotFoundWith { what, .. } => {
                format!("{what} not found")
            }
            ApiError::UnknownAction { action, suggestion } => {
                let hint = suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default();
                format!("Resource not found: no action {action:?}{hint}; GET /openapi.json lists them all")
            }
            ApiError::MethodNotAllowed(allowed) => format!("Method not allowed; use {allowed}"),
            ApiError::Conflict { message, .. } => message.clone(),
            ApiError::TooLarge(limit) => format!("Request body too large (limit {limit} bytes)"),
            ApiError::UnsupportedMediaType => "Unsupported Content-Type; send application/json".into(),
            ApiError::RateLimited => "Rate limit exceeded".into(),
            ApiError::Busy(m) => (*m).into(),
            ApiError::Unavailable { disk_full: true } => {
                "Insufficient storage: the store cannot write (disk full); nothing was changed, retry later".into()
            }
            ApiError::Unavailable { disk_full: false } => {
                "Service unavailable: the store cannot write right now; nothing was changed, retry later".into()
            }
            ApiError::Internal(_) => "Internal server error".into(),
        }
    }

    /// `{"success": false, "error": ..., "request_id": ..., <extra>}`
    pub fn body(&self, request_id: &str) -> Value {
        let mut body = json!({"success": false, "error": self.message(), "request_id": request_id});
        let obj = body.as_object_mut().expect("object literal");
        match self {
            ApiError::Conflict { extra, .. } => {
                for (k, v) in extra {
                    obj.insert(k.clone(), v.clone());
                }
            }
            ApiError::NotFoundWith { key, id, .. } => {
                obj.insert((*key).into(), Value::String(id.clone()));
            }
            _ => {}
        }
        body
    }
}

/// A name the client sent, as echoed in an error: at most [`ECHOED_NAME_CHARS_MAX`]
/// characters (then `…`), control characters dropped — a 900 KB field name gets a short error.
fn shown_name(name: &str) -> String {
    let mut chars = name.chars().filter(|c| !c.is_control());
    let head: String = chars.by_ref().take(ECHOED_NAME_CHARS_MAX).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

/// See [`shown_name`].
const ECHOED_NAME_CHARS_MAX: usize = 128;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict { what, existing } => {
                let mut extra = Map::new();
                if let Some(id) = existing {
                    let key = match what {
                        "Secret" => "secret_uuid",
                        "Domain" => "domain_uuid",
                        _ => "existing_uuid",
                    };
                    extra.insert(key.into(), Value::String(id.to_string()));
                }
                ApiError::Conflict { message: format!("{what} already exists"), extra }
            }
            StoreError::InUse { what, by } => {
                ApiError::conflict(format!("{what} is in use by {by}; delete or re-point them first"))
            }
            StoreError::Rejected { field, why } => ApiError::Invalid { field, why: Some(why) },
            StoreError::State(message) => ApiError::conflict(message),
            StoreError::Unavailable { disk_full, .. } => ApiError::Unavailable { disk_full },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_field_name_is_echoed_short_and_printable() {
        let long = ApiError::UnknownField { field: "x".repeat(900_000), suggestion: None }.message();
        assert_eq!(long, format!("Unknown field: {}…", "x".repeat(ECHOED_NAME_CHARS_MAX)));
        let odd = ApiError::UnknownField { field: "a\u{1b}[31mb".into(), suggestion: Some("ab".into()) }.message();
        assert_eq!(odd, "Unknown field: a[31mb (did you mean ab?)");
    }
}
