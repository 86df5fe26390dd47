//! Secrets at rest: AES-256-GCM with a key id and associated data that binds each ciphertext
//! to its row, so a ciphertext copied to another row (or another tenant, purpose or version)
//! does not decrypt.
//!
//! Keys come from a keyring (the `DATA_KEYS` secret: `id:base64url-32-bytes`, comma-separated,
//! the first one active). Older keys stay in the ring to decrypt until the re-encryption sweep
//! (`core::crypto::key_rotation`, `edge/tenancy/rekey.rs`) has moved every row to the active key; then they can
//! be removed.
//!
//! Nonces are 96 random bits per seal. At the volumes a connection keeper writes (refreshes,
//! not messages) that is far inside GCM's random-nonce bound.

pub mod digest;
pub mod es256;
pub mod key_rotation;
pub mod signed_tokens;

use crate::core::common::ids::{random_bytes, RandomUnavailable};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;

const NONCE_LEN: usize = 12;

/// A data key's name, stored next to each ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

struct DataKey {
    id: KeyId,
    cipher: Aes256Gcm,
    /// The key's signing key (reconnect links, page cookies): derived from the same material
    /// under its own label, so no byte string is both an AES key and an HMAC key.
    signing: [u8; 32],
}

/// The data keys this deployment can use; the first seals, all open.
pub struct Keyring {
    keys: Vec<DataKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key material.
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// What a ciphertext is bound to. Everything here must be the same to open it again.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    /// What the secret is: `grant_tokens`, `tenant_client_secret`, `pkce_verifier`, …
    pub purpose: &'a str,
    pub tenant_id: &'a str,
    /// The row's id (grant id, provider name, state hash).
    pub row_id: &'a str,
    /// The row's version (a grant's token version; 0 where rows have none).
    pub version: i64,
}

/// A sealed secret: the key that sealed it and `nonce || ciphertext || tag`, base64url.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: KeyId,
    pub blob: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptoError {
    /// `DATA_KEYS` is missing or malformed; the text says how.
    BadKeyring(String),
    /// The ciphertext names a key this deployment no longer has.
    UnknownKey(String),
    /// Wrong key, wrong binding, or tampered: the three are deliberately indistinguishable.
    Undecryptable,
    Random(RandomUnavailable),
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CryptoError::BadKeyring(why) => write!(f, "DATA_KEYS is not usable: {why}"),
            CryptoError::UnknownKey(id) => write!(f, "no data key {id:?} in DATA_KEYS"),
            CryptoError::Undecryptable => {
                f.write_str("the ciphertext does not open with its key and binding")
            }
            CryptoError::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CryptoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CryptoError::Random(e) => Some(e),
            _ => None,
        }
    }
}

