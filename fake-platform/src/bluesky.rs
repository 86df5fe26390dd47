//! Bluesky's OAuth profile (AT Protocol) and the PDS calls Evergreen makes, each checked the
//! way the specifications say (atproto.com/specs/oauth, RFC 9449, RFC 9126, RFC 7523):
//!
//! - **Discovery:** a handle `{name}.bsky.social` answers its DID at
//!   `/.well-known/atproto-did`; `plc.directory/{did}` answers the DID document (the handle in
//!   `alsoKnownAs`, the PDS as `#atproto_pds`); the PDS answers its protected-resource metadata
//!   naming `https://bsky.social`, whose authorization-server metadata offers PAR, DPoP (ES256),
//!   `private_key_jwt` and the `atproto` scope.
//! - **The authorization server** (`bsky.social`): pushed authorization requests, the consent
//!   page for a `request_uri`, the token endpoint (codes and rotating refresh tokens) and
//!   revocation. Every call must carry a client assertion signed with the client key a test
//!   registered ([`crate::FakePlatform::set_bluesky_client_key`]) and a DPoP proof: signed by
//!   the key in its header, for this method and URL, fresh, never seen before (`jti`), with the
//!   server's current nonce (else `400 use_dpop_nonce` and a `DPoP-Nonce` header), and, once a
//!   grant exists, by the grant's key. The callback carries `iss` (a test can make it lie).
//! - **The PDS:** `getSession`, `putRecord` and `getRecord`, with `Authorization: DPoP` and a
//!   proof carrying the token's hash (`ath`) and the PDS's own nonce. `putRecord` at an existing
//!   record key rewrites that record: it makes no second post. Publish faults apply to it.
//!
//! Answer shapes are the specifications' and docs.bsky.app's; `fixtures/bluesky.json` holds the
//! facts (lifetimes) and the refusals.

use crate::fixtures::Fixtures;
use crate::http::{escape_html, hidden_inputs, with_query, Incoming, Reply};
use crate::publish::{PublishFault, PublishedPost};
use crate::state::{AuthCode, CodeRules, RefreshRules, RefreshTokenStatus, Shared};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const ISSUER: &str = "https://bsky.social";
pub const AS_HOST: &str = "bsky.social";
pub const PDS_HOST: &str = "morel.us-east.host.bsky.network";
pub const PLC_HOST: &str = "plc.directory";
pub const AUTHORIZE_PATH: &str = "/bsky.social/oauth/authorize";

fn fx() -> &'static Fixtures {
    crate::fixtures::bluesky()
}

