//! The platforms of issue 32 under `wrangler dev`, each against its dialect at the fake
//! platform: connect in the browser flow, refresh or renewal across simulated time, a
//! revocation found by the scheduled check, disconnect with revocation, and a post made exactly
//! once under injected faults.
//!
//! - Reddit: `duration=permanent`, HTTP Basic client authentication, a refresh token that
//!   lasts until revoked, and a descriptive `User-Agent` on every call (the fake refuses any
//!   other, as Reddit does).
//! - Threads: Meta's Graph dialect on its own host, the 60-day token itself renewed
//!   (`th_refresh_token`), containers published with `threads_publish`, text alone.
//! - Pinterest: boards as the connections, continuous refresh (`refresh_on`) moving the
//!   ledger's date, a deleted board red on its own, pins from an image URL.
//! - Mastodon: every server its own provider (`mastodon:<server>`), named by the person when
//!   the link opens, an app registered per server and tenant, hostile names refused, tokens
//!   that never expire checked daily, statuses sent with an `Idempotency-Key`.
//! - Bluesky: discovery from the handle, PAR, DPoP-bound tokens with server nonces,
//!   `private_key_jwt`, rotating refresh tokens, posts written once at a record key of their own.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{chromium, query_param, Browser};
use common::ledger::{days_between, kinds, serial, sweep_until};
use common::tenants::{bearer, create_post, Tenant};
use common::x_flow::{connect_at, open, ClockShift};
use common::Stack;
use evergreen_fake_platform::{
    bluesky, pinterest, reddit, threads, PublishFault, RefreshTokenStatus,
};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// Publishing's knobs, small enough to watch retries happen in seconds.
const PUBLISH: &str =
    "max_attempts=3,retry_first_secs=1,retry_max_secs=2,stagger_secs=1,timeout_secs=3,lease_secs=20";

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("new-platforms", |_| {
            vec![("PUBLISH".into(), PUBLISH.into())]
        })
    })
}

/// Rejections the fake recorded since `from` (an index into its list).
fn rejections_since(s: &Stack, from: usize) -> Vec<String> {
    s.fake.rejections()[from..]
        .iter()
        .map(|r| format!("{}: {}", r.endpoint, r.reason))
        .collect()
}

/// Waits until the post's target for `connection` is in `state`; the target then.
fn wait_for_target(
    s: &Stack,
    tenant: &Tenant<'_>,
    post: &str,
    connection: &str,
    state: &str,
) -> Value {
    s.worker.eventually(
        Duration::from_secs(60),
        &format!("{connection} {state}"),
        || {
            let shown = tenant.get(&format!("/v1/posts/{post}"));
            let target = shown.body["targets"]
                .as_array()?
                .iter()
                .find(|t| t["connection_id"] == connection)?
                .clone();
            (target["state"] == state).then_some(target)
        },
    )
}

/// Answers the fake platform's consent page for `authorize` (posted to `action_path`) as
/// `username`, with `decision` (`approve` or `deny`); the redirect it answers (the callback).
fn decide_at(
    s: &Stack,
    browser: &Browser,
    authorize: &str,
    action_path: &str,
    username: &str,
    decision: &str,
) -> String {
    let mut fields = common::browser::query_pairs(authorize);
    fields.push(("username".into(), username.into()));
    fields.push(("decision".into(), decision.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{}{action_path}", s.fake.base_url());
    browser.post_form(&action, &fields).redirect().to_owned()
}

/// Makes a post of `body` under `key` and waits until its target for `connection` is
/// published: the target, and the posts the fake platform holds with `body`'s text.
fn publish_and_wait(
    s: &Stack,
    tenant: &Tenant<'_>,
    key: &str,
    connection: &str,
    body: Value,
) -> (Value, Vec<evergreen_fake_platform::PublishedPost>) {
    let made = create_post(s, tenant, key, &body);
    assert_eq!(made.status, 201, "{made:?}");
    let post = made.body["id"].as_str().unwrap().to_owned();
    let done = wait_for_target(s, tenant, &post, connection, "published");
    let posts = s.fake.posts_with_text(body["text"].as_str().unwrap());
    assert_eq!(posts.len(), 1, "made exactly once: {posts:?}");
    assert_eq!(done["platform_post_id"], posts[0].id.as_str(), "{done}");
    (done, posts)
}

#[test]
fn reddit_connects_in_chromium_with_a_permanent_grant_and_a_descriptive_user_agent() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Reddit browser");
    let rejected = s.fake.rejections().len();
    let connect_url = tenant.connect_url_for("reddit", "u-reddit");
    let authorize = open(&Browser::new(), &connect_url);
    assert!(
        authorize.starts_with(&format!("{}{}?", s.fake.base_url(), reddit::AUTHORIZE_PATH)),
        "{authorize}"
    );
    assert_eq!(
        query_param(&authorize, "duration").as_deref(),
        Some("permanent")
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("identity submit history")
    );
    assert_eq!(query_param(&authorize, "code_challenge"), None, "no PKCE");

    let connect_url = tenant.connect_url_for("reddit", "u-reddit");
    let landed = chromium(
        "connect.mjs",
        [connect_url.as_str(), "snoo_one"],
        "Reddit connect",
    );
    let url = landed["url"].as_str().unwrap();
    let connection = query_param(url, "connection_id").unwrap_or_else(|| panic!("{landed}"));
    let shown = tenant.connection(&connection);
    assert_eq!(shown["provider"], "reddit");
    assert_eq!(shown["account"]["kind"], "profile");
    assert_eq!(shown["account"]["username"], "snoo_one");
    let account = s.fake.account("snoo_one").unwrap();
    assert_eq!(
        shown["account"]["id"],
        format!("rd{}", account.id),
        "read at /id"
    );
    assert_eq!(shown["health"]["colour"], "green");
    // A permanent grant: a refresh token that never expires, so no death date in the ledger.
    assert_eq!(shown["grant_expires_at"], Value::Null, "{shown}");
    let issued = s.fake.tokens_issued_to("snoo_one");
    assert_eq!(issued.refresh.len(), 1, "duration=permanent brings one");
    assert_eq!(
        tenant.token(&connection).body["access_token"],
        issued.access[0].as_str()
    );
    // The token call (Basic), the identity call: each with a User-Agent Reddit accepts.
    assert_eq!(rejections_since(s, rejected), Vec::<String>::new());

    // Declining at Reddit's consent page: nothing is stored and the app hears why.
    let before = tenant.connections().len();
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url_for("reddit", "u-decline"));
    let page = browser.get(&authorize);
    assert_eq!(page.status, 200, "{page:?}");
    let callback = decide_at(
        s,
        &browser,
        &authorize,
        reddit::AUTHORIZE_PATH,
        "snoo_declines",
        "deny",
    );
    let back = browser.get(&callback);
    assert_eq!(
        query_param(back.redirect(), "error").as_deref(),
        Some("access_denied"),
        "{back:?}"
    );
    assert_eq!(tenant.connections().len(), before);
}

