//! Random identifiers and secrets, from the platform's CSPRNG (the JS `crypto` API on wasm).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;

/// The system's random source failed. Nothing sensible can be made without it, so callers
/// report it as an internal error instead of falling back to something guessable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RandomUnavailable(pub String);

impl fmt::Display for RandomUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the random source failed: {}", self.0)
    }
}

/// `N` bytes from the CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomUnavailable> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).map_err(|e| RandomUnavailable(e.to_string()))?;
    Ok(bytes)
}

/// A prefixed identifier with 128 random bits, URL-safe: e.g. `gr_q8Yc0v…` (22 characters after
/// the prefix). The prefix names the kind (`ten_`, `gr_`, `conn_`, …) so a misplaced id is
/// recognisable in a log.
pub fn new_id(prefix: &str) -> Result<String, RandomUnavailable> {
    let bytes = random_bytes::<16>()?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// A URL-safe secret of 256 random bits (43 characters), for state values, cookies and keys.
pub fn new_secret() -> Result<String, RandomUnavailable> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn ids_carry_their_prefix_and_128_bits() {
        let id = new_id("gr_").unwrap();
        let body = id.strip_prefix("gr_").expect("prefix kept");
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 16);
    }

    #[test]
    fn secrets_are_256_bits_and_url_safe() {
        let secret = new_secret().unwrap();
        assert_eq!(secret.len(), 43);
        assert!(secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(URL_SAFE_NO_PAD.decode(&secret).unwrap().len(), 32);
    }

    #[test]
    fn the_random_source_is_not_constant() {
        // 64 draws of 256 bits: a repeat means the source is broken (e.g. seeded with zeros).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64 {
            assert!(seen.insert(new_secret().unwrap()), "a secret repeated");
        }
        assert_ne!(random_bytes::<32>().unwrap(), [0u8; 32]);
    }
}
