//! Calls to the platforms: which OAuth client to use, the code exchange and the identity read,
//! each as the provider's catalogue entry says.
//!
//! Errors name what failed, never a request's body or headers: those carry the client secret,
//! the code and the tokens. In test builds every platform URL is rewritten to the fake platform
//! (`FAKE_PLATFORM_URL`); release builds do not contain the rewrite at all.

use crate::core::common::ids::TenantId;
use crate::core::crypto::{Binding, Sealed};
use crate::core::grant::grant_tokens::SecretText;
use crate::core::grant::refresh_failure::RefreshFailure;
use crate::core::http::platform_answer::{self, exchange_failing};
use crate::core::oauth::catalogue::{ClientAuth, Pkce, ProviderSpec};
use crate::core::oauth::identity::{self, AccountIdentity};
use crate::core::oauth::managed_accounts;
use crate::core::oauth::token_response::{self, TokenAnswer, TokenAnswerError};
use crate::edge::common::context::Context;
use crate::edge::http::http_client;
use crate::store::tenants;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthorizationCode, Client, ClientId, ClientSecret, EndpointNotSet,
    EndpointSet, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::Duration;
use worker::D1Database;

/// The OAuth client a tenant connects through: its own, or else the deployment's.
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretText,
}

/// A tenant's own client, its secret opened.
trait OpenClient {
    fn open(self, cx: &Context, provider: &ProviderSpec) -> Result<ClientCredentials, String>;
}

impl OpenClient for tenants::Client {
    fn open(self, cx: &Context, provider: &ProviderSpec) -> Result<ClientCredentials, String> {
        let keyring = cx.keyring().map_err(|e| e.message)?;
        let secret = keyring
            .open(
                &Sealed::new(&self.key_id, self.secret_ciphertext),
                Binding {
                    purpose: "tenant_client_secret",
                    tenant_id: &self.tenant_id,
                    row_id: &provider.name,
                    version: 0,
                },
            )
            .map_err(|e| format!("tenant client secret: {e}"))?;
        let secret = String::from_utf8(secret).map_err(|_| "tenant client secret is not text")?;
        Ok(ClientCredentials {
            client_id: self.client_id,
            client_secret: SecretText::new(secret),
        })
    }
}

/// The deployment's own client for `provider`, from its variables. Bluesky's client id is the
/// URL of the client metadata Evergreen serves (`BLUESKY_CLIENT_ID`, else derived from
/// `PUBLIC_BASE_URL`), and its "secret" is the client's signing key (`kid:d`).
pub(crate) fn deployment_client(
    cx: &Context,
    provider: &ProviderSpec,
) -> Option<ClientCredentials> {
    let derived = provider.atproto.as_ref().and_then(|_| {
        crate::edge::http::public_url::configured(cx).map(|base| {
            format!(
                "{}{}",
                base.to_url(),
                crate::core::oauth::atproto::METADATA_PATH
            )
        })
    });
    let id = cx
        .text(&provider.client_id_var())
        .filter(|v| !v.is_empty())
        .or(derived);
    let secret = cx
        .text(&provider.client_secret_var())
        .filter(|v| !v.is_empty());
    id.zip(secret).map(|(client_id, secret)| ClientCredentials {
        client_id,
        client_secret: SecretText::new(secret),
    })
}

/// Every client held for `provider`: the deployment's, then each tenant's own (Meta's
/// callbacks do not say which app they are for; its signature does).
pub async fn all_clients(
    cx: &Context,
    db: &D1Database,
    provider: &ProviderSpec,
) -> Result<Vec<ClientCredentials>, String> {
    let rows = tenants::clients_for_provider(db, &provider.name)
        .await
        .map_err(|e| e.to_string())?;
    let tenants = rows
        .into_iter()
        .map(|row| row.open(cx, provider))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(deployment_client(cx, provider)
        .into_iter()
        .chain(tenants)
        .collect())
}

/// The client for `tenant_id` on `provider`, or `None` when neither the tenant nor the
/// deployment has one.
pub async fn client_credentials(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    provider: &ProviderSpec,
) -> Result<Option<ClientCredentials>, String> {
    let row = tenants::client(db, tenant_id, &provider.name)
        .await
        .map_err(|e| e.to_string())?;
    match row {
        Some(row) => row.open(cx, provider).map(Some),
        None => Ok(deployment_client(cx, provider)),
    }
}