/// What Bluesky keeps between requests.
#[derive(Debug, Default)]
pub struct State {
    /// The client key's public JWK a test registered.
    pub client_jwk: Option<Value>,
    /// Every proof and assertion `jti` seen.
    pub seen_jti: std::collections::HashSet<String>,
    /// The servers' current nonces.
    pub as_nonce: String,
    pub pds_nonce: String,
    /// Pushed requests, by `request_uri`.
    pub pushed: HashMap<String, Pushed>,
    /// The DPoP key thumbprint each grant is bound to.
    pub grant_jkt: HashMap<usize, String>,
    /// Records by (did, rkey): the post they made.
    pub records: HashMap<(String, String), String>,
    /// What the callback's `iss` says instead of the issuer, when a test sets it.
    pub lying_iss: Option<String>,
    /// The last proof a client sent the token endpoint (for a replay test).
    pub last_token_proof: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Pushed {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: String,
    pub scope: String,
    pub code_challenge: String,
    pub jkt: String,
    pub login_hint: String,
}

/// The DID of an account: `did:plc:` and 24 base32 characters from its id.
pub fn did_of(account_id: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let digest = Sha256::digest(account_id.as_bytes());
    let id: String = digest
        .iter()
        .take(24)
        .map(|b| ALPHABET[(*b as usize) % 32] as char)
        .collect();
    format!("did:plc:{id}")
}

/// The handle of a username.
pub fn handle_of(username: &str) -> String {
    format!("{username}.bsky.social")
}

pub fn handle(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let path = req.path.split('?').next().unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let host = *parts.first()?;
    Some(match (req.method.as_str(), host, &parts[1..]) {
        ("GET", h, [".well-known", "atproto-did"]) if h.ends_with(".bsky.social") => {
            atproto_did(shared, h)
        }
        ("GET", PLC_HOST, [did]) => did_document(shared, did),
        ("GET", PDS_HOST, [".well-known", "oauth-protected-resource"]) => Reply::json(
            200,
            &json!({"resource": format!("https://{PDS_HOST}"), "authorization_servers": [ISSUER],
                    "scopes_supported": [], "bearer_methods_supported": ["header"]}),
        ),
        ("GET", AS_HOST, [".well-known", "oauth-authorization-server"]) => metadata(),
        ("POST", AS_HOST, ["oauth", "par"]) => par(shared, req),
        ("GET", AS_HOST, ["oauth", "authorize"]) => consent_page(shared, req),
        ("POST", AS_HOST, ["oauth", "authorize"]) => decide(shared, req),
        ("POST", AS_HOST, ["oauth", "token"]) => {
            crate::faults::serve_token(shared, || token(shared, req))
        }
        ("POST", AS_HOST, ["oauth", "revoke"]) => revoke(shared, req),
        ("GET", PDS_HOST, ["xrpc", "com.atproto.server.getSession"]) => get_session(shared, req),
        ("POST", PDS_HOST, ["xrpc", "com.atproto.repo.putRecord"]) => put_record(shared, req),
        ("GET", PDS_HOST, ["xrpc", "com.atproto.repo.getRecord"]) => get_record(shared, req),
        _ => return None,
    })
}

fn account_of_handle(shared: &Shared, handle: &str) -> Option<(String, String)> {
    let inner = shared.lock();
    inner
        .accounts
        .values()
        .find(|a| handle_of(&a.username) == handle)
        .map(|a| (a.id.clone(), a.username.clone()))
}

fn atproto_did(shared: &Shared, handle: &str) -> Reply {
    match account_of_handle(shared, handle) {
        Some((id, _)) => {
            let mut reply = Reply::json(200, &json!(null));
            reply.content_type = "text/plain";
            reply.body = did_of(&id);
            reply
        }
        None => Reply::json(
            404,
            &json!({"error": "NotFound", "message": "no such handle"}),
        ),
    }
}

fn did_document(shared: &Shared, did: &str) -> Reply {
    let inner = shared.lock();
    let Some(account) = inner.accounts.values().find(|a| did_of(&a.id) == did) else {
        return Reply::json(404, &json!({"message": "DID not registered"}));
    };
    Reply::json(
        200,
        &json!({
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [format!("at://{}", handle_of(&account.username))],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": format!("https://{PDS_HOST}")}],
        }),
    )
}

fn metadata() -> Reply {
    Reply::json(
        200,
        &json!({
            "issuer": ISSUER,
            "authorization_endpoint": format!("{ISSUER}/oauth/authorize"),
            "token_endpoint": format!("{ISSUER}/oauth/token"),
            "pushed_authorization_request_endpoint": format!("{ISSUER}/oauth/par"),
            "revocation_endpoint": format!("{ISSUER}/oauth/revoke"),
            "require_pushed_authorization_requests": true,
            "dpop_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
            "scopes_supported": ["atproto", "transition:generic"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        }),
    )
}

/// A compact ES256 JWS checked against `jwk`: its header and claims.
fn verified(jwt: &str, jwk: Option<&Value>) -> Result<(Value, Value), &'static str> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not a compact JWS");
    }
    let decode = |p: &str| -> Result<Value, &'static str> {
        let bytes = B64.decode(p).map_err(|_| "not base64url")?;
        serde_json::from_slice(&bytes).map_err(|_| "not JSON")
    };
    let (header, claims) = (decode(parts[0])?, decode(parts[1])?);
    if header["alg"] != "ES256" {
        return Err("alg must be ES256");
    }
    let jwk = jwk.unwrap_or(&header["jwk"]);
    let coordinate = |k: &str| {
        jwk[k]
            .as_str()
            .and_then(|v| B64.decode(v).ok())
            .filter(|b| b.len() == 32)
    };
    let (Some(x), Some(y)) = (coordinate("x"), coordinate("y")) else {
        return Err("no usable P-256 key");
    };
    if jwk.get("d").is_some() {
        return Err("a private key in a public place");
    }
    let mut sec1 = vec![4u8];
    sec1.extend(x);
    sec1.extend(y);
    let key = VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| "not a P-256 point")?;
    let signature = B64
        .decode(parts[2])
        .ok()
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or("not an ES256 signature")?;
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| "the signature does not verify")?;
    Ok((header, claims))
}

