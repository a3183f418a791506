//! Record encoding: one format byte, then the record. The format byte lets a schema change the
//! encoding record by record: [`decode`] reads every format ever written, [`encode`] writes
//! the newest, and a record is rewritten in it at its next write.
//!
//! - Format 1 (schema 1 to 4): `[1] ‖ JSON`.
//! - Format 2 (schema 4, schedules): `[2] ‖ n (u8) ‖ header (n bytes) ‖ JSON`. The header
//!   repeats a few fields of the record in fixed binary form, so a write that needs only those
//!   reads them without decoding the record (a schedule's version and status on every fire:
//!   [`crate::store::ops::index::ScheduleFacts::read`]).
//! - Format 3 (schema 5, every record): `[3] ‖ n (u8) ‖ header (n bytes) ‖ MessagePack`, `n`
//!   is 0 for a record without a header. The record is MessagePack with named fields
//!   (`rmp_serde::encode::write_named`: a struct is a map from field name to value, so a field
//!   added later is read as absent from older records, as with JSON), ids as 16-byte binary
//!   strings. Without string escaping and with length-prefixed strings, an execution with 2
//!   attempts encodes in half its JSON's time and decodes in two thirds, 24 % smaller
//!   (`benches/store.rs`, `codec`).
//!
//! In every format with a header the record after it is the whole record, header fields
//! included.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;

const RECORD_V1: u8 = 1;
const RECORD_V2: u8 = 2;
const RECORD_V3: u8 = 3;

/// The deepest nesting a record may have (rmp-serde allows 1,024 by default, serde_json 127;
/// [`decode_json`]): the
/// deepest body the API accepts (`api.json_depth_max`, at most 128) plus the levels of the
/// record around it (an execution's context holds the event holding the body), with room.
/// A damaged record nested deeper is reported as corrupt instead of being followed down.
const DEPTH_MAX: usize = 192;

/// Encodes a record in the newest format (3) without a header.
pub fn encode<T: Serialize>(rec: &T) -> Vec<u8> {
    encode_with_header(&[], rec)
}

/// Encodes a record in the newest format (3) after `header` (at most 255 bytes, the caller's
/// fixed layout).
pub(crate) fn encode_with_header<T: Serialize>(header: &[u8], rec: &T) -> Vec<u8> {
    let n = u8::try_from(header.len()).expect("a record header is at most 255 bytes");
    let mut out = Vec::with_capacity(2 + header.len() + 384);
    out.push(RECORD_V3);
    out.push(n);
    out.extend_from_slice(header);
    // Our model types always encode: every map has string keys and every sequence a length.
    rmp_serde::encode::write_named(&mut out, rec).expect("model types serialize");
    out
}

/// The header of a format 2 or 3 record; `None` for a record without one (format 1, or a
/// header length of 0) or bytes too short to hold the header they announce (which [`decode`]
/// reports as corrupt).
pub(crate) fn header(bytes: &[u8]) -> Option<&[u8]> {
    match bytes {
        [RECORD_V2 | RECORD_V3, n, rest @ ..] if *n > 0 => rest.get(..usize::from(*n)),
        _ => None,
    }
}

/// Decodes a record of any format. Errors: [`StoreError::Corrupt`] naming `table`, for an
/// empty record, an unknown format byte, a header longer than the record, or a body that
/// does not decode as `T`.
pub fn decode<T: DeserializeOwned>(table: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |detail: String| StoreError::Corrupt { table, detail };
    fn after_header(rest: &[u8]) -> Option<&[u8]> {
        rest.split_first().and_then(|(n, rest)| rest.get(usize::from(*n)..))
    }
    let after_header = |rest| after_header(rest).ok_or_else(|| corrupt("record shorter than its header".into()));
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => decode_json(rest).map_err(corrupt),
        Some((&RECORD_V2, rest)) => decode_json(after_header(rest)?).map_err(corrupt),
        Some((&RECORD_V3, rest)) => {
            let mut de = rmp_serde::Deserializer::from_read_ref(after_header(rest)?);
            // rmp-serde counts its limit down before each level and refuses at 0, so a limit
            // of n admits n - 1 levels (rmp-serde 1.3, `depth_count!`).
            de.set_max_depth(DEPTH_MAX + 1);
            T::deserialize(&mut de).map_err(|e| corrupt(e.to_string()))
        }
        Some((v, _)) => Err(corrupt(format!("unknown record version {v}"))),
        None => Err(corrupt("empty record".into())),
    }
}

