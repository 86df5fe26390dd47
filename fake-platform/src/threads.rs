//! The Threads API (Meta): the consent page at threads.net, the code exchange at
//! graph.threads.net (a one-hour token and the user id), the long-lived exchange
//! (`th_exchange_token`) and the renewal (`th_refresh_token`, only for a token at least 24 hours
//! old and unexpired; each gives a new 60 days), `/v1.0/me`, and publishing: a container (`TEXT`,
//! or an `IMAGE` from a URL), its `status`, `threads_publish`, `threads_publishing_limit`, and the
//! profile's threads (`GET /v1.0/{user}/threads?fields=id,text,timestamp`). A token that no
//! longer works gets Graph's `OAuthException` 190, with Meta's subcode when the person removed the
//! app (458) or the token expired (463).
//!
//! Facts and OAuth answers come from `fixtures/threads.json`. Publishing answers
//! (developers.facebook.com/docs/threads/posts, …/reference/publishing): a container
//! `{"id"}`; its status `{"status": "IN_PROGRESS" | "FINISHED" | "PUBLISHED" | "ERROR" |
//! "EXPIRED", "id"}`; `threads_publish` `{"id": "<media id>"}`; the limit `{"data":
//! [{"quota_usage", "config": {"quota_total": 250, "quota_duration": 86400}}]}`; the profile's
//! threads `{"data": [{"id", "text", "timestamp": "2026-12-07T10:00:00+0000"}]}`. Publish faults
//! apply to `threads_publish`, where the post is made.

