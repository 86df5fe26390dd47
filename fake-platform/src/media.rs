//! Media and the asynchronous platforms: a media host, X's media upload, LinkedIn's Images
//! API, Instagram's containers, TikTok's pull-from-URL posts and YouTube's resumable upload.
//!
//! Answer shapes, from each platform's docs (quoted where the worker reads them too, in
//! `src/core/{instagram_publish,tiktok_publish,youtube_upload,publish_dialect}.rs`):
//! - Media host (`media.example.test`): `GET /{name}?bytes=N&type=T` serves N bytes of a fixed
//!   pattern as T, honours `Range: bytes=F-` with `206` and `Content-Range`, and counts reads.
//! - X (docs.x.com/x-api/media/upload-media): `POST /2/media/upload {"media": base64,
//!   "media_category", "media_type"}` → `{"data": {"id", "media_key": "3_…", "size",
//!   "expires_after_secs": 86400}}`.
//! - LinkedIn (…/shares/images-api): `POST /rest/images?action=initializeUpload` →
//!   `{"value": {"uploadUrlExpiresAt", "uploadUrl", "image": "urn:li:image:…"}}`; `PUT
//!   uploadUrl` → `201`.
//! - Instagram (…/instagram-platform/content-publishing, …/reference/ig-container,
//!   …/ig-user/content_publishing_limit): containers `IN_PROGRESS` for a set number of status
//!   reads (or forever), then `FINISHED`, `PUBLISHED` after `media_publish`; publishing a
//!   published container is refused (`400`, code 9004 in the fake); the cap is 100 a day.
//! - TikTok (…/content-posting-api-reference-direct-post, …-get-video-status): creator info,
//!   `video/init` (an unaudited client posting anything but `SELF_ONLY` gets
//!   `unaudited_client_can_only_post_to_private_accounts`), then `PROCESSING_DOWNLOAD` for a set
//!   number of status reads, then `PUBLISH_COMPLETE` (`publicaly_available_post_id` for public
//!   posts only).
//! - YouTube (…/guides/using_resumable_upload_protocol): the session's `Location`, `308` with
//!   `Range: bytes=0-N` for a status query, `201` with the video resource when complete;
//!   `videos.list` says `uploaded`/`processing` for a set number of reads, then
//!   `processed`/`succeeded`.
//!
//! Every post made lands in the one list of posts (`PublishedPost`), with its media.

use crate::http::{Incoming, Reply};
use crate::publish::{author_of, Platform, PublishedPost};
use crate::state::Shared;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::SystemTime;

/// Media and async-publishing state.
#[derive(Debug, Default)]
pub struct MediaState {
    next_id: u64,
    /// Reads of the media host, by file name.
    pub media_reads: HashMap<String, u32>,
    /// X media ids and LinkedIn image URNs → bytes received (`None`: not yet uploaded).
    pub uploads: HashMap<String, Option<usize>>,
    /// LinkedIn upload URLs → image URN.
    linkedin_upload_urls: HashMap<String, String>,
    pub containers: HashMap<String, Container>,
    /// Status reads an Instagram container stays `IN_PROGRESS` (`u32::MAX`: forever).
    pub container_polls: u32,
    /// Instagram posts published in the window, by account (the cap is 100).
    pub instagram_usage: HashMap<String, u64>,
    pub tiktok_posts: HashMap<String, TiktokPost>,
    pub tiktok_polls: u32,
    /// The TikTok client has not passed TikTok's audit: only `SELF_ONLY` posts.
    pub tiktok_unaudited: bool,
    pub sessions: HashMap<String, Session>,
    /// The next upload request keeps this many bytes, then fails with `503`.
    pub upload_cut_after: Option<usize>,
    /// Bytes YouTube kept over every upload request (a re-sent byte counts twice).
    pub upload_bytes_kept: u64,
    pub videos: HashMap<String, u32>,
    pub processing_polls: u32,
}

#[derive(Clone, Debug)]
pub struct Container {
    account: String,
    caption: String,
    media_url: String,
    polls_left: u32,
    published: bool,
}

