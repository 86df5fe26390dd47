//! Publishing under `wrangler dev`, against the fake platform's publish endpoints: text posts
//! on X, LinkedIn and Facebook Pages through the publish queue. In every test the fake's post
//! list shows each post made exactly once, or deliberately not at all.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::{kinds, serial, time};
use common::tenants::{bearer, create_post, Tenant};
use common::x_flow::{connect, connect_at, connect_x_linkedin_facebook, ClockShift};
use common::{Answer, Stack};
use evergreen_fake_platform::{linkedin, PublishFault};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// Publishing's knobs, small enough to watch retries and spacing happen in seconds.
const PUBLISH: &str =
    "max_attempts=3,retry_first_secs=1,retry_max_secs=2,stagger_secs=3,timeout_secs=3,lease_secs=20";
const GAP_MS: i64 = 3_000;
const WAIT: Duration = Duration::from_secs(60);

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("publishing", |_| vec![("PUBLISH".into(), PUBLISH.into())])
    })
}

fn post(tenant: &Tenant<'_>, id: &str) -> Value {
    let shown = tenant.get(&format!("/v1/posts/{id}"));
    assert_eq!(shown.status, 200, "{shown:?}");
    shown.body
}

/// The target going to `connection`.
fn target<'v>(post: &'v Value, connection: &str) -> &'v Value {
    post["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["connection_id"] == connection)
        .unwrap_or_else(|| panic!("no target for {connection}: {post}"))
}

/// Waits until the target for `connection` is in `state`; the post then.
fn wait_for(s: &Stack, tenant: &Tenant<'_>, id: &str, connection: &str, state: &str) -> Value {
    s.worker
        .eventually(WAIT, &format!("{connection} to be {state}"), || {
            let shown = post(tenant, id);
            (target(&shown, connection)["state"] == state).then_some(shown)
        })
}

fn manage(s: &Stack, tenant: &Tenant<'_>, path: &str) -> Answer {
    s.worker
        .send("POST", path, Some(&bearer(&tenant.manage)), &json!({}))
}

#[test]
fn three_platforms_with_one_revoked_publish_two_park_one_and_reconnect_sends_only_that_one() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "three-platforms");
    let [x, li, fb] = connect_x_linkedin_facebook(s, &tenant, "u-three", "three", "Three Bakery");
    assert_eq!(s.fake.revoke_all_grants_of("three_x"), 1);

    let text = "Fresh bread at nine, on three platforms";
    let made = create_post(
        s,
        &tenant,
        "three-1",
        &json!({ "text": text, "connection_ids": [x, li, fb] }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.body["id"].as_str().unwrap().to_owned();
    wait_for(s, &tenant, &id, &li, "published");
    wait_for(s, &tenant, &id, &fb, "published");
    let parked = wait_for(s, &tenant, &id, &x, "parked");
    assert_eq!(target(&parked, &x)["reason"], "connection_dead", "{parked}");
    assert_eq!(parked["state"], "needs_attention");
    assert_eq!(tenant.connection(&x)["health"]["colour"], "red");
    let platforms = |posts: Vec<evergreen_fake_platform::PublishedPost>| {
        let mut p: Vec<&str> = posts.iter().map(|p| p.platform).collect();
        p.sort();
        p
    };
    assert_eq!(
        platforms(s.fake.posts_with_text(text)),
        ["facebook", "linkedin"]
    );

    // The same account connects again: the grant is restored in place and the parked
    // target goes out; the two published ones are not repeated.
    assert_eq!(connect(s, &tenant, "u-three", "three_x"), x);
    let done = wait_for(s, &tenant, &id, &x, "published");
    assert_eq!(done["state"], "published");
    assert_eq!(
        platforms(s.fake.posts_with_text(text)),
        ["facebook", "linkedin", "x"]
    );
    let retried = manage(s, &tenant, &format!("/v1/posts/{id}/retry"));
    assert_eq!(
        retried.body["retried"],
        json!([]),
        "nothing failed or parked: {retried:?}"
    );
    // Each published target has the platform's own id.
    for c in [&x, &li, &fb] {
        let t = target(&done, c);
        let made = s
            .fake
            .posts()
            .into_iter()
            .find(|p| p.id == t["platform_post_id"]);
        assert!(made.is_some_and(|p| p.text == text), "{t}");
    }
}

#[test]
fn a_refusal_is_retried_and_the_post_is_made_once() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "refused-once");
    let x = connect(s, &tenant, "u-refused", "refused_x");
    s.fake.inject_publish_fault(PublishFault::Refuse(400));
    let text = "Refused once, then taken";
    let made = create_post(
        s,
        &tenant,
        "refused-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let id = made.body["id"].as_str().unwrap();
    let done = wait_for(s, &tenant, id, &x, "published");
    assert_eq!(target(&done, &x)["attempts"], 2, "{done}");
    assert_eq!(s.fake.posts_with_text(text).len(), 1);

    // The same key and body answer the same post; another body under the key is a conflict.
    let again = create_post(
        s,
        &tenant,
        "refused-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    assert_eq!((again.status, &again.body["id"]), (200, &json!(id)));
    let other = create_post(
        s,
        &tenant,
        "refused-1",
        &json!({ "text": "else", "connection_ids": [x] }),
    );
    assert_eq!(other.status, 409);
    assert_eq!(other.body["error"]["code"], "idempotency_conflict");
    assert_eq!(s.fake.posts_with_text(text).len(), 1);
}

#[test]
fn a_5xx_after_the_post_was_made_is_found_on_the_platform_not_sent_again() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "made-then-503");
    let x = connect(s, &tenant, "u-503", "made_503_x");
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Made, then the platform answered 503";
    let made = create_post(
        s,
        &tenant,
        "503-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    let id = made.body["id"].as_str().unwrap();
    let done = wait_for(s, &tenant, id, &x, "published");
    let posts = s.fake.posts_with_text(text);
    assert_eq!(posts.len(), 1);
    assert_eq!(target(&done, &x)["platform_post_id"], posts[0].id.as_str());
    assert_eq!(target(&done, &x)["attempts"], 1);
}

