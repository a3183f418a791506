//! `get_timezones` (and `get_timezone_options`): every IANA zone name the API accepts.

use serde_json::json;

use schemars::JsonSchema;
use serde::Deserialize;

use super::reply::{ApiResult, ok};
use super::request::Cx;
use crate::time::tz;

/// `get_timezones` takes no parameters.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

pub async fn list(_cx: Cx, _input: NoInput) -> ApiResult {
    let (version, source) = tz::database_version();
    ok(json!({"success": true, "data": tz::all_zone_names(), "tzdb_version": version, "tzdb_source": source}))
}
