//! X (Twitter) OAuth 2.0: authorization code with PKCE, confidential-client token endpoint,
//! rotating refresh tokens, and the `users/me` identity call.
//!
//! Behaviour follows X's docs, "OAuth 2.0 Authorization Code Flow with PKCE"
//! (https://docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code) and
//! "How to connect to endpoints using OAuth 2.0" (…/oauth-2-0/user-access-token):
//! - the authorization code is valid for 30 seconds;
//! - confidential clients authenticate to the token endpoint with HTTP Basic;
//! - access tokens last two hours (`expires_in: 7200`); a refresh token is issued only with the
//!   `offline.access` scope.
//!
//! Stricter than X on purpose (so a test can prove Evergreen never relies on the laxer path):
//! `code_challenge_method=plain` is refused, and so is a client secret in the body.
//! Assumption (X documents no wording): a refresh token that was already used, or is unknown,
//! gets `400 {"error":"invalid_request","error_description":"Value passed for the token was
//! invalid."}`, the answer X is widely reported to give.

use crate::http::{escape_html, with_query, Incoming, Reply};
use crate::state::{unix_seconds, AuthCode, Grant, HoldPoint, RefreshTokenStatus, Shared};
use crate::tokens::random_token;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

pub const AUTHORIZE_PATH: &str = "/x.com/i/oauth2/authorize";
pub const TOKEN_PATH: &str = "/api.x.com/2/oauth2/token";
pub const IDENTITY_PATH: &str = "/api.x.com/2/users/me";

const CODE_LIFETIME: Duration = Duration::from_secs(30);
const ACCESS_LIFETIME_SECS: u64 = 7200;
const OFFLINE_SCOPE: &str = "offline.access";

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent_page(shared, req),
        ("POST", AUTHORIZE_PATH) => decide(shared, req),
        ("POST", TOKEN_PATH) => {
            let reply = crate::faults::serve_token(shared, || token(shared, req));
            shared.pause_at(HoldPoint::TokenResponse);
            reply
        }
        ("GET", IDENTITY_PATH) => identity(shared, req),
        _ => return None,
    })
}

/// The parameters the authorize endpoint takes, from the query (GET) or the form (POST).
struct AuthorizeParams {
    client_id: String,
    redirect_uri: String,
    state: String,
    scope: String,
    code_challenge: String,
}

fn authorize_params(
    shared: &Shared,
    fields: &std::collections::HashMap<String, String>,
) -> Result<AuthorizeParams, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| {
        shared.lock().reject("authorize", reason);
        Err(Reply::html(
            400,
            page("Authorization failed", &escape_html(reason)),
        ))
    };
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    let client_id = get("client_id");
    if !shared.lock().clients.contains_key(&client_id) {
        return refuse("unknown client_id");
    }
    let redirect_uri = get("redirect_uri");
    if redirect_uri.is_empty() {
        return refuse("redirect_uri is required");
    }
    if get("state").is_empty() {
        return refuse("state is required");
    }
    match get("code_challenge_method").as_str() {
        "S256" => {}
        "plain" => return refuse("code_challenge_method=plain is refused"),
        _ => return refuse("code_challenge_method must be S256"),
    }
    let code_challenge = get("code_challenge");
    if code_challenge.len() < 43 {
        return refuse("code_challenge is missing or too short");
    }
    Ok(AuthorizeParams {
        client_id,
        redirect_uri,
        state: get("state"),
        scope: get("scope"),
        code_challenge,
    })
}

fn consent_page(shared: &Shared, req: &Incoming) -> Reply {
    let params = match authorize_params(shared, &req.query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let hidden: String = [
        ("response_type", "code"),
        ("client_id", params.client_id.as_str()),
        ("redirect_uri", params.redirect_uri.as_str()),
        ("state", params.state.as_str()),
        ("scope", params.scope.as_str()),
        ("code_challenge", params.code_challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| {
        format!(
            r#"<input type="hidden" name="{k}" value="{}">"#,
            escape_html(v)
        )
    })
    .collect();
    let body = format!(
        r#"<p>An app wants to use your X account.</p>
<p>Scopes: <code>{scopes}</code></p>
<form method="post" action="{AUTHORIZE_PATH}">
{hidden}
<p><label for="username">Sign in as</label>
<input id="username" name="username" value="demo_user" required pattern="[A-Za-z0-9_]{{1,15}}"></p>
<p><button name="decision" value="approve">Authorize app</button>
<button name="decision" value="deny">Cancel</button></p>
</form>"#,
        scopes = escape_html(&params.scope)
    );
    Reply::html(200, page("Authorize app — fake X", &body))
}

fn decide(shared: &Shared, req: &Incoming) -> Reply {
    let fields = req.form();
    let params = match authorize_params(shared, &fields) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    if fields.get("decision").map(String::as_str) != Some("approve") {
        return Reply::redirect(with_query(
            &params.redirect_uri,
            &[("error", "access_denied"), ("state", &params.state)],
        ));
    }
    let username = fields
        .get("username")
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty() && u.len() <= 15)
        .unwrap_or_else(|| "demo_user".to_owned());
    let code = random_token();
    let mut inner = shared.lock();
    let account = inner.account_by_username(&username);
    account.counters.authorize += 1;
    let account_id = account.id.clone();
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: params.client_id,
            account_id,
            redirect_uri: params.redirect_uri.clone(),
            scopes: params
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            offline: params.scope.split(' ').any(|s| s == OFFLINE_SCOPE),
            code_challenge: params.code_challenge,
            expires_at: SystemTime::now() + CODE_LIFETIME,
        },
    );
    Reply::redirect(with_query(
        &params.redirect_uri,
        &[("state", &params.state), ("code", &code)],
    ))
}

