//! Each platform's way of taking a text post: the request, where the new post's id is in the
//! answer, and how a post is found again among the account's recent ones.
//!
//! - X: `POST /2/tweets` `{"text"}` answers `201 {"data": {"id", "text"}}`; the account's
//!   recent posts are `GET /2/users/{id}/tweets` (`{"data": [{"id", "text", "created_at"}]}`).
//! - LinkedIn: `POST /rest/posts` with the author's URN answers `201` with the post's URN in
//!   the `x-restli-id` header and an empty body. Reading posts back needs `r_member_social`,
//!   which LinkedIn grants to approved partners only, so an ambiguous answer stays unconfirmed.
//! - Facebook: `POST /{page-id}/feed` `{"message"}` with the Page's token answers
//!   `{"id": "{page-id}_{post-id}"}`; the Page's feed lists `{"data": [{"id", "message",
//!   "created_time"}]}`.
//!
//! Images (`Attached`):
//! - X: each image goes first to `POST /2/media/upload` as JSON `{"media": "<base64>",
//!   "media_category": "tweet_image", "media_type"}` → `{"data": {"id", "media_key", "size",
//!   "expires_after_secs"}}` (docs.x.com/x-api/media/upload-media); the post carries
//!   `"media": {"media_ids": […]}`.
//! - LinkedIn: `POST /rest/images?action=initializeUpload {"initializeUploadRequest": {"owner":
//!   "<author urn>"}}` → `{"value": {"uploadUrlExpiresAt", "uploadUrl", "image":
//!   "urn:li:image:…"}}`; the bytes are `PUT` to `uploadUrl`; the post carries `"content":
//!   {"media": {"id": "urn:li:image:…"}}` (…/community-management/shares/images-api).
//! - Facebook: `POST /{page-id}/photos {"url", "message"}` (Facebook fetches the image) →
//!   `{"id": "<photo id>", "post_id": "{page-id}_{post-id}"}`.
//!
//! - Pinterest (developers.pinterest.com/docs/api/v5/pins-create): `POST /v5/pins {"board_id",
//!   "description", "media_source": {"source_type": "image_url", "url"}}` (Pinterest fetches
//!   the image; a pin needs one) answers `201 {"id", "created_at", "board_id", …}`; a board's
//!   pins are `GET /v5/boards/{board_id}/pins` (`{"items": [{"id", "description",
//!   "created_at": "2026-12-07T10:00:00"}], "bookmark"}`, times in UTC without a zone).
//! - Mastodon (docs.joinmastodon.org/methods/statuses/#create): `POST /api/v1/statuses
//!   {"status", "visibility": "public"}` with an `Idempotency-Key` (the target's id: the server
//!   keeps keys an hour and answers a repeat with the status it made) answers `200 {"id",
//!   "created_at", "content": "<p>…</p>", "url"}`; the account's statuses are `GET
//!   /api/v1/accounts/{id}/statuses` (a list of the same objects, `content` as HTML).
//! - Reddit (www.reddit.com/dev/api/#POST_api_submit): `POST /api/submit`, form-encoded
//!   `api_type=json&kind=self&sr=u_{username}&title&text`, answers `200 {"json": {"errors":
//!   [], "data": {"url", "id", "name": "t3_…"}}}`; a refusal is a `200` too, with `errors`
//!   (`[["RATELIMIT", "…", "ratelimit"]]`), and nothing was posted. A post needs a title of
//!   at most 300 characters: the text's first line is the title, the rest the post's body. The
//!   account's posts are `GET /user/{username}/submitted` (a listing of `{"kind": "t3",
//!   "data": {"name", "title", "selftext", "created_utc"}}`).

use crate::core::common::clock::Timestamp;
use crate::core::oauth::catalogue::{PublishDialect, PublishSpec};
use serde_json::{json, Value};

/// A publish request, short of its `Authorization` header (the edge adds the token, and the
/// provider's API headers such as `LinkedIn-Version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    pub url: String,
    pub body: String,
    /// JSON everywhere but Reddit, which takes a form.
    pub content_type: &'static str,
}

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Reddit's longest title, in characters.
pub const REDDIT_TITLE_MAX: usize = 300;

