//! The OAuth callback's checks, in the order that keeps a replayed, late or carried-over
//! answer from connecting anything.
//!
//! The edge looks the session up by the hash of `state` and consumes it atomically (so a second
//! use of the same state can never win), then asks [`check`] whether the flow may go on to the
//! code exchange. Nothing is stored before these checks pass.

use crate::core::common::clock::Timestamp;
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::query::param;
use crate::core::oauth::flow_errors::FlowError;
use subtle::ConstantTimeEq;

/// What the platform sent back on the redirect.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// The authorization server that answered (RFC 9207), where it says (Bluesky does).
    pub iss: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    // The code is a credential until exchanged: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("has_state", &self.state.is_some())
            .field("has_code", &self.code.is_some())
            .field("error", &self.error)
            .finish()
    }
}

impl CallbackParams {
    pub fn from_url(url: &str) -> Self {
        let get = |name| param(url, name).filter(|v| !v.is_empty());
        Self {
            state: get("state"),
            code: get("code"),
            error: get("error"),
            iss: get("iss"),
        }
    }

    /// The hash the session is stored under, if `state` looks like one Evergreen made.
    pub fn state_hash(&self) -> Option<String> {
        let state = self.state.as_deref()?;
        (state.len() <= 200).then(|| sha256_hex(state))
    }
}

/// What the edge found for the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFacts {
    pub expires_at: Timestamp,
    /// Whether this request's conditional update consumed the session (false: it was used).
    pub consumed_now: bool,
    /// SHA-256 (hex) of the binding cookie set when the link was opened.
    pub binding_hash: String,
}

/// Whether the flow may exchange its code; `Ok` carries the code.
pub fn check(
    params: &CallbackParams,
    session: &SessionFacts,
    presented_binding: Option<&str>,
    now: Timestamp,
) -> Result<String, FlowError> {
    if !session.consumed_now {
        return Err(FlowError::StateReused);
    }
    if session.expires_at <= now {
        return Err(FlowError::SessionExpired);
    }
    let bound = presented_binding.is_some_and(|cookie| {
        bool::from(
            sha256_hex(cookie)
                .as_bytes()
                .ct_eq(session.binding_hash.as_bytes()),
        )
    });
    if !bound {
        return Err(FlowError::BrowserMismatch);
    }
    match (&params.error, &params.code) {
        (Some(error), _) if error == "access_denied" => Err(FlowError::AccessDenied),
        (Some(_), _) => Err(FlowError::ProviderError),
        (None, None) => Err(FlowError::MissingCode),
        (None, Some(code)) => Ok(code.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOKIE: &str = "cookie-value";
    const NOW: Timestamp = Timestamp::from_millis(5_000_000);

    fn session() -> SessionFacts {
        SessionFacts {
            expires_at: NOW.plus_millis(60_000),
            consumed_now: true,
            binding_hash: sha256_hex(COOKIE),
        }
    }

    fn params(url: &str) -> CallbackParams {
        CallbackParams::from_url(url)
    }

    #[test]
    fn a_fresh_bound_session_with_a_code_goes_on() {
        let p = params("https://e/oauth/callback?state=s&code=abc");
        assert_eq!(check(&p, &session(), Some(COOKIE), NOW), Ok("abc".into()));
        assert_eq!(p.state_hash(), Some(sha256_hex("s")));
    }

    #[test]
    fn each_failed_check_names_its_reason() {
        let p = params("https://e/oauth/callback?state=s&code=abc");
        let used = SessionFacts {
            consumed_now: false,
            ..session()
        };
        assert_eq!(
            check(&p, &used, Some(COOKIE), NOW),
            Err(FlowError::StateReused)
        );
        let late = SessionFacts {
            expires_at: NOW,
            ..session()
        };
        assert_eq!(
            check(&p, &late, Some(COOKIE), NOW),
            Err(FlowError::SessionExpired)
        );
        assert_eq!(
            check(&p, &session(), None, NOW),
            Err(FlowError::BrowserMismatch)
        );
        assert_eq!(
            check(&p, &session(), Some("another"), NOW),
            Err(FlowError::BrowserMismatch)
        );
        let denied = params("https://e/cb?state=s&error=access_denied");
        assert_eq!(
            check(&denied, &session(), Some(COOKIE), NOW),
            Err(FlowError::AccessDenied)
        );
        let other = params("https://e/cb?state=s&error=server_error&code=abc");
        assert_eq!(
            check(&other, &session(), Some(COOKIE), NOW),
            Err(FlowError::ProviderError)
        );
        let empty = params("https://e/cb?state=s&code=");
        assert_eq!(
            check(&empty, &session(), Some(COOKIE), NOW),
            Err(FlowError::MissingCode)
        );
    }

    #[test]
    fn a_reused_state_is_refused_before_anything_else_is_looked_at() {
        let p = params("https://e/cb?state=s&error=access_denied");
        let used = SessionFacts {
            consumed_now: false,
            expires_at: NOW,
            ..session()
        };
        assert_eq!(check(&p, &used, None, NOW), Err(FlowError::StateReused));
    }

    #[test]
    fn debug_output_never_shows_the_code() {
        let p = params("https://e/cb?state=s&code=secret-code");
        assert!(!format!("{p:?}").contains("secret-code"));
        assert_eq!(
            params("https://e/cb?state=".to_owned().as_str()).state_hash(),
            None
        );
        assert_eq!(
            params(&format!("https://e/cb?state={}", "a".repeat(201))).state_hash(),
            None
        );
    }
}