/// Decodes the JSON of a format 1 or 2 record nested at most [`DEPTH_MAX`] levels deep.
///
/// serde_json refuses a 128th level by default, one short of what the schema 4 build wrote:
/// an ingested body is kept as JSON when it parses at all, up to 127 levels, and the event
/// record around it is one level deeper, so that build stored such an event and could never
/// read it back (every list of the brand's events answered 500, and would again after the
/// upgrade). The depth is checked first, on the bytes, then the record is decoded without
/// serde_json's limit: such a record reads in a migrated store while a damaged one nested
/// deeper than [`DEPTH_MAX`] is refused before the decoder follows it down.
fn decode_json<T: DeserializeOwned>(json: &[u8]) -> Result<T, String> {
    let depth = crate::model::json_depth(json, DEPTH_MAX);
    if depth > DEPTH_MAX {
        return Err(format!("JSON nested deeper than {DEPTH_MAX} levels"));
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    de.disable_recursion_limit();
    let v = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(v)
}

pub fn decode_u32(bytes: &[u8]) -> Result<u32, StoreError> {
    let arr: [u8; 4] = bytes.try_into().map_err(|_| StoreError::Corrupt { table: "meta", detail: "bad u32".into() })?;
    Ok(u32::from_le_bytes(arr))
}

pub fn decode_id(table: &'static str, bytes: &[u8]) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::from_slice(bytes).map_err(|_| StoreError::Corrupt { table, detail: "bad id".into() })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use serde_json::{Value, json};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Old {
        id: uuid::Uuid,
        name: String,
        context: Value,
    }

    /// `Old` as a later release writes it: one field more, optional.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct New {
        id: uuid::Uuid,
        name: String,
        context: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        added: Option<u64>,
    }

    fn old() -> Old {
        Old {
            id: uuid::Uuid::from_u128(7),
            name: "a \"quoted\" name, é\n".into(),
            context: json!({"n": -3, "f": 2.5, "big": u64::MAX, "s": "x", "z": null, "a": [true, {}], "o": {"k": "v"}}),
        }
    }

    /// Each format reads the same record; a field added later reads as its default from an
    /// older record and an unknown field is skipped, as with JSON.
    #[test]
    fn every_format_reads_the_same_record_and_tolerates_added_fields() {
        let r = old();
        let json = serde_json::to_vec(&r).unwrap();
        let v1 = [&[RECORD_V1][..], &json].concat();
        let v2 = [&[RECORD_V2, 3, 9, 9, 9][..], &json].concat();
        let v3 = encode(&r);
        assert_eq!(v3[..2], [RECORD_V3, 0]);
        assert!(v3.len() < v1.len(), "MessagePack is the smaller ({} vs {} bytes)", v3.len(), v1.len());
        let v3h = encode_with_header(&[9, 9, 9], &r);
        assert_eq!(header(&v3h), Some(&[9, 9, 9][..]));
        assert_eq!(header(&v2), Some(&[9, 9, 9][..]));
        assert_eq!(header(&v3), None, "a header of length 0 is no header");
        assert_eq!(header(&v1), None);
        for bytes in [&v1, &v2, &v3, &v3h] {
            assert_eq!(decode::<Old>("t", bytes).unwrap(), r);
            let newer: New = decode("t", bytes).unwrap();
            assert_eq!((newer.id, newer.added), (r.id, None));
        }
        let later = encode(&New { id: r.id, name: r.name.clone(), context: r.context.clone(), added: Some(5) });
        assert_eq!(decode::<Old>("t", &later).unwrap(), r, "an unknown field is skipped");
        assert_eq!(decode::<New>("t", &later).unwrap().added, Some(5));
    }

    /// A record nested deeper than [`DEPTH_MAX`] (a damaged one: the API refuses such bodies)
    /// is reported as corrupt instead of being followed down.
    #[test]
    fn a_record_nested_too_deep_is_corrupt() {
        // MessagePack: `0x91` opens an array of one element, `0xc0` is nil.
        let nested = |depth: usize| [&[RECORD_V3, 0][..], &vec![0x91; depth], &[0xc0]].concat();
        assert!(decode::<Value>("t", &nested(128 + 16)).is_ok(), "the deepest body the API takes, in a record");
        // The same limit as JSON records (`decode_json`): a record read as JSON at 192 levels
        // reads again once it is rewritten in format 3.
        assert!(decode::<Value>("t", &nested(DEPTH_MAX)).is_ok(), "exactly DEPTH_MAX levels read");
        assert!(decode::<Value>("t", &nested(DEPTH_MAX + 1)).is_err());
        let json = format!("{}null{}", "[".repeat(DEPTH_MAX), "]".repeat(DEPTH_MAX));
        let v: Value = decode("t", &[&[RECORD_V1][..], json.as_bytes()].concat()).expect("192 levels of JSON read");
        assert_eq!(decode::<Value>("t", &encode(&v)).expect("and read again as format 3"), v);
        assert!(matches!(decode::<Value>("t", &nested(100_000)), Err(StoreError::Corrupt { .. })));
    }

    /// A JSON record (formats 1 and 2, written before schema 5) as deep as the schema 4 build
    /// stored — an event holding a 127-level body is 128 levels, which serde_json's default
    /// limit refused — reads back; one nested deeper than [`DEPTH_MAX`] is corrupt, and
    /// brackets inside strings do not count.
    #[test]
    fn a_json_record_as_deep_as_the_api_allowed_reads_and_a_deeper_one_is_corrupt() {
        let nested = |depth: usize| format!("{}null{}", "[".repeat(depth), "]".repeat(depth));
        let event = format!(r#"{{"id":"x","body":{},"note":"[[[{{\"]]"}}"#, nested(127));
        for bytes in
            [[&[RECORD_V1][..], event.as_bytes()].concat(), [&[RECORD_V2, 1, 0][..], event.as_bytes()].concat()]
        {
            assert!(
                serde_json::from_slice::<Value>(&bytes[bytes.len() - event.len()..]).is_err(),
                "past serde_json's default"
            );
            let v: Value = decode("events", &bytes).expect("a 128-level record reads");
            assert_eq!(v["note"], "[[[{\"]]");
            let mut body = &v["body"];
            for _ in 0..127 {
                body = &body[0];
            }
            assert!(body.is_null());
        }
        assert!(decode::<Value>("t", &[&[RECORD_V1][..], nested(DEPTH_MAX).as_bytes()].concat()).is_ok());
        for depth in [DEPTH_MAX + 1, 100_000] {
            let deep = [&[RECORD_V1][..], nested(depth).as_bytes()].concat();
            assert!(matches!(decode::<Value>("t", &deep), Err(StoreError::Corrupt { .. })), "{depth}");
        }
        assert!(matches!(decode::<Value>("t", b"\x01[1] x"), Err(StoreError::Corrupt { .. })), "trailing bytes");
        assert_eq!(crate::model::json_depth(br#"["]]]]","\\",{"a":[{}]}]"#, 10), 4);
    }

    proptest! {
        /// Whatever the bytes (a torn or overwritten record), decoding answers a value or
        /// `Corrupt`, never a panic.
        #[test]
        fn any_bytes_decode_or_are_corrupt(tail in proptest::collection::vec(any::<u8>(), 0..64), cut in 0usize..200) {
            let mut whole = encode(&old());
            whole.truncate(cut.max(2));
            let json = [&[RECORD_V1][..], &tail].concat();
            for bytes in [[&[RECORD_V3, 0][..], &tail].concat(), json, whole] {
                match decode::<Old>("t", &bytes) {
                    Ok(_) | Err(StoreError::Corrupt { .. }) => {}
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
        }
    }
}
