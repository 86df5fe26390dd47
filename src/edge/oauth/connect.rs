//! Connect sessions: `POST /v1/connect-sessions` makes a single-use link, and `GET
//! /connect/{secret}` opens it: binding cookie, OAuth session (state and PKCE verifier, sealed),
//! then a redirect to the platform's consent page. The rules are in `core::oauth::connect_sessions`.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::connect_sessions::{check_open, link_url, ConnectRequest, LINK_TTL_MS};
use crate::core::oauth::flow_errors::FlowError;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::http::public_url;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::oauth::flow::{finish, Stop};
use crate::edge::oauth::oauth_start::{start_oauth, OpenedSession};
use crate::edge::oauth::platform;
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Request, Response};

/// `POST /v1/connect-sessions`.
pub async fn create_session(
    mut req: Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    now: Timestamp,
) -> Handled {
    let body: ConnectRequest = respond::read_json(&mut req).await?;
    let allow_list = crate::store::tenants::return_urls(db, &caller.tenant_id).await?;
    let catalogue = cx.catalogue()?;
    let valid = body.validate(&catalogue, &allow_list)?;
    let spec = valid.provider;
    // A per-server platform's app is registered on each server as people name theirs.
    let configured = match spec.per_server {
        Some(_) => true,
        None => platform::client_credentials(cx, db, &caller.tenant_id, spec)
            .await
            .map_err(worker::Error::RustError)?
            .is_some(),
    };
    if !configured {
        return Err(ApiError::new(
            ErrorCode::ProviderNotConfigured,
            format!(
                "No OAuth client for {}: the operator sets {} and {} on the deployment, or a \
                 client for this tenant with PUT /admin/tenants/{{id}}/clients/{}.",
                spec.name,
                spec.client_id_var(),
                spec.client_secret_var(),
                spec.name
            ),
        )
        .into());
    }
    let Some(origin) = public_url::origin(cx, &req) else {
        return Err(Internal::NoOrigin.into());
    };
    let secret = new_secret()?;
    let id = crate::core::common::ids::ConnectSessionId::mint()?;
    let expires_at = now.plus_millis(LINK_TTL_MS);
    db.write(store::sessions::create_connect(
        &store::sessions::NewConnect {
            id: &id,
            token_hash: &sha256_hex(&secret),
            tenant_id: &caller.tenant_id,
            provider: &spec.name,
            end_user_ref: &valid.end_user_ref,
            return_url: &valid.return_url,
            now,
            expires_at,
        },
    ))
    .await?;
    Ok(respond::json(
        201,
        &json!({
            "id": id,
            "url": link_url(&origin.to_url(), &secret),
            "provider": spec.name,
            "end_user_ref": valid.end_user_ref,
            "return_url": valid.return_url,
            "expires_at": expires_at.to_rfc3339(),
        }),
    )?)
}

#[derive(Deserialize)]
struct FoundSession {
    provider: String,
    expires_at: f64,
    opened_at: Option<f64>,
    return_url: String,
}

/// `GET /connect/{secret}`.
pub async fn open_link(
    req: Request,
    cx: &Context,
    secret: &str,
    now: Timestamp,
) -> worker::Result<Response> {
    let token_hash = sha256_hex(secret);
    // A per-server platform's link asks for the server first, and opens when it is named.
    if let Ok(Some(s)) = peek(cx, &token_hash).await {
        let openable = s.opened_at.is_none() && check_open(time(s.expires_at), None, now).is_ok();
        if let Some(ask) = openable
            .then(|| crate::edge::oauth::per_server::asks_first(cx, &s.provider))
            .flatten()
        {
            return crate::edge::oauth::per_server::server_form(cx, ask, secret, "", None);
        }
    }
    let found = match claim(cx, &token_hash, now).await {
        Ok(found) => found,
        Err(stop) => return finish(Err(stop), None, "connect.open_refused"),
    };
    match found {
        Ok(session) => {
            let return_url = session.return_url.clone();
            let outcome = start_oauth(&req, cx, session, None, now).await;
            finish(outcome, Some(&return_url), "connect.open_refused")
        }
        Err((stop, return_url)) => finish(Err(stop), return_url.as_deref(), "connect.open_refused"),
    }
}

/// The link's session as it stands, without opening it.
async fn peek(cx: &Context, token_hash: &str) -> worker::Result<Option<FoundSession>> {
    Ok(cx
        .db()?
        .first(store::sessions::find_connect(token_hash))
        .await?)
}

/// Marks the session opened, once. `Err((why, return_url))` when it cannot be opened; the
/// return URL is there only if the session exists.
async fn claim(
    cx: &Context,
    token_hash: &str,
    now: Timestamp,
) -> Result<Result<OpenedSession, (Stop, Option<String>)>, Stop> {
    let db = cx.db()?;
    let opened: Option<OpenedSession> = db
        .first(store::sessions::open_connect(token_hash, now))
        .await?;
    if let Some(session) = opened {
        return Ok(Ok(session));
    }
    let found: Option<FoundSession> = db.first(store::sessions::find_connect(token_hash)).await?;
    Ok(Err(match found {
        None => (Stop::new(FlowError::UnknownConnectLink), None),
        Some(s) => {
            // Opened between the two statements counts as used.
            let why = check_open(time(s.expires_at), s.opened_at.map(time), now)
                .err()
                .unwrap_or(FlowError::ConnectLinkUsed);
            (Stop::new(why), Some(s.return_url))
        }
    }))
}
