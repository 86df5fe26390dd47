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
//!
//! Threads (developers.facebook.com/docs/threads/posts, …/troubleshooting,
//! …/reference/publishing) is the same flow on its own host, and takes text alone:
//! - `POST /{threads-user-id}/threads {"media_type": "TEXT", "text"}` or `{"media_type":
//!   "IMAGE", "image_url", "text"}` → `{"id": "<container id>"}`;
//! - `GET /{container}?fields=status,error_message` → `{"status": "IN_PROGRESS" | "FINISHED" |
//!   "PUBLISHED" | "ERROR" | "EXPIRED", "error_message"?, "id"}`;
//! - `POST /{threads-user-id}/threads_publish {"creation_id"}` → `{"id": "<media id>"}`;
//! - `GET /{threads-user-id}/threads_publishing_limit?fields=quota_usage,config` → the same
//!   shape as Instagram's (250 posts in 24 hours).

use crate::core::oauth::catalogue::{PublishDialect, PublishSpec};
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

/// The platform's name, for the messages people read.
pub fn platform(spec: &PublishSpec) -> &'static str {
    match spec.dialect {
        PublishDialect::Threads => "Threads",
        _ => "Instagram",
    }
}

/// Whether a post needs media here (Instagram) or may be text alone (Threads).
pub fn takes_text_alone(spec: &PublishSpec) -> bool {
    spec.dialect == PublishDialect::Threads
}

pub fn container_body(spec: &PublishSpec, media: Option<&Media>, caption: &str) -> String {
    if spec.dialect == PublishDialect::Threads {
        return match media {
            Some(m) => json!({ "media_type": "IMAGE", "image_url": m.url, "text": caption }),
            None => json!({ "media_type": "TEXT", "text": caption }),
        }
        .to_string();
    }
    match media.map(|m| (m.kind, &m.url)) {
        Some((MediaKind::Video, url)) => json!({
            "media_type": "REELS",
            "video_url": url,
            "caption": caption,
        }),
        Some((MediaKind::Image, url)) => json!({ "image_url": url, "caption": caption }),
        None => json!({ "caption": caption }),
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

/// The container's status: Instagram's `status_code` (with its words in `status`), Threads'
/// `status` (with its words in `error_message`).
pub fn container_status(spec: &PublishSpec, body: &[u8]) -> ContainerStatus {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return ContainerStatus::Unreadable;
    };
    let (code_field, words_field) = match spec.dialect {
        PublishDialect::Threads => ("status", "error_message"),
        _ => ("status_code", "status"),
    };
    let said = v.get(words_field).and_then(Value::as_str).unwrap_or("");
    let name = platform(spec);
    match v.get(code_field).and_then(Value::as_str) {
        Some("IN_PROGRESS") => ContainerStatus::InProgress,
        Some("FINISHED") => ContainerStatus::Finished,
        Some("PUBLISHED") => ContainerStatus::Published,
        Some("ERROR") => ContainerStatus::Failed(format!(
            "{name} could not prepare the media ({})",
            if said.is_empty() {
                "no reason given"
            } else {
                said
            }
        )),
        Some("EXPIRED") => ContainerStatus::Failed(format!(
            "{name}'s container expired (it was not published within 24 hours)"
        )),
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
        let body: Value = serde_json::from_str(&container_body(&s, Some(&video), "hi")).unwrap();
        assert_eq!(body["media_type"], "REELS");
        assert_eq!(body["video_url"], "https://cdn.example.com/v.mp4");
        assert_eq!(publish_body("c9"), r#"{"creation_id":"c9"}"#);
    }

    #[test]
    fn threads_takes_text_alone_and_reads_its_own_status_field() {
        let th = Catalogue::builtin()
            .get("threads")
            .unwrap()
            .publish
            .clone()
            .unwrap();
        assert!(takes_text_alone(&th) && !takes_text_alone(&spec()));
        assert_eq!(
            container_url(&th, "7"),
            "https://graph.threads.net/v1.0/7/threads"
        );
        assert_eq!(
            publish_url(&th, "7"),
            "https://graph.threads.net/v1.0/7/threads_publish"
        );
        let text: Value = serde_json::from_str(&container_body(&th, None, "hi")).unwrap();
        assert_eq!(text, json!({"media_type": "TEXT", "text": "hi"}));
        let image = Media {
            url: "https://cdn.example.com/i.png".into(),
            kind: MediaKind::Image,
            content_type: "image/png".into(),
            size_bytes: 10,
            duration_secs: None,
        };
        let with: Value = serde_json::from_str(&container_body(&th, Some(&image), "hi")).unwrap();
        assert_eq!(with["media_type"], "IMAGE");
        assert_eq!(with["image_url"], "https://cdn.example.com/i.png");
        assert_eq!(
            container_status(&th, br#"{"status":"FINISHED","id":"1"}"#),
            ContainerStatus::Finished
        );
        let ContainerStatus::Failed(why) = container_status(
            &th,
            br#"{"status":"ERROR","error_message":"FAILED_PROCESSING_IMAGE"}"#,
        ) else {
            panic!("an error is a failure");
        };
        assert!(why.starts_with("Threads") && why.contains("FAILED_PROCESSING_IMAGE"));
        // Instagram's field means nothing on Threads.
        assert_eq!(
            container_status(&th, br#"{"status_code":"FINISHED"}"#),
            ContainerStatus::Unreadable
        );
    }

    #[test]
    fn answers_are_read_as_documented() {
        assert_eq!(
            created_id(br#"{"id":"17895695668004550"}"#).as_deref(),
            Some("17895695668004550")
        );
        assert_eq!(created_id(br#"{"error":{}}"#), None);
        assert_eq!(
            container_status(&spec(), br#"{"status_code":"IN_PROGRESS","id":"1"}"#),
            ContainerStatus::InProgress
        );
        assert_eq!(
            container_status(&spec(), br#"{"status_code":"FINISHED"}"#),
            ContainerStatus::Finished
        );
        assert_eq!(
            container_status(&spec(), br#"{"status_code":"PUBLISHED"}"#),
            ContainerStatus::Published
        );
        let ContainerStatus::Failed(why) = container_status(
            &spec(),
            br#"{"status_code":"ERROR","status":"Error: 2207026"}"#,
        ) else {
            panic!("an error is a failure");
        };
        assert!(why.contains("2207026"));
        assert!(matches!(
            container_status(&spec(), br#"{"status_code":"EXPIRED"}"#),
            ContainerStatus::Failed(_)
        ));
        assert_eq!(
            container_status(&spec(), b"<html>"),
            ContainerStatus::Unreadable
        );
        assert_eq!(
            publishing_limit(br#"{"data":[{"quota_usage":100,"config":{"quota_total":100,"quota_duration":86400}}]}"#),
            Some((100, 100))
        );
        assert_eq!(publishing_limit(br#"{"data":[]}"#), None);
    }
}
