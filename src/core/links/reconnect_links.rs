//! Reconnect links: one click that restores a grant in place.
//!
//! A link is `/reconnect/{key id}.{payload}.{signature}`. The payload (base64url JSON) names
//! the grant, its epoch when the link was made, the tenant, the connection it was made for,
//! when it expires and a random nonce. The signature is HMAC-SHA256 under the key id's signing
//! key (`Keyring::signing_key`) over a purpose tag, the key id and the payload, so:
//! - any edge verifies it without a lookup ([`verify`]), and keys rotate (old links verify
//!   while their key is still in the ring);
//! - a signature made for another purpose (or another key) never verifies as a link.
//!
//! Using a link checks two things that need storage ([`check_use`]): the grant's epoch must
//! still be the link's (disconnect, deletion and every reconnect bump it, so a stale link
//! never brings back what the user removed), and the nonce must not have been consumed (only
//! a successful callback consumes it).

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{new_nonce, RandomUnavailable};
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::crypto::signed_tokens::{self, Purpose};
use crate::core::crypto::Keyring;
use serde::{Deserialize, Serialize};

/// Where links live on Evergreen's origin.
pub const PATH: &str = "/reconnect/";
/// What the signature is for; no other signature of Evergreen's covers this tag.
const PURPOSE: Purpose = Purpose {
    tag: b"evergreen/reconnect-link/v1\n",
    max_len: MAX_TOKEN_LEN,
};
/// The default lifetime: longer than the warning it is sent in (14 days ahead).
pub const DEFAULT_TTL_DAYS: u16 = 21;
/// Longer tokens are refused before any work.
pub const MAX_TOKEN_LEN: usize = 600;

/// What a link says, once its signature checked out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkClaims {
    #[serde(rename = "g")]
    pub grant_id: GrantId,
    #[serde(rename = "e")]
    pub epoch: i64,
    #[serde(rename = "t")]
    pub tenant_id: TenantId,
    #[serde(rename = "c")]
    pub connection_id: String,
    /// Unix milliseconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
    #[serde(rename = "n")]
    pub nonce: String,
}

/// Why a link cannot be used. Each has its own page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// Not a link Evergreen signed (mistyped, tampered, or its key was retired).
    Invalid,
    Expired,
    /// The grant changed since the link was made (disconnected, deleted or reconnected).
    Stale,
    /// The link already reconnected the account once.
    Used,
}

/// A new link's claims for a grant at `epoch`, valid `ttl_days` from `now`.
pub fn new_claims(
    grant_id: &GrantId,
    epoch: i64,
    tenant_id: &TenantId,
    connection_id: &str,
    ttl_days: u16,
    now: Timestamp,
) -> Result<LinkClaims, RandomUnavailable> {
    Ok(LinkClaims {
        grant_id: grant_id.clone(),
        epoch,
        tenant_id: tenant_id.clone(),
        connection_id: connection_id.to_owned(),
        expires_at: now
            .plus_millis(i64::from(ttl_days) * 86_400_000)
            .as_millis(),
        nonce: new_nonce()?,
    })
}

/// The link's token (the path segment after [`PATH`]), signed with the ring's active key.
pub fn sign(claims: &LinkClaims, keyring: &Keyring) -> String {
    signed_tokens::sign(&PURPOSE, claims, keyring)
}

/// The claims of a token whose signature checks out and which has not expired at `now`.
pub fn verify(token: &str, keyring: &Keyring, now: Timestamp) -> Result<LinkClaims, LinkError> {
    let claims: LinkClaims =
        signed_tokens::verify(&PURPOSE, token, keyring).ok_or(LinkError::Invalid)?;
    if now.as_millis() >= claims.expires_at {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

/// Whether verified `claims` may still be used: the nonce unused, the grant at the link's
/// epoch. A used link says so, even though reconnecting also moved the epoch on.
/// `grant_epoch` is `None` when the grant is gone (or holds no tokens any more).
pub fn check_use(
    link_epoch: i64,
    grant_epoch: Option<i64>,
    nonce_consumed: bool,
) -> Result<(), LinkError> {
    if nonce_consumed {
        return Err(LinkError::Used);
    }
    match grant_epoch {
        Some(epoch) if epoch == link_epoch => Ok(()),
        _ => Err(LinkError::Stale),
    }
}

/// The link's URL on Evergreen's `base` URL.
pub fn link_url(base: &str, token: &str) -> String {
    format!("{base}{PATH}{token}")
}

/// Whether a path segment can be a link token (before any cryptography).
pub fn looks_like_token(segment: &str) -> bool {
    signed_tokens::looks_like_token(&PURPOSE, segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "k2:HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";
    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const DAY: i64 = 86_400_000;

    fn claims() -> LinkClaims {
        new_claims(&"gr_1".into(), 4, &"ten_a".into(), "conn_1", 21, NOW).unwrap()
    }

    #[test]
    fn a_signed_link_verifies_at_any_edge_until_it_expires() {
        let ring = Keyring::parse(K1).unwrap();
        let c = claims();
        let token = sign(&c, &ring);
        assert!(looks_like_token(&token), "{token}");
        assert_eq!(verify(&token, &ring, NOW), Ok(c.clone()));
        assert_eq!(
            verify(&token, &ring, NOW.plus_millis(21 * DAY - 1)),
            Ok(c.clone())
        );
        assert_eq!(
            verify(&token, &ring, NOW.plus_millis(21 * DAY)),
            Err(LinkError::Expired)
        );
        assert_ne!(c.nonce, claims().nonce, "every link has its own nonce");
    }

    #[test]
    fn tampered_links_and_links_under_another_key_are_invalid() {
        let ring = Keyring::parse(K1).unwrap();
        let token = sign(&claims(), &ring);
        let (kid, rest) = token.split_once('.').unwrap();
        let (payload, mac) = rest.split_once('.').unwrap();
        // A payload rewritten to another grant (with the old signature).
        let mut other = claims();
        other.grant_id = "gr_2".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&other).unwrap());
        let mut flipped = mac.as_bytes().to_vec();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            format!("{kid}.{forged_payload}.{mac}"),
            format!("{kid}.{payload}.{flipped}"),
            format!("k2.{payload}.{mac}"),
            format!("{kid}.{payload}"),
            format!("{token}.x"),
            String::new(),
            "a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert_eq!(verify(&bad, &ring, NOW), Err(LinkError::Invalid), "{bad}");
        }
        // Signed by another deployment's key with the same id: invalid.
        let elsewhere = Keyring::parse(&format!("k1:{}", &K2[3..])).unwrap();
        assert_eq!(
            verify(&sign(&claims(), &elsewhere), &ring, NOW),
            Err(LinkError::Invalid)
        );
    }

    #[test]
    fn links_survive_key_rotation_until_the_old_key_is_retired() {
        let old = Keyring::parse(K1).unwrap();
        let token = sign(&claims(), &old);
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert!(verify(&token, &rotated, NOW).is_ok());
        assert!(sign(&claims(), &rotated).starts_with("k2."));
        let retired = Keyring::parse(K2).unwrap();
        assert_eq!(verify(&token, &retired, NOW), Err(LinkError::Invalid));
    }

    #[test]
    fn a_link_is_used_once_and_only_at_its_epoch() {
        let c = claims();
        assert_eq!(check_use(c.epoch, Some(4), false), Ok(()));
        assert_eq!(check_use(c.epoch, Some(5), false), Err(LinkError::Stale));
        assert_eq!(check_use(c.epoch, None, false), Err(LinkError::Stale));
        assert_eq!(check_use(c.epoch, Some(5), true), Err(LinkError::Used));
    }
}
