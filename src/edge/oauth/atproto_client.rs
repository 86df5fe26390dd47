//! Bluesky's OAuth at the edge (the rules are `core::oauth::atproto`): discovery from a handle,
//! pushed authorization, the code exchange and refreshes with `private_key_jwt` and DPoP,
//! revocation, the PDS calls a DPoP-bound token makes, and the client metadata and JWKS
//! Evergreen serves at public URLs (its client id is the metadata's URL).
//!
//! Every request that carries a DPoP proof is sent once more, with the server's new nonce,
//! when the server answers `use_dpop_nonce`; a proof is never sent twice (each has its own
//! `jti`). No error names a token, a proof or an assertion.

use crate::core::common::ids::new_secret;
use crate::core::crypto::es256::Es256Key;
use crate::core::grant::grant_tokens::{DpopBinding, SecretText};
use crate::core::grant::refresh_failure::RefreshFailure;
use crate::core::http::query::form;
use crate::core::oauth::atproto::{self, AuthServer, DiscoveryError};
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::identity::AccountIdentity;
use crate::core::oauth::token_response::{self, TokenAnswer};
use crate::edge::common::context::Context;
use crate::edge::common::wall_clock::real_now;
use crate::edge::http::http_client::{self, HttpError};
use crate::edge::http::public_url;
use crate::edge::oauth::platform::{platform_url, ClientCredentials, IdentityFailure};
use serde_json::{json, Value};
use std::time::Duration;
use worker::{Request, Response};

use crate::core::oauth::atproto::JWKS_PATH;

/// Evergreen as a Bluesky client: its id (the metadata's URL) and its signing key.
pub struct AtClient {
    pub client_id: String,
    kid: String,
    key: Es256Key,
}

impl AtClient {
    /// From the deployment's client: the secret is `kid:d` (the key's id and secret scalar).
    pub fn of(client: &ClientCredentials) -> Result<Self, String> {
        let (kid, d) = client
            .client_secret
            .expose()
            .split_once(':')
            .ok_or("BLUESKY_CLIENT_SECRET is `kid:key`, the key base64url")?;
        let key = Es256Key::from_secret(d).map_err(|e| format!("BLUESKY_CLIENT_SECRET: {e}"))?;
        Ok(Self {
            client_id: client.client_id.clone(),
            kid: kid.to_owned(),
            key,
        })
    }

    fn assertion(&self, audience: &str) -> Result<String, String> {
        Ok(atproto::client_assertion(
            &self.key,
            &self.kid,
            &self.client_id,
            audience,
            &jti()?,
            now_secs(),
        ))
    }

    /// The form fields that authenticate the client to `issuer`.
    fn authentication(&self, issuer: &str) -> Result<Vec<(&'static str, String)>, String> {
        Ok(vec![
            ("client_id", self.client_id.clone()),
            ("client_assertion_type", atproto::ASSERTION_TYPE.to_owned()),
            ("client_assertion", self.assertion(issuer)?),
        ])
    }
}

fn jti() -> Result<String, String> {
    new_secret().map_err(|e| e.to_string())
}

fn now_secs() -> i64 {
    real_now().as_millis() / 1000
}

/// An answer: status, the nonce header, `WWW-Authenticate`, the body.
struct Answered {
    status: u16,
    nonce: Option<String>,
    www_authenticate: Option<String>,
    body: Vec<u8>,
}

fn answered(response: oauth2::HttpResponse) -> Answered {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Answered {
        status: response.status().as_u16(),
        nonce: header("dpop-nonce"),
        www_authenticate: header("www-authenticate"),
        body: response.body().clone(),
    }
}

