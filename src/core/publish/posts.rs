//! Posts and their targets: what a scheduler asks to publish, and the states a target goes
//! through on its way to one platform.
//!
//! A post is text plus the connections it goes to; each connection is a *target* with its own
//! state, so one platform failing never holds back or repeats the others. The states:
//!
//! - `scheduled`: waiting for its time (the minute dispatch hands it to the queue);
//! - `queued`: its queue message is sent;
//! - `publishing`: a consumer claimed it (a lease) and may have sent the platform request;
//! - `published`: the platform took it; its post id is stored;
//! - `failed`: the platform refused it every time, or it was parked too long;
//! - `parked`: its connection is dead; it resumes when the grant is restored;
//! - `unconfirmed`: the request may have been taken and nobody can tell; never retried on its
//!   own (a person resolves it);
//! - `cancelled`: cancelled before it was published.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TargetId;
use crate::core::crypto::digest::sha256_hex;
use crate::core::publish::media::{self, Media};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The most connections one post goes to.
pub const MAX_TARGETS: usize = 20;
/// The longest text any platform takes (Facebook's 63,206); each platform's own limit is
/// checked per target.
pub const MAX_TEXT_CHARS: usize = 63_206;
/// The longest idempotency key.
pub const MAX_KEY_CHARS: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    Scheduled,
    Queued,
    Publishing,
    Published,
    Failed,
    Parked,
    Unconfirmed,
    Cancelled,
}

impl TargetState {
    pub const ALL: [TargetState; 8] = [
        TargetState::Scheduled,
        TargetState::Queued,
        TargetState::Publishing,
        TargetState::Published,
        TargetState::Failed,
        TargetState::Parked,
        TargetState::Unconfirmed,
        TargetState::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TargetState::Scheduled => "scheduled",
            TargetState::Queued => "queued",
            TargetState::Publishing => "publishing",
            TargetState::Published => "published",
            TargetState::Failed => "failed",
            TargetState::Parked => "parked",
            TargetState::Unconfirmed => "unconfirmed",
            TargetState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What the retry route acts on: only what provably did not reach the platform.
    pub const fn retryable(self) -> bool {
        matches!(self, TargetState::Failed | TargetState::Parked)
    }

    /// What cancel acts on: anything not yet sent.
    pub const fn cancellable(self) -> bool {
        matches!(
            self,
            TargetState::Scheduled | TargetState::Queued | TargetState::Parked
        )
    }

    /// Still on its way: the post is not settled.
    pub const fn pending(self) -> bool {
        matches!(
            self,
            TargetState::Scheduled | TargetState::Queued | TargetState::Publishing
        )
    }
}

/// The webhook event types a target's settling raises (`post.` and the state).
pub const POST_EVENT_TYPES: [&str; 5] = [
    "post.published",
    "post.failed",
    "post.parked",
    "post.unconfirmed",
    "post.cancelled",
];

/// A post's state, summed up from its targets'.
pub fn post_state(targets: &[TargetState]) -> &'static str {
    if targets.iter().any(|t| t.pending()) {
        "pending"
    } else if targets.iter().all(|t| *t == TargetState::Published) {
        "published"
    } else if targets.iter().all(|t| *t == TargetState::Cancelled) {
        "cancelled"
    } else {
        // Something failed, is parked or unconfirmed: a person may want to act.
        "needs_attention"
    }
}

/// `POST /v1/posts`, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    text: String,
    connection_ids: Vec<String>,
    #[serde(default)]
    publish_at: Option<String>,
    #[serde(default)]
    media: Vec<Media>,
}

/// A post request that passed the checks that need no storage.
#[derive(Clone, Debug, PartialEq)]
pub struct PostRequest {
    pub text: String,
    pub connection_ids: Vec<String>,
    /// `None`: now.
    pub publish_at: Option<Timestamp>,
    /// Images or one video (`core::publish::media`); empty for a text post.
    pub media: Vec<Media>,
    /// Names the request's content: the same idempotency key with another digest is a
    /// conflict.
    pub digest: String,
}

