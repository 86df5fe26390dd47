//! YouTube's resumable upload (developers.google.com/youtube/v3/guides/
//! using_resumable_upload_protocol), processing status, and the daily quota.
//!
//! - Start: `POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status` with the
//!   video resource, `X-Upload-Content-Length` and `X-Upload-Content-Type` → `200`, the
//!   session URI in `Location`. The URI is stored at once, so any later invocation resumes.
//! - Upload: `PUT <session>` with the bytes (`Content-Range: bytes F-L/T` when resuming) →
//!   `200`/`201` with the video resource (`id`) when complete.
//! - Interrupted (a 5xx, a broken connection): `PUT <session>` with `Content-Range: bytes */T`
//!   and no body → `308 Resume Incomplete` with `Range: bytes=0-N` (the next byte is N+1; no
//!   `Range`: nothing arrived), or `200`/`201` if it had in fact completed; `404`: the session
//!   expired, start again.
//! - Processing: `GET /youtube/v3/videos?part=status,processingDetails&id=…` →
//!   `items[0].status.uploadStatus` (`uploaded`, `processed`, `failed`, `rejected`, `deleted`)
//!   and `processingDetails.processingStatus`.
//! - Quota: each Google Cloud project has 10,000 units a day by default, reset at midnight
//!   Pacific time; an upload (`videos.insert`) costs 1,600 and a `videos.list` 1
//!   (developers.google.com/youtube/v3/determine_quota_cost). Both figures are `MEDIA`
//!   settings, since Google grants more on request. A `403` with reason `quotaExceeded` or
//!   `uploadLimitExceeded` means wait for the reset, not failure.

use crate::core::common::clock::Timestamp;
use crate::core::oauth::catalogue::PublishSpec;
use crate::core::publish::media::Media;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

/// YouTube's longest title.
const MAX_TITLE_CHARS: usize = 100;

/// The title: the text's first line, at most 100 characters, without `<` and `>` (which
/// YouTube refuses in titles). The whole text is the description.
pub fn title(text: &str) -> String {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let clean: String = first
        .trim()
        .chars()
        .filter(|c| *c != '<' && *c != '>')
        .take(MAX_TITLE_CHARS)
        .collect();
    if clean.trim().is_empty() {
        "Untitled".into()
    } else {
        clean
    }
}

pub fn session_body(text: &str, private: bool) -> String {
    json!({
        "snippet": { "title": title(text), "description": text.replace(['<', '>'], "") },
        "status": { "privacyStatus": if private { "private" } else { "public" } },
    })
    .to_string()
}

/// The headers of the session request, besides `Authorization` and `Content-Type`.
pub fn session_headers(media: &Media) -> [(&'static str, String); 2] {
    [
        ("x-upload-content-length", media.size_bytes.to_string()),
        ("x-upload-content-type", media.content_type.clone()),
    ]
}

pub fn status_url(spec: &PublishSpec, video: &str) -> String {
    spec.endpoint("status").replace("{video}", video)
}

/// `Content-Range` for the bytes from `offset` to the end.
pub fn content_range(offset: u64, total: u64) -> String {
    format!("bytes {offset}-{}/{total}", total.saturating_sub(1))
}

/// `Content-Range` of the status query.
pub fn status_query_range(total: u64) -> String {
    format!("bytes */{total}")
}

/// What an upload request's (or status query's) answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadAnswer {
    /// The upload is complete: the video's id.
    Complete(String),
    /// Incomplete: the next byte to send.
    ResumeFrom(u64),
    /// The session is gone (expired or unknown): start a new one.
    SessionGone,
    /// The daily quota (or the channel's upload limit) is used up.
    QuotaExceeded(String),
    /// Refused for good, with Google's reason.
    Refused(u16, String),
    /// Unclear (a 5xx): ask the session where it stands.
    Interrupted(String),
}