// Eight parts, each its own: a struct would only rename them.
#[allow(clippy::too_many_arguments)]
/// A request with a DPoP proof signed by `key` (and `Authorization: DPoP <token>` when
/// `access` is given), sent again once with the server's nonce if it asks for one. The answer
/// and the last nonce the server gave.
async fn with_dpop(
    cx: &Context,
    method: &str,
    url: &str,
    content: Option<(&str, Vec<u8>)>,
    key: &Es256Key,
    access: Option<&SecretText>,
    mut nonce: Option<String>,
    deadline: Duration,
) -> Result<(Answered, Option<String>), HttpError> {
    for attempt in 0..2 {
        let proof = atproto::dpop_proof(
            key,
            method,
            url,
            nonce.as_deref(),
            access.map(SecretText::expose),
            &jti().map_err(HttpError::Build)?,
            now_secs(),
        );
        let mut request = http::Request::builder()
            .method(method)
            .uri(platform_url(cx, url))
            .header("accept", "application/json")
            .header("dpop", proof);
        if let Some(token) = access {
            request = request.header("authorization", format!("DPoP {}", token.expose()));
        }
        let body = match &content {
            Some((content_type, bytes)) => {
                request = request.header("content-type", *content_type);
                bytes.clone()
            }
            None => Vec::new(),
        };
        let request = request
            .body(body)
            .map_err(|e| HttpError::Build(e.to_string()))?;
        let answer = answered(http_client::send_within(request, deadline).await?);
        let asks = atproto::wants_nonce(
            answer.status,
            &answer.body,
            answer.www_authenticate.as_deref(),
        );
        let fresh = answer.nonce.clone().filter(|n| Some(n) != nonce.as_ref());
        match (asks, fresh, attempt) {
            (true, Some(new), 0) => nonce = Some(new),
            _ => {
                let last = answer.nonce.clone().or(nonce);
                return Ok((answer, last));
            }
        }
    }
    unreachable_answer()
}

/// The loop above always returns; this keeps the function total without a panic.
fn unreachable_answer() -> Result<(Answered, Option<String>), HttpError> {
    Err(HttpError::Network("no answer".to_owned()))
}

fn form_body(fields: &[(&str, String)]) -> (&'static str, Vec<u8>) {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    (
        "application/x-www-form-urlencoded",
        form(&pairs).into_bytes(),
    )
}

/// A GET of public JSON (or text) during discovery: the body of a 200, else why not.
async fn fetch(cx: &Context, url: &str, what: &str) -> Result<Vec<u8>, DiscoveryError> {
    let request = http::Request::builder()
        .method("GET")
        .uri(platform_url(cx, url))
        .header("accept", "application/json, text/plain")
        .body(Vec::new())
        .map_err(|e| DiscoveryError(format!("{what}: {e}")))?;
    match http_client::send_within(request, Duration::from_secs(10)).await {
        Ok(r) if r.status().as_u16() == 200 => Ok(r.body().clone()),
        Ok(r) => Err(DiscoveryError(format!(
            "Evergreen could not find that account: {what} answered {}.",
            r.status().as_u16()
        ))),
        Err(e) => Err(DiscoveryError(format!(
            "Evergreen could not find that account: {what} did not answer ({e})."
        ))),
    }
}

/// Where an account is: its DID, its PDS and its authorization server.
pub struct Discovered {
    pub handle: String,
    pub did: String,
    pub pds: String,
    pub server: AuthServer,
}

/// From a handle to its authorization server, every step checked (`core::oauth::atproto`).
pub async fn discover(
    cx: &Context,
    spec: &ProviderSpec,
    typed: &str,
) -> Result<Discovered, DiscoveryError> {
    let handle = atproto::handle(typed)?;
    let plc = spec
        .atproto
        .as_ref()
        .map_or("https://plc.directory", |a| a.plc_directory.as_str());
    let did_text = fetch(cx, &atproto::handle_did_url(&handle), "the handle").await?;
    let did = atproto::parse_did(&String::from_utf8_lossy(&did_text))?;
    let document_url = atproto::did_document_url(&did, plc)
        .ok_or_else(|| DiscoveryError("The account's DID cannot be resolved.".into()))?;
    let document = fetch(cx, &document_url, "the DID directory").await?;
    let pds = atproto::pds_of(&document, &did, &handle)?;
    let resource = fetch(
        cx,
        &format!("{pds}/.well-known/oauth-protected-resource"),
        "the account's server",
    )
    .await?;
    let issuer = atproto::authorization_server(&resource)?;
    let metadata = fetch(
        cx,
        &format!("{issuer}/.well-known/oauth-authorization-server"),
        "the authorization server",
    )
    .await?;
    let server = atproto::auth_server(&issuer, &metadata)?;
    Ok(Discovered {
        handle,
        did,
        pds,
        server,
    })
}

/// What a pushed authorization request needs besides the client.
pub struct Pushed<'a> {
    pub key: &'a Es256Key,
    pub server: &'a AuthServer,
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub login_hint: &'a str,
}