impl PostRequest {
    /// Reads and checks the body; the error is a message for the developer.
    pub fn parse(body: &str) -> Result<Self, String> {
        let body: Body = serde_json::from_str(body).map_err(|e| {
            format!(
                "The body must be {{\"text\", \"connection_ids\", \"publish_at\"?, \"media\"?}}: {e}"
            )
        })?;
        let chars = body.text.chars().count();
        if body.text.trim().is_empty() {
            return Err("text must not be empty.".into());
        }
        if chars > MAX_TEXT_CHARS {
            return Err(format!(
                "text has {chars} characters; no platform takes more than {MAX_TEXT_CHARS}."
            ));
        }
        if body.connection_ids.is_empty() || body.connection_ids.len() > MAX_TARGETS {
            return Err(format!(
                "connection_ids must name 1 to {MAX_TARGETS} connections."
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for id in &body.connection_ids {
            if !seen.insert(id.as_str()) {
                return Err(format!("connection_ids names {id:?} twice."));
            }
        }
        let publish_at = match &body.publish_at {
            None => None,
            Some(text) => Some(Timestamp::parse_rfc3339(text).ok_or_else(|| {
                format!("publish_at {text:?} is not an RFC 3339 time (2026-11-22T09:00:00Z).")
            })?),
        };
        media::check_all(&body.media)?;
        // A text post keeps the digest it had before media existed.
        let mut content = json!({
            "text": body.text,
            "connection_ids": body.connection_ids,
            "publish_at": publish_at.map(Timestamp::as_millis),
        });
        if !body.media.is_empty() {
            content["media"] = json!(body.media);
        }
        let digest = sha256_hex(&content.to_string());
        Ok(Self {
            text: body.text,
            connection_ids: body.connection_ids,
            publish_at,
            media: body.media,
            digest,
        })
    }

    /// The content's fingerprint per platform: identical text to several accounts of one
    /// platform is spaced out (`publish_policy::stagger`).
    pub fn content_hash(&self) -> String {
        sha256_hex(&self.text)
    }

    /// The media as stored with the post (`None` for a text post).
    pub fn media_json(&self) -> Option<String> {
        (!self.media.is_empty()).then(|| json!(self.media).to_string())
    }
}

/// The `Idempotency-Key` header, checked: 1 to 255 visible ASCII characters.
pub fn idempotency_key(header: Option<&str>) -> Result<String, String> {
    let key = header.map(str::trim).unwrap_or("");
    if key.is_empty() {
        return Err(
            "Send an Idempotency-Key header (a unique value per post, e.g. a UUID): \
                    a retried request then returns the same post instead of a second one."
                .into(),
        );
    }
    if key.len() > MAX_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters."
        ));
    }
    Ok(key.to_owned())
}

/// `POST /v1/posts/{id}/targets/{target}/resolve`: what a person found on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The post is there: its id at the platform.
    Published(String),
    /// It is not there: send it again.
    Retry,
}

/// The most characters a platform post id (or link) a person gives may have.
pub const MAX_PLATFORM_POST_ID_CHARS: usize = 200;

impl Resolution {
    /// Published as `id` (trimmed), when it has something besides white space and at most
    /// [`MAX_PLATFORM_POST_ID_CHARS`] characters: the API's and the page's rule alike.
    pub fn published(id: &str) -> Option<Self> {
        let id = id.trim();
        (!id.is_empty() && id.chars().count() <= MAX_PLATFORM_POST_ID_CHARS)
            .then(|| Resolution::Published(id.to_owned()))
    }

    pub fn parse(body: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Ask {
            outcome: String,
            #[serde(default)]
            platform_post_id: Option<String>,
        }
        let usage = "The body must be {\"outcome\": \"published\", \"platform_post_id\"} or \
                     {\"outcome\": \"retry\"}.";
        let ask: Ask = serde_json::from_str(body).map_err(|e| format!("{usage} ({e})"))?;
        match (ask.outcome.as_str(), ask.platform_post_id) {
            ("published", Some(id)) => Self::published(&id).ok_or_else(|| usage.into()),
            ("retry", None) => Ok(Resolution::Retry),
            _ => Err(usage.into()),
        }
    }
}

