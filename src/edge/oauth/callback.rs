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
use crate::core::grant::grant_tokens::{DpopBinding, TokenSet};
use crate::core::http::pages::Page;
use crate::core::http::query::with_params;
use crate::core::oauth::binding_cookie;
use crate::core::oauth::catalogue::{GraphDialect, ProviderSpec};
use crate::core::oauth::consented_accounts::{self, Connected, Found};
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::identity::AccountIdentity;
use crate::core::oauth::oauth_callback::{check, CallbackParams, SessionFacts};
use crate::core::oauth::token_response::TokenAnswer;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::grants::{self};
use crate::edge::grant::grant_object::protocol::{
    NewConnection, ReconnectCheck, StoreGrant, StoreOutcome, Stored,
};
use crate::edge::http::public_url;
use crate::edge::oauth::flow::{self, finish, Stop};
use crate::edge::oauth::oauth_start::VERIFIER_PURPOSE;
use crate::edge::oauth::platform;
use crate::edge::oauth::platform::{ClientCredentials, ExchangeError};
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
    context_ciphertext: Option<String>,
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

/// The callback's steps in order: consume the state and check it, exchange the code, read
/// the accounts, store through the grant's object, answer the browser.
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
    let client = platform::client_credentials(cx, &db, &session.tenant_id, provider)
        .await
        .map_err(|e| Stop::because(FlowError::Internal, e))?
        .ok_or(FlowError::ProviderNotConfigured)?;
    let (exchanged, exchanged_at, account, connected, dpop) = match &session.context_ciphertext {
        // Bluesky: the account and its DPoP key come with the round trip.
        Some(context) => {
            exchange_atproto(cx, params, &client, &session, state_hash, code, context).await?
        }
        None => {
            let (exchanged, exchanged_at) =
                exchange(cx, provider, &client, &session, state_hash, code).await?;
            let (account, connected) = accounts(cx, provider, &exchanged).await?;
            (exchanged, exchanged_at, account, connected, None)
        }
    };
    let (grant_id, reconnect) =
        grant_for(&db, &session, provider, &account, &client.client_id).await?;
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
                expires_in: connected.expires_in,
                refresh_expires_in: exchanged.refresh_expires_in,
            },
            tokens: TokenSet {
                access_token: exchanged.access_token,
                refresh_token: exchanged.refresh_token,
                account_tokens: connected.account_tokens,
                dpop,
            },
            connections: connected
                .connections
                .into_iter()
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
    answer(&session, provider, &stored)
}

/// The code for tokens (PKCE's verifier opened from the session), then Meta's long-lived
/// exchange; refused when the person declined a scope the provider needs, so such a grant
/// never looks healthy. Also the moment the platform answered.
async fn exchange(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    session: &Session,
    state_hash: &str,
    code: String,
) -> Result<(TokenAnswer, Timestamp), Stop> {
    let verifier = open_verifier(cx, session, state_hash)?;
    let redirect_uri = &session.redirect_uri;
    let exchanged =
        platform::exchange_code(cx, provider, client, redirect_uri, code, Some(verifier))
            .await
            .map_err(exchange_stop)?;
    let exchanged_at = clock::now(cx).await?;
    let declined = provider.declined_scopes(exchanged.scope.as_deref());
    if !declined.is_empty() {
        let named = declined.join(" ");
        return Err(
            Stop::because(FlowError::ScopesDeclined, format!("declined: {named}"))
                .with_detail("declined", named),
        );
    }
    // Meta: the short-lived token for a long-lived one, before anything else uses it.
    let exchanged = platform::exchange_long_lived(cx, provider, client, exchanged)
        .await
        .map_err(exchange_stop)?;
    Ok((exchanged, exchanged_at))
}

/// What a consent produced: the token answer, when, the account, what it connects, and (for
/// Bluesky) the grant's DPoP binding.
type Consented = (
    TokenAnswer,
    Timestamp,
    AccountIdentity,
    Connected,
    Option<Box<DpopBinding>>,
);