/// PAR (RFC 9126): the `request_uri` to send the browser with, and the server's nonce.
pub async fn push_authorization(
    cx: &Context,
    client: &AtClient,
    p: &Pushed<'_>,
) -> Result<(String, Option<String>), String> {
    let mut fields = vec![
        ("response_type", "code".to_owned()),
        ("redirect_uri", p.redirect_uri.to_owned()),
        ("scope", atproto::SCOPE.to_owned()),
        ("state", p.state.to_owned()),
        ("code_challenge", p.code_challenge.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("login_hint", p.login_hint.to_owned()),
    ];
    fields.extend(client.authentication(&p.server.issuer)?);
    let (answer, nonce) = with_dpop(
        cx,
        "POST",
        &p.server.par_endpoint,
        Some(form_body(&fields)),
        p.key,
        None,
        None,
        http_client::DEADLINE,
    )
    .await
    .map_err(|e| format!("the authorization server did not answer: {e}"))?;
    if !matches!(answer.status, 200 | 201) {
        return Err(format!(
            "the authorization server refused the request ({}{})",
            answer.status,
            oauth_error(&answer.body)
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        ));
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v.get("request_uri")?.as_str().map(str::to_owned))
        .map(|uri| (uri, nonce))
        .ok_or_else(|| "the authorization server gave no request_uri".to_owned())
}

/// The OAuth `error` of an answer, if it has one (never anything secret).
fn oauth_error(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(body)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_owned)
}

/// The code for DPoP-bound tokens; the token answer and the account (`sub`) it is for.
pub async fn exchange_code(
    cx: &Context,
    client: &AtClient,
    binding: &mut DpopBinding,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<(TokenAnswer, String), String> {
    let key = Es256Key::from_secret(binding.key.expose()).map_err(|e| e.to_string())?;
    let mut fields = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("code_verifier", verifier.to_owned()),
    ];
    fields.extend(client.authentication(&binding.issuer)?);
    let (answer, nonce) = with_dpop(
        cx,
        "POST",
        &binding.token_endpoint,
        Some(form_body(&fields)),
        &key,
        None,
        binding.auth_nonce.clone(),
        http_client::DEADLINE,
    )
    .await
    .map_err(|e| format!("the token endpoint did not answer: {e}"))?;
    binding.auth_nonce = nonce;
    if answer.status != 200 {
        return Err(format!(
            "the token endpoint refused the code ({}{})",
            answer.status,
            oauth_error(&answer.body)
                .map(|e| format!(", {e}"))
                .unwrap_or_default()
        ));
    }
    let tokens = token_response::parse(&answer.body).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if !v
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop"))
    {
        return Err("the tokens are not DPoP-bound".to_owned());
    }
    let sub = v
        .get("sub")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or("the token answer names no account")?;
    Ok((tokens, sub))
}

/// A refresh with the grant's key; the failure classes the core knows.
pub async fn refresh(
    cx: &Context,
    client: &ClientCredentials,
    binding: &DpopBinding,
    refresh_token: &SecretText,
) -> Result<TokenAnswer, RefreshFailure> {
    let refused = |description: String| RefreshFailure::Refused {
        status: 0,
        error: None,
        description: Some(description),
        retry_after_secs: None,
    };
    let client = AtClient::of(client).map_err(refused)?;
    let key = Es256Key::from_secret(binding.key.expose()).map_err(|e| refused(e.to_string()))?;
    let mut fields = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.expose().to_owned()),
    ];
    fields.extend(client.authentication(&binding.issuer).map_err(refused)?);
    let (answer, _) = with_dpop(
        cx,
        "POST",
        &binding.token_endpoint,
        Some(form_body(&fields)),
        &key,
        None,
        binding.auth_nonce.clone(),
        http_client::DEADLINE,
    )
    .await
    .map_err(|_| RefreshFailure::NoAnswer)?;
    if answer.status == 200 {
        return token_response::parse(&answer.body).map_err(|_| RefreshFailure::Malformed);
    }
    let v: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Err(RefreshFailure::Refused {
        status: answer.status,
        error: text("error"),
        description: text("error_description"),
        retry_after_secs: None,
    })
}

/// A call to the account's PDS with the DPoP-bound token.
pub async fn pds_call(
    cx: &Context,
    binding: &DpopBinding,
    access: &SecretText,
    method: &str,
    url: &str,
    json_body: Option<&Value>,
    deadline: Duration,
) -> Result<(u16, Vec<u8>), HttpError> {
    let key =
        Es256Key::from_secret(binding.key.expose()).map_err(|e| HttpError::Build(e.to_string()))?;
    let content = json_body.map(|b| ("application/json", b.to_string().into_bytes()));
    let (answer, _) = with_dpop(
        cx,
        method,
        url,
        content,
        &key,
        Some(access),
        binding.pds_nonce.clone(),
        deadline,
    )
    .await?;
    Ok((answer.status, answer.body))
}