impl Keyring {
    /// Parses `id:base64url(32 bytes)[,id:…]`; the first key is the active one.
    pub fn parse(spec: &str) -> Result<Self, CryptoError> {
        let bad = |why: String| CryptoError::BadKeyring(why);
        let mut keys: Vec<DataKey> = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (id, material) = entry
                .split_once(':')
                .ok_or_else(|| bad("each key is `id:base64url`".into()))?;
            let id = id.trim();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad(format!(
                    "key id {id:?} must be letters, digits, - or _"
                )));
            }
            if keys.iter().any(|k| k.id.0 == id) {
                return Err(bad(format!("key id {id:?} appears twice")));
            }
            let bytes = URL_SAFE_NO_PAD
                .decode(material.trim().trim_end_matches('='))
                .map_err(|_| bad(format!("key {id:?} is not base64url")))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| bad(format!("key {id:?} is {} bytes, not 32", bytes.len())))?;
            keys.push(DataKey {
                id: KeyId(id.to_owned()),
                cipher,
                signing: derive_signing_key(&bytes),
            });
        }
        if keys.is_empty() {
            return Err(bad(
                "no keys (generate one: `head -c 32 /dev/urandom | basenc --base64url`)".into(),
            ));
        }
        Ok(Self { keys })
    }

    /// Every configured key id, in `DATA_KEYS` order: the first is active.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// `sealed` sealed again under the active key with the same binding, or `None` when the
    /// active key sealed it already: what the re-encryption sweep does to each stored secret.
    pub fn reseal(
        &self,
        sealed: &Sealed,
        binding: Binding<'_>,
    ) -> Result<Option<Sealed>, CryptoError> {
        if &sealed.key_id == self.active_key_id() {
            return Ok(None);
        }
        let plaintext = self.open(sealed, binding)?;
        self.seal(binding, &plaintext).map(Some)
    }

    pub fn active_key_id(&self) -> &KeyId {
        &self.keys[0].id
    }

    /// The active key's id and signing key: what new signatures use.
    pub fn active_signing_key(&self) -> (&KeyId, &[u8; 32]) {
        (&self.keys[0].id, &self.keys[0].signing)
    }

    /// The signing key of key `id`, while the ring still holds it (rotation: old links verify
    /// until their key is retired).
    pub fn signing_key(&self, id: &str) -> Option<&[u8; 32]> {
        self.keys
            .iter()
            .find(|k| k.id.as_str() == id)
            .map(|k| &k.signing)
    }

    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let key = &self.keys[0];
        let nonce = random_bytes::<NONCE_LEN>().map_err(CryptoError::Random)?;
        let aad = associated_data(binding, &key.id);
        let ciphertext = key
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Undecryptable)?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: key.id.clone(),
            blob: URL_SAFE_NO_PAD.encode(blob),
        })
    }

    pub fn open(&self, sealed: &Sealed, binding: Binding<'_>) -> Result<Vec<u8>, CryptoError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| CryptoError::UnknownKey(sealed.key_id.0.clone()))?;
        let blob = URL_SAFE_NO_PAD
            .decode(&sealed.blob)
            .map_err(|_| CryptoError::Undecryptable)?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Undecryptable);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let aad = associated_data(binding, &key.id);
        key.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Undecryptable)
    }
}

impl Sealed {
    pub fn new(key_id: &str, blob: String) -> Self {
        Self {
            key_id: KeyId(key_id.to_owned()),
            blob,
        }
    }
}

/// HMAC-SHA256(material, label): a key for signing, distinct from the encryption key.
fn derive_signing_key(material: &[u8]) -> [u8; 32] {
    crate::core::crypto::digest::hmac_sha256(material, &[b"evergreen/signing-key/v1"])
}

