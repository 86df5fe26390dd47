//! Who consented: the account behind a new access token, read from the platform's identity
//! endpoint and turned into the connection Evergreen stores.

use crate::core::providers::Provider;
use serde::Deserialize;
use std::fmt;

/// One postable account, as the platform names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountIdentity {
    /// `profile`, `page` or `organization`.
    pub kind: &'static str,
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

/// Reads the identity endpoint's JSON body for `provider`.
pub fn parse(provider: Provider, body: &[u8]) -> Result<AccountIdentity, IdentityError> {
    match provider {
        Provider::X => {
            // GET /2/users/me → {"data": {"id": "…", "name": "…", "username": "…"}}
            #[derive(Deserialize)]
            struct Answer {
                data: User,
            }
            #[derive(Deserialize)]
            struct User {
                id: String,
                name: Option<String>,
                username: Option<String>,
            }
            let answer: Answer =
                serde_json::from_slice(body).map_err(|e| IdentityError(e.to_string()))?;
            let id = answer.data.id.trim();
            if id.is_empty() || id.len() > 200 {
                return Err(IdentityError("the account id is empty or too long".into()));
            }
            Ok(AccountIdentity {
                kind: "profile",
                external_id: id.to_owned(),
                display_name: answer.data.name,
                username: answer.data.username,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_x_users_me() {
        let body = br#"{"data":{"id":"2244994945","name":"X Dev","username":"XDevelopers"}}"#;
        let who = parse(Provider::X, body).unwrap();
        assert_eq!(who.external_id, "2244994945");
        assert_eq!(who.username.as_deref(), Some("XDevelopers"));
        assert_eq!(who.display_name.as_deref(), Some("X Dev"));
        assert_eq!(who.kind, "profile");
    }

    #[test]
    fn refuses_answers_without_an_account_id() {
        for body in [
            &br#"{"errors":[{"message":"Unauthorized"}]}"#[..],
            br#"{"data":{"id":""}}"#,
            b"not json",
        ] {
            assert!(parse(Provider::X, body).is_err());
        }
    }
}
