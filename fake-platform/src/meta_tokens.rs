//! The long-lived token calls Instagram and Threads share (Meta's Graph, each on its own host
//! and with its own grant types): the exchange of a short-lived token for a 60-day one, and
//! the renewal of a long-lived token at least a day old and unexpired, for another 60 days.
//! Each platform's fixtures give the lifetimes and the OAuthException body.

use crate::facebook::{ended_message, oauth_error};
use crate::fixtures::Fixtures;
use crate::http::{Incoming, Reply};
use crate::state::{Inner, Shared};
use serde_json::json;
use std::time::Duration;

fn long_lived_answer(inner: &mut Inner, fx: &Fixtures, grant: usize) -> Reply {
    let lifetime = fx.fact_u64("long_lived_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    fx.render(
        "token_issued",
        &[
            ("access_token", json!(access)),
            ("expires_in", json!(lifetime)),
        ],
    )
}

/// `GET access_token?grant_type={grant_type}&client_secret=…&access_token=…`.
pub fn exchange(shared: &Shared, req: &Incoming, fx: &Fixtures, grant_type: &str) -> Reply {
    let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    if q("grant_type") != grant_type {
        inner.reject(
            "token",
            &format!("the exchange needs grant_type={grant_type}"),
        );
        return oauth_error(fx, 100, None, "Unsupported grant_type.");
    }
    let grant = match inner.meta_token_grant(&q("access_token")) {
        Ok(grant) => grant,
        Err(subcode) => return oauth_error(fx, 190, subcode, ended_message(subcode)),
    };
    let client = inner.grants[grant].client_id.clone();
    if inner.clients.get(&client) != Some(&q("client_secret")) {
        inner.reject("token", "the exchange needs the app's client_secret");
        return oauth_error(fx, 101, None, "Error validating client secret.");
    }
    long_lived_answer(&mut inner, fx, grant)
}

/// `GET refresh_access_token?grant_type={grant_type}&access_token=…`.
pub fn refresh(shared: &Shared, req: &Incoming, fx: &Fixtures, grant_type: &str) -> Reply {
    let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
    let mut inner = shared.lock();
    if q("grant_type") != grant_type {
        inner.reject(
            "token",
            &format!("the refresh needs grant_type={grant_type}"),
        );
        return oauth_error(fx, 100, None, "Unsupported grant_type.");
    }
    let token = q("access_token");
    let grant = match inner.meta_token_grant(&token) {
        Ok(grant) => grant,
        Err(subcode) => {
            inner.reject("token", "an expired or ended token cannot be refreshed");
            return oauth_error(fx, 190, subcode, ended_message(subcode));
        }
    };
    let account_id = inner.grants[grant].account_id.clone();
    let lifetime = Duration::from_secs(fx.fact_u64("long_lived_secs"));
    let issued_at = inner.access_tokens[&token].expires_at - lifetime;
    let min_age = Duration::from_secs(fx.fact_u64("refresh_min_age_secs"));
    if inner.now_for(&account_id) < issued_at + min_age {
        inner.reject("token", "a token younger than 24 hours cannot be refreshed");
        return oauth_error(
            fx,
            100,
            None,
            "The access token must be at least 24 hours old to be refreshed.",
        );
    }
    if let Some(c) = inner.counters_mut(&account_id) {
        c.token_refresh += 1;
    }
    long_lived_answer(&mut inner, fx, grant)
}
