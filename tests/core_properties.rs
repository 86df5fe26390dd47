//! Properties of the core's parsers and signatures under generated input (issue 13, fuzzing):
//! whatever arrives, they answer without panicking (a panic restarts the wasm instance), and
//! nothing but what Evergreen signed with its own key passes. Native, no worker needed.
#![cfg(not(target_arch = "wasm32"))]

use evergreen::core::common::clock::Timestamp;
use evergreen::core::crypto::{Binding, Keyring, Sealed};
use evergreen::core::links::page_links::{self, PageClaims};
use evergreen::core::links::reconnect_links::{self, LinkClaims};
use evergreen::core::oauth::oauth_callback::CallbackParams;
use evergreen::core::oauth::{signed_request, token_response};
use evergreen::core::webhooks::webhook_signature::WebhookSecret;
use proptest::prelude::*;
use serde_json::json;

const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const OTHER_KEYS: &str = "k1:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8";
const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

fn ring(spec: &str) -> Keyring {
    Keyring::parse(spec).expect("a valid test keyring")
}

/// `token` with the character at `at` (modulo its length) replaced by another of the
/// base64url alphabet (or the separator by a letter).
fn tampered(token: &str, at: usize, with: u8) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = token.as_bytes().to_vec();
    let i = at % bytes.len();
    let mut replacement = ALPHABET[usize::from(with) % ALPHABET.len()];
    if replacement == bytes[i] {
        replacement = ALPHABET[(usize::from(with) + 1) % ALPHABET.len()];
    }
    bytes[i] = replacement;
    String::from_utf8(bytes).unwrap()
}

fn bind<'a>(tenant_id: &'a str, row_id: &'a str, version: i64) -> Binding<'a> {
    Binding {
        purpose: "grant_tokens",
        tenant_id,
        row_id,
        version,
    }
}