/// Where a platform URL really goes: itself, or the fake platform in test builds.
pub fn platform_url(cx: &Context, url: &str) -> String {
    #[cfg(feature = "test-powers")]
    if let Some(fake) = cx.text("FAKE_PLATFORM_URL") {
        if let Ok(rewritten) = crate::core::oauth::provider_rewrite::rewrite(url, &fake) {
            return rewritten;
        }
    }
    let _ = cx;
    url.to_owned()
}

/// A token answer for the `oauth2` crate, read by `core::oauth::token_response` (which tolerates a
/// missing `token_type` and `expires_in`, and refuses error objects inside a 200).
#[derive(Debug)]
struct Answer {
    answer: TokenAnswer,
    access: AccessToken,
    refresh: Option<RefreshToken>,
    token_type: BasicTokenType,
}

impl<'de> Deserialize<'de> for Answer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let answer = token_response::from_value(&value).map_err(serde::de::Error::custom)?;
        Ok(Answer {
            access: AccessToken::new(answer.access_token.expose().to_owned()),
            refresh: answer
                .refresh_token
                .as_ref()
                .map(|t| RefreshToken::new(t.expose().to_owned())),
            token_type: BasicTokenType::Bearer,
            answer,
        })
    }
}

impl Serialize for Answer {
    // Required by the trait; never used, and never writes a token.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl TokenResponse for Answer {
    type TokenType = BasicTokenType;
    fn access_token(&self) -> &AccessToken {
        &self.access
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.answer.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

type TokenClient = Client<
    BasicErrorResponse,
    Answer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why an exchange produced no tokens.
pub enum ExchangeError {
    /// The platform answered, but not with usable tokens.
    Refused(String),
    /// The answer could not be used (not JSON, an error inside a 200, no access token).
    Malformed(TokenAnswerError),
    /// No answer: network, deadline, or a request we could not build.
    Failed(String),
}

impl ExchangeError {
    pub fn describe(&self) -> String {
        match self {
            ExchangeError::Refused(e) => format!("the platform refused the code: {e}"),
            ExchangeError::Malformed(e) => e.to_string(),
            ExchangeError::Failed(e) => e.clone(),
        }
    }
}

fn token_client(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    redirect_uri: Option<&str>,
) -> Result<TokenClient, ExchangeError> {
    let failed = |e: String| ExchangeError::Failed(e);
    let auth_type = match provider.client_auth {
        ClientAuth::ClientSecretBasic => AuthType::BasicAuth,
        ClientAuth::ClientSecretPost => AuthType::RequestBody,
        ClientAuth::PrivateKeyJwt => {
            return Err(failed(
                "Bluesky's token requests go through edge::oauth::atproto_client".to_owned(),
            ))
        }
    };
    let oauth = Client::new(ClientId::new(client.client_id.clone()))
        .set_client_secret(ClientSecret::new(client.client_secret.expose().to_owned()))
        .set_auth_type(auth_type)
        .set_token_uri(
            TokenUrl::new(platform_url(cx, &provider.token_url))
                .map_err(|e| failed(format!("token url: {e}")))?,
        );
    Ok(match redirect_uri {
        Some(uri) => oauth.set_redirect_uri(
            RedirectUrl::new(uri.to_owned()).map_err(|e| failed(format!("redirect uri: {e}")))?,
        ),
        None => oauth,
    })
}

/// What the `oauth2` crate does not report about a token endpoint's answer: its status and
/// `Retry-After` (seconds). It also sends the client id under the provider's name for it
/// (TikTok: `client_key`), which the crate cannot.
struct Observed<'a> {
    seen: std::cell::Cell<Option<(u16, Option<u64>)>>,
    client_id_param: &'a str,
}

impl<'a> Observed<'a> {
    fn new(provider: &'a ProviderSpec) -> Self {
        Self {
            seen: std::cell::Cell::new(None),
            client_id_param: &provider.client_id_param,
        }
    }

    async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, http_client::HttpError> {
        let request = rename_client_id(request, self.client_id_param);
        let response = http_client::send(request).await;
        if let Ok(r) = &response {
            let retry_after = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            self.seen.set(Some((r.status().as_u16(), retry_after)));
        }
        response
    }

