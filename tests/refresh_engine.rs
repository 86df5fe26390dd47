//! The refresh engine under `wrangler dev`: on-demand refreshes through the grant's Durable
//! Object, one provider call for many readers, dead grants only on the platform's word,
//! backoff through an outage, and the lost-outcome rule.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tenants::Tenant;
use common::x_flow::{connect, ClockShift};
use common::{Answer, Stack};
use evergreen_fake_platform::{Fault, RefreshTokenStatus};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, OnceLock};

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("refresh-engine", |_| {
            vec![(
                "REFRESH_BACKOFF".into(),
                "first=60,max=120,red_after_days=3".into(),
            )]
        })
    })
}

/// The tests move the worker's clock and arm faults on the shared fake: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
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
}

#[test]
fn an_outage_keeps_the_token_usable_backs_off_and_recovers() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Outage");
    let connection = connect(s, &tenant, "user-3", "storm_user");
    let old = access_token(&tenant.token(&connection));
    let later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES);

    // One 503; the token still has 20 minutes, so it is served.
    s.fake.inject_token_fault(Fault::ServiceUnavailable);
    assert_eq!(access_token(&tenant.token(&connection)), old);
    // Backing off: the next reader does not call the platform (had it called, the fault
    // being spent, it would have refreshed).
    assert_eq!(access_token(&tenant.token(&connection)), old);
    assert_eq!(s.fake.counters("storm_user").token_refresh, 0);

    // Past the backoff (at most 120 s here), the refresh goes through.
    drop(later);
    let _later = ClockShift::by_minutes(s, INSIDE_THRESHOLD_MINUTES + 3);
    let renewed = access_token(&tenant.token(&connection));
    assert_ne!(renewed, old);
    assert_eq!(s.fake.counters("storm_user").token_refresh, 1);
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
