//! Calls to the platforms: which OAuth client to use, the code exchange and the identity read.
//!
//! Errors name what failed, never a request's body or headers: those carry the client secret,
//! the code and the tokens. In test builds every platform URL is rewritten to the fake platform
//! (`FAKE_PLATFORM_URL`); release builds do not contain the rewrite at all.

use super::http_client;
use crate::core::crypto::{Binding, Sealed};
use crate::core::grant_tokens::{SecretText, TokenSet};
use crate::core::identity::{self, AccountIdentity};
use crate::core::providers::Provider;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;
use worker::{D1Database, Env};

/// The OAuth client a tenant connects through: its own, or else the deployment's.
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretText,
}

#[derive(Deserialize)]
struct TenantClientRow {
    client_id: String,
    secret_ciphertext: String,
    key_id: String,
}

/// The client for `tenant_id` on `provider`, or `None` when neither the tenant nor the
/// deployment has one.
pub async fn client_credentials(
    env: &Env,
    db: &D1Database,
    tenant_id: &str,
    provider: Provider,
) -> Result<Option<ClientCredentials>, String> {
    let row: Option<TenantClientRow> = db
        .prepare(
            "SELECT client_id, secret_ciphertext, key_id FROM tenant_clients \
             WHERE tenant_id = ?1 AND provider = ?2",
        )
        .bind(&[tenant_id.into(), provider.name().into()])
        .map_err(|e| e.to_string())?
        .first(None)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(row) = row {
        let keyring = super::bindings::keyring(env).map_err(|e| e.message)?;
        let secret = keyring
            .open(
                &Sealed::new(&row.key_id, row.secret_ciphertext),
                Binding {
                    purpose: "tenant_client_secret",
                    tenant_id,
                    row_id: provider.name(),
                    version: 0,
                },
            )
            .map_err(|e| format!("tenant client secret: {e}"))?;
        let secret = String::from_utf8(secret).map_err(|_| "tenant client secret is not text")?;
        return Ok(Some(ClientCredentials {
            client_id: row.client_id,
            client_secret: SecretText::new(secret),
        }));
    }
    let endpoints = provider.endpoints();
    let id = super::bindings::text(env, endpoints.client_id_var).filter(|v| !v.is_empty());
    let secret = super::bindings::text(env, endpoints.client_secret_var).filter(|v| !v.is_empty());
    Ok(id.zip(secret).map(|(client_id, secret)| ClientCredentials {
        client_id,
        client_secret: SecretText::new(secret),
    }))
}

/// Where a platform URL really goes: itself, or the fake platform in test builds.
pub fn platform_url(env: &Env, url: &str) -> String {
    #[cfg(feature = "test-powers")]
    if let Some(fake) = super::bindings::text(env, "FAKE_PLATFORM_URL") {
        if let Ok(rewritten) = crate::core::provider_rewrite::rewrite(url, &fake) {
            return rewritten;
        }
    }
    let _ = env;
    url.to_owned()
}

/// What a code exchange produced.
pub struct Exchanged {
    pub tokens: TokenSet,
    pub expires_in: Option<u64>,
    /// Scopes as granted, space-separated, when the platform says.
    pub scopes: Option<String>,
}

/// Exchanges an authorization code, server to server: PKCE verifier, HTTP Basic client auth
/// (the `oauth2` crate's default; the secret never goes into the body).
pub async fn exchange_code(
    env: &Env,
    provider: Provider,
    client: &ClientCredentials,
    redirect_uri: &str,
    code: String,
    verifier: String,
) -> Result<Exchanged, String> {
    let endpoints = provider.endpoints();
    let oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_client_secret(ClientSecret::new(client.client_secret.expose().to_owned()))
        .set_token_uri(
            TokenUrl::new(platform_url(env, endpoints.token))
                .map_err(|e| format!("token url: {e}"))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| format!("redirect uri: {e}"))?,
        );
    let answer = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http_client::send)
        .await;
    match answer {
        Ok(tokens) => Ok(Exchanged {
            tokens: TokenSet {
                access_token: SecretText::new(tokens.access_token().secret().clone()),
                refresh_token: tokens
                    .refresh_token()
                    .map(|t| SecretText::new(t.secret().clone())),
            },
            expires_in: tokens.expires_in().map(|d| d.as_secs()),
            scopes: tokens.scopes().map(|scopes| {
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        }),
        Err(RequestTokenError::ServerResponse(e)) => {
            Err(format!("the platform refused the code: {}", e.error()))
        }
        Err(RequestTokenError::Request(e)) => Err(format!("token request failed: {e}")),
        Err(RequestTokenError::Parse(_, _)) => Err("unparseable token response".to_owned()),
        Err(RequestTokenError::Other(e)) => Err(format!("token exchange failed: {e}")),
    }
}

/// Reads who consented, with the new access token.
pub async fn fetch_identity(
    env: &Env,
    provider: Provider,
    access_token: &SecretText,
) -> Result<AccountIdentity, String> {
    let request = http::Request::builder()
        .method("GET")
        .uri(platform_url(env, provider.endpoints().identity))
        .header("authorization", format!("Bearer {}", access_token.expose()))
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|e| format!("identity request: {e}"))?;
    let response = http_client::send(request)
        .await
        .map_err(|e| format!("identity request failed: {e}"))?;
    if response.status() != 200 {
        return Err(format!("identity endpoint answered {}", response.status()));
    }
    identity::parse(provider, response.body()).map_err(|e| e.to_string())
}
