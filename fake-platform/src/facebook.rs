//! Facebook Login for Pages (Graph v25.0): the consent dialog, the code exchange and the
//! long-lived exchange (`fb_exchange_token`) at `oauth/access_token`, `me`, `me/accounts` with
//! a Page token per Page (no expiry), and `debug_token` with the app token. Tokens end the way
//! Meta ends them: a password change (190/460), the app's removal (190/458), a lost Page role
//! (190/492, that Page only), a user token's expiry (190/463).
//!
//! Facts and answers come from `fixtures/facebook.json`. A person's Pages and roles are set by
//! tests ([`crate::FakePlatform::add_facebook_page`]).

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::state::{unix_seconds, CodeRules, Inner, Shared};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

pub const AUTHORIZE_PATH: &str = "/www.facebook.com/v25.0/dialog/oauth";
pub const TOKEN_PATH: &str = "/graph.facebook.com/v25.0/oauth/access_token";
pub const ME_PATH: &str = "/graph.facebook.com/v25.0/me";
pub const ACCOUNTS_PATH: &str = "/graph.facebook.com/v25.0/me/accounts";
pub const DEBUG_TOKEN_PATH: &str = "/graph.facebook.com/v25.0/debug_token";

fn fx() -> &'static Fixtures {
    crate::fixtures::facebook()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "An app would like to manage and publish to the Facebook Pages you choose",
            "www.facebook.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || code_exchange(shared, req)),
        ("GET", TOKEN_PATH) => crate::faults::serve_token(shared, || long_lived(shared, req)),
        ("GET", ME_PATH) => me(shared, req),
        ("GET", ACCOUNTS_PATH) => accounts(shared, req),
        ("GET", DEBUG_TOKEN_PATH) => debug_token(shared, req),
        _ => return None,
    })
}

/// Meta's error body: OAuthException `code` with `subcode`.
pub fn oauth_error(fixtures: &Fixtures, code: i64, subcode: Option<i64>, message: &str) -> Reply {
    let mut values = vec![("message", json!(message)), ("code", json!(code))];
    if let Some(subcode) = subcode {
        values.push(("subcode", json!(subcode)));
    }
    fixtures.render("oauth_error", &values)
}

/// The message Meta gives for each way a session ends.
pub fn ended_message(subcode: Option<i64>) -> &'static str {
    match subcode {
        Some(458) => "Error validating access token: The user has not authorized application.",
        Some(460) => {
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons."
        }
        Some(463) => "Error validating access token: Session has expired.",
        Some(492) => "Error validating access token: The user is not an admin, editor, or moderator of the page.",
        _ => "Invalid OAuth access token - Cannot parse access token",
    }
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| {
        Err(consent::refuse(
            shared,
            "Sorry, something went wrong.",
            reason,
        ))
    };
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("Invalid App ID: the client_id is not an app");
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return refuse("redirect_uri and state are required");
    }
    let scopes: Vec<String> = get("scope")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
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

fn client_ok(inner: &Inner, id: &str, secret: &str) -> bool {
    inner.clients.get(id).is_some_and(|s| s == secret)
}

/// The code exchange (the `oauth2` crate POSTs the form): a short-lived user token.
fn code_exchange(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    if !client_ok(&inner, &get("client_id"), &get("client_secret")) {
        inner.reject("token", "client_id and client_secret must be the app's");
        return oauth_error(fx(), 1, None, "Error validating client secret.");
    }
    let issued = match inner.redeem_code(&form, &get("client_id"), CODE_RULES) {
        Ok(issued) => issued,
        Err(_) => {
            return oauth_error(
                fx(),
                100,
                Some(36009),
                "This authorization code has been used.",
            )
        }
    };
    let grant = inner.add_grant(issued.account_id, get("client_id"), issued.scopes, false);
    let lifetime = fx().fact_u64("short_lived_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    fx().render(
        "token_issued",
        &[
            ("access_token", json!(access)),
            ("expires_in", json!(lifetime)),
        ],
    )
}

/// `GET oauth/access_token?grant_type=fb_exchange_token&…`: a long-lived user token.
fn long_lived(shared: &Shared, req: &Incoming) -> Reply {
    let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    if q("grant_type") != "fb_exchange_token" {
        inner.reject("token", "a GET exchange needs grant_type=fb_exchange_token");
        return oauth_error(fx(), 100, None, "Unsupported grant_type.");
    }
    if !client_ok(&inner, &q("client_id"), &q("client_secret")) {
        inner.reject(
            "token",
            "the exchange needs the app's client_id and client_secret",
        );
        return oauth_error(fx(), 1, None, "Error validating client secret.");
    }
    let grant = match inner.meta_token_grant(&q("fb_exchange_token")) {
        Ok(grant) if inner.grants[grant].client_id == q("client_id") => grant,
        Ok(_) => return oauth_error(fx(), 190, None, ended_message(None)),
        Err(subcode) => {
            inner.reject("token", "an expired or ended token cannot be exchanged");
            return oauth_error(fx(), 190, subcode, ended_message(subcode));
        }
    };
    let lifetime = fx().fact_u64("long_lived_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    fx().render(
        "token_issued",
        &[
            ("access_token", json!(access)),
            ("expires_in", json!(lifetime)),
        ],
    )
}

