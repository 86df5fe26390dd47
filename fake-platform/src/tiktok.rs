//! TikTok Login Kit for web (OAuth v2): `client_key` instead of `client_id` (at authorize and
//! at the token endpoint), a form-encoded token endpoint with the key and secret in the body,
//! no PKCE for web apps, comma-separated scopes, refresh tokens that rotate (the old one stops
//! working once a new one is issued), revocation, and `user/info` as the identity call.
//!
//! Facts and answers come from `fixtures/tiktok.json`. TikTok's pages disagree on lifetimes;
//! the fake serves the newer figures unless a test picks others
//! ([`crate::FakePlatform::set_tiktok_lifetimes`]): Evergreen must take both from the answer.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::state::{CodeRules, Inner, RefreshRules, RefreshTokenStatus, Shared};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

pub const AUTHORIZE_PATH: &str = "/www.tiktok.com/v2/auth/authorize/";
pub const TOKEN_PATH: &str = "/open.tiktokapis.com/v2/oauth/token/";
pub const REVOKE_PATH: &str = "/open.tiktokapis.com/v2/oauth/revoke/";
pub const USER_INFO_PATH: &str = "/open.tiktokapis.com/v2/user/info/";

fn fx() -> &'static Fixtures {
    crate::fixtures::tiktok()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "An app wants to access your TikTok account",
            "www.tiktok.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || token(shared, req)),
        ("POST", REVOKE_PATH) => revoke(shared, req),
        ("GET", USER_INFO_PATH) => user_info(shared, req),
        _ => return None,
    })
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| Err(consent::refuse(shared, "Something went wrong", reason));
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if fields.contains_key("client_id") || !shared.lock().clients.contains_key(&get("client_key")) {
        return refuse("client_key is missing or unknown (TikTok takes client_key, not client_id)");
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return refuse("redirect_uri and state are required");
    }
    let scopes: Vec<String> = get("scope")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() || get("scope").contains(' ') {
        return refuse("scope must be a comma-separated list");
    }
    Ok(Consent {
        client_id: get("client_key"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes,
        code_challenge: String::new(),
        offline: true,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "authorization_code_invalid",
    missing_verifier_reply: None,
};

const REFRESH_RULES: RefreshRules = RefreshRules {
    rotates: true,
    dies: None,
};

/// The client the form authenticates as: `client_key` and `client_secret` in the body.
fn authenticate(
    inner: &mut Inner,
    req: &Incoming,
    form: &HashMap<String, String>,
) -> Option<String> {
    let key = form.get("client_key")?;
    let ok = req.basic_auth().is_none()
        && !form.contains_key("client_id")
        && inner.clients.get(key) == form.get("client_secret");
    ok.then(|| key.clone())
}

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    if req
        .header("content-type")
        .is_none_or(|t| !t.starts_with("application/x-www-form-urlencoded"))
    {
        inner.reject("token", "the token endpoint takes a form-encoded body");
        return fx().reply("invalid_request");
    }
    let Some(client_key) = authenticate(&mut inner, req, &form) else {
        inner.reject(
            "token",
            "client_key and client_secret must be in the body and right",
        );
        return fx().reply("client_invalid");
    };
    let grant = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => inner
            .redeem_code(&form, &client_key, CODE_RULES)
            .map(|issued| inner.add_grant(issued.account_id, client_key, issued.scopes, true)),
        Some("refresh_token") => inner.use_refresh_token(&form, &client_key, REFRESH_RULES),
        _ => {
            inner.reject("token", "unsupported grant_type");
            return fx().reply("invalid_request");
        }
    };
    match grant {
        Ok(grant) => answer(&mut inner, grant),
        Err(reply) => fx().reply(reply),
    }
}

/// New tokens for `grant`: every answer carries a new refresh token (the presented one was
/// marked rotated), with its lifetime in `refresh_expires_in`.
fn answer(inner: &mut Inner, grant: usize) -> Reply {
    let (access_secs, refresh_secs) = inner.tiktok_lifetimes.unwrap_or((
        fx().fact_u64("access_lifetime_secs"),
        fx().fact_u64("refresh_lifetime_secs"),
    ));
    let access = inner.issue_access_token(grant, Duration::from_secs(access_secs));
    let account_id = inner.grants[grant].account_id.clone();
    let now = inner.now_for(&account_id);
    inner.grants[grant].refresh_expires_at = Some(now + Duration::from_secs(refresh_secs));
    let refresh = format!("rft.{}", crate::tokens::random_token());
    inner
        .refresh_tokens
        .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
    let values = [
        ("access_token", json!(format!("act.{access}"))),
        ("expires_in", json!(access_secs)),
        ("open_id", json!(open_id(&account_id))),
        ("refresh_token", json!(refresh)),
        ("refresh_expires_in", json!(refresh_secs)),
        ("scope", json!(inner.grants[grant].scopes.join(","))),
    ];
    // The access token is stored under the name it is sent with.
    if let Some(t) = inner.access_tokens.remove(&access) {
        inner.access_tokens.insert(format!("act.{access}"), t);
    }
    fx().render("token_issued", &values)
}

fn open_id(account_id: &str) -> String {
    format!("tt-{account_id}")
}

fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let Some(client_key) = authenticate(&mut inner, req, &form) else {
        inner.reject(
            "revoke",
            "client_key and client_secret must be in the body and right",
        );
        return fx().reply("client_invalid");
    };
    let token = form.get("token").cloned().unwrap_or_default();
    inner.revoke_by_client(&token, Some(&client_key));
    fx().reply("revoked")
}

fn user_info(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
    };
    let values = [
        ("open_id", json!(open_id(&account.id))),
        ("union_id", json!(format!("u-{}", account.id))),
        ("name", json!(account.name)),
        ("username", json!(account.username)),
    ];
    fx().render("user_info", &values)
}