/// The account a target posts as: its kind (`profile`, `organization`, `page`), id and
/// username (where the platform has one: Reddit posts and lists by it).
pub struct Author<'a> {
    pub kind: &'a str,
    pub external_id: &'a str,
    pub username: Option<&'a str>,
}

/// What a post carries besides its text.
#[derive(Clone, Copy, Debug)]
pub enum Attached<'a> {
    Nothing,
    /// Media uploaded to the platform first (X media ids, a LinkedIn image URN).
    Uploaded(&'a [String]),
    /// An image the platform fetches itself (Facebook photos).
    Url(&'a str),
}

pub fn request(
    spec: &PublishSpec,
    author: &Author<'_>,
    text: &str,
    attached: Attached<'_>,
) -> PublishRequest {
    let mut url = spec.url.replace("{account}", author.external_id);
    if spec.dialect == PublishDialect::Reddit {
        return PublishRequest {
            url,
            body: reddit_form(author, text),
            content_type: FORM,
        };
    }
    let mut body = match spec.dialect {
        PublishDialect::X => json!({ "text": text }),
        PublishDialect::Linkedin => json!({
            "author": linkedin_urn(author),
            "commentary": text,
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": false,
        }),
        PublishDialect::Facebook => json!({ "message": text }),
        PublishDialect::Pinterest => json!({
            "board_id": author.external_id,
            "description": text,
        }),
        PublishDialect::Mastodon => json!({ "status": text, "visibility": "public" }),
        // Their flows are multi-step (`edge::publish`); nothing calls this for them.
        PublishDialect::Instagram
        | PublishDialect::Threads
        | PublishDialect::Tiktok
        | PublishDialect::Youtube
        | PublishDialect::Reddit
        | PublishDialect::Bluesky => {
            json!({ "text": text })
        }
    };
    match (spec.dialect, attached) {
        (PublishDialect::X, Attached::Uploaded(ids)) if !ids.is_empty() => {
            body["media"] = json!({ "media_ids": ids });
        }
        (PublishDialect::Linkedin, Attached::Uploaded([image, ..])) => {
            body["content"] = json!({ "media": { "id": image } });
        }
        (PublishDialect::Pinterest, Attached::Url(image)) => {
            body["media_source"] = json!({ "source_type": "image_url", "url": image });
        }
        (PublishDialect::Facebook, Attached::Url(image)) => {
            url = spec
                .endpoint("photos")
                .replace("{account}", author.external_id);
            body["url"] = json!(image);
        }
        _ => {}
    }
    PublishRequest {
        url,
        body: body.to_string(),
        content_type: JSON,
    }
}

/// Reddit's title and body for a text: the first line (cut to [`REDDIT_TITLE_MAX`]
/// characters) and what follows it. A first line that had to be cut is kept whole in the body.
pub fn reddit_title_and_body(text: &str) -> (String, String) {
    let text = text.trim();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let first = first.trim();
    if first.chars().count() <= REDDIT_TITLE_MAX {
        return (first.to_owned(), rest.trim().to_owned());
    }
    let cut: String = first.chars().take(REDDIT_TITLE_MAX - 1).collect();
    (format!("{}…", cut.trim_end()), text.to_owned())
}

fn reddit_form(author: &Author<'_>, text: &str) -> String {
    let (title, body) = reddit_title_and_body(text);
    let profile = format!("u_{}", author.username.unwrap_or(author.external_id));
    crate::core::http::query::form(&[
        ("api_type", "json"),
        ("kind", "self"),
        ("sr", &profile),
        ("resubmit", "true"),
        ("sendreplies", "true"),
        ("title", &title),
        ("text", &body),
    ])
}

/// A refusal inside a `2xx` answer, as the status it stands for: Reddit's `json.errors`
/// (`RATELIMIT` is a 429, anything else a 400). Nothing was posted.
pub fn refusal_in_answer(spec: &PublishSpec, body: &[u8]) -> Option<u16> {
    if spec.dialect != PublishDialect::Reddit {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    let errors = v.pointer("/json/errors")?.as_array()?;
    let first = errors.first()?;
    let code = first.get(0).and_then(Value::as_str).unwrap_or("");
    Some(if code == "RATELIMIT" { 429 } else { 400 })
}

/// X's media upload body for one image.
pub fn x_media_upload_body(bytes: &[u8], content_type: &str) -> String {
    use base64::Engine;
    json!({
        "media": base64::engine::general_purpose::STANDARD.encode(bytes),
        "media_category": "tweet_image",
        "media_type": content_type,
    })
    .to_string()
}

/// The media id in X's upload answer.
pub fn x_media_id(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .pointer("/data/id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// LinkedIn's image upload request, owned by the post's author.
pub fn linkedin_image_init_body(author: &Author<'_>) -> String {
    json!({ "initializeUploadRequest": { "owner": linkedin_urn(author) } }).to_string()
}

/// Where to `PUT` the image, and its URN.
pub fn linkedin_image_upload(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let url = v.pointer("/value/uploadUrl")?.as_str()?.to_owned();
    let image = v.pointer("/value/image")?.as_str()?.to_owned();
    Some((url, image))
}

fn linkedin_urn(author: &Author<'_>) -> String {
    match author.kind {
        "organization" => format!("urn:li:organization:{}", author.external_id),
        _ => format!("urn:li:person:{}", author.external_id),
    }
}

/// The new post's id in a 2xx answer (`restli_id`: LinkedIn's `x-restli-id` header).
pub fn post_id(spec: &PublishSpec, restli_id: Option<&str>, body: &[u8]) -> Option<String> {
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    match spec.dialect {
        PublishDialect::Linkedin => restli_id
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        PublishDialect::X => text(
            serde_json::from_slice::<Value>(body)
                .ok()?
                .pointer("/data/id")?,
        ),
        // A photo answers its own id and the feed post's `post_id`: the post is what counts.
        PublishDialect::Facebook => {
            let v = serde_json::from_slice::<Value>(body).ok()?;
            text(v.get("post_id").or_else(|| v.get("id"))?)
        }
        PublishDialect::Instagram
        | PublishDialect::Threads
        | PublishDialect::Pinterest
        | PublishDialect::Mastodon => text(serde_json::from_slice::<Value>(body).ok()?.get("id")?),
        // The fullname (`t3_…`), which is what Reddit's other calls take.
        PublishDialect::Reddit => text(
            serde_json::from_slice::<Value>(body)
                .ok()?
                .pointer("/json/data/name")?,
        ),
        PublishDialect::Bluesky => text(serde_json::from_slice::<Value>(body).ok()?.get("uri")?),
        PublishDialect::Tiktok | PublishDialect::Youtube => None,
    }
}

/// Whether an answer says the token was refused: a 401 anywhere, and Meta's OAuthException
/// 190 (which Graph sends with a 400).
pub fn token_refused(spec: &PublishSpec, status: u16, body: &[u8]) -> bool {
    status == 401
        || (matches!(
            spec.dialect,
            PublishDialect::Facebook | PublishDialect::Instagram | PublishDialect::Threads
        ) && (400..500).contains(&status)
            && serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.pointer("/error/code").and_then(Value::as_i64))
                == Some(190))
}

/// Where the account's recent posts are read, if the platform lets an ordinary app do it.
pub fn lookup_url(spec: &PublishSpec, author: &Author<'_>) -> Option<String> {
    let url = spec.lookup_url.as_ref()?;
    if url.contains("{username}") {
        let username = author.username.filter(|u| !u.is_empty())?;
        return Some(url.replace("{username}", username));
    }
    Some(url.replace("{account}", author.external_id))
}

/// What the recent posts say about ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// A post with exactly this text, made since the attempt began: its id.
    Found(String),
    /// None among the recent posts. Not proof that nothing was made (a platform may show a
    /// new post late, or rewrite its links), so this is not a licence to send again.
    NotFound,
    /// The answer could not be read.
    Unreadable,
}

/// Looks for `text` among the recent posts in `body`, made at or after `since` (less a
/// minute for clock skew). A post without a readable time does not count.
pub fn find(spec: &PublishSpec, body: &[u8], text: &str, since: Timestamp) -> Lookup {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Lookup::Unreadable;
    };
    if spec.dialect == PublishDialect::Reddit {
        return find_on_reddit(&answer, text, since);
    }
    if spec.dialect == PublishDialect::Pinterest {
        return find_on_pinterest(&answer, text, since);
    }
    if spec.dialect == PublishDialect::Mastodon {
        return find_on_mastodon(&answer, text, since);
    }
    let (text_field, time_field) = match spec.dialect {
        PublishDialect::X => ("text", "created_at"),
        PublishDialect::Facebook => ("message", "created_time"),
        PublishDialect::Instagram => ("caption", "timestamp"),
        PublishDialect::Threads => ("text", "timestamp"),
        PublishDialect::Linkedin
        | PublishDialect::Tiktok
        | PublishDialect::Youtube
        | PublishDialect::Reddit
        | PublishDialect::Pinterest
        | PublishDialect::Mastodon
        | PublishDialect::Bluesky => return Lookup::Unreadable,
    };
    let posts = match answer.get("data") {
        Some(Value::Array(posts)) => posts.as_slice(),
        // X leaves `data` out when the account has no posts.
        None if answer.get("meta").is_some() => &[],
        _ => return Lookup::Unreadable,
    };
    let earliest = since.plus_millis(-60_000);
    posts
        .iter()
        .find(|p| {
            p.get(text_field)
                .and_then(Value::as_str)
                .is_some_and(|t| same_text(t, text))
                && p.get(time_field)
                    .and_then(Value::as_str)
                    .and_then(Timestamp::parse_rfc3339)
                    .is_some_and(|at| at >= earliest)
        })
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .map_or(Lookup::NotFound, |id| Lookup::Found(id.to_owned()))
}

/// Our pin among a board's pins: the same description, made since the attempt began
/// (Pinterest's `created_at` is UTC without a zone).
fn find_on_pinterest(answer: &Value, text: &str, since: Timestamp) -> Lookup {
    let Some(items) = answer.get("items").and_then(Value::as_array) else {
        return Lookup::Unreadable;
    };
    let earliest = since.plus_millis(-60_000);
    items
        .iter()
        .find(|p| {
            p.get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| same_text(d, text))
                && p.get("created_at")
                    .and_then(Value::as_str)
                    .and_then(|t| {
                        Timestamp::parse_rfc3339(t)
                            .or_else(|| Timestamp::parse_rfc3339(&format!("{t}Z")))
                    })
                    .is_some_and(|at| at >= earliest)
        })
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .map_or(Lookup::NotFound, |id| Lookup::Found(id.to_owned()))
}

