//! A grant's tokens: what is sealed into `grants.token_ciphertext`, when the access token
//! expires, and whether it may still be handed out.
//!
//! Tokens are only ever held as [`SecretText`], whose `Debug` prints nothing, so a token
//! cannot reach a log through a `{:?}`.

use crate::core::common::clock::Timestamp;
use crate::core::oauth::catalogue::{RefreshTokenKind, TokenFacts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The seal purpose of a grant's tokens (associated data with tenant, grant, key id, version).
pub const SEAL_PURPOSE: &str = "grant_tokens";

/// An access token is handed out only with at least this much life left: less would expire in
/// the caller's hands.
pub const MIN_REMAINING_MS: i64 = 60_000;

/// Lifetimes longer than this are treated as a platform error and capped (10 years).
const MAX_LIFETIME_SECS: u64 = 10 * 366 * 24 * 60 * 60;

/// A secret string that never prints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

/// What one consent or refresh produced, as sealed at rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: SecretText,
    /// `None` when the platform gave none (never overwrite a stored one with nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretText>,
    /// Tokens of the accounts the grant manages, by their id at the platform, where each has
    /// its own (Facebook Page tokens). A connection of such an account is served its token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub account_tokens: BTreeMap<String, SecretText>,
    /// A DPoP-bound grant's key and servers (Bluesky): its tokens are useless without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop: Option<Box<DpopBinding>>,
}

/// What a DPoP-bound grant (Bluesky) needs besides its tokens, sealed with them: its own key
/// (every request carries a proof signed with it), the account's DID and PDS, the
/// authorization server's endpoints, and the last nonce each server gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpopBinding {
    /// The key's secret scalar, base64url (`core::crypto::es256`).
    pub key: SecretText,
    pub did: String,
    pub handle: String,
    /// The PDS's base URL (`https://host`).
    pub pds: String,
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pds_nonce: Option<String>,
}

impl TokenSet {
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing two strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Whether the grant can get a new access token at `now`: it holds a refresh token, or (where
/// the platform renews the access token itself, Instagram) its access token has not expired:
/// an expired one cannot be exchanged, and sending it would only be refused.
pub fn can_refresh(
    facts: &TokenFacts,
    tokens: &TokenSet,
    access_expires_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    match facts.refresh_token {
        RefreshTokenKind::AccessToken => access_expires_at.is_none_or(|at| now < at),
        _ => tokens.refresh_token.is_some(),
    }
}

/// When an access token issued at `now` with `expires_in` seconds expires. A missing
/// `expires_in` is legal (RFC 6749) and means "unknown", not "never" and not an error.
pub fn access_expiry(now: Timestamp, expires_in: Option<u64>) -> Option<Timestamp> {
    expires_in.map(|secs| now.plus_millis(secs.min(MAX_LIFETIME_SECS) as i64 * 1000))
}

/// Whether a stored access token may be handed out at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRead {
    /// Hand it out.
    Usable,
    /// Hand it out, saying it is shorter than asked: the caller asked for more validity than
    /// the platform issues (the token's whole life, from `issued_at`, is less than the ask),
    /// and no refresh could do better. It still has at least [`MIN_REMAINING_MS`] left.
    ShorterThanAsked,
    /// It has expired or is about to (less than the caller's minimum, and never less than
    /// [`MIN_REMAINING_MS`], left), and a token of its kind could have met the ask.
    Expired,
}

/// How a token that expires at `access_expires_at`, issued at `issued_at`, may be handed to a
/// caller who needs `min_valid_ms` of it at `now`.
pub fn check_read(
    access_expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    min_valid_ms: i64,
    now: Timestamp,
) -> TokenRead {
    let Some(at) = access_expires_at else {
        // Unknown lifetime: the platform said nothing, so the token is used until it fails.
        return TokenRead::Usable;
    };
    let left = at.as_millis() - now.as_millis();
    let lifetime = at.as_millis() - issued_at.as_millis();
    if left >= min_valid_ms.max(MIN_REMAINING_MS) {
        TokenRead::Usable
    } else if left >= MIN_REMAINING_MS && lifetime < min_valid_ms {
        TokenRead::ShorterThanAsked
    } else {
        TokenRead::Expired
    }
}

/// What a caller of `POST /v1/connections/{id}/token` asks for (an empty body asks for the
/// defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The token must stay valid at least this long; it is refreshed first otherwise.
    #[serde(
        default = "default_min_valid",
        deserialize_with = "crate::core::http::json_integer::exact"
    )]
    pub min_valid_seconds: u32,
    /// Check the token with the platform's identity call first (and refresh once if the
    /// platform refuses it): the pre-post check.
    #[serde(default)]
    pub validate: bool,
}

/// The longest validity a caller may ask for: a day (access tokens rarely live longer).
pub const MAX_MIN_VALID_SECONDS: u32 = 86_400;

fn default_min_valid() -> u32 {
    (MIN_REMAINING_MS / 1_000) as u32
}

