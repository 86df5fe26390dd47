//! Instagram's content publishing (Instagram API with Instagram Login): a container is created
//! from the media URL (Instagram fetches the file itself), its `status_code` is read until
//! `FINISHED`, then `media_publish` turns it into a post. At most 100 posts per account in any
//! 24 hours go through the API; `content_publishing_limit` says how many are used.
//!
//! Shapes (developers.facebook.com/docs/instagram-platform/content-publishing, …/reference/
//! ig-container, …/reference/ig-user/content_publishing_limit):
//! - `POST /{ig-user-id}/media {"image_url", "caption"}` or `{"media_type": "REELS",
//!   "video_url", "caption"}` → `{"id": "<container id>"}`;
//! - `GET /{container}?fields=status_code,status` → `{"status_code": "IN_PROGRESS" |
//!   "FINISHED" | "PUBLISHED" | "ERROR" | "EXPIRED", "status": "…", "id"}`;
//! - `POST /{ig-user-id}/media_publish {"creation_id"}` → `{"id": "<media id>"}`;
//! - `GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config` →
//!   `{"data": [{"quota_usage": 2, "config": {"quota_total": 100, "quota_duration": 86400}}]}`.
//!
//! A published container is final: `media_publish` on one that is `PUBLISHED` is refused, so an
//! unclear answer to `media_publish` is settled by reading the container again.

use crate::core::oauth::catalogue::PublishSpec;
use crate::core::publish::media::{Media, MediaKind};
use serde_json::{json, Value};

/// The container's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerStatus {
    InProgress,
    /// Ready for `media_publish`.
    Finished,
    /// Already published (a `media_publish` whose answer was lost went through).
    Published,
    /// Failed or expired, with Instagram's words.
    Failed(String),
    Unreadable,
}

pub fn container_url(spec: &PublishSpec, account: &str) -> String {
    spec.url.replace("{account}", account)
}

pub fn container_body(media: &Media, caption: &str) -> String {
    match media.kind {
        MediaKind::Image => json!({ "image_url": media.url, "caption": caption }),
        MediaKind::Video => json!({
            "media_type": "REELS",
            "video_url": media.url,
            "caption": caption,
        }),
    }
    .to_string()
}

pub fn status_url(spec: &PublishSpec, container: &str) -> String {
    spec.endpoint("container").replace("{container}", container)
}

pub fn publish_url(spec: &PublishSpec, account: &str) -> String {
    spec.endpoint("publish").replace("{account}", account)
}

pub fn publish_body(container: &str) -> String {
    json!({ "creation_id": container }).to_string()
}

pub fn limit_url(spec: &PublishSpec, account: &str) -> String {
    spec.endpoint("limit").replace("{account}", account)
}

/// The `id` of a creation answer (a container or a published media).
pub fn created_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub fn container_status(body: &[u8]) -> ContainerStatus {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return ContainerStatus::Unreadable;
    };
    let said = v.get("status").and_then(Value::as_str).unwrap_or("");
    match v.get("status_code").and_then(Value::as_str) {
        Some("IN_PROGRESS") => ContainerStatus::InProgress,
        Some("FINISHED") => ContainerStatus::Finished,
        Some("PUBLISHED") => ContainerStatus::Published,
        Some("ERROR") => ContainerStatus::Failed(format!(
            "Instagram could not prepare the media ({})",
            if said.is_empty() {
                "no reason given"
            } else {
                said
            }
        )),
        Some("EXPIRED") => ContainerStatus::Failed(
            "Instagram's container expired (it was not published within 24 hours)".into(),
        ),
        _ => ContainerStatus::Unreadable,
    }
}

/// Posts used and allowed in the current 24 hours.
pub fn publishing_limit(body: &[u8]) -> Option<(u64, u64)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let entry = v.get("data")?.get(0)?;
    let used = entry.get("quota_usage")?.as_u64()?;
    let total = entry.pointer("/config/quota_total")?.as_u64()?;
    Some((used, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    fn spec() -> PublishSpec {
        Catalogue::builtin()
            .get("instagram")
            .unwrap()
            .publish
            .clone()
            .unwrap()
    }

    #[test]
    fn requests_go_to_the_accounts_endpoints() {
        let s = spec();
        assert_eq!(
            container_url(&s, "1784"),
            "https://graph.instagram.com/v25.0/1784/media"
        );
        assert_eq!(
            status_url(&s, "c9"),
            "https://graph.instagram.com/v25.0/c9?fields=status_code,status"
        );
        assert_eq!(
            publish_url(&s, "1784"),
            "https://graph.instagram.com/v25.0/1784/media_publish"
        );
        assert!(limit_url(&s, "1784")
            .ends_with("/1784/content_publishing_limit?fields=quota_usage,config"));
        let video = Media {
            url: "https://cdn.example.com/v.mp4".into(),
            kind: MediaKind::Video,
            content_type: "video/mp4".into(),
            size_bytes: 10,
            duration_secs: Some(5.0),
        };
        let body: Value = serde_json::from_str(&container_body(&video, "hi")).unwrap();
        assert_eq!(body["media_type"], "REELS");
        assert_eq!(body["video_url"], "https://cdn.example.com/v.mp4");
        assert_eq!(publish_body("c9"), r#"{"creation_id":"c9"}"#);
    }

    #[test]
    fn answers_are_read_as_documented() {
        assert_eq!(
            created_id(br#"{"id":"17895695668004550"}"#).as_deref(),
            Some("17895695668004550")
        );
        assert_eq!(created_id(br#"{"error":{}}"#), None);
        assert_eq!(
            container_status(br#"{"status_code":"IN_PROGRESS","id":"1"}"#),
            ContainerStatus::InProgress
        );
        assert_eq!(
            container_status(br#"{"status_code":"FINISHED"}"#),
            ContainerStatus::Finished
        );
        assert_eq!(
            container_status(br#"{"status_code":"PUBLISHED"}"#),
            ContainerStatus::Published
        );
        let ContainerStatus::Failed(why) =
            container_status(br#"{"status_code":"ERROR","status":"Error: 2207026"}"#)
        else {
            panic!("an error is a failure");
        };
        assert!(why.contains("2207026"));
        assert!(matches!(
            container_status(br#"{"status_code":"EXPIRED"}"#),
            ContainerStatus::Failed(_)
        ));
        assert_eq!(container_status(b"<html>"), ContainerStatus::Unreadable);
        assert_eq!(
            publishing_limit(br#"{"data":[{"quota_usage":100,"config":{"quota_total":100,"quota_duration":86400}}]}"#),
            Some((100, 100))
        );
        assert_eq!(publishing_limit(br#"{"data":[]}"#), None);
    }
}
