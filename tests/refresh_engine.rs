//! The refresh engine under `wrangler dev`: on-demand refreshes through the grant's Durable
//! Object, one provider call for many readers, dead grants only on the platform's word (with
//! one event however often the verdict is reached), an outage that the circuit bounds and the
//! sweep recovers from, the lost-outcome rule, the sweep touching exactly the due grants,
//! validation and manual refresh.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::{kinds, serial};
use common::tenants::Tenant;
use common::x_flow::{connect, connect_youtube, ClockShift};
use common::{Answer, Stack};
use evergreen_fake_platform::{Fault, RefreshTokenStatus};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| start("refresh-engine"))
}

/// A worker that backs off one to two minutes and opens its circuit after three failures.
fn start(name: &str) -> Stack {
    Stack::start_with(name, |_| {
        vec![
            (
                "REFRESH_BACKOFF".into(),
                "first=60,max=120,red_after_days=3".into(),
            ),
            (
                "CIRCUIT_BREAKER".into(),
                "failures=3,open_seconds=60".into(),
            ),
        ]
    })
}

fn access_token(read: &Answer) -> String {
    assert_eq!(read.status, 200, "{read:?}");
    read.body["access_token"].as_str().unwrap().to_owned()
}

/// X access tokens live 2 h and are refreshed when under 30 min are left: 100 minutes on,
/// a token read must refresh first.
const INSIDE_THRESHOLD_MINUTES: i64 = 100;

#[test]
fn a_hundred_concurrent_readers_cause_one_refresh_and_all_get_its_token() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Single flight");
    let connection = connect(s, &tenant, "user-1", "flight_user");
    let before = s.fake.tokens_issued_to("flight_user");
    let _later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES);

    let reads: Vec<Answer> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| tenant.token(&connection)))
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let tokens: HashSet<String> = reads.iter().map(access_token).collect();
    assert_eq!(tokens.len(), 1, "every reader gets the one new token");
    assert_eq!(s.fake.counters("flight_user").token_refresh, 1);
    let token = tokens.into_iter().next().unwrap();
    assert!(
        !before.access.contains(&token),
        "a new token, not the old one"
    );
    assert!(s
        .fake
        .tokens_issued_to("flight_user")
        .access
        .contains(&token));
    assert_eq!(
        s.fake.refresh_token_status(&before.refresh[0]),
        Some(RefreshTokenStatus::Rotated)
    );
    // Fresh now: more reads make no more calls.
    assert_eq!(access_token(&tenant.token(&connection)), token);
    assert_eq!(s.fake.counters("flight_user").token_refresh, 1);
}

#[test]
fn revocation_at_the_platform_makes_the_connection_dead_with_its_reason() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Revoked");
    let connection = connect(s, &tenant, "user-2", "revoked_user");
    assert_eq!(s.fake.revoke_all_grants_of("revoked_user"), 1);
    let _later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES);

    let read = tenant.token(&connection);
    assert_eq!(read.status, 409, "{read:?}");
    assert_eq!(read.body["error"]["code"], "connection_dead");
    let message = read.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("revoked or expired at the platform"),
        "{message}"
    );

    // Dead is settled: the next read says so without asking the platform again.
    let refusals = s.fake.rejections().len();
    let again = tenant.token(&connection);
    assert_eq!(again.body["error"]["code"], "connection_dead", "{again:?}");
    assert_eq!(s.fake.rejections().len(), refusals);

    // Red, with the reason, and one event saying so.
    let shown = tenant.connection(&connection);
    assert_eq!(shown["health"]["colour"], "red", "{shown}");
    assert_eq!(shown["health"]["reason"], "revoked_or_expired");
    let events = tenant.events(&connection);
    assert_eq!(kinds(&events), ["connection.revoked"], "{events:?}");
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["health"]["colour"], "red");

    // The verdict reached a second time (a stale view of the grant put back, the platform
    // asked again and refusing again) is still one event: its dedupe key is the same.
    let grant = shown["grant_id"].as_str().unwrap();
    let revived = s.worker.send(
        "POST",
        &format!("/__test/grants/{grant}/revive"),
        Some(&s.operator()),
        &Value::Null,
    );
    assert_eq!(revived.status, 200, "{revived:?}");
    let twice = tenant.token(&connection);
    assert_eq!(twice.body["error"]["code"], "connection_dead", "{twice:?}");
    assert_eq!(s.fake.rejections().len(), refusals + 1, "asked again");
    assert_eq!(kinds(&tenant.events(&connection)), ["connection.revoked"]);
}

/// The last sweep's summary, from its heartbeat.
fn last_sweep(s: &Stack) -> Value {
    s.worker.last_cron_summary("sweep")
}

