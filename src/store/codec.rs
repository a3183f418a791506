//! Record encoding: one version byte, then the record as JSON. JSON keeps the file debuggable;
//! the version byte lets a future schema change the encoding record by record.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const RECORD_V1: u8 = 1;

pub fn encode<T: Serialize>(rec: &T) -> Vec<u8> {
    let mut out = vec![RECORD_V1];
    // Serializing our own model types to a Vec cannot fail (no maps with non-string keys).
    serde_json::to_writer(&mut out, rec).expect("model types serialize");
    out
}

pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => {
            serde_json::from_slice(rest).map_err(|e| StoreError::Corrupt { table, detail: e.to_string() })
        }
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
