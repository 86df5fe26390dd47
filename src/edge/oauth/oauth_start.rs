//! Starting the OAuth round trip for an opened session (a connect link or a reconnect button):
//! the binding cookie, the OAuth session (state and PKCE verifier, sealed), the redirect to the
//! platform's consent page.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::common::ids::TenantId;
use crate::core::common::log::LogLine;
use crate::core::crypto::digest::sha256_hex;
use crate::core::crypto::es256::Es256Key;
use crate::core::crypto::Binding;
use crate::core::grant::grant_tokens::{DpopBinding, SecretText};
use crate::core::http::query::with_params;
use crate::core::oauth::binding_cookie;
use crate::core::oauth::connect_sessions::OAUTH_TTL_MS;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::pkce;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::public_url;
use crate::edge::http::respond::{self};
use crate::edge::oauth::atproto_client;
use crate::edge::oauth::flow::{self, Stop};
use crate::edge::oauth::platform;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::{Request, Response};

/// The seal purpose of a PKCE verifier (bound to the OAuth session's state hash).
pub const VERIFIER_PURPOSE: &str = "pkce_verifier";
/// The seal purpose of a Bluesky round trip's context (bound the same way).
pub const CONTEXT_PURPOSE: &str = "atproto_context";

#[derive(Deserialize)]
pub(crate) struct OpenedSession {
    pub id: crate::core::common::ids::ConnectSessionId,
    pub tenant_id: TenantId,
    pub provider: String,
    pub return_url: String,
}

/// Starts the OAuth round trip for an opened session (connect link or reconnect button).
/// `account`: for Bluesky, where discovery found the account (the consent is pushed to its
/// authorization server first, and the browser sent there with the `request_uri`).
pub(crate) async fn start_oauth(
    req: &Request,
    cx: &Context,
    session: OpenedSession,
    account: Option<&atproto_client::Discovered>,
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
    let cookie = match binding_cookie::read(req.headers().get("cookie")?.as_deref(), &origin) {
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
    let challenge = pkce::challenge(&verifier);
    let pushed = match provider.atproto {
        None => None,
        Some(_) => {
            let found = account.ok_or_else(|| {
                Stop::because(
                    FlowError::Internal,
                    "a Bluesky consent starts from a handle",
                )
            })?;
            let request = (redirect_uri.as_str(), state.as_str(), challenge.as_str());
            Some(push(cx, &client, found, request, &session.tenant_id, &state_hash).await?)
        }
    };
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
            context_ciphertext: pushed.as_ref().map(|p| p.context.as_str()),
        }))
        .await?;
    if inserted != 1 {
        return Err(Stop::because(
            FlowError::Internal,
            "no OAuth session stored",
        ));
    }
    log_opened(&session, &provider.name);
    let authorize = match pushed {
        Some(p) => platform::platform_url(cx, &p.authorize),
        None => platform::platform_url(
            cx,
            &provider.authorize_url(&client.client_id, &redirect_uri, &state, Some(&challenge)),
        ),
    };
    Ok(respond::redirect(
        &authorize,
        Some(&binding_cookie::set_cookie(
            &origin,
            &cookie,
            OAUTH_TTL_MS / 1000,
        )),
    )?)
}

/// A Bluesky consent pushed to the account's authorization server: where to send the browser,
/// and the round trip's context, sealed.
struct PushedConsent {
    authorize: String,
    context: String,
}

/// `request`: the redirect URI, the state and the PKCE challenge.
async fn push(
    cx: &Context,
    client: &platform::ClientCredentials,
    found: &atproto_client::Discovered,
    (redirect_uri, state, challenge): (&str, &str, &str),
    tenant_id: &TenantId,
    state_hash: &str,
) -> Result<PushedConsent, Stop> {
    let at = atproto_client::AtClient::of(client)
        .map_err(|e| Stop::because(FlowError::ProviderNotConfigured, e))?;
    let key = Es256Key::generate().map_err(|e| Stop::because(FlowError::Internal, e.0))?;
    let (request_uri, nonce) = atproto_client::push_authorization(
        cx,
        &at,
        &atproto_client::Pushed {
            key: &key,
            server: &found.server,
            redirect_uri,
            state,
            code_challenge: challenge,
            login_hint: &found.handle,
        },
    )
    .await
    .map_err(|e| Stop::because(FlowError::ProviderError, e))?;
    let binding = DpopBinding {
        key: SecretText::new(key.secret()),
        did: found.did.clone(),
        handle: found.handle.clone(),
        pds: found.pds.clone(),
        issuer: found.server.issuer.clone(),
        token_endpoint: found.server.token_endpoint.clone(),
        revocation_endpoint: found.server.revocation_endpoint.clone(),
        auth_nonce: nonce,
        pds_nonce: None,
    };
    let bytes = serde_json::to_vec(&binding)
        .map_err(|e| Stop::because(FlowError::Internal, e.to_string()))?;
    let sealed = cx.keyring()?.seal(
        Binding {
            purpose: CONTEXT_PURPOSE,
            tenant_id,
            row_id: state_hash,
            version: 0,
        },
        &bytes,
    )?;
    Ok(PushedConsent {
        authorize: with_params(
            &found.server.authorization_endpoint,
            &[("client_id", &at.client_id), ("request_uri", &request_uri)],
        ),
        context: sealed.blob,
    })
}

fn log_opened(session: &OpenedSession, provider: &str) {
    logging::emit(
        &LogLine::info("connect.opened", clock::real_now())
            .field("connect_session_id", session.id.as_str())
            .field("tenant_id", session.tenant_id.as_str())
            .field("provider", provider),
    );
}
