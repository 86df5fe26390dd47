//! Meta's `signed_request`: how its deauthorize and data-deletion callbacks say whose access
//! ended. `base64url(signature) "." base64url(payload)`, the signature being HMAC-SHA256 of
//! the encoded payload under the app secret, the payload JSON naming `algorithm`
//! (`HMAC-SHA256`) and `user_id` (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow#signed-request,
//! https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback).
//!
//! Verified in constant time before the payload is even parsed; a request that fails any check
//! is refused as a whole, with a reason that names the check, never the content.

use crate::core::crypto::digest::hmac_sha256_matches;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::fmt;

/// The longest `signed_request` read (Meta's are a few hundred bytes).
const MAX_LEN: usize = 8 * 1024;

/// What a verified `signed_request` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    /// The app-scoped user id (Facebook) or Instagram user id whose access ended.
    pub user_id: String,
    /// Unix seconds, when Meta says.
    pub issued_at: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedRequestError {
    /// Not two base64url parts, or too long.
    Malformed,
    /// The signature is not the app secret's.
    BadSignature,
    /// The payload is not JSON or names another algorithm.
    BadPayload,
    /// No `user_id`.
    NoUser,
}

impl fmt::Display for SignedRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignedRequestError::Malformed => "signed_request is not signature.payload in base64url",
            SignedRequestError::BadSignature => "signed_request is not signed with the app secret",
            SignedRequestError::BadPayload => "signed_request's payload is not HMAC-SHA256 JSON",
            SignedRequestError::NoUser => "signed_request names no user_id",
        })
    }
}

fn decode(part: &str) -> Result<Vec<u8>, SignedRequestError> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| SignedRequestError::Malformed)
}

/// Verifies `text` with `app_secret` and reads it.
pub fn verify(text: &str, app_secret: &str) -> Result<SignedRequest, SignedRequestError> {
    if text.len() > MAX_LEN {
        return Err(SignedRequestError::Malformed);
    }
    let (signature, payload) = text.split_once('.').ok_or(SignedRequestError::Malformed)?;
    let claimed = decode(signature)?;
    if !hmac_sha256_matches(app_secret.as_bytes(), &[payload.as_bytes()], &claimed) {
        return Err(SignedRequestError::BadSignature);
    }
    let value: Value =
        serde_json::from_slice(&decode(payload)?).map_err(|_| SignedRequestError::BadPayload)?;
    let algorithm = value.get("algorithm").and_then(Value::as_str);
    if !algorithm.is_some_and(|a| a.eq_ignore_ascii_case("HMAC-SHA256")) {
        return Err(SignedRequestError::BadPayload);
    }
    let user_id = match value.get("user_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(SignedRequestError::NoUser),
    };
    Ok(SignedRequest {
        user_id,
        issued_at: value.get("issued_at").and_then(Value::as_i64),
    })
}

/// Signs `payload` as Meta does (for tests and the fake platform's callbacks).
pub fn sign(payload: &Value, app_secret: &str) -> String {
    let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
    let mac =
        crate::core::crypto::digest::hmac_sha256(app_secret.as_bytes(), &[encoded.as_bytes()]);
    format!("{}.{encoded}", URL_SAFE_NO_PAD.encode(mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload() -> Value {
        json!({"algorithm": "HMAC-SHA256", "issued_at": 1_700_000_000, "user_id": "1020304"})
    }

    #[test]
    fn a_request_signed_with_the_app_secret_names_its_user() {
        let signed = sign(&payload(), "app-secret");
        let read = verify(&signed, "app-secret").unwrap();
        assert_eq!(read.user_id, "1020304");
        assert_eq!(read.issued_at, Some(1_700_000_000));
        // Numeric ids are read as text.
        let numeric = sign(&json!({"algorithm": "HMAC-SHA256", "user_id": 42}), "s");
        assert_eq!(verify(&numeric, "s").unwrap().user_id, "42");
    }

    #[test]
    fn forged_tampered_and_malformed_requests_are_refused() {
        let signed = sign(&payload(), "app-secret");
        assert_eq!(
            verify(&signed, "another-secret"),
            Err(SignedRequestError::BadSignature)
        );
        // Another user's payload under the original signature.
        let (sig, _) = signed.split_once('.').unwrap();
        let other = URL_SAFE_NO_PAD.encode(
            json!({"algorithm": "HMAC-SHA256", "user_id": "666"})
                .to_string()
                .as_bytes(),
        );
        assert_eq!(
            verify(&format!("{sig}.{other}"), "app-secret"),
            Err(SignedRequestError::BadSignature)
        );
        assert_eq!(
            verify("no-dot", "app-secret"),
            Err(SignedRequestError::Malformed)
        );
        assert_eq!(
            verify("!!.??", "app-secret"),
            Err(SignedRequestError::Malformed)
        );
        let plain = sign(&json!({"algorithm": "none", "user_id": "1"}), "k");
        assert_eq!(verify(&plain, "k"), Err(SignedRequestError::BadPayload));
        let nobody = sign(&json!({"algorithm": "HMAC-SHA256"}), "k");
        assert_eq!(verify(&nobody, "k"), Err(SignedRequestError::NoUser));
        assert_eq!(
            verify(&"a".repeat(MAX_LEN + 1), "k"),
            Err(SignedRequestError::Malformed)
        );
    }
}
