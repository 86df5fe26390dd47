//! Bluesky's OAuth (the AT Protocol profile): discovery from a handle to the account's
//! authorization server, and the signed requests the profile asks for.
//!
//! - **Discovery.** handle → DID (`https://{handle}/.well-known/atproto-did`) → DID document
//!   (`https://plc.directory/{did}` for `did:plc`, `https://{host}/.well-known/did.json` for
//!   `did:web`) → the PDS (`#atproto_pds`), whose document must name the handle back
//!   (`alsoKnownAs: at://{handle}`) → `{pds}/.well-known/oauth-protected-resource` →
//!   `authorization_servers[0]` → `{issuer}/.well-known/oauth-authorization-server`, whose
//!   `issuer` must be that URL exactly. Every host on the way must be a public name
//!   (`mastodon::ServerName`'s rules).
//! - **Requests.** Pushed authorization (PAR), PKCE S256, `private_key_jwt` client assertions
//!   signed with Evergreen's client key (RFC 7523), and DPoP proofs (RFC 9449) signed with a key
//!   of the grant's own, carrying the server's nonce and, towards the PDS, the token's hash.
//!
//! Sources: atproto.com/specs/oauth, …/specs/handle, …/specs/did, RFC 9449, RFC 9126, RFC 7523.

use crate::core::crypto::es256::{access_token_hash, Es256Key};
use crate::core::oauth::mastodon::ServerName;
use serde_json::{json, Value};

/// The scopes Evergreen asks for: the profile's base scope and the transitional one that lets
/// an app write posts.
pub const SCOPE: &str = "atproto transition:generic";

/// Where Evergreen serves its client metadata; that URL, on its public origin, is its client
/// id.
pub const METADATA_PATH: &str = "/oauth/client-metadata.json";
/// Where it serves its client's public key.
pub const JWKS_PATH: &str = "/oauth/jwks.json";

/// The client assertion's type (RFC 7523).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A step of discovery that did not give what the next needs, in words for the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryError(pub String);

fn refuse<T>(why: impl Into<String>) -> Result<T, DiscoveryError> {
    Err(DiscoveryError(why.into()))
}

/// A handle as typed (`@alice.bsky.social`, `alice.bsky.social`): the same public-name rules
/// as a server's.
pub fn handle(typed: &str) -> Result<String, DiscoveryError> {
    let text = typed.trim().trim_start_matches('@');
    ServerName::parse(text)
        .map(|h| h.as_str().to_owned())
        .map_err(|e| DiscoveryError(e.0.replace("server", "handle")))
}

/// Where a handle's DID is published over HTTPS.
pub fn handle_did_url(handle: &str) -> String {
    format!("https://{handle}/.well-known/atproto-did")
}

/// The DID in the answer of [`handle_did_url`]: `did:plc:…` or `did:web:…`, alone.
pub fn parse_did(body: &str) -> Result<String, DiscoveryError> {
    let did = body.trim();
    let plc = did.strip_prefix("did:plc:").is_some_and(|id| {
        id.len() == 24 && id.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
    });
    let web = did
        .strip_prefix("did:web:")
        .is_some_and(|host| ServerName::parse(host).is_ok_and(|h| h.as_str() == host));
    if plc || web {
        Ok(did.to_owned())
    } else {
        refuse("The handle does not point to an account (no valid DID).")
    }
}

/// Where a DID's document is.
pub fn did_document_url(did: &str, plc_directory: &str) -> Option<String> {
    if did.starts_with("did:plc:") {
        return Some(format!("{}/{did}", plc_directory.trim_end_matches('/')));
    }
    did.strip_prefix("did:web:")
        .map(|host| format!("https://{host}/.well-known/did.json"))
}

/// An `https://` URL of a public host, without path beyond `/`, as a base (no trailing slash).
fn public_base(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?.trim_end_matches('/');
    let host = ServerName::parse(rest).ok()?;
    (host.as_str() == rest).then(|| format!("https://{rest}"))
}

/// The account's PDS, from its DID document: the document must be the DID's and name the
/// handle back (so a handle cannot borrow someone else's DID).
pub fn pds_of(document: &[u8], did: &str, handle: &str) -> Result<String, DiscoveryError> {
    let Ok(doc) = serde_json::from_slice::<Value>(document) else {
        return refuse("The account's DID document could not be read.");
    };
    if doc.get("id").and_then(Value::as_str) != Some(did) {
        return refuse("The DID document is not the account's.");
    }
    let names_handle = doc
        .get("alsoKnownAs")
        .and_then(Value::as_array)
        .is_some_and(|aka| {
            aka.iter()
                .any(|a| a.as_str() == Some(&format!("at://{handle}")))
        });
    if !names_handle {
        return refuse("The account does not claim this handle.");
    }
    let endpoint = doc
        .get("service")
        .and_then(Value::as_array)
        .and_then(|services| {
            services.iter().find(|s| {
                s.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id == "#atproto_pds" || id == format!("{did}#atproto_pds"))
            })
        })
        .and_then(|s| s.get("serviceEndpoint"))
        .and_then(Value::as_str);
    match endpoint.and_then(public_base) {
        Some(pds) => Ok(pds),
        None => refuse("The account's server is not a public https address."),
    }
}

