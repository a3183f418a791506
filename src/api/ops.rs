//! Operational endpoints (no API credentials): `/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::App;
use crate::time::tz;

/// The process is up and serving HTTP.
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// The store is open and writable and start-up has finished.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let (version, source) = tz::database_version();
    let ready = app.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let health = app.store.write_health();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "store": if app.store.is_healthy() { "ok" } else if health.disk_full { "disk full" } else { "unavailable" },
        "store_error": health.last_error,
        "tzdb": {"version": version, "source": source},
        "version": env!("CARGO_PKG_VERSION"),
    });
    (status, axum::Json(body)).into_response()
}

pub async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(token) = app.live().metrics_bearer_token {
        let presented =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let matches = presented.is_some_and(|p| {
            use subtle::ConstantTimeEq;
            bool::from(crate::auth::sha256(p.as_bytes()).ct_eq(&crate::auth::sha256(token.as_bytes())))
        });
        if !matches {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "metrics need a bearer token\n")
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// The OpenAPI document, rendered once: every answer shares the same bytes (it is large, and
/// served without credentials).
pub async fn openapi() -> Response {
    static DOCUMENT: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| bytes::Bytes::from(super::openapi::document().to_string())).clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
