//! The user's decision on a consent page, the same on every platform: a denial goes back to
//! the app with `error=access_denied`; an approval counts the consent on the account named in
//! the form (created on first use) and sends the app an authorization code.

use crate::fixtures::Fixtures;
use crate::http::{escape_html, hidden_inputs, with_query, Incoming, Reply};
use crate::state::{AuthCode, Shared};
use crate::tokens::random_token;
use std::collections::HashMap;
use std::time::Duration;

/// What an approval grants, as the dialect read it from the authorize request.
pub struct Consent {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    /// Whether a refresh token comes with the tokens.
    pub offline: bool,
}

/// The scopes of a space-separated `scope` parameter.
pub fn scopes(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Answers the consent form `fields`. `max_username`: the platform's limit on usernames
/// (longer or blank ones sign in as `demo_user`); `code_lifetime` runs on the account's clock.
pub fn decide(
    shared: &Shared,
    fields: &HashMap<String, String>,
    consent: Consent,
    max_username: usize,
    code_lifetime: Duration,
) -> Reply {
    if fields.get("decision").map(String::as_str) != Some("approve") {
        return Reply::redirect(with_query(
            &consent.redirect_uri,
            &[("error", "access_denied"), ("state", &consent.state)],
        ));
    }
    let username = fields
        .get("username")
        .map(|u| u.trim())
        .filter(|u| !u.is_empty() && u.len() <= max_username)
        .unwrap_or("demo_user");
    let code = random_token();
    let mut inner = shared.lock();
    let account = inner.account_by_username(username);
    account.counters.authorize += 1;
    let account_id = account.id.clone();
    let expires_at = inner.now_for(&account_id) + code_lifetime;
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: consent.client_id,
            account_id,
            redirect_uri: consent.redirect_uri.clone(),
            scopes: consent.scopes,
            code_challenge: consent.code_challenge,
            expires_at,
            offline: consent.offline,
        },
    );
    Reply::redirect(with_query(
        &consent.redirect_uri,
        &[("state", &consent.state), ("code", &code)],
    ))
}

/// How a dialect reads an authorize request's parameters (the query of the page, or the form
/// posted back): the consent it asks for, or the refusal to answer.
pub type ReadParams = fn(&Shared, &HashMap<String, String>) -> Result<Consent, Reply>;

/// A refused authorize request, recorded, as a page headed `heading`.
pub fn refuse(shared: &Shared, heading: &str, reason: &str) -> Reply {
    shared.lock().reject("authorize", reason);
    Reply::html(
        400,
        format!(
            "<h1>{}</h1><p>{}</p>",
            escape_html(heading),
            escape_html(reason)
        ),
    )
}

/// The consent page of a platform whose page posts the decision back to `action`, with the
/// request's parameters carried along. `host`: the platform the fake stands in for.
pub fn page(
    shared: &Shared,
    req: &Incoming,
    read: ReadParams,
    action: &str,
    heading: &str,
    host: &str,
) -> Reply {
    if let Err(reply) = read(shared, &req.query) {
        return reply;
    }
    let hidden = hidden_inputs(&req.query);
    Reply::html(
        200,
        format!(
            r#"<!doctype html><html lang="en"><meta charset="utf-8"><title>{host} (fake)</title>
<h1>{heading}</h1>
<form method="post" action="{action}">{hidden}
<p><label for="username">Sign in as</label> <input id="username" name="username" value="demo_user" required></p>
<p><button name="decision" value="approve">Allow</button> <button name="decision" value="deny">Cancel</button></p>
</form><p><small>Evergreen's fake platform: a stand-in for {host}.</small></p>"#,
            host = escape_html(host),
            heading = escape_html(heading),
            action = escape_html(action),
        ),
    )
}

/// The decision posted back from [`page`], with codes living the fixtures'
/// `code_lifetime_secs`.
pub fn answer(shared: &Shared, req: &Incoming, read: ReadParams, fixtures: &Fixtures) -> Reply {
    let fields = req.form();
    let consent = match read(shared, &fields) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let lifetime = Duration::from_secs(fixtures.fact_u64("code_lifetime_secs"));
    decide(shared, &fields, consent, usize::MAX, lifetime)
}
