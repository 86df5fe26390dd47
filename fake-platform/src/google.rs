//! Google OAuth 2.0 for YouTube: the web-server flow with `access_type=offline`, a token
//! endpoint that does not rotate refresh tokens, granular consent, revocation, and the YouTube
//! Data API's `channels.list?mine=true` as the identity call.
//!
//! Behaviour follows "Using OAuth 2.0 for Web Server Applications"
//! (https://developers.google.com/identity/protocols/oauth2/web-server):
//! - a refresh token is returned only when the authorization asked for `access_type=offline`
//!   ("…only returned if your application set the access_type parameter to offline");
//! - the token answer is `{"access_token", "expires_in": 3599, "token_type": "Bearer",
//!   "scope", "refresh_token"}`; a refresh answer carries no new refresh token (refresh tokens
//!   are not rotated);
//! - users may grant only some of the requested scopes (granular consent), and `scope` lists
//!   what was granted;
//! - the token endpoint takes the client secret in the body (the documented form) or HTTP
//!   Basic (listed in Google's discovery document, `token_endpoint_auth_methods_supported`);
//! - revocation: `POST https://oauth2.googleapis.com/revoke` with `token`, `200` on success.
//!
//! Assumption: an expired, revoked or unknown refresh token gets `400 {"error":
//! "invalid_grant", "error_description": "Token has been expired or revoked."}`; the docs name
//! `invalid_grant` for these cases, the description is the one Google is widely reported to send.

use crate::http::{escape_html, with_query, Incoming, Reply};
use crate::state::{AuthCode, Grant, RefreshTokenStatus, Shared};
use crate::tokens::random_token;
use crate::x::s256;
use serde_json::json;
use std::time::{Duration, SystemTime};

pub const AUTHORIZE_PATH: &str = "/accounts.google.com/o/oauth2/v2/auth";
pub const TOKEN_PATH: &str = "/oauth2.googleapis.com/token";
pub const REVOKE_PATH: &str = "/oauth2.googleapis.com/revoke";
pub const CHANNELS_PATH: &str = "/www.googleapis.com/youtube/v3/channels";

const CODE_LIFETIME: Duration = Duration::from_secs(600);
const ACCESS_LIFETIME_SECS: u64 = 3599;

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent_page(shared, req),
        ("POST", AUTHORIZE_PATH) => decide(shared, req),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || token(shared, req)),
        ("POST", REVOKE_PATH) => revoke(shared, req),
        ("GET", CHANNELS_PATH) => channels(shared, req),
        _ => return None,
    })
}

fn error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
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
    let scopes: Vec<String> = get("scope")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
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
    let hidden: String = req
        .query
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(k),
                escape_html(v)
            )
        })
        .collect();
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
    if fields.get("decision").map(String::as_str) != Some("approve") {
        return Reply::redirect(with_query(
            &p.redirect_uri,
            &[("error", "access_denied"), ("state", &p.state)],
        ));
    }
    // Granular consent: only the ticked scopes are granted.
    let granted: Vec<String> = p
        .scopes
        .iter()
        .enumerate()
        .filter(|(i, s)| fields.get(&format!("grant_{i}")) == Some(*s))
        .map(|(_, s)| s.clone())
        .collect();
    let username = fields
        .get("username")
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "demo_user".to_owned());
    let code = random_token();
    let mut inner = shared.lock();
    let account = inner.account_by_username(&username);
    account.counters.authorize += 1;
    let account_id = account.id.clone();
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: p.client_id,
            account_id,
            redirect_uri: p.redirect_uri.clone(),
            scopes: granted,
            code_challenge: p.code_challenge,
            expires_at: SystemTime::now() + CODE_LIFETIME,
            offline: p.offline,
        },
    );
    Reply::redirect(with_query(
        &p.redirect_uri,
        &[("state", &p.state), ("code", &code)],
    ))
}

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
        return error(401, "invalid_client", "The OAuth client was not found.");
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("token", "wrong client credentials");
        return error(401, "invalid_client", "Unauthorized");
    }
    let (grant, with_refresh) = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(issued) = inner.codes.remove(&code) else {
                inner.reject("token", "unknown or used authorization code");
                return error(400, "invalid_grant", "Bad Request");
            };
            if issued.expires_at < SystemTime::now()
                || issued.client_id != client_id
                || form.get("redirect_uri") != Some(&issued.redirect_uri)
            {
                inner.reject(
                    "token",
                    "expired code, another client's, or redirect_uri mismatch",
                );
                return error(400, "invalid_grant", "Bad Request");
            }
            if !issued.code_challenge.is_empty() {
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                if s256(&verifier) != issued.code_challenge {
                    inner.reject("token", "code_verifier does not match the code_challenge");
                    return error(400, "invalid_grant", "Invalid code verifier.");
                }
            }
            if let Some(c) = inner.counters_mut(&issued.account_id) {
                c.token_authorization_code += 1;
            }
            inner.grants.push(Grant {
                account_id: issued.account_id,
                client_id,
                scopes: issued.scopes,
                offline: issued.offline,
                revoked: false,
            });
            (inner.grants.len() - 1, issued.offline)
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let found = inner.refresh_tokens.get(&presented).copied();
            let Some((grant, RefreshTokenStatus::Active)) = found else {
                inner.reject("token", "refresh token revoked or unknown");
                return error(400, "invalid_grant", "Token has been expired or revoked.");
            };
            if inner.grants[grant].client_id != client_id || inner.grants[grant].revoked {
                inner.reject("token", "refresh token of another client, or revoked");
                return error(400, "invalid_grant", "Token has been expired or revoked.");
            }
            let account_id = inner.grants[grant].account_id.clone();
            if let Some(c) = inner.counters_mut(&account_id) {
                c.token_refresh += 1;
            }
            // Not rotated: the refresh token stays valid and none comes back.
            (grant, false)
        }
        _ => {
            inner.reject("token", "unsupported grant_type");
            return error(400, "unsupported_grant_type", "Invalid grant_type.");
        }
    };
    let access = inner.issue_access_token(grant, Duration::from_secs(ACCESS_LIFETIME_SECS));
    let mut body = json!({
        "access_token": access,
        "expires_in": ACCESS_LIFETIME_SECS,
        "token_type": "Bearer",
        "scope": inner.grants[grant].scopes.join(" "),
    });
    if with_refresh {
        let refresh = format!("1//{}", random_token());
        inner
            .refresh_tokens
            .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
        body["refresh_token"] = json!(refresh);
    }
    Reply::json(200, &body)
}

fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let token = req
        .form()
        .get("token")
        .cloned()
        .or_else(|| req.query.get("token").cloned())
        .unwrap_or_default();
    let mut inner = shared.lock();
    let grant = inner
        .refresh_tokens
        .get(&token)
        .map(|(g, _)| *g)
        .or_else(|| inner.access_tokens.get(&token).map(|t| t.grant));
    let Some(grant) = grant else {
        return error(400, "invalid_token", "Token expired or revoked");
    };
    inner.grants[grant].revoked = true;
    for (_, (g, status)) in inner.refresh_tokens.iter_mut() {
        if *g == grant {
            *status = RefreshTokenStatus::Revoked;
        }
    }
    Reply::json(200, &json!({}))
}

fn channels(shared: &Shared, req: &Incoming) -> Reply {
    let unauthorized = || {
        Reply::json(
            401,
            &json!({ "error": { "code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED" } }),
        )
    };
    if req.query.get("mine").map(String::as_str) != Some("true") {
        return Reply::json(
            400,
            &json!({ "error": { "code": 400, "message": "No filter selected." } }),
        );
    }
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return unauthorized();
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