/// The PDS's authorization server, from its protected-resource metadata.
pub fn authorization_server(resource_metadata: &[u8]) -> Result<String, DiscoveryError> {
    let v: Value = serde_json::from_slice(resource_metadata)
        .map_err(|_| DiscoveryError("The server's OAuth metadata could not be read.".into()))?;
    v.get("authorization_servers")
        .and_then(Value::as_array)
        .and_then(|list| list.first())
        .and_then(Value::as_str)
        .and_then(public_base)
        .ok_or_else(|| DiscoveryError("The server names no usable authorization server.".into()))
}

/// What Evergreen uses of an authorization server's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthServer {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub par_endpoint: String,
    pub revocation_endpoint: Option<String>,
}

/// The metadata fetched from `issuer`: its `issuer` must be `issuer` exactly, and it must offer
/// what the profile needs (PAR, `private_key_jwt`, DPoP with ES256, the `atproto` scope).
pub fn auth_server(issuer: &str, metadata: &[u8]) -> Result<AuthServer, DiscoveryError> {
    let v: Value = serde_json::from_slice(metadata).map_err(|_| {
        DiscoveryError("The authorization server's metadata could not be read.".into())
    })?;
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let lists = |k: &str, want: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(want)))
    };
    if text("issuer").as_deref() != Some(issuer) {
        return refuse("The authorization server's metadata names another issuer.");
    }
    if !(lists("dpop_signing_alg_values_supported", "ES256")
        && lists("token_endpoint_auth_methods_supported", "private_key_jwt")
        && lists("scopes_supported", "atproto"))
    {
        return refuse(
            "The authorization server does not offer what Bluesky's OAuth profile needs.",
        );
    }
    let endpoint = |k: &str| text(k).filter(|u| u.starts_with("https://"));
    match (
        endpoint("authorization_endpoint"),
        endpoint("token_endpoint"),
        endpoint("pushed_authorization_request_endpoint"),
    ) {
        (Some(authorization_endpoint), Some(token_endpoint), Some(par_endpoint)) => {
            Ok(AuthServer {
                issuer: issuer.to_owned(),
                authorization_endpoint,
                token_endpoint,
                par_endpoint,
                revocation_endpoint: endpoint("revocation_endpoint"),
            })
        }
        _ => refuse("The authorization server's metadata lacks an endpoint."),
    }
}

/// A DPoP proof for `method` `url` (its query and fragment left out), with the server's
/// `nonce` if it gave one and, towards a resource server, the access token's hash.
pub fn dpop_proof(
    key: &Es256Key,
    method: &str,
    url: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
    jti: &str,
    now_secs: i64,
) -> String {
    let htu = url.split(['?', '#']).next().unwrap_or(url);
    let mut claims = json!({ "jti": jti, "htm": method, "htu": htu, "iat": now_secs });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(token) = access_token {
        claims["ath"] = json!(access_token_hash(token));
    }
    key.sign_jwt(
        json!({ "typ": "dpop+jwt", "jwk": key.public_jwk() }),
        &claims,
    )
}

/// A `private_key_jwt` client assertion for `audience` (the issuer), living a minute.
pub fn client_assertion(
    key: &Es256Key,
    kid: &str,
    client_id: &str,
    audience: &str,
    jti: &str,
    now_secs: i64,
) -> String {
    key.sign_jwt(
        json!({ "kid": kid, "typ": "JWT" }),
        &json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "jti": jti,
            "iat": now_secs,
            "exp": now_secs + 60,
        }),
    )
}

/// Whether an error answer asks for a (new) DPoP nonce: `use_dpop_nonce` in the body (an
/// authorization server) or in `WWW-Authenticate` (a resource server).
pub fn wants_nonce(status: u16, body: &[u8], www_authenticate: Option<&str>) -> bool {
    let in_body = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
        .is_some_and(|e| e == "use_dpop_nonce");
    matches!(status, 400 | 401)
        && (in_body || www_authenticate.is_some_and(|h| h.contains("use_dpop_nonce")))
}