impl TokenRequest {
    pub fn parse(body: &str) -> Result<Self, String> {
        let request: Self = if matches!(body.trim(), "" | "null") {
            serde_json::from_str("{}")
        } else {
            serde_json::from_str(body)
        }
        .map_err(|e| format!("The body must be {{\"min_valid_seconds\": n, \"validate\": bool}} (both optional) or empty: {e}."))?;
        if request.min_valid_seconds > MAX_MIN_VALID_SECONDS {
            return Err(format!(
                "min_valid_seconds can be at most {MAX_MIN_VALID_SECONDS} (a day)."
            ));
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    #[test]
    fn tokens_never_print() {
        let set = TokenSet {
            access_token: SecretText::new("access-123"),
            refresh_token: Some(SecretText::new("refresh-456")),
            account_tokens: BTreeMap::from([("101".to_owned(), SecretText::new("page-789"))]),
            dpop: None,
        };
        let shown = format!("{set:?}");
        assert!(!shown.contains("access-123") && !shown.contains("refresh-456"));
        assert!(!shown.contains("page-789"));
        assert_eq!(TokenSet::from_bytes(&set.to_bytes()).unwrap(), set);
    }

    #[test]
    fn a_missing_refresh_token_round_trips_as_none() {
        let set = TokenSet {
            access_token: SecretText::new("a"),
            refresh_token: None,
            account_tokens: BTreeMap::new(),
            dpop: None,
        };
        assert_eq!(set.to_bytes(), br#"{"access_token":"a"}"#);
        assert_eq!(TokenSet::from_bytes(&set.to_bytes()).unwrap(), set);
    }

    #[test]
    fn a_grant_refreshes_with_its_refresh_token_or_instagrams_unexpired_access_token() {
        let catalogue = crate::core::oauth::catalogue::Catalogue::builtin();
        let facts = |name: &str| catalogue.get(name).unwrap().tokens.clone();
        let bare = TokenSet {
            access_token: SecretText::new("a"),
            refresh_token: None,
            account_tokens: BTreeMap::new(),
            dpop: None,
        };
        let with_refresh = TokenSet {
            refresh_token: Some(SecretText::new("r")),
            ..bare.clone()
        };
        let later = Some(NOW.plus_millis(1));
        assert!(can_refresh(&facts("x"), &with_refresh, later, NOW));
        assert!(!can_refresh(&facts("linkedin"), &bare, later, NOW));
        assert!(!can_refresh(&facts("facebook"), &bare, later, NOW));
        assert!(can_refresh(&facts("instagram"), &bare, later, NOW));
        assert!(
            !can_refresh(&facts("instagram"), &bare, Some(NOW), NOW),
            "an expired Instagram token cannot be exchanged"
        );
    }

    #[test]
    fn expiry_comes_from_expires_in_and_unknown_stays_unknown() {
        assert_eq!(
            access_expiry(NOW, Some(7200)),
            Some(NOW.plus_millis(7_200_000))
        );
        assert_eq!(access_expiry(NOW, None), None);
        assert_eq!(
            access_expiry(NOW, Some(u64::MAX)),
            Some(NOW.plus_millis(MAX_LIFETIME_SECS as i64 * 1000))
        );
    }

    #[test]
    fn tokens_are_handed_out_only_with_a_minute_left() {
        let issued = NOW.plus_millis(-3_600_000);
        assert_eq!(check_read(None, issued, 0, NOW), TokenRead::Usable);
        assert_eq!(
            check_read(Some(NOW.plus_millis(MIN_REMAINING_MS)), issued, 0, NOW),
            TokenRead::Usable
        );
        assert_eq!(
            check_read(Some(NOW.plus_millis(MIN_REMAINING_MS - 1)), issued, 0, NOW),
            TokenRead::Expired
        );
        assert_eq!(
            check_read(Some(NOW.plus_millis(-1)), issued, 0, NOW),
            TokenRead::Expired
        );
    }

    #[test]
    fn a_token_shorter_than_the_platform_ever_issues_is_handed_out_as_such() {
        // 120-second tokens, just issued; the caller asks for 300 seconds.
        let fresh = Some(NOW.plus_millis(120_000));
        assert_eq!(
            check_read(fresh, NOW, 300_000, NOW),
            TokenRead::ShorterThanAsked
        );
        // A 2-hour token with a minute and a half left could have met a 5-minute ask: that
        // one is spent (the refresh that should have renewed it failed).
        assert_eq!(
            check_read(
                Some(NOW.plus_millis(90_000)),
                NOW.plus_millis(-7_110_000),
                300_000,
                NOW
            ),
            TokenRead::Expired
        );
        // Nothing is handed out with less than a minute left, however short the platform's.
        assert_eq!(
            check_read(
                Some(NOW.plus_millis(30_000)),
                NOW.plus_millis(-90_000),
                300_000,
                NOW
            ),
            TokenRead::Expired
        );
    }

    #[test]
    fn token_requests_default_and_are_bounded() {
        assert_eq!(TokenRequest::parse("").unwrap().min_valid_seconds, 60);
        assert_eq!(TokenRequest::parse("null").unwrap().min_valid_seconds, 60);
        assert_eq!(
            TokenRequest::parse(r#"{"min_valid_seconds": 3600}"#)
                .unwrap()
                .min_valid_seconds,
            3600
        );
        assert!(!TokenRequest::parse("").unwrap().validate);
        assert!(
            TokenRequest::parse(r#"{"validate": true}"#)
                .unwrap()
                .validate
        );
        for bad in [
            r#"{"validate": "yes"}"#,
            r#"{"min_valid_seconds": 86401}"#,
            r#"{"min_valid_seconds": -1}"#,
            r#"{"min_valid": 5}"#,
            "[",
        ] {
            assert!(TokenRequest::parse(bad).is_err(), "{bad}");
        }
    }
}