#[test]
fn a_dropped_answer_is_unconfirmed_never_retried_and_resolved_by_hand() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "dropped");
    let li = connect_at(
        s,
        &tenant,
        "linkedin",
        linkedin::AUTHORIZE_PATH,
        "u-drop",
        "dropped_li",
    )[0]
    .clone();
    s.fake
        .inject_publish_fault(PublishFault::SilentAfterCreate(Duration::from_secs(6)));
    let text = "The answer to this one never arrives";
    let made = create_post(
        s,
        &tenant,
        "drop-1",
        &json!({ "text": text, "connection_ids": [li] }),
    );
    let id = made.body["id"].as_str().unwrap();
    let unsure = wait_for(s, &tenant, id, &li, "unconfirmed");
    assert_eq!(target(&unsure, &li)["reason"], "ambiguous");
    let message = target(&unsure, &li)["last_error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("no way to look the post up"), "{message}");
    // Neither the dispatch nor a retry call sends it again.
    s.worker.run_cron("* * * * *");
    let retried = manage(s, &tenant, &format!("/v1/posts/{id}/retry"));
    assert_eq!(retried.body["retried"], json!([]));
    let posts = s.fake.posts_with_text(text);
    assert_eq!(posts.len(), 1, "the platform made it once");

    let target_id = target(&unsure, &li)["id"].as_str().unwrap().to_owned();
    let resolve = format!("/v1/posts/{id}/targets/{target_id}/resolve");
    let bad = s.worker.send(
        "POST",
        &resolve,
        Some(&bearer(&tenant.manage)),
        &json!({"outcome": "published"}),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    let resolved = s.worker.send(
        "POST",
        &resolve,
        Some(&bearer(&tenant.manage)),
        &json!({"outcome": "published", "platform_post_id": posts[0].id}),
    );
    assert_eq!(resolved.status, 200, "{resolved:?}");
    assert_eq!(target(&resolved.body, &li)["state"], "published");
    let twice = s.worker.send(
        "POST",
        &resolve,
        Some(&bearer(&tenant.manage)),
        &json!({"outcome": "retry"}),
    );
    assert_eq!(
        twice.status, 409,
        "a settled target is not resolved again: {twice:?}"
    );
    assert_eq!(s.fake.posts_with_text(text).len(), 1);
}

#[test]
fn a_redelivered_message_for_a_published_target_posts_nothing() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "redelivered");
    let x = connect(s, &tenant, "u-redeliver", "redeliver_x");
    let text = "Published once, delivered three times";
    let made = create_post(
        s,
        &tenant,
        "redeliver-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    let id = made.body["id"].as_str().unwrap();
    let done = wait_for(s, &tenant, id, &x, "published");
    let target_id = target(&done, &x)["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let sent = s.worker.send(
            "POST",
            "/__test/queues/publish",
            Some(&s.operator()),
            &json!({ "target_id": target_id }),
        );
        assert_eq!(sent.status, 202, "{sent:?}");
    }
    let skipped = format!(r#""target_id":"{target_id}""#);
    s.worker
        .eventually(WAIT, "both redeliveries to be skipped", || {
            let log = s.worker.log_text();
            let n = log
                .lines()
                .filter(|l| l.contains("publish.skipped") && l.contains(&skipped))
                .count();
            (n >= 2).then_some(())
        });
    assert_eq!(s.fake.posts_with_text(text).len(), 1);
    assert_eq!(post(&tenant, id)["targets"][0]["attempts"], 1);
}