#[test]
fn a_reddit_grant_is_renewed_every_hour_for_days_and_its_revocation_turns_it_red() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Reddit renew");
    let ids = connect_at(
        s,
        &tenant,
        "reddit",
        reddit::AUTHORIZE_PATH,
        "u-renew",
        "snoo_renew",
    );
    let connection = &ids[0];
    let refresh_token = s.fake.tokens_issued_to("snoo_renew").refresh[0].clone();
    // Three days, a day at a time: each read past the hour's token is one refresh with the
    // same (never rotated) refresh token, and the grant stays green.
    let mut seen = vec![tenant.token(connection).body["access_token"].clone()];
    for day in 1..=3 {
        let _later = ClockShift::by_days(s, day);
        s.fake
            .advance_clock("snoo_renew", Duration::from_secs(86_400));
        let read = tenant.token(connection);
        assert_eq!(read.status, 200, "day {day}: {read:?}");
        assert!(
            !seen.contains(&read.body["access_token"]),
            "day {day}: a new token"
        );
        seen.push(read.body["access_token"].clone());
        assert_eq!(
            s.fake.refresh_token_status(&refresh_token),
            Some(RefreshTokenStatus::Active)
        );
        assert_eq!(tenant.connection(connection)["health"]["colour"], "green");
    }
    assert_eq!(s.fake.counters("snoo_renew").token_refresh, 3);
    assert_eq!(s.fake.tokens_issued_to("snoo_renew").refresh.len(), 1);

    // The person revokes the app in Reddit's settings: the next daily check finds it.
    s.fake.revoke_all_grants_of("snoo_renew");
    let _later = ClockShift::by_days(s, 5);
    s.fake
        .advance_clock("snoo_renew", Duration::from_secs(2 * 86_400));
    let red = sweep_until(s, &tenant, connection, "red");
    assert_eq!(red["health"]["reason"], "revoked_or_expired", "{red}");
    assert_eq!(kinds(&tenant.events(connection)), ["connection.revoked"]);
}

