//! The fake speaks Google's OAuth 2.0 the way Evergreen relies on: offline access, refresh
//! tokens that don't rotate but die after six months unused (a week for a testing-mode app),
//! and revocation; answers as `fixtures/google.json` pins them.

mod common;

use common::{agent, answer_json as answer};
use evergreen_fake_platform::{fixtures, google, FakePlatform, RefreshTokenStatus};
use std::time::Duration;

const ID: &str = "yt-client";
const SECRET: &str = "yt-secret";
const SCOPE: &str = "https://www.googleapis.com/auth/youtube.readonly";
const DAY: Duration = Duration::from_secs(86_400);

fn start() -> FakePlatform {
    common::start(ID, SECRET)
}

fn token(fake: &FakePlatform, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let mut fields = vec![("client_id", ID), ("client_secret", SECRET)];
    fields.extend_from_slice(form);
    answer(
        agent()
            .post(&format!("{}{}", fake.base_url(), google::TOKEN_PATH))
            .send_form(&fields),
    )
}

/// Consent by `username` with offline access; returns the refresh token.
fn connect(fake: &FakePlatform, username: &str) -> String {
    let redirect = agent()
        .post(&format!("{}{}", fake.base_url(), google::AUTHORIZE_PATH))
        .send_form(&[
            ("response_type", "code"),
            ("client_id", ID),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
            ("state", "s"),
            ("scope", SCOPE),
            ("access_type", "offline"),
            ("grant_0", SCOPE),
            ("username", username),
            ("decision", "approve"),
        ])
        .unwrap();
    let location = redirect.header("location").unwrap();
    let query = location.split_once('?').unwrap().1;
    let code = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let (status, tokens) = token(
        fake,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:1/cb"),
        ],
    );
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["expires_in"], 3599);
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

fn refresh(fake: &FakePlatform, refresh_token: &str) -> (u16, serde_json::Value) {
    token(
        fake,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
}

fn dead_grant_body() -> serde_json::Value {
    fixtures::google().responses["refresh_token_invalid"]
        .body
        .clone()
}

#[test]
fn refresh_tokens_do_not_rotate() {
    let fake = start();
    let rt = connect(&fake, "carol");
    for _ in 0..2 {
        let (status, renewed) = refresh(&fake, &rt);
        assert_eq!(status, 200, "{renewed}");
        assert!(renewed.get("refresh_token").is_none(), "{renewed}");
    }
    assert_eq!(fake.counters("carol").token_refresh, 2);
}

#[test]
fn a_refresh_token_unused_for_six_months_dies_and_use_keeps_it_alive() {
    let fake = start();
    let used = connect(&fake, "dana");
    let idle = connect(&fake, "erin");

    // dana refreshes every 150 days; erin never does.
    for _ in 0..2 {
        fake.advance_clock("dana", DAY * 150);
        assert_eq!(refresh(&fake, &used).0, 200);
    }
    fake.advance_clock("erin", DAY * 179);
    fake.advance_clock("erin", DAY * 2);
    let (status, body) = refresh(&fake, &idle);
    assert_eq!((status, body), (400, dead_grant_body()));
    // Dead for good, even if used again at once.
    assert_eq!(refresh(&fake, &idle).0, 400);
    assert_eq!(
        fake.refresh_token_status(&idle),
        Some(RefreshTokenStatus::Revoked)
    );
}

#[test]
fn a_testing_mode_app_loses_its_refresh_tokens_after_a_week_however_often_used() {
    let fake = start();
    fake.set_testing_mode(ID, true);
    let rt = connect(&fake, "frank");
    for _ in 0..6 {
        fake.advance_clock("frank", DAY);
        assert_eq!(refresh(&fake, &rt).0, 200);
    }
    fake.advance_clock("frank", DAY + Duration::from_secs(1));
    assert_eq!(refresh(&fake, &rt), (400, dead_grant_body()));
}

#[test]
fn a_user_removing_access_ends_every_grant_of_theirs() {
    let fake = start();
    let rt = connect(&fake, "gina");
    let other = connect(&fake, "hank");
    assert_eq!(fake.revoke_all_grants_of("gina"), 1);
    assert_eq!(refresh(&fake, &rt), (400, dead_grant_body()));
    assert_eq!(refresh(&fake, &other).0, 200);
}
