//! X (Twitter) OAuth 2.0: authorization code with PKCE, confidential-client token endpoint,
//! rotating refresh tokens, revocation, and the `users/me` identity call.
//!
//! What X does (lifetimes, the refresh-token scope, client authentication, rotation) and what
//! it answers (success and error bodies) come from `fixtures/x.json`, where each entry cites
//! X's docs or says why it is an assumption.
//!
//! Stricter than X on purpose (so a test can prove Evergreen never relies on the laxer path):
//! `code_challenge_method=plain` is refused, and so is a client secret in the body.

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{escape_html, Incoming, Reply};
use crate::state::{unix_seconds, CodeRules, HoldPoint, RefreshRules, Shared};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

pub const AUTHORIZE_PATH: &str = "/x.com/i/oauth2/authorize";
pub const TOKEN_PATH: &str = "/api.x.com/2/oauth2/token";
pub const IDENTITY_PATH: &str = "/api.x.com/2/users/me";
pub const REVOKE_PATH: &str = "/api.x.com/2/oauth2/revoke";

fn fx() -> &'static Fixtures {
    crate::fixtures::x()
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
        ("GET", IDENTITY_PATH) => identity(shared, req),
        ("POST", REVOKE_PATH) => revoke(shared, req),
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
    let offline_scope = fx().fact("refresh_token_scope").as_str();
    let consent = Consent {
        offline: params.scope.split(' ').any(|s| Some(s) == offline_scope),
        scopes: consent::scopes(&params.scope),
        client_id: params.client_id,
        redirect_uri: params.redirect_uri,
        state: params.state,
        code_challenge: params.code_challenge,
    };
    let lifetime = Duration::from_secs(fx().fact_u64("code_lifetime_secs"));
    consent::decide(shared, &fields, consent, 15, lifetime)
}

/// X names a redirect mismatch and a missing verifier apart.
const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "redirect_uri_mismatch",
    missing_verifier_reply: Some("code_verifier_missing"),
};

/// X rotates its refresh tokens (an assumption, see `fixtures/x.json`).
const REFRESH_RULES: RefreshRules = RefreshRules {
    rotates: true,
    dies: None,
};

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    if form.contains_key("client_secret") {
        inner.reject("token", "client secret sent in the body");
        return fx().reply("client_auth_missing");
    }
    let Some((client_id, secret)) = req.basic_auth() else {
        inner.reject("token", "no HTTP Basic client authentication");
        return fx().reply("client_auth_missing");
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("token", "wrong client credentials");
        return fx().reply("client_invalid");
    }
    let redeemed = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            inner
                .redeem_code(&form, &client_id, CODE_RULES)
                .map(|issued| {
                    inner.add_grant(issued.account_id, client_id, issued.scopes, issued.offline)
                })
        }
        Some("refresh_token") => inner.use_refresh_token(&form, &client_id, REFRESH_RULES),
        _ => {
            inner.reject("token", "unsupported grant_type");
            return fx().reply("grant_type_unsupported");
        }
    };
    match redeemed {
        Ok(grant) => issue(&mut inner, grant),
        Err(reply) => fx().reply(reply),
    }
}

/// New tokens for `grant`, as X's token endpoint returns them: a refresh token only with
/// offline access.
pub(crate) fn issue(inner: &mut crate::state::Inner, grant: usize) -> Reply {
    let offline = inner.grants[grant].offline;
    inner.answer_tokens(grant, fx(), offline.then_some(""))
}

/// `POST /2/oauth2/revoke`: the client (HTTP Basic, as at the token endpoint) ends the grant
/// a token belongs to.
fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some((client_id, secret)) = req.basic_auth() else {
        inner.reject("revoke", "no HTTP Basic client authentication");
        return fx().reply("client_auth_missing");
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("revoke", "wrong client credentials");
        return fx().reply("client_invalid");
    }
    let token = req.form().get("token").cloned().unwrap_or_default();
    // RFC 7009 §2.2: an unknown token is not an error; the answer is the same.
    inner.revoke_by_client(&token, Some(&client_id));
    fx().reply("revoked")
}

fn identity(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
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