#[test]
fn a_reddit_post_is_made_once_through_a_rate_limit_and_a_lost_answer() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Reddit posts");
    let ids = connect_at(
        s,
        &tenant,
        "reddit",
        reddit::AUTHORIZE_PATH,
        "u-post",
        "snoo_posts",
    );
    let connection = &ids[0];

    // Reddit refuses inside a 200 (`RATELIMIT`): nothing was posted, so it is retried.
    s.fake.inject_publish_fault(PublishFault::Refuse(429));
    let text = "Launch day\nWe ship at noon, links at https://example.test/launch";
    let made = create_post(
        s,
        &tenant,
        "rd-1",
        &json!({ "text": text, "connection_ids": [connection] }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let post = made.body["id"].as_str().unwrap().to_owned();
    let done = wait_for_target(s, &tenant, &post, connection, "published");
    assert_eq!(done["attempts"], 2, "{done}");
    let posts = s.fake.posts_with_text(text);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        posts[0].author, "snoo_posts",
        "to the account's own profile"
    );
    assert_eq!(done["platform_post_id"], posts[0].id.as_str());
    assert!(posts[0].id.starts_with("t3_"), "{:?}", posts[0]);

    // Made, then a 503: the account's posts show it, so it is not sent again.
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Second post\nMade, then the answer was lost";
    let made = create_post(
        s,
        &tenant,
        "rd-2",
        &json!({ "text": text, "connection_ids": [connection] }),
    );
    let post = made.body["id"].as_str().unwrap().to_owned();
    let done = wait_for_target(s, &tenant, &post, connection, "published");
    let posts = s.fake.posts_with_text(text);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(done["platform_post_id"], posts[0].id.as_str(), "{done}");
    assert_eq!(done["attempts"], 1, "{done}");

    // Disconnecting revokes the grant at Reddit (Basic client authentication, 204).
    let refresh_token = s.fake.tokens_issued_to("snoo_posts").refresh[0].clone();
    let gone = s
        .worker
        .call(
            "DELETE",
            &format!("/v1/connections/{connection}"),
            Some(&bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(s.fake.counters("snoo_posts").revoke, 1);
    assert_ne!(
        s.fake.refresh_token_status(&refresh_token),
        Some(RefreshTokenStatus::Active)
    );
}

#[test]
fn threads_connects_renews_its_own_token_at_day_45_and_a_removed_app_turns_it_red() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Threads");
    let authorize = open(
        &Browser::new(),
        &tenant.connect_url_for("threads", "u-threads-look"),
    );
    assert!(
        authorize.starts_with(&format!(
            "{}{}?",
            s.fake.base_url(),
            threads::AUTHORIZE_PATH
        )),
        "{authorize}"
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("threads_basic,threads_content_publish")
    );
    let ids = connect_at(
        s,
        &tenant,
        "threads",
        threads::AUTHORIZE_PATH,
        "u-threads",
        "th_writer",
    );
    assert_eq!(ids.len(), 1);
    let shown = tenant.connection(&ids[0]);
    assert_eq!(shown["provider"], "threads");
    assert_eq!(shown["account"]["username"], "th_writer");
    assert_eq!(
        shown["account"]["id"],
        s.fake.account("th_writer").unwrap().id
    );
    assert_eq!(shown["health"]["colour"], "green");
    // The code's one-hour token was exchanged at once for a 60-day one: the ledger's date.
    let life = days_between(&shown["created_at"], &shown["grant_expires_at"]);
    assert!((59.9..60.1).contains(&life), "{shown}");
    let first = tenant.token(&ids[0]);

    // Renewed by the sweep 15 days before it ends (th_refresh_token), for a new 60 days.
    s.fake
        .advance_clock("th_writer", Duration::from_secs(45 * 86_400));
    let _day_45 = ClockShift::by_days(s, 45);
    s.worker.run_cron("0 * * * *");
    s.worker
        .eventually(Duration::from_secs(30), "a renewal", || {
            (s.fake.counters("th_writer").token_refresh == 1).then_some(())
        });
    let renewed = tenant.token(&ids[0]);
    assert_eq!(renewed.status, 200, "{renewed:?}");
    assert_ne!(renewed.body["access_token"], first.body["access_token"]);
    let after = tenant.connection(&ids[0]);
    assert_eq!(after["health"]["colour"], "green", "{after}");
    let moved = days_between(&shown["grant_expires_at"], &after["grant_expires_at"]);
    assert!(
        (44.9..45.1).contains(&moved),
        "the ledger moved 45 days: {after}"
    );

    // The person removes the app in Threads' settings: the daily check hears Meta's 190/458.
    s.fake.remove_meta_app("th_writer", &s.threads_client.id);
    drop(_day_45);
    let _day_47 = ClockShift::by_days(s, 47);
    s.fake
        .advance_clock("th_writer", Duration::from_secs(2 * 86_400));
    let red = sweep_until(s, &tenant, &ids[0], "red");
    assert_eq!(red["health"]["reason"], "app_removed", "{red}");
    assert_eq!(kinds(&tenant.events(&ids[0])), ["connection.revoked"]);
}

#[test]
fn a_threads_text_post_is_made_once_when_the_publish_answer_is_lost() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Threads posts");
    let ids = connect_at(
        s,
        &tenant,
        "threads",
        threads::AUTHORIZE_PATH,
        "u-th-post",
        "th_poster",
    );
    let connection = &ids[0];
    // A refused publish call (nothing made) is retried; then a publish whose answer is lost
    // after the post was made is settled by the container (PUBLISHED) and the profile's list.
    s.fake.inject_publish_fault(PublishFault::Refuse(400));
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Threads, text alone, made once";
    let (done, posts) = publish_and_wait(
        s,
        &tenant,
        "th-1",
        connection,
        json!({ "text": text, "connection_ids": [connection] }),
    );
    assert_eq!(posts[0].platform, "threads");
    assert!(posts[0].media.is_empty(), "a text post");
    assert_eq!(done["platform_post_id"], posts[0].id.as_str(), "{done}");

    // An image goes in an IMAGE container that Threads fetches from its URL.
    let text = "Threads, with a picture";
    let (done, posts) = publish_and_wait(
        s,
        &tenant,
        "th-2",
        connection,
        json!({
            "text": text,
            "connection_ids": [connection],
            "media": [image("th.png", "image/png", 4096)],
        }),
    );
    assert!(posts[0].media[0].contains("th.png"), "{:?}", posts[0]);
    assert_eq!(done["platform_post_id"], posts[0].id.as_str(), "{done}");
}

