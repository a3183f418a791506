//! Record encoding: one format byte, then the record as JSON. JSON keeps the file debuggable;
//! the format byte lets a schema change the encoding record by record.
//!
//! - Format 1: `[1] ‖ JSON`.
//! - Format 2 (schema 4): `[2] ‖ n (u8) ‖ header (n bytes) ‖ JSON`. The header repeats a few
//!   fields of the record in fixed binary form, so a write that needs only those reads them
//!   without parsing the JSON (a schedule's version and status on every fire:
//!   [`crate::store::ops::index::ScheduleFacts::read`]). The JSON is the whole record, header
//!   fields included; [`decode`] reads either format.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const RECORD_V1: u8 = 1;
const RECORD_V2: u8 = 2;

pub fn encode<T: Serialize>(rec: &T) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    // Serializing our own model types to a Vec cannot fail (no maps with non-string keys).
    serde_json::to_writer(&mut out, rec).expect("model types serialize");
    out
}

/// Format 2: `header` (at most 255 bytes, the caller's fixed layout), then the record as JSON.
pub(crate) fn encode_with_header<T: Serialize>(header: &[u8], rec: &T) -> Vec<u8> {
    let n = u8::try_from(header.len()).expect("a record header is at most 255 bytes");
    let mut out = Vec::with_capacity(2 + header.len() + 512);
    out.push(RECORD_V2);
    out.push(n);
    out.extend_from_slice(header);
    serde_json::to_writer(&mut out, rec).expect("model types serialize");
    out
}

/// The header of a format 2 record; `None` for a format 1 record (or bytes too short to hold
/// the header they announce, which [`decode`] reports as corrupt).
pub(crate) fn header(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [RECORD_V2, n, rest @ ..] => rest.get(..usize::from(*n)),
        _ => None,
    }
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let json =
        |rest: &[u8]| serde_json::from_slice(rest).map_err(|e| StoreError::Corrupt { table, detail: e.to_string() });
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => json(rest),
        Some((&RECORD_V2, rest)) => match rest.split_first().and_then(|(n, rest)| rest.get(usize::from(*n)..)) {
            Some(rest) => json(rest),
            None => Err(StoreError::Corrupt { table, detail: "record shorter than its header".into() }),
        },
        Some((v, _)) => Err(StoreError::Corrupt { table, detail: format!("unknown record version {v}") }),
        None => Err(StoreError::Corrupt { table, detail: "empty record".into() }),
    }
}

pub fn decode_u32(bytes: &[u8]) -> Result<u32, StoreError> {
    let arr: [u8; 4] = bytes.try_into().map_err(|_| StoreError::Corrupt { table: "meta", detail: "bad u32".into() })?;
    Ok(u32::from_le_bytes(arr))
}

pub fn decode_id(table: &'static str, bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|_| StoreError::Corrupt { table, detail: "bad id".into() })
}