#[test]
fn an_outage_keeps_connections_usable_the_circuit_bounds_the_calls_and_the_sweep_recovers() {
    // A worker of its own: the sweep below must take exactly these five grants, and on the
    // shared worker another test's grant falls due too once the clock moves.
    let own = start("refresh-engine-outage");
    let s = &own;
    let tenant = Tenant::new(s, "Outage");
    let users: Vec<String> = (0..5).map(|i| format!("storm_user_{i}")).collect();
    let connections: Vec<String> = users
        .iter()
        .map(|u| connect(s, &tenant, &format!("ref-{u}"), u))
        .collect();
    let old: Vec<String> = connections
        .iter()
        .map(|c| access_token(&tenant.token(c)))
        .collect();
    let later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES);

    // The platform answers 503 to everything. Every token still has 20 minutes: served.
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    let calls = s.fake.token_endpoint_calls();
    for (c, token) in connections.iter().zip(&old) {
        assert_eq!(&access_token(&tenant.token(c)), token);
    }
    // Three failures open the circuit (CIRCUIT_BREAKER failures=3): the last two grants are
    // not even tried. Reading again while backing off costs nothing either.
    assert_eq!(s.fake.token_endpoint_calls() - calls, 3);
    for c in &connections {
        access_token(&tenant.token(c));
    }
    assert_eq!(s.fake.token_endpoint_calls() - calls, 3);

    // Yellow with the reason, never red: nobody is told to reconnect for an outage.
    for c in &connections {
        let shown = tenant.connection(c);
        assert_eq!(shown["health"]["colour"], "yellow", "{shown}");
        assert_eq!(shown["health"]["reason"], "refresh_failing");
        assert_eq!(kinds(&tenant.events(c)), ["connection.degraded"]);
    }
    let listed = |health: &str| -> Vec<String> {
        let answer = tenant.get(&format!("/v1/connections?health={health}"));
        assert_eq!(answer.status, 200, "{answer:?}");
        let mut ids: Vec<String> = answer.body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut all = connections.clone();
    all.sort();
    assert_eq!(listed("yellow"), all);
    assert!(listed("green").is_empty());
    let refused = tenant.get("/v1/connections?health=purple");
    assert_eq!(refused.status, 400);
    assert_eq!(refused.body["error"]["code"], "invalid_request");

    // The outage ends. Past the circuit's open minute and the backoff, the sweep retries them.
    s.fake.set_token_outage(None);
    drop(later);
    let _later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES + 4);
    s.worker.run_cron("0 * * * *");
    assert_eq!(last_sweep(s)["taken"], 5, "{}", last_sweep(s));
    for (c, token) in connections.iter().zip(&old) {
        let shown = s
            .worker
            .eventually(Duration::from_secs(30), "recovery", || {
                let shown = tenant.connection(c);
                (shown["health"]["colour"] == "green").then_some(shown)
            });
        assert!(shown["last_refresh_at"].is_string(), "{shown}");
        assert_eq!(
            kinds(&tenant.events(c)),
            ["connection.degraded", "connection.recovered"]
        );
        assert_ne!(&access_token(&tenant.token(c)), token);
    }
    for u in &users {
        assert_eq!(s.fake.counters(u).token_refresh, 1, "{u}");
    }
}

#[test]
fn the_sweep_touches_exactly_the_due_grants() {
    // A worker of its own: every live grant has a daily check, so the other tests' grants
    // would be due too on the shared one.
    let own = Stack::start("refresh-engine-sweep");
    let s = &own;
    let tenant = Tenant::new(s, "Sweep");
    // Every grant has a next check (its daily slot, whatever its policy); each is at its own
    // moment of the day. Two YouTube channels and an X account.
    let grants: Vec<(String, &str)> = vec![
        (
            connect_youtube(s, &tenant, "yt-a", "sweep_yt_a"),
            "sweep_yt_a",
        ),
        (
            connect_youtube(s, &tenant, "yt-b", "sweep_yt_b"),
            "sweep_yt_b",
        ),
        (connect(s, &tenant, "x-user", "sweep_x"), "sweep_x"),
    ];
    let next = |c: &str| -> chrono::DateTime<chrono::Utc> {
        let shown = tenant.connection(c);
        shown["next_check_at"]
            .as_str()
            .unwrap_or_else(|| panic!("every grant has a next check: {shown}"))
            .parse()
            .unwrap()
    };
    let mut order: Vec<(chrono::DateTime<chrono::Utc>, String, &str)> = grants
        .iter()
        .map(|(c, user)| (next(c), c.clone(), *user))
        .collect();
    order.sort();
    let (first_at, first, first_user) = order[0].clone();
    assert!(
        order[1].0 - first_at > chrono::Duration::minutes(5),
        "{order:?}"
    );
    let calls = |user: &str| {
        let c = s.fake.counters(user);
        c.identity + c.token_refresh
    };
    let before: Vec<u64> = order.iter().map(|(_, _, u)| calls(u)).collect();

    // Just past the first one's moment: the sweep takes it and nothing else.
    let minutes = (first_at - chrono::Utc::now()).num_minutes() + 2;
    let _later = ClockShift::by_minutes(s, minutes);
    s.worker.run_cron("0 * * * *");
    assert_eq!(last_sweep(s)["taken"], 1, "{}", last_sweep(s));
    s.worker
        .eventually(Duration::from_secs(30), "the due grant's check", || {
            (calls(first_user) == before[0] + 1).then_some(())
        });
    let checked = s
        .worker
        .eventually(Duration::from_secs(30), "the next check moved", || {
            let shown = tenant.connection(&first);
            (next(&first) > first_at).then_some(shown)
        });
    assert_eq!(checked["health"]["colour"], "green");
    for (i, (_, _, user)) in order.iter().enumerate().skip(1) {
        assert_eq!(calls(user), before[i], "{user} was not due");
    }

    // Swept again: nothing is due any more, so nothing is taken.
    s.worker.run_cron("0 * * * *");
    assert_eq!(last_sweep(s)["taken"], 0, "{}", last_sweep(s));
    assert_eq!(calls(first_user), before[0] + 1);
}