/// A file on the fake's media host: `bytes` long, served as `content_type`.
fn image(name: &str, content_type: &str, bytes: u64) -> Value {
    json!({
        "url": format!("https://media.example.test/{name}?bytes={bytes}&type={content_type}"),
        "kind": "image",
        "content_type": content_type,
        "size_bytes": bytes,
    })
}

#[test]
fn pinterest_boards_are_the_connections_and_continuous_refresh_moves_the_ledger() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Pinterest");
    let recipes = s.fake.add_pinterest_board("pin_cook", "Recipes");
    let travel = s.fake.add_pinterest_board("pin_cook", "Travel");
    let authorize = open(
        &Browser::new(),
        &tenant.connect_url_for("pinterest", "u-pin-look"),
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("user_accounts:read,boards:read,pins:read,pins:write")
    );
    let ids = connect_at(
        s,
        &tenant,
        "pinterest",
        pinterest::AUTHORIZE_PATH,
        "u-pin",
        "pin_cook",
    );
    // The boards, each a connection of the one grant; the profile is not (pins go to boards).
    let shown: Vec<Value> = ids.iter().map(|id| tenant.connection(id)).collect();
    let boards: Vec<(&str, &str, &str)> = shown
        .iter()
        .map(|c| {
            (
                c["account"]["kind"].as_str().unwrap(),
                c["account"]["id"].as_str().unwrap(),
                c["account"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        boards,
        [
            ("board", recipes.as_str(), "Recipes"),
            ("board", travel.as_str(), "Travel")
        ]
    );
    assert_eq!(shown[0]["grant_id"], shown[1]["grant_id"]);
    // The ledger's date is the refresh token's 60 days.
    let life = days_between(&shown[0]["created_at"], &shown[0]["grant_expires_at"]);
    assert!((59.9..60.1).contains(&life), "{}", shown[0]);
    let first_refresh = s.fake.tokens_issued_to("pin_cook").refresh[0].clone();

    // A week before the 30-day token ends, the sweep refreshes with refresh_on=true: a new
    // 60-day refresh token, so the ledger's date moves out by the 24 days that passed.
    s.fake
        .advance_clock("pin_cook", Duration::from_secs(24 * 86_400));
    let _day_24 = ClockShift::by_days(s, 24);
    s.worker.run_cron("0 * * * *");
    s.worker
        .eventually(Duration::from_secs(30), "a refresh", || {
            (s.fake.counters("pin_cook").token_refresh == 1).then_some(())
        });
    let after = tenant.connection(&ids[0]);
    let moved = days_between(&shown[0]["grant_expires_at"], &after["grant_expires_at"]);
    assert!((23.9..24.1).contains(&moved), "moved {moved} days: {after}");
    assert_eq!(after["health"]["colour"], "green", "{after}");
    assert_eq!(
        s.fake.refresh_token_status(&first_refresh),
        Some(RefreshTokenStatus::Rotated),
        "continuous refresh replaced it"
    );

    // A board deleted at Pinterest: the next daily check turns only its connection red.
    s.fake.delete_pinterest_board("pin_cook", &travel);
    drop(_day_24);
    let _day_25 = ClockShift::by_days(s, 25);
    s.fake
        .advance_clock("pin_cook", Duration::from_secs(86_400));
    let gone = sweep_until(s, &tenant, &ids[1], "red");
    assert_eq!(gone["health"]["reason"], "access_lost", "{gone}");
    assert_eq!(tenant.connection(&ids[0])["health"]["colour"], "green");

    // The person disconnects the app at Pinterest: the check's refresh hears 283 and the
    // grant is red.
    s.fake.revoke_all_grants_of("pin_cook");
    drop(_day_25);
    let _day_27 = ClockShift::by_days(s, 27);
    s.fake
        .advance_clock("pin_cook", Duration::from_secs(2 * 86_400));
    let red = sweep_until(s, &tenant, &ids[0], "red");
    assert_eq!(red["health"]["reason"], "revoked_or_expired", "{red}");
}

#[test]
fn a_pinterest_account_without_a_board_is_refused_and_nothing_is_stored() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Pinterest boardless");
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url_for("pinterest", "u-no-board"));
    assert_eq!(browser.get(&authorize).status, 200);
    let callback = decide_at(
        s,
        &browser,
        &authorize,
        pinterest::AUTHORIZE_PATH,
        "pin_boardless",
        "approve",
    );
    let back = browser.get(&callback);
    assert_eq!(
        query_param(back.redirect(), "error").as_deref(),
        Some("no_postable_accounts"),
        "{back:?}"
    );
    assert!(tenant.connections().is_empty());
}

