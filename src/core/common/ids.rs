//! Random identifiers and secrets, from the platform's CSPRNG (the JS `crypto` API on wasm).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The system's random source failed. Nothing sensible can be made without it, so callers
/// report it as an internal error instead of falling back to something guessable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RandomUnavailable(pub String);

impl fmt::Display for RandomUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the random source failed: {}", self.0)
    }
}

impl std::error::Error for RandomUnavailable {}

/// `N` bytes from the CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| RandomUnavailable(e.to_string()))?;
    Ok(bytes)
}

/// The kinds of id Evergreen mints, each with its prefix. Every id reads `<prefix>_<opaque>`.
pub mod kind {
    pub const TENANT: &str = "ten";
    pub const API_KEY: &str = "key";
    pub const GRANT: &str = "gr";
    pub const CONNECTION: &str = "conn";
    pub const CONNECT_SESSION: &str = "cs";
    pub const PAGE_SESSION: &str = "ps";
    pub const POST: &str = "post";
    pub const TARGET: &str = "tgt";
    pub const EVENT: &str = "evt";
    pub const DELIVERY: &str = "dlv";
    pub const WEBHOOK_ENDPOINT: &str = "whe";
    pub const CLAIM: &str = "clm";
    pub const LEASE: &str = "lse";
    pub const DELETION: &str = "del";
    /// Every prefix, for the test that keeps them distinct.
    pub const ALL: &[&str] = &[
        TENANT,
        API_KEY,
        GRANT,
        CONNECTION,
        CONNECT_SESSION,
        PAGE_SESSION,
        POST,
        TARGET,
        EVENT,
        DELIVERY,
        WEBHOOK_ENDPOINT,
        CLAIM,
        LEASE,
        DELETION,
    ];
}

/// A prefixed identifier with 128 random bits, URL-safe: `<prefix>_<opaque>`, e.g.
/// `gr_q8Yc0v…` (22 characters after the underscore). The prefix names the kind (see [`kind`])
/// so a misplaced id is recognisable in a log. Rows written before every prefix had its
/// underscore (`post6y0J…`) still read: ids are opaque to everything but their own lookups.
pub fn new_id(prefix: &str) -> Result<String, RandomUnavailable> {
    let bytes = random_bytes::<16>()?;
    Ok(format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// Defines an id type of one kind: minted as `<prefix>_<opaque>` ([`new_id`]), read back as
/// stored (rows written before every prefix had its underscore keep working: ids are opaque to
/// everything but their own lookups), and shown as text.
macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident = $prefix:path;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new id of this kind.
            pub fn mint() -> Result<Self, RandomUnavailable> {
                new_id($prefix).map(Self)
            }

            /// An id as stored or as a client sent it back (never checked: ids are opaque).
            pub fn from_stored(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<&$name> for serde_json::Value {
            fn from(id: &$name) -> Self {
                serde_json::Value::String(id.0.clone())
            }
        }

        impl From<$name> for serde_json::Value {
            fn from(id: $name) -> Self {
                serde_json::Value::String(id.0)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )*};
}

id_type! {
    /// A tenant (`ten_…`): one scheduler app.
    TenantId = kind::TENANT;
    /// An API key (`key_…`); its secret is never stored.
    ApiKeyId = kind::API_KEY;
    /// A grant (`gr_…`): what one OAuth consent produced.
    GrantId = kind::GRANT;
    /// A connection (`conn_…`): one account a grant holds.
    ConnectionId = kind::CONNECTION;
    /// A connect session (`cs_…`): one connect or reconnect link's round trip.
    ConnectSessionId = kind::CONNECT_SESSION;
    /// A connections-page session (`ps_…`).
    PageSessionId = kind::PAGE_SESSION;
    /// A post (`post_…`).
    PostId = kind::POST;
    /// A post target (`tgt_…`): one post on one connection.
    TargetId = kind::TARGET;
    /// An event (`evt_…`).
    EventId = kind::EVENT;
    /// A webhook delivery (`dlv_…`).
    DeliveryId = kind::DELIVERY;
    /// A webhook endpoint (`whe_…`).
    WebhookEndpointId = kind::WEBHOOK_ENDPOINT;
    /// A refresh claim (`clm_…`) on a grant.
    ClaimId = kind::CLAIM;
    /// A publish lease (`lse_…`) on a post target.
    LeaseId = kind::LEASE;
    /// A data-deletion request's confirmation code (`del_…`).
    DeletionCode = kind::DELETION;
}

/// A 128-bit URL-safe nonce (22 characters) for reconnect and page links: not an id, so it
/// has no prefix.
pub fn new_nonce() -> Result<String, RandomUnavailable> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<16>()?))
}

/// A URL-safe secret of 256 random bits (43 characters), for state values, cookies and keys.
pub fn new_secret() -> Result<String, RandomUnavailable> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ids_carry_their_prefix_and_128_bits() {
        for prefix in kind::ALL {
            let id = new_id(prefix).unwrap();
            let body = id
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('_'))
                .expect("<prefix>_ kept");
            assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 16);
        }
        assert_eq!(
            URL_SAFE_NO_PAD.decode(new_nonce().unwrap()).unwrap().len(),
            16
        );
    }

    #[test]
    fn each_kind_mints_its_own_prefix_and_reads_old_forms_back() {
        let grant = GrantId::mint().unwrap();
        assert!(grant.starts_with("gr_"), "{grant}");
        assert_eq!(
            ConnectionId::mint().unwrap().as_str().split('_').next(),
            Some("conn")
        );
        assert_eq!(TargetId::PREFIX, kind::TARGET);
        let old = PostId::from_stored("post6y0J75actdOC_hYIsQNsRg");
        assert_eq!(
            old, "post6y0J75actdOC_hYIsQNsRg",
            "an old-form id reads as stored"
        );
        let json = serde_json::to_string(&grant).unwrap();
        assert_eq!(
            json,
            format!("\"{grant}\""),
            "an id travels as a plain string"
        );
        assert_eq!(serde_json::from_str::<GrantId>(&json).unwrap(), grant);
    }

    #[test]
    fn prefixes_are_distinct_and_plain() {
        let unique: std::collections::BTreeSet<_> = kind::ALL.iter().collect();
        assert_eq!(unique.len(), kind::ALL.len());
        assert!(kind::ALL
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase())));
    }

    #[test]
    fn secrets_are_256_bits_and_url_safe() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 43);
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);
    }

    #[test]
    fn the_random_source_is_not_constant() {
        // 64 draws of 256 bits: a repeat means the source is broken (e.g. seeded with zeros).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64 {
            assert!(seen.insert(new_secret().unwrap()), "a secret repeated");
        }
        assert_ne!(random_bytes::<32>().unwrap(), [0u8; 32]);
    }
}
