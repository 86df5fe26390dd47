//! Reconnect links (`core::links::reconnect_links`): minted through the API, opened in a browser.
//!
//! `GET /reconnect/{token}` only shows a page with a Reconnect button, so a link scanner that
//! fetches the link uses nothing up. The button (`POST`) checks the link again and starts the
//! consent through a connect session that remembers the grant, its epoch and the nonce; the
//! callback stores through the grant's object, which checks them once more and consumes the
//! nonce in the same batch that restores the grant (`grants::store_in_object`). Opening the
//! page or abandoning the consent leaves the link usable.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::origin::Origin;
use crate::core::http::pages::{content_security_policy_with_form_target, Page};
use crate::core::links::connections_page::account_label;
use crate::core::links::reconnect_links::{self, LinkClaims, LinkError};
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::connect_sessions::LINK_TTL_MS;
use crate::core::oauth::flow_errors::FlowError;
use crate::edge::common::context::Context;
use crate::edge::http::public_url;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::oauth::connect;
use crate::edge::oauth::flow::{finish, Stop};
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Request, Response};

/// `POST /v1/connections/{id}/reconnect-link`.
pub async fn create_link(
    req: &Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    connection_id: &str,
    now: Timestamp,
) -> Handled {
    let days = cx.settings().reconnect_link_days;
    let minted = mint(cx, db, &caller.tenant_id, None, connection_id, days, now).await?;
    let (token, claims) = minted.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("No connection {connection_id}."),
        )
    })?;
    let origin = public_url::origin(cx, req).ok_or(Internal::NoOrigin)?;
    Ok(respond::json(
        201,
        &json!({
            "connection_id": connection_id,
            "url": reconnect_links::link_url(&origin.to_url(), &token),
            "expires_at": Timestamp::from_millis(claims.expires_at).to_rfc3339(),
        }),
    )?)
}