/// Evergreen's client metadata document (served at `client_id` itself).
pub fn client_metadata(client_id: &str, origin: &str, redirect_uri: &str, jwks_uri: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Evergreen",
        "client_uri": origin,
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": [redirect_uri],
        "scope": SCOPE,
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "dpop_bound_access_tokens": true,
        "jwks_uri": jwks_uri,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;

    fn claims(jwt: &str) -> (Value, Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        let decode = |p: &str| serde_json::from_slice(&B64.decode(p).unwrap()).unwrap();
        (decode(parts[0]), decode(parts[1]))
    }

    #[test]
    fn discovery_goes_from_a_handle_to_its_issuer_and_checks_each_step() {
        assert_eq!(handle("@Alice.bsky.social").unwrap(), "alice.bsky.social");
        assert!(handle("127.0.0.1").is_err() && handle("alice.local").is_err());
        assert_eq!(
            handle_did_url("alice.bsky.social"),
            "https://alice.bsky.social/.well-known/atproto-did"
        );
        let did = parse_did("did:plc:ewvi7nxzyoun6zhxrhs64oiz\n").unwrap();
        assert!(parse_did("did:plc:short").is_err());
        assert!(parse_did("did:web:127.0.0.1").is_err());
        assert_eq!(
            parse_did("did:web:alice.example.org").unwrap(),
            "did:web:alice.example.org"
        );
        assert_eq!(
            did_document_url(&did, "https://plc.directory").unwrap(),
            "https://plc.directory/did:plc:ewvi7nxzyoun6zhxrhs64oiz"
        );
        let doc = json!({
            "id": did,
            "alsoKnownAs": ["at://alice.bsky.social"],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": "https://morel.us-east.host.bsky.network"}],
        });
        let bytes = doc.to_string().into_bytes();
        assert_eq!(
            pds_of(&bytes, &did, "alice.bsky.social").unwrap(),
            "https://morel.us-east.host.bsky.network"
        );
        assert!(
            pds_of(&bytes, &did, "mallory.bsky.social").is_err(),
            "not its handle"
        );
        assert!(pds_of(
            &bytes,
            "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
            "alice.bsky.social"
        )
        .is_err());
        let private = json!({"id": did, "alsoKnownAs": ["at://alice.bsky.social"],
            "service": [{"id": "#atproto_pds", "serviceEndpoint": "https://10.0.0.1"}]});
        assert!(pds_of(private.to_string().as_bytes(), &did, "alice.bsky.social").is_err());
        assert_eq!(
            authorization_server(br#"{"resource":"https://pds.example.org","authorization_servers":["https://bsky.social"]}"#).unwrap(),
            "https://bsky.social"
        );
        let metadata = json!({
            "issuer": "https://bsky.social",
            "authorization_endpoint": "https://bsky.social/oauth/authorize",
            "token_endpoint": "https://bsky.social/oauth/token",
            "pushed_authorization_request_endpoint": "https://bsky.social/oauth/par",
            "revocation_endpoint": "https://bsky.social/oauth/revoke",
            "dpop_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
            "scopes_supported": ["atproto", "transition:generic"],
        });
        let server = auth_server("https://bsky.social", metadata.to_string().as_bytes()).unwrap();
        assert_eq!(server.par_endpoint, "https://bsky.social/oauth/par");
        let e = auth_server("https://evil.example.org", metadata.to_string().as_bytes());
        assert!(e.is_err(), "an issuer that is not the URL fetched");
    }

    #[test]
    fn proofs_and_assertions_carry_what_the_profile_asks() {
        let key = Es256Key::generate().unwrap();
        let proof = dpop_proof(
            &key,
            "POST",
            "https://pds.example.org/xrpc/com.atproto.repo.putRecord?x=1#f",
            Some("n-1"),
            Some("tok"),
            "j1",
            1_800_000_000,
        );
        let (header, c) = claims(&proof);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"], key.public_jwk());
        assert_eq!(
            c["htu"],
            "https://pds.example.org/xrpc/com.atproto.repo.putRecord"
        );
        assert_eq!(c["nonce"], "n-1");
        assert_eq!(c["ath"], access_token_hash("tok"));
        let plain = claims(&dpop_proof(
            &key,
            "POST",
            "https://a.example.org/par",
            None,
            None,
            "j2",
            1,
        ))
        .1;
        assert!(plain.get("nonce").is_none() && plain.get("ath").is_none());
        let assertion = client_assertion(
            &key,
            "k1",
            "https://e.example.org/oauth/client-metadata.json",
            "https://bsky.social",
            "j3",
            100,
        );
        let (header, c) = claims(&assertion);
        assert_eq!(header["kid"], "k1");
        assert_eq!(c["iss"], c["sub"]);
        assert_eq!(c["aud"], "https://bsky.social");
        assert_eq!(c["exp"], 160);
        assert!(wants_nonce(400, br#"{"error":"use_dpop_nonce"}"#, None));
        assert!(wants_nonce(
            401,
            b"",
            Some(r#"DPoP error="use_dpop_nonce""#)
        ));
        assert!(!wants_nonce(400, br#"{"error":"invalid_grant"}"#, None));
    }
}
