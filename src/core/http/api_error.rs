//! API errors: a stable machine-readable code, an HTTP status, and a message a person can act on.
//!
//! The body is always `{"error": {"code": "...", "message": "..."}}`. Codes are part of the API
//! contract: add new ones, never rename. Messages never include a token or a secret.

use serde::Serialize;

/// The stable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: bad JSON, a missing or invalid field.
    InvalidRequest,
    /// No credentials, or credentials that are not valid.
    Unauthorized,
    /// Valid credentials that may not do this.
    Forbidden,
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The request conflicts with the current state (e.g. a claim another call holds).
    Conflict,
    /// The stored access token has expired (or is about to); reconnecting or a refresh is needed.
    TokenExpired,
    /// Neither the tenant nor the deployment has OAuth client credentials for the provider.
    ProviderNotConfigured,
    /// The platform ended the connection's grant; the message says why. Reconnect it.
    ConnectionDead,
    /// The platform did not refresh the token (an outage, a rate limit, a rejected client);
    /// the connection is kept and retried with backoff. The message says what happened.
    RefreshFailed,
    /// The idempotency key was used before with a different request body.
    IdempotencyConflict,
    /// The post cannot go to a target as asked (the platform does not take text posts here,
    /// or the text is too long for it); the message names the target.
    NotPublishable,
    /// The request body is larger than Evergreen reads (`core::http::request_body`).
    PayloadTooLarge,
    /// The tenant spent its request budget (`core::tenancy::rate_limit`); retry after `Retry-After`.
    RateLimited,
    /// A dependency (D1, a Durable Object) did not answer; retrying later may work.
    Unavailable,
    /// A bug or an unexpected failure; the log has the details.
    #[serde(rename = "internal_error")]
    Internal,
}

impl ErrorCode {
    pub const fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict => 409,
            ErrorCode::IdempotencyConflict => 409,
            ErrorCode::NotPublishable => 422,
            ErrorCode::TokenExpired => 409,
            ErrorCode::ProviderNotConfigured => 409,
            ErrorCode::ConnectionDead => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::RefreshFailed => 502,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::NotPublishable => "not_publishable",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::ProviderNotConfigured => "provider_not_configured",
            ErrorCode::ConnectionDead => "connection_dead",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::RefreshFailed => "refresh_failed",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal_error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// For `method_not_allowed`: the methods the route does take (the `Allow` header).
    pub allow: Option<&'static [&'static str]>,
    /// For `rate_limited`: how many seconds to wait (the `Retry-After` header).
    pub retry_after_seconds: Option<u32>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            allow: None,
            retry_after_seconds: None,
        }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("No route matches {path}. The API is described at /openapi.json."),
        )
    }

    pub fn method_not_allowed(method: &str, allow: &'static [&'static str]) -> Self {
        Self {
            code: ErrorCode::MethodNotAllowed,
            message: format!("{method} is not allowed here; use {}.", allow.join(" or ")),
            allow: Some(allow),
            retry_after_seconds: None,
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// The generic answer to a failure the caller cannot fix; details go to the log only.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "Something went wrong on our side; it has been logged. Retry later.",
        )
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| r#"{"error":{"code":"internal_error","message":""}}"#.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let e = ApiError::not_found("/nope");
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        assert!(v["error"]["message"].as_str().unwrap().contains("/nope"));
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn codes_serialize_as_their_stable_strings() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::Unauthorized,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::TokenExpired,
            ErrorCode::ProviderNotConfigured,
            ErrorCode::ConnectionDead,
            ErrorCode::IdempotencyConflict,
            ErrorCode::NotPublishable,
            ErrorCode::RefreshFailed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::RateLimited,
            ErrorCode::Unavailable,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn method_not_allowed_names_the_allowed_methods() {
        let e = ApiError::method_not_allowed("DELETE", &["GET"]);
        assert_eq!(e.status(), 405);
        assert_eq!(e.allow, Some(&["GET"][..]));
        assert!(e.message.contains("GET"));
    }

    #[test]
    fn internal_errors_say_nothing_specific() {
        let v: serde_json::Value = serde_json::from_str(&ApiError::internal().to_json()).unwrap();
        assert_eq!(v["error"]["code"], "internal_error");
        assert_eq!(ApiError::internal().status(), 500);
    }
}