/// A signed link (its token and claims) for the tenant's live connection `connection_id`
/// (of `end_user` only, when given), valid `ttl_days`; `None` when there is no such
/// connection holding tokens.
pub(crate) async fn mint(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    end_user: Option<&str>,
    connection_id: &str,
    ttl_days: u16,
    now: Timestamp,
) -> Handled<Option<(String, LinkClaims)>> {
    #[derive(Deserialize)]
    struct Row {
        grant_id: GrantId,
        epoch: f64,
    }
    let row: Option<Row> = db
        .first(store::connections::reconnectable(
            connection_id,
            tenant_id,
            end_user,
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let claims = reconnect_links::new_claims(
        &row.grant_id,
        row.epoch as i64,
        tenant_id,
        connection_id,
        ttl_days,
        now,
    )?;
    let token = reconnect_links::sign(&claims, &*cx.keyring()?);
    Ok(Some((token, claims)))
}

/// What a usable link is about.
struct Usable {
    claims: LinkClaims,
    provider: String,
    end_user_ref: String,
    account: String,
}

/// The link's claims, checked: signature, expiry, epoch, nonce, connection still there.
async fn check(cx: &Context, token: &str, now: Timestamp) -> Result<Usable, Stop> {
    let keyring = cx.keyring()?;
    let claims = reconnect_links::verify(token, &keyring, now).map_err(refusal)?;
    #[derive(Deserialize)]
    struct Row {
        epoch: f64,
        provider: String,
        end_user_ref: String,
        has_tokens: f64,
        display_name: Option<String>,
        username: Option<String>,
        live: f64,
        consumed: f64,
    }
    let row: Option<Row> = cx
        .db()?
        .first(store::connections::reconnect_link_standing(
            &claims.grant_id,
            &claims.tenant_id,
            &claims.nonce,
            &claims.connection_id,
        ))
        .await?;
    let epoch = row
        .as_ref()
        .filter(|r| r.live == 1.0 && r.has_tokens == 1.0)
        .map(|r| r.epoch as i64);
    let consumed = row.as_ref().is_some_and(|r| r.consumed == 1.0);
    reconnect_links::check_use(claims.epoch, epoch, consumed).map_err(refusal)?;
    let row = row.ok_or(FlowError::ReconnectLinkStale)?;
    let account = account_label(row.username, row.display_name, "your account");
    Ok(Usable {
        claims,
        provider: row.provider,
        end_user_ref: row.end_user_ref,
        account,
    })
}

fn refusal(e: LinkError) -> Stop {
    Stop::new(match e {
        LinkError::Invalid => FlowError::InvalidReconnectLink,
        LinkError::Expired => FlowError::ReconnectLinkExpired,
        LinkError::Stale => FlowError::ReconnectLinkStale,
        LinkError::Used => FlowError::ReconnectLinkUsed,
    })
}

/// `GET /reconnect/{token}`: the page with the button.
pub async fn page(cx: &Context, token: &str, now: Timestamp) -> worker::Result<Response> {
    let usable = match check(cx, token, now).await {
        Ok(usable) => usable,
        Err(stop) => return finish(Err(stop), None, "reconnect.refused"),
    };
    let page = Page::new(200, "Reconnect", "Reconnect your account")
        .paragraph(&format!(
            "This restores the connection to {} on {}, with everything that used it. You will \
             sign in at the platform and allow access again.",
            usable.account, usable.provider
        ))
        .detail(
            "Link valid until",
            &Timestamp::from_millis(usable.claims.expires_at).to_rfc3339(),
        )
        .button(
            &format!("{}{token}", reconnect_links::PATH),
            &format!("Reconnect {}", usable.account),
        );
    let mut response = respond::page(&page)?;
    // The button's answer redirects to the platform's consent page.
    response.headers_mut().set(
        "content-security-policy",
        &content_security_policy_with_form_target(&consent_origin(
            cx,
            cx.catalogue()
                .ok()
                .as_deref()
                .and_then(|c| c.get(&usable.provider)),
        )),
    )?;
    Ok(response)
}

/// `POST /reconnect/{token}`: the button. A connect session that remembers the reconnect,
/// then the platform's consent.
pub async fn start(
    req: Request,
    cx: &Context,
    token: &str,
    now: Timestamp,
) -> worker::Result<Response> {
    let outcome = begin(&req, cx, token, "", now).await;
    finish(outcome, None, "reconnect.refused")
}

/// The consent for link `token`, checked again. The callback sends the browser to
/// `return_url` (the connections page) afterwards, or shows Evergreen's own page when it is
/// empty.
pub(crate) async fn begin(
    req: &Request,
    cx: &Context,
    token: &str,
    return_url: &str,
    now: Timestamp,
) -> Result<Response, Stop> {
    let usable = check(cx, token, now).await?;
    let db = cx.db()?;
    let id = crate::core::common::ids::ConnectSessionId::mint()?;
    // The session is opened at once: nobody holds a secret for it.
    db.write(store::sessions::create_reconnect(
        &store::sessions::NewReconnect {
            session: store::sessions::NewConnect {
                id: &id,
                token_hash: &sha256_hex(&new_secret()?),
                tenant_id: &usable.claims.tenant_id,
                provider: &usable.provider,
                end_user_ref: &usable.end_user_ref,
                return_url,
                now,
                expires_at: now.plus_millis(LINK_TTL_MS),
            },
            grant_id: &usable.claims.grant_id,
            epoch: usable.claims.epoch,
            nonce: &usable.claims.nonce,
        },
    ))
    .await?;
    let session = connect::OpenedSession {
        id,
        tenant_id: usable.claims.tenant_id,
        provider: usable.provider,
        return_url: return_url.to_owned(),
    };
    connect::start_oauth(req, cx, session, now).await
}

/// The origin of a provider's consent page, for a page whose form is answered with a
/// redirect there (browsers apply `form-action` to redirects); empty when unknown.
pub(crate) fn consent_origin(cx: &Context, spec: Option<&ProviderSpec>) -> String {
    spec.and_then(|p| {
        Origin::of(&crate::edge::oauth::platform::platform_url(
            cx,
            &p.authorize_url,
        ))
    })
    .map(|o| o.to_url())
    .unwrap_or_default()
}