#[derive(Clone, Debug)]
pub struct TiktokPost {
    public: bool,
    polls_left: u32,
    post_id: u64,
}

#[derive(Clone, Debug)]
pub struct Session {
    account: String,
    title: String,
    total: usize,
    content_type: String,
    received: Vec<u8>,
    video: Option<String>,
}

/// The byte at `offset` of every file the media host serves.
pub fn media_byte(offset: usize) -> u8 {
    b'A' + (offset % 23) as u8
}

fn static_type(t: &str) -> &'static str {
    match t {
        "image/jpeg" => "image/jpeg",
        "image/png" => "image/png",
        "video/mp4" => "video/mp4",
        "video/quicktime" => "video/quicktime",
        _ => "application/octet-stream",
    }
}

fn graph_error(status: u16, message: &str, code: i64) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "type": "OAuthException", "code": code}}),
    )
}

fn tiktok(data: Value, code: &str, message: &str) -> Value {
    json!({"data": data, "error": {"code": code, "message": message, "log_id": "20261122000000FAKE"}})
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    Some(match (req.method.as_str(), parts.as_slice()) {
        ("GET", ["media.example.test", name]) => serve_media(shared, req, name),
        ("POST", ["api.x.com", "2", "media", "upload"]) => x_upload(shared, req),
        ("POST", ["api.linkedin.com", "rest", "images"]) => linkedin_init(shared, req),
        ("PUT", ["www.linkedin.com", "dms-uploads", _]) => linkedin_put(shared, req),
        ("POST", ["graph.instagram.com", _, account, "media"]) => container(shared, req, account),
        ("GET", ["graph.instagram.com", _, account, "media"]) => ig_media(shared, req, account),
        ("POST", ["graph.instagram.com", _, account, "media_publish"]) => {
            ig_publish(shared, req, account)
        }
        ("GET", ["graph.instagram.com", _, account, "content_publishing_limit"]) => {
            ig_limit(shared, req, account)
        }
        ("GET", ["graph.instagram.com", _, id])
            if shared.lock().media.containers.contains_key(*id) =>
        {
            container_status(shared, req, id)
        }
        ("POST", ["open.tiktokapis.com", "v2", "post", "publish", "creator_info", "query", ..]) => {
            creator_info(shared, req)
        }
        ("POST", ["open.tiktokapis.com", "v2", "post", "publish", "video", "init", ..]) => {
            tiktok_init(shared, req)
        }
        ("POST", ["open.tiktokapis.com", "v2", "post", "publish", "status", "fetch", ..]) => {
            tiktok_status(shared, req)
        }
        ("POST", ["www.googleapis.com", "upload", "youtube", "v3", "videos"]) => {
            youtube_session(shared, req)
        }
        ("PUT", ["www.googleapis.com", "upload", "youtube", "v3", "videos"]) => {
            youtube_upload(shared, req)
        }
        ("GET", ["www.googleapis.com", "youtube", "v3", "videos"]) => youtube_videos(shared, req),
        _ => return None,
    })
}

fn serve_media(shared: &Shared, req: &Incoming, name: &str) -> Reply {
    let total: usize = req
        .query
        .get("bytes")
        .and_then(|b| b.parse().ok())
        .unwrap_or(1_024);
    let kind = static_type(req.query.get("type").map_or("", String::as_str));
    *shared
        .lock()
        .media
        .media_reads
        .entry(name.to_owned())
        .or_default() += 1;
    let from = req
        .header("range")
        .and_then(|r| r.trim().strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok())
        .filter(|f| *f < total);
    let start = from.unwrap_or(0);
    let body: String = (start..total).map(|i| media_byte(i) as char).collect();
    let mut reply = Reply::html(if from.is_some() { 206 } else { 200 }, body);
    reply.content_type = kind;
    match from {
        Some(f) => reply.with_header("content-range", &format!("bytes {f}-{}/{total}", total - 1)),
        None => reply,
    }
}

