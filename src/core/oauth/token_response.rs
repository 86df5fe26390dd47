//! Reading a token endpoint's answer, tolerantly where platforms differ and strictly where a
//! mistake would store something wrong.
//!
//! Tolerated: a missing `token_type` (LinkedIn omits it), a missing `expires_in` (legal: the
//! lifetime is then unknown), numbers sent as strings, an empty `refresh_token` (means none),
//! `refresh_token_expires_in` or `refresh_expires_in`. Refused, with a reason: a body that is
//! not JSON, an error object (even inside a 200), a missing or empty `access_token`.

use crate::core::grant::grant_tokens::SecretText;
use serde_json::Value;
use std::fmt;

/// What a token endpoint granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenAnswer {
    pub access_token: SecretText,
    pub refresh_token: Option<SecretText>,
    /// Seconds; `None` when the platform did not say.
    pub expires_in: Option<u64>,
    /// The refresh token's own lifetime in seconds, where the platform says.
    pub refresh_expires_in: Option<u64>,
    /// As granted, raw (space- or comma-separated depending on the platform).
    pub scope: Option<String>,
    pub token_type: Option<String>,
}

/// Why an answer could not be used. Its text never contains a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenAnswerError {
    NotJson,
    /// An OAuth error object (`{"error": …}`), whatever the status.
    ErrorObject {
        error: String,
    },
    MissingAccessToken,
}

impl fmt::Display for TokenAnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenAnswerError::NotJson => f.write_str("the token endpoint's answer is not JSON"),
            TokenAnswerError::ErrorObject { error } => {
                write!(f, "the token endpoint answered with the error {error:?}")
            }
            TokenAnswerError::MissingAccessToken => {
                f.write_str("the token endpoint's answer has no access_token")
            }
        }
    }
}

/// Reads an answer's body.
pub fn parse(body: &[u8]) -> Result<TokenAnswer, TokenAnswerError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| TokenAnswerError::NotJson)?;
    from_value(&value)
}

/// Reads an answer already parsed as JSON.
pub fn from_value(value: &Value) -> Result<TokenAnswer, TokenAnswerError> {
    let Some(mut object) = value.as_object() else {
        return Err(TokenAnswerError::NotJson);
    };
    // Instagram Login wraps its answer in a one-element list: {"data": [{…}]}.
    if let (false, Some(Value::Array(list))) =
        (object.contains_key("access_token"), object.get("data"))
    {
        if let [Value::Object(inner)] = list.as_slice() {
            object = inner;
        }
    }
    if let Some(error) = object.get("error") {
        let error = match error {
            Value::String(s) => s.clone(),
            // Some platforms nest it: {"error": {"code": …, "message": …}}.
            Value::Object(inner) => inner
                .get("code")
                .or_else(|| inner.get("type"))
                .map(|c| c.to_string().trim_matches('"').to_owned())
                .unwrap_or_else(|| "unnamed error".to_owned()),
            other => other.to_string(),
        };
        return Err(TokenAnswerError::ErrorObject { error });
    }
    let text = |name: &str| {
        object
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let seconds = |name: &str| match object.get(name) {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let access_token = text("access_token").ok_or(TokenAnswerError::MissingAccessToken)?;
    Ok(TokenAnswer {
        access_token: SecretText::new(access_token),
        refresh_token: text("refresh_token").map(SecretText::new),
        expires_in: seconds("expires_in"),
        refresh_expires_in: seconds("refresh_token_expires_in")
            .or_else(|| seconds("refresh_expires_in")),
        // Instagram names the granted scopes `permissions` (text, or a list in older answers).
        scope: text("scope").or_else(|| match object.get("permissions") {
            Some(Value::Array(list)) => Some(
                list.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => text("permissions"),
        }),
        token_type: text("token_type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_instagram_logins_wrapped_answer_and_its_permissions() {
        let body = br#"{"data":[{"access_token":"IGQ1","user_id":"1020","permissions":"instagram_business_basic,instagram_business_content_publish"}]}"#;
        let answer = parse(body).unwrap();
        assert_eq!(answer.access_token.expose(), "IGQ1");
        assert_eq!(
            answer.scope.as_deref(),
            Some("instagram_business_basic,instagram_business_content_publish")
        );
        assert_eq!(answer.expires_in, None);
        let older = br#"{"access_token":"IGQ2","user_id":1020,"permissions":["a","b"]}"#;
        assert_eq!(parse(older).unwrap().scope.as_deref(), Some("a,b"));
        assert!(parse(br#"{"data":[{"nope":1},{"access_token":"x"}]}"#).is_err());
    }

    #[test]
    fn reads_x_answers() {
        let body = br#"{"token_type":"bearer","expires_in":7200,"access_token":"a1","scope":"tweet.read offline.access","refresh_token":"r1"}"#;
        let answer = parse(body).unwrap();
        assert_eq!(answer.access_token.expose(), "a1");
        assert_eq!(answer.refresh_token.unwrap().expose(), "r1");
        assert_eq!(answer.expires_in, Some(7200));
        assert_eq!(answer.scope.as_deref(), Some("tweet.read offline.access"));
    }

    #[test]
    fn tolerates_what_platforms_leave_out_or_spell_differently() {
        let answer = parse(br#"{"access_token":"a","expires_in":"3599","refresh_token":"","refresh_token_expires_in":31536000}"#).unwrap();
        assert_eq!(answer.token_type, None);
        assert_eq!(answer.expires_in, Some(3599));
        assert_eq!(answer.refresh_token, None);
        assert_eq!(answer.refresh_expires_in, Some(31_536_000));
        let bare = parse(br#"{"access_token":"a"}"#).unwrap();
        assert_eq!(
            bare.expires_in, None,
            "a missing expires_in is unknown, not an error"
        );
        let tiktok = parse(br#"{"access_token":"a","refresh_expires_in":15552000}"#).unwrap();
        assert_eq!(tiktok.refresh_expires_in, Some(15_552_000));
    }

    #[test]
    fn refuses_what_cannot_be_stored() {
        assert_eq!(parse(b"<html>oops</html>"), Err(TokenAnswerError::NotJson));
        assert_eq!(parse(b"[1]"), Err(TokenAnswerError::NotJson));
        assert_eq!(
            parse(br#"{"error":"invalid_grant","error_description":"Bad"}"#),
            Err(TokenAnswerError::ErrorObject {
                error: "invalid_grant".into()
            })
        );
        assert_eq!(
            parse(br#"{"error":{"code":190,"message":"expired"}}"#),
            Err(TokenAnswerError::ErrorObject {
                error: "190".into()
            })
        );
        assert_eq!(
            parse(br#"{"token_type":"bearer"}"#),
            Err(TokenAnswerError::MissingAccessToken)
        );
        assert_eq!(
            parse(br#"{"access_token":"  "}"#),
            Err(TokenAnswerError::MissingAccessToken)
        );
    }

    #[test]
    fn errors_never_carry_the_body() {
        let err = parse(br#"{"error":"x","access_token":"secret-token"}"#).unwrap_err();
        assert!(!err.to_string().contains("secret-token"));
    }
}