/// The publish queue's message: the target, and its platform (absent from messages sent
/// before it was carried). Ids only, never text or tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishMessage {
    pub target_id: TargetId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl PublishMessage {
    /// The lane it is worked in (`core::common::lanes`): its platform's, so targets staggered
    /// across a platform's accounts leave in the order they were planned while platforms go
    /// side by side; a message without one gets a lane of its own.
    pub fn lane(&self) -> String {
        self.provider
            .clone()
            .unwrap_or_else(|| self.target_id.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_read_and_its_digest_names_its_content() {
        let a = PostRequest::parse(
            r#"{"text":"hello","connection_ids":["conn_a","conn_b"],"publish_at":"2026-11-22T09:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(a.connection_ids, ["conn_a", "conn_b"]);
        assert_eq!(
            a.publish_at.unwrap().to_rfc3339(),
            "2026-11-22T09:00:00.000Z"
        );
        let same = PostRequest::parse(
            r#"{"publish_at":"2026-11-22T10:00:00+01:00","connection_ids":["conn_a","conn_b"],"text":"hello"}"#,
        )
        .unwrap();
        assert_eq!(a.digest, same.digest, "the same content, however written");
        let other = PostRequest::parse(r#"{"text":"hello!","connection_ids":["conn_a","conn_b"]}"#)
            .unwrap();
        assert_ne!(a.digest, other.digest);
        assert_eq!(a.content_hash(), same.content_hash());
        let with_image = PostRequest::parse(
            r#"{"text":"hello","connection_ids":["conn_a","conn_b"],"publish_at":"2026-11-22T09:00:00Z",
                "media":[{"url":"https://cdn.example.com/a.jpg","kind":"image","content_type":"image/jpeg","size_bytes":10}]}"#,
        )
        .unwrap();
        assert_ne!(a.digest, with_image.digest, "media is content");
        assert!(a.media_json().is_none());
        assert!(with_image.media_json().unwrap().contains("image/jpeg"));
        assert_ne!(a.content_hash(), other.content_hash());
    }

    #[test]
    fn bad_posts_are_refused_with_a_reason() {
        let refused = |body: &str| PostRequest::parse(body).unwrap_err();
        assert!(refused(r#"{"text":"  ","connection_ids":["c"]}"#).contains("empty"));
        assert!(refused(r#"{"text":"a","connection_ids":[]}"#).contains("1 to 20"));
        assert!(refused(r#"{"text":"a","connection_ids":["c","c"]}"#).contains("twice"));
        assert!(
            refused(r#"{"text":"a","connection_ids":["c"],"publish_at":"soon"}"#)
                .contains("RFC 3339")
        );
        assert!(refused(r#"{"text":"a","connection_ids":["c"],"colour":1}"#).contains("colour"));
        assert!(refused(
            r#"{"text":"a","connection_ids":["c"],"media":[{"url":"http://x/a.jpg","kind":"image","content_type":"image/jpeg","size_bytes":1}]}"#
        )
        .contains("https://"));
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        assert!(
            refused(&format!(r#"{{"text":"{long}","connection_ids":["c"]}}"#)).contains("63206")
        );
    }

    #[test]
    fn the_idempotency_key_is_required_and_bounded() {
        assert_eq!(idempotency_key(Some(" k-1 ")).unwrap(), "k-1");
        assert!(idempotency_key(None)
            .unwrap_err()
            .contains("Idempotency-Key"));
        assert!(idempotency_key(Some("a b")).is_err());
        assert!(idempotency_key(Some(&"k".repeat(256))).is_err());
    }

    #[test]
    fn only_what_did_not_reach_the_platform_is_retried_or_cancelled() {
        use TargetState::*;
        let retryable: Vec<_> = TargetState::ALL
            .into_iter()
            .filter(|s| s.retryable())
            .collect();
        assert_eq!(retryable, [Failed, Parked]);
        let cancellable: Vec<_> = TargetState::ALL
            .into_iter()
            .filter(|s| s.cancellable())
            .collect();
        assert_eq!(cancellable, [Scheduled, Queued, Parked]);
        for s in TargetState::ALL {
            assert_eq!(TargetState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_post_sums_up_its_targets() {
        use TargetState::*;
        assert_eq!(post_state(&[Published, Queued]), "pending");
        assert_eq!(post_state(&[Published, Published]), "published");
        assert_eq!(post_state(&[Published, Parked]), "needs_attention");
        assert_eq!(post_state(&[Cancelled]), "cancelled");
    }

    #[test]
    fn a_resolution_says_published_with_an_id_or_retry() {
        assert_eq!(
            Resolution::parse(r#"{"outcome":"published","platform_post_id":"123"}"#),
            Ok(Resolution::Published("123".into()))
        );
        assert_eq!(
            Resolution::parse(r#"{"outcome":"retry"}"#),
            Ok(Resolution::Retry)
        );
        assert!(Resolution::parse(r#"{"outcome":"published"}"#).is_err());
        assert!(Resolution::parse(r#"{"outcome":"maybe"}"#).is_err());
        // The id is trimmed, and counted in characters (the OpenAPI document's maxLength).
        assert_eq!(
            Resolution::published(" 42\n"),
            Some(Resolution::Published("42".into()))
        );
        let long = "é".repeat(MAX_PLATFORM_POST_ID_CHARS);
        assert_eq!(
            Resolution::published(&long),
            Some(Resolution::Published(long.clone()))
        );
        assert_eq!(Resolution::published(&format!("{long}é")), None);
        assert_eq!(Resolution::published(" \u{85}\t"), None);
    }
}
