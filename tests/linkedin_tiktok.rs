//! LinkedIn and TikTok under `wrangler dev`, against the fake platform's dialects: a member's
//! pages as connections of one grant, a lost page role, the ledger of a grant that dies on a
//! fixed date (with and without programmatic refresh), and TikTok's single-use refresh tokens
//! with lifetimes read from each answer.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::{days_between, kinds, serial, sweep_until};
use common::tenants::Tenant;
use common::x_flow::{connect_at, set_clock_offset, ClockShift};
use common::Stack;
use evergreen_fake_platform::{linkedin, tiktok, RefreshTokenStatus};
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start("linkedin-tiktok"))
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn a_member_with_two_pages_is_three_connections_and_a_lost_role_turns_only_that_page_red() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Pages");
    let acme = s.fake.add_linkedin_organization("page_admin", "Acme Corp");
    let beta = s.fake.add_linkedin_organization("page_admin", "Beta Ltd");
    let ids = connect_at(
        s,
        &tenant,
        "linkedin",
        linkedin::AUTHORIZE_PATH,
        "u-pages",
        "page_admin",
    );
    assert_eq!(ids.len(), 3, "{ids:?}");
    let shown: Vec<Value> = ids.iter().map(|id| tenant.connection(id)).collect();
    assert_eq!(shown[0]["account"]["kind"], "profile");
    assert_eq!(shown[0]["account"]["name"], "Page_admin");
    let pages: Vec<(&str, &str)> = shown[1..]
        .iter()
        .map(|c| {
            assert_eq!(c["account"]["kind"], "organization");
            (
                c["account"]["id"].as_str().unwrap(),
                c["account"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    let (acme_id, beta_id) = (acme.to_string(), beta.to_string());
    assert_eq!(
        pages,
        [
            (acme_id.as_str(), "Acme Corp"),
            (beta_id.as_str(), "Beta Ltd")
        ]
    );
    for c in &shown {
        assert_eq!(c["grant_id"], shown[0]["grant_id"], "one grant");
        assert_eq!(c["health"]["colour"], "green", "{c}");
    }
    // Every versioned call carried LinkedIn-Version and Rest.li 2.0 (the fake refuses others).
    assert!(
        s.fake.rejections().iter().all(|r| r.endpoint != "api"),
        "{:?}",
        s.fake.rejections()
    );

    // The member stops administering Beta. The next daily check finds out: only Beta is red.
    s.fake.set_linkedin_admin("page_admin", beta, false);
    let _tomorrow = ClockShift::by_days(s, 1);
    s.fake.advance_clock("page_admin", DAY);
    let beta_shown = sweep_until(s, &tenant, &ids[2], "red");
    assert_eq!(
        beta_shown["health"]["reason"], "access_lost",
        "{beta_shown}"
    );
    assert!(beta_shown["health"]["message"]
        .as_str()
        .unwrap()
        .contains("no longer an administrator"));
    assert_eq!(kinds(&tenant.events(&ids[2])), ["connection.access_lost"]);
    for other in [&ids[0], &ids[1]] {
        assert_eq!(tenant.connection(other)["health"]["colour"], "green");
        assert!(
            tenant.events(other).is_empty(),
            "nothing happened to {other}"
        );
    }
    // Its token is still served (the grant is fine): posting as the page is what fails.
    assert_eq!(tenant.token(&ids[0]).status, 200);

    // Disconnecting one page of the grant: the grant's object, which remembers the grant and
    // its connections between reads, refuses that page's token from then on, and only that.
    assert_eq!(tenant.token(&ids[1]).status, 200);
    let gone = s
        .worker
        .call(
            "DELETE",
            &format!("/v1/connections/{}", ids[1]),
            Some(&common::tenants::bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(gone.body["grant_deleted"], false, "{gone:?}");
    let refused = tenant.token(&ids[1]);
    assert_eq!(refused.status, 404, "{refused:?}");
    assert_eq!(refused.body["error"]["code"], "not_found");
    assert_eq!(tenant.token(&ids[0]).status, 200);
}

#[test]
fn a_linkedin_grant_without_refresh_turns_yellow_at_day_46_and_red_at_day_60() {
    let _serial = serial();
    let s = stack();
    s.fake.set_linkedin_partner(&s.linkedin_client.id, false);
    let tenant = Tenant::new(s, "No refresh");
    let ids = connect_at(
        s,
        &tenant,
        "linkedin",
        linkedin::AUTHORIZE_PATH,
        "u-60",
        "sixty_days",
    );
    assert_eq!(ids.len(), 1, "no pages: the member alone");
    let member = &ids[0];
    let shown = tenant.connection(member);
    // Most apps get no refresh token: the grant dies with its 60-day access token.
    assert_eq!(
        shown["grant_expires_at"], shown["access_expires_at"],
        "{shown}"
    );
    let lifetime = days_between(&shown["created_at"], &shown["grant_expires_at"]);
    assert!((59.99..=60.01).contains(&lifetime), "{lifetime}");

    {
        let _day_45 = ClockShift::by_days(s, 45);
        s.fake.advance_clock("sixty_days", 45 * DAY);
        s.worker.run_cron("0 * * * *");
        // Validated daily (there is nothing to refresh), and still green a day early.
        let checked = s
            .worker
            .eventually(Duration::from_secs(30), "the validation", || {
                let now = tenant.connection(member);
                now["last_validated_at"].is_string().then_some(now)
            });
        assert_eq!(checked["health"]["colour"], "green", "{checked}");
        assert_eq!(checked["grant_expires_at"], shown["grant_expires_at"]);
        assert!(tenant.events(member).is_empty());
    }
    let events_after = |count: usize| {
        s.worker
            .eventually(Duration::from_secs(30), "the next event", || {
                let events = tenant.events(member);
                (events.len() == count).then_some(events)
            })
    };
    // Each warning stage (14, 3 and 1 days before) is one event, then the death is one.
    let mut advanced = 45;
    for (n, day) in [(1, 46), (2, 57), (3, 59)] {
        let _later = ClockShift::by_days(s, day);
        s.fake
            .advance_clock("sixty_days", (day - advanced) as u32 * DAY);
        advanced = day;
        s.worker.run_cron("0 * * * *");
        let events = events_after(n);
        assert_eq!(events[n - 1]["type"], "connection.expiring");
        let warned = tenant.connection(member);
        assert_eq!(warned["health"]["colour"], "yellow", "{warned}");
        assert_eq!(warned["health"]["reason"], "grant_expiring", "{warned}");
        // The connection works until its date.
        assert_eq!(tenant.token(member).status, 200);
    }
    let _day_60 = ClockShift::by_days(s, 60);
    s.fake.advance_clock("sixty_days", DAY);
    let dead = sweep_until(s, &tenant, member, "red");
    assert_eq!(dead["health"]["reason"], "grant_expired", "{dead}");
    let events = events_after(4);
    assert_eq!(
        kinds(&events),
        [
            "connection.expiring",
            "connection.expiring",
            "connection.expiring",
            "connection.expired"
        ]
    );
    assert_eq!(
        tenant.token(member).body["error"]["code"],
        "connection_dead"
    );
    assert_eq!(
        s.fake.counters("sixty_days").token_refresh,
        0,
        "nothing to refresh"
    );
}

#[test]
fn a_partner_grants_death_date_stays_put_across_refreshes() {
    let _serial = serial();
    let s = stack();
    s.fake.set_linkedin_partner(&s.linkedin_client.id, true);
    let tenant = Tenant::new(s, "Partner");
    let ids = connect_at(
        s,
        &tenant,
        "linkedin",
        linkedin::AUTHORIZE_PATH,
        "u-365",
        "partner_member",
    );
    let member = &ids[0];
    let first = tenant.connection(member);
    let dies = first["grant_expires_at"].clone();
    let lifetime = days_between(&first["created_at"], &dies);
    assert!((364.99..=365.01).contains(&lifetime), "{lifetime}");

    // Refreshed proactively 30 days before each 60-day access token ends: days 30 and 60.
    for (n, day) in [(1, 31), (2, 62)] {
        let _later = ClockShift::by_days(s, day);
        s.fake.advance_clock("partner_member", 31 * DAY);
        s.worker.run_cron("0 * * * *");
        let refreshed = s
            .worker
            .eventually(Duration::from_secs(30), "the refresh", || {
                let shown = tenant.connection(member);
                (s.fake.counters("partner_member").token_refresh == n
                    && shown["last_refresh_at"] != first["last_refresh_at"]
                    && shown["refresh_state"] == "ok"
                    && shown["last_refresh_at"].is_string()
                    && days_between(&first["created_at"], &shown["last_refresh_at"])
                        > day as f64 - 1.0)
                    .then_some(shown)
            });
        assert_eq!(
            refreshed["grant_expires_at"], dies,
            "refresh {n} moved the death date"
        );
        assert_eq!(refreshed["health"]["colour"], "green");
    }
    s.fake.set_linkedin_partner(&s.linkedin_client.id, false);
}

#[test]
fn tiktok_rotates_on_every_refresh_and_evergreen_never_presents_a_used_token() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "TikTok");
    let ids = connect_at(
        s,
        &tenant,
        "tiktok",
        tiktok::AUTHORIZE_PATH,
        "u-tt",
        "tt_creator",
    );
    let creator = &ids[0];
    let shown = tenant.connection(creator);
    assert_eq!(shown["account"]["username"], "tt_creator");
    // The newer docs' lifetimes, read from the answer: 2 hours, 180 days.
    let access = days_between(&shown["created_at"], &shown["access_expires_at"]) * 24.0;
    assert!((1.99..=2.01).contains(&access), "{access} h");
    let refresh_life = days_between(&shown["created_at"], &shown["grant_expires_at"]);
    assert!((179.99..=180.01).contains(&refresh_life), "{refresh_life}");

    // Three reads, each with under an hour of the token left (half its life): three
    // rotations, each refresh token presented once.
    let mut previous = s.fake.tokens_issued_to("tt_creator").refresh;
    for (n, minutes) in [(1, 65), (2, 130), (3, 195)] {
        let _later = ClockShift::by_minutes(s, minutes);
        s.fake
            .advance_clock("tt_creator", Duration::from_secs(65 * 60));
        let read = tenant.token(creator);
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(s.fake.counters("tt_creator").token_refresh, n);
        // The new token has its full two hours: served as is, not rotated again.
        assert_eq!(tenant.token(creator).status, 200);
        assert_eq!(s.fake.counters("tt_creator").token_refresh, n);
        for old in &previous {
            assert_eq!(
                s.fake.refresh_token_status(old),
                Some(RefreshTokenStatus::Rotated)
            );
        }
        previous = s.fake.tokens_issued_to("tt_creator").refresh;
    }
    assert!(
        s.fake.rejections().iter().all(|r| r.endpoint != "token"),
        "Evergreen never sent a used refresh token: {:?}",
        s.fake.rejections()
    );

    // What Evergreen never does, the fake refuses as TikTok does.
    let issued = s.fake.tokens_issued_to("tt_creator").refresh;
    let used = issued
        .iter()
        .find(|t| s.fake.refresh_token_status(t) == Some(RefreshTokenStatus::Rotated))
        .unwrap();
    let reused = ureq::post(&format!("{}{}", s.fake.base_url(), tiktok::TOKEN_PATH)).send_form(&[
        ("client_key", &s.tiktok_client.id),
        ("client_secret", &s.tiktok_client.secret),
        ("grant_type", "refresh_token"),
        ("refresh_token", used),
    ]);
    let Err(ureq::Error::Status(400, answer)) = reused else {
        panic!("a reused refresh token must be refused: {reused:?}");
    };
    let body: Value = answer.into_json().unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["log_id"].is_string());
}

#[test]
fn tiktok_lifetimes_come_from_each_answer_whichever_figures_the_platform_uses() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "TikTok lifetimes");
    // The older docs' figures: 24 hours and 365 days.
    s.fake.set_tiktok_lifetimes(Some((86_400, 365 * 86_400)));
    let ids = connect_at(
        s,
        &tenant,
        "tiktok",
        tiktok::AUTHORIZE_PATH,
        "u-tt-old",
        "tt_older",
    );
    let creator = &ids[0];
    let shown = tenant.connection(creator);
    let access = days_between(&shown["created_at"], &shown["access_expires_at"]);
    assert!((0.99..=1.01).contains(&access), "{access} d");
    let life = days_between(&shown["created_at"], &shown["grant_expires_at"]);
    assert!((364.99..=365.01).contains(&life), "{life}");

    // The platform switches to the newer figures: the next rotation's answer is recorded, and
    // the ledger's date comes closer (a rotating grant's date is the last answer's).
    s.fake.set_tiktok_lifetimes(None);
    let refreshed = tenant.refresh(creator);
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    let after = tenant.connection(creator);
    let access = days_between(&after["last_refresh_at"], &after["access_expires_at"]) * 24.0;
    assert!((1.99..=2.01).contains(&access), "{access} h");
    let life = days_between(&after["last_refresh_at"], &after["grant_expires_at"]);
    assert!((179.99..=180.01).contains(&life), "{life}");
    // Checked again within the day (the scheduled check), not on every sweep; the renewal
    // halfway through that life is the core's to schedule (core::grant::refresh_schedule's tests).
    let next = days_between(&after["last_refresh_at"], &after["next_check_at"]);
    assert!((0.0..=1.0).contains(&next) && next > 0.0, "{next}");
    assert_eq!(s.fake.counters("tt_older").token_refresh, 1);
}

