//! Pinterest API v5: the consent page at www.pinterest.com/oauth/, `POST /v5/oauth/token` with
//! HTTP Basic client authentication (a code, or a refresh token), 30-day access tokens, and
//! continuous refresh: with `refresh_on=true` a refresh answers a new refresh token living 60
//! days from then (the presented one is retired); without it, only a new access token, the
//! refresh token keeping its date. Then `/v5/user_account`, `/v5/boards`, `POST /v5/pins` and
//! a board's pins. Refusals are Pinterest's own `{"code", "message"}` (283 for a grant that no
//! longer works, 2 for a bad access token).
//!
//! Facts and OAuth answers come from `fixtures/pinterest.json`. Pins (developers.pinterest.com
//! /docs/api/v5/pins-create, …/boards-list_pins): `POST /v5/pins {"board_id", "description",
//! "media_source": {"source_type": "image_url", "url"}}` → `201 {"id", "created_at",
//! "board_id", "description"}`; a board's pins `{"items": [{"id", "description", "created_at":
//! "2026-12-07T10:00:00"}], "bookmark": null}`. Publish faults apply to `POST /v5/pins`.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::publish::{PublishFault, PublishedPost};
use crate::state::{CodeRules, RefreshRules, RefreshTokenStatus, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const AUTHORIZE_PATH: &str = "/www.pinterest.com/oauth/";
pub const TOKEN_PATH: &str = "/api.pinterest.com/v5/oauth/token";
pub const USER_ACCOUNT_PATH: &str = "/api.pinterest.com/v5/user_account";
pub const BOARDS_PATH: &str = "/api.pinterest.com/v5/boards";
pub const PINS_PATH: &str = "/api.pinterest.com/v5/pins";

fn fx() -> &'static Fixtures {
    crate::fixtures::pinterest()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "Give this app access to your Pinterest account?",
            "www.pinterest.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || token(shared, req)),
        ("GET", USER_ACCOUNT_PATH) => user_account(shared, req),
        ("GET", BOARDS_PATH) => boards(shared, req),
        ("POST", PINS_PATH) => create_pin(shared, req),
        ("GET", _) => match parts.as_slice() {
            ["api.pinterest.com", "v5", "boards", board, "pins"] => board_pins(shared, req, board),
            _ => return None,
        },
        _ => return None,
    })
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| Err(consent::refuse(shared, "Something went wrong", reason));
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("Invalid client_id");
    }
    if get("redirect_uri").is_empty() {
        return refuse("redirect_uri is required");
    }
    Ok(Consent {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes: get("scope")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        code_challenge: String::new(),
        offline: true,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "grant_invalid",
    missing_verifier_reply: None,
};

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let client = req
        .basic_auth()
        .filter(|(id, secret)| inner.clients.get(id) == Some(secret))
        .map(|(id, _)| id);
    let Some(client_id) = client else {
        inner.reject("token", "client credentials must be HTTP Basic, and right");
        return fx().reply("authentication_failed");
    };
    let continuous = form.get("refresh_on").map(String::as_str) == Some("true");
    let (grant, response_type, new_refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => match inner.redeem_code(&form, &client_id, CODE_RULES) {
            Ok(issued) => (
                inner.add_grant(issued.account_id, client_id, issued.scopes, true),
                "authorization_code",
                true,
            ),
            Err(_) => return fx().reply("grant_invalid"),
        },
        Some("refresh_token") => {
            let rules = RefreshRules {
                rotates: continuous,
                dies: None,
            };
            match inner.use_refresh_token(&form, &client_id, rules) {
                Ok(grant) if continuous => (grant, "everlasting_refresh", true),
                Ok(grant) => (grant, "refresh_token", false),
                Err(_) => return fx().reply("grant_invalid"),
            }
        }
        _ => {
            inner.reject("token", "unsupported grant_type");
            return fx().reply("grant_invalid");
        }
    };
    let access_secs = fx().fact_u64("access_lifetime_secs");
    let refresh_secs = fx().fact_u64("refresh_lifetime_secs");
    let access = format!(
        "pina_{}",
        inner.issue_access_token(grant, Duration::from_secs(access_secs))
    );
    // The access token is stored under the name it is sent with.
    let raw = access.trim_start_matches("pina_").to_owned();
    if let Some(t) = inner.access_tokens.remove(&raw) {
        inner.access_tokens.insert(access.clone(), t);
    }
    let account_id = inner.grants[grant].account_id.clone();
    let now = inner.now_for(&account_id);
    let mut values = vec![
        ("access_token", json!(access)),
        ("response_type", json!(response_type)),
        ("expires_in", json!(access_secs)),
        ("scope", json!(inner.grants[grant].scopes.join(","))),
    ];
    if new_refresh {
        let dies = now + Duration::from_secs(refresh_secs);
        inner.grants[grant].refresh_expires_at = Some(dies);
        let refresh = format!("pinr_{}", crate::tokens::random_token());
        inner
            .refresh_tokens
            .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
        let at = dies.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        values.push(("refresh_token", json!(refresh)));
        values.push(("refresh_token_expires_in", json!(refresh_secs)));
        values.push(("refresh_token_expires_at", json!(at)));
    }
    fx().render("token_issued", &values)
}

