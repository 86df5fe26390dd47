//! Tenants' API keys: how they look, what they may do, how they are stored.
//!
//! A key is `evg_` followed by 256 random bits (base64url). Only its SHA-256 is stored, with a
//! short prefix so people can tell their keys apart. Scopes are separate on purpose: a key that
//! reads tokens (`tokens:read`) need not manage connections (`manage`), and the reverse.

use crate::core::common::ids::{new_secret, RandomUnavailable};
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::api_error::{ApiError, ErrorCode};
use std::collections::BTreeSet;
use std::fmt;

const KEY_PREFIX: &str = "evg_";
/// How many characters of the key are kept in the clear, to recognise it.
const SHOWN_LEN: usize = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read access tokens (`POST /v1/connections/{id}/token`).
    TokensRead,
    /// Everything else: connect sessions, connections, posts, webhooks.
    Manage,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::TokensRead, Scope::Manage];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::TokensRead => "tokens:read",
            Scope::Manage => "manage",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A key's scopes: at least one, no repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// From a request's list; unknown or missing scopes are an `invalid_request`.
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Result<Self, ApiError> {
        let mut set = BTreeSet::new();
        for item in list {
            let scope = Scope::parse(item.as_ref()).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "Unknown scope {:?}; use \"tokens:read\" and/or \"manage\".",
                    item.as_ref()
                ))
            })?;
            set.insert(scope);
        }
        if set.is_empty() {
            return Err(ApiError::invalid_request(
                "Give the key at least one scope: \"tokens:read\" and/or \"manage\".",
            ));
        }
        Ok(Self(set))
    }

    /// From the stored, space-separated form. Unknown words are ignored (a newer deploy may
    /// know more scopes than this one).
    pub fn from_stored(text: &str) -> Self {
        Self(text.split(' ').filter_map(Scope::parse).collect())
    }

    pub fn to_stored(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// `forbidden` unless the key has `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.contains(needed) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("This API key lacks the \"{needed}\" scope this call needs."),
            ))
        }
    }
}

/// A freshly made key: `secret` is shown to the operator once and never stored.
pub struct NewApiKey {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

pub fn generate() -> Result<NewApiKey, RandomUnavailable> {
    let secret = format!("{KEY_PREFIX}{}", new_secret()?);
    Ok(NewApiKey {
        prefix: secret[..SHOWN_LEN].to_owned(),
        hash: sha256_hex(&secret),
        secret,
    })
}

/// The stored hash of a presented key, or `None` if it cannot be one of ours (so no lookup is
/// made for obvious garbage).
pub fn hash_presented(key: &str) -> Option<String> {
    (key.starts_with(KEY_PREFIX) && key.len() == KEY_PREFIX.len() + 43).then(|| sha256_hex(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_random_and_stored_only_as_a_hash() {
        let key = generate().unwrap();
        assert!(key.secret.starts_with("evg_"));
        assert_eq!(key.prefix, key.secret[..12]);
        assert_eq!(hash_presented(&key.secret), Some(key.hash.clone()));
        assert!(!key.hash.contains(&key.secret[4..]));
        assert!(!format!("{key:?}").contains(&key.secret));
        assert_ne!(generate().unwrap().secret, key.secret);
    }

    #[test]
    fn garbage_is_not_looked_up() {
        for bad in ["", "evg_", "sk_live_abc", "evg_short"] {
            assert_eq!(hash_presented(bad), None, "{bad}");
        }
    }

    #[test]
    fn scopes_parse_strictly_and_store_round_trip() {
        let both = Scopes::from_list(&["manage", "tokens:read", "manage"]).unwrap();
        assert_eq!(both.to_stored(), "tokens:read manage");
        assert_eq!(Scopes::from_stored(&both.to_stored()), both);
        assert!(Scopes::from_list(&["admin"]).is_err());
        assert!(Scopes::from_list::<&str>(&[]).is_err());
        assert_eq!(
            Scopes::from_stored("manage future:scope").names(),
            vec!["manage"]
        );
    }

    #[test]
    fn manage_does_not_imply_reading_tokens() {
        let manage = Scopes::from_list(&["manage"]).unwrap();
        assert!(manage.require(Scope::Manage).is_ok());
        let err = manage.require(Scope::TokensRead).unwrap_err();
        assert_eq!(err.code, ErrorCode::Forbidden);
        assert!(err.message.contains("\"tokens:read\""), "{}", err.message);
    }
}
