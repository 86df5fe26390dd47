//! Reddit: OAuth 2.0 for web apps (a code grant without PKCE, HTTP Basic client
//! authentication, `duration=permanent` for a refresh token that lasts until revoked, one-hour
//! bearer tokens, `revoke_token`), `GET /api/v1/me`, self posts (`POST /api/submit`) and the
//! account's posts (`GET /user/{name}/submitted`). Every call must carry a descriptive
//! `User-Agent` (`<platform>:<app ID>:<version> (by …)`); any other is refused with `429`, as
//! Reddit limits generic agents.
//!
//! Facts and OAuth answers come from `fixtures/reddit.json`. The publishing answers, from
//! www.reddit.com/dev/api (`POST /api/submit` with `api_type=json`):
//! `{"json": {"errors": [], "data": {"url", "drafts_count", "id", "name": "t3_…"}}}`; a
//! refusal is a `200` too, `{"json": {"errors": [["RATELIMIT", "you are doing that too much.
//! try again in 9 minutes.", "ratelimit"]]}}`, with nothing posted. A title is required and at
//! most 300 characters (`TOO_LONG`). The listing is `{"kind": "Listing", "data": {"children":
//! [{"kind": "t3", "data": {"name", "id", "title", "selftext", "created_utc", "author"}}],
//! "after": null}}`.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::publish::{PublishFault, PublishedPost};
use crate::state::{CodeRules, RefreshRules, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

pub const AUTHORIZE_PATH: &str = "/www.reddit.com/api/v1/authorize";
pub const TOKEN_PATH: &str = "/www.reddit.com/api/v1/access_token";
pub const REVOKE_PATH: &str = "/www.reddit.com/api/v1/revoke_token";
pub const ME_PATH: &str = "/oauth.reddit.com/api/v1/me";
pub const SUBMIT_PATH: &str = "/oauth.reddit.com/api/submit";

fn fx() -> &'static Fixtures {
    crate::fixtures::reddit()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let path = req.path.split('?').next().unwrap_or("");
    // The consent page (and the decision posted from it) is Reddit's own site, seen by the
    // person's browser; the rule is for API clients.
    let api_call = path != AUTHORIZE_PATH;
    if api_call && !descriptive(req.header("user-agent")) {
        shared.lock().reject(
            "user_agent",
            "Reddit limits requests without a descriptive User-Agent",
        );
        return Some(fx().reply("user_agent_refused"));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Some(match (req.method.as_str(), path) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "An app would like to connect with your Reddit account",
            "www.reddit.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || token(shared, req)),
        ("POST", REVOKE_PATH) => revoke(shared, req),
        ("GET", ME_PATH) => me(shared, req),
        ("POST", SUBMIT_PATH) => submit(shared, req),
        ("GET", _) => match parts.as_slice() {
            ["oauth.reddit.com", "user", name, "submitted"] => submitted(shared, req, name),
            _ => return None,
        },
        _ => return None,
    })
}

/// `<platform>:<app ID>:<version> (by …)`, the form Reddit asks for (`fixtures`' `user_agent`).
pub fn descriptive(agent: Option<&str>) -> bool {
    let Some((id, contact)) = agent.and_then(|a| a.split_once(" (by ")) else {
        return false;
    };
    let fields: Vec<&str> = id.split(':').collect();
    fields.len() == 3
        && fields.iter().all(|f| !f.is_empty() && !f.contains(' '))
        && contact.len() > 1
        && contact.ends_with(')')
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| Err(consent::refuse(shared, "Bad request", reason));
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("invalid client id");
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return refuse("redirect_uri and state are required");
    }
    let duration = get("duration");
    if !["temporary", "permanent"].contains(&duration.as_str()) {
        return refuse("duration must be temporary or permanent");
    }
    Ok(Consent {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes: consent::scopes(&get("scope")),
        code_challenge: String::new(),
        offline: duration == fx().fact("permanent_duration").as_str().unwrap_or(""),
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "authorization_code_invalid",
    missing_verifier_reply: None,
};

const REFRESH_RULES: RefreshRules = RefreshRules {
    rotates: false,
    dies: None,
};

/// The client of a Basic `Authorization` header with the right secret; Reddit takes no other.
fn client_of(shared: &Shared, req: &Incoming) -> Option<String> {
    let (id, secret) = req.basic_auth()?;
    (shared.lock().clients.get(&id) == Some(&secret)).then_some(id)
}

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let Some(client_id) = client_of(shared, req) else {
        shared
            .lock()
            .reject("token", "client credentials must be HTTP Basic, and right");
        return fx().reply("client_invalid");
    };
    let mut inner = shared.lock();
    let (grant, new_refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => match inner.redeem_code(&form, &client_id, CODE_RULES) {
            Ok(issued) => {
                let offline = issued.offline;
                let grant = inner.add_grant(issued.account_id, client_id, issued.scopes, offline);
                (grant, offline)
            }
            Err(reply) => return fx().reply(reply),
        },
        Some("refresh_token") => match inner.use_refresh_token(&form, &client_id, REFRESH_RULES) {
            // The refresh token stays; the answer carries only a new bearer token.
            Ok(grant) => (grant, false),
            Err(reply) => return fx().reply(reply),
        },
        _ => {
            inner.reject("token", "unsupported grant_type");
            return fx().reply("grant_type_unsupported");
        }
    };
    inner.answer_tokens(grant, fx(), new_refresh.then_some(""))
}

fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let Some(client_id) = client_of(shared, req) else {
        shared
            .lock()
            .reject("revoke", "client credentials must be HTTP Basic, and right");
        return fx().reply("client_invalid");
    };
    let token = form.get("token").cloned().unwrap_or_default();
    shared.lock().revoke_by_client(&token, Some(&client_id));
    let mut reply = fx().reply("revoked");
    reply.body = String::new();
    reply
}

fn me(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
    };
    let values = [
        ("id", json!(reddit_id(&account.id))),
        ("username", json!(account.username)),
    ];
    fx().render("me", &values)
}

/// Reddit's account ids are short base-36 strings.
fn reddit_id(account_id: &str) -> String {
    format!("rd{account_id}")
}

/// The live bearer token's account (id, username), if any.
fn caller(shared: &Shared, req: &Incoming) -> Option<(String, String)> {
    let inner = shared.lock();
    let token = inner.access_tokens.get(req.bearer()?)?;
    let grant = &inner.grants[token.grant];
    if grant.revoked || token.expires_at < inner.now_for(&grant.account_id) {
        return None;
    }
    let account = inner.accounts.get(&grant.account_id)?;
    Some((account.id.clone(), account.username.clone()))
}

fn errors(list: Value) -> Reply {
    Reply::json(200, &json!({"json": {"errors": list}}))
}

fn submit(shared: &Shared, req: &Incoming) -> Reply {
    let Some((account_id, username)) = caller(shared, req) else {
        return fx().reply("identity_unauthorized");
    };
    let form = req.form();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if get("api_type") != "json" || get("kind") != "self" {
        return errors(json!([[
            "BAD_KIND",
            "this fake takes api_type=json&kind=self",
            "kind"
        ]]));
    }
    if get("sr") != format!("u_{username}") {
        return errors(json!([[
            "SUBREDDIT_NOTALLOWED",
            "you aren't allowed to post there.",
            "sr"
        ]]));
    }
    let title = get("title").trim();
    if title.is_empty() {
        return errors(json!([["NO_TEXT", "we need something here", "title"]]));
    }
    if title.chars().count() > 300 {
        return errors(json!([[
            "TOO_LONG",
            "this is too long (max: 300)",
            "title"
        ]]));
    }
    let fault = shared.lock().publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(429)) => {
            return errors(json!([[
                "RATELIMIT",
                "you are doing that too much. try again in 9 minutes.",
                "ratelimit"
            ]]))
        }
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(status, &json!({"message": "Bad Request", "error": status}))
        }
        Some(PublishFault::ServerErrorBefore) => {
            return Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        _ => {}
    }
    let body = get("text").trim();
    let text = if body.is_empty() {
        title.to_owned()
    } else {
        format!("{title}\n{body}")
    };
    let post = {
        let mut inner = shared.lock();
        inner.next_post_id += 1;
        let id = format!("1a{:x}", inner.next_post_id);
        let created_at = inner.now_for(&account_id);
        let post = PublishedPost {
            id: format!("t3_{id}"),
            platform: "reddit",
            author: username.clone(),
            text,
            media: Vec::new(),
            received_at: SystemTime::now(),
            created_at,
        };
        inner.posts.push(post.clone());
        inner.reddit_posts.push(crate::state::RedditPost {
            name: post.id.clone(),
            title: title.to_owned(),
            selftext: body.to_owned(),
        });
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
    let id = post.id.trim_start_matches("t3_");
    Reply::json(
        200,
        &json!({"json": {"errors": [], "data": {
            "url": format!("https://www.reddit.com/r/u_{username}/comments/{id}/"),
            "drafts_count": 0,
            "id": id,
            "name": post.id,
        }}}),
    )
}

fn submitted(shared: &Shared, req: &Incoming, name: &str) -> Reply {
    if caller(shared, req).is_none() {
        return fx().reply("identity_unauthorized");
    }
    let inner = shared.lock();
    let children: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "reddit" && p.author == name)
        .take(25)
        .filter_map(|p| {
            let kept = inner.reddit_posts.iter().find(|r| r.name == p.id)?;
            let created = p
                .created_at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            Some(json!({"kind": "t3", "data": {
                "name": p.id,
                "id": p.id.trim_start_matches("t3_"),
                "author": name,
                "title": kept.title,
                "selftext": kept.selftext,
                "created_utc": created.floor(),
            }}))
        })
        .collect();
    Reply::json(
        200,
        &json!({"kind": "Listing", "data": {"children": children, "after": null}}),
    )
}

#[cfg(test)]
mod tests {
    use super::descriptive;

    #[test]
    fn only_a_descriptive_user_agent_passes() {
        assert!(descriptive(Some("web:evergreen:v0.1.0 (by Evergreen)")));
        assert!(descriptive(Some(
            "android:com.example.app:v1.2 (by /u/someone)"
        )));
        for generic in [
            None,
            Some(""),
            Some("python-requests/2.31"),
            Some("Mozilla/5.0 (X11; Linux x86_64)"),
            Some("web:evergreen (by Evergreen)"),
            Some("web:ever green:v1 (by x)"),
            Some("web:evergreen:v1 (by "),
        ] {
            assert!(!descriptive(generic), "{generic:?}");
        }
    }
}