fn unauthorized() -> Reply {
    Reply::json(
        401,
        &json!({"title": "Unauthorized", "status": 401, "detail": "Unauthorized"}),
    )
}

fn next_id(shared: &Shared) -> u64 {
    let mut inner = shared.lock();
    inner.media.next_id += 1;
    inner.media.next_id
}

fn x_upload(shared: &Shared, req: &Incoming) -> Reply {
    if author_of(shared, req, Platform::X, "").is_none() {
        return unauthorized();
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let Some(bytes) = body["media"]
        .as_str()
        .and_then(|m| base64::engine::general_purpose::STANDARD.decode(m).ok())
    else {
        return Reply::json(
            400,
            &json!({"title": "Invalid Request", "detail": "media is required", "status": 400}),
        );
    };
    let id = (1_880_028_106_020_515_840u64 + next_id(shared)).to_string();
    shared
        .lock()
        .media
        .uploads
        .insert(id.clone(), Some(bytes.len()));
    Reply::json(
        200,
        &json!({"data": {"id": id, "media_key": format!("3_{id}"), "size": bytes.len(), "expires_after_secs": 86400}}),
    )
}

fn linkedin_init(shared: &Shared, req: &Incoming) -> Reply {
    if author_of(shared, req, Platform::Linkedin, "").is_none() {
        return unauthorized();
    }
    let n = next_id(shared);
    let image = format!("urn:li:image:C4E10AQFake{n}");
    let url = format!("https://www.linkedin.com/dms-uploads/img{n}");
    let mut inner = shared.lock();
    inner.media.uploads.insert(image.clone(), None);
    inner
        .media
        .linkedin_upload_urls
        .insert(format!("img{n}"), image.clone());
    Reply::json(
        200,
        &json!({"value": {"uploadUrlExpiresAt": 1_650_567_510_704u64, "uploadUrl": url, "image": image}}),
    )
}

fn linkedin_put(shared: &Shared, req: &Incoming) -> Reply {
    if author_of(shared, req, Platform::Linkedin, "").is_none() {
        return unauthorized();
    }
    let key = req.path.rsplit('/').next().unwrap_or("");
    let mut inner = shared.lock();
    let Some(image) = inner.media.linkedin_upload_urls.get(key).cloned() else {
        return Reply::json(
            404,
            &json!({"status": 404, "message": "Upload URL not found"}),
        );
    };
    inner.media.uploads.insert(image, Some(req.body.len()));
    let mut reply = Reply::json(201, &json!({}));
    reply.body = String::new();
    reply
}

/// The media a post names, described for the post list; `Err` for an unknown or empty upload.
pub fn uploaded(shared: &Shared, ids: &[String]) -> Result<Vec<String>, String> {
    let inner = shared.lock();
    ids.iter()
        .map(|id| match inner.media.uploads.get(id) {
            Some(Some(size)) => Ok(format!("image:{size}")),
            _ => Err(format!("media {id} is not uploaded")),
        })
        .collect()
}

/// The bearer token acts for this Instagram account, or Meta's 190 refusal.
fn ig_account(shared: &Shared, req: &Incoming, account: &str) -> Result<(), Reply> {
    match author_of(shared, req, Platform::X, "") {
        Some(a) if a == account => Ok(()),
        _ => Err(ig_token_refused()),
    }
}

fn ig_token_refused() -> Reply {
    graph_error(
        400,
        "Invalid OAuth access token - Cannot parse access token",
        190,
    )
}

fn container(shared: &Shared, req: &Incoming, account: &str) -> Reply {
    if let Err(refused) = ig_account(shared, req, account) {
        return refused;
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let url = body["image_url"]
        .as_str()
        .or(body["video_url"].as_str())
        .unwrap_or("");
    if url.is_empty() {
        return graph_error(400, "The parameter image_url or video_url is required", 100);
    }
    let id = (17_889_455_560_051_444u64 + next_id(shared)).to_string();
    let mut inner = shared.lock();
    let polls = inner.media.container_polls;
    inner.media.containers.insert(
        id.clone(),
        Container {
            account: account.to_owned(),
            caption: body["caption"].as_str().unwrap_or("").to_owned(),
            media_url: url.to_owned(),
            polls_left: polls,
            published: false,
        },
    );
    Reply::json(200, &json!({ "id": id }))
}

fn container_status(shared: &Shared, req: &Incoming, id: &str) -> Reply {
    let account = author_of(shared, req, Platform::X, "");
    let mut inner = shared.lock();
    let Some(c) = inner.media.containers.get_mut(id) else {
        return graph_error(400, "Unsupported get request", 100);
    };
    if account.as_deref() != Some(c.account.as_str()) {
        return ig_token_refused();
    }
    let code = if c.published {
        "PUBLISHED"
    } else if c.polls_left == 0 {
        "FINISHED"
    } else {
        if c.polls_left != u32::MAX {
            c.polls_left -= 1;
        }
        "IN_PROGRESS"
    };
    Reply::json(200, &json!({"status_code": code, "status": code, "id": id}))
}

fn ig_publish(shared: &Shared, req: &Incoming, account: &str) -> Reply {
    if let Err(refused) = ig_account(shared, req, account) {
        return refused;
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let id = body["creation_id"].as_str().unwrap_or("");
    let fault = shared.lock().publish_faults.pop_front();
    let mut inner = shared.lock();
    let now = inner.now_for(account);
    let Some(c) = inner.media.containers.get_mut(id) else {
        return graph_error(400, "The media container was not found", 100);
    };
    if c.published {
        return graph_error(400, "The media has already been published", 9004);
    }
    if c.polls_left > 0 {
        return graph_error(400, "Media ID is not available", 9007);
    }
    c.published = true;
    let (caption, media_url) = (c.caption.clone(), c.media_url.clone());
    *inner
        .media
        .instagram_usage
        .entry(account.to_owned())
        .or_default() += 1;
    inner.next_post_id += 1;
    let media_id = (17_920_238_422_030_506u64 + inner.next_post_id).to_string();
    inner.posts.push(PublishedPost {
        id: media_id.clone(),
        platform: "instagram",
        author: account.to_owned(),
        text: caption,
        media: vec![media_url],
        received_at: SystemTime::now(),
        created_at: now,
    });
    drop(inner);
    if fault == Some(crate::publish::PublishFault::ServerErrorAfterCreate) {
        return Reply::html(503, "<html><body>Service Unavailable</body></html>".into());
    }
    Reply::json(200, &json!({ "id": media_id }))
}

fn ig_media(shared: &Shared, req: &Incoming, account: &str) -> Reply {
    if let Err(refused) = ig_account(shared, req, account) {
        return refused;
    }
    let inner = shared.lock();
    let posts: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "instagram" && p.author == account)
        .take(25)
        .map(|p| {
            let at: chrono::DateTime<chrono::Utc> = p.created_at.into();
            json!({"id": p.id, "caption": p.text, "timestamp": at.format("%Y-%m-%dT%H:%M:%S+0000").to_string()})
        })
        .collect();
    Reply::json(200, &json!({ "data": posts }))
}

fn ig_limit(shared: &Shared, req: &Incoming, account: &str) -> Reply {
    if let Err(refused) = ig_account(shared, req, account) {
        return refused;
    }
    let used = shared
        .lock()
        .media
        .instagram_usage
        .get(account)
        .copied()
        .unwrap_or(0);
    Reply::json(
        200,
        &json!({"data": [{"quota_usage": used, "config": {"quota_total": 100, "quota_duration": 86400}}]}),
    )
}

fn tiktok_unauthorized() -> Reply {
    Reply::json(
        401,
        &tiktok(
            json!({}),
            "access_token_invalid",
            "The access token is invalid or not found in the request.",
        ),
    )
}

fn creator_info(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account) = author_of(shared, req, Platform::X, "") else {
        return tiktok_unauthorized();
    };
    Reply::json(
        200,
        &tiktok(
            json!({
                "creator_avatar_url": "https://p16-sign.tiktokcdn-us.com/fake.jpeg",
                "creator_username": account,
                "creator_nickname": account,
                "privacy_level_options": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
                "comment_disabled": false,
                "duet_disabled": false,
                "stitch_disabled": true,
                "max_video_post_duration_sec": 300,
            }),
            "ok",
            "",
        ),
    )
}

fn tiktok_init(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account) = author_of(shared, req, Platform::X, "") else {
        return tiktok_unauthorized();
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let privacy = body["post_info"]["privacy_level"].as_str().unwrap_or("");
    let url = body["source_info"]["video_url"].as_str().unwrap_or("");
    if body["source_info"]["source"] != "PULL_FROM_URL" || url.is_empty() {
        return Reply::json(
            400,
            &tiktok(json!({}), "invalid_params", "source_info is invalid"),
        );
    }
    if shared.lock().media.tiktok_unaudited && privacy != "SELF_ONLY" {
        return Reply::json(
            403,
            &tiktok(
                json!({}),
                "unaudited_client_can_only_post_to_private_accounts",
                "Please review our integration guidelines",
            ),
        );
    }
    let n = next_id(shared);
    let publish_id = format!("v_pub_url~v2.{n}");
    let mut inner = shared.lock();
    let now = inner.now_for(&account);
    let polls = inner.media.tiktok_polls;
    inner.next_post_id += 1;
    let post_id = 7_319_256_491_374_233_000u64 + inner.next_post_id;
    inner.media.tiktok_posts.insert(
        publish_id.clone(),
        TiktokPost {
            public: privacy == "PUBLIC_TO_EVERYONE",
            polls_left: polls,
            post_id,
        },
    );
    inner.posts.push(PublishedPost {
        id: post_id.to_string(),
        platform: "tiktok",
        author: account,
        text: body["post_info"]["title"].as_str().unwrap_or("").to_owned(),
        media: vec![url.to_owned()],
        received_at: SystemTime::now(),
        created_at: now,
    });
    Reply::json(200, &tiktok(json!({ "publish_id": publish_id }), "ok", ""))
}

fn tiktok_status(shared: &Shared, req: &Incoming) -> Reply {
    if author_of(shared, req, Platform::X, "").is_none() {
        return tiktok_unauthorized();
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let mut inner = shared.lock();
    let Some(post) = body["publish_id"]
        .as_str()
        .and_then(|id| inner.media.tiktok_posts.get_mut(id))
    else {
        return Reply::json(
            400,
            &tiktok(json!({}), "invalid_publish_id", "publish_id does not exist"),
        );
    };
    let data = if post.polls_left > 0 {
        post.polls_left -= 1;
        json!({"status": "PROCESSING_DOWNLOAD", "uploaded_bytes": 0})
    } else if post.public {
        json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [post.post_id]})
    } else {
        json!({"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []})
    };
    Reply::json(200, &tiktok(data, "ok", ""))
}

fn youtube_session(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account) = author_of(shared, req, Platform::X, "") else {
        return Reply::json(
            401,
            &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        );
    };
    let total = req
        .header("x-upload-content-length")
        .and_then(|l| l.trim().parse().ok());
    let Some(total) = total else {
        return Reply::json(
            400,
            &json!({"error": {"code": 400, "errors": [{"reason": "invalidValue", "message": "X-Upload-Content-Length is required"}]}}),
        );
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let n = next_id(shared);
    let upload_id = format!("xa298sd_f{n}");
    shared.lock().media.sessions.insert(
        upload_id.clone(),
        Session {
            account,
            title: body["snippet"]["title"].as_str().unwrap_or("").to_owned(),
            total,
            content_type: req.header("x-upload-content-type").unwrap_or("").to_owned(),
            received: Vec::new(),
            video: None,
        },
    );
    let mut reply = Reply::json(200, &json!({}));
    reply.body = String::new();
    reply.location = Some(format!(
        "https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}&part=snippet,status"
    ));
    reply
}

fn video_resource(id: &str, status: &str) -> Value {
    json!({"kind": "youtube#video", "id": id, "status": {"uploadStatus": status, "privacyStatus": "public"}})
}

fn youtube_upload(shared: &Shared, req: &Incoming) -> Reply {
    let account = author_of(shared, req, Platform::X, "");
    let id = req.query.get("upload_id").cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let now = account.as_deref().map(|a| inner.now_for(a));
    let cut = inner.media.upload_cut_after.take();
    let Some(session) = inner.media.sessions.get_mut(&id) else {
        return Reply::json(
            404,
            &json!({"error": {"code": 404, "message": "Not Found"}}),
        );
    };
    if account.as_deref() != Some(session.account.as_str()) {
        return Reply::json(
            401,
            &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials."}}),
        );
    }
    if let Some(video) = &session.video {
        return Reply::json(200, &video_resource(video, "uploaded"));
    }
    let range = req.header("content-range").unwrap_or("").trim().to_owned();
    if range.starts_with("bytes */") {
        let reply = Reply::json(308, &json!({}));
        return match session.received.len() {
            0 => reply,
            n => reply.with_header("range", &format!("bytes=0-{}", n - 1)),
        };
    }
    let first = range
        .strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|f| f.parse::<usize>().ok())
        .unwrap_or(0);
    if first != session.received.len() {
        return Reply::json(
            400,
            &json!({"error": {"code": 400, "message": format!("Content-Range starts at {first}, expected {}", session.received.len())}}),
        );
    }
    let keep = cut.unwrap_or(usize::MAX).min(req.body.len());
    session.received.extend_from_slice(&req.body[..keep]);
    let kept = keep as u64;
    let (complete, intact, total, title, content_type, owner) = (
        session.received.len() == session.total,
        session
            .received
            .iter()
            .enumerate()
            .all(|(i, b)| *b == media_byte(i)),
        session.total,
        session.title.clone(),
        session.content_type.clone(),
        session.account.clone(),
    );
    inner.media.upload_bytes_kept += kept;
    if cut.is_some() {
        return Reply::html(503, "<html><body>Service Unavailable</body></html>".into());
    }
    if !complete {
        let n = inner.media.sessions[&id].received.len();
        return Reply::json(308, &json!({}))
            .with_header("range", &format!("bytes=0-{}", n.saturating_sub(1)));
    }
    inner.next_post_id += 1;
    let video = format!("dQw4w9WgX{}", inner.next_post_id);
    if let Some(s) = inner.media.sessions.get_mut(&id) {
        s.video = Some(video.clone());
    }
    let polls = inner.media.processing_polls;
    inner.media.videos.insert(video.clone(), polls);
    inner.posts.push(PublishedPost {
        id: video.clone(),
        platform: "youtube",
        author: owner,
        text: title,
        media: vec![format!(
            "video:{total}:{content_type}:{}",
            if intact { "intact" } else { "corrupt" }
        )],
        received_at: SystemTime::now(),
        created_at: now.unwrap_or_else(SystemTime::now),
    });
    Reply::json(201, &video_resource(&video, "uploaded"))
}

fn youtube_videos(shared: &Shared, req: &Incoming) -> Reply {
    if author_of(shared, req, Platform::X, "").is_none() {
        return Reply::json(
            401,
            &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials."}}),
        );
    }
    let id = req.query.get("id").cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let Some(left) = inner.media.videos.get_mut(&id) else {
        return Reply::json(
            200,
            &json!({"kind": "youtube#videoListResponse", "items": []}),
        );
    };
    let (upload, processing) = if *left > 0 {
        *left -= 1;
        ("uploaded", "processing")
    } else {
        ("processed", "succeeded")
    };
    Reply::json(
        200,
        &json!({"kind": "youtube#videoListResponse", "items": [{"id": id, "status": {"uploadStatus": upload}, "processingDetails": {"processingStatus": processing}}]}),
    )
}