fn bearer_grant(inner: &Inner, req: &Incoming) -> Result<usize, Reply> {
    let token = req
        .bearer()
        .map(str::to_owned)
        .or_else(|| req.query.get("access_token").cloned())
        .unwrap_or_default();
    inner
        .meta_token_grant(&token)
        .map_err(|subcode| oauth_error(fx(), 190, subcode, ended_message(subcode)))
}

fn me(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let grant = match bearer_grant(&inner, req) {
        Ok(grant) => grant,
        Err(reply) => return reply,
    };
    let account_id = inner.grants[grant].account_id.clone();
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return oauth_error(fx(), 190, None, ended_message(None));
    };
    account.counters.identity += 1;
    let values = [("id", json!(account.id)), ("name", json!(account.name))];
    fx().render("me", &values)
}

/// The Pages the person has a role on, each with a new Page token.
fn accounts(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let grant = match bearer_grant(&inner, req) {
        Ok(grant) => grant,
        Err(reply) => return reply,
    };
    let account_id = inner.grants[grant].account_id.clone();
    let pages = inner
        .accounts
        .get(&account_id)
        .map(|a| a.pages.clone())
        .unwrap_or_default();
    let mut data = Vec::new();
    for page in pages.iter().filter(|p| p.role) {
        let token = format!("EAAP{}", crate::tokens::random_token());
        inner
            .page_tokens
            .insert(token.clone(), (grant, page.id.clone()));
        data.push(json!({
            "access_token": token,
            "category": "Local business",
            "name": page.name,
            "id": page.id,
            "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"],
        }));
    }
    fx().render("accounts", &[("data", Value::Array(data))])
}

/// `debug_token?input_token=…&access_token={app-id}|{app-secret}`.
fn debug_token(shared: &Shared, req: &Incoming) -> Reply {
    let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    let app_token = q("access_token");
    let app_ok = app_token
        .split_once('|')
        .is_some_and(|(id, secret)| client_ok(&inner, id, secret));
    if !app_ok {
        inner.reject(
            "debug_token",
            "debug_token needs the app token {app-id}|{app-secret}",
        );
        return oauth_error(fx(), 190, None, "Invalid OAuth access token.");
    }
    let app_id = app_token.split('|').next().unwrap_or_default().to_owned();
    let input = q("input_token");
    // A Page token: its grant's standing, then the person's role on the Page.
    let (grant, kind, profile_id, expires_at, problem) =
        if let Some((grant, page_id)) = inner.page_tokens.get(&input).cloned() {
            let account = &inner.accounts[&inner.grants[grant].account_id];
            let role = account.pages.iter().any(|p| p.id == page_id && p.role);
            let problem = match inner.meta_ended.get(&grant) {
                Some(subcode) => Some(Some(*subcode)),
                None if !role => Some(Some(492)),
                None => None,
            };
            (Some(grant), "PAGE", Some(page_id), 0, problem)
        } else {
            match inner.meta_token_grant(&input) {
                Ok(grant) => {
                    let at = unix_seconds(inner.access_tokens[&input].expires_at);
                    (Some(grant), "USER", None, at, None)
                }
                Err(subcode) => {
                    let grant = inner.access_tokens.get(&input).map(|t| t.grant);
                    (grant, "USER", None, 0, Some(subcode))
                }
            }
        };
    let data_access =
        grant.map(|g| unix_seconds(inner.grants[g].issued_at) + fx().fact_u64("data_access_secs"));
    if let Some(g) = grant {
        let account_id = inner.grants[g].account_id.clone();
        if let Some(c) = inner.counters_mut(&account_id) {
            c.identity += 1;
        }
    }
    let mut values = vec![
        ("app_id", json!(app_id)),
        ("type", json!(kind)),
        ("expires_at", json!(expires_at)),
        ("is_valid", json!(problem.is_none())),
        (
            "scopes",
            json!(grant
                .map(|g| inner.grants[g].scopes.clone())
                .unwrap_or_default()),
        ),
    ];
    if let Some(at) = data_access {
        values.push(("data_access_expires_at", json!(at)));
    }
    if let Some(g) = grant {
        values.push(("user_id", json!(inner.grants[g].account_id)));
    }
    if let Some(id) = profile_id {
        values.push(("profile_id", json!(id)));
    }
    if let Some(subcode) = problem {
        let mut error = json!({"code": 190, "message": ended_message(subcode)});
        if let Some(s) = subcode {
            error["subcode"] = json!(s);
        }
        values.push(("error", error));
    }
    fx().render("debug_token", &values)
}
