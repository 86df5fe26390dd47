//! The fake speaks X's OAuth 2.0 the way Evergreen relies on, and refuses what X (or our
//! stricter reading of it) refuses.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{agent, answer};
use evergreen_fake_platform::{x, FakePlatform, HoldPoint, RefreshTokenStatus};
use std::time::Duration;

const ID: &str = "client-1";
const SECRET: &str = "secret-1";
const VERIFIER: &str = "a-verifier-that-is-long-enough-to-be-valid-per-rfc-7636-0123";

fn start() -> FakePlatform {
    common::start(ID, SECRET)
}

fn basic() -> String {
    format!("Basic {}", STANDARD.encode(format!("{ID}:{SECRET}")))
}

fn consent(fake: &FakePlatform, method: &str, decision: &str) -> ureq::Response {
    agent()
        .post(&format!("{}{}", fake.base_url(), x::AUTHORIZE_PATH))
        .send_form(&[
            ("response_type", "code"),
            ("client_id", ID),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("state", "st4te"),
            ("scope", "tweet.read users.read offline.access"),
            ("code_challenge", &x::s256(VERIFIER)),
            ("code_challenge_method", method),
            ("username", "alice"),
            ("decision", decision),
        ])
        .unwrap()
}

fn code_from(location: &str) -> String {
    let url = url_query(location);
    assert_eq!(url.get("state").map(String::as_str), Some("st4te"));
    url.get("code").cloned().expect("a code")
}

fn url_query(location: &str) -> std::collections::HashMap<String, String> {
    let query = location.split_once('?').unwrap().1;
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn token(
    fake: &FakePlatform,
    auth: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut req = agent().post(&format!("{}{}", fake.base_url(), x::TOKEN_PATH));
    if let Some(auth) = auth {
        req = req.set("Authorization", auth);
    }
    let (status, body) = answer(req.send_form(form));
    (status, serde_json::from_str(&body).unwrap())
}

/// Exchanges `code` the way Evergreen does: HTTP Basic, the same redirect URI, the verifier.
fn exchange_code(fake: &FakePlatform, code: &str) -> (u16, serde_json::Value) {
    token(
        fake,
        Some(&basic()),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("code_verifier", VERIFIER),
        ],
    )
}

#[test]
fn code_flow_with_pkce_then_rotating_refresh() {
    let fake = start();
    let redirect = consent(&fake, "S256", "approve");
    assert_eq!(redirect.status(), 302);
    let code = code_from(redirect.header("location").unwrap());

    let (status, tokens) = exchange_code(&fake, &code);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 7200);
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The code is single use.
    let (status, _) = exchange_code(&fake, &code);
    assert_eq!(status, 400);

    // Identity with the access token.
    let me = agent()
        .get(&format!("{}{}", fake.base_url(), x::IDENTITY_PATH))
        .set(
            "Authorization",
            &format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )
        .call()
        .unwrap()
        .into_json::<serde_json::Value>()
        .unwrap();
    assert_eq!(me["data"]["username"], "alice");

    // Refresh rotates; the old refresh token is then refused.
    let (status, renewed) = token(
        &fake,
        Some(&basic()),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(status, 200);
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    assert_eq!(
        fake.refresh_token_status(&refresh),
        Some(RefreshTokenStatus::Rotated)
    );
    let (status, refused) = token(
        &fake,
        Some(&basic()),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_request"))
    );

    let counters = fake.counters("alice");
    assert_eq!(
        (
            counters.authorize,
            counters.token_authorization_code,
            counters.token_refresh,
            counters.identity
        ),
        (1, 1, 1, 1)
    );
}

#[test]
fn refuses_body_auth_plain_pkce_and_a_wrong_verifier() {
    let fake = start();
    // Plain PKCE: refused at the authorize step, with a page and no redirect.
    let (status, _) = answer(
        agent()
            .get(&format!(
                "{}{}?response_type=code&client_id={ID}&redirect_uri=http://127.0.0.1:1/cb&state=s&code_challenge={}&code_challenge_method=plain",
                fake.base_url(),
                x::AUTHORIZE_PATH,
                VERIFIER
            ))
            .call(),
    );
    assert_eq!(status, 400);

    let code = code_from(
        consent(&fake, "S256", "approve")
            .header("location")
            .unwrap(),
    );
    let exchange = |auth: Option<&str>, extra: &[(&str, &str)]| {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
        ];
        form.extend_from_slice(extra);
        token(&fake, auth, &form).0
    };
    assert_eq!(
        exchange(
            None,
            &[
                ("client_id", ID),
                ("client_secret", SECRET),
                ("code_verifier", VERIFIER)
            ]
        ),
        401
    );
    assert_eq!(
        exchange(
            Some(&basic()),
            &[(
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-xx"
            )]
        ),
        400
    );

    let reasons: Vec<String> = fake.rejections().into_iter().map(|r| r.reason).collect();
    assert!(reasons.iter().any(|r| r.contains("plain")), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("client secret sent in the body")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("code_verifier does not match")),
        "{reasons:?}"
    );
}

