//! Webhook signatures, the Standard Webhooks way (standardwebhooks.com).
//!
//! Each delivery carries `webhook-id` (stable across retries), `webhook-timestamp` (Unix
//! seconds of this attempt) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
//! `{id}.{timestamp}.{body}`, keyed with the **base64-decoded bytes after `whsec_`** (keying
//! with the literal string is the classic mistake). Receivers verify with the official
//! `standardwebhooks` libraries; the integration tests do exactly that.

use crate::core::common::ids::{random_bytes, RandomUnavailable};
use crate::core::crypto::digest::{hmac_sha256, hmac_sha256_matches};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fmt;

const PREFIX: &str = "whsec_";

/// An endpoint's signing secret: the key bytes behind `whsec_…`. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(Vec<u8>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// A new secret of 192 random bits.
    pub fn generate() -> Result<Self, RandomUnavailable> {
        Ok(Self(random_bytes::<24>()?.to_vec()))
    }

    /// `whsec_` and the standard base64 of the key bytes: what the tenant is shown once.
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// Reads `whsec_…` back (from its sealed form).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
        (bytes.len() >= 24).then_some(Self(bytes))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, webhook_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        let ts = timestamp_secs.to_string();
        let mac = hmac_sha256(
            &self.0,
            &[webhook_id.as_bytes(), b".", ts.as_bytes(), b".", body],
        );
        format!("v1,{}", STANDARD.encode(mac))
    }

    /// Whether any `v1` signature in a `webhook-signature` header (space-separated) matches.
    pub fn verify(&self, webhook_id: &str, timestamp_secs: i64, body: &[u8], header: &str) -> bool {
        let ts = timestamp_secs.to_string();
        let signed = [webhook_id.as_bytes(), b".", ts.as_bytes(), b".", body];
        header.split(' ').any(|sig| {
            sig.strip_prefix("v1,")
                .and_then(|b64| STANDARD.decode(b64).ok())
                .is_some_and(|mac| hmac_sha256_matches(&self.0, &signed, &mac))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example in the Standard Webhooks specification and its libraries' tests.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn the_key_is_the_decoded_bytes_not_the_string() {
        let secret = WebhookSecret::generate().unwrap();
        let shown = secret.expose();
        assert!(shown.starts_with("whsec_"));
        assert_eq!(WebhookSecret::parse(&shown), Some(secret.clone()));
        let literal = WebhookSecret(shown.as_bytes().to_vec());
        let sig = secret.sign("evt_1", 1, b"{}");
        assert!(!literal.verify("evt_1", 1, b"{}", &sig));
        assert!(secret.verify("evt_1", 1, b"{}", &format!("v1,AAAA {sig}")));
        assert!(!secret.verify("evt_1", 2, b"{}", &sig));
        assert!(!secret.verify("evt_1", 1, b"{ }", &sig));
        assert!(!format!("{secret:?}").contains(&shown[6..]));
        assert_eq!(WebhookSecret::parse("whsec_short"), None);
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            None
        );
    }
}
