//! Success envelopes and the shared pagination shape.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::model::Page;

/// A handler's successful answer.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

pub type ApiResult = Result<Reply, super::error::ApiError>;

pub fn ok(body: Value) -> ApiResult {
    Ok(Reply { status: StatusCode::OK, body })
}

/// `{"success": true, "data": [...], "meta": {...}, "timezone": "<brand zone>"}`
pub fn paginated<T>(
    page: Page<T>,
    page_no: u64,
    per_page: u64,
    timezone: &str,
    item: impl Fn(&T) -> Value,
) -> ApiResult {
    let total_pages = page.total.div_ceil(per_page);
    ok(json!({
        "success": true,
        "data": page.items.iter().map(item).collect::<Vec<_>>(),
        "meta": {
            "page": page_no,
            "total_count": page.total,
            "per_page": per_page,
            "total_pages": total_pages,
            "has_next": page_no < total_pages,
            "has_prev": page_no > 1,
        },
        "timezone": timezone,
    }))
}
