//! ES256 (ECDSA on P-256 with SHA-256) keys and compact JWTs, for Bluesky's OAuth profile:
//! DPoP proofs (RFC 9449) and `private_key_jwt` client assertions (RFC 7523). Signing only, with
//! RFC 6979's deterministic nonces, so no RNG is needed past making a key.
//!
//! A key is its 32-byte secret scalar, kept base64url (the JWK's `d`); the public half is
//! served as a JWK (`kty` EC, `crv` P-256, `x`, `y`), and its RFC 7638 thumbprint is what a
//! DPoP-bound token is bound to (`cnf.jkt`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fmt;

/// A P-256 signing key.
#[derive(Clone)]
pub struct Es256Key(SigningKey);

/// Why a key could not be read or made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Es256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Es256Key([redacted])")
    }
}

impl Es256Key {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        // A random 32-byte string is a valid scalar but for a vanishing few; try again then.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| KeyError(format!("no randomness: {e}")))?;
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(Self(key));
            }
        }
        Err(KeyError("no valid key in eight draws".into()))
    }

    /// The key whose secret scalar is `d` (base64url, 32 bytes).
    pub fn from_secret(d: &str) -> Result<Self, KeyError> {
        let bytes = B64
            .decode(d.trim())
            .map_err(|_| KeyError("the key is not base64url".into()))?;
        if bytes.len() != 32 {
            return Err(KeyError(format!(
                "a P-256 key is 32 bytes, not {}",
                bytes.len()
            )));
        }
        SigningKey::from_slice(&bytes)
            .map(Self)
            .map_err(|_| KeyError("not a P-256 secret scalar".into()))
    }

    /// The secret scalar, base64url: what is sealed at rest.
    pub fn secret(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// The public JWK: `{"kty", "crv", "x", "y"}` (and nothing secret).
    pub fn public_jwk(&self) -> Value {
        let point = self.0.verifying_key().to_encoded_point(false);
        let (x, y) = (point.x(), point.y());
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": x.map(|x| B64.encode(x)).unwrap_or_default(),
            "y": y.map(|y| B64.encode(y)).unwrap_or_default(),
        })
    }

    /// The RFC 7638 thumbprint of the public JWK (base64url SHA-256 of its required members in
    /// lexicographic order).
    pub fn thumbprint(&self) -> String {
        let jwk = self.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap_or(""),
            jwk["y"].as_str().unwrap_or("")
        );
        B64.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// A compact JWS of `claims` under `header` (with `"alg": "ES256"` set).
    pub fn sign_jwt(&self, mut header: Value, claims: &Value) -> String {
        header["alg"] = json!("ES256");
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let signature: Signature = self.0.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }
}

/// The `ath` claim of a DPoP proof sent with an access token: base64url SHA-256 of the token.
pub fn access_token_hash(access_token: &str) -> String {
    B64.encode(Sha256::digest(access_token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::VerifyingKey;

    /// Checks a compact ES256 JWS against the JWK in `jwk`; its header and claims.
    fn verify(jwt: &str, jwk: &Value) -> (Value, Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let mut sec1 = vec![4u8];
        sec1.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        sec1.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        let key = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let signature = Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("the signature verifies");
        let decode = |p: &str| serde_json::from_slice(&B64.decode(p).unwrap()).unwrap();
        (decode(parts[0]), decode(parts[1]))
    }

    #[test]
    fn a_key_signs_jwts_its_public_jwk_verifies() {
        let key = Es256Key::generate().unwrap();
        let jwt = key.sign_jwt(json!({"typ": "dpop+jwt"}), &json!({"htm": "POST"}));
        let (header, claims) = verify(&jwt, &key.public_jwk());
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(claims["htm"], "POST");
        // The secret round-trips; the public JWK carries nothing secret.
        let again = Es256Key::from_secret(&key.secret()).unwrap();
        assert_eq!(again.public_jwk(), key.public_jwk());
        assert!(key.public_jwk().get("d").is_none());
        assert!(!format!("{key:?}").contains(&key.secret()));
    }

    #[test]
    fn bad_secrets_are_refused() {
        assert!(Es256Key::from_secret("not base64!").is_err());
        assert!(Es256Key::from_secret(&B64.encode([1u8; 16])).is_err());
        assert!(
            Es256Key::from_secret(&B64.encode([0u8; 32])).is_err(),
            "zero"
        );
        assert!(
            Es256Key::from_secret(&B64.encode([0xffu8; 32])).is_err(),
            "≥ the order"
        );
    }

    #[test]
    fn the_thumbprint_follows_rfc_7638() {
        // RFC 7638's method over the EC members: SHA-256 of the canonical JSON.
        let key = Es256Key::from_secret(&B64.encode([7u8; 32])).unwrap();
        let jwk = key.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        assert_eq!(
            key.thumbprint(),
            B64.encode(Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(key.thumbprint().len(), 43);
        // RFC 9449 §4.2's example: ath of the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU".
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
