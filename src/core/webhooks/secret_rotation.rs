//! Rotating an endpoint's signing secret with an overlap, the way Standard Webhooks allows:
//! several signatures in one `webhook-signature` header.
//!
//! `POST /v1/webhook-endpoints/{id}/rotate-secret {"overlap_seconds"?}` makes a new secret and
//! answers it once. The secret it replaces keeps signing beside the new one for the overlap
//! (24 hours unless asked, at most 7 days, 0 to stop at once): every delivery in that time
//! carries `v1,<new> v1,<previous>`, so a receiver verifies with either while its operator
//! swaps the secret. After the overlap only the new one signs, and the minute dispatch deletes
//! the previous one. An endpoint holds at most two secrets: rotating again during an overlap
//! replaces the previous secret with the one being rotated out.

use crate::core::common::clock::Timestamp;
use crate::core::http::api_error::ApiError;
use crate::core::webhooks::webhook_signature::WebhookSecret;
use serde::Deserialize;

/// The overlap when the request names none: a day.
pub const DEFAULT_OVERLAP_SECS: u32 = 24 * 3600;
/// The longest overlap: a week.
pub const MAX_OVERLAP_SECS: u32 = 7 * 24 * 3600;

/// The body of `POST /v1/webhook-endpoints/{id}/rotate-secret` (it may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    #[serde(
        default,
        deserialize_with = "crate::core::http::json_integer::optional"
    )]
    pub overlap_seconds: Option<i64>,
}

impl RotateRequest {
    /// When the secret being replaced stops signing: `now` plus the overlap.
    pub fn previous_expires_at(&self, now: Timestamp) -> Result<Timestamp, ApiError> {
        let secs = self
            .overlap_seconds
            .unwrap_or_else(|| i64::from(DEFAULT_OVERLAP_SECS));
        if !(0..=i64::from(MAX_OVERLAP_SECS)).contains(&secs) {
            return Err(ApiError::invalid_request(format!(
                "overlap_seconds is from 0 to {MAX_OVERLAP_SECS} (7 days); {secs} is not."
            )));
        }
        Ok(now.plus_millis(secs * 1000))
    }
}

/// The secrets that sign a delivery: the endpoint's own, and the one it replaced while the
/// overlap lasts.
pub struct SigningSecrets {
    pub current: WebhookSecret,
    pub previous: Option<(WebhookSecret, Timestamp)>,
}

impl SigningSecrets {
    /// Whether the previous secret still signs at `now`.
    pub fn previous_signs(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
        expires_at.is_some_and(|until| now < until)
    }

    /// The `webhook-signature` header for one attempt at `now`: the current secret's
    /// signature first, then the previous one's while it still signs.
    pub fn header(
        &self,
        webhook_id: &str,
        timestamp_secs: i64,
        body: &[u8],
        now: Timestamp,
    ) -> String {
        let mut header = self.current.sign(webhook_id, timestamp_secs, body);
        if let Some((previous, until)) = &self.previous {
            if Self::previous_signs(Some(*until), now) {
                header.push(' ');
                header.push_str(&previous.sign(webhook_id, timestamp_secs, body));
            }
        }
        header
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_000_000_000);

    fn secret(text: &str) -> WebhookSecret {
        WebhookSecret::parse(text).unwrap()
    }

    #[test]
    fn the_overlap_is_a_day_unless_asked_and_at_most_a_week() {
        let day = RotateRequest::default().previous_expires_at(NOW).unwrap();
        assert_eq!(day, NOW.plus_millis(86_400_000));
        let asked = |secs| {
            RotateRequest {
                overlap_seconds: Some(secs),
            }
            .previous_expires_at(NOW)
        };
        assert_eq!(asked(0).unwrap(), NOW, "0: the old secret stops at once");
        assert_eq!(asked(604_800).unwrap(), NOW.plus_millis(604_800_000));
        for wrong in [-1, 604_801, i64::MAX] {
            let e = asked(wrong).unwrap_err();
            assert!(e.message.contains("overlap_seconds"), "{}", e.message);
        }
    }

    #[test]
    fn both_sign_during_the_overlap_and_only_the_new_one_after() {
        let new = secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let old = secret("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX");
        let until = NOW.plus_millis(60_000);
        let secrets = SigningSecrets {
            current: new.clone(),
            previous: Some((old.clone(), until)),
        };
        let body = br#"{"test": 2432232314}"#;
        let during = secrets.header("msg_1", 1614265330, body, NOW);
        assert_eq!(
            during,
            format!(
                "{} {}",
                new.sign("msg_1", 1614265330, body),
                old.sign("msg_1", 1614265330, body)
            ),
            "the new signature first, then the old"
        );
        assert!(new.verify("msg_1", 1614265330, body, &during));
        assert!(old.verify("msg_1", 1614265330, body, &during));
        let after = secrets.header("msg_1", 1614265330, body, until);
        assert_eq!(after, new.sign("msg_1", 1614265330, body));
        assert!(!old.verify("msg_1", 1614265330, body, &after));
        let alone = SigningSecrets {
            current: new.clone(),
            previous: None,
        };
        assert_eq!(alone.header("msg_1", 1614265330, body, NOW), after);
    }
}