#[test]
fn a_pin_is_made_once_through_a_refusal_and_a_lost_answer() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Pins");
    let board = s.fake.add_pinterest_board("pin_poster", "Launches");
    let ids = connect_at(
        s,
        &tenant,
        "pinterest",
        pinterest::AUTHORIZE_PATH,
        "u-pins",
        "pin_poster",
    );
    let connection = &ids[0];
    // A pin needs an image: text alone is refused when the post is made.
    let bare = create_post(
        s,
        &tenant,
        "pin-0",
        &json!({ "text": "no image", "connection_ids": [connection] }),
    );
    assert_eq!(bare.status, 422, "{bare:?}");
    s.fake.inject_publish_fault(PublishFault::Refuse(400));
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Launch pin, made once";
    let (done, pins) = publish_and_wait(
        s,
        &tenant,
        "pin-1",
        connection,
        json!({
            "text": text,
            "connection_ids": [connection],
            "media": [image("launch.jpg", "image/jpeg", 2048)],
        }),
    );
    assert_eq!(pins[0].author, board, "on the connection's board");
    assert!(pins[0].media[0].contains("launch.jpg"), "{:?}", pins[0]);
    assert_eq!(done["platform_post_id"], pins[0].id.as_str(), "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
}

/// Connects `username`'s account on the Mastodon server `server` through the whole browser
/// flow: the link asks for the server, the server's consent, the callback. The connection id.
fn connect_mastodon(
    s: &Stack,
    tenant: &Tenant<'_>,
    end_user: &str,
    server: &str,
    username: &str,
) -> String {
    let browser = Browser::new();
    let link = tenant.connect_url_for("mastodon", end_user);
    let form = browser.get(&link);
    assert_eq!(form.status, 200, "{form:?}");
    assert!(form.body.contains("name=\"server\""), "{}", form.body);
    let authorize = browser
        .post_form(&link, &[("server", server)])
        .redirect()
        .to_owned();
    assert!(
        authorize.starts_with(&format!("{}/{server}/oauth/authorize?", s.fake.base_url())),
        "{authorize}"
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("read:accounts read:statuses write:statuses")
    );
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(browser.get(&authorize).status, 200);
    let action = format!("/{server}/oauth/authorize");
    let callback = decide_at(s, &browser, &authorize, &action, username, "approve");
    let back = browser.get(&callback);
    query_param(back.redirect(), "connection_id").unwrap_or_else(|| panic!("{back:?}"))
}

#[test]
fn mastodon_asks_for_the_server_and_registers_one_app_per_server_and_tenant() {
    let _serial = serial();
    let s = stack();
    s.fake.add_mastodon_server("mastodon.social");
    s.fake.add_mastodon_server("fosstodon.org");
    let tenant = Tenant::new(s, "Mastodon");
    let alice = connect_mastodon(s, &tenant, "u-md-a", "mastodon.social", "md_alice");
    let shown = tenant.connection(&alice);
    assert_eq!(shown["provider"], "mastodon:mastodon.social", "{shown}");
    assert_eq!(shown["account"]["username"], "md_alice@mastodon.social");
    assert_eq!(
        shown["account"]["id"],
        s.fake.account("md_alice").unwrap().id
    );
    assert_eq!(shown["health"]["colour"], "green");
    // Tokens do not expire: nothing in the ledger dies on a date.
    assert_eq!(shown["grant_expires_at"], Value::Null, "{shown}");
    assert_eq!(
        tenant.token(&alice).body["access_token"],
        s.fake.tokens_issued_to("md_alice").access[0].as_str()
    );
    assert_eq!(s.fake.mastodon_apps_on("mastodon.social"), 1);

    // The same server again: the app registered the first time is used.
    let bob = connect_mastodon(s, &tenant, "u-md-b", "mastodon.social", "md_bob");
    assert_eq!(tenant.connection(&bob)["health"]["colour"], "green");
    assert_eq!(s.fake.mastodon_apps_on("mastodon.social"), 1);
    // Another server is another provider, with an app of its own.
    let carol = connect_mastodon(s, &tenant, "u-md-c", "fosstodon.org", "md_carol");
    assert_eq!(
        tenant.connection(&carol)["provider"],
        "mastodon:fosstodon.org"
    );
    assert_eq!(s.fake.mastodon_apps_on("fosstodon.org"), 1);
    // Another tenant registers its own app on the same server.
    let other = Tenant::new(s, "Mastodon 2");
    connect_mastodon(s, &other, "u-md-d", "mastodon.social", "md_dave");
    assert_eq!(s.fake.mastodon_apps_on("mastodon.social"), 2);
}

