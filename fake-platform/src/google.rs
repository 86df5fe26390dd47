//! Google OAuth 2.0 for YouTube: the web-server flow with `access_type=offline`, a token
//! endpoint that does not rotate refresh tokens, granular consent, refresh tokens that die
//! after six months unused (or a week, for an app in testing mode), revocation, and the
//! YouTube Data API's `channels.list?mine=true` as the identity call.
//!
//! What Google does and answers comes from `fixtures/google.json`, where each entry cites
//! Google's docs or says why it is an assumption. Users may grant only some of the requested
//! scopes (granular consent); `scope` in the answer lists what was granted.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{escape_html, hidden_inputs, Incoming, Reply};
use crate::state::{CodeRules, HoldPoint, RefreshRules, Shared};
use serde_json::json;
use std::time::{Duration, SystemTime};

pub const AUTHORIZE_PATH: &str = "/accounts.google.com/o/oauth2/v2/auth";
pub const TOKEN_PATH: &str = "/oauth2.googleapis.com/token";
pub const REVOKE_PATH: &str = "/oauth2.googleapis.com/revoke";
pub const CHANNELS_PATH: &str = "/www.googleapis.com/youtube/v3/channels";

const DAY: Duration = Duration::from_secs(86_400);

fn fx() -> &'static Fixtures {
    crate::fixtures::google()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent_page(shared, req),
        ("POST", AUTHORIZE_PATH) => decide(shared, req),
        ("POST", TOKEN_PATH) => {
            let reply = crate::faults::serve_token(shared, || token(shared, req));
            shared.pause_at(HoldPoint::TokenResponse);
            reply
        }
        ("POST", REVOKE_PATH) => revoke(shared, req),
        ("GET", CHANNELS_PATH) => channels(shared, req),
        _ => return None,
    })
}

struct Params {
    client_id: String,
    redirect_uri: String,
    state: String,
    scopes: Vec<String>,
    offline: bool,
    code_challenge: String,
}

fn params(
    shared: &Shared,
    fields: &std::collections::HashMap<String, String>,
) -> Result<Params, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| {
        shared.lock().reject("authorize", reason);
        Err(Reply::html(
            400,
            format!(
                "<h1>Error 400: invalid_request</h1><p>{}</p>",
                escape_html(reason)
            ),
        ))
    };
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("The OAuth client was not found.");
    }
    if get("redirect_uri").is_empty() {
        return refuse("Missing required parameter: redirect_uri");
    }
    let scopes = consent::scopes(&get("scope"));
    if scopes.is_empty() {
        return refuse("Missing required parameter: scope");
    }
    let code_challenge = get("code_challenge");
    match (
        get("code_challenge_method").as_str(),
        code_challenge.is_empty(),
    ) {
        (_, true) | ("S256", false) => {}
        _ => return refuse("code_challenge_method must be S256 here"),
    }
    Ok(Params {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes,
        offline: get("access_type") == "offline",
        code_challenge,
    })
}

fn consent_page(shared: &Shared, req: &Incoming) -> Reply {
    let p = match params(shared, &req.query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let hidden = hidden_inputs(&req.query);
    let boxes: String = p
        .scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                r#"<p><label><input type="checkbox" name="grant_{i}" value="{v}" checked> {v}</label></p>"#,
                v = escape_html(s)
            )
        })
        .collect();
    Reply::html(
        200,
        format!(
            r#"<!doctype html><html lang="en"><meta charset="utf-8"><title>Sign in - Google Accounts (fake)</title>
<h1>Choose what the app can access</h1>
<form method="post" action="{AUTHORIZE_PATH}">{hidden}
<p><label for="username">Google account</label> <input id="username" name="username" value="demo_user" required></p>
{boxes}
<p><button name="decision" value="approve">Continue</button> <button name="decision" value="deny">Cancel</button></p>
</form><p><small>Evergreen's fake platform: a stand-in for accounts.google.com.</small></p>"#
        ),
    )
}