/// Length-prefixed fields, so no two different bindings encode to the same bytes.
fn associated_data(binding: Binding<'_>, key_id: &KeyId) -> Vec<u8> {
    let mut out = b"evergreen/aad/v1".to_vec();
    let version = binding.version.to_string();
    for field in [
        binding.purpose,
        binding.tenant_id,
        binding.row_id,
        key_id.as_str(),
        version.as_str(),
    ] {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "k2:HxwdHhscGRgXFhUUExIREA8ODQwLCgkIBwYFBAMCAQA";

    fn binding(row: &str) -> Binding<'_> {
        Binding {
            purpose: "grant_tokens",
            tenant_id: "ten_a",
            row_id: row,
            version: 3,
        }
    }

    #[test]
    fn sealed_secrets_open_with_the_same_binding() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal(binding("gr_1"), b"refresh-token-value").unwrap();
        assert_eq!(sealed.key_id.as_str(), "k1");
        assert!(!sealed.blob.contains("refresh-token-value"));
        assert_eq!(
            ring.open(&sealed, binding("gr_1")).unwrap(),
            b"refresh-token-value"
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_tenant_purpose_or_version_does_not_open() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal(binding("gr_1"), b"secret").unwrap();
        let others = [
            binding("gr_2"),
            Binding {
                tenant_id: "ten_b",
                ..binding("gr_1")
            },
            Binding {
                purpose: "tenant_client_secret",
                ..binding("gr_1")
            },
            Binding {
                version: 4,
                ..binding("gr_1")
            },
        ];
        for other in others {
            assert_eq!(
                ring.open(&sealed, other),
                Err(CryptoError::Undecryptable),
                "{other:?}"
            );
        }
    }

    #[test]
    fn tampering_is_detected() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal(binding("gr_1"), b"secret").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed.blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = Sealed::new("k1", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            ring.open(&tampered, binding("gr_1")),
            Err(CryptoError::Undecryptable)
        );
        let short = Sealed::new("k1", "AAAA".into());
        assert_eq!(
            ring.open(&short, binding("gr_1")),
            Err(CryptoError::Undecryptable)
        );
    }

    #[test]
    fn old_keys_open_and_the_first_key_seals() {
        let old = Keyring::parse(K1).unwrap();
        let sealed_with_k1 = old.seal(binding("gr_1"), b"secret").unwrap();
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.active_key_id().as_str(), "k2");
        assert_eq!(
            rotated.open(&sealed_with_k1, binding("gr_1")).unwrap(),
            b"secret"
        );
        assert_eq!(
            rotated.seal(binding("gr_1"), b"x").unwrap().key_id.as_str(),
            "k2"
        );
        let retired = Keyring::parse(K2).unwrap();
        assert_eq!(
            retired.open(&sealed_with_k1, binding("gr_1")),
            Err(CryptoError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn a_resealed_secret_opens_without_the_old_key_and_only_with_its_binding() {
        let old = Keyring::parse(K1).unwrap();
        let sealed_with_k1 = old.seal(binding("gr_1"), b"secret").unwrap();
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.key_ids(), vec!["k2", "k1"]);
        let moved = rotated
            .reseal(&sealed_with_k1, binding("gr_1"))
            .unwrap()
            .expect("k1's secret moves to k2");
        assert_eq!(moved.key_id.as_str(), "k2");
        let retired = Keyring::parse(K2).unwrap();
        assert_eq!(retired.open(&moved, binding("gr_1")).unwrap(), b"secret");
        assert_eq!(
            retired.open(&moved, binding("gr_2")),
            Err(CryptoError::Undecryptable),
            "the binding carries over"
        );
        // Already under the active key: nothing to do.
        assert_eq!(rotated.reseal(&moved, binding("gr_1")), Ok(None));
        // A secret presented under the wrong binding is not moved.
        assert_eq!(
            rotated.reseal(&sealed_with_k1, binding("gr_2")),
            Err(CryptoError::Undecryptable)
        );
    }

    #[test]
    fn the_same_secret_seals_differently_each_time() {
        let ring = Keyring::parse(K1).unwrap();
        let a = ring.seal(binding("gr_1"), b"secret").unwrap();
        let b = ring.seal(binding("gr_1"), b"secret").unwrap();
        assert_ne!(a.blob, b.blob);
    }

    #[test]
    fn malformed_keyrings_are_refused_with_a_reason() {
        for spec in [
            "",
            "k1",
            "k1:notbase64!!",
            "k1:AAAA",
            "k 1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            &format!("{K1},{K1}"),
        ] {
            assert!(
                matches!(Keyring::parse(spec), Err(CryptoError::BadKeyring(_))),
                "{spec}"
            );
        }
    }

    #[test]
    fn each_key_has_its_own_signing_key_and_rotation_keeps_old_ones() {
        let ring = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        let (id, active) = ring.active_signing_key();
        assert_eq!(id.as_str(), "k2");
        assert_eq!(ring.signing_key("k2"), Some(active));
        assert_ne!(ring.signing_key("k1"), Some(active));
        assert_eq!(ring.signing_key("k9"), None);
        // Not the AES key itself.
        let raw = URL_SAFE_NO_PAD.decode(&K2[3..]).unwrap();
        assert_ne!(active.as_slice(), raw.as_slice());
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let ring = Keyring::parse(K1).unwrap();
        let shown = format!("{ring:?}");
        assert!(shown.contains("k1"));
        assert!(!shown.contains("AAECAwQF"));
    }
}