/// The account a live bearer token acts for.
fn caller(shared: &Shared, req: &Incoming) -> Option<String> {
    let inner = shared.lock();
    let token = inner.access_tokens.get(req.bearer()?)?;
    let grant = &inner.grants[token.grant];
    if grant.revoked || token.expires_at < inner.now_for(&grant.account_id) {
        return None;
    }
    Some(grant.account_id.clone())
}

fn user_account(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account_id) = caller(shared, req) else {
        return fx().reply("authentication_failed");
    };
    let mut inner = shared.lock();
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return fx().reply("authentication_failed");
    };
    account.counters.identity += 1;
    let values = [
        ("id", json!(account.id)),
        ("username", json!(account.username)),
        ("name", json!(account.name)),
    ];
    fx().render("user_account", &values)
}

fn boards(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account_id) = caller(shared, req) else {
        return fx().reply("authentication_failed");
    };
    let inner = shared.lock();
    let owner = inner
        .accounts
        .get(&account_id)
        .map(|a| a.username.clone())
        .unwrap_or_default();
    let items: Vec<Value> = inner
        .pinterest_boards
        .get(&account_id)
        .into_iter()
        .flatten()
        .map(|(id, name)| {
            json!({"id": id, "name": name, "privacy": "PUBLIC", "owner": {"username": owner}})
        })
        .collect();
    Reply::json(200, &json!({"items": items, "bookmark": null}))
}

fn owns_board(shared: &Shared, account_id: &str, board: &str) -> bool {
    shared
        .lock()
        .pinterest_boards
        .get(account_id)
        .is_some_and(|boards| boards.iter().any(|(id, _)| id == board))
}

fn create_pin(shared: &Shared, req: &Incoming) -> Reply {
    let Some(account_id) = caller(shared, req) else {
        return fx().reply("authentication_failed");
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let board = body["board_id"].as_str().unwrap_or("").to_owned();
    if !owns_board(shared, &account_id, &board) {
        return Reply::json(404, &json!({"code": 2, "message": "Board not found."}));
    }
    let image = body
        .pointer("/media_source/url")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if image.is_empty() || body.pointer("/media_source/source_type") != Some(&json!("image_url")) {
        return Reply::json(
            400,
            &json!({"code": 1, "message": "Invalid parameters: media_source is required."}),
        );
    }
    let fault = shared.lock().publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(
                status,
                &json!({"code": 1, "message": "Invalid parameters."}),
            )
        }
        Some(PublishFault::ServerErrorBefore) => {
            return Reply::html(503, "<html><body>Service Unavailable</body></html>".into())
        }
        _ => {}
    }
    let description = body["description"].as_str().unwrap_or("").to_owned();
    let post = {
        let mut inner = shared.lock();
        inner.next_post_id += 1;
        let id = (813_744_226_420_795_884u64 + inner.next_post_id).to_string();
        let created_at = inner.now_for(&account_id);
        let post = PublishedPost {
            id,
            platform: "pinterest",
            author: board.clone(),
            text: description,
            media: vec![image],
            received_at: SystemTime::now(),
            created_at,
        };
        inner.posts.push(post.clone());
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
        _ => Reply::json(
            201,
            &json!({"id": post.id, "board_id": board, "description": post.text, "created_at": pin_time(post.created_at)}),
        ),
    }
}

/// Pinterest's times: UTC without a zone.
fn pin_time(at: SystemTime) -> String {
    let at: chrono::DateTime<chrono::Utc> = at.into();
    at.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn board_pins(shared: &Shared, req: &Incoming, board: &str) -> Reply {
    let Some(account_id) = caller(shared, req) else {
        return fx().reply("authentication_failed");
    };
    if !owns_board(shared, &account_id, board) {
        return Reply::json(404, &json!({"code": 2, "message": "Board not found."}));
    }
    let inner = shared.lock();
    let items: Vec<Value> = inner
        .posts
        .iter()
        .rev()
        .filter(|p| p.platform == "pinterest" && p.author == board)
        .take(25)
        .map(|p| json!({"id": p.id, "description": p.text, "board_id": board, "created_at": pin_time(p.created_at)}))
        .collect();
    Reply::json(200, &json!({"items": items, "bookmark": null}))
}
