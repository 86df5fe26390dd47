//! LinkedIn: 3-legged OAuth 2.0 for web apps (client secret in the body, no PKCE), access
//! tokens that live 60 days, refresh tokens only for apps approved for programmatic refresh
//! (365 days that refreshing never extends: a refresh answers the same refresh token with its
//! remaining lifetime), the OpenID Connect userinfo endpoint, and the Community Management
//! API's `organizationAcls` and `organizations` (versioned: `LinkedIn-Version` required).
//!
//! Facts and answers come from `fixtures/linkedin.json`. A member's company pages and roles are
//! set by tests ([`crate::FakePlatform::add_linkedin_organization`]); which apps are partners
//! too ([`crate::FakePlatform::set_linkedin_partner`]).

use crate::consent::{self, Consent};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::state::{unix_seconds, CodeRules, Inner, RefreshRules, Shared};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Duration;

pub const AUTHORIZE_PATH: &str = "/www.linkedin.com/oauth/v2/authorization";
pub const TOKEN_PATH: &str = "/www.linkedin.com/oauth/v2/accessToken";
pub const USERINFO_PATH: &str = "/api.linkedin.com/v2/userinfo";
pub const ACLS_PATH: &str = "/api.linkedin.com/rest/organizationAcls";
pub const ORGANIZATIONS_PATH: &str = "/api.linkedin.com/rest/organizations";

fn fx() -> &'static Fixtures {
    crate::fixtures::linkedin()
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", AUTHORIZE_PATH) => consent::page(
            shared,
            req,
            params,
            AUTHORIZE_PATH,
            "An app would like to access your LinkedIn account and the pages you administer",
            "www.linkedin.com",
        ),
        ("POST", AUTHORIZE_PATH) => consent::answer(shared, req, params, fx()),
        ("POST", TOKEN_PATH) => crate::faults::serve_token(shared, || token(shared, req)),
        ("GET", USERINFO_PATH) => userinfo(shared, req),
        ("GET", ACLS_PATH) => organization_acls(shared, req),
        ("GET", ORGANIZATIONS_PATH) => organizations(shared, req),
        _ => return None,
    })
}

fn params(shared: &Shared, fields: &HashMap<String, String>) -> Result<Consent, Reply> {
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let refuse = |reason: &str| {
        Err(consent::refuse(
            shared,
            "Bummer, something went wrong.",
            reason,
        ))
    };
    if get("response_type") != "code" {
        return refuse("response_type must be code");
    }
    if !shared.lock().clients.contains_key(&get("client_id")) {
        return refuse("The passed in client_id is invalid");
    }
    if get("redirect_uri").is_empty() || get("state").is_empty() {
        return refuse("redirect_uri and state are required");
    }
    let scopes = consent::scopes(&get("scope"));
    if scopes.is_empty() {
        return refuse("scope is required");
    }
    Ok(Consent {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        scopes,
        // PKCE is for native apps only (enabled by LinkedIn on request): web apps send none.
        code_challenge: String::new(),
        offline: true,
    })
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "authorization_code_invalid",
    missing_verifier_reply: None,
};

/// The same refresh token comes back (remaining lifetime), so it is not rotated.
const REFRESH_RULES: RefreshRules = RefreshRules {
    rotates: false,
    dies: None,
};

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let mut inner = shared.lock();
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let client_id = get("client_id");
    if req.basic_auth().is_some() || inner.clients.get(&client_id) != Some(&get("client_secret")) {
        inner.reject(
            "token",
            "client_id and client_secret must be in the body and right",
        );
        return fx().reply("client_invalid");
    }
    let partner = inner.linkedin_partner_clients.contains(&client_id);
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let issued = match inner.redeem_code(&form, &client_id, CODE_RULES) {
                Ok(issued) => issued,
                Err(reply) => return fx().reply(reply),
            };
            let grant = inner.add_grant(issued.account_id, client_id, issued.scopes, partner);
            let refresh = partner.then(|| {
                let now = inner.now_for(&inner.grants[grant].account_id.clone());
                let lifetime = Duration::from_secs(fx().fact_u64("refresh_lifetime_secs"));
                inner.grants[grant].refresh_expires_at = Some(now + lifetime);
                let token = format!("AQX{}", crate::tokens::random_token());
                inner.refresh_tokens.insert(
                    token.clone(),
                    (grant, crate::state::RefreshTokenStatus::Active),
                );
                token
            });
            answer(&mut inner, grant, refresh)
        }
        Some("refresh_token") if !partner => {
            inner.reject("token", "programmatic refresh is not enabled for this app");
            fx().reply("refresh_not_allowed")
        }
        Some("refresh_token") => match inner.use_refresh_token(&form, &client_id, REFRESH_RULES) {
            Ok(grant) => answer(&mut inner, grant, Some(get("refresh_token"))),
            Err(reply) => fx().reply(reply),
        },
        _ => {
            inner.reject("token", "grant_type is missing or unsupported");
            fx().reply("grant_type_unsupported")
        }
    }
}