    fn status(&self) -> Option<u16> {
        self.seen.get().map(|(status, _)| status)
    }

    fn retry_after(&self) -> Option<u64> {
        self.seen.get().and_then(|(_, retry_after)| retry_after)
    }
}

/// The form body with `client_id` sent as `param` instead (a no-op for `client_id`).
fn rename_client_id(request: oauth2::HttpRequest, param: &str) -> oauth2::HttpRequest {
    use oauth2::url::form_urlencoded::{parse, Serializer};
    if param == "client_id" {
        return request;
    }
    let (parts, body) = request.into_parts();
    let mut form = Serializer::new(String::new());
    for (k, v) in parse(&body) {
        form.append_pair(if k == "client_id" { param } else { &k }, &v);
    }
    http::Request::from_parts(parts, form.finish().into_bytes())
}

/// Exchanges an authorization code, server to server, with the provider's client
/// authentication and (where it uses PKCE) the verifier.
pub async fn exchange_code(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    redirect_uri: &str,
    code: String,
    verifier: Option<String>,
) -> Result<TokenAnswer, ExchangeError> {
    let oauth = token_client(cx, provider, client, Some(redirect_uri))?;
    let mut request = oauth.exchange_code(AuthorizationCode::new(code));
    if let (Pkce::S256, Some(verifier)) = (provider.pkce, verifier) {
        request = request.set_pkce_verifier(PkceCodeVerifier::new(verifier));
    }
    // A 5xx or 429 (the platform failing, worth retrying) is never taken for a malformed
    // answer: the observer keeps the status the `oauth2` crate drops.
    let observed = Observed::new(provider);
    let result = request.request_async(&|r| observed.send(r)).await;
    let status = observed.status();
    let platform_failing = |status| {
        exchange_failing(platform_answer::Answer {
            status,
            retry_after_secs: None,
        })
    };
    match result {
        Ok(answer) => Ok(answer.answer),
        Err(_) if platform_failing(status) => Err(ExchangeError::Failed(format!(
            "the token endpoint answered HTTP {}",
            status.unwrap_or_default()
        ))),
        Err(RequestTokenError::ServerResponse(e)) => {
            Err(ExchangeError::Refused(e.error().to_string()))
        }
        Err(RequestTokenError::Parse(_, body)) if status == Some(200) => {
            Err(match token_response::parse(&body) {
                Err(e) => ExchangeError::Malformed(e),
                Ok(_) => ExchangeError::Failed("the token answer could not be read".to_owned()),
            })
        }
        // A 200 that is not JSON at all (oauth2 checks the content type first).
        Err(RequestTokenError::Other(_)) if status == Some(200) => {
            Err(ExchangeError::Malformed(TokenAnswerError::NotJson))
        }
        Err(RequestTokenError::Parse(_, _)) | Err(RequestTokenError::Other(_)) => Err(
            ExchangeError::Refused(format!("HTTP {}", status.unwrap_or_default())),
        ),
        Err(RequestTokenError::Request(e)) => {
            Err(ExchangeError::Failed(format!("token request failed: {e}")))
        }
    }
}

/// Refreshes with `refresh_token` (RFC 6749 §6), with the provider's client authentication.
/// A failure keeps what the core needs to classify it: the status, the OAuth error and its
/// description, and `Retry-After`.
pub async fn refresh(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    refresh_token: &SecretText,
) -> Result<TokenAnswer, RefreshFailure> {
    let oauth = token_client(cx, provider, client, None).map_err(|e| {
        // Only a bad catalogue URL gets here; nothing was sent.
        RefreshFailure::Refused {
            status: 0,
            error: None,
            description: Some(e.describe()),
            retry_after_secs: None,
        }
    })?;
    let token = RefreshToken::new(refresh_token.expose().to_owned());
    let mut request = oauth.exchange_refresh_token(&token);
    for (name, value) in &provider.refresh_params {
        request = request.add_extra_param(name.clone(), value.clone());
    }
    let observed = Observed::new(provider);
    let result = request.request_async(&|r| observed.send(r)).await;
    let (status, retry_after_secs) = (observed.status().unwrap_or(0), observed.retry_after());
    let refused = |error: Option<String>, description: Option<String>| RefreshFailure::Refused {
        status,
        error,
        description,
        retry_after_secs,
    };
    match result {
        Ok(answer) => Ok(answer.answer),
        Err(RequestTokenError::Request(_)) => Err(RefreshFailure::NoAnswer),
        Err(_) if status == 200 => Err(RefreshFailure::Malformed),
        Err(RequestTokenError::ServerResponse(e)) => Err(refused(
            Some(e.error().to_string()),
            e.error_description().cloned(),
        )),
        // Not RFC 6749's shape: a platform's own `{"code", "message"}` (Pinterest's 283,
        // "The authorization grant is invalid") is read as the error and its description.
        Err(RequestTokenError::Parse(_, body)) => {
            let (error, description) = platform_error(&body);
            Err(refused(error, description))
        }
        Err(RequestTokenError::Other(_)) => Err(refused(None, None)),
    }
}

/// A platform's own error object `{"code": 283, "message": "…"}`: the code as text, and the
/// message (cut short; never a token, which these answers do not carry).
fn platform_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let code = match value.get("code") {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let message = value
        .get("message")
        .and_then(serde_json::Value::as_str)
        .map(|m| m.chars().take(300).collect());
    (code, message)
}

/// Why the identity call gave no identity.
#[derive(Debug)]
pub enum IdentityFailure {
    /// The platform refused the access token (401 or 403): it no longer works.
    TokenRefused(u16),
    /// Any other answer, no answer, or an answer we could not read.
    Failed(String),
}

impl std::fmt::Display for IdentityFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityFailure::TokenRefused(status) => {
                write!(f, "identity endpoint refused the token ({status})")
            }
            IdentityFailure::Failed(why) => f.write_str(why),
        }
    }
}

