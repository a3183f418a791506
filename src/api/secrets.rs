//! Secret-vault endpoints: `add_system_secret`, `get_secrets_paginated`,
//! `get_value_of_secret`, `update_secret_value`, `delete_secret`, and their SDK aliases.
//! Values are sealed before they reach the store; only `get_value_of_secret` returns one.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use super::fields::{Id, Line, SecretValue};
use super::reply::{ApiResult, PageQuery, ok, paginated};
use super::request::Cx;
use crate::model::{Secret, SecretId};
use crate::template::is_name_char;
use crate::time::tz::format_in_zone;

/// Longest secret name.
const KEY_CHARS_MAX: usize = 128;

/// `add_system_secret`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddSecret {
    /// The name templates use as `{{ #secret_key }}`: 1–128 of `[A-Za-z0-9_-]`.
    #[serde(alias = "key")]
    #[schemars(extend("x-aliases" = ["key"]))]
    #[schemars(extend("pattern" = "^[A-Za-z0-9_-]+$"))]
    pub secret_key: Line<KEY_CHARS_MAX>,
    /// The value (1–65536 bytes), sealed before it is stored.
    #[serde(alias = "value")]
    #[schemars(extend("x-aliases" = ["value"]))]
    pub secret_value: SecretValue,
}

/// `get_value_of_secret`, `get_system_secret_uuid`, `delete_secret`, `delete_system_secret`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's id.
    pub secret_uuid: Id,
}

/// `update_secret_value` and the SDK's `update_system_secret`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSecret {
    /// The secret's id.
    pub secret_uuid: Id,
    /// The new value (1–65536 bytes).
    #[serde(alias = "value")]
    #[schemars(extend("x-aliases" = ["value"]))]
    pub secret_value: SecretValue,
}

fn call_key(key: &str) -> String {
    format!("{{{{ #{key} }}}}")
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || !key.chars().all(is_name_char) {
        return Err(ApiError::invalid("secret_key", format!("use 1-{KEY_CHARS_MAX} letters, digits, '_' or '-'")));
    }
    Ok(())
}

fn item(s: &Secret, tz: &str) -> Value {
    json!({
        "secret_uuid": s.id.to_string(),
        "secret_key": s.key,
        "call_key": call_key(&s.key),
        "inserted_at": format_in_zone(s.created_ms, tz),
        "updated_at": format_in_zone(s.updated_ms, tz),
    })
}

fn load(cx: &Cx, id: Id) -> Result<Secret, ApiError> {
    cx.app.store.get_secret(cx.brand.id, SecretId(id.0))?.ok_or(ApiError::NotFound("Secret"))
}

pub async fn add(cx: Cx, input: AddSecret) -> ApiResult {
    let key = input.secret_key.0;
    check_key(&key)?;
    let id = SecretId::new();
    let sealed = cx.app.vault.seal(id, input.secret_value.0.as_bytes());
    let s = Secret { id, brand: cx.brand.id, key, sealed, created_ms: cx.now, updated_ms: cx.now };
    match cx.app.store.create_secret(s).await {
        Ok(s) => ok(
            json!({"success": true, "details": "Variable added successfully in vault", "secret_uuid": s.id.to_string()}),
        ),
        Err(crate::store::StoreError::Conflict { existing, .. }) => {
            let mut e = ApiError::conflict("Key with same name already in database");
            if let (ApiError::Conflict { extra, .. }, Some(id)) = (&mut e, existing) {
                extra.insert("secret_uuid".into(), json!(id.to_string()));
            }
            Err(e)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn list(cx: Cx, input: PageQuery) -> ApiResult {
    let page = input.number();
    let items = cx.app.store.list_secrets(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.as_str();
    paginated(items, page, cx.page_size, tz, |s| item(s, tz))
}

pub async fn value_of(cx: Cx, input: SecretRef) -> ApiResult {
    let s = load(&cx, input.secret_uuid)?;
    let plain = cx.app.vault.open(s.id, &s.sealed).map_err(|e| ApiError::Internal(format!("secret {}: {e}", s.id)))?;
    let text = String::from_utf8_lossy(&plain).into_owned();
    ok(json!({"success": true, "data": {
        "secret_key": s.key,
        "secret_value": text,
        "call_key": call_key(&s.key),
        "secret_uuid": s.id.to_string(),
    }}))
}

/// The SDK's `get_secret`: the secret without its value (the SDK documents that the value is
/// not returned, and `get_value_of_secret` is the one endpoint that reveals values).
pub async fn metadata(cx: Cx, input: SecretRef) -> ApiResult {
    let s = load(&cx, input.secret_uuid)?;
    ok(json!({"success": true, "data": item(&s, &cx.brand.timezone)}))
}

pub async fn update(cx: Cx, input: UpdateSecret) -> ApiResult {
    let s = load(&cx, input.secret_uuid)?;
    let sealed = cx.app.vault.seal(s.id, input.secret_value.0.as_bytes());
    cx.app.store.update_secret_value(cx.brand.id, s.id, sealed, cx.now).await?;
    ok(json!({"success": true, "details": "Secret value updated successfully", "secret_uuid": s.id.to_string()}))
}

pub async fn delete(cx: Cx, input: SecretRef) -> ApiResult {
    let id = SecretId(input.secret_uuid.0);
    match cx.app.store.delete_secret(cx.brand.id, id).await {
        Ok(()) => {
            ok(json!({"success": true, "details": "System secret deleted successfully", "secret_uuid": id.to_string()}))
        }
        // The documented failure body carries the secret_uuid; ours adds the standard keys.
        Err(crate::store::StoreError::NotFound(_)) => {
            Err(ApiError::NotFoundWith { what: "Secret", key: "secret_uuid", id: id.to_string() })
        }
        Err(e) => Err(e.into()),
    }
}
