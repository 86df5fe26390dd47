//! PKCE (RFC 7636), S256 only: Evergreen never sends `plain`.

use crate::core::common::ids::{new_secret, RandomUnavailable};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A new code verifier: 43 characters from 256 random bits (the RFC's minimum length, maximum
/// entropy per character).
pub fn new_verifier() -> Result<String, RandomUnavailable> {
    new_secret()
}

/// The S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_7636_appendix_b() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_meet_the_rfc_length_and_alphabet() {
        let v = new_verifier().unwrap();
        assert!((43..=128).contains(&v.len()));
        assert!(v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    }
}
