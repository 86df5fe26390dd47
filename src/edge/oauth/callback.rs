//! `GET /oauth/callback`: where every platform sends the browser back.
//!
//! The session is found by the hash of `state` and consumed at once (single use), the checks in
//! `core::oauth::oauth_callback` run, and only then is the code exchanged (PKCE, HTTP Basic), the
//! identity read, and the grant written through its Durable Object. Then the browser goes to
//! the tenant's return URL with the connection id. A failure before the session is found shows
//! a page; after, it redirects to the session's return URL with an `error` code.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::crypto::{Binding, Sealed};
use crate::core::grant::grant_expiry::Lifetimes;
use crate::core::grant::grant_tokens::TokenSet;
use crate::core::http::pages::Page;
use crate::core::http::query::with_params;
use crate::core::oauth::binding_cookie;
use crate::core::oauth::catalogue::GraphDialect;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::oauth_callback::{check, CallbackParams, SessionFacts};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::grants::{self};
use crate::edge::grant::grant_object::protocol::{NewConnection, StoreGrant, StoreOutcome};
use crate::edge::http::public_url;
use crate::edge::oauth::connect::VERIFIER_PURPOSE;
use crate::edge::oauth::flow::{self, finish, Stop};
use crate::edge::oauth::platform;
use crate::edge::oauth::platform::ExchangeError;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::{Request, Response};

#[derive(Deserialize)]
struct Session {
    connect_session_id: String,
    binding_hash: String,
    verifier_ciphertext: String,
    key_id: String,
    redirect_uri: String,
    expires_at: f64,
    tenant_id: TenantId,
    provider: String,
    end_user_ref: String,
    return_url: String,
    reconnect_grant_id: Option<GrantId>,
    reconnect_epoch: Option<f64>,
    reconnect_nonce: Option<String>,
}

pub async fn handle(req: Request, cx: &Context, now: Timestamp) -> worker::Result<Response> {
    let params = CallbackParams::from_url(&req.inner().url());
    let found = match find_session(cx, &params).await {
        Ok(found) => found,
        Err(stop) => return finish(Err(stop), None, "connect.callback_refused"),
    };
    let Some((state_hash, session)) = found else {
        return finish(
            Err(Stop::new(FlowError::InvalidState)),
            None,
            "connect.callback_refused",
        );
    };
    // A reconnect link's session has no return URL: its outcome is a page.
    let return_url = Some(session.return_url.clone()).filter(|u| !u.is_empty());
    let outcome = complete(&req, cx, &params, &state_hash, session, now).await;
    finish(outcome, return_url.as_deref(), "connect.callback_refused")
}

async fn find_session(
    cx: &Context,
    params: &CallbackParams,
) -> Result<Option<(String, Session)>, Stop> {
    let Some(state_hash) = params.state_hash() else {
        return Ok(None);
    };
    let session: Option<Session> = cx
        .db()?
        .first(store::sessions::find_oauth(&state_hash))
        .await?;
    Ok(session.map(|s| (state_hash, s)))
}

