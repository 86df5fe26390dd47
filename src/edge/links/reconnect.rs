//! Reconnect links (`core::links::reconnect_links`): minted through the API, opened in a browser.
//!
//! `GET /reconnect/{token}` only shows a page with a Reconnect button, so a link scanner that
//! fetches the link uses nothing up. The button (`POST`) checks the link again and starts the
//! consent through a connect session that remembers the grant, its epoch and the nonce; the
//! callback stores through the grant's object, which checks them once more and consumes the
//! nonce in the same batch that restores the grant (`grants::store_in_object`). Opening the
//! page or abandoning the consent leaves the link usable.

use crate::core::common::clock::Timestamp;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::pages::{content_security_policy_with_form_target, Page};
use crate::core::links::reconnect_links::{self};
use crate::edge::common::context::Context;
use crate::edge::http::public_url;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::links::reconnect_tokens;
use crate::edge::oauth::flow::finish;
use crate::edge::tenancy::caller::Caller;
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
    let minted =
        reconnect_tokens::mint(cx, db, &caller.tenant_id, None, connection_id, days, now).await?;
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

/// `GET /reconnect/{token}`: the page with the button.
pub async fn page(cx: &Context, token: &str, now: Timestamp) -> worker::Result<Response> {
    let usable = match reconnect_tokens::check(cx, token, now).await {
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
        &content_security_policy_with_form_target(&reconnect_tokens::consent_origin(
            cx,
            cx.catalogue()
                .ok()
                .as_deref()
                .and_then(|c| c.resolve(&usable.provider))
                .as_deref(),
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
    let outcome = reconnect_tokens::begin(&req, cx, token, "", now).await;
    finish(outcome, None, "reconnect.refused")
}