/// A GET to one of the platform's APIs with the token, and the catalogue's API headers
/// (LinkedIn-Version); the body of a 200. `what` names the call in errors.
async fn api_get(
    cx: &Context,
    provider: &ProviderSpec,
    url: &str,
    access_token: &SecretText,
    what: &str,
) -> Result<Vec<u8>, IdentityFailure> {
    let mut request = http::Request::builder()
        .method("GET")
        .uri(platform_url(cx, url))
        .header("authorization", format!("Bearer {}", access_token.expose()))
        .header("accept", "application/json");
    for (name, value) in provider.api.iter().flat_map(|a| a.call_headers()) {
        request = request.header(name, value);
    }
    let request = request
        .body(Vec::new())
        .map_err(|e| IdentityFailure::Failed(format!("{what} request: {e}")))?;
    let response = http_client::send(request)
        .await
        .map_err(|e| IdentityFailure::Failed(format!("{what} request failed: {e}")))?;
    let status = response.status().as_u16();
    // Meta answers a dead token with 400 and OAuthException 190.
    let graph_says_ended = || {
        crate::core::oauth::graph::GraphError::parse(response.body()).is_some_and(|e| {
            matches!(
                e.verdict(),
                crate::core::oauth::graph::TokenVerdict::Ended(_)
            )
        })
    };
    if status == 400 && provider.graph.is_some() && graph_says_ended() {
        return Err(IdentityFailure::TokenRefused(status));
    }
    match status {
        200 => Ok(response.into_body()),
        status @ (401 | 403) => Err(IdentityFailure::TokenRefused(status)),
        status => Err(IdentityFailure::Failed(format!(
            "{what} endpoint answered {status}"
        ))),
    }
}

/// Reads whose token this is: after a consent, and as the cheap check that a token works.
pub async fn fetch_identity(
    cx: &Context,
    provider: &ProviderSpec,
    access_token: &SecretText,
) -> Result<AccountIdentity, IdentityFailure> {
    let body = api_get(
        cx,
        provider,
        &provider.identity.url,
        access_token,
        "identity",
    )
    .await?;
    let mut account = identity::parse(&provider.identity, &body)
        .map_err(|e| IdentityFailure::Failed(e.to_string()))?;
    // On a server of a per-server platform, a local `acct` is only the user part: the handle
    // people know is `user@server`.
    if let (Some(server), Some(user)) = (&provider.server, &account.username) {
        if !user.contains('@') {
            account.username = Some(format!("{user}@{}", server.as_str()));
        }
    }
    Ok(account)
}

