//! Text posts: X's `POST /2/tweets` and `GET /2/users/{id}/tweets`, LinkedIn's
//! `POST /rest/posts`, Facebook's `POST /{page-id}/feed` and `GET /{page-id}/feed`.
//!
//! Every post made lands in one list ([`PublishedPost`]), which tests read to prove each post
//! was made exactly once. Faults armed with [`PublishFault`] apply to the next publish
//! requests, oldest first, including a 5xx after the post was created.
//!
//! Answer shapes, from each platform's docs:
//! - X (docs.x.com/x-api/posts/create-post): `201 {"data": {"id": "1445880548472328192",
//!   "text": "Hello world!"}}`; a bad token `401 {"title": "Unauthorized", "type":
//!   "about:blank", "status": 401, "detail": "Unauthorized"}`. The timeline
//!   (docs.x.com/x-api/users/get-posts) answers `{"data": [{"id", "text", "created_at"}],
//!   "meta": {"result_count"}}`, and no `data` when empty.
//! - LinkedIn (Posts API): `201 Created`, the post's URN in `x-restli-id`
//!   (`urn:li:share:6844785523593134080`), an empty body; a bad token `401 {"status": 401,
//!   "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access
//!   token"}`. Calls without `LinkedIn-Version` are refused (`426`, as LinkedIn does).
//! - Facebook (developers.facebook.com/docs/pages-api/posts): `{"id": "{page-id}_{post-id}"}`;
//!   a bad token `400 {"error": {"message", "type": "OAuthException", "code": 190}}`; the feed
//!   `{"data": [{"id", "message", "created_time": "2026-11-22T10:00:00+0000"}]}`.
//!
//! Deliberately *not* done: refusing duplicate text (X does, with a 403). A fake that refused
//! duplicates would hide a duplicate send from the tests; the list shows it instead.

use crate::http::{Incoming, Reply};
use crate::state::Shared;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// A post the fake made.
#[derive(Clone, Debug, Serialize)]
pub struct PublishedPost {
    pub id: String,
    /// `x`, `linkedin` or `facebook`.
    pub platform: &'static str,
    /// Who posted: the account id (X), the author URN (LinkedIn) or the Page id (Facebook).
    pub author: String,
    pub text: String,
    /// What the post carries: uploaded images (`image:<bytes>`), a media URL the platform
    /// fetched, or a video (`video:<bytes>:<type>:intact|corrupt`).
    pub media: Vec<String>,
    /// When the fake received the request, on the machine's clock (for spacing checks).
    #[serde(skip)]
    pub received_at: SystemTime,
    /// When it was created, on the account's clock (what lookups report).
    #[serde(skip)]
    pub created_at: SystemTime,
}

/// What the next publish request meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishFault {
    /// Refused with this 4xx (a validation error); nothing is created.
    Refuse(u16),
    /// `503` before anything is created.
    ServerErrorBefore,
    /// The post is created, then the answer is `503`.
    ServerErrorAfterCreate,
    /// The post is created, then nothing is answered for this long (longer than the
    /// caller's deadline: the caller sees its request time out).
    SilentAfterCreate(Duration),
}

