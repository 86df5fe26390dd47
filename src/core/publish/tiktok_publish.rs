//! TikTok's Content Posting API, direct post with `PULL_FROM_URL`: the creator's info first
//! (the privacy levels they allow and the longest video they may post), then the post, then its
//! `publish_id` followed through the status fetch.
//!
//! Shapes (developers.tiktok.com/doc/content-posting-api-reference-direct-post,
//! …/content-posting-api-reference-get-video-status): every answer is `{"data": {…}, "error":
//! {"code": "ok" | "<code>", "message", "log_id"}}`, and some refusals come with HTTP 200, so the
//! `error.code` decides.
//! - `POST /v2/post/publish/creator_info/query/` → `data.privacy_level_options` (e.g.
//!   `["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]`),
//!   `data.max_video_post_duration_sec`;
//! - `POST /v2/post/publish/video/init/ {"post_info": {"title", "privacy_level", …},
//!   "source_info": {"source": "PULL_FROM_URL", "video_url"}}` → `data.publish_id`;
//! - `POST /v2/post/publish/status/fetch/ {"publish_id"}` → `data.status`
//!   (`PROCESSING_DOWNLOAD`, `PROCESSING_UPLOAD`, `SEND_TO_USER_INBOX`, `PUBLISH_COMPLETE`,
//!   `FAILED`), `data.fail_reason`, `data.publicaly_available_post_id` (sic).
//!
//! Two rules an operator must know: posts by an app TikTok has not audited are private
//! (`SELF_ONLY`) whatever is asked, and a `PULL_FROM_URL` video must come from a domain or URL
//! prefix verified for the app in TikTok's developer portal (`url_ownership_unverified`).

use serde_json::{json, Value};

/// What the creator allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatorInfo {
    pub privacy_level_options: Vec<String>,
    pub max_video_post_duration_sec: Option<u64>,
}

/// TikTok's `error` object, when its code is not `ok`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TikTokError {
    pub code: String,
    pub message: String,
}

impl TikTokError {
    /// A token TikTok no longer honours.
    pub fn token_refused(&self) -> bool {
        self.code == "access_token_invalid"
    }

    /// A refusal that will not change on a retry, with what a person should do.
    pub fn permanent(&self) -> Option<String> {
        Some(match self.code.as_str() {
            "unaudited_client_can_only_post_to_private_accounts" => {
                "TikTok has not audited this app, so it may only post privately: set MEDIA \
                 tiktok_private=1 until the audit passes."
                    .into()
            }
            "url_ownership_unverified" => {
                "TikTok refused the video URL: its domain or URL prefix must be verified for this \
                 app in the TikTok developer portal."
                    .into()
            }
            "privacy_level_option_mismatch" => {
                "TikTok refused the privacy level: the creator does not allow it.".into()
            }
            "spam_risk_user_banned_from_posting" | "scope_not_authorized" => {
                format!("TikTok refused the post ({}): {}", self.code, self.message)
            }
            _ => return None,
        })
    }
}

fn error_of(v: &Value) -> Option<TikTokError> {
    let code = v.pointer("/error/code").and_then(Value::as_str)?;
    (code != "ok").then(|| TikTokError {
        code: code.to_owned(),
        message: v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    })
}

/// Reads an answer: its `data`, or TikTok's error (`None` data and no error: unreadable).
fn read(body: &[u8]) -> Result<Value, Option<TikTokError>> {
    let v: Value = serde_json::from_slice(body).map_err(|_| None)?;
    if let Some(e) = error_of(&v) {
        return Err(Some(e));
    }
    v.get("data").cloned().ok_or(None)
}

pub fn creator_info(body: &[u8]) -> Result<CreatorInfo, Option<TikTokError>> {
    let data = read(body)?;
    let options = data
        .get("privacy_level_options")
        .and_then(Value::as_array)
        .ok_or(None)?
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    Ok(CreatorInfo {
        privacy_level_options: options,
        max_video_post_duration_sec: data
            .get("max_video_post_duration_sec")
            .and_then(Value::as_u64),
    })
}

/// The privacy level to post with: `SELF_ONLY` when the app must post privately, else the
/// most public level the creator allows.
pub fn privacy_level(info: &CreatorInfo, private_only: bool) -> Result<&'static str, String> {
    let wanted: &[&'static str] = if private_only {
        &["SELF_ONLY"]
    } else {
        &[
            "PUBLIC_TO_EVERYONE",
            "FOLLOWER_OF_CREATOR",
            "MUTUAL_FOLLOW_FRIENDS",
            "SELF_ONLY",
        ]
    };
    wanted
        .iter()
        .find(|w| info.privacy_level_options.iter().any(|o| o == *w))
        .copied()
        .ok_or_else(|| {
            format!(
                "The TikTok creator allows only {:?}; Evergreen would post as {}.",
                info.privacy_level_options,
                wanted.join(" or ")
            )
        })
}

/// Whether the video fits the creator's own duration limit.
pub fn fits_duration(info: &CreatorInfo, duration_secs: f64) -> Result<(), String> {
    match info.max_video_post_duration_sec {
        Some(max) if duration_secs > max as f64 => Err(format!(
            "This TikTok creator may post videos of at most {max} s; this one lasts \
             {duration_secs} s."
        )),
        _ => Ok(()),
    }
}

