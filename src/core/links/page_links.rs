//! Access to an end user's connections page: a short-lived signed link, exchanged once for a
//! session cookie.
//!
//! The scheduler's backend mints a link for one tenant and one `end_user_ref`
//! (`POST /v1/page-links`) and sends its user's browser there. The link is
//! `/page/open/{key id}.{payload}.{mac}` (`signed_tokens`, its own purpose), valid
//! [`LINK_TTL_MS`]. Opening it stores a session keyed by the link's nonce, so a link opens
//! one session only (a copied or replayed link is refused), and answers with:
//! - an `HttpOnly`, `SameSite=Lax` cookie holding a fresh secret (only its hash is stored),
//!   valid [`SESSION_TTL_MS`];
//! - a redirect to `/page`, so the link leaves the address bar and the history.
//!
//! API keys never reach the browser. Every button that changes something is a `POST` with
//! the session's CSRF token ([`csrf_matches`]) and a same-origin `Origin`, on top of
//! `SameSite=Lax`, which keeps the cookie off cross-site `POST`s.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::common::ids::{new_nonce, RandomUnavailable};
use crate::core::crypto::digest::sha256_hex;
use crate::core::crypto::signed_tokens::{self, Purpose};
use crate::core::crypto::Keyring;
use crate::core::http::api_error::ApiError;
use crate::core::oauth::connect_sessions::validate_end_user_ref;
use serde::{Deserialize, Serialize};

/// Where links open.
pub const OPEN_PATH: &str = "/page/open/";
/// The page itself.
pub const PAGE_PATH: &str = "/page";
/// How long a link may wait to be opened: it is minted just before the user's browser
/// is sent to it.
pub const LINK_TTL_MS: i64 = 15 * 60 * 1000;
/// How long a page session lasts: long enough for a reconnect round trip at a platform.
pub const SESSION_TTL_MS: i64 = 2 * 60 * 60 * 1000;

const PURPOSE: Purpose = Purpose {
    tag: b"evergreen/page-link/v1\n",
    max_len: 700,
};

/// The page's session cookie.
pub const COOKIE: crate::core::oauth::binding_cookie::Cookie =
    crate::core::oauth::binding_cookie::Cookie {
        secure_name: "__Host-evergreen_page",
        loopback_name: "evergreen_page",
    };

/// What a page link says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageClaims {
    #[serde(rename = "t")]
    pub tenant_id: TenantId,
    #[serde(rename = "u")]
    pub end_user_ref: String,
    /// Unix milliseconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
    /// Opens one session: the session is stored under it.
    #[serde(rename = "n")]
    pub nonce: String,
}

/// Why a link does not open a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageLinkError {
    /// Not a link Evergreen signed (mistyped, tampered, another purpose, a retired key).
    Invalid,
    Expired,
    /// It opened a session already.
    Used,
}

/// A new link's claims, or why `end_user_ref` cannot have one (the rule connect sessions
/// apply: a page can only show connections that could exist).
pub fn new_claims(
    tenant_id: &TenantId,
    end_user_ref: &str,
    now: Timestamp,
) -> Result<Result<PageClaims, ApiError>, RandomUnavailable> {
    if let Err(e) = validate_end_user_ref(end_user_ref) {
        return Ok(Err(e));
    }
    Ok(Ok(PageClaims {
        tenant_id: tenant_id.clone(),
        end_user_ref: end_user_ref.to_owned(),
        expires_at: now.plus_millis(LINK_TTL_MS).as_millis(),
        nonce: new_nonce()?,
    }))
}

/// The link's token (the path segment after [`OPEN_PATH`]).
pub fn sign(claims: &PageClaims, keyring: &Keyring) -> String {
    signed_tokens::sign(&PURPOSE, claims, keyring)
}

/// The claims of a link whose signature checks out and which has not expired at `now`.
pub fn verify(token: &str, keyring: &Keyring, now: Timestamp) -> Result<PageClaims, PageLinkError> {
    let claims: PageClaims =
        signed_tokens::verify(&PURPOSE, token, keyring).ok_or(PageLinkError::Invalid)?;
    if now.as_millis() >= claims.expires_at {
        return Err(PageLinkError::Expired);
    }
    Ok(claims)
}