/// RFC 7638 thumbprint of a P-256 JWK.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
        jwk["x"].as_str().unwrap_or(""),
        jwk["y"].as_str().unwrap_or("")
    );
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Which server checks a proof: the authorization server or the PDS (each its own nonce).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    Auth,
    Pds,
}

/// The request's DPoP proof, checked (RFC 9449 §4.3): its key's thumbprint, or the refusal.
fn check_proof(
    shared: &Shared,
    req: &Incoming,
    server: Server,
    access: Option<&str>,
) -> Result<String, Reply> {
    let refuse = |why: &str| {
        shared.lock().reject("dpop", why);
        Err(fx().render("dpop_invalid", &[("message", json!(why))]))
    };
    let Some(proof) = req.header("dpop") else {
        return refuse("no DPoP proof");
    };
    let (header, claims) = match verified(proof, None) {
        Ok(v) => v,
        Err(why) => return refuse(why),
    };
    if header["typ"] != "dpop+jwt" {
        return refuse("typ must be dpop+jwt");
    }
    let path = req.path.split('?').next().unwrap_or("");
    let htu = format!("https:/{path}");
    if claims["htm"] != req.method.as_str() || claims["htu"] != htu.as_str() {
        return refuse("htm or htu do not match the request");
    }
    if (claims["iat"].as_i64().unwrap_or(0) - unix_now()).abs() > 300 {
        return refuse("iat is not recent");
    }
    if let Some(token) = access {
        let ath = B64.encode(Sha256::digest(token.as_bytes()));
        if claims["ath"] != ath.as_str() {
            return refuse("ath does not match the access token");
        }
    }
    let jti = claims["jti"].as_str().unwrap_or("").to_owned();
    let mut inner = shared.lock();
    if jti.is_empty() || !inner.bluesky.seen_jti.insert(jti) {
        inner.reject("dpop", "a proof was replayed (its jti was seen before)");
        return Err(fx().render("dpop_invalid", &[("message", json!("DPoP proof replayed"))]));
    }
    if inner.bluesky.as_nonce.is_empty() {
        inner.bluesky.as_nonce = crate::tokens::random_token();
        inner.bluesky.pds_nonce = crate::tokens::random_token();
    }
    let current = match server {
        Server::Auth => inner.bluesky.as_nonce.clone(),
        Server::Pds => inner.bluesky.pds_nonce.clone(),
    };
    if claims["nonce"] != current.as_str() {
        inner.reject("dpop", "the proof carries no nonce, or a stale one");
        let reply = match server {
            Server::Auth => fx().reply("use_dpop_nonce"),
            Server::Pds => fx()
                .reply("use_dpop_nonce_resource")
                .with_header("www-authenticate", r#"DPoP error="use_dpop_nonce""#),
        };
        return Err(reply.with_header("dpop-nonce", &current));
    }
    if server == Server::Auth {
        inner.bluesky.last_token_proof = Some(proof.to_owned());
    }
    Ok(thumbprint(&header["jwk"]))
}

/// The form's client assertion, checked against the registered client key (RFC 7523).
fn check_client(shared: &Shared, form: &HashMap<String, String>) -> Result<String, Reply> {
    let refuse = |why: &str| {
        shared.lock().reject("client", why);
        Err(fx().render("client_invalid", &[("message", json!(why))]))
    };
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if !client_id.ends_with("/oauth/client-metadata.json") {
        return refuse("client_id must be the client metadata's URL");
    }
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return refuse("a private_key_jwt client assertion is required");
    }
    let jwk = shared.lock().bluesky.client_jwk.clone();
    let Some(jwk) = jwk else {
        return refuse("no client key is registered");
    };
    let assertion = form.get("client_assertion").cloned().unwrap_or_default();
    let (_, claims) = match verified(&assertion, Some(&jwk)) {
        Ok(v) => v,
        Err(why) => return refuse(why),
    };
    if claims["iss"] != client_id.as_str() || claims["sub"] != client_id.as_str() {
        return refuse("iss and sub must be the client_id");
    }
    if claims["aud"] != ISSUER {
        return refuse("aud must be the issuer");
    }
    if claims["exp"].as_i64().unwrap_or(0) < unix_now() {
        return refuse("the assertion expired");
    }
    let jti = claims["jti"].as_str().unwrap_or("").to_owned();
    if jti.is_empty() || !shared.lock().bluesky.seen_jti.insert(format!("a:{jti}")) {
        return refuse("an assertion was replayed");
    }
    Ok(client_id)
}