/// Our status among the account's: its HTML read back as text, made since the attempt.
fn find_on_mastodon(answer: &Value, text: &str, since: Timestamp) -> Lookup {
    let Some(statuses) = answer.as_array() else {
        return Lookup::Unreadable;
    };
    let earliest = since.plus_millis(-60_000);
    statuses
        .iter()
        .find(|s| {
            s.get("content")
                .and_then(Value::as_str)
                .is_some_and(|html| {
                    same_text(&crate::core::oauth::mastodon::status_text(html), text)
                })
                && s.get("created_at")
                    .and_then(Value::as_str)
                    .and_then(Timestamp::parse_rfc3339)
                    .is_some_and(|at| at >= earliest)
        })
        .and_then(|s| s.get("id").and_then(Value::as_str))
        .map_or(Lookup::NotFound, |id| Lookup::Found(id.to_owned()))
}

/// Our post among a Reddit listing: the same title and body, made since the attempt began.
fn find_on_reddit(answer: &Value, text: &str, since: Timestamp) -> Lookup {
    let Some(children) = answer.pointer("/data/children").and_then(Value::as_array) else {
        return Lookup::Unreadable;
    };
    let (title, body) = reddit_title_and_body(text);
    let earliest = since.plus_millis(-60_000).as_millis();
    children
        .iter()
        .filter_map(|c| c.get("data"))
        .find(|p| {
            let field = |name: &str| p.get(name).and_then(Value::as_str).unwrap_or("");
            field("title") == title
                && same_text(field("selftext"), &body)
                && p.get("created_utc")
                    .and_then(Value::as_f64)
                    .is_some_and(|secs| (secs * 1000.0) as i64 >= earliest)
        })
        .and_then(|p| p.get("name").and_then(Value::as_str))
        .map_or(Lookup::NotFound, |id| Lookup::Found(id.to_owned()))
}

