//! Random values the fake hands out: codes and tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// 256 random bits, URL-safe. Tokens are unguessable so a test that scans storage for one
/// cannot match by accident.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the OS random source works on a test machine");
    URL_SAFE_NO_PAD.encode(bytes)
}
