//! Facebook Pages and Instagram under `wrangler dev`, against the fake platform's Meta dialect:
//! a person's Pages as connections of one grant with their own Page tokens, kept alive by
//! `debug_token` validation (a password change and a lost Page role, each named), Meta's
//! deauthorize and data-deletion callbacks with their `signed_request`, and Instagram's
//! access-token refresh at its lead time, never before 24 hours and never once expired.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::{days_between, kinds, serial, sweep_until};
use common::tenants::Tenant;
use common::x_flow::{connect_at, ClockShift};
use common::Stack;
use evergreen_fake_platform::{facebook, instagram};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start("meta"))
}

const DAY: Duration = Duration::from_secs(86_400);

/// Connects `username`'s Pages through the real flow; every connection id.
fn connect_pages(s: &Stack, tenant: &Tenant<'_>, end_user: &str, username: &str) -> Vec<String> {
    connect_at(
        s,
        tenant,
        "facebook",
        facebook::AUTHORIZE_PATH,
        end_user,
        username,
    )
}

/// POSTs a Meta callback form (`signed_request=…`) to the worker.
fn meta_callback(s: &Stack, path: &str, signed_request: &str) -> (u16, Value) {
    let url = format!("{}{path}", s.worker.base_url);
    let answer = match ureq::post(&url).send_form(&[("signed_request", signed_request)]) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("the worker answers: {e}"),
    };
    let status = answer.status();
    (status, answer.into_json().unwrap_or(Value::Null))
}

