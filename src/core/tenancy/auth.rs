//! Who is calling: the operator (admin API, test powers) for now; tenants' API keys come next.

use crate::core::http::api_error::{ApiError, ErrorCode};
use subtle::ConstantTimeEq;

/// The credential of an `Authorization: Bearer <credential>` header, if that is what it holds.
/// The scheme is case-insensitive (RFC 9110 §11.1).
pub fn bearer_credential(authorization: Option<&str>) -> Option<&str> {
    let value = authorization?.trim();
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// Checks the operator's bearer credential against the configured operator secret, in
/// constant time. A deployment without a secret refuses every operator call rather than
/// accepting an empty one.
pub fn authorize_operator(
    authorization: Option<&str>,
    operator_secret: Option<&str>,
) -> Result<(), ApiError> {
    let secret = match operator_secret {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "The operator API is disabled: set the OPERATOR_SECRET secret (see docs/operations.md).",
            ))
        }
    };
    let Some(given) = bearer_credential(authorization) else {
        return Err(ApiError::unauthorized(
            "Send the operator secret as `Authorization: Bearer <secret>`.",
        ));
    };
    if bool::from(given.as_bytes().ct_eq(secret.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "The operator secret does not match.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_credentials() {
        assert_eq!(bearer_credential(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_credential(Some("bearer   abc ")), Some("abc"));
        assert_eq!(bearer_credential(Some("Basic abc")), None);
        assert_eq!(bearer_credential(Some("Bearer ")), None);
        assert_eq!(bearer_credential(Some("Bearer")), None);
        assert_eq!(bearer_credential(None), None);
    }

    #[test]
    fn the_operator_secret_must_match_exactly() {
        assert!(authorize_operator(Some("Bearer s3cret"), Some("s3cret")).is_ok());
        for wrong in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Basic s3cret",
        ] {
            let err = authorize_operator(Some(wrong), Some("s3cret")).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthorized, "{wrong}");
        }
        let err = authorize_operator(None, Some("s3cret")).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized);
    }

    #[test]
    fn a_missing_or_empty_secret_disables_the_operator_api() {
        for configured in [None, Some("")] {
            let err = authorize_operator(Some("Bearer "), configured).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unavailable);
            let err = authorize_operator(Some("Bearer x"), configured).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unavailable);
        }
    }

    #[test]
    fn errors_never_echo_the_credential() {
        let err = authorize_operator(Some("Bearer guess-123"), Some("s3cret")).unwrap_err();
        assert!(!err.message.contains("guess-123"));
        assert!(!err.to_json().contains("s3cret"));
    }
}