fn token_error(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
}

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    if form.contains_key("client_secret") {
        inner.reject("token", "client secret sent in the body");
        return token_error(
            401,
            "unauthorized_client",
            "Missing valid authorization header",
        );
    }
    let Some((client_id, secret)) = req.basic_auth() else {
        inner.reject("token", "no HTTP Basic client authentication");
        return token_error(
            401,
            "unauthorized_client",
            "Missing valid authorization header",
        );
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("token", "wrong client credentials");
        return token_error(401, "invalid_client", "Client authentication failed");
    }
    let grant = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let Some(issued) = inner.codes.remove(&code) else {
                inner.reject("token", "unknown or used authorization code");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the authorization code was invalid.",
                );
            };
            if issued.expires_at < SystemTime::now() || issued.client_id != client_id {
                inner.reject("token", "expired code or code of another client");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the authorization code was invalid.",
                );
            }
            if form.get("redirect_uri") != Some(&issued.redirect_uri) {
                inner.reject("token", "redirect_uri does not match the authorize request");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the redirect uri did not match.",
                );
            }
            let Some(verifier) = form.get("code_verifier").filter(|v| !v.is_empty()) else {
                inner.reject("token", "missing code_verifier");
                return token_error(
                    400,
                    "invalid_request",
                    "Missing required parameter [code_verifier].",
                );
            };
            if s256(verifier) != issued.code_challenge {
                inner.reject("token", "code_verifier does not match the code_challenge");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the code verifier did not match.",
                );
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
            inner.grants.len() - 1
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let found = inner.refresh_tokens.get(&presented).copied();
            let Some((grant, RefreshTokenStatus::Active)) = found else {
                inner.reject("token", "refresh token already used, revoked or unknown");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the token was invalid.",
                );
            };
            if inner.grants[grant].client_id != client_id || inner.grants[grant].revoked {
                inner.reject("token", "refresh token of another client, or revoked");
                return token_error(
                    400,
                    "invalid_request",
                    "Value passed for the token was invalid.",
                );
            }
            inner
                .refresh_tokens
                .insert(presented, (grant, RefreshTokenStatus::Rotated));
            let account_id = inner.grants[grant].account_id.clone();
            if let Some(c) = inner.counters_mut(&account_id) {
                c.token_refresh += 1;
            }
            grant
        }
        _ => {
            inner.reject("token", "unsupported grant_type");
            return token_error(
                400,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            );
        }
    };
    let tokens = issue(&mut inner, grant);
    Reply::json(200, &tokens)
}

/// New tokens for `grant`, as X's token endpoint returns them.
pub(crate) fn issue(inner: &mut crate::state::Inner, grant: usize) -> serde_json::Value {
    let access = inner.issue_access_token(grant, Duration::from_secs(ACCESS_LIFETIME_SECS));
    let scopes = inner.grants[grant].scopes.join(" ");
    let mut body = json!({
        "token_type": "bearer",
        "expires_in": ACCESS_LIFETIME_SECS,
        "access_token": access,
        "scope": scopes,
    });
    if inner.grants[grant].offline {
        let refresh = random_token();
        inner
            .refresh_tokens
            .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
        body["refresh_token"] = json!(refresh);
    }
    body
}

fn identity(shared: &Shared, req: &Incoming) -> Reply {
    let unauthorized = || {
        Reply::json(
            401,
            &json!({ "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized" }),
        )
    };
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return unauthorized();
    };
    Reply::json(
        200,
        &json!({ "data": { "id": account.id, "name": account.name, "username": account.username } }),
    )
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}}button{{font:inherit;padding:.4rem 1rem;margin-right:.5rem}}</style>
<h1>{title}</h1>
{body}
<p><small>Evergreen's fake platform: a stand-in for x.com on this machine. Issued at {now}.</small></p>"#,
        now = unix_seconds(SystemTime::now())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
