//! Mastodon servers: every host a test adds ([`crate::FakePlatform::add_mastodon_server`]) is a
//! server of its own, with its own registered apps. App registration (`POST /api/v1/apps`), the
//! consent page, `POST /oauth/token` (the client secret in the body, PKCE S256 when the
//! authorize request had a challenge; tokens that never expire and no refresh token),
//! `POST /oauth/revoke`, `GET /api/v1/accounts/verify_credentials`, `POST /api/v1/statuses`
//! (a repeated `Idempotency-Key` answers the status it made, posting nothing) and `GET
//! /api/v1/accounts/{id}/statuses`.
//!
//! Facts and OAuth answers come from `fixtures/mastodon.json`. Statuses
//! (docs.joinmastodon.org/methods/statuses): `{"id", "created_at":
//! "2026-12-07T10:00:00.000Z", "content": "<p>…</p>", "url", "visibility"}`. Publish faults
//! apply to `POST /api/v1/statuses`.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{escape_html, Incoming, Reply};
use crate::publish::{PublishFault, PublishedPost};
use crate::state::{CodeRules, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A server's app, as registered.
#[derive(Clone, Debug)]
pub struct App {
    pub server: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
}

fn fx() -> &'static Fixtures {
    crate::fixtures::mastodon()
}

/// The server's answer to `req`, whose first path segment is `server`.
pub fn handle(shared: &Shared, server: &str, req: &Incoming) -> Option<Reply> {
    let path = req.path.split('?').next().unwrap_or("");
    let rest = path.strip_prefix(&format!("/{server}"))?;
    let authorize = format!("/{server}/oauth/authorize");
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    Some(match (req.method.as_str(), parts.as_slice()) {
        ("POST", ["api", "v1", "apps"]) => register(shared, server, req),
        ("GET", ["oauth", "authorize"]) => consent::page(
            shared,
            req,
            params,
            &authorize,
            "An app would like to access your Mastodon account",
            server,
        ),
        ("POST", ["oauth", "authorize"]) => consent::answer(shared, req, params, fx()),
        ("POST", ["oauth", "token"]) => {
            crate::faults::serve_token(shared, || token(shared, server, req))
        }
        ("POST", ["oauth", "revoke"]) => revoke(shared, server, req),
        ("GET", ["api", "v1", "accounts", "verify_credentials"]) => {
            verify_credentials(shared, server, req)
        }
        ("POST", ["api", "v1", "statuses"]) => create_status(shared, server, req),
        ("GET", ["api", "v1", "accounts", id, "statuses"]) => statuses(shared, server, req, id),
        _ => return None,
    })
}

fn fields(req: &Incoming) -> HashMap<String, String> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect(),
        _ => req.form(),
    }
}

fn register(shared: &Shared, server: &str, req: &Incoming) -> Reply {
    let form = fields(req);
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let redirect_uri = get("redirect_uris");
    if get("client_name").is_empty()
        || !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://"))
    {
        shared.lock().reject(
            "register",
            "an app needs a name and an absolute redirect URI",
        );
        return fx().reply("app_invalid");
    }
    let client_id = crate::tokens::random_token();
    let client_secret = crate::tokens::random_token();
    let mut inner = shared.lock();
    inner.next_post_id += 1;
    let id = inner.next_post_id;
    inner
        .clients
        .insert(client_id.clone(), client_secret.clone());
    inner.mastodon_apps.insert(
        client_id.clone(),
        App {
            server: server.to_owned(),
            redirect_uri: redirect_uri.clone(),
            scopes: consent::scopes(&get("scopes")),
        },
    );
    fx().render(
        "app_registered",
        &[
            ("id", json!(id.to_string())),
            ("name", json!(get("client_name"))),
            ("website", json!(get("website"))),
            ("redirect_uri", json!(redirect_uri)),
            ("client_id", json!(client_id)),
            ("client_secret", json!(client_secret)),
        ],
    )
}

/// Reads an authorize request: a registered client, its redirect URI, scopes it registered,
/// and a PKCE challenge (S256 only) if there is one.
fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| Err(consent::refuse(shared, "Authorization failed", reason));
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    let app = shared.lock().mastodon_apps.get(&get("client_id")).cloned();
    let Some(app) = app else {
        return refuse("Client authentication failed due to unknown client");
    };
    if get("redirect_uri") != app.redirect_uri {
        return refuse("The redirect uri included is not valid.");
    }
    let scopes = consent::scopes(&get("scope"));
    if scopes.is_empty() || scopes.iter().any(|s| !app.scopes.contains(s)) {
        return refuse("The requested scope is invalid, unknown, or malformed.");
    }
    let challenge = get("code_challenge");
    if !challenge.is_empty() && get("code_challenge_method") != "S256" {
        return refuse("code_challenge_method must be S256");
    }
    Ok(Consent {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes,
        code_challenge: challenge,
        offline: false,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "grant_invalid",
    missing_verifier_reply: Some("grant_invalid"),
};

/// The client of the form's `client_id` and `client_secret`, registered on `server`.
fn client_on(shared: &Shared, server: &str, form: &HashMap<String, String>) -> Option<String> {
    let inner = shared.lock();
    let id = form.get("client_id")?;
    let registered_here = inner
        .mastodon_apps
        .get(id)
        .is_some_and(|app| app.server == server);
    (registered_here && inner.clients.get(id) == form.get("client_secret")).then(|| id.clone())
}

fn token(shared: &Shared, server: &str, req: &Incoming) -> Reply {
    let form = fields(req);
    let Some(client_id) = client_on(shared, server, &form) else {
        shared.lock().reject(
            "token",
            "client_id and client_secret of an app on this server",
        );
        return fx().reply("client_invalid");
    };
    let mut inner = shared.lock();
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        inner.reject("token", "only authorization_code is used here");
        return fx().reply("grant_invalid");
    }
    let issued = match inner.redeem_code(&form, &client_id, CODE_RULES) {
        Ok(issued) => issued,
        Err(_) => return fx().reply("grant_invalid"),
    };
    let scope = issued.scopes.join(" ");
    let grant = inner.add_grant(issued.account_id, client_id, issued.scopes, false);
    let lifetime = Duration::from_secs(fx().fact_u64("token_lifetime_secs"));
    let access = inner.issue_access_token(grant, lifetime);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    fx().render(
        "token_issued",
        &[
            ("access_token", json!(access)),
            ("scope", json!(scope)),
            ("created_at", json!(created)),
        ],
    )
}