/// The account behind the token (`com.atproto.server.getSession` on its PDS): the scheduled
/// check and the proof that a token works.
pub async fn session(
    cx: &Context,
    binding: &DpopBinding,
    access: &SecretText,
) -> Result<AccountIdentity, IdentityFailure> {
    let url = format!("{}/xrpc/com.atproto.server.getSession", binding.pds);
    let (status, body) = pds_call(
        cx,
        binding,
        access,
        "GET",
        &url,
        None,
        http_client::DEADLINE,
    )
    .await
    .map_err(|e| IdentityFailure::Failed(format!("getSession failed: {e}")))?;
    match status {
        200 => {
            let v: Value = serde_json::from_slice(&body)
                .map_err(|_| IdentityFailure::Failed("getSession answered no JSON".into()))?;
            if v.get("did").and_then(Value::as_str) != Some(binding.did.as_str()) {
                return Err(IdentityFailure::Failed(
                    "getSession answered another account".into(),
                ));
            }
            Ok(AccountIdentity {
                kind: "profile".to_owned(),
                external_id: binding.did.clone(),
                display_name: None,
                username: v
                    .get("handle")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| Some(binding.handle.clone())),
            })
        }
        401 | 403 => Err(IdentityFailure::TokenRefused(status)),
        other => Err(IdentityFailure::Failed(format!(
            "getSession answered {other}"
        ))),
    }
}

/// Revokes `token` at the account's authorization server (where it has a revocation endpoint).
pub async fn revoke(
    cx: &Context,
    client: &ClientCredentials,
    binding: &DpopBinding,
    token: &SecretText,
) -> Result<(), String> {
    let Some(url) = &binding.revocation_endpoint else {
        return Err("the authorization server has no revocation endpoint".to_owned());
    };
    let client = AtClient::of(client)?;
    let key = Es256Key::from_secret(binding.key.expose()).map_err(|e| e.to_string())?;
    let mut fields = vec![("token", token.expose().to_owned())];
    fields.extend(client.authentication(&binding.issuer)?);
    let (answer, _) = with_dpop(
        cx,
        "POST",
        url,
        Some(form_body(&fields)),
        &key,
        None,
        binding.auth_nonce.clone(),
        http_client::DEADLINE,
    )
    .await
    .map_err(|e| format!("the revocation request failed: {e}"))?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!(
            "the revocation endpoint answered HTTP {}",
            answer.status
        ))
    }
}

/// `GET /oauth/client-metadata.json`: Evergreen's client metadata, its `client_id` the URL it
/// is served at (404 when the deployment has no Bluesky client).
pub async fn client_metadata(req: &Request, cx: &Context) -> worker::Result<Response> {
    let Some(origin) = public_url::origin(cx, req) else {
        return Response::error("Not Found", 404);
    };
    let Some((client, _)) = deployment(cx).await else {
        return Response::error("Not Found", 404);
    };
    let base = origin.to_url();
    let body = atproto::client_metadata(
        &client.client_id,
        &base,
        &public_url::callback_url(&origin),
        &format!("{base}{JWKS_PATH}"),
    );
    public_json(&body)
}

/// `GET /oauth/jwks.json`: the client's public key (never the private part).
pub async fn jwks(cx: &Context) -> worker::Result<Response> {
    let Some((_, at)) = deployment(cx).await else {
        return Response::error("Not Found", 404);
    };
    let mut jwk = at.key.public_jwk();
    jwk["kid"] = json!(at.kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!("ES256");
    public_json(&json!({ "keys": [jwk] }))
}

async fn deployment(cx: &Context) -> Option<(ClientCredentials, AtClient)> {
    let catalogue = cx.catalogue().ok()?;
    let spec = catalogue.get("bluesky")?;
    let client = crate::edge::oauth::platform::deployment_client(cx, spec)?;
    let at = AtClient::of(&client).ok()?;
    Some((client, at))
}

fn public_json(body: &Value) -> worker::Result<Response> {
    let mut response = Response::from_json(body)?;
    let headers = response.headers_mut();
    headers.set("cache-control", "public, max-age=300")?;
    headers.set("access-control-allow-origin", "*")?;
    Ok(response)
}
