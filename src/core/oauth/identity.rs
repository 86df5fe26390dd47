//! Who consented: the account behind a new access token, read from the provider's identity
//! endpoint with the JSON pointers its catalogue entry names.

use crate::core::oauth::catalogue::IdentitySpec;
use serde_json::Value;
use std::fmt;

/// One postable account, as the platform names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountIdentity {
    /// `profile`, `channel`, `page` or `organization`.
    pub kind: String,
    /// The platform's stable id for the account.
    pub external_id: String,
    pub display_name: Option<String>,
    pub username: Option<String>,
}

/// The identity answer could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityError(pub String);

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unreadable identity answer: {}", self.0)
    }
}

/// A string or number at `pointer`, as text.
fn text_at(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads the identity endpoint's JSON body.
pub fn parse(spec: &IdentitySpec, body: &[u8]) -> Result<AccountIdentity, IdentityError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| IdentityError("not JSON".into()))?;
    let id = text_at(&value, &spec.id)
        .ok_or_else(|| IdentityError(format!("no account id at {}", spec.id)))?;
    if id.len() > 200 {
        return Err(IdentityError(
            "the account id is longer than 200 characters".into(),
        ));
    }
    Ok(AccountIdentity {
        kind: spec.kind.clone(),
        external_id: id,
        display_name: spec.name.as_deref().and_then(|p| text_at(&value, p)),
        username: spec.username.as_deref().and_then(|p| text_at(&value, p)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    fn identity_of(provider: &str) -> IdentitySpec {
        Catalogue::builtin().get(provider).unwrap().identity.clone()
    }

    #[test]
    fn reads_x_users_me() {
        let body = br#"{"data":{"id":"2244994945","name":"X Dev","username":"XDevelopers"}}"#;
        let who = parse(&identity_of("x"), body).unwrap();
        assert_eq!(who.external_id, "2244994945");
        assert_eq!(who.username.as_deref(), Some("XDevelopers"));
        assert_eq!(who.display_name.as_deref(), Some("X Dev"));
        assert_eq!(who.kind, "profile");
    }

    #[test]
    fn reads_a_youtube_channel() {
        let body = br#"{"kind":"youtube#channelListResponse","items":[{"id":"UC_x5XG1OV2P6uZZ5FSM9Ttw","snippet":{"title":"Google for Developers","customUrl":"@googledevelopers"}}]}"#;
        let who = parse(&identity_of("youtube"), body).unwrap();
        assert_eq!(who.external_id, "UC_x5XG1OV2P6uZZ5FSM9Ttw");
        assert_eq!(who.kind, "channel");
        assert_eq!(who.username.as_deref(), Some("@googledevelopers"));
    }

    #[test]
    fn numeric_ids_are_text_and_answers_without_an_id_are_refused() {
        let spec = IdentitySpec {
            url: "https://a.example/me".into(),
            kind: "profile".into(),
            id: "/sub".into(),
            name: None,
            username: None,
        };
        assert_eq!(
            parse(&spec, br#"{"sub":12345}"#).unwrap().external_id,
            "12345"
        );
        for body in [
            &br#"{"errors":[{"message":"Unauthorized"}]}"#[..],
            br#"{"sub":""}"#,
            br#"{"items":[]}"#,
            b"not json",
        ] {
            assert!(parse(&spec, body).is_err());
        }
    }
}