#[test]
fn a_hostile_mastodon_server_name_is_refused_and_the_link_still_works() {
    let _serial = serial();
    let s = stack();
    s.fake.add_mastodon_server("mstdn.social");
    let tenant = Tenant::new(s, "Mastodon hostile");
    let browser = Browser::new();
    let link = tenant.connect_url_for("mastodon", "u-md-hostile");
    assert_eq!(browser.get(&link).status, 200);
    for hostile in [
        "127.0.0.1",
        "localhost",
        "10.0.0.5",
        "192.168.1.10",
        "169.254.169.254",
        "[::1]",
        "[fd00::1]",
        "0x7f.1",
        "printer.local",
        "db.internal",
        "mstdn.social:8443",
        "user:pass@mstdn.social",
        "http://mstdn.social",
        "mstdn.social/oauth/authorize",
    ] {
        let refused = browser.post_form(&link, &[("server", hostile)]);
        assert_eq!(refused.status, 400, "{hostile}: {refused:?}");
        assert!(
            refused.body.contains("name=\"server\""),
            "{hostile}: the form again"
        );
        assert_eq!(refused.location, None, "{hostile}: nothing was called");
    }
    assert_eq!(s.fake.mastodon_apps_on("mstdn.social"), 0);
    // Nothing was opened: the same link goes on once a real server is named.
    let authorize = browser.post_form(&link, &[("server", "https://Mstdn.Social/")]);
    assert!(
        authorize.redirect().starts_with(&format!(
            "{}/mstdn.social/oauth/authorize?",
            s.fake.base_url()
        )),
        "{authorize:?}"
    );
    // Opened now: it cannot be used again.
    let again = browser.post_form(&link, &[("server", "mstdn.social")]);
    assert_eq!(
        query_param(again.redirect(), "error").as_deref(),
        Some("connect_link_used"),
        "{again:?}"
    );
}

#[test]
fn a_mastodon_grant_is_checked_daily_for_months_and_a_revoked_token_turns_it_red() {
    let _serial = serial();
    let s = stack();
    s.fake.add_mastodon_server("hachyderm.io");
    let tenant = Tenant::new(s, "Mastodon checks");
    let conn = connect_mastodon(s, &tenant, "u-md-check", "hachyderm.io", "md_checked");
    // Thirty, sixty, ninety days on: each sweep's check is the identity call, and the grant
    // stays green (no token to renew, nothing that expires).
    for day in [30, 60, 90] {
        let before = s.fake.counters("md_checked").identity;
        let _later = ClockShift::by_days(s, day);
        s.fake
            .advance_clock("md_checked", Duration::from_secs(30 * 86_400));
        s.worker.run_cron("0 * * * *");
        s.worker
            .eventually(Duration::from_secs(30), "the daily check", || {
                (s.fake.counters("md_checked").identity > before).then_some(())
            });
        let shown = tenant.connection(&conn);
        assert_eq!(shown["health"]["colour"], "green", "day {day}: {shown}");
        assert_eq!(tenant.token(&conn).status, 200, "day {day}");
    }
    assert_eq!(s.fake.counters("md_checked").token_refresh, 0);

    // The person revokes the app in their settings: the next check finds it.
    s.fake.revoke_all_grants_of("md_checked");
    let _day_91 = ClockShift::by_days(s, 91);
    s.fake
        .advance_clock("md_checked", Duration::from_secs(86_400));
    let red = sweep_until(s, &tenant, &conn, "red");
    assert_eq!(red["health"]["reason"], "revoked_or_expired", "{red}");
    assert_eq!(kinds(&tenant.events(&conn)), ["connection.revoked"]);
}