#[test]
fn two_pages_are_two_connections_served_their_own_tokens_and_a_lost_role_turns_one_red() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Pages");
    s.fake.add_facebook_page("page_owner", "Bakery");
    let cafe = s.fake.add_facebook_page("page_owner", "Cafe");
    let ids = connect_pages(s, &tenant, "u-pages", "page_owner");
    assert_eq!(ids.len(), 2, "the Pages only, not the person: {ids:?}");
    let shown: Vec<Value> = ids.iter().map(|id| tenant.connection(id)).collect();
    let names: Vec<&str> = shown
        .iter()
        .map(|c| c["account"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bakery", "Cafe"]);
    for c in &shown {
        assert_eq!(c["account"]["kind"], "page");
        assert_eq!(c["grant_id"], shown[0]["grant_id"], "one grant");
        assert_eq!(c["health"]["colour"], "green", "{c}");
        // Page tokens do not expire; the grant ends with Meta's 90-day data access.
        assert_eq!(c["access_expires_at"], Value::Null);
        assert!(c["grant_expires_at"].is_string(), "{c}");
    }
    // Each Page is served its own Page token, never the person's user token.
    let user_tokens = s.fake.tokens_issued_to("page_owner").access;
    let served: Vec<String> = ids
        .iter()
        .map(|id| {
            let read = tenant.token(id);
            assert_eq!(read.status, 200, "{read:?}");
            assert_eq!(read.body["expires_at"], Value::Null);
            read.body["access_token"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_ne!(served[0], served[1]);
    assert!(served.iter().all(|t| !user_tokens.contains(t)));

    // The person loses their role on Cafe. The next daily check finds out: only Cafe is red.
    s.fake.set_facebook_page_role("page_owner", &cafe, false);
    let _tomorrow = ClockShift::by_days(s, 1);
    let cafe_shown = sweep_until(s, &tenant, &ids[1], "red");
    assert_eq!(
        cafe_shown["health"]["reason"], "access_lost",
        "{cafe_shown}"
    );
    assert!(cafe_shown["health"]["message"]
        .as_str()
        .unwrap()
        .contains("no longer has a role"));
    assert_eq!(kinds(&tenant.events(&ids[1])), ["connection.access_lost"]);
    let bakery = tenant.connection(&ids[0]);
    assert_eq!(bakery["health"]["colour"], "green", "{bakery}");
    assert!(bakery["last_validated_at"].is_string(), "{bakery}");
    assert!(tenant.events(&ids[0]).is_empty());
    // Cafe's token is no longer handed out; Bakery's still is.
    let refused = tenant.token(&ids[1]);
    assert_eq!(
        refused.body["error"]["code"], "connection_dead",
        "{refused:?}"
    );
    assert_eq!(tenant.token(&ids[0]).status, 200);
}

#[test]
fn a_password_change_at_meta_turns_every_page_red_with_that_reason() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Password");
    s.fake.add_facebook_page("pw_owner", "Florist");
    let ids = connect_pages(s, &tenant, "u-pw", "pw_owner");
    assert_eq!(s.fake.change_meta_password("pw_owner"), 1);
    let _tomorrow = ClockShift::by_days(s, 1);
    let shown = sweep_until(s, &tenant, &ids[0], "red");
    assert_eq!(shown["health"]["reason"], "password_changed", "{shown}");
    assert!(shown["health"]["message"]
        .as_str()
        .unwrap()
        .contains("password was changed"));
    assert_eq!(kinds(&tenant.events(&ids[0])), ["connection.revoked"]);
    let read = tenant.token(&ids[0]);
    assert_eq!(read.body["error"]["code"], "connection_dead", "{read:?}");
}

#[test]
fn meta_deauthorize_turns_the_grant_red_at_once_and_a_forged_signed_request_changes_nothing() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Deauth");
    s.fake.add_facebook_page("deauth_owner", "Gallery");
    let ids = connect_pages(s, &tenant, "u-deauth", "deauth_owner");

    // Signed with another app's secret: refused, and nothing changes.
    let forged = s
        .fake
        .meta_signed_request(&s.instagram_client.id, "deauth_owner");
    let (status, body) = meta_callback(s, "/platforms/facebook/deauthorize", &forged);
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
    // A payload swapped under a genuine signature: refused too.
    let genuine = s
        .fake
        .meta_signed_request(&s.facebook_client.id, "deauth_owner");
    let other = s
        .fake
        .meta_signed_request(&s.facebook_client.id, "someone_else");
    let spliced = format!(
        "{}.{}",
        genuine.split('.').next().unwrap(),
        other.split('.').nth(1).unwrap()
    );
    let (status, _) = meta_callback(s, "/platforms/facebook/deauthorize", &spliced);
    assert_eq!(status, 401);
    assert_eq!(tenant.connection(&ids[0])["health"]["colour"], "green");
    assert!(tenant.events(&ids[0]).is_empty());

    // Meta's own callback: red at once, no sweep needed.
    let (status, body) = meta_callback(s, "/platforms/facebook/deauthorize", &genuine);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["grants_ended"], 1);
    let shown = tenant.connection(&ids[0]);
    assert_eq!(shown["health"]["colour"], "red", "{shown}");
    assert_eq!(shown["health"]["reason"], "app_removed");
    assert_eq!(kinds(&tenant.events(&ids[0])), ["connection.revoked"]);
}

#[test]
fn meta_data_deletion_removes_the_persons_connections_and_answers_a_status_page() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Deletion");
    s.fake.add_facebook_page("leaving_owner", "Shop");
    s.fake.add_facebook_page("leaving_owner", "Studio");
    let ids = connect_pages(s, &tenant, "u-leaving", "leaving_owner");
    let signed = s
        .fake
        .meta_signed_request(&s.facebook_client.id, "leaving_owner");
    let (status, body) = meta_callback(s, "/platforms/facebook/data-deletion", &signed);
    assert_eq!(status, 200, "{body}");
    let code = body["confirmation_code"].as_str().unwrap();
    let url = body["url"].as_str().unwrap();
    assert!(url.ends_with(&format!("/platforms/facebook/data-deletion/{code}")));
    for id in &ids {
        let gone = tenant.get(&format!("/v1/connections/{id}"));
        assert_eq!(gone.status, 404, "{gone:?}");
        assert_eq!(tenant.token(id).status, 404);
    }
    // The status page Meta shows the person.
    let page = ureq::get(url).call().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.into_string().unwrap();
    assert!(
        html.contains(code) && html.contains("Your data was deleted"),
        "{html}"
    );
    let unknown = ureq::get(&format!(
        "{}/platforms/facebook/data-deletion/del_unknown",
        s.worker.base_url
    ))
    .call();
    assert!(matches!(unknown, Err(ureq::Error::Status(404, _))));
    // The stored tokens are gone with the last connection: a grant row keeps metadata only.
    let (status, _) = meta_callback(s, "/platforms/facebook/data-deletion", &signed);
    assert_eq!(
        status, 200,
        "a repeated request finds nothing left, and says so"
    );
}