/// Bluesky's callback: the issuer checked against the one the consent was pushed to, the code
/// exchanged with DPoP and a client assertion, the tokens' account checked against the one
/// discovery found.
async fn exchange_atproto(
    cx: &Context,
    params: &CallbackParams,
    client: &ClientCredentials,
    session: &Session,
    state_hash: &str,
    code: String,
    context: &str,
) -> Result<Consented, Stop> {
    let mut binding = open_context(cx, session, state_hash, context)?;
    if params.iss.as_deref() != Some(binding.issuer.as_str()) {
        return Err(Stop::because(
            FlowError::IssuerMismatch,
            format!(
                "the callback's iss is {:?}, the consent went to {:?}",
                params.iss, binding.issuer
            ),
        ));
    }
    let verifier = open_verifier(cx, session, state_hash)?;
    let at = crate::edge::oauth::atproto_client::AtClient::of(client)
        .map_err(|e| Stop::because(FlowError::ProviderNotConfigured, e))?;
    let (exchanged, sub) = crate::edge::oauth::atproto_client::exchange_code(
        cx,
        &at,
        &mut binding,
        &code,
        &verifier,
        &session.redirect_uri,
    )
    .await
    .map_err(|e| Stop::because(FlowError::ExchangeFailed, e))?;
    if sub != binding.did {
        return Err(Stop::because(
            FlowError::ExchangeFailed,
            "the tokens are for another account than the one the consent was for",
        ));
    }
    let exchanged_at = clock::now(cx).await?;
    let account = AccountIdentity {
        kind: "profile".to_owned(),
        external_id: binding.did.clone(),
        display_name: None,
        username: Some(binding.handle.clone()),
    };
    let connected = Connected {
        connections: vec![account.clone()],
        account_tokens: Default::default(),
        expires_in: exchanged.expires_in,
    };
    Ok((
        exchanged,
        exchanged_at,
        account,
        connected,
        Some(Box::new(binding)),
    ))
}

/// The session's PKCE verifier, opened.
fn open_verifier(cx: &Context, session: &Session, state_hash: &str) -> Result<String, Stop> {
    let verifier = cx.keyring()?.open(
        &Sealed::new(&session.key_id, session.verifier_ciphertext.clone()),
        Binding {
            purpose: VERIFIER_PURPOSE,
            tenant_id: &session.tenant_id,
            row_id: state_hash,
            version: 0,
        },
    )?;
    String::from_utf8(verifier)
        .map_err(|_| Stop::because(FlowError::Internal, "the PKCE verifier is not text"))
}

/// A Bluesky round trip's context (what discovery found, the grant's DPoP key), opened.
fn open_context(
    cx: &Context,
    session: &Session,
    state_hash: &str,
    context: &str,
) -> Result<DpopBinding, Stop> {
    let bytes = cx.keyring()?.open(
        &Sealed::new(&session.key_id, context.to_owned()),
        Binding {
            purpose: crate::edge::oauth::oauth_start::CONTEXT_PURPOSE,
            tenant_id: &session.tenant_id,
            row_id: state_hash,
            version: 0,
        },
    )?;
    serde_json::from_slice(&bytes).map_err(|_| {
        Stop::because(
            FlowError::Internal,
            "the round trip's context is unreadable",
        )
    })
}

/// The consenting account, and what the consent connects (the core's
/// [`consented_accounts::connected`]: Facebook's Pages, LinkedIn's organizations).
async fn accounts(
    cx: &Context,
    provider: &ProviderSpec,
    exchanged: &TokenAnswer,
) -> Result<(AccountIdentity, Connected), Stop> {
    let failed =
        |e: platform::IdentityFailure| Stop::because(FlowError::IdentityFailed, e.to_string());
    let token = &exchanged.access_token;
    let profile = platform::fetch_identity(cx, provider, token)
        .await
        .map_err(failed)?;
    let managed = platform::fetch_managed_accounts(cx, provider, token)
        .await
        .map_err(failed)?;
    let pages = match provider.dialect() {
        Some(GraphDialect::Facebook) => Some(
            platform::fetch_pages(cx, provider, token)
                .await
                .map_err(failed)?,
        ),
        _ => None,
    };
    let found = Found {
        profile: profile.clone(),
        managed,
        pages,
        expires_in: exchanged.expires_in,
    };
    Ok((profile, consented_accounts::connected(provider, found)?))
}

/// The grant the consent goes to: a reconnect link's own (its object refuses another
/// account), else the end user's grant for the same account through the same client, else a
/// new one.
async fn grant_for(
    db: &worker::D1Database,
    session: &Session,
    provider: &ProviderSpec,
    account: &AccountIdentity,
    client_id: &str,
) -> Result<(GrantId, Option<ReconnectCheck>), Stop> {
    if let (Some(grant_id), Some(epoch), Some(nonce)) = (
        session.reconnect_grant_id.clone(),
        session.reconnect_epoch,
        session.reconnect_nonce.clone(),
    ) {
        let check = ReconnectCheck {
            epoch: epoch as i64,
            nonce,
        };
        return Ok((grant_id, Some(check)));
    }
    let existing =
        same_account_grant(db, session, &provider.name, &account.external_id, client_id).await?;
    Ok((existing.map_or_else(GrantId::mint, Ok)?, None))
}

/// The browser's answer once stored: a page for a reconnect without a return URL, else the
/// return URL with the connections stored (LinkedIn: the member, then the pages they
/// administer).
fn answer(session: &Session, provider: &ProviderSpec, stored: &Stored) -> Result<Response, Stop> {
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