#[test]
fn a_mastodon_status_is_made_once_under_its_idempotency_key_and_disconnect_revokes() {
    let _serial = serial();
    let s = stack();
    s.fake.add_mastodon_server("infosec.exchange");
    let tenant = Tenant::new(s, "Mastodon posts");
    let conn = connect_mastodon(s, &tenant, "u-md-post", "infosec.exchange", "md_poster");
    s.fake.inject_publish_fault(PublishFault::Refuse(429));
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Toot & <hello>, made once";
    let (done, statuses) = publish_and_wait(
        s,
        &tenant,
        "md-1",
        &conn,
        json!({ "text": text, "connection_ids": [conn] }),
    );
    assert_eq!(done["platform_post_id"], statuses[0].id.as_str(), "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    // Both attempts carried the same key: the target's id.
    let target_id = done["id"].as_str().unwrap();
    let keys: Vec<String> = s
        .fake
        .mastodon_idempotency_keys()
        .into_iter()
        .filter(|k| k == target_id)
        .collect();
    assert_eq!(keys.len(), 2, "{:?}", s.fake.mastodon_idempotency_keys());

    // Disconnecting revokes the token at the server.
    let gone = s
        .worker
        .call(
            "DELETE",
            &format!("/v1/connections/{conn}"),
            Some(&bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(s.fake.counters("md_poster").revoke, 1);
}

/// Connects `username`'s Bluesky account through the whole browser flow: the handle form,
/// discovery and the pushed consent, the consent page, the callback. The connection id.
fn connect_bluesky(s: &Stack, tenant: &Tenant<'_>, end_user: &str, username: &str) -> String {
    let browser = Browser::new();
    let link = tenant.connect_url_for("bluesky", end_user);
    let form = browser.get(&link);
    assert_eq!(form.status, 200, "{form:?}");
    assert!(form.body.contains("name=\"handle\""), "{}", form.body);
    let handle = format!("@{username}.bsky.social");
    let sent = browser.post_form(&link, &[("handle", handle.as_str())]);
    let authorize = sent.redirect().to_owned();
    assert!(
        authorize.starts_with(&format!(
            "{}{}?",
            s.fake.base_url(),
            bluesky::AUTHORIZE_PATH
        )),
        "{authorize}"
    );
    // Pushed: the browser carries only the client and the request_uri.
    assert!(query_param(&authorize, "request_uri").is_some());
    assert_eq!(query_param(&authorize, "code_challenge"), None);
    assert!(query_param(&authorize, "client_id")
        .unwrap()
        .ends_with("/oauth/client-metadata.json"));
    assert_eq!(browser.get(&authorize).status, 200);
    let callback = decide_at(
        s,
        &browser,
        &authorize,
        bluesky::AUTHORIZE_PATH,
        username,
        "approve",
    );
    let back = browser.get(&callback);
    query_param(back.redirect(), "connection_id").unwrap_or_else(|| panic!("{back:?}"))
}

#[test]
fn bluesky_connects_through_discovery_par_and_dpop_and_serves_its_client_metadata() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Bluesky");
    let did = s.fake.add_bluesky_account("bsky-alice");
    let rejected = s.fake.rejections().len();
    let conn = connect_bluesky(s, &tenant, "u-bsky-a", "bsky-alice");
    let shown = tenant.connection(&conn);
    assert_eq!(shown["provider"], "bluesky");
    assert_eq!(shown["account"]["id"], did.as_str(), "the DID");
    assert_eq!(shown["account"]["username"], "bsky-alice.bsky.social");
    assert_eq!(shown["health"]["colour"], "green", "{shown}");
    // Every request carried a fresh proof; the only refusals were the servers asking for
    // their nonce, which each request then carried.
    let refusals = rejections_since(s, rejected);
    assert!(!refusals.is_empty(), "the first proofs had no nonce");
    assert!(refusals.iter().all(|r| r.contains("nonce")), "{refusals:?}");
    // The token API hands out the token with its key: a DPoP-bound token is no use without.
    let read = tenant.token(&conn);
    assert_eq!(read.body["token_type"], "DPoP", "{read:?}");
    assert_eq!(read.body["dpop"]["did"], did.as_str());
    assert!(read.body["dpop"]["jwk"]["d"].is_string());

    // The client metadata and JWKS, at public URLs: the metadata's client_id is its own URL.
    let metadata = s.worker.get("/oauth/client-metadata.json", None);
    assert_eq!(metadata.status, 200, "{metadata:?}");
    let client_id = metadata.body["client_id"].as_str().unwrap();
    assert!(
        client_id.ends_with("/oauth/client-metadata.json"),
        "{client_id}"
    );
    assert_eq!(metadata.body["dpop_bound_access_tokens"], true);
    assert_eq!(
        metadata.body["token_endpoint_auth_method"],
        "private_key_jwt"
    );
    let jwks = s.worker.get("/oauth/jwks.json", None);
    assert_eq!(jwks.status, 200, "{jwks:?}");
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert!(key["x"].is_string() && key.get("d").is_none(), "{key}");

    // A handle that is not an account: the form again, the link unopened.
    let browser = Browser::new();
    let link = tenant.connect_url_for("bluesky", "u-bsky-none");
    assert_eq!(browser.get(&link).status, 200);
    let none = browser.post_form(&link, &[("handle", "nobody-here.bsky.social")]);
    assert_eq!(none.status, 400, "{none:?}");
    assert!(none.body.contains("could not find"), "{}", none.body);
    let hostile = browser.post_form(&link, &[("handle", "127.0.0.1")]);
    assert_eq!(hostile.status, 400, "{hostile:?}");
}

#[test]
fn a_bluesky_grant_refreshes_with_rotating_tokens_through_a_new_nonce_and_a_revoked_one_turns_red()
{
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Bluesky refresh");
    s.fake.add_bluesky_account("bsky-bob");
    let conn = connect_bluesky(s, &tenant, "u-bsky-b", "bsky-bob");
    let first = tenant.token(&conn).body["access_token"].clone();
    let first_refresh = s.fake.tokens_issued_to("bsky-bob").refresh[0].clone();
    // Three days, an hour past each token: a refresh each time, through new nonces.
    for day in 1..=3 {
        s.fake.rotate_bluesky_nonces();
        let _later = ClockShift::by_days(s, day);
        s.fake
            .advance_clock("bsky-bob", Duration::from_secs(86_400));
        let read = tenant.token(&conn);
        assert_eq!(read.status, 200, "day {day}: {read:?}");
        assert_ne!(read.body["access_token"], first, "day {day}");
        assert_eq!(tenant.connection(&conn)["health"]["colour"], "green");
    }
    assert_eq!(s.fake.counters("bsky-bob").token_refresh, 3);
    assert_eq!(
        s.fake.refresh_token_status(&first_refresh),
        Some(RefreshTokenStatus::Rotated)
    );
    // The person revokes the app: the next daily check finds it.
    s.fake.revoke_all_grants_of("bsky-bob");
    let _later = ClockShift::by_days(s, 5);
    s.fake
        .advance_clock("bsky-bob", Duration::from_secs(2 * 86_400));
    let red = sweep_until(s, &tenant, &conn, "red");
    assert_eq!(red["health"]["reason"], "revoked_or_expired", "{red}");
    assert_eq!(kinds(&tenant.events(&conn)), ["connection.revoked"]);
}

#[test]
fn a_replayed_proof_a_stale_nonce_and_a_mismatched_iss_are_refused() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Bluesky refusals");
    s.fake.add_bluesky_account("bsky-carol");
    connect_bluesky(s, &tenant, "u-bsky-c", "bsky-carol");
    // The proof Evergreen sent the token endpoint, sent again: refused as a replay.
    let proof = s.fake.last_bluesky_token_proof().expect("a proof was sent");
    let replayed = ureq::post(&format!("{}/bsky.social/oauth/token", s.fake.base_url()))
        .set("dpop", &proof)
        .send_form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]);
    let Err(ureq::Error::Status(400, answer)) = replayed else {
        panic!("a replayed proof was not refused: {replayed:?}");
    };
    let body: Value = answer.into_json().unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("replayed"));
    // A proof with a stale nonce is refused with the new one, and Evergreen's next proof
    // carries it: the refresh after the rotation went through (the other test), and here the
    // refusal is on record.
    let before = s.fake.rejections().len();
    s.fake.rotate_bluesky_nonces();
    let _later = ClockShift::by_days(s, 1);
    s.fake
        .advance_clock("bsky-carol", Duration::from_secs(86_400));
    let conn = tenant.connections()[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(tenant.token(&conn).status, 200);
    assert!(rejections_since(s, before)
        .iter()
        .any(|r| r.contains("stale")));

    // The callback claims another issuer than the one the consent was pushed to: refused,
    // nothing stored.
    s.fake
        .set_bluesky_callback_iss(Some("https://evil.example.org"));
    s.fake.add_bluesky_account("bsky-dan");
    let browser = Browser::new();
    let link = tenant.connect_url_for("bluesky", "u-bsky-d");
    browser.get(&link);
    let authorize = browser
        .post_form(&link, &[("handle", "bsky-dan.bsky.social")])
        .redirect()
        .to_owned();
    let callback = decide_at(
        s,
        &browser,
        &authorize,
        bluesky::AUTHORIZE_PATH,
        "bsky-dan",
        "approve",
    );
    s.fake.set_bluesky_callback_iss(None);
    let back = browser.get(&callback);
    assert_eq!(
        query_param(back.redirect(), "error").as_deref(),
        Some("issuer_mismatch"),
        "{back:?}"
    );
    assert_eq!(tenant.connections().len(), 1, "nothing stored for dan");
    assert_eq!(s.fake.counters("bsky-dan").token_authorization_code, 0);
}

#[test]
fn a_bluesky_post_is_written_once_through_a_refusal_and_a_lost_answer() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Bluesky posts");
    s.fake.add_bluesky_account("bsky-erin");
    let conn = connect_bluesky(s, &tenant, "u-bsky-e", "bsky-erin");
    s.fake.inject_publish_fault(PublishFault::Refuse(400));
    s.fake
        .inject_publish_fault(PublishFault::ServerErrorAfterCreate);
    let text = "Skeet, written once";
    let (done, posts) = publish_and_wait(
        s,
        &tenant,
        "bsky-1",
        &conn,
        json!({ "text": text, "connection_ids": [conn] }),
    );
    assert!(posts[0].id.starts_with("at://did:plc:"), "{:?}", posts[0]);
    assert_eq!(done["platform_post_id"], posts[0].id.as_str(), "{done}");
    assert_eq!(done["attempts"], 2, "{done}");

    // Disconnecting revokes at the account's authorization server.
    let gone = s
        .worker
        .call(
            "DELETE",
            &format!("/v1/connections/{conn}"),
            Some(&bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(s.fake.counters("bsky-erin").revoke, 1);
}
