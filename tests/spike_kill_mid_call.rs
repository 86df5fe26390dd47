//! The spike (docs/spike-kill-mid-call.md): kill -9 the runtime while the fake platform holds a
//! refresh made from inside a grant's Durable Object, restart, and read what survived.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::Stack;
use evergreen_fake_platform::{HoldPoint, RefreshTokenStatus};
use serde_json::{json, Value};
use std::time::Duration;

const SCOPES: &[&str] = &["tweet.read", "users.read", "offline.access"];

fn new_probe_grant(stack: &Stack, account: &str) -> String {
    let answer = stack.worker.send(
        "POST",
        "/__test/spike/grants",
        Some(&stack.operator()),
        &json!({ "provider_account_id": account }),
    );
    assert_eq!(answer.status, 201, "{answer:?}");
    answer.body["grant_id"].as_str().unwrap().to_owned()
}

fn refresh(stack: &Stack, grant: &str, refresh_token: &str) -> common::Answer {
    stack.worker.send(
        "POST",
        &format!("/__test/spike/grants/{grant}/refresh"),
        Some(&stack.operator()),
        &json!({ "refresh_token": refresh_token }),
    )
}

#[test]
fn a_kill_mid_refresh_leaves_both_markers_and_a_token_the_platform_already_rotated() {
    let mut stack = Stack::start("spike");
    let user = "spike_user";

    // Control round, no kill: the refresh from inside the object goes through.
    let first = stack.fake.seed_x_grant(user, &stack.x_client.id, SCOPES);
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let control = new_probe_grant(&stack, user);
    let done = refresh(&stack, &control, &first_refresh);
    assert_eq!(
        (done.status, &done.body["outcome"]),
        (200, &json!("refreshed"))
    );
    let after = stack
        .worker
        .get(
            &format!("/__test/spike/grants/{control}"),
            Some(&stack.operator()),
        )
        .body;
    assert_eq!(after["d1"]["version"], 1);
    assert_eq!(after["d1"]["claim_id"], Value::Null);
    assert_eq!(after["object"]["refresh_in_flight"], Value::Null);
    assert_eq!(after["object"]["last_outcome"]["result"], "refreshed");

    // The kill round.
    let second = stack.fake.seed_x_grant(user, &stack.x_client.id, SCOPES);
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    let grant = new_probe_grant(&stack, user);
    let hold = stack.fake.hold(HoldPoint::TokenResponse);
    let caller = {
        let url = format!(
            "{}/__test/spike/grants/{grant}/refresh",
            stack.worker.base_url
        );
        let (auth, token) = (stack.operator(), second_refresh.clone());
        std::thread::spawn(move || {
            ureq::post(&url)
                .set("Authorization", &auth)
                .send_json(json!({ "refresh_token": token }))
                .map(|r| r.status())
                .map_err(|e| e.to_string())
        })
    };
    assert!(
        hold.wait_until_holding(Duration::from_secs(60)),
        "the refresh never reached the fake platform"
    );
    // The platform has rotated the token; its answer is held back. Now the runtime dies.
    assert_eq!(
        stack.fake.refresh_token_status(&second_refresh),
        Some(RefreshTokenStatus::Rotated)
    );
    stack.worker.kill9();
    let caller_saw = caller.join().unwrap();
    assert!(
        caller_saw.is_err(),
        "the caller got an answer from a killed runtime: {caller_saw:?}"
    );
    hold.release(); // the fake answers into a closed connection
    stack.worker.restart();

    let state = stack
        .worker
        .get(
            &format!("/__test/spike/grants/{grant}"),
            Some(&stack.operator()),
        )
        .body;
    // D1: the claim (write-ahead marker) survived, the version did not move.
    assert_eq!(state["d1"]["version"], 0, "{state}");
    let claim = state["d1"]["claim_id"]
        .as_str()
        .expect("the D1 claim survived the kill");
    assert!(state["d1"]["claim_expires_at"].is_string());
    // The object's storage: its own marker survived too, naming the same claim; no outcome.
    assert_eq!(
        state["object"]["refresh_in_flight"]["claim_id"], claim,
        "{state}"
    );
    assert_eq!(state["object"]["refresh_in_flight"]["version"], 0);
    assert_eq!(state["object"]["last_outcome"], Value::Null);

    // Consequences. The claim keeps a retry out until it expires…
    let retry = refresh(&stack, &grant, &second_refresh);
    assert_eq!(
        (retry.status, &retry.body["error"]["code"]),
        (409, &json!("conflict"))
    );
    // …and the stored refresh token is already dead at the platform: the new one was lost.
    assert_eq!(
        stack.fake.refresh_token_status(&second_refresh),
        Some(RefreshTokenStatus::Rotated)
    );
    assert_eq!(stack.fake.counters(user).token_refresh, 2);

    // Nothing secret reached the log or the local state.
    let log = stack.worker.log_text();
    assert!(
        log.contains(r#""event":"http.request""#),
        "the worker's JSON log lines are missing"
    );
    for secret in [
        first_refresh.as_str(),
        second_refresh.as_str(),
        first["access_token"].as_str().unwrap(),
        second["access_token"].as_str().unwrap(),
        stack.operator_secret.as_str(),
        stack.x_client.secret.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the runtime's log");
        assert_eq!(
            common::files_containing(stack.worker.persist_dir(), secret),
            Vec::<String>::new()
        );
    }
}