/// The accounts the token manages besides the profile (LinkedIn: the pages the member
/// administers), named where the platform has a lookup; none for other platforms.
pub async fn fetch_managed_accounts(
    cx: &Context,
    provider: &ProviderSpec,
    access_token: &SecretText,
) -> Result<Vec<AccountIdentity>, IdentityFailure> {
    let Some(spec) = provider
        .managed_accounts
        .as_ref()
        .filter(|_| provider.graph.is_none())
    else {
        // Facebook's Pages come with their tokens (`fetch_pages`).
        return Ok(Vec::new());
    };
    let failed =
        |e: crate::core::oauth::identity::IdentityError| IdentityFailure::Failed(e.to_string());
    if spec.kind == managed_accounts::BOARD_KIND {
        let list = api_get(cx, provider, &spec.list_url, access_token, "board list").await?;
        return managed_accounts::parse_boards(&list).map_err(failed);
    }
    let list = api_get(cx, provider, &spec.list_url, access_token, "role list").await?;
    let ids = managed_accounts::parse_list(&list).map_err(failed)?;
    let names = match managed_accounts::names_url(spec, &ids) {
        // A names lookup that fails leaves the accounts unnamed, not unconnected.
        Some(url) => api_get(cx, provider, &url, access_token, "names")
            .await
            .ok(),
        None => None,
    };
    Ok(managed_accounts::accounts(spec, &ids, names.as_deref()))
}