fn revoke(shared: &Shared, server: &str, req: &Incoming) -> Reply {
    let form = fields(req);
    let Some(client_id) = client_on(shared, server, &form) else {
        shared.lock().reject(
            "revoke",
            "client_id and client_secret of an app on this server",
        );
        return fx().reply("client_invalid");
    };
    let token = form.get("token").cloned().unwrap_or_default();
    shared.lock().revoke_by_client(&token, Some(&client_id));
    fx().reply("revoked")
}

/// The account a live token of an app on `server` acts for.
fn caller(shared: &Shared, server: &str, req: &Incoming) -> Option<String> {
    let inner = shared.lock();
    let token = inner.access_tokens.get(req.bearer()?)?;
    let grant = &inner.grants[token.grant];
    let here = inner
        .mastodon_apps
        .get(&grant.client_id)
        .is_some_and(|app| app.server == server);
    if !here || grant.revoked || token.expires_at < inner.now_for(&grant.account_id) {
        return None;
    }
    Some(grant.account_id.clone())
}

fn verify_credentials(shared: &Shared, server: &str, req: &Incoming) -> Reply {
    let Some(account_id) = caller(shared, server, req) else {
        return fx().reply("token_invalid");
    };
    let mut inner = shared.lock();
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return fx().reply("token_invalid");
    };
    account.counters.identity += 1;
    let values = [
        ("id", json!(account.id)),
        ("username", json!(account.username)),
        ("name", json!(account.name)),
        (
            "url",
            json!(format!("https://{server}/@{}", account.username)),
        ),
    ];
    fx().render("account", &values)
}

fn status_json(server: &str, post: &PublishedPost) -> Value {
    let at: chrono::DateTime<chrono::Utc> = post.created_at.into();
    json!({
        "id": post.id,
        "created_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "content": format!("<p>{}</p>", escape_html(&post.text).replace('\n', "<br>")),
        "url": format!("https://{server}/@{}/{}", post.author, post.id),
        "visibility": "public",
    })
}

fn create_status(shared: &Shared, server: &str, req: &Incoming) -> Reply {
    let Some(account_id) = caller(shared, server, req) else {
        return fx().reply("token_invalid");
    };
    let body = fields(req);
    let text = body.get("status").cloned().unwrap_or_default();
    if text.trim().is_empty() {
        return Reply::json(
            422,
            &json!({"error": "Validation failed: Text can't be blank"}),
        );
    }
    let key = req.header("idempotency-key").map(str::to_owned);
    {
        let mut inner = shared.lock();
        if let Some(key) = &key {
            inner.mastodon_keys.push(key.clone());
            let made = inner
                .mastodon_idempotent
                .get(&(account_id.clone(), key.clone()))
                .cloned();
            if let Some(id) = made {
                if let Some(post) = inner.posts.iter().find(|p| p.id == id).cloned() {
                    return Reply::json(200, &status_json(server, &post));
                }
            }
        }
    }
    let fault = shared.lock().publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(
                status,
                &json!({"error": "Validation failed: Text character limit of 500 exceeded"}),
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
        let id = (113_400_000_000_000_000u64 + inner.next_post_id).to_string();
        let username = inner
            .accounts
            .get(&account_id)
            .map(|a| a.username.clone())
            .unwrap_or_default();
        let created_at = inner.now_for(&account_id);
        let post = PublishedPost {
            id: id.clone(),
            platform: "mastodon",
            author: username,
            text,
            media: Vec::new(),
            received_at: SystemTime::now(),
            created_at,
        };
        inner.posts.push(post.clone());
        if let Some(key) = key {
            inner.mastodon_idempotent.insert((account_id, key), id);
        }
        post
    };
    match fault {
        Some(PublishFault::ServerErrorAfterCreate) => {
            Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        Some(PublishFault::SilentAfterCreate(wait)) => {
            std::thread::sleep(wait);
            Reply::html(502, "<html><body>Bad Gateway</body></html>".into())
        }
        _ => Reply::json(200, &status_json(server, &post)),
    }
}

fn statuses(shared: &Shared, server: &str, req: &Incoming, id: &str) -> Reply {
    if caller(shared, server, req).is_none() {
        return fx().reply("token_invalid");
    }
    let inner = shared.lock();
    let Some(username) = inner.accounts.get(id).map(|a| a.username.clone()) else {
        return Reply::json(404, &json!({"error": "Record not found"}));
    };
    let list: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "mastodon" && p.author == username)
        .take(20)
        .map(|p| status_json(server, p))
        .collect();
    Reply::json(200, &Value::Array(list))
}