fn id() -> impl Strategy<Value = String> {
    "[a-z]{3,5}_[A-Za-z0-9_-]{1,22}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn reconnect_links_round_trip_and_refuse_any_change(
        grant in id(), tenant in id(), connection in id(), nonce in "[A-Za-z0-9_-]{1,22}",
        epoch in 0i64..1_000_000, at in any::<usize>(), with in any::<u8>(),
    ) {
        let claims = LinkClaims {
            grant_id: grant.into(), epoch, tenant_id: tenant.into(), connection_id: connection,
            expires_at: NOW.as_millis() + 86_400_000, nonce,
        };
        let token = reconnect_links::sign(&claims, &ring(KEYS));
        prop_assert!(reconnect_links::looks_like_token(&token));
        prop_assert_eq!(reconnect_links::verify(&token, &ring(KEYS), NOW), Ok(claims));
        prop_assert!(reconnect_links::verify(&tampered(&token, at, with), &ring(KEYS), NOW).is_err());
        prop_assert!(reconnect_links::verify(&token, &ring(OTHER_KEYS), NOW).is_err());
    }

    #[test]
    fn page_links_round_trip_and_refuse_any_change(
        tenant in id(), user in "[A-Za-z0-9_.:-]{1,64}", nonce in "[A-Za-z0-9_-]{1,22}",
        at in any::<usize>(), with in any::<u8>(),
    ) {
        let claims = PageClaims {
            tenant_id: tenant.into(), end_user_ref: user,
            expires_at: NOW.as_millis() + 60_000, nonce,
        };
        let token = page_links::sign(&claims, &ring(KEYS));
        prop_assert_eq!(page_links::verify(&token, &ring(KEYS), NOW), Ok(claims));
        prop_assert!(page_links::verify(&tampered(&token, at, with), &ring(KEYS), NOW).is_err());
        // A reconnect link's key cannot open a page, nor the other way round.
        prop_assert!(reconnect_links::verify(&token, &ring(KEYS), NOW).is_err());
    }

    #[test]
    fn arbitrary_link_text_is_refused_without_panicking(text in ".{0,700}") {
        prop_assert!(reconnect_links::verify(&text, &ring(KEYS), NOW).is_err());
        prop_assert!(page_links::verify(&text, &ring(KEYS), NOW).is_err());
        let _ = reconnect_links::looks_like_token(&text);
        let _ = page_links::looks_like_token(&text);
    }

    #[test]
    fn meta_signed_requests_verify_only_with_the_app_secret(
        user in "[0-9]{1,20}", secret in "[a-f0-9]{32}", other in "[a-f0-9]{32}",
        at in any::<usize>(), with in any::<u8>(),
    ) {
        let text = signed_request::sign(
            &json!({ "algorithm": "HMAC-SHA256", "user_id": user, "issued_at": 1_800_000_000 }),
            &secret,
        );
        let read = signed_request::verify(&text, &secret).expect("its own signature");
        prop_assert_eq!(read.user_id, user);
        prop_assert!(signed_request::verify(&tampered(&text, at, with), &secret).is_err());
        prop_assume!(other != secret);
        prop_assert!(signed_request::verify(&text, &other).is_err());
    }

    #[test]
    fn arbitrary_signed_requests_are_refused_without_panicking(text in ".{0,400}", secret in ".{0,40}") {
        prop_assert!(signed_request::verify(&text, &secret).is_err());
    }

    #[test]
    fn webhook_signatures_cover_id_time_and_body(
        id in id(), at in 0i64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..512),
        header in ".{0,200}", flip in any::<usize>(),
    ) {
        let secret = WebhookSecret::generate().expect("randomness");
        let signed = secret.sign(&id, at, &body);
        prop_assert!(secret.verify(&id, at, &body, &signed));
        prop_assert!(!secret.verify(&id, at + 1, &body, &signed));
        let other_id = format!("{}x", id);
        prop_assert!(!secret.verify(&other_id, at, &body, &signed));
        let mut changed = body.clone();
        if changed.is_empty() { changed.push(0) } else { let i = flip % changed.len(); changed[i] ^= 1; }
        prop_assert!(!secret.verify(&id, at, &changed, &signed));
        prop_assert!(!secret.verify(&id, at, &body, &header) || header == signed);
        let again = WebhookSecret::parse(&secret.expose()).expect("its own text");
        prop_assert!(again.verify(&id, at, &body, &signed));
    }

    #[test]
    fn token_answers_of_any_shape_parse_or_fail_without_panicking(
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let _ = token_response::parse(&body);
    }

    #[test]
    fn token_answers_as_json_of_any_shape_parse_or_fail(
        access in proptest::option::of(".{0,40}"), expires in proptest::option::of(any::<i64>()),
        refresh in proptest::option::of(".{0,40}"), kind in ".{0,10}",
    ) {
        let value = json!({
            "access_token": access, "expires_in": expires, "refresh_token": refresh,
            "token_type": kind,
        });
        let _ = token_response::from_value(&value);
    }

    #[test]
    fn callback_urls_of_any_shape_are_read_without_panicking(query in ".{0,300}") {
        let params = CallbackParams::from_url(&format!("https://e.example/oauth/callback?{query}"));
        let _ = params.state_hash();
        let _ = CallbackParams::from_url(&query);
    }

    #[test]
    fn a_sealed_secret_opens_only_under_its_own_binding(
        plaintext in proptest::collection::vec(any::<u8>(), 0..256),
        tenant in id(), row in id(), version in 0i64..1000, other in id(),
    ) {
        let keys = ring(KEYS);
        let sealed = keys.seal(bind(&tenant, &row, version), &plaintext).expect("seals");
        prop_assert!(!sealed.blob.is_empty());
        prop_assert_eq!(keys.open(&sealed, bind(&tenant, &row, version)).unwrap(), plaintext);
        // Swapped into another row, another tenant or another version: it does not open.
        prop_assume!(other != row && other != tenant);
        prop_assert!(keys.open(&sealed, bind(&tenant, &other, version)).is_err());
        prop_assert!(keys.open(&sealed, bind(&other, &row, version)).is_err());
        prop_assert!(keys.open(&sealed, bind(&tenant, &row, version + 1)).is_err());
        let copy = Sealed { key_id: sealed.key_id.clone(), blob: tampered(&sealed.blob, version as usize, 7) };
        prop_assert!(keys.open(&copy, bind(&tenant, &row, version)).is_err());
    }
}
