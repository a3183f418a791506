//! `get_timezones` (and `get_timezone_options`): every IANA zone name the API accepts.

use serde_json::json;

use super::reply::{ApiResult, ok};
use super::request::Cx;
use super::request::Req;
use crate::time::tz;

pub async fn list(_cx: Cx, _req: Req) -> ApiResult {
    let (version, source) = tz::database_version();
    ok(json!({"success": true, "data": tz::all_zone_names(), "tzdb_version": version, "tzdb_source": source}))
}