fn par(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let jkt = match check_proof(shared, req, Server::Auth, None) {
        Ok(jkt) => jkt,
        Err(reply) => return reply,
    };
    let client_id = match check_client(shared, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() < 43
        || !get("scope").split(' ').any(|s| s == "atproto")
        || get("state").is_empty()
        || get("redirect_uri").is_empty()
    {
        shared.lock().reject(
            "par",
            "a PAR needs code, S256, atproto, state and a redirect URI",
        );
        return fx().render(
            "request_invalid",
            &[("message", json!("Invalid authorization request"))],
        );
    }
    let request_uri = format!(
        "urn:ietf:params:oauth:request_uri:req-{}",
        crate::tokens::random_token()
    );
    shared.lock().bluesky.pushed.insert(
        request_uri.clone(),
        Pushed {
            client_id,
            redirect_uri: get("redirect_uri"),
            state: get("state"),
            scope: get("scope"),
            code_challenge: get("code_challenge"),
            jkt,
            login_hint: get("login_hint"),
        },
    );
    Reply::json(201, &json!({"request_uri": request_uri, "expires_in": 299}))
}

fn pushed_of(shared: &Shared, fields: &HashMap<String, String>) -> Option<Pushed> {
    let uri = fields.get("request_uri")?;
    let pushed = shared.lock().bluesky.pushed.get(uri).cloned()?;
    (fields.get("client_id") == Some(&pushed.client_id)).then_some(pushed)
}

fn consent_page(shared: &Shared, req: &Incoming) -> Reply {
    let Some(pushed) = pushed_of(shared, &req.query) else {
        shared.lock().reject("authorize", "an unknown request_uri");
        return Reply::html(
            400,
            "<h1>Invalid request</h1><p>Unknown request_uri.</p>".into(),
        );
    };
    let username = pushed
        .login_hint
        .strip_suffix(".bsky.social")
        .unwrap_or("")
        .to_owned();
    Reply::html(
        200,
        format!(
            r#"<!doctype html><html lang="en"><meta charset="utf-8"><title>bsky.social (fake)</title>
<h1>Authorize this app to access your Bluesky account?</h1>
<form method="post" action="{AUTHORIZE_PATH}">{hidden}
<p><label for="username">Sign in as</label> <input id="username" name="username" value="{username}" required></p>
<p><button name="decision" value="approve">Accept</button> <button name="decision" value="deny">Deny</button></p>
</form>"#,
            hidden = hidden_inputs(&req.query),
            username = escape_html(&username),
        ),
    )
}

fn decide(shared: &Shared, req: &Incoming) -> Reply {
    let fields = req.form();
    let Some(pushed) = pushed_of(shared, &fields) else {
        return Reply::html(400, "<h1>Invalid request</h1>".into());
    };
    let iss = shared
        .lock()
        .bluesky
        .lying_iss
        .clone()
        .unwrap_or_else(|| ISSUER.to_owned());
    if fields.get("decision").map(String::as_str) != Some("approve") {
        return Reply::redirect(with_query(
            &pushed.redirect_uri,
            &[
                ("error", "access_denied"),
                ("state", &pushed.state),
                ("iss", &iss),
            ],
        ));
    }
    let username = fields.get("username").cloned().unwrap_or_default();
    let code = crate::tokens::random_token();
    let mut inner = shared.lock();
    let account = inner.account_by_username(&username);
    account.counters.authorize += 1;
    let account_id = account.id.clone();
    let expires_at = inner.now_for(&account_id) + Duration::from_secs(60);
    inner.codes.insert(
        code.clone(),
        AuthCode {
            client_id: pushed.client_id.clone(),
            account_id,
            redirect_uri: pushed.redirect_uri.clone(),
            scopes: pushed.scope.split(' ').map(str::to_owned).collect(),
            code_challenge: pushed.code_challenge.clone(),
            expires_at,
            offline: true,
        },
    );
    // The request_uri is single use; its key binds the code.
    if let Some(uri) = fields.get("request_uri") {
        inner.bluesky.pushed.remove(uri);
    }
    inner
        .bluesky
        .pushed
        .insert(format!("code:{code}"), pushed.clone());
    Reply::redirect(with_query(
        &pushed.redirect_uri,
        &[("state", &pushed.state), ("iss", &iss), ("code", &code)],
    ))
}

const CODE_RULES: CodeRules = CodeRules {
    redirect_mismatch_reply: "grant_invalid",
    missing_verifier_reply: Some("grant_invalid"),
};

fn token(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    let jkt = match check_proof(shared, req, Server::Auth, None) {
        Ok(jkt) => jkt,
        Err(reply) => return reply,
    };
    let client_id = match check_client(shared, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let mut inner = shared.lock();
    let grant = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = form.get("code").cloned().unwrap_or_default();
            let pushed = inner.bluesky.pushed.remove(&format!("code:{code}"));
            if pushed.as_ref().map(|p| p.jkt.as_str()) != Some(jkt.as_str()) {
                inner.reject("token", "the code was pushed with another DPoP key");
                return fx().reply("grant_invalid");
            }
            match inner.redeem_code(&form, &client_id, CODE_RULES) {
                Ok(issued) => {
                    let grant = inner.add_grant(issued.account_id, client_id, issued.scopes, true);
                    inner.bluesky.grant_jkt.insert(grant, jkt.clone());
                    grant
                }
                Err(_) => return fx().reply("grant_invalid"),
            }
        }
        Some("refresh_token") => {
            let rules = RefreshRules {
                rotates: true,
                dies: None,
            };
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            let bound = inner
                .refresh_tokens
                .get(&presented)
                .and_then(|(g, _)| inner.bluesky.grant_jkt.get(g))
                .cloned();
            if bound.is_some() && bound.as_deref() != Some(jkt.as_str()) {
                inner.reject("token", "the refresh token is bound to another DPoP key");
                return fx().reply("grant_invalid");
            }
            match inner.use_refresh_token(&form, &client_id, rules) {
                Ok(grant) => grant,
                Err(_) => return fx().reply("grant_invalid"),
            }
        }
        _ => return fx().reply("grant_invalid"),
    };
    let lifetime = fx().fact_u64("access_lifetime_secs");
    let access = inner.issue_access_token(grant, Duration::from_secs(lifetime));
    let refresh = crate::tokens::random_token();
    inner
        .refresh_tokens
        .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
    let account_id = inner.grants[grant].account_id.clone();
    let scope = inner.grants[grant].scopes.join(" ");
    let nonce = inner.bluesky.as_nonce.clone();
    fx().render(
        "token_issued",
        &[
            ("access_token", json!(access)),
            ("expires_in", json!(lifetime)),
            ("refresh_token", json!(refresh)),
            ("scope", json!(scope)),
            ("sub", json!(did_of(&account_id))),
        ],
    )
    .with_header("dpop-nonce", &nonce)
}