/// Whether a path segment can be a page link (before any cryptography).
pub fn looks_like_token(segment: &str) -> bool {
    signed_tokens::looks_like_token(&PURPOSE, segment)
}

/// The link's URL on Evergreen's `base` URL.
pub fn link_url(base: &str, token: &str) -> String {
    format!("{base}{OPEN_PATH}{token}")
}

/// Whether the CSRF token a form sent is the session's. Both are hashed first, so the
/// comparison takes the same time wherever they differ.
pub fn csrf_matches(session_csrf: &str, sent: Option<&str>) -> bool {
    sent.is_some_and(|sent| !sent.is_empty() && sha256_hex(sent) == sha256_hex(session_csrf))
}

/// Whether a state-changing request's `Origin` (when the browser sent one) is Evergreen's
/// own. Browsers send it on every `POST`; a missing one is left to the CSRF token.
pub fn same_origin(origin_header: Option<&str>, own_origin: &str) -> bool {
    origin_header.is_none_or(|o| o == own_origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn a_link_opens_for_fifteen_minutes_and_only_as_a_page_link() {
        let ring = Keyring::parse(K1).unwrap();
        let claims = new_claims(&"ten_a".into(), "user-1", NOW).unwrap().unwrap();
        let token = sign(&claims, &ring);
        assert!(looks_like_token(&token));
        assert_eq!(verify(&token, &ring, NOW), Ok(claims.clone()));
        assert_eq!(
            verify(&token, &ring, NOW.plus_millis(LINK_TTL_MS - 1)),
            Ok(claims.clone())
        );
        assert_eq!(
            verify(&token, &ring, NOW.plus_millis(LINK_TTL_MS)),
            Err(PageLinkError::Expired)
        );
        // A reconnect link's signature is not a page link's.
        let reconnect = crate::core::links::reconnect_links::sign(
            &crate::core::links::reconnect_links::new_claims(
                &"gr".into(),
                1,
                &"ten_a".into(),
                "c",
                1,
                NOW,
            )
            .unwrap(),
            &ring,
        );
        assert_eq!(verify(&reconnect, &ring, NOW), Err(PageLinkError::Invalid));
        // Another end user's claims under the old signature.
        let (kid, rest) = token.split_once('.').unwrap();
        let mac = rest.split_once('.').unwrap().1;
        let mut other = claims;
        other.end_user_ref = "user-2".into();
        let forged = format!(
            "{kid}.{}.{mac}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                serde_json::to_vec(&other).unwrap()
            )
        );
        assert_eq!(verify(&forged, &ring, NOW), Err(PageLinkError::Invalid));
    }

    #[test]
    fn an_end_user_ref_must_be_one_the_connections_could_have() {
        assert!(new_claims(&"ten_a".into(), "", NOW).unwrap().is_err());
        assert!(new_claims(&"ten_a".into(), " user", NOW).unwrap().is_err());
        assert!(new_claims(&"ten_a".into(), &"u".repeat(201), NOW)
            .unwrap()
            .is_err());
        assert!(new_claims(&"ten_a".into(), &"u".repeat(200), NOW)
            .unwrap()
            .is_ok());
    }

    #[test]
    fn a_form_is_accepted_only_with_the_sessions_token_from_our_origin() {
        assert!(csrf_matches("abc", Some("abc")));
        assert!(!csrf_matches("abc", Some("abd")));
        assert!(!csrf_matches("abc", Some("")));
        assert!(!csrf_matches("abc", None));
        assert!(same_origin(Some("https://e.example"), "https://e.example"));
        assert!(same_origin(None, "https://e.example"));
        assert!(!same_origin(
            Some("https://evil.example"),
            "https://e.example"
        ));
        assert!(!same_origin(Some("null"), "https://e.example"));
    }

    #[test]
    fn the_session_cookie_is_http_only_and_host_bound_on_https() {
        let https = crate::core::http::origin::Origin::of("https://e.example").unwrap();
        let set = COOKIE.set_cookie(&https, "v", 7200);
        assert!(set.starts_with("__Host-evergreen_page=v; Path=/;"), "{set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
    }
}
