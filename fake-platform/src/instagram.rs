//! The Instagram API with Instagram Login: the consent page, the code exchange at
//! api.instagram.com (a short-lived token, wrapped in `data`), the long-lived exchange
//! (`ig_exchange_token`) and refresh (`ig_refresh_token`, only for a token at least 24 hours
//! old and unexpired; each gives a new 60 days) at graph.instagram.com, and `/me`.
//!
//! Facts and answers come from `fixtures/instagram.json`.

use crate::consent::{self, Consent};
use crate::facebook::{ended_message, oauth_error};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::meta_tokens;
use crate::state::{CodeRules, Shared};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

pub const AUTHORIZE_PATH: &str = "/www.instagram.com/oauth/authorize";
pub const TOKEN_PATH: &str = "/api.instagram.com/oauth/access_token";
pub const EXCHANGE_PATH: &str = "/graph.instagram.com/access_token";
pub const REFRESH_PATH: &str = "/graph.instagram.com/refresh_access_token";
pub const ME_PATH: &str = "/graph.instagram.com/v25.0/me";

fn fx() -> &'static Fixtures {
    crate::fixtures::instagram()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "An app would like to publish to your Instagram professional account",
            "www.instagram.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || code_exchange(shared, req)),
        ("GET", EXCHANGE_PATH) => crate::faults::serve_token(shared, || {
            meta_tokens::exchange(shared, req, fx(), "ig_exchange_token")
        }),
        ("GET", REFRESH_PATH) => crate::faults::serve_token(shared, || {
            meta_tokens::refresh(shared, req, fx(), "ig_refresh_token")
        }),
        ("GET", ME_PATH) => me(shared, req),
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
        return refuse("Invalid platform app");
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
        offline: false,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "exchange_error",
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
        return fx().render(
            "exchange_error",
            &[("message", json!("Invalid client_secret"))],
        );
    }
    let issued = match inner.redeem_code(&form, &get("client_id"), CODE_RULES) {
        Ok(issued) => issued,
        Err(_) => {
            return fx().render(
                "exchange_error",
                &[("message", json!("This authorization code has been used"))],
            )
        }
    };
    let user_id = issued.account_id.clone();
    let permissions = issued.scopes.join(",");
    let grant = inner.add_grant(issued.account_id, get("client_id"), issued.scopes, false);
    let lifetime = fx().fact_u64("short_lived_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    fx().render(
        "code_exchanged",
        &[
            ("access_token", json!(access)),
            ("user_id", json!(user_id)),
            ("permissions", json!(permissions)),
        ],
    )
}

fn me(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let token = req
        .bearer()
        .map(str::to_owned)
        .or_else(|| req.query.get("access_token").cloned())
        .unwrap_or_default();
    let grant = match inner.meta_token_grant(&token) {
        Ok(grant) => grant,
        Err(subcode) => return oauth_error(fx(), 190, subcode, ended_message(subcode)),
    };
    let account_id = inner.grants[grant].account_id.clone();
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return oauth_error(fx(), 190, None, ended_message(None));
    };
    account.counters.identity += 1;
    let values = [
        ("user_id", json!(account.id)),
        ("id", json!(account.id)),
        ("username", json!(account.username)),
        ("name", json!(account.name)),
    ];
    fx().render("me", &values)
}