#[test]
fn denied_consent_redirects_with_access_denied() {
    let fake = start();
    let redirect = consent(&fake, "S256", "deny");
    let query = url_query(redirect.header("location").unwrap());
    assert_eq!(
        query.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert_eq!(query.get("state").map(String::as_str), Some("st4te"));
    assert_eq!(fake.counters("alice").authorize, 0);
}

#[test]
fn a_hold_keeps_the_token_answer_back_after_the_rotation() {
    let fake = start();
    let seeded = fake.seed_x_grant("bob", ID, &["offline.access"]);
    let refresh = seeded["refresh_token"].as_str().unwrap().to_owned();
    let hold = fake.hold(HoldPoint::TokenResponse);
    let base = fake.base_url();
    let caller = {
        let refresh = refresh.clone();
        std::thread::spawn(move || {
            let (status, _) = answer(
                agent()
                    .post(&format!("{base}{}", x::TOKEN_PATH))
                    .set("Authorization", &basic())
                    .send_form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
            );
            status
        })
    };
    assert!(hold.wait_until_holding(Duration::from_secs(10)));
    // Held: the platform has already rotated the token, the caller has no answer yet.
    assert_eq!(
        fake.refresh_token_status(&refresh),
        Some(RefreshTokenStatus::Rotated)
    );
    assert!(!caller.is_finished());
    hold.release();
    assert_eq!(caller.join().unwrap(), 200);
}

/// A consented grant for alice: (access token, refresh token).
fn alice_tokens(fake: &FakePlatform) -> (String, String) {
    let code = code_from(consent(fake, "S256", "approve").header("location").unwrap());
    let (status, tokens) = exchange_code(fake, &code);
    assert_eq!(status, 200, "{tokens}");
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

fn identity_status(fake: &FakePlatform, access: &str) -> u16 {
    answer(
        agent()
            .get(&format!("{}{}", fake.base_url(), x::IDENTITY_PATH))
            .set("Authorization", &format!("Bearer {access}"))
            .call(),
    )
    .0
}

fn refresh(fake: &FakePlatform, refresh_token: &str) -> (u16, serde_json::Value) {
    token(
        fake,
        Some(&basic()),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

#[test]
fn revoking_a_token_ends_the_whole_grant_with_the_documented_answers() {
    let fake = start();
    let (access, refresh_token) = alice_tokens(&fake);
    let revoke = |auth: Option<String>| {
        let mut req = agent().post(&format!("{}{}", fake.base_url(), x::REVOKE_PATH));
        if let Some(auth) = auth {
            req = req.set("Authorization", &auth);
        }
        answer(req.send_form(&[("token", &access), ("token_type_hint", "access_token")]))
    };

    // Without client authentication nothing happens.
    assert_eq!(revoke(None).0, 401);
    assert_eq!(identity_status(&fake, &access), 200);

    let (status, body) = revoke(Some(basic()));
    assert_eq!((status, body.as_str()), (200, r#"{"revoked":true}"#));
    assert_eq!(identity_status(&fake, &access), 401);
    let (status, refused) = refresh(&fake, &refresh_token);
    assert_eq!(status, 400);
    assert_eq!(
        refused,
        evergreen_fake_platform::fixtures::x().responses["refresh_token_invalid"].body
    );
    assert_eq!(
        fake.refresh_token_status(&refresh_token),
        Some(RefreshTokenStatus::Revoked)
    );
    assert_eq!(fake.counters("alice").revoke, 1);
}

#[test]
fn each_account_has_its_own_clock() {
    let fake = start();
    let (access, _) = alice_tokens(&fake);
    let bob = fake.seed_x_grant("bob", ID, &["users.read"]);
    let bob_access = bob["access_token"].as_str().unwrap();

    fake.advance_clock("alice", Duration::from_secs(7199));
    assert_eq!(identity_status(&fake, &access), 200, "still inside 2 h");
    fake.advance_clock("alice", Duration::from_secs(2));
    assert_eq!(identity_status(&fake, &access), 401, "expired after 2 h");
    assert_eq!(
        identity_status(&fake, bob_access),
        200,
        "bob's clock did not move"
    );
}

#[test]
fn a_lost_answer_still_rotates_the_refresh_token() {
    let fake = start();
    let (_, refresh_token) = alice_tokens(&fake);
    fake.inject_token_fault(evergreen_fake_platform::Fault::LostAfterIssue);
    let mut req = agent().post(&format!("{}{}", fake.base_url(), x::TOKEN_PATH));
    req = req.set("Authorization", &basic());
    let (status, body) = answer(req.send_form(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &refresh_token),
    ]));
    assert_eq!(status, 502);
    assert!(!body.contains("refresh_token"), "{body}");
    // The platform did the work: the token the caller holds is already spent.
    assert_eq!(
        fake.refresh_token_status(&refresh_token),
        Some(RefreshTokenStatus::Rotated)
    );
    assert_eq!(refresh(&fake, &refresh_token).0, 400);
    assert_eq!(fake.counters("alice").token_refresh, 1);
}

#[test]
fn a_slow_answer_arrives_late_but_whole() {
    let fake = start();
    let (_, refresh_token) = alice_tokens(&fake);
    let delay = Duration::from_millis(400);
    fake.inject_token_fault(evergreen_fake_platform::Fault::Slow(delay));
    let started = std::time::Instant::now();
    let (status, renewed) = refresh(&fake, &refresh_token);
    assert!(started.elapsed() >= delay);
    assert_eq!(status, 200, "{renewed}");
    assert!(renewed["refresh_token"].is_string());
}
