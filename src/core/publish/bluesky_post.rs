//! A Bluesky post (`app.bsky.feed.post`), written with `com.atproto.repo.putRecord` at a record
//! key of the target's own.
//!
//! The key is a TID (atproto.com/specs/tid: 53 bits of microseconds and 10 bits of clock id,
//! base32-sortable, 13 characters) made from the target's slot and its id, so every attempt of
//! one target writes the same record: a retry after a lost answer rewrites it, never adds a
//! second post. An unclear answer is settled by reading that record back
//! (`com.atproto.repo.getRecord`): there, it was published; `RecordNotFound`, nothing was.
//!
//! Shapes (docs.bsky.app/docs/api/com-atproto-repo-put-record, …/get-record): `putRecord
//! {"repo", "collection", "rkey", "record"}` → `{"uri": "at://did/app.bsky.feed.post/rkey",
//! "cid"}`; `getRecord?repo&collection&rkey` → `{"uri", "cid", "value"}` or `400 {"error":
//! "RecordNotFound"}`.

use crate::core::common::clock::Timestamp;
use crate::core::crypto::digest::sha256_hex;
use serde_json::{json, Value};

pub const COLLECTION: &str = "app.bsky.feed.post";

const S32: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";

/// The target's record key: its slot's microseconds and a clock id from its id.
pub fn record_key(target_id: &str, slot: Timestamp) -> String {
    let micros = (slot.as_millis().max(0) as u64).saturating_mul(1000) & ((1 << 53) - 1);
    let clock = u64::from_str_radix(&sha256_hex(target_id)[..4], 16).unwrap_or(0) & 0x3ff;
    let n = (micros << 10) | clock;
    (0..13)
        .map(|i| S32[((n >> (60 - 5 * i)) & 31) as usize] as char)
        .collect()
}

/// The `putRecord` body.
pub fn put_body(did: &str, rkey: &str, text: &str, created_at: Timestamp) -> Value {
    json!({
        "repo": did,
        "collection": COLLECTION,
        "rkey": rkey,
        "record": {
            "$type": COLLECTION,
            "text": text,
            "createdAt": created_at.to_rfc3339(),
        },
    })
}

/// `putRecord`'s URL on the PDS.
pub fn put_url(pds: &str) -> String {
    format!("{pds}/xrpc/com.atproto.repo.putRecord")
}

/// `getRecord`'s URL for the target's record.
pub fn get_url(pds: &str, did: &str, rkey: &str) -> String {
    crate::core::http::query::with_params(
        &format!("{pds}/xrpc/com.atproto.repo.getRecord"),
        &[("repo", did), ("collection", COLLECTION), ("rkey", rkey)],
    )
}

/// The record's `uri` in a `putRecord` or `getRecord` answer.
pub fn record_uri(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("uri")?
        .as_str()
        .filter(|u| u.starts_with("at://"))
        .map(str::to_owned)
}

/// Whether an error answer says the record is not there.
pub fn not_found(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|e| e == "RecordNotFound")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_targets_record_key_is_a_tid_of_its_own_and_the_same_every_time() {
        let slot = Timestamp::from_millis(1_765_000_000_000);
        let key = record_key("tgt_a", slot);
        assert_eq!(key.len(), 13);
        assert!(key.bytes().all(|b| S32.contains(&b)), "{key}");
        assert!(
            matches!(key.as_bytes()[0], b'2'..=b'7' | b'a'..=b'j'),
            "top bit clear"
        );
        assert_eq!(record_key("tgt_a", slot), key, "every attempt the same");
        assert_ne!(record_key("tgt_b", slot), key, "another target another key");
        // Sortable by slot.
        assert!(record_key("tgt_a", slot.plus_millis(1)) > key);
    }

    #[test]
    fn the_record_is_a_post_and_its_uri_reads_back() {
        let at = Timestamp::from_millis(1_765_000_000_000);
        let body = put_body("did:plc:abc", "3lb", "hello", at);
        assert_eq!(body["collection"], COLLECTION);
        assert_eq!(body["record"]["$type"], COLLECTION);
        assert_eq!(body["record"]["text"], "hello");
        assert_eq!(
            record_uri(br#"{"uri":"at://did:plc:abc/app.bsky.feed.post/3lb","cid":"bafy"}"#)
                .as_deref(),
            Some("at://did:plc:abc/app.bsky.feed.post/3lb")
        );
        assert!(not_found(
            br#"{"error":"RecordNotFound","message":"Could not locate record"}"#
        ));
        assert!(!not_found(br#"{"error":"InternalServerError"}"#));
        assert_eq!(
            get_url("https://pds.example.org", "did:plc:abc", "3lb"),
            "https://pds.example.org/xrpc/com.atproto.repo.getRecord?repo=did%3Aplc%3Aabc&collection=app.bsky.feed.post&rkey=3lb"
        );
    }
}