#[test]
fn two_concurrent_retries_of_a_failed_post_make_one_post() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "concurrent-retry");
    let x = connect(s, &tenant, "u-retry", "retry_x");
    for _ in 0..3 {
        s.fake.inject_publish_fault(PublishFault::Refuse(403));
    }
    let text = "Refused three times, then retried twice at once";
    let made = create_post(
        s,
        &tenant,
        "retry-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    let id = made.body["id"].as_str().unwrap().to_owned();
    let failed = wait_for(s, &tenant, &id, &x, "failed");
    assert_eq!(target(&failed, &x)["reason"], "rejected");
    assert_eq!(target(&failed, &x)["attempts"], 3);
    assert!(s.fake.posts_with_text(text).is_empty());

    let path = format!("/v1/posts/{id}/retry");
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| manage(s, &tenant, &path)))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let retried: Vec<&Value> = answers
        .iter()
        .flat_map(|a| a.body["retried"].as_array().unwrap())
        .collect();
    assert_eq!(retried.len(), 1, "one call moved the target: {answers:?}");
    wait_for(s, &tenant, &id, &x, "published");
    assert_eq!(s.fake.posts_with_text(text).len(), 1);
}

#[test]
fn identical_posts_to_two_x_accounts_go_out_the_configured_gap_apart() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "staggered");
    let a = connect(s, &tenant, "u-gap", "gap_a");
    let b = connect(s, &tenant, "u-gap", "gap_b");
    let text = "Same words, two accounts";
    let first = create_post(
        s,
        &tenant,
        "gap-a",
        &json!({ "text": text, "connection_ids": [a] }),
    );
    let second = create_post(
        s,
        &tenant,
        "gap-b",
        &json!({ "text": text, "connection_ids": [b] }),
    );
    let (pa, pb) = (
        first.body["id"].as_str().unwrap(),
        second.body["id"].as_str().unwrap(),
    );
    let planned = |p: &Value, c: &str| time(&target(p, c)["not_before"]);
    let gap = planned(&second.body, &b) - planned(&first.body, &a);
    assert_eq!(gap.num_milliseconds(), GAP_MS, "planned the gap apart");
    wait_for(s, &tenant, pa, &a, "published");
    wait_for(s, &tenant, pb, &b, "published");
    let posts = s.fake.posts_with_text(text);
    assert_eq!(posts.len(), 2);
    let apart = posts[1]
        .received_at
        .duration_since(posts[0].received_at)
        .unwrap();
    // The queue hands a delayed message over within its batch timeout (1 s) of its time.
    assert!(
        apart >= Duration::from_millis((GAP_MS - 1_000) as u64),
        "{apart:?}"
    );
}

#[test]
fn preflight_finds_a_revoked_grant_before_the_posts_slot() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "preflight");
    let x = connect(s, &tenant, "u-pre", "preflight_x");
    let slot = chrono::Utc::now() + chrono::Duration::hours(2);
    let text = "Due in two hours";
    let made = create_post(
        s,
        &tenant,
        "pre-1",
        &json!({ "text": text, "connection_ids": [x], "publish_at": slot.to_rfc3339() }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(target(&made.body, &x)["state"], "scheduled");
    s.fake.revoke_all_grants_of("preflight_x");
    // An hour before the slot (and a minute), the hourly sweep's pre-flight check runs.
    let _later = ClockShift::by_minutes(s, 61);
    s.worker.run_cron("0 * * * *");
    s.worker.eventually(WAIT, "the revocation to be found", || {
        (kinds(&tenant.events(&x)) == ["connection.revoked"]).then_some(())
    });
    let id = made.body["id"].as_str().unwrap();
    assert_eq!(
        target(&post(&tenant, id), &x)["state"],
        "scheduled",
        "still before its slot"
    );
    assert!(s.fake.posts_with_text(text).is_empty());
}