#[test]
fn validate_asks_the_platform_and_refreshes_once_when_it_refuses_the_token() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Validate");
    let connection = connect(s, &tenant, "user-5", "validate_user");
    let old = access_token(&tenant.token(&connection));
    let identity_calls = s.fake.counters("validate_user").identity;

    let checked = tenant.token_with(&connection, &json!({ "validate": true }));
    assert_eq!(access_token(&checked), old);
    assert_eq!(checked.body["validated"], true, "{checked:?}");
    assert_eq!(
        s.fake.counters("validate_user").identity,
        identity_calls + 1
    );
    assert!(tenant.connection(&connection)["last_validated_at"].is_string());

    // The platform stops accepting the token before its stated expiry: validate finds out,
    // refreshes once, and hands out the new token, checked.
    assert!(s.fake.expire_access_tokens_of("validate_user") >= 1);
    let renewed = tenant.token_with(&connection, &json!({ "validate": true }));
    let token = access_token(&renewed);
    assert_ne!(token, old);
    assert_eq!(renewed.body["validated"], true, "{renewed:?}");
    assert_eq!(s.fake.counters("validate_user").token_refresh, 1);
    // Without validate nobody asks the platform.
    let calls = s.fake.counters("validate_user").identity;
    assert_eq!(access_token(&tenant.token(&connection)), token);
    assert_eq!(s.fake.counters("validate_user").identity, calls);
}

#[test]
fn a_manual_refresh_renews_the_grant_now_and_needs_the_manage_scope() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Manual");
    let connection = connect(s, &tenant, "user-6", "manual_user");
    let old = access_token(&tenant.token(&connection));

    let refreshed = tenant.refresh(&connection);
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.body["id"], connection.as_str());
    assert_eq!(refreshed.body["health"]["colour"], "green");
    assert!(refreshed.body["last_refresh_at"].is_string());
    assert_eq!(s.fake.counters("manual_user").token_refresh, 1);
    assert_ne!(access_token(&tenant.token(&connection)), old);

    let with_token_key = s.worker.send(
        "POST",
        &format!("/v1/connections/{connection}/refresh"),
        Some(&common::tenants::bearer(&tenant.tokens)),
        &Value::Null,
    );
    assert_eq!(with_token_key.status, 403, "{with_token_key:?}");

    assert_eq!(s.fake.revoke_all_grants_of("manual_user"), 1);
    let dead = tenant.refresh(&connection);
    assert_eq!(dead.status, 409, "{dead:?}");
    assert_eq!(dead.body["error"]["code"], "connection_dead");
    let unknown = tenant.refresh("conn_nope");
    assert_eq!(unknown.status, 404, "{unknown:?}");
}

#[test]
fn a_lost_answer_after_rotation_follows_the_lost_outcome_rule() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Lost answer");
    let connection = connect(s, &tenant, "user-4", "lost_user");
    let _later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES);

    // The platform rotates, then the answer is lost; the single retry with the stored token
    // is refused (it was rotated), so the grant is dead with the reason that says so.
    s.fake.inject_token_fault(Fault::LostAfterIssue);
    let read = tenant.token(&connection);
    assert_eq!(read.status, 409, "{read:?}");
    assert_eq!(read.body["error"]["code"], "connection_dead");
    let message = read.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("answer was lost"), "{message}");
    assert_eq!(s.fake.counters("lost_user").token_refresh, 1);
    let last = s.fake.rejections().pop().unwrap();
    assert_eq!(last.endpoint, "token");
}