fn reason_of(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/errors/0/reason")
                .or_else(|| v.pointer("/error/message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// Whether a refusal is the quota's.
pub fn is_quota(status: u16, body: &[u8]) -> bool {
    status == 403
        && matches!(
            reason_of(body).as_str(),
            "quotaExceeded" | "uploadLimitExceeded" | "dailyLimitExceeded"
        )
}

pub fn read_upload(status: u16, range: Option<&str>, body: &[u8]) -> UploadAnswer {
    match status {
        200 | 201 => match serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        {
            Some(id) => UploadAnswer::Complete(id),
            None => UploadAnswer::Interrupted("the upload answered without a video id".into()),
        },
        308 => UploadAnswer::ResumeFrom(
            range
                .and_then(|r| r.trim().strip_prefix("bytes=0-"))
                .and_then(|last| last.trim().parse::<u64>().ok())
                .map_or(0, |last| last + 1),
        ),
        404 | 410 => UploadAnswer::SessionGone,
        _ if is_quota(status, body) => UploadAnswer::QuotaExceeded(reason_of(body)),
        400..=499 => UploadAnswer::Refused(status, reason_of(body)),
        _ => UploadAnswer::Interrupted(format!("the upload answered {status}")),
    }
}

/// The uploaded video's processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Processing {
    Pending,
    Done,
    Failed(String),
    /// The video is not listed (deleted, or not visible yet).
    Missing,
}

pub fn processing(body: &[u8]) -> Processing {
    let Some(item) = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/items/0").cloned())
    else {
        return Processing::Missing;
    };
    let upload = item.pointer("/status/uploadStatus").and_then(Value::as_str);
    let processing = item
        .pointer("/processingDetails/processingStatus")
        .and_then(Value::as_str);
    let why = |field: &str| {
        item.pointer(field)
            .and_then(Value::as_str)
            .unwrap_or("no reason given")
            .to_owned()
    };
    match (upload, processing) {
        (Some("failed"), _) => {
            Processing::Failed(format!("upload failed: {}", why("/status/failureReason")))
        }
        (Some("rejected"), _) => {
            Processing::Failed(format!("rejected: {}", why("/status/rejectionReason")))
        }
        (Some("deleted"), _) => Processing::Failed("the video was deleted".into()),
        (_, Some("failed" | "terminated")) => Processing::Failed("processing failed".into()),
        (Some("processed"), _) | (_, Some("succeeded")) => Processing::Done,
        _ => Processing::Pending,
    }
}

/// The quota day a moment falls in (`YYYY-MM-DD`, Pacific time).
pub fn quota_day(at: Timestamp) -> String {
    pacific(at).format("%Y-%m-%d").to_string()
}

/// When the quota next resets: the next midnight, Pacific time.
pub fn next_reset(at: Timestamp) -> Timestamp {
    let local = pacific(at);
    let tomorrow = local.date() + Duration::days(1);
    let midnight = tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Midnight is never inside a DST change (they happen at 2:00): it is 7:00 UTC if daylight
    // time holds then, else 8:00.
    let daylight = midnight + Duration::hours(7);
    let utc = if utc_offset_hours(Utc.from_utc_datetime(&daylight)) == -7 {
        daylight
    } else {
        midnight + Duration::hours(8)
    };
    Timestamp::from_millis(Utc.from_utc_datetime(&utc).timestamp_millis())
}

fn pacific(at: Timestamp) -> chrono::NaiveDateTime {
    let utc = DateTime::from_timestamp_millis(at.as_millis()).unwrap_or_default();
    (utc + Duration::hours(utc_offset_hours(utc))).naive_utc()
}

/// −7 during US daylight time (second Sunday of March, 10:00 UTC, to the first Sunday of
/// November, 9:00 UTC), else −8.
fn utc_offset_hours(utc: DateTime<Utc>) -> i64 {
    let year = utc.year();
    let nth_sunday = |month: u32, n: u32| {
        let first = NaiveDate::from_ymd_opt(year, month, 1).unwrap_or_default();
        let to_sunday = (7 - first.weekday().num_days_from_sunday()) % 7;
        first + Duration::days(i64::from(to_sunday + 7 * (n - 1)))
    };
    let starts = nth_sunday(3, 2).and_hms_opt(10, 0, 0).unwrap_or_default();
    let ends = nth_sunday(11, 1).and_hms_opt(9, 0, 0).unwrap_or_default();
    let naive = utc.naive_utc();
    if naive >= starts && naive < ends {
        -7
    } else {
        -8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn titles_are_the_first_line_within_youtubes_rules() {
        assert_eq!(title("\n  Launch <day>!\nmore"), "Launch day!");
        assert_eq!(title(&"a".repeat(150)).len(), 100);
        assert_eq!(title("<>"), "Untitled");
        let body: Value = serde_json::from_str(&session_body("Hi\nthere", true)).unwrap();
        assert_eq!(body["snippet"]["title"], "Hi");
        assert_eq!(body["snippet"]["description"], "Hi\nthere");
        assert_eq!(body["status"]["privacyStatus"], "private");
    }

    #[test]
    fn upload_answers_say_where_to_resume() {
        assert_eq!(content_range(1_000, 5_000), "bytes 1000-4999/5000");
        assert_eq!(status_query_range(5_000), "bytes */5000");
        assert_eq!(
            read_upload(
                201,
                None,
                br#"{"id":"dQw4w9WgXcQ","status":{"uploadStatus":"uploaded"}}"#
            ),
            UploadAnswer::Complete("dQw4w9WgXcQ".into())
        );
        assert_eq!(
            read_upload(308, Some("bytes=0-524287"), b""),
            UploadAnswer::ResumeFrom(524_288)
        );
        assert_eq!(read_upload(308, None, b""), UploadAnswer::ResumeFrom(0));
        assert_eq!(read_upload(404, None, b""), UploadAnswer::SessionGone);
        assert_eq!(
            read_upload(
                403,
                None,
                br#"{"error":{"code":403,"errors":[{"reason":"quotaExceeded"}]}}"#
            ),
            UploadAnswer::QuotaExceeded("quotaExceeded".into())
        );
        assert_eq!(
            read_upload(
                400,
                None,
                br#"{"error":{"errors":[{"reason":"invalidTitle"}]}}"#
            ),
            UploadAnswer::Refused(400, "invalidTitle".into())
        );
        assert!(matches!(
            read_upload(503, None, b""),
            UploadAnswer::Interrupted(_)
        ));
        assert!(matches!(
            read_upload(200, None, b"{}"),
            UploadAnswer::Interrupted(_)
        ));
    }

    #[test]
    fn processing_is_read_from_status_and_details() {
        let item = |s: &str| format!(r#"{{"items":[{s}]}}"#);
        assert_eq!(
            processing(item(r#"{"status":{"uploadStatus":"uploaded"},"processingDetails":{"processingStatus":"processing"}}"#).as_bytes()),
            Processing::Pending
        );
        assert_eq!(
            processing(item(r#"{"status":{"uploadStatus":"processed"},"processingDetails":{"processingStatus":"succeeded"}}"#).as_bytes()),
            Processing::Done
        );
        assert_eq!(
            processing(
                item(r#"{"status":{"uploadStatus":"rejected","rejectionReason":"duplicate"}}"#)
                    .as_bytes()
            ),
            Processing::Failed("rejected: duplicate".into())
        );
        assert_eq!(processing(br#"{"items":[]}"#), Processing::Missing);
    }

    #[test]
    fn the_quota_day_is_pacific_and_resets_at_its_midnight() {
        // Winter: UTC−8.
        assert_eq!(quota_day(at("2026-11-22T07:59:00Z")), "2026-11-21");
        assert_eq!(quota_day(at("2026-11-22T08:00:00Z")), "2026-11-22");
        assert_eq!(
            next_reset(at("2026-11-22T10:00:00Z")),
            at("2026-11-23T08:00:00Z")
        );
        // Summer: UTC−7.
        assert_eq!(quota_day(at("2026-07-01T06:59:00Z")), "2026-06-30");
        assert_eq!(
            next_reset(at("2026-07-01T12:00:00Z")),
            at("2026-07-02T07:00:00Z")
        );
        // The night DST ends (1 Nov 2026): the next midnight is in winter time.
        assert_eq!(
            next_reset(at("2026-10-31T20:00:00Z")),
            at("2026-11-01T07:00:00Z")
        );
        assert_eq!(
            next_reset(at("2026-11-01T12:00:00Z")),
            at("2026-11-02T08:00:00Z")
        );
        // DST starts on 8 March 2026.
        assert_eq!(
            next_reset(at("2026-03-08T12:00:00Z")),
            at("2026-03-09T07:00:00Z")
        );
    }
}