fn revoke(shared: &Shared, req: &Incoming) -> Reply {
    let form = req.form();
    if let Err(reply) = check_proof(shared, req, Server::Auth, None) {
        return reply;
    }
    let client_id = match check_client(shared, &form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let token = form.get("token").cloned().unwrap_or_default();
    shared.lock().revoke_by_client(&token, Some(&client_id));
    Reply::json(200, &json!({}))
}

/// The account a PDS call acts for: a live DPoP token, its proof bound to the grant's key.
fn caller(shared: &Shared, req: &Incoming) -> Result<String, Reply> {
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("DPoP "))
        .map(str::to_owned);
    let Some(token) = token else {
        return Err(fx().reply("token_invalid"));
    };
    let jkt = check_proof(shared, req, Server::Pds, Some(&token))?;
    let inner = shared.lock();
    let Some(found) = inner.access_tokens.get(&token) else {
        return Err(fx().reply("token_invalid"));
    };
    let grant = &inner.grants[found.grant];
    let bound = inner.bluesky.grant_jkt.get(&found.grant);
    if grant.revoked || found.expires_at < inner.now_for(&grant.account_id) || bound != Some(&jkt) {
        return Err(fx().reply("token_invalid"));
    }
    Ok(grant.account_id.clone())
}

fn get_session(shared: &Shared, req: &Incoming) -> Reply {
    let account_id = match caller(shared, req) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let mut inner = shared.lock();
    let Some(account) = inner.accounts.get_mut(&account_id) else {
        return fx().reply("token_invalid");
    };
    account.counters.identity += 1;
    Reply::json(
        200,
        &json!({"did": did_of(&account_id), "handle": handle_of(&account.username), "active": true}),
    )
}