/// Whether a post's text on the platform is ours: equal once links are set aside (X rewrites
/// every link to `t.co`) and surrounding blanks trimmed.
fn same_text(found: &str, ours: &str) -> bool {
    fn without_links(text: &str) -> String {
        text.split_whitespace()
            .map(|word| {
                if word.starts_with("http://") || word.starts_with("https://") {
                    "<link>"
                } else {
                    word
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    found.trim() == ours.trim() || without_links(found) == without_links(ours)
}

/// Whether `text` fits the platform, or the message saying by how much it does not.
pub fn fits(spec: &PublishSpec, display_name: &str, text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > spec.max_chars {
        return Err(format!(
            "{display_name} takes at most {} characters; this text has {chars}.",
            spec.max_chars
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    fn spec(name: &str) -> PublishSpec {
        Catalogue::builtin()
            .get(name)
            .unwrap()
            .publish
            .clone()
            .unwrap()
    }

    const PROFILE: Author<'static> = Author {
        kind: "profile",
        external_id: "42",
        username: None,
    };

    #[test]
    fn a_mastodon_status_is_json_and_found_again_through_its_html() {
        let server = crate::core::oauth::mastodon::ServerName::parse("fosstodon.org").unwrap();
        let spec = Catalogue::builtin()
            .get("mastodon")
            .unwrap()
            .instance(&server)
            .publish
            .unwrap();
        let me = Author {
            kind: "profile",
            external_id: "109302",
            username: Some("me@fosstodon.org"),
        };
        let req = request(&spec, &me, "Hello & welcome", Attached::Nothing);
        assert_eq!(req.url, "https://fosstodon.org/api/v1/statuses");
        assert_eq!(
            serde_json::from_str::<Value>(&req.body).unwrap(),
            json!({"status": "Hello & welcome", "visibility": "public"})
        );
        assert_eq!(
            lookup_url(&spec, &me).as_deref(),
            Some("https://fosstodon.org/api/v1/accounts/109302/statuses?limit=20&exclude_reblogs=true&exclude_replies=true")
        );
        let since = Timestamp::parse_rfc3339("2026-12-07T10:00:00Z").unwrap();
        let statuses = br#"[{"id":"1131","created_at":"2026-12-07T10:00:05.123Z","content":"<p>Hello &amp; welcome</p>"}]"#;
        assert_eq!(
            find(&spec, statuses, "Hello & welcome", since),
            Lookup::Found("1131".into())
        );
        assert_eq!(find(&spec, statuses, "Hello", since), Lookup::NotFound);
        assert_eq!(find(&spec, b"{}", "Hello", since), Lookup::Unreadable);
        assert_eq!(
            post_id(&spec, None, br#"{"id":"1131","content":"<p>x</p>"}"#).as_deref(),
            Some("1131")
        );
    }

    #[test]
    fn a_pin_goes_to_its_board_with_the_image_pinterest_fetches() {
        let board = Author {
            kind: "board",
            external_id: "549755885175",
            username: None,
        };
        let req = request(
            &spec("pinterest"),
            &board,
            "Summer salad",
            Attached::Url("https://cdn.example.com/salad.jpg"),
        );
        assert_eq!(req.url, "https://api.pinterest.com/v5/pins");
        assert_eq!(req.content_type, "application/json");
        let body: Value = serde_json::from_str(&req.body).unwrap();
        assert_eq!(body["board_id"], "549755885175");
        assert_eq!(body["description"], "Summer salad");
        assert_eq!(
            body["media_source"],
            json!({"source_type": "image_url", "url": "https://cdn.example.com/salad.jpg"})
        );
        assert_eq!(
            post_id(
                &spec("pinterest"),
                None,
                br#"{"id":"813744226420795884","board_id":"1"}"#
            )
            .as_deref(),
            Some("813744226420795884")
        );
        assert_eq!(
            lookup_url(&spec("pinterest"), &board).as_deref(),
            Some("https://api.pinterest.com/v5/boards/549755885175/pins?page_size=25")
        );
        let since = Timestamp::parse_rfc3339("2026-12-07T10:00:00Z").unwrap();
        let pins = |at: &str| {
            format!(
                r#"{{"items":[{{"id":"8137","description":"Summer salad","created_at":"{at}"}}],"bookmark":null}}"#
            )
        };
        assert_eq!(
            find(
                &spec("pinterest"),
                pins("2026-12-07T10:00:30").as_bytes(),
                "Summer salad",
                since
            ),
            Lookup::Found("8137".into()),
            "a zoneless time is UTC"
        );
        assert_eq!(
            find(
                &spec("pinterest"),
                pins("2026-12-06T10:00:30").as_bytes(),
                "Summer salad",
                since
            ),
            Lookup::NotFound
        );
    }

    #[test]
    fn reddit_takes_a_form_with_the_first_line_as_its_title() {
        let me = Author {
            kind: "profile",
            external_id: "1w72",
            username: Some("spez"),
        };
        let req = request(
            &spec("reddit"),
            &me,
            "Launch day\nWe ship at noon & celebrate.",
            Attached::Nothing,
        );
        assert_eq!(req.url, "https://oauth.reddit.com/api/submit");
        assert_eq!(req.content_type, "application/x-www-form-urlencoded");
        let field = |name| crate::core::http::query::param(&format!("?{}", req.body), name);
        assert_eq!(field("kind").as_deref(), Some("self"));
        assert_eq!(field("sr").as_deref(), Some("u_spez"));
        assert_eq!(field("api_type").as_deref(), Some("json"));
        assert_eq!(field("title").as_deref(), Some("Launch day"));
        assert_eq!(
            field("text").as_deref(),
            Some("We ship at noon & celebrate.")
        );
        // A first line too long for a title is cut there and kept whole in the body.
        let long = "a".repeat(REDDIT_TITLE_MAX + 5);
        let (title, body) = reddit_title_and_body(&long);
        assert_eq!(title.chars().count(), REDDIT_TITLE_MAX);
        assert_eq!(body, long);
        assert_eq!(
            lookup_url(&spec("reddit"), &me).as_deref(),
            Some("https://oauth.reddit.com/user/spez/submitted?limit=25&raw_json=1")
        );
        let nameless = Author {
            username: None,
            ..me
        };
        assert_eq!(lookup_url(&spec("reddit"), &nameless), None);
    }

    #[test]
    fn reddit_answers_a_refusal_inside_a_200_and_the_post_id_is_its_fullname() {
        let reddit = spec("reddit");
        let made = br#"{"json": {"errors": [], "data": {"url": "https://www.reddit.com/r/u_spez/comments/abc/", "id": "abc", "name": "t3_abc"}}}"#;
        assert_eq!(refusal_in_answer(&reddit, made), None);
        assert_eq!(post_id(&reddit, None, made).as_deref(), Some("t3_abc"));
        let limited = br#"{"json": {"errors": [["RATELIMIT", "you are doing that too much. try again in 9 minutes.", "ratelimit"]]}}"#;
        assert_eq!(refusal_in_answer(&reddit, limited), Some(429));
        let bad = br#"{"json": {"errors": [["SUBREDDIT_NOEXIST", "that subreddit doesn't exist", "sr"]]}}"#;
        assert_eq!(refusal_in_answer(&reddit, bad), Some(400));
        assert_eq!(refusal_in_answer(&spec("x"), bad), None, "Reddit's only");
    }

    #[test]
    fn a_reddit_post_is_found_by_title_and_body_since_the_attempt() {
        let reddit = spec("reddit");
        let since = Timestamp::from_millis(1_765_000_000_000);
        let listing = |created: f64| {
            format!(
                r#"{{"kind": "Listing", "data": {{"children": [{{"kind": "t3", "data": {{"name": "t3_abc", "title": "Launch day", "selftext": "We ship at noon.", "created_utc": {created}}}}}]}}}}"#
            )
        };
        let text = "Launch day\nWe ship at noon.";
        assert_eq!(
            find(&reddit, listing(1_765_000_010.0).as_bytes(), text, since),
            Lookup::Found("t3_abc".into())
        );
        assert_eq!(
            find(&reddit, listing(1_764_990_000.0).as_bytes(), text, since),
            Lookup::NotFound,
            "made before the attempt"
        );
        assert_eq!(
            find(
                &reddit,
                listing(1_765_000_010.0).as_bytes(),
                "Launch day",
                since
            ),
            Lookup::NotFound,
            "a different body"
        );
        assert_eq!(find(&reddit, b"{}", text, since), Lookup::Unreadable);
    }

    #[test]
    fn each_platform_gets_its_own_request() {
        let x = request(&spec("x"), &PROFILE, "hi", Attached::Nothing);
        assert_eq!(x.url, "https://api.x.com/2/tweets");
        assert_eq!(x.body, r#"{"text":"hi"}"#);
        let org = Author {
            kind: "organization",
            external_id: "7",
            username: None,
        };
        let li: Value =
            serde_json::from_str(&request(&spec("linkedin"), &org, "hi", Attached::Nothing).body)
                .unwrap();
        assert_eq!(li["author"], "urn:li:organization:7");
        assert_eq!(li["commentary"], "hi");
        assert_eq!(li["lifecycleState"], "PUBLISHED");
        let li: Value = serde_json::from_str(
            &request(&spec("linkedin"), &PROFILE, "hi", Attached::Nothing).body,
        )
        .unwrap();
        assert_eq!(li["author"], "urn:li:person:42");
        let page = Author {
            kind: "page",
            external_id: "1001",
            username: None,
        };
        let fb = request(&spec("facebook"), &page, "hi", Attached::Nothing);
        assert_eq!(fb.url, "https://graph.facebook.com/v25.0/1001/feed");
        assert_eq!(fb.body, r#"{"message":"hi"}"#);
    }

    #[test]
    fn images_travel_the_way_each_platform_takes_them() {
        let ids = vec!["1880028106020515840".to_owned()];
        let x: Value = serde_json::from_str(
            &request(&spec("x"), &PROFILE, "hi", Attached::Uploaded(&ids)).body,
        )
        .unwrap();
        assert_eq!(x["media"]["media_ids"][0], "1880028106020515840");
        let upload: Value =
            serde_json::from_str(&x_media_upload_body(b"\x89PNG", "image/png")).unwrap();
        assert_eq!(upload["media"], "iVBORw==");
        assert_eq!(upload["media_category"], "tweet_image");
        assert_eq!(
            x_media_id(
                br#"{"data":{"id":"1880028106020515840","media_key":"3_1880028106020515840"}}"#
            ),
            Some("1880028106020515840".into())
        );
        let urn = vec!["urn:li:image:C4E10AQFoyyAjHPMQuQ".to_owned()];
        let li: Value = serde_json::from_str(
            &request(&spec("linkedin"), &PROFILE, "hi", Attached::Uploaded(&urn)).body,
        )
        .unwrap();
        assert_eq!(
            li["content"]["media"]["id"],
            "urn:li:image:C4E10AQFoyyAjHPMQuQ"
        );
        let init: Value = serde_json::from_str(&linkedin_image_init_body(&PROFILE)).unwrap();
        assert_eq!(init["initializeUploadRequest"]["owner"], "urn:li:person:42");
        assert_eq!(
            linkedin_image_upload(br#"{"value":{"uploadUrlExpiresAt":1650567510704,"uploadUrl":"https://www.linkedin.com/dms-uploads/up","image":"urn:li:image:C4E"}}"#),
            Some(("https://www.linkedin.com/dms-uploads/up".into(), "urn:li:image:C4E".into()))
        );
        let page = Author {
            kind: "page",
            external_id: "1001",
            username: None,
        };
        let fb = request(
            &spec("facebook"),
            &page,
            "hi",
            Attached::Url("https://cdn.example.com/a.jpg"),
        );
        assert_eq!(fb.url, "https://graph.facebook.com/v25.0/1001/photos");
        let body: Value = serde_json::from_str(&fb.body).unwrap();
        assert_eq!(
            (body["url"].as_str(), body["message"].as_str()),
            (Some("https://cdn.example.com/a.jpg"), Some("hi"))
        );
        assert_eq!(
            post_id(
                &spec("facebook"),
                None,
                br#"{"id":"77","post_id":"1001_555"}"#
            ),
            Some("1001_555".into())
        );
    }

    #[test]
    fn the_new_posts_id_is_read_where_each_platform_puts_it() {
        assert_eq!(
            post_id(
                &spec("x"),
                None,
                br#"{"data":{"id":"1445880548472328192","text":"hi"}}"#
            ),
            Some("1445880548472328192".into())
        );
        assert_eq!(post_id(&spec("x"), None, b"{}"), None);
        assert_eq!(
            post_id(
                &spec("linkedin"),
                Some("urn:li:share:6844785523593134080"),
                b""
            ),
            Some("urn:li:share:6844785523593134080".into())
        );
        assert_eq!(post_id(&spec("linkedin"), None, b""), None);
        assert_eq!(
            post_id(&spec("facebook"), None, br#"{"id":"1001_555"}"#),
            Some("1001_555".into())
        );
        assert_eq!(post_id(&spec("facebook"), None, b"<html>"), None);
    }

    #[test]
    fn a_lookup_finds_only_this_text_made_since_the_attempt() {
        let since = Timestamp::parse_rfc3339("2026-11-22T10:00:00Z").unwrap();
        let x = br#"{"data":[
            {"id":"1","text":"hi","created_at":"2026-11-20T10:00:00.000Z"},
            {"id":"2","text":"hi","created_at":"2026-11-22T10:00:05.000Z"}]}"#;
        assert_eq!(find(&spec("x"), x, "hi", since), Lookup::Found("2".into()));
        assert_eq!(find(&spec("x"), x, "hello", since), Lookup::NotFound);
        let linked = br#"{"data":[{"id":"3","text":"see https://t.co/abc","created_at":"2026-11-22T10:00:05.000Z"}]}"#;
        assert_eq!(
            find(
                &spec("x"),
                linked,
                "see https://example.com/a-long-path",
                since
            ),
            Lookup::Found("3".into()),
            "X rewrites links to t.co"
        );
        assert_eq!(
            find(&spec("x"), br#"{"meta":{"result_count":0}}"#, "hi", since),
            Lookup::NotFound
        );
        assert_eq!(find(&spec("x"), b"oops", "hi", since), Lookup::Unreadable);
        let fb = br#"{"data":[{"id":"1001_9","message":"hi","created_time":"2026-11-22T10:00:01+0000"}]}"#;
        assert_eq!(
            find(&spec("facebook"), fb, "hi", since),
            Lookup::Found("1001_9".into())
        );
        assert!(lookup_url(&spec("linkedin"), &PROFILE).is_none());
        assert_eq!(
            lookup_url(&spec("x"), &PROFILE).unwrap(),
            "https://api.x.com/2/users/42/tweets?max_results=20&tweet.fields=created_at"
        );
    }

    #[test]
    fn a_refused_token_is_a_401_or_metas_190() {
        let meta = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#;
        assert!(token_refused(&spec("facebook"), 400, meta));
        assert!(!token_refused(
            &spec("facebook"),
            400,
            br#"{"error":{"code":100}}"#
        ));
        assert!(
            !token_refused(&spec("x"), 400, meta),
            "190 is Meta's code only"
        );
        assert!(token_refused(&spec("linkedin"), 401, b""));
    }

    #[test]
    fn text_too_long_for_a_platform_is_named() {
        assert!(fits(&spec("x"), "X", &"a".repeat(280)).is_ok());
        let err = fits(&spec("x"), "X", &"a".repeat(281)).unwrap_err();
        assert_eq!(err, "X takes at most 280 characters; this text has 281.");
    }
}