pub fn init_body(title: &str, privacy_level: &str, video_url: &str) -> String {
    json!({
        "post_info": {
            "title": title,
            "privacy_level": privacy_level,
            "disable_duet": false,
            "disable_comment": false,
            "disable_stitch": false,
        },
        "source_info": { "source": "PULL_FROM_URL", "video_url": video_url },
    })
    .to_string()
}

/// The post's `publish_id`.
pub fn publish_id(body: &[u8]) -> Result<String, Option<TikTokError>> {
    read(body)?
        .get("publish_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or(None)
}

pub fn status_body(publish_id: &str) -> String {
    json!({ "publish_id": publish_id }).to_string()
}

/// Where the post is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostStatus {
    Processing(String),
    /// Published; the public post id, which TikTok gives for public posts only.
    Complete(Option<String>),
    Failed(String),
}

pub fn post_status(body: &[u8]) -> Result<PostStatus, Option<TikTokError>> {
    let data = read(body)?;
    let status = data.get("status").and_then(Value::as_str).ok_or(None)?;
    Ok(match status {
        "PUBLISH_COMPLETE" => PostStatus::Complete(
            data.get("publicaly_available_post_id")
                .and_then(Value::as_array)
                .and_then(|ids| ids.first())
                .and_then(|id| {
                    id.as_str()
                        .map(str::to_owned)
                        .or_else(|| id.as_u64().map(|n| n.to_string()))
                }),
        ),
        "FAILED" => PostStatus::Failed(
            data.get("fail_reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
                .to_owned(),
        ),
        other => PostStatus::Processing(other.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] = br#"{"data":{"creator_username":"demo","privacy_level_options":["PUBLIC_TO_EVERYONE","MUTUAL_FOLLOW_FRIENDS","SELF_ONLY"],"max_video_post_duration_sec":300},"error":{"code":"ok","message":"","log_id":"1"}}"#;

    #[test]
    fn the_creators_info_decides_privacy_and_duration() {
        let info = creator_info(INFO).unwrap();
        assert_eq!(privacy_level(&info, false), Ok("PUBLIC_TO_EVERYONE"));
        assert_eq!(privacy_level(&info, true), Ok("SELF_ONLY"));
        let friends_only = CreatorInfo {
            privacy_level_options: vec!["MUTUAL_FOLLOW_FRIENDS".into()],
            max_video_post_duration_sec: None,
        };
        assert_eq!(
            privacy_level(&friends_only, false),
            Ok("MUTUAL_FOLLOW_FRIENDS")
        );
        assert!(privacy_level(&friends_only, true).is_err());
        assert!(fits_duration(&info, 300.0).is_ok());
        assert!(fits_duration(&info, 301.0)
            .unwrap_err()
            .contains("at most 300 s"));
    }

    #[test]
    fn errors_come_from_the_error_code_even_with_200() {
        let e = publish_id(
            br#"{"data":{},"error":{"code":"unaudited_client_can_only_post_to_private_accounts","message":"x"}}"#,
        )
        .unwrap_err()
        .unwrap();
        assert!(e.permanent().unwrap().contains("tiktok_private=1"));
        let e = publish_id(br#"{"error":{"code":"access_token_invalid","message":"x"}}"#)
            .unwrap_err()
            .unwrap();
        assert!(e.token_refused() && e.permanent().is_none());
        let rate = publish_id(br#"{"error":{"code":"rate_limit_exceeded","message":"x"}}"#)
            .unwrap_err()
            .unwrap();
        assert!(rate.permanent().is_none());
        assert_eq!(
            publish_id(br#"{"data":{"publish_id":"v_pub_url~v2.1"},"error":{"code":"ok"}}"#),
            Ok("v_pub_url~v2.1".into())
        );
        assert_eq!(publish_id(b"<html>"), Err(None));
    }

    #[test]
    fn the_status_says_processing_complete_or_failed() {
        let ok = |s: &str| format!(r#"{{"data":{s},"error":{{"code":"ok"}}}}"#);
        assert_eq!(
            post_status(ok(r#"{"status":"PROCESSING_DOWNLOAD"}"#).as_bytes()),
            Ok(PostStatus::Processing("PROCESSING_DOWNLOAD".into()))
        );
        assert_eq!(
            post_status(ok(r#"{"status":"PUBLISH_COMPLETE","publicaly_available_post_id":[7319256491374233898]}"#).as_bytes()),
            Ok(PostStatus::Complete(Some("7319256491374233898".into())))
        );
        assert_eq!(
            post_status(ok(r#"{"status":"PUBLISH_COMPLETE"}"#).as_bytes()),
            Ok(PostStatus::Complete(None))
        );
        assert_eq!(
            post_status(
                ok(r#"{"status":"FAILED","fail_reason":"file_format_check_failed"}"#).as_bytes()
            ),
            Ok(PostStatus::Failed("file_format_check_failed".into()))
        );
        let body: Value =
            serde_json::from_str(&init_body("t", "SELF_ONLY", "https://m/v.mp4")).unwrap();
        assert_eq!(body["source_info"]["source"], "PULL_FROM_URL");
        assert_eq!(body["post_info"]["privacy_level"], "SELF_ONLY");
    }
}
