//! Starting the OAuth round trip for an opened session (a connect link or a reconnect button):
//! the binding cookie, the OAuth session (state and PKCE verifier, sealed), the redirect to the
//! platform's consent page.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::common::ids::TenantId;
use crate::core::common::log::LogLine;
use crate::core::crypto::digest::sha256_hex;
use crate::core::crypto::Binding;
use crate::core::oauth::binding_cookie;
use crate::core::oauth::connect_sessions::OAUTH_TTL_MS;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::pkce;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::public_url;
use crate::edge::http::respond::{self};
use crate::edge::oauth::flow::{self, Stop};
use crate::edge::oauth::platform;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::{Request, Response};

/// The seal purpose of a PKCE verifier (bound to the OAuth session's state hash).
pub const VERIFIER_PURPOSE: &str = "pkce_verifier";

#[derive(Deserialize)]
pub(crate) struct OpenedSession {
    pub id: crate::core::common::ids::ConnectSessionId,
    pub tenant_id: TenantId,
    pub provider: String,
    pub return_url: String,
}

/// Starts the OAuth round trip for an opened session (connect link or reconnect button).
pub(crate) async fn start_oauth(
    req: &Request,
    cx: &Context,
    session: OpenedSession,
    now: Timestamp,
) -> Result<Response, Stop> {
    let db = cx.db()?;
    let provider = &flow::provider_spec(cx, &session.provider)?;
    let client = platform::client_credentials(cx, &db, &session.tenant_id, provider)
        .await
        .map_err(|e| Stop::because(FlowError::Internal, e))?
        .ok_or(FlowError::ProviderNotConfigured)?;
    let origin = public_url::origin(cx, req)
        .ok_or_else(|| Stop::because(FlowError::Internal, "the request has no usable origin"))?;
    let cookie = binding_cookie::read(req.headers().get("cookie")?.as_deref(), &origin);
    let cookie = match cookie {
        Some(existing) => existing,
        None => new_secret()?,
    };
    let state = new_secret()?;
    let state_hash = sha256_hex(&state);
    let verifier = pkce::new_verifier()?;
    let sealed = cx.keyring()?.seal(
        Binding {
            purpose: VERIFIER_PURPOSE,
            tenant_id: &session.tenant_id,
            row_id: &state_hash,
            version: 0,
        },
        verifier.as_bytes(),
    )?;
    let redirect_uri = public_url::callback_url(&origin);
    let inserted = db
        .write(store::sessions::create_oauth(&store::sessions::NewOauth {
            state_hash: &state_hash,
            connect_session_id: &session.id,
            binding_hash: &sha256_hex(&cookie),
            verifier_ciphertext: &sealed.blob,
            key_id: sealed.key_id.as_str(),
            redirect_uri: &redirect_uri,
            now,
            expires_at: now.plus_millis(OAUTH_TTL_MS),
        }))
        .await?;
    if inserted != 1 {
        return Err(Stop::because(
            FlowError::Internal,
            "the OAuth session was not stored",
        ));
    }
    logging::emit(
        &LogLine::info("connect.opened", clock::real_now())
            .field("connect_session_id", session.id.as_str())
            .field("tenant_id", session.tenant_id.as_str())
            .field("provider", provider.name.as_str()),
    );
    let authorize = platform::platform_url(
        cx,
        &provider.authorize_url(
            &client.client_id,
            &redirect_uri,
            &state,
            Some(&pkce::challenge(&verifier)),
        ),
    );
    Ok(respond::redirect(
        &authorize,
        Some(&binding_cookie::set_cookie(
            &origin,
            &cookie,
            OAUTH_TTL_MS / 1000,
        )),
    )?)
}