fn decide(shared: &Shared, req: &Incoming) -> Reply {
    let fields = req.form();
    let p = match params(shared, &fields) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    // Granular consent: only the ticked scopes are granted.
    let granted: Vec<String> = p
        .scopes
        .iter()
        .enumerate()
        .filter(|(i, s)| fields.get(&format!("grant_{i}")) == Some(*s))
        .map(|(_, s)| s.clone())
        .collect();
    let consent = Consent {
        client_id: p.client_id,
        redirect_uri: p.redirect_uri,
        state: p.state,
        scopes: granted,
        code_challenge: p.code_challenge,
        offline: p.offline,
    };
    let lifetime = Duration::from_secs(fx().fact_u64("code_lifetime_secs"));
    consent::decide(shared, &fields, consent, usize::MAX, lifetime)
}

/// Google folds a redirect mismatch into `invalid_grant`, and PKCE is optional.
const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "authorization_code_invalid",
    missing_verifier_reply: None,
};

/// Google does not rotate; its refresh tokens die by the idle and testing-mode rules.
const REFRESH_RULES: RefreshRules = RefreshRules {
    rotates: false,
    dies: Some(expired),
};

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let credentials = match (
        req.basic_auth(),
        form.get("client_id"),
        form.get("client_secret"),
    ) {
        (Some(basic), _, None) => Some(basic),
        (None, Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let Some((client_id, secret)) = credentials else {
        inner.reject("token", "no client authentication (or two kinds at once)");
        return fx().reply("client_auth_missing");
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("token", "wrong client credentials");
        return fx().reply("client_invalid");
    }
    // A refresh token comes with an offline code only; a refresh (not rotated) returns none.
    let redeemed = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            inner
                .redeem_code(&form, &client_id, CODE_RULES)
                .map(|issued| {
                    let offline = issued.offline;
                    let grant = inner.add_grant(
                        issued.account_id,
                        client_id,
                        issued.scopes,
                        issued.offline,
                    );
                    (grant, offline)
                })
        }
        Some("refresh_token") => inner
            .use_refresh_token(&form, &client_id, REFRESH_RULES)
            .map(|grant| (grant, false)),
        _ => {
            inner.reject("token", "unsupported grant_type");
            return fx().reply("grant_type_unsupported");
        }
    };
    match redeemed {
        Ok((grant, with_refresh)) => {
            inner.answer_tokens(grant, fx(), with_refresh.then_some("1//"))
        }
        Err(reply) => fx().reply(reply),
    }
}

/// Why a grant's refresh token no longer works at `now` (its account's clock), by the rules
/// in `fixtures/google.json`: six months unused, or a week old for an app in testing mode.
fn expired(inner: &crate::state::Inner, grant: usize, now: SystemTime) -> Option<&'static str> {
    let g = &inner.grants[grant];
    let idle = DAY * fx().fact_u64("idle_expiry_days") as u32;
    if now.duration_since(g.last_used_at).unwrap_or_default() > idle {
        return Some("refresh token unused for six months");
    }
    let testing = DAY * fx().fact_u64("testing_mode_expiry_days") as u32;
    if inner.testing_mode_clients.contains(&g.client_id)
        && now.duration_since(g.issued_at).unwrap_or_default() > testing
    {
        return Some("refresh token of a testing-mode app older than a week");
    }
    None
}

fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let token = req
        .form()
        .get("token")
        .cloned()
        .or_else(|| req.query.get("token").cloned())
        .unwrap_or_default();
    let mut inner = shared.lock();
    if !inner.revoke_by_client(&token, None) {
        return fx().reply("revoke_refused");
    }
    fx().reply("revoked")
}

fn channels(shared: &Shared, req: &Incoming) -> Reply {
    if req.query.get("mine").map(String::as_str) != Some("true") {
        return Reply::json(
            400,
            &json!({ "error": { "code": 400, "message": "No filter selected." } }),
        );
    }
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
    };
    Reply::json(
        200,
        &json!({
            "kind": "youtube#channelListResponse",
            "pageInfo": { "totalResults": 1, "resultsPerPage": 5 },
            "items": [{
                "kind": "youtube#channel",
                "id": format!("UC{}", account.id),
                "snippet": { "title": account.name, "customUrl": format!("@{}", account.username.to_lowercase()) }
            }]
        }),
    )
}