#[test]
fn readers_asking_more_than_the_platform_issues_cause_one_refresh_and_are_told_so() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "TikTok short tokens");
    // 120-second access tokens; the readers ask for five minutes.
    s.fake.set_tiktok_lifetimes(Some((120, 180 * 86_400)));
    let ids = connect_at(
        s,
        &tenant,
        "tiktok",
        tiktok::AUTHORIZE_PATH,
        "u-tt-short",
        "tt_short",
    );
    let creator = &ids[0];
    let ask = serde_json::json!({ "min_valid_seconds": 300 });
    // Fresh: the token is what there is, handed out as shorter than asked, nothing refreshed.
    let fresh = tenant.token_with(creator, &ask);
    assert_eq!(fresh.status, 200, "{fresh:?}");
    assert_eq!(fresh.body["shorter_than_asked"], true, "{fresh:?}");
    assert_eq!(s.fake.counters("tt_short").token_refresh, 0);

    // 70 seconds on, more than half its life is gone: twenty readers at once.
    set_clock_offset(s, 70_000);
    let reads: Vec<common::Answer> = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..20)
            .map(|_| scope.spawn(|| tenant.token_with(creator, &ask)))
            .collect();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    set_clock_offset(s, 0);
    s.fake.set_tiktok_lifetimes(None);
    assert_eq!(
        s.fake.counters("tt_short").token_refresh,
        1,
        "one refresh for all of them"
    );
    let renewed = s.fake.tokens_issued_to("tt_short").access;
    for read in &reads {
        assert_eq!(read.status, 200, "{read:?}");
        assert_eq!(read.body["shorter_than_asked"], true, "{read:?}");
        let token = read.body["access_token"].as_str().unwrap();
        assert_ne!(token, fresh.body["access_token"].as_str().unwrap());
        assert!(renewed.iter().any(|t| t == token));
    }
    let first = &reads[0].body["access_token"];
    assert!(reads.iter().all(|r| &r.body["access_token"] == first));
    // The connection is fine: nothing said to reconnect.
    assert_eq!(tenant.connection(creator)["health"]["colour"], "green");
}
