//! Secret-vault endpoints: `add_system_secret`, `get_secrets_paginated`,
//! `get_value_of_secret`, `update_secret_value`, `delete_secret`, and their SDK aliases.
//! Values are sealed before they reach the store; only `get_value_of_secret` returns one.

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::error::ApiError;
use super::reply::{ApiResult, ok, paginated};
use super::request::Cx;
use super::request::Req;
use crate::model::{Secret, SecretId};
use crate::template::is_name_char;
use crate::time::tz::format_in_zone;

const ID: &[&str] = &["secret_uuid"];
const KEY: &[&str] = &["secret_key", "key"];
const VALUE: &[&str] = &["secret_value", "value"];

const KEY_CHARS_MAX: usize = 128;
/// Largest secret value accepted, in bytes.
const VALUE_BYTES_MAX: usize = 65_536;

fn call_key(key: &str) -> String {
    format!("{{{{ #{key} }}}}")
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > KEY_CHARS_MAX || !key.chars().all(is_name_char) {
        return Err(ApiError::invalid("secret_key", format!("use 1-{KEY_CHARS_MAX} letters, digits, '_' or '-'")));
    }
    Ok(())
}

fn value(req: &Req) -> Result<Zeroizing<String>, ApiError> {
    let v = Zeroizing::new(req.string(VALUE)?);
    if v.is_empty() || v.len() > VALUE_BYTES_MAX {
        return Err(ApiError::invalid("secret_value", format!("must be 1 to {VALUE_BYTES_MAX} bytes")));
    }
    Ok(v)
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

fn load(cx: &Cx, req: &Req) -> Result<Secret, ApiError> {
    let id = SecretId(req.uuid(ID)?);
    cx.app.store.get_secret(cx.brand.id, id)?.ok_or(ApiError::NotFound("Secret"))
}

pub async fn add(cx: Cx, req: Req) -> ApiResult {
    let key = req.string(KEY)?;
    check_key(&key)?;
    let plain = value(&req)?;
    let id = SecretId::new();
    let sealed = cx.app.vault.seal(id, plain.as_bytes());
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

pub async fn list(cx: Cx, req: Req) -> ApiResult {
    let page = req.page()?;
    let items = cx.app.store.list_secrets(cx.brand.id, page, cx.page_size)?;
    let tz = cx.brand.timezone.as_str();
    paginated(items, page, cx.page_size, tz, |s| item(s, tz))
}

pub async fn value_of(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
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
pub async fn metadata(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
    ok(json!({"success": true, "data": item(&s, &cx.brand.timezone)}))
}

pub async fn update(cx: Cx, req: Req) -> ApiResult {
    let s = load(&cx, &req)?;
    let plain = value(&req)?;
    let sealed = cx.app.vault.seal(s.id, plain.as_bytes());
    cx.app.store.update_secret_value(cx.brand.id, s.id, sealed, cx.now).await?;
    ok(json!({"success": true, "details": "Secret value updated successfully", "secret_uuid": s.id.to_string()}))
}

pub async fn delete(cx: Cx, req: Req) -> ApiResult {
    let id = SecretId(req.uuid(ID)?);
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