#[test]
fn instagram_refreshes_at_its_lead_time_and_not_before_the_token_is_a_day_old() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Instagram");
    let ids = connect_at(
        s,
        &tenant,
        "instagram",
        instagram::AUTHORIZE_PATH,
        "u-ig",
        "ig_creator",
    );
    assert_eq!(ids.len(), 1);
    let shown = tenant.connection(&ids[0]);
    assert_eq!(shown["account"]["username"], "ig_creator", "{shown}");
    assert_eq!(shown["health"]["colour"], "green");
    let first = tenant.token(&ids[0]);
    assert_eq!(first.status, 200, "{first:?}");

    // An hour in, a manual refresh is refused here: Instagram would refuse it too.
    {
        let _hour = ClockShift::by_minutes(s, 60);
        let calls = s.fake.token_endpoint_calls();
        let early = tenant.refresh(&ids[0]);
        assert_eq!(s.fake.token_endpoint_calls(), calls, "nothing was sent");
        assert_eq!(early.status, 409, "{early:?}");
        assert!(early.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("24 hours"));
    }
    // The sweep's next look is the daily check (the identity call with the valid token);
    // the refresh waits for the lead time, 15 days before the 60-day token ends.
    let due_in = days_between(&shown["last_refresh_at"], &shown["next_check_at"]);
    assert!(
        due_in > 0.0 && due_in <= 1.0,
        "due after {due_in} days: {shown}"
    );
    assert_eq!(s.fake.counters("ig_creator").token_refresh, 0);
    s.fake.advance_clock("ig_creator", 45 * DAY);
    let _day_45 = ClockShift::by_days(s, 45);
    s.worker.run_cron("0 * * * *");
    s.worker
        .eventually(Duration::from_secs(30), "a refresh", || {
            (s.fake.counters("ig_creator").token_refresh == 1).then_some(())
        });
    let renewed = tenant.token(&ids[0]);
    assert_eq!(renewed.status, 200, "{renewed:?}");
    assert_ne!(renewed.body["access_token"], first.body["access_token"]);
    let after = tenant.connection(&ids[0]);
    assert_eq!(after["health"]["colour"], "green", "{after}");
    let new_life = days_between(&after["last_refresh_at"], &after["access_expires_at"]);
    assert!((59.9..60.1).contains(&new_life), "a new 60 days: {after}");
}

#[test]
fn an_expired_instagram_token_goes_red_instead_of_being_sent_for_refresh() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Instagram expired");
    let ids = connect_at(
        s,
        &tenant,
        "instagram",
        instagram::AUTHORIZE_PATH,
        "u-ig-late",
        "ig_late",
    );
    let rejections_before = s.fake.rejections().len();
    s.fake.advance_clock("ig_late", 61 * DAY);
    let _day_61 = ClockShift::by_days(s, 61);
    let read = tenant.token(&ids[0]);
    assert_eq!(read.body["error"]["code"], "token_expired", "{read:?}");
    // Red as soon as the date passed; the sweep writes it down and tells the app.
    assert_eq!(
        tenant.connection(&ids[0])["health"]["reason"],
        "grant_expired"
    );
    s.worker.run_cron("0 * * * *");
    let events = s
        .worker
        .eventually(Duration::from_secs(30), "the event", || {
            let events = tenant.events(&ids[0]);
            (!events.is_empty()).then_some(events)
        });
    assert_eq!(kinds(&events), ["connection.expired"]);
    assert_eq!(s.fake.counters("ig_late").token_refresh, 0);
    let refused: Vec<_> = s.fake.rejections()[rejections_before..]
        .iter()
        .filter(|r| r.endpoint == "token")
        .cloned()
        .collect();
    assert!(
        refused.is_empty(),
        "nothing was sent to be refused: {refused:?}"
    );
}