use crate::consent::{self, Consent};
use crate::facebook::{ended_message, oauth_error};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::meta_tokens;
use crate::publish::{PublishFault, PublishedPost};
use crate::state::{CodeRules, Inner, Shared, ThreadsContainer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

pub const AUTHORIZE_PATH: &str = "/threads.net/oauth/authorize";
pub const TOKEN_PATH: &str = "/graph.threads.net/oauth/access_token";
pub const EXCHANGE_PATH: &str = "/graph.threads.net/access_token";
pub const REFRESH_PATH: &str = "/graph.threads.net/refresh_access_token";
pub const ME_PATH: &str = "/graph.threads.net/v1.0/me";

fn fx() -> &'static Fixtures {
    crate::fixtures::threads()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "Allow this app to access your Threads profile?",
            "threads.net",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || code_exchange(shared, req)),
        ("GET", EXCHANGE_PATH) => crate::faults::serve_token(shared, || {
            meta_tokens::exchange(shared, req, fx(), "th_exchange_token")
        }),
        ("GET", REFRESH_PATH) => crate::faults::serve_token(shared, || {
            meta_tokens::refresh(shared, req, fx(), "th_refresh_token")
        }),
        ("GET", ME_PATH) => me(shared, req),
        (method, _) => match (method, parts.as_slice()) {
            ("POST", ["graph.threads.net", "v1.0", user, "threads"]) => {
                container(shared, req, user)
            }
            ("GET", ["graph.threads.net", "v1.0", user, "threads"]) => listing(shared, req, user),
            ("POST", ["graph.threads.net", "v1.0", user, "threads_publish"]) => {
                publish(shared, req, user)
            }
            ("GET", ["graph.threads.net", "v1.0", user, "threads_publishing_limit"]) => {
                limit(shared, req, user)
            }
            ("GET", ["graph.threads.net", "v1.0", id]) => status(shared, req, id),
            _ => return None,
        },
    })
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| Err(consent::refuse(shared, "Something went wrong", reason));
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("Invalid platform app");
    }
    if get("redirect_uri").is_empty() {
        return refuse("redirect_uri is required");
    }
    let scopes: Vec<String> = get("scope")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !scopes.iter().any(|s| s == "threads_basic") {
        return refuse("threads_basic is required for every Threads app");
    }
    Ok(Consent {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes,
        code_challenge: String::new(),
        offline: false,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "oauth_error",
    missing_verifier_reply: None,
};

fn code_exchange(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let client_ok = inner.clients.get(&get("client_id")) == Some(&get("client_secret"));
    if !client_ok || get("grant_type") != "authorization_code" {
        inner.reject(
            "token",
            "client_id, client_secret and grant_type are required",
        );
        return oauth_error(fx(), 101, None, "Error validating client secret.");
    }
    let issued = match inner.redeem_code(&form, &get("client_id"), CODE_RULES) {
        Ok(issued) => issued,
        Err(_) => {
            return oauth_error(
                fx(),
                100,
                Some(36009),
                "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
            )
        }
    };
    let user_id = issued.account_id.clone();
    let grant = inner.add_grant(issued.account_id, get("client_id"), issued.scopes, false);
    let lifetime = fx().fact_u64("short_lived_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    fx().render(
        "code_exchanged",
        &[
            ("access_token", json!(access)),
            ("user_id", json!(user_id.parse::<u64>().unwrap_or(0))),
        ],
    )
}

/// The account a working bearer token acts for, or Meta's 190 refusal (with its subcode).
fn account_of(inner: &Inner, req: &Incoming) -> Result<String, Reply> {
    let token = req
        .bearer()
        .map(str::to_owned)
        .or_else(|| req.query.get("access_token").cloned())
        .unwrap_or_default();
    match inner.meta_token_grant(&token) {
        Ok(grant) => Ok(inner.grants[grant].account_id.clone()),
        Err(subcode) => Err(oauth_error(fx(), 190, subcode, ended_message(subcode))),
    }
}

fn me(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let account_id = match account_of(&inner, req) {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return oauth_error(fx(), 190, None, ended_message(None));
    };
    account.counters.identity += 1;
    let values = [
        ("id", json!(account.id)),
        ("username", json!(account.username)),
        ("name", json!(account.name)),
    ];
    fx().render("me", &values)
}

/// The caller acts for `user`, or the refusal.
fn as_user(inner: &Inner, req: &Incoming, user: &str) -> Result<(), Reply> {
    match account_of(inner, req) {
        Ok(id) if id == user => Ok(()),
        Ok(_) => Err(oauth_error(
            fx(),
            10,
            None,
            "Application does not have permission for this action",
        )),
        Err(refused) => Err(refused),
    }
}

fn body_of(req: &Incoming) -> Value {
    serde_json::from_slice(&req.body).unwrap_or_else(|_| {
        // Meta's examples send the fields in the query; a form body is the same fields.
        let mut fields: serde_json::Map<String, Value> = req
            .query
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        for (k, v) in req.form() {
            fields.insert(k, json!(v));
        }
        Value::Object(fields)
    })
}

fn container(shared: &Shared, req: &Incoming, user: &str) -> Reply {
    let mut inner = shared.lock();
    if let Err(refused) = as_user(&inner, req, user) {
        return refused;
    }
    let body = body_of(req);
    let text = body["text"].as_str().unwrap_or("").to_owned();
    let (image, ok) = match body["media_type"].as_str() {
        Some("TEXT") => (String::new(), !text.trim().is_empty()),
        Some("IMAGE") => {
            let url = body["image_url"].as_str().unwrap_or("").to_owned();
            let ok = !url.is_empty();
            (url, ok)
        }
        _ => (String::new(), false),
    };
    if !ok {
        return oauth_error(
            fx(),
            100,
            None,
            "The parameter media_type (TEXT with text, or IMAGE with image_url) is required",
        );
    }
    if text.chars().count() > 500 {
        return oauth_error(fx(), 100, None, "The text is longer than 500 characters");
    }
    inner.next_post_id += 1;
    let id = (18_030_000_000_000_000u64 + inner.next_post_id).to_string();
    let polls = inner.media.container_polls;
    inner.threads_containers.insert(
        id.clone(),
        ThreadsContainer {
            user: user.to_owned(),
            text,
            image,
            polls_left: polls,
            published: false,
        },
    );
    Reply::json(200, &json!({ "id": id }))
}

fn status(shared: &Shared, req: &Incoming, id: &str) -> Reply {
    let mut inner = shared.lock();
    let caller = account_of(&inner, req);
    let Some(c) = inner.threads_containers.get_mut(id) else {
        return oauth_error(fx(), 100, Some(33), "Unsupported get request.");
    };
    match caller {
        Ok(user) if user == c.user => {}
        Ok(_) => return oauth_error(fx(), 100, Some(33), "Unsupported get request."),
        Err(refused) => return refused,
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
    Reply::json(200, &json!({"status": code, "id": id}))
}

fn publish(shared: &Shared, req: &Incoming, user: &str) -> Reply {
    let mut inner = shared.lock();
    if let Err(refused) = as_user(&inner, req, user) {
        return refused;
    }
    let creation = body_of(req)["creation_id"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let fault = inner.publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(
                status,
                &json!({"error": {"message": "Invalid parameter", "type": "THApiException", "code": 100, "fbtrace_id": "AfakeTraceId"}}),
            )
        }
        Some(PublishFault::ServerErrorBefore) => {
            return Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        _ => {}
    }
    let now = inner.now_for(user);
    let Some(c) = inner.threads_containers.get_mut(&creation) else {
        return oauth_error(
            fx(),
            100,
            Some(4_279_009),
            "The media container was not found",
        );
    };
    if c.user != user {
        return oauth_error(
            fx(),
            100,
            Some(4_279_009),
            "The media container was not found",
        );
    }
    if c.published {
        return oauth_error(fx(), 100, None, "The media has already been published");
    }
    if c.polls_left > 0 {
        return oauth_error(fx(), 9007, None, "Media ID is not available");
    }
    c.published = true;
    let (text, image) = (c.text.clone(), c.image.clone());
    *inner.threads_usage.entry(user.to_owned()).or_default() += 1;
    inner.next_post_id += 1;
    let media_id = (18_040_000_000_000_000u64 + inner.next_post_id).to_string();
    inner.posts.push(PublishedPost {
        id: media_id.clone(),
        platform: "threads",
        author: user.to_owned(),
        text,
        media: (!image.is_empty()).then_some(image).into_iter().collect(),
        received_at: SystemTime::now(),
        created_at: now,
    });
    drop(inner);
    match fault {
        Some(PublishFault::ServerErrorAfterCreate) => {
            Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        Some(PublishFault::SilentAfterCreate(wait)) => {
            std::thread::sleep(wait);
            Reply::html(502, "<html><body>Bad Gateway</body></html>".into())
        }
        _ => Reply::json(200, &json!({ "id": media_id })),
    }
}

fn limit(shared: &Shared, req: &Incoming, user: &str) -> Reply {
    let inner = shared.lock();
    if let Err(refused) = as_user(&inner, req, user) {
        return refused;
    }
    let used = inner.threads_usage.get(user).copied().unwrap_or(0);
    let total = fx().fact_u64("publishing_limit");
    Reply::json(
        200,
        &json!({"data": [{"quota_usage": used, "config": {"quota_total": total, "quota_duration": 86400}}]}),
    )
}

fn listing(shared: &Shared, req: &Incoming, user: &str) -> Reply {
    let inner = shared.lock();
    if let Err(refused) = as_user(&inner, req, user) {
        return refused;
    }
    let posts: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "threads" && p.author == user)
        .take(25)
        .map(|p| {
            let at: chrono::DateTime<chrono::Utc> = p.created_at.into();
            json!({"id": p.id, "text": p.text, "timestamp": at.format("%Y-%m-%dT%H:%M:%S+0000").to_string()})
        })
        .collect();
    Reply::json(200, &json!({ "data": posts }))
}
