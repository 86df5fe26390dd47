//! A standard OAuth 2.0 provider served from its fixture file alone: authorization code with
//! PKCE S256, client authentication as the file allows (Basic, body, or either), refresh
//! tokens that rotate or not as the file says, RFC 7009 revocation, and an OpenID Connect
//! userinfo endpoint. Every path, lifetime and answer comes from the file's `dialect`, `facts`
//! and `responses`, so a new standard platform needs a fixture file and no code here.

use crate::consent::{self, Consent};
use crate::fixtures::{Dialect, Fixtures};
use crate::http::{escape_html, hidden_inputs, Incoming, Reply};
use crate::state::{CodeRules, Inner, RefreshRules, RefreshTokenStatus, Shared};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// The provider `f` serves `req`, if the path is one of its endpoints.
pub fn handle(shared: &Shared, f: &'static Fixtures, req: &Incoming) -> Option<Reply> {
    let d = f.dialect.as_ref()?;
    let path = req.path.as_str();
    Some(match req.method.as_str() {
        "GET" if path == d.authorize_path => consent_page(shared, f, d, req),
        "POST" if path == d.authorize_path => decide(shared, f, req),
        "POST" if path == d.token_path => {
            crate::faults::serve_token(shared, || token(shared, f, req))
        }
        "POST" if path == d.revoke_path => revoke(shared, f, req),
        "GET" if path == d.userinfo_path => userinfo(shared, f, req),
        _ => return None,
    })
}

/// Whether `path` belongs to one of `f`'s hosts.
pub fn serves_host(f: &Fixtures, host: &str) -> bool {
    f.dialect.as_ref().is_some_and(|d| {
        [
            &d.authorize_path,
            &d.token_path,
            &d.revoke_path,
            &d.userinfo_path,
        ]
        .iter()
        .any(|p| p.trim_start_matches('/').split('/').next() == Some(host))
    })
}

struct Params {
    client_id: String,
    redirect_uri: String,
    state: String,
    scope: String,
    code_challenge: String,
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Params, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| {
        shared.lock().reject("authorize", reason);
        Err(Reply::html(
            400,
            format!("<h1>invalid_request</h1><p>{}</p>", escape_html(reason)),
        ))
    };
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("unknown client_id");
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return refuse("redirect_uri and state are required");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return refuse("a code_challenge with code_challenge_method=S256 is required");
    }
    Ok(Params {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scope: get("scope"),
        code_challenge: get("code_challenge"),
    })
}

fn consent_page(shared: &Shared, f: &Fixtures, d: &Dialect, req: &Incoming) -> Reply {
    let p = match params(shared, &req.query) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let hidden = hidden_inputs(&req.query);
    Reply::html(
        200,
        format!(
            r#"<!doctype html><html lang="en"><meta charset="utf-8"><title>Authorize — {platform} (fake)</title>
<h1>An app wants to use your {platform} account</h1>
<p>Scopes: <code>{scope}</code></p>
<form method="post" action="{action}">{hidden}
<p><label for="username">Sign in as</label> <input id="username" name="username" value="demo_user" required></p>
<p><button name="decision" value="approve">Allow</button> <button name="decision" value="deny">Deny</button></p>
</form><p><small>Evergreen's fake platform, serving fixtures/{platform}.json.</small></p>"#,
            platform = escape_html(&f.platform),
            scope = escape_html(&p.scope),
            action = escape_html(&d.authorize_path),
        ),
    )
}

fn decide(shared: &Shared, f: &Fixtures, req: &Incoming) -> Reply {
    let fields = req.form();
    let p = match params(shared, &fields) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let consent = Consent {
        scopes: consent::scopes(&p.scope),
        client_id: p.client_id,
        redirect_uri: p.redirect_uri,
        state: p.state,
        code_challenge: p.code_challenge,
        offline: true,
    };
    let lifetime = Duration::from_secs(f.fact_u64("code_lifetime_secs"));
    consent::decide(shared, &fields, consent, usize::MAX, lifetime)
}

/// The client the request authenticates as, by the methods `f` allows; the refusal otherwise.
fn authenticate(
    inner: &mut Inner,
    f: &Fixtures,
    req: &Incoming,
    form: &HashMap<String, String>,
) -> Result<String, Reply> {
    let allows = |method: &str| {
        f.fact("client_auth")
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m == method))
    };
    let credentials = match (req.basic_auth(), form.get("client_secret")) {
        (Some(basic), None) if allows("client_secret_basic") => Some(basic),
        (None, Some(secret)) if allows("client_secret_post") => {
            form.get("client_id").map(|id| (id.clone(), secret.clone()))
        }
        _ => None,
    };
    let Some((client_id, secret)) = credentials else {
        inner.reject("token", "no client authentication the provider accepts");
        return Err(f.reply("client_auth_missing"));
    };
    if inner.clients.get(&client_id) != Some(&secret) {
        inner.reject("token", "wrong client credentials");
        return Err(f.reply("client_invalid"));
    }
    Ok(client_id)
}

/// RFC 6749: a redirect mismatch is `invalid_grant`; PKCE is required at authorize.
const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "authorization_code_invalid",
    missing_verifier_reply: None,
};

fn token(shared: &Shared, f: &Fixtures, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let client_id = match authenticate(&mut inner, f, req, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let rules = RefreshRules {
        rotates: f.fact_bool("refresh_token_rotates"),
        dies: None,
    };
    let redeemed = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => inner
            .redeem_code(&form, &client_id, CODE_RULES)
            .map(|issued| inner.add_grant(issued.account_id, client_id, issued.scopes, true)),
        Some("refresh_token") => inner.use_refresh_token(&form, &client_id, rules),
        _ => {
            inner.reject("token", "unsupported grant_type");
            return f.reply("grant_type_unsupported");
        }
    };
    let grant = match redeemed {
        Ok(grant) => grant,
        Err(reply) => return f.reply(reply),
    };
    let new_refresh = f.fact_bool("refresh_token_rotates")
        || !inner
            .refresh_tokens
            .values()
            .any(|(g, s)| *g == grant && *s == RefreshTokenStatus::Active);
    inner.answer_tokens(grant, f, new_refresh.then_some(""))
}

fn revoke(shared: &Shared, f: &Fixtures, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let client_id = match authenticate(&mut inner, f, req, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    inner.revoke_by_client(&token, Some(&client_id));
    f.reply("revoked")
}

fn userinfo(shared: &Shared, f: &Fixtures, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return f.reply("identity_unauthorized");
    };
    let values = [
        ("id", json!(account.id)),
        ("name", json!(account.name)),
        ("username", json!(account.username)),
    ];
    f.render("userinfo", &values)
}
