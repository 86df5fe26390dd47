//! Connect sessions: the single-use link a tenant's backend hands to one of its users to
//! connect an account, and the rules for opening it.
//!
//! `POST /v1/connect-sessions {provider, end_user_ref, return_url}` makes one; the link is
//! valid for 10 minutes and opens once. Opening it starts the OAuth round trip (state, PKCE,
//! binding cookie), which then has its own, longer deadline: consent can take a while.

use crate::core::common::clock::Timestamp;
use crate::core::http::api_error::ApiError;
use crate::core::oauth::catalogue::{Catalogue, ProviderSpec};
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::return_urls;
use serde::Deserialize;

/// How long a connect link stays valid.
pub const LINK_TTL_MS: i64 = 10 * 60 * 1000;
/// How long the OAuth round trip may take once the link is opened (also the cookie's life).
pub const OAUTH_TTL_MS: i64 = 15 * 60 * 1000;
/// Where connect links live: `/connect/{secret}`.
pub const LINK_PATH: &str = "/connect/";
/// The redirect URI registered with every platform.
pub const CALLBACK_PATH: &str = "/oauth/callback";
/// How long finished or expired sessions are kept (for support questions) before the sweep
/// deletes them.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// The longest `end_user_ref` accepted.
pub const MAX_END_USER_REF_LEN: usize = 200;

/// The body of `POST /v1/connect-sessions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectRequest {
    pub provider: String,
    pub end_user_ref: String,
    pub return_url: String,
    /// Refused: reconnecting in place goes through reconnect links.
    #[serde(default)]
    pub connection_id: Option<String>,
}

/// A request that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidConnect<'a> {
    /// The provider's catalogue entry.
    pub provider: &'a ProviderSpec,
    pub end_user_ref: String,
    pub return_url: String,
}

impl ConnectRequest {
    /// Checks the request against the catalogue and the tenant's return-URL allow-list.
    pub fn validate<'c>(
        self,
        catalogue: &'c Catalogue,
        allow_list: &[String],
    ) -> Result<ValidConnect<'c>, ApiError> {
        let provider = catalogue.get(&self.provider).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "Unknown provider {:?}; known: {}.",
                self.provider,
                catalogue.names().join(", ")
            ))
        })?;
        validate_end_user_ref(&self.end_user_ref)?;
        if self.connection_id.is_some() {
            return Err(ApiError::invalid_request(
                "A connect session connects an account; to restore an existing connection in \
                 place, mint a reconnect link with POST /v1/connections/{id}/reconnect-link.",
            ));
        }
        return_urls::validate(&self.return_url)?;
        if !return_urls::is_allowed(&self.return_url, allow_list) {
            return Err(ApiError::invalid_request(format!(
                "return_url {:?} is not on this tenant's allow-list (exact match); the operator \
                 adds it with PUT /admin/tenants/{{id}}/return-urls.",
                self.return_url
            )));
        }
        Ok(ValidConnect {
            provider,
            end_user_ref: self.end_user_ref,
            return_url: self.return_url,
        })
    }
}

/// `end_user_ref` is the scheduler's own id for its user: 1 to 200 characters, no control
/// characters, no surrounding spaces (it is compared exactly).
pub fn validate_end_user_ref(value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_END_USER_REF_LEN
        && value.trim() == value
        && !value.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "end_user_ref must be 1 to {MAX_END_USER_REF_LEN} characters, without control \
             characters or surrounding spaces."
        )))
    }
}

/// The connect link for `secret` on Evergreen's `base` URL (`https://host`, no trailing slash).
pub fn link_url(base: &str, secret: &str) -> String {
    format!("{base}{LINK_PATH}{secret}")
}

/// Sessions that expired before this moment can be deleted.
pub fn purge_cutoff(now: Timestamp) -> Timestamp {
    now.plus_millis(-RETENTION_MS)
}

/// Why a found connect session cannot be opened now: used wins over expired, since a used
/// link is the more useful thing to say.
pub fn check_open(
    expires_at: Timestamp,
    opened_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), FlowError> {
    if opened_at.is_some() {
        Err(FlowError::ConnectLinkUsed)
    } else if expires_at <= now {
        Err(FlowError::ConnectLinkExpired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::api_error::ErrorCode;

    fn request(provider: &str, end_user: &str, return_url: &str) -> ConnectRequest {
        ConnectRequest {
            provider: provider.into(),
            end_user_ref: end_user.into(),
            return_url: return_url.into(),
            connection_id: None,
        }
    }

    const ALLOWED: &str = "https://app.example/connected";

    #[test]
    fn accepts_a_known_provider_and_an_allowed_return_url() {
        let catalogue = Catalogue::builtin();
        let valid = request("x", "user-42", ALLOWED)
            .validate(&catalogue, &[ALLOWED.to_owned()])
            .unwrap();
        assert_eq!(valid.provider.name, "x");
        assert_eq!(valid.end_user_ref, "user-42");
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let allow = [ALLOWED.to_owned()];
        let cases = [
            request("myspace", "u", ALLOWED),
            request("x", "", ALLOWED),
            request("x", " u", ALLOWED),
            request("x", &"u".repeat(201), ALLOWED),
            request("x", "u\n", ALLOWED),
            request("x", "u", "https://app.example/connected/"),
            request("x", "u", "https://evil.example/connected"),
            request("x", "u", "javascript:alert(1)"),
            ConnectRequest {
                connection_id: Some("conn_1".into()),
                ..request("x", "u", ALLOWED)
            },
        ];
        for case in cases {
            let shown = format!("{case:?}");
            let err = case.validate(&Catalogue::builtin(), &allow).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{shown}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed: Result<ConnectRequest, _> = serde_json::from_str(
            r#"{"provider":"x","end_user_ref":"u","return_url":"https://a","scopes":"all"}"#,
        );
        assert!(parsed.is_err());
    }

    #[test]
    fn a_link_opens_once_within_ten_minutes() {
        let made = Timestamp::from_millis(1_000_000);
        let expires = made.plus_millis(LINK_TTL_MS);
        assert_eq!(check_open(expires, None, made), Ok(()));
        assert_eq!(
            check_open(expires, None, expires),
            Err(FlowError::ConnectLinkExpired)
        );
        assert_eq!(
            check_open(expires, Some(made), made),
            Err(FlowError::ConnectLinkUsed)
        );
        assert_eq!(
            purge_cutoff(made),
            Timestamp::from_millis(1_000_000 - RETENTION_MS)
        );
        assert_eq!(
            link_url("https://e.example", "abc"),
            "https://e.example/connect/abc"
        );
    }
}