// Exception to the 80-line limit: the callback's steps in order (consume the state, check, exchange, identity, Meta's Pages, store); Facebook's rules move to a core planner next (issue 29).
#[allow(clippy::too_many_lines)]
async fn complete(
    req: &Request,
    cx: &Context,
    params: &CallbackParams,
    state_hash: &str,
    session: Session,
    now: Timestamp,
) -> Result<Response, Stop> {
    let db = cx.db()?;
    // Single use: whatever happens next, this state cannot be presented again.
    let consumed = db
        .write(store::sessions::consume_oauth(state_hash, now))
        .await?;
    let origin = public_url::origin(cx, req)
        .ok_or_else(|| Stop::because(FlowError::Internal, "the request has no usable origin"))?;
    let cookie = binding_cookie::read(req.headers().get("cookie")?.as_deref(), &origin);
    let facts = SessionFacts {
        expires_at: time(session.expires_at),
        consumed_now: consumed == 1,
        binding_hash: session.binding_hash.clone(),
    };
    let code = check(params, &facts, cookie.as_deref(), now)?;

    let provider = &flow::provider_spec(cx, &session.provider)?;
    let keyring = cx.keyring()?;
    let verifier = keyring.open(
        &Sealed::new(&session.key_id, session.verifier_ciphertext.clone()),
        Binding {
            purpose: VERIFIER_PURPOSE,
            tenant_id: &session.tenant_id,
            row_id: state_hash,
            version: 0,
        },
    )?;
    let verifier = String::from_utf8(verifier)
        .map_err(|_| Stop::because(FlowError::Internal, "the PKCE verifier is not text"))?;
    let client = platform::client_credentials(cx, &db, &session.tenant_id, provider)
        .await
        .map_err(|e| Stop::because(FlowError::Internal, e))?
        .ok_or(FlowError::ProviderNotConfigured)?;
    let exchanged = platform::exchange_code(
        cx,
        provider,
        &client,
        &session.redirect_uri,
        code,
        Some(verifier),
    )
    .await
    .map_err(exchange_stop)?;
    let exchanged_at = clock::now(cx).await?;
    // Declined scopes: nothing is stored, so such a grant can never look healthy.
    let declined = provider.declined_scopes(exchanged.scope.as_deref());
    if !declined.is_empty() {
        let named = declined.join(" ");
        return Err(
            Stop::because(FlowError::ScopesDeclined, format!("declined: {named}"))
                .with_detail("declined", named),
        );
    }
    // Meta: the short-lived token for a long-lived one, before anything else uses it.
    let mut exchanged = platform::exchange_long_lived(cx, provider, &client, exchanged)
        .await
        .map_err(exchange_stop)?;
    let account = platform::fetch_identity(cx, provider, &exchanged.access_token)
        .await
        .map_err(|e| Stop::because(FlowError::IdentityFailed, e.to_string()))?;
    // The pages the account manages (LinkedIn), each a connection of its own.
    let mut managed = platform::fetch_managed_accounts(cx, provider, &exchanged.access_token)
        .await
        .map_err(|e| Stop::because(FlowError::IdentityFailed, e.to_string()))?;
    // Facebook: the Pages, each with its own token; the user is not a connection, and the
    // user token's 60 days do not bound the Page tokens it was used to read.
    let mut account_tokens = std::collections::BTreeMap::new();
    if provider.dialect() == Some(GraphDialect::Facebook) {
        let pages = platform::fetch_pages(cx, provider, &exchanged.access_token)
            .await
            .map_err(|e| Stop::because(FlowError::IdentityFailed, e.to_string()))?;
        if pages.is_empty() {
            return Err(Stop::new(FlowError::NoPostableAccounts));
        }
        for page in pages {
            account_tokens.insert(page.identity.external_id.clone(), page.token);
            managed.push(page.identity);
        }
        exchanged.expires_in = None;
    }
    let profile = provider.profile_is_connection().then(|| account.clone());

    // A reconnect link restores its grant (its object refuses another account); any other
    // consent for an account this end user already connected updates that grant.
    let (grant_id, reconnect) = match (
        session.reconnect_grant_id.clone(),
        session.reconnect_epoch,
        session.reconnect_nonce.clone(),
    ) {
        (Some(grant_id), Some(epoch), Some(nonce)) => (
            grant_id,
            Some(crate::edge::grant::grant_object::protocol::ReconnectCheck {
                epoch: epoch as i64,
                nonce,
            }),
        ),
        _ => {
            let existing = same_account_grant(
                &db,
                &session,
                &provider.name,
                &account.external_id,
                &client.client_id,
            )
            .await?;
            (existing.map_or_else(GrantId::mint, Ok)?, None)
        }
    };
    let stored = grants::store(
        cx,
        StoreGrant {
            grant_id,
            tenant_id: session.tenant_id.clone(),
            provider: provider.name.clone(),
            provider_account_id: account.external_id.clone(),
            client_id: client.client_id.clone(),
            end_user_ref: session.end_user_ref.clone(),
            scopes: exchanged.scope.clone(),
            issued_at: exchanged_at,
            lifetimes: Lifetimes {
                expires_in: exchanged.expires_in,
                refresh_expires_in: exchanged.refresh_expires_in,
            },
            tokens: TokenSet {
                access_token: exchanged.access_token,
                refresh_token: exchanged.refresh_token,
                account_tokens,
            },
            connections: profile
                .into_iter()
                .chain(managed)
                .map(|a| NewConnection {
                    kind: a.kind,
                    external_id: a.external_id,
                    display_name: a.display_name,
                    username: a.username,
                })
                .collect(),
            reconnect,
        },
    )
    .await?;
    let stored = match stored {
        StoreOutcome::Stored(stored) => stored,
        // Nothing was written: the tokens of this consent are dropped.
        StoreOutcome::LinkStale => return Err(Stop::new(FlowError::ReconnectLinkStale)),
        StoreOutcome::LinkUsed => return Err(Stop::new(FlowError::ReconnectLinkUsed)),
        StoreOutcome::WrongAccount => return Err(Stop::new(FlowError::ReconnectWrongAccount)),
    };
    logging::emit(
        &LogLine::info("connect.completed", clock::real_now())
            .field("connect_session_id", session.connect_session_id.as_str())
            .field("tenant_id", session.tenant_id.as_str())
            .field("provider", provider.name.as_str())
            .field("grant_id", stored.grant_id.as_str())
            .field("connection_id", stored.connection_id.as_str())
            .field("grant_version", stored.version),
    );
    if session.return_url.is_empty() {
        return Ok(crate::edge::http::respond::page(
            &Page::new(200, "Reconnected", "Your account is connected again.")
                .paragraph(
                    "Everything that used this connection works again. You can close this page.",
                )
                .detail("Connection", &stored.connection_id),
        )?);
    }
    // The account's own connection, and every connection the consent stored (LinkedIn: the
    // member, then the pages they administer).
    Ok(crate::edge::http::respond::redirect(
        &with_params(
            &session.return_url,
            &[
                ("connection_id", &stored.connection_id),
                ("connection_ids", &stored.connection_ids.join(",")),
            ],
        ),
        None,
    )?)
}

/// A failed exchange (the code's, or Meta's long-lived one) as the flow's stop.
fn exchange_stop(e: ExchangeError) -> Stop {
    let error = match e {
        ExchangeError::Malformed(_) => FlowError::InvalidTokenResponse,
        _ => FlowError::ExchangeFailed,
    };
    Stop::because(error, e.describe())
}

/// The end user's live grant for the same account through the same client, if any.
async fn same_account_grant(
    db: &worker::D1Database,
    session: &Session,
    provider: &str,
    account_id: &str,
    client_id: &str,
) -> worker::Result<Option<GrantId>> {
    #[derive(Deserialize)]
    struct Existing {
        id: GrantId,
    }
    let existing: Option<Existing> = db
        .first(store::grants::same_account(
            &session.tenant_id,
            provider,
            account_id,
            client_id,
            &session.end_user_ref,
        ))
        .await?;
    Ok(existing.map(|e| e.id))
}
