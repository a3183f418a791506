//! Domain-level operations, one file per kind of object, plus the table helpers they share.

pub mod alerts;
pub mod brands;
pub mod domains;
pub mod events;
pub mod executions;
pub mod idempotency;
pub(crate) mod index;
pub mod keys;
pub mod monitors;
pub mod pipelines;
pub mod prune;
pub mod schedules;
pub mod secrets;
pub mod templates;
pub mod workflows;

use redb::{ReadableTable, Table, TableHandle};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use super::codec;
#[cfg(feature = "failpoints")]
use super::injected_fault;
use super::undo;
use crate::model::Page;
use crate::store::failpoint;

pub(crate) type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// The `store::get` failpoint (test builds): `return(<fault>)` fails every record read,
/// `return(<fault>:<table>)` only the record reads of that table (e.g. `eio:domains`); the
/// fault is as in [`injected_fault`].
#[cfg(feature = "failpoints")]
fn read_fault(table: Option<&str>) -> Result<(), StoreError> {
    if !crate::store::faults::in_scope() {
        return Ok(());
    }
    let Some(arg) = fail::eval("store::get", |arg| arg) else { return Ok(()) };
    let arg = arg.unwrap_or_default();
    let (fault, only) = match arg.split_once(':') {
        Some((f, t)) => (f, Some(t)),
        None => (arg.as_str(), None),
    };
    match (only, table) {
        (Some(only), Some(t)) if only == t => Err(injected_fault(Some(fault.to_string()))),
        (Some(_), _) => Ok(()),
        (None, _) => Err(injected_fault(Some(fault.to_string()))),
    }
}

/// Reads and decodes one record.
pub(crate) fn get<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    get_with(t, name, key, |v| codec::decode(name, v))
}

/// Reads a raw value (index tables).
/// Reads one record in place: `f` gets its stored bytes (no copy), as [`get`] decodes them.
pub(crate) fn get_with<T>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    #[cfg(feature = "failpoints")]
    read_fault(Some(name))?;
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
    match t.get(key).map_err(StoreError::from_db)? {
        Some(v) => f(v.value()).map(Some),
        None => Ok(None),
    }
}

pub(crate) fn get_raw(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    #[cfg(feature = "failpoints")]
    read_fault(None)?;
    Ok(t.get(key).map_err(StoreError::from_db)?.map(|v| v.value().to_vec()))
}

/// Encodes and writes one record. Every write of an operation goes through [`put`],
/// [`put_raw`] or [`remove`]: they record the previous value in the undo log, so the writer
/// can take back the writes of an operation that fails.
pub(crate) fn put<T: Serialize>(t: &mut BytesTable<'_>, key: &[u8], rec: &T) -> Result<(), StoreError> {
    put_raw(t, key, codec::encode(rec).as_slice())
}

pub(crate) fn put_raw(t: &mut BytesTable<'_>, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
    insert_raw(t, key, value, false).map(drop)
}

/// [`put_raw`], returning the value it replaced (`None`: the key was new).
pub(crate) fn replace_raw(t: &mut BytesTable<'_>, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    insert_raw(t, key, value, true)
}

/// Writes `value` under `key`, recording the previous value in the undo log while an
/// operation runs. The previous value is copied out of the page only for the undo log or the
/// caller (`want_old`), and returned only to the caller.
fn insert_raw(t: &mut BytesTable<'_>, key: &[u8], value: &[u8], want_old: bool) -> Result<Option<Vec<u8>>, StoreError> {
    failpoint!("store::write", |arg| Err(injected_fault(arg)));
    let logged = undo::table(t.name());
    if logged.is_none() && !want_old {
        t.insert(key, value).map_err(StoreError::from_db)?;
        return Ok(None);
    }
    let old = t.insert(key, value).map_err(StoreError::from_db)?;
    let old = old.as_ref().map(|g| g.value());
    if let Some(table) = logged {
        undo::record(table, key, old);
    }
    Ok(if want_old { old.map(<[u8]>::to_vec) } else { None })
}

pub(crate) fn remove(t: &mut BytesTable<'_>, key: &[u8]) -> Result<(), StoreError> {
    failpoint!("store::write", |arg| Err(injected_fault(arg)));
    let Some(table) = undo::table(t.name()) else {
        t.remove(key).map_err(StoreError::from_db)?;
        return Ok(());
    };
    if let Some(old) = t.remove(key).map_err(StoreError::from_db)? {
        undo::record(table, key, Some(old.value()));
    }
    Ok(())
}

/// Removes the first entry under `prefix` (the oldest of a bounded history).
pub(crate) fn remove_oldest(t: &mut BytesTable<'_>, prefix: &[u8]) -> Result<(), StoreError> {
    let mut first = None;
    scan_prefix(t, prefix, |k, _| {
        first = Some(k.to_vec());
        Ok(false)
    })?;
    match first {
        Some(k) => remove(t, &k),
        None => Ok(()),
    }
}

/// Visits every entry whose key starts with `prefix`, in key order, until `f` returns false.
pub(crate) fn scan_prefix(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
    mut f: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
) -> Result<(), StoreError> {
    #[cfg(feature = "failpoints")]
    read_fault(None)?;
    for entry in t.range::<&[u8]>(prefix..).map_err(StoreError::from_db)? {
        let (k, v) = entry.map_err(StoreError::from_db)?;
        if !k.value().starts_with(prefix) {
            break;
        }
        if !f(k.value(), v.value())? {
            break;
        }
    }
    Ok(())
}

/// True when at least one key starts with `prefix`.
pub(crate) fn any_with_prefix(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    prefix: &[u8],
) -> Result<bool, StoreError> {
    let mut found = false;
    scan_prefix(t, prefix, |_, _| {
        found = true;
        Ok(false)
    })?;
    Ok(found)
}

/// One page (1-based) of the records under `prefix`, plus the total count.
pub(crate) fn page_prefix<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    prefix: &[u8],
    page: u64,
    per_page: u64,
) -> Result<Page<T>, StoreError> {
    let skip = page.saturating_sub(1).saturating_mul(per_page);
    let mut items = Vec::new();
    let mut total = 0u64;
    scan_prefix(t, prefix, |_, v| {
        if total >= skip && (items.len() as u64) < per_page {
            items.push(codec::decode(name, v)?);
        }
        total += 1;
        Ok(true)
    })?;
    Ok(Page { items, total })
}

/// Every record under `prefix`.
pub(crate) fn all_prefix<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    name: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    let mut items = Vec::new();
    scan_prefix(t, prefix, |_, v| {
        items.push(codec::decode(name, v)?);
        Ok(true)
    })?;
    Ok(items)
}
