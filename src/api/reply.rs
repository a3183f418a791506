//! Success envelopes and the shared pagination shape (the `page` query input and the `meta`
//! answer).

use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::Int;
use crate::model::Page;

/// Highest page number accepted (far beyond any list: it only keeps `page × page_size` small).
pub const PAGE_MAX: i64 = 1_000_000;

/// The query of a `*_paginated` list that has no filters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1-based page number (default 1).
    pub page: Option<Int<1, PAGE_MAX>>,
}

impl PageQuery {
    /// The page asked for (1 when absent).
    pub fn number(&self) -> u64 {
        page_number(self.page)
    }
}

/// A `page` field's value (1 when absent).
pub fn page_number(page: Option<Int<1, PAGE_MAX>>) -> u64 {
    page.map_or(1, |p| p.get() as u64)
}

/// A handler's successful answer.
pub struct Reply {
    /// The HTTP status (200 unless a handler says otherwise).
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