fn now_text(at: SystemTime) -> String {
    let at: DateTime<Utc> = at.into();
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn facebook_time(at: SystemTime) -> String {
    let at: DateTime<Utc> = at.into();
    at.format("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let path = req.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["api.x.com", "2", "tweets"]) => Some(create(shared, req, Platform::X, "")),
        ("GET", ["api.x.com", "2", "users", id, "tweets"]) => Some(timeline(shared, req, id)),
        ("POST", ["api.linkedin.com", "rest", "posts"]) => {
            Some(create(shared, req, Platform::Linkedin, ""))
        }
        ("POST", ["graph.facebook.com", _, page, "feed" | "photos"]) => {
            Some(create(shared, req, Platform::Facebook, page))
        }
        ("GET", ["graph.facebook.com", _, page, "feed"]) => Some(page_feed(shared, req, page)),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Platform {
    X,
    Linkedin,
    Facebook,
}

fn unauthorized(platform: Platform) -> Reply {
    match platform {
        Platform::X => Reply::json(
            401,
            &json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}),
        ),
        Platform::Linkedin => Reply::json(
            401,
            &json!({"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN", "message": "Invalid access token"}),
        ),
        Platform::Facebook => Reply::json(
            400,
            &json!({"error": {"message": "Error validating access token: The session has been invalidated.", "type": "OAuthException", "code": 190}}),
        ),
    }
}

/// The account (or Page) a live bearer token acts for; `None` for anything else.
pub(crate) fn author_of(
    shared: &Shared,
    req: &Incoming,
    platform: Platform,
    page: &str,
) -> Option<String> {
    let inner = shared.lock();
    let bearer = req.bearer()?;
    if platform == Platform::Facebook {
        let (grant, page_id) = inner.page_tokens.get(bearer)?;
        return (!inner.grants[*grant].revoked && page_id == page).then(|| page_id.clone());
    }
    let token = inner.access_tokens.get(bearer)?;
    let grant = &inner.grants[token.grant];
    if grant.revoked || token.expires_at < inner.now_for(&grant.account_id) {
        return None;
    }
    Some(grant.account_id.clone())
}

fn create(shared: &Shared, req: &Incoming, platform: Platform, page: &str) -> Reply {
    let Some(account) = author_of(shared, req, platform, page) else {
        return unauthorized(platform);
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let (text, author) = match platform {
        Platform::X => (body["text"].as_str(), account.clone()),
        Platform::Facebook => (body["message"].as_str(), account.clone()),
        Platform::Linkedin => {
            if req.header("linkedin-version").is_none() {
                return Reply::json(
                    426,
                    &json!({"status": 426, "code": "NONEXISTENT_VERSION", "message": "Requested version  is not active"}),
                );
            }
            let author = body["author"].as_str().unwrap_or("").to_owned();
            let allowed = author == format!("urn:li:person:{account}")
                || author
                    .strip_prefix("urn:li:organization:")
                    .is_some_and(|org| {
                        shared.lock().accounts.get(&account).is_some_and(|a| {
                            a.organizations
                                .iter()
                                .any(|o| o.admin && o.id.to_string() == org)
                        })
                    });
            if !allowed {
                return Reply::json(
                    403,
                    &json!({"status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions to post as this author"}),
                );
            }
            (body["commentary"].as_str(), author)
        }
    };
    let media = match platform {
        Platform::X => body
            .pointer("/media/media_ids")
            .and_then(Value::as_array)
            .map(|ids| {
                ids.iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .map_or(Ok(Vec::new()), |ids| crate::media::uploaded(shared, &ids)),
        Platform::Linkedin => body
            .pointer("/content/media/id")
            .and_then(Value::as_str)
            .map_or(Ok(Vec::new()), |id| {
                crate::media::uploaded(shared, &[id.to_owned()])
            }),
        Platform::Facebook => Ok(body["url"]
            .as_str()
            .map(str::to_owned)
            .into_iter()
            .collect()),
    };
    let Ok(media) = media else {
        return Reply::json(
            400,
            &json!({"title": "Invalid Request", "detail": "Your media IDs are invalid.", "status": 400}),
        );
    };
    let photo = req.path.ends_with("/photos");
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Reply::json(
            400,
            &json!({"title": "Invalid Request", "detail": "text is required", "status": 400}),
        );
    };
    let fault = shared.lock().publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(
                status,
                &json!({"title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "status": status}),
            )
        }
        Some(PublishFault::ServerErrorBefore) => {
            return Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        _ => {}
    }
    let post = {
        let mut inner = shared.lock();
        inner.next_post_id += 1;
        let n = inner.next_post_id;
        let id = match platform {
            Platform::X => format!("{}", 1_445_880_548_472_328_192u64 + n),
            Platform::Linkedin => format!("urn:li:share:{}", 6_844_785_523_593_134_080u64 + n),
            Platform::Facebook => format!("{page}_{}", 500 + n),
        };
        let created_at = inner.now_for(&account);
        let post = PublishedPost {
            id,
            platform: match platform {
                Platform::X => "x",
                Platform::Linkedin => "linkedin",
                Platform::Facebook => "facebook",
            },
            author,
            text: text.to_owned(),
            media,
            received_at: SystemTime::now(),
            created_at,
        };
        inner.posts.push(post.clone());
        post
    };
    match fault {
        Some(PublishFault::ServerErrorAfterCreate) => {
            return Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        Some(PublishFault::SilentAfterCreate(wait)) => {
            std::thread::sleep(wait);
            return Reply::html(502, "<html><body>Bad Gateway</body></html>".into());
        }
        _ => {}
    }
    match platform {
        Platform::X => Reply::json(201, &json!({"data": {"id": post.id, "text": post.text}})),
        Platform::Linkedin => {
            let mut reply = Reply::json(201, &json!({}));
            reply.body = String::new();
            reply.with_header("x-restli-id", &post.id)
        }
        Platform::Facebook if photo => Reply::json(
            200,
            &json!({"id": format!("{}", 900_000 + post.id.len()), "post_id": post.id}),
        ),
        Platform::Facebook => Reply::json(200, &json!({"id": post.id})),
    }
}

fn timeline(shared: &Shared, req: &Incoming, account: &str) -> Reply {
    if author_of(shared, req, Platform::X, "").is_none() {
        return unauthorized(Platform::X);
    }
    let inner = shared.lock();
    let mine: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "x" && p.author == account)
        .take(20)
        .map(|p| json!({"id": p.id, "text": p.text, "created_at": now_text(p.created_at)}))
        .collect();
    if mine.is_empty() {
        return Reply::json(200, &json!({"meta": {"result_count": 0}}));
    }
    let count = mine.len();
    Reply::json(200, &json!({"data": mine, "meta": {"result_count": count}}))
}

fn page_feed(shared: &Shared, req: &Incoming, page: &str) -> Reply {
    if author_of(shared, req, Platform::Facebook, page).is_none() {
        return unauthorized(Platform::Facebook);
    }
    let inner = shared.lock();
    let posts: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "facebook" && p.author == page)
        .take(25)
        .map(
            |p| json!({"id": p.id, "message": p.text, "created_time": facebook_time(p.created_at)}),
        )
        .collect();
    Reply::json(200, &json!({"data": posts}))
}