/// A new 60-day access token, and the grant's refresh token with what is left of its life.
fn answer(inner: &mut Inner, grant: usize, refresh: Option<String>) -> Reply {
    let lifetime = fx().fact_u64("access_lifetime_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    let mut values = vec![
        ("access_token", json!(access)),
        ("expires_in", json!(lifetime)),
        ("scope", json!(inner.grants[grant].scopes.join(","))),
    ];
    if let (Some(token), Some(dies)) = (refresh, inner.grants[grant].refresh_expires_at) {
        let now = inner.now_for(&inner.grants[grant].account_id.clone());
        let left = unix_seconds(dies).saturating_sub(unix_seconds(now));
        values.push(("refresh_token", json!(token)));
        values.push(("refresh_token_expires_in", json!(left)));
    }
    fx().render("token_issued", &values)
}

fn userinfo(shared: &Shared, req: &Incoming) -> Reply {
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
    };
    let values = [("id", json!(account.id)), ("name", json!(account.name))];
    fx().render("userinfo", &values)
}

/// The versioned APIs refuse a request without `LinkedIn-Version` (and, for finders, without
/// Rest.li 2.0).
fn versioned(shared: &Shared, req: &Incoming) -> Result<(), Reply> {
    let version_ok = req
        .header("linkedin-version")
        .is_some_and(|v| v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()));
    if !version_ok || req.header("x-restli-protocol-version") != Some("2.0.0") {
        shared.lock().reject(
            "api",
            "LinkedIn-Version (YYYYMM) and Rest.li 2.0.0 are required",
        );
        return Err(fx().reply("version_missing"));
    }
    Ok(())
}

fn organization_acls(shared: &Shared, req: &Incoming) -> Reply {
    if let Err(reply) = versioned(shared, req) {
        return reply;
    }
    let q = |k: &str| req.query.get(k).map(String::as_str);
    if q("q") != Some("roleAssignee") {
        return fx().reply("version_missing");
    }
    let mut inner = shared.lock();
    let Some(account) = inner.account_for_bearer(req.bearer()) else {
        return fx().reply("identity_unauthorized");
    };
    let member = format!("urn:li:person:{}", account.id);
    let elements: Vec<Value> = account
        .organizations
        .iter()
        .filter(|o| o.admin)
        .filter(|_| q("role").is_none_or(|r| r == "ADMINISTRATOR"))
        .filter(|_| q("state").is_none_or(|s| s == "APPROVED"))
        .map(|o| {
            json!({
                "roleAssignee": member,
                "state": "APPROVED",
                "role": "ADMINISTRATOR",
                "organization": format!("urn:li:organization:{}", o.id),
            })
        })
        .collect();
    fx().render("organization_acls", &[("elements", json!(elements))])
}

/// `GET /rest/organizations?ids=List(1,2)`: the batch get, by id.
fn organizations(shared: &Shared, req: &Incoming) -> Reply {
    if let Err(reply) = versioned(shared, req) {
        return reply;
    }
    let ids: Vec<u64> = req
        .query
        .get("ids")
        .and_then(|l| {
            l.strip_prefix("List(")?
                .strip_suffix(')')
                .map(str::to_owned)
        })
        .map(|l| l.split(',').filter_map(|i| i.trim().parse().ok()).collect())
        .unwrap_or_default();
    let mut inner = shared.lock();
    if inner.account_for_bearer(req.bearer()).is_none() {
        return fx().reply("identity_unauthorized");
    }
    let (mut results, mut statuses) = (Map::new(), Map::new());
    for id in ids {
        let found = inner
            .accounts
            .values()
            .flat_map(|a| a.organizations.iter())
            .find(|o| o.id == id);
        if let Some(o) = found {
            results.insert(
                id.to_string(),
                json!({
                    "id": o.id,
                    "localizedName": o.name,
                    "vanityName": o.name.to_lowercase().replace(' ', "-"),
                }),
            );
            statuses.insert(id.to_string(), json!(200));
        }
    }
    fx().render(
        "organizations",
        &[
            ("results", Value::Object(results)),
            ("statuses", Value::Object(statuses)),
        ],
    )
}
