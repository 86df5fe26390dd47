//! A standard provider served from its fixture file alone (`fixtures/acme.json`): the code
//! flow with PKCE, client authentication as the file allows, rotation, revocation, userinfo.

mod common;

use common::{agent, answer_json as answer};
use evergreen_fake_platform::{fixtures, FakePlatform, RefreshTokenStatus};

const ID: &str = "acme-client";
const SECRET: &str = "acme-secret";
const VERIFIER: &str = "a-verifier-that-is-long-enough-to-be-valid-per-rfc-7636-0123";

fn base(fake: &FakePlatform, path: &str) -> String {
    format!("{}{path}", fake.base_url())
}

fn post(fake: &FakePlatform, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut fields = vec![("client_id", ID), ("client_secret", SECRET)];
    fields.extend_from_slice(form);
    answer(agent().post(&base(fake, path)).send_form(&fields))
}

#[test]
fn the_fixture_file_alone_makes_a_working_rotating_provider() {
    let f = fixtures::acme();
    let d = f.dialect.as_ref().unwrap();
    let fake = common::start(ID, SECRET);
    let agent = agent();
    let challenge = evergreen_fake_platform::x::s256(VERIFIER);
    let redirect = agent
        .post(&base(&fake, &d.authorize_path))
        .send_form(&[
            ("response_type", "code"),
            ("client_id", ID),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("state", "s"),
            ("scope", "openid posts.write"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            ("username", "ivy"),
            ("decision", "approve"),
        ])
        .unwrap();
    let location = redirect.header("location").unwrap().to_owned();
    let code = url::form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();

    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:1/cb"),
        ("code_verifier", VERIFIER),
    ];
    let (status, tokens) = post(&fake, &d.token_path, &exchange);
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], f.fact("access_lifetime_secs").clone());
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    let (status, me) = answer(
        agent
            .get(&base(&fake, &d.userinfo_path))
            .set(
                "Authorization",
                &format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
            )
            .call(),
    );
    assert_eq!(
        (status, me["preferred_username"].as_str()),
        (200, Some("ivy"))
    );
    assert_eq!(me["sub"], fake.account("ivy").unwrap().id);

    // Rotation: the new refresh token works, the old one gets the fixture's refusal.
    let (status, renewed) = post(
        &fake,
        &d.token_path,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    );
    assert_eq!(status, 200, "{renewed}");
    let rt2 = renewed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt);
    let reused = post(
        &fake,
        &d.token_path,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    );
    assert_eq!(
        reused,
        (400, f.responses["refresh_token_invalid"].body.clone())
    );

    // Revocation ends the grant.
    assert_eq!(post(&fake, &d.revoke_path, &[("token", &rt2)]).0, 200);
    assert_eq!(
        fake.refresh_token_status(&rt2),
        Some(RefreshTokenStatus::Revoked)
    );
    assert_eq!(fake.counters("ivy").revoke, 1);
}