/// Revokes `token` at the platform (RFC 7009), with the provider's client authentication.
/// Whether it worked, or why not; never the token. (By hand rather than through `oauth2`,
/// which refuses a revocation URL that is not https, as the test build's rewrite makes it.)
pub async fn revoke(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    token: &SecretText,
    is_refresh_token: bool,
) -> Result<(), String> {
    use base64::Engine;
    use oauth2::url::form_urlencoded::{byte_serialize, Serializer};
    let Some(url) = &provider.revoke_url else {
        return Err("the platform has no revocation endpoint".to_owned());
    };
    let hint = if is_refresh_token {
        "refresh_token"
    } else {
        "access_token"
    };
    let mut form = Serializer::new(String::new());
    form.append_pair("token", token.expose())
        .append_pair("token_type_hint", hint);
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(platform_url(cx, url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json");
    match provider.client_auth {
        ClientAuth::ClientSecretBasic => {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let enc = |v: &str| byte_serialize(v.as_bytes()).collect::<String>();
            let pair = format!(
                "{}:{}",
                enc(&client.client_id),
                enc(client.client_secret.expose())
            );
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            request = request.header("authorization", format!("Basic {basic}"));
        }
        ClientAuth::ClientSecretPost => {
            form.append_pair(&provider.client_id_param, &client.client_id)
                .append_pair("client_secret", client.client_secret.expose());
        }
        ClientAuth::PrivateKeyJwt => {
            return Err("Bluesky revokes through edge::oauth::atproto_client".to_owned())
        }
    }
    let request = request
        .body(form.finish().into_bytes())
        .map_err(|e| format!("revocation request: {e}"))?;
    match http_client::send(request).await {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(format!(
            "the revocation endpoint answered HTTP {}",
            answer.status().as_u16()
        )),
        Err(e) => Err(format!("the revocation request failed: {e}")),
    }
}

/// A GET of one of Meta's Graph calls whose URL carries secrets (`graph.rs` builds them): the
/// status and body. Its errors never include the URL.
async fn graph_get(cx: &Context, url: &str) -> Result<(u16, Vec<u8>), String> {
    let request = http::Request::builder()
        .method("GET")
        .uri(platform_url(cx, url))
        .header("accept", "application/json")
        .body(Vec::new())
        .map_err(|_| "the Graph request could not be built".to_owned())?;
    match http_client::send(request).await {
        Ok(response) => Ok((response.status().as_u16(), response.into_body())),
        Err(http_client::HttpError::Timeout) => Err("the Graph call timed out".to_owned()),
        Err(_) => Err("the Graph call got no answer".to_owned()),
    }
}

/// Meta's long-lived exchange, right after the code exchange: a short-lived user token
/// (Facebook, `fb_exchange_token`) or Instagram token (`ig_exchange_token`) for one that
/// lives about 60 days. Providers without a Graph dialect keep what the code exchange gave.
pub async fn exchange_long_lived(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    answer: TokenAnswer,
) -> Result<TokenAnswer, ExchangeError> {
    let Some(graph) = &provider.graph else {
        return Ok(answer);
    };
    let url = crate::core::oauth::graph::long_lived_url(
        graph,
        &client.client_id,
        client.client_secret.expose(),
        answer.access_token.expose(),
    );
    let (status, body) = graph_get(cx, &url).await.map_err(ExchangeError::Failed)?;
    match status {
        200 => token_response::parse(&body)
            .map(|long| TokenAnswer {
                // The code exchange's granted scopes (Instagram's `permissions`) stand.
                scope: long.scope.or(answer.scope),
                ..long
            })
            .map_err(ExchangeError::Malformed),
        _ if exchange_failing(platform_answer::Answer::status(status)) => Err(
            ExchangeError::Failed(format!("the long-lived exchange answered HTTP {status}")),
        ),
        _ => Err(ExchangeError::Refused(graph_error_text(&body, status))),
    }
}

/// A Graph error as text for people: Meta's message and codes, never a token.
fn graph_error_text(body: &[u8], status: u16) -> String {
    match crate::core::oauth::graph::GraphError::parse(body) {
        Some(e) => format!(
            "{} (code {}{})",
            e.message,
            e.code,
            e.subcode
                .map_or_else(String::new, |s| format!(", subcode {s}"))
        ),
        None => format!("HTTP {status}"),
    }
}

/// Instagram's refresh: the long-lived access token itself is exchanged for a new one
/// (`ig_refresh_token`). An OAuthException 190 is Meta's word that the grant ended.
pub async fn refresh_access_token(
    cx: &Context,
    provider: &ProviderSpec,
    access_token: &SecretText,
) -> Result<TokenAnswer, RefreshFailure> {
    let Some(url) = provider
        .graph
        .as_ref()
        .and_then(|g| crate::core::oauth::graph::refresh_url(g, access_token.expose()))
    else {
        return Err(RefreshFailure::Refused {
            status: 0,
            error: None,
            description: Some("the platform has no access-token refresh".to_owned()),
            retry_after_secs: None,
        });
    };
    let (status, body) = graph_get(cx, &url)
        .await
        .map_err(|_| RefreshFailure::NoAnswer)?;
    if status == 200 {
        return token_response::parse(&body).map_err(|_| RefreshFailure::Malformed);
    }
    let error = crate::core::oauth::graph::GraphError::parse(&body);
    if let Some(crate::core::oauth::graph::TokenVerdict::Ended(reason)) =
        error.as_ref().map(|e| e.verdict())
    {
        return Err(RefreshFailure::Ended(reason));
    }
    Err(RefreshFailure::Refused {
        status,
        error: error.as_ref().map(|e| format!("graph_{}", e.code)),
        description: error.map(|e| e.message),
        retry_after_secs: None,
    })
}

/// `debug_token` on `input_token` with the app token: what Meta says about it, or why the
/// call told nothing (then it is not Meta's word on the token).
pub async fn debug_token(
    cx: &Context,
    provider: &ProviderSpec,
    client: &ClientCredentials,
    input_token: &SecretText,
) -> Result<crate::core::oauth::graph::TokenDebug, String> {
    let url = provider
        .graph
        .as_ref()
        .and_then(|g| {
            crate::core::oauth::graph::debug_token_url(
                g,
                &client.client_id,
                client.client_secret.expose(),
                input_token.expose(),
            )
        })
        .ok_or("the platform has no debug_token")?;
    let (status, body) = graph_get(cx, &url).await?;
    match (status, crate::core::oauth::graph::TokenDebug::parse(&body)) {
        (200, Some(debug)) => Ok(debug),
        _ => Err(format!(
            "debug_token told nothing: {}",
            graph_error_text(&body, status)
        )),
    }
}

/// Facebook: the Pages the user token manages that it may post to, each with its Page token.
pub async fn fetch_pages(
    cx: &Context,
    provider: &ProviderSpec,
    user_token: &SecretText,
) -> Result<Vec<crate::core::oauth::graph::ManagedPage>, IdentityFailure> {
    let Some(spec) = &provider.managed_accounts else {
        return Ok(Vec::new());
    };
    let body = api_get(cx, provider, &spec.list_url, user_token, "page list").await?;
    crate::core::oauth::graph::parse_pages(&body)
        .map_err(|e| IdentityFailure::Failed(format!("the page list: {e}")))
}