fn put_record(shared: &Shared, req: &Incoming) -> Reply {
    let account_id = match caller(shared, req) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let did = did_of(&account_id);
    let rkey = body["rkey"].as_str().unwrap_or("").to_owned();
    let text = body
        .pointer("/record/text")
        .and_then(Value::as_str)
        .unwrap_or("");
    if body["repo"] != did.as_str()
        || body["collection"] != "app.bsky.feed.post"
        || rkey.len() != 13
        || text.is_empty()
    {
        return Reply::json(
            400,
            &json!({"error": "InvalidRequest", "message": "Invalid app.bsky.feed.post record"}),
        );
    }
    let fault = shared.lock().publish_faults.pop_front();
    match fault {
        Some(PublishFault::Refuse(status)) => {
            return Reply::json(
                status,
                &json!({"error": "InvalidRequest", "message": "Record/text must not be longer than 300 graphemes"}),
            )
        }
        Some(PublishFault::ServerErrorBefore) => {
            return Reply::json(503, &json!({"error": "InternalServerError"}))
        }
        _ => {}
    }
    let uri = format!("at://{did}/app.bsky.feed.post/{rkey}");
    {
        let mut inner = shared.lock();
        let key = (did.clone(), rkey.clone());
        let first = inner.bluesky.records.insert(key, uri.clone()).is_none();
        if !first {
            // The same record again: rewritten, not a second post.
            if let Some(post) = inner.posts.iter_mut().find(|p| p.id == uri) {
                post.text = text.to_owned();
            }
        } else {
            let handle = inner
                .accounts
                .get(&account_id)
                .map(|a| handle_of(&a.username))
                .unwrap_or_default();
            let created_at = inner.now_for(&account_id);
            inner.posts.push(PublishedPost {
                id: uri.clone(),
                platform: "bluesky",
                author: handle,
                text: text.to_owned(),
                media: Vec::new(),
                received_at: SystemTime::now(),
                created_at,
            });
        }
    }
    match fault {
        Some(PublishFault::ServerErrorAfterCreate) => {
            Reply::json(502, &json!({"error": "UpstreamFailure"}))
        }
        Some(PublishFault::SilentAfterCreate(wait)) => {
            std::thread::sleep(wait);
            Reply::html(502, "<html><body>Bad Gateway</body></html>".into())
        }
        _ => Reply::json(
            200,
            &json!({"uri": uri, "cid": format!("bafyrei{}", &crate::tokens::random_token()[..20].to_ascii_lowercase())}),
        ),
    }
}

fn get_record(shared: &Shared, req: &Incoming) -> Reply {
    if let Err(reply) = caller(shared, req) {
        return reply;
    }
    let q = |k: &str| req.query.get(k).cloned().unwrap_or_default();
    let inner = shared.lock();
    match inner.bluesky.records.get(&(q("repo"), q("rkey"))) {
        Some(uri) => {
            let text = inner
                .posts
                .iter()
                .find(|p| &p.id == uri)
                .map(|p| p.text.clone())
                .unwrap_or_default();
            Reply::json(
                200,
                &json!({"uri": uri, "cid": "bafyreifake", "value": {"$type": "app.bsky.feed.post", "text": text}}),
            )
        }
        None => Reply::json(
            400,
            &json!({"error": "RecordNotFound", "message": "Could not locate record"}),
        ),
    }
}
