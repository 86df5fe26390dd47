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

use crate::core::catalogue::{PublishDialect, PublishSpec};
use crate::core::clock::Timestamp;
use serde_json::{json, Value};

/// A publish request, short of its `Authorization` header (the edge adds the token, and the
/// provider's API headers such as `LinkedIn-Version`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishRequest {
    pub url: String,
    pub body: String,
}

/// The account a target posts as: its kind (`profile`, `organization`, `page`) and id.
pub struct Author<'a> {
    pub kind: &'a str,
    pub external_id: &'a str,
}

pub fn request(spec: &PublishSpec, author: &Author<'_>, text: &str) -> PublishRequest {
    let url = spec.url.replace("{account}", author.external_id);
    let body = match spec.dialect {
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
    };
    PublishRequest {
        url,
        body: body.to_string(),
    }
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
        PublishDialect::Facebook => text(serde_json::from_slice::<Value>(body).ok()?.get("id")?),
    }
}

/// Whether an answer says the token was refused: a 401 anywhere, and Meta's OAuthException
/// 190 (which Graph sends with a 400).
pub fn token_refused(spec: &PublishSpec, status: u16, body: &[u8]) -> bool {
    status == 401
        || (spec.dialect == PublishDialect::Facebook
            && (400..500).contains(&status)
            && serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.pointer("/error/code").and_then(Value::as_i64))
                == Some(190))
}

/// Where the account's recent posts are read, if the platform lets an ordinary app do it.
pub fn lookup_url(spec: &PublishSpec, author: &Author<'_>) -> Option<String> {
    spec.lookup_url
        .as_ref()
        .map(|u| u.replace("{account}", author.external_id))
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
    let (text_field, time_field) = match spec.dialect {
        PublishDialect::X => ("text", "created_at"),
        PublishDialect::Facebook => ("message", "created_time"),
        PublishDialect::Linkedin => return Lookup::Unreadable,
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
            p.get(text_field).and_then(Value::as_str) == Some(text)
                && p.get(time_field)
                    .and_then(Value::as_str)
                    .and_then(Timestamp::parse_rfc3339)
                    .is_some_and(|at| at >= earliest)
        })
        .and_then(|p| p.get("id").and_then(Value::as_str))
        .map_or(Lookup::NotFound, |id| Lookup::Found(id.to_owned()))
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
    use crate::core::catalogue::Catalogue;

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
    };

    #[test]
    fn each_platform_gets_its_own_request() {
        let x = request(&spec("x"), &PROFILE, "hi");
        assert_eq!(x.url, "https://api.x.com/2/tweets");
        assert_eq!(x.body, r#"{"text":"hi"}"#);
        let org = Author {
            kind: "organization",
            external_id: "7",
        };
        let li: Value = serde_json::from_str(&request(&spec("linkedin"), &org, "hi").body).unwrap();
        assert_eq!(li["author"], "urn:li:organization:7");
        assert_eq!(li["commentary"], "hi");
        assert_eq!(li["lifecycleState"], "PUBLISHED");
        let li: Value =
            serde_json::from_str(&request(&spec("linkedin"), &PROFILE, "hi").body).unwrap();
        assert_eq!(li["author"], "urn:li:person:42");
        let page = Author {
            kind: "page",
            external_id: "1001",
        };
        let fb = request(&spec("facebook"), &page, "hi");
        assert_eq!(fb.url, "https://graph.facebook.com/v25.0/1001/feed");
        assert_eq!(fb.body, r#"{"message":"hi"}"#);
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
