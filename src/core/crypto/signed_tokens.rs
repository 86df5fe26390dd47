//! Tokens Evergreen signs and later reads back without a lookup: `{key id}.{payload}.{mac}`.
//!
//! The payload is base64url JSON; the MAC is HMAC-SHA256 under the key id's signing key
//! (`Keyring::signing_key`) over a purpose tag, the key id and the payload. So any edge
//! verifies a token, keys rotate (a token verifies while its key is still in the ring), and a
//! token made for one purpose (a reconnect link) never verifies as another (a page link).
//! What a token *means* (expiry, single use) is its purpose's module's business.

use crate::core::crypto::digest::{hmac_sha256, hmac_sha256_matches};
use crate::core::crypto::Keyring;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a family of tokens is for, as signed: `b"evergreen/<name>/v1\n"`.
pub struct Purpose {
    pub tag: &'static [u8],
    /// Longer tokens are refused before any work.
    pub max_len: usize,
}

/// `claims` signed with the ring's active key.
pub fn sign<T: Serialize>(purpose: &Purpose, claims: &T, keyring: &Keyring) -> String {
    let (key_id, key) = keyring.active_signing_key();
    let payload = URL_SAFE_NO_PAD.encode(
        // Claims are plain strings and numbers: they always serialize.
        serde_json::to_vec(claims).unwrap_or_default(),
    );
    let mac = hmac_sha256(key, &signed_parts(purpose, key_id.as_str(), &payload));
    format!("{key_id}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac))
}

/// The claims of a token signed for `purpose` under a key still in the ring; `None` for
/// anything else (mistyped, tampered, another purpose, a retired key, too long).
pub fn verify<T: DeserializeOwned>(purpose: &Purpose, token: &str, keyring: &Keyring) -> Option<T> {
    if token.len() > purpose.max_len {
        return None;
    }
    let mut parts = token.split('.');
    let (Some(key_id), Some(payload), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let key = keyring.signing_key(key_id)?;
    let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
    if !hmac_sha256_matches(key, &signed_parts(purpose, key_id, payload), &mac) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn signed_parts<'a>(purpose: &'a Purpose, key_id: &'a str, payload: &'a str) -> [&'a [u8]; 4] {
    [purpose.tag, key_id.as_bytes(), b".", payload.as_bytes()]
}

/// Whether a path segment can be a token of `purpose` (before any cryptography).
pub fn looks_like_token(purpose: &Purpose, segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= purpose.max_len
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const A: Purpose = Purpose {
        tag: b"evergreen/a/v1\n",
        max_len: 300,
    };
    const B: Purpose = Purpose {
        tag: b"evergreen/b/v1\n",
        max_len: 300,
    };

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        who: String,
    }

    #[test]
    fn a_token_verifies_only_for_the_purpose_it_was_signed_for() {
        let ring = Keyring::parse(K1).unwrap();
        let claims = Claims {
            who: "ten_a".into(),
        };
        let token = sign(&A, &claims, &ring);
        assert!(looks_like_token(&A, &token), "{token}");
        assert_eq!(verify::<Claims>(&A, &token, &ring), Some(claims));
        assert_eq!(verify::<Claims>(&B, &token, &ring), None);
        let too_long = "a".repeat(301);
        assert!(!looks_like_token(&A, &too_long));
        assert_eq!(verify::<Claims>(&A, &too_long, &ring), None);
    }
}
