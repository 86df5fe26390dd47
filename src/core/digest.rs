//! SHA-256 digests for values stored only as hashes: API keys, connect-session tokens, OAuth
//! state and browser-binding cookies. All of them are 256-bit random values, so a plain (unsalted)
//! hash is enough: there is nothing to guess.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `value`.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_standard_test_vector() {
        assert_eq!(
            super::sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
