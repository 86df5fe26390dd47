//! Reconnect links as tokens: minting one for a connection, checking one, and starting the
//! consent it grants. The link handlers (`reconnect.rs`) and the connections page both use them.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::origin::Origin;
use crate::core::links::connections_page::account_label;
use crate::core::links::reconnect_links::{self, LinkClaims, LinkError};
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::connect_sessions::LINK_TTL_MS;
use crate::core::oauth::flow_errors::FlowError;
use crate::edge::common::context::Context;
use crate::edge::http::respond::Handled;
use crate::edge::oauth::flow::Stop;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::{D1Database, Request, Response};

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
pub(crate) struct Usable {
    pub(crate) claims: LinkClaims,
    pub(crate) provider: String,
    pub(crate) end_user_ref: String,
    pub(crate) account: String,
    /// The account's handle at the platform (Bluesky's consent starts from it).
    pub(crate) username: Option<String>,
}

/// The link's claims, checked: signature, expiry, epoch, nonce, connection still there.
pub(crate) async fn check(cx: &Context, token: &str, now: Timestamp) -> Result<Usable, Stop> {
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
    let username = row.username.clone();
    let account = account_label(row.username, row.display_name, "your account");
    Ok(Usable {
        claims,
        provider: row.provider,
        end_user_ref: row.end_user_ref,
        account,
        username,
    })
}

pub(crate) fn refusal(e: LinkError) -> Stop {
    Stop::new(match e {
        LinkError::Invalid => FlowError::InvalidReconnectLink,
        LinkError::Expired => FlowError::ReconnectLinkExpired,
        LinkError::Stale => FlowError::ReconnectLinkStale,
        LinkError::Used => FlowError::ReconnectLinkUsed,
    })
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
    // Bluesky: the consent goes to wherever the account is now, found from its handle.
    let spec = crate::edge::oauth::flow::provider_spec(cx, &usable.provider)?;
    let found = match (&spec.atproto, &usable.username) {
        (Some(_), Some(handle)) => Some(
            crate::edge::oauth::atproto_client::discover(cx, &spec, handle)
                .await
                .map_err(|e| Stop::because(FlowError::ProviderError, e.0))?,
        ),
        _ => None,
    };
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
    let session = crate::edge::oauth::oauth_start::OpenedSession {
        id,
        tenant_id: usable.claims.tenant_id,
        provider: usable.provider,
        return_url: return_url.to_owned(),
    };
    crate::edge::oauth::oauth_start::start_oauth(req, cx, session, found.as_ref(), now).await
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
