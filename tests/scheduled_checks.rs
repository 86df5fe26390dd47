//! The scheduled check under `wrangler dev` with the fake platform: every grant is proved alive
//! with its platform once a day on its own slot, whatever its refresh policy, so a grant the
//! user revoked in the platform's settings turns red within a day, with one event and one log
//! line, on the API and on the connections page; and fifty grants connected in the same minute
//! spread their checks over the day.
//!
//! The test stops the worker's clock and steps it hour by hour for 72 hours, running the crons
//! at each step as the platform would, and counts the calls at the fake. It has a worker of its
//! own: it moves the clock, runs the crons and reads the fake's counters.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::Browser;
use common::providers::acme_vars;
use common::tenants::Tenant;
use common::x_flow::{clock_now_ms, connect, connect_at, connect_youtube, freeze_clock_at};
use common::Stack;
use evergreen_fake_platform::{fixtures, instagram, Counters};
use std::collections::BTreeMap;
use std::time::Duration;

const HOUR_MS: i64 = 3_600_000;
/// Untouched grants connected together.
const QUIET: usize = 50;

/// What the check costs at the platform: identity calls and refreshes.
fn checks(c: &Counters) -> u64 {
    c.identity + c.token_refresh
}

/// Runs both crons at the worker's current (stopped) time and waits until the sweep has
/// visited every grant it found due: none is due any more.
fn sweep(s: &Stack) {
    s.worker.run_cron("0 * * * *");
    s.worker.run_cron("* * * * *");
    s.worker
        .eventually(Duration::from_secs(60), "the sweep's visits", || {
            let metrics = s.worker.get("/admin/metrics", Some(&s.operator()));
            (metrics.body["sweep_backlog"]["due"] == 0).then_some(())
        });
}

/// The colour the end user's connections page shows for `connection`.
fn page_colour(tenant: &Tenant<'_>, end_user_ref: &str, connection: &str) -> String {
    let browser = Browser::new();
    let opened = browser.get(&tenant.page_link(end_user_ref));
    assert_eq!(opened.status, 303, "{opened:?}");
    let page = browser.get(opened.redirect());
    assert_eq!(page.status, 200, "{page:?}");
    let marker = format!("data-connection=\"{connection}\" data-health=\"");
    page.body
        .split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("{connection} is not on the page: {}", page.body))
        .to_owned()
}

#[test]
fn every_grant_is_checked_daily_on_its_slot_and_a_revoked_one_turns_red_within_the_day() {
    let s = Stack::start_with("scheduled-checks", |clients| acme_vars(&clients[1]));
    let tenant = Tenant::new(&s, "Checks");
    let t0 = clock_now_ms(&s);
    freeze_clock_at(&s, t0);

    // Four grants the user will revoke at the platform, one per kind of policy: X (on demand,
    // rotating), Instagram (proactive, 60-day tokens), YouTube (on demand with keep-alive) and
    // a provider declared in configuration (on demand, rotating).
    let acme_path = fixtures::acme()
        .dialect
        .as_ref()
        .unwrap()
        .authorize_path
        .clone();
    // Each with the reason its platform gives: Meta names the app's removal (OAuthException
    // 190, subcode 458); the others say only `invalid_grant`.
    let revoked: Vec<(&str, &str, String, &str)> = vec![
        (
            "chk_x",
            "u-x",
            connect(&s, &tenant, "u-x", "chk_x"),
            "revoked_or_expired",
        ),
        (
            "chk_ig",
            "u-ig",
            connect_at(
                &s,
                &tenant,
                "instagram",
                instagram::AUTHORIZE_PATH,
                "u-ig",
                "chk_ig",
            )
            .remove(0),
            "app_removed",
        ),
        (
            "chk_yt",
            "u-yt",
            connect_youtube(&s, &tenant, "u-yt", "chk_yt"),
            "revoked_or_expired",
        ),
        (
            "chk_acme",
            "u-acme",
            connect_at(&s, &tenant, "acme", &acme_path, "u-acme", "chk_acme").remove(0),
            "revoked_or_expired",
        ),
    ];
    // Fifty X accounts connected in the same (stopped) minute, never read.
    let quiet: Vec<String> = (0..QUIET)
        .map(|i| {
            connect(
                &s,
                &tenant,
                &format!("u-quiet-{i}"),
                &format!("quiet_{i:02}"),
            )
        })
        .collect();
    for (username, ..) in &revoked {
        assert_eq!(s.fake.revoke_all_grants_of(username), 1, "{username}");
    }
    let at_connect = s.fake.counters_of_prefix("quiet_");
    assert_eq!(at_connect.len(), QUIET);
    let log_before = s.worker.log_text().len();

    let mut per_hour = Vec::new();
    let mut seen: BTreeMap<String, u64> = at_connect
        .iter()
        .map(|(name, c)| (name.clone(), checks(c)))
        .collect();
    let mut red_at: BTreeMap<String, i64> = BTreeMap::new();
    for hour in 1..=72 {
        freeze_clock_at(&s, t0 + hour * HOUR_MS);
        sweep(&s);
        let now = s.fake.counters_of_prefix("quiet_");
        let mut this_hour = 0;
        for (name, c) in &now {
            let before = seen.insert(name.clone(), checks(c)).unwrap_or(0);
            this_hour += checks(c) - before;
        }
        per_hour.push(this_hour);
        for (_, _, connection, _) in &revoked {
            if !red_at.contains_key(connection)
                && tenant.connection(connection)["health"]["colour"] == "red"
            {
                red_at.insert(connection.clone(), hour);
            }
        }
    }

    // Each untouched grant: exactly one check a day, three in 72 hours, counted at the fake.
    for (name, c) in s.fake.counters_of_prefix("quiet_") {
        let made = checks(&c) - checks(&at_connect[&name]);
        assert_eq!(
            made, 3,
            "{name} was checked {made} times in 72 hours: {c:?}"
        );
    }
    // Spread: no hour of the day carries more than about twice N/24 checks.
    let most = *per_hour.iter().max().unwrap();
    let allowed = (2 * QUIET as u64).div_ceil(24);
    assert!(
        most <= allowed,
        "{most} checks in one hour (allowed {allowed}): {per_hour:?}"
    );
    assert_eq!(per_hour.iter().sum::<u64>(), 3 * QUIET as u64);
    for id in &quiet {
        assert_eq!(tenant.connection(id)["health"]["colour"], "green", "{id}");
    }

    // Each revoked grant: red within one interval (24 hours), with its reason, one event, one
    // log line, and red on its end user's page.
    let log = &s.worker.log_text()[log_before..];
    for (username, end_user, connection, reason) in &revoked {
        let hour = red_at
            .get(connection)
            .unwrap_or_else(|| panic!("{username} never turned red"));
        assert!(*hour <= 24, "{username} turned red after {hour} hours");
        let shown = tenant.connection(connection);
        assert_eq!(shown["health"]["reason"], *reason, "{username}: {shown}");
        let events = tenant.events(connection);
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["connection.revoked"], "{username}: {events:?}");
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("connection.health_changed") && l.contains(connection.as_str()))
            .collect();
        assert_eq!(lines.len(), 1, "{username}: {lines:?}");
        assert!(
            lines[0].contains("\"from\":\"green\"") && lines[0].contains("\"to\":\"red\""),
            "{}",
            lines[0]
        );
        assert_eq!(
            page_colour(&tenant, end_user, connection),
            "red",
            "{username}"
        );
    }

    // The operator's metrics count the day's checks per platform, and a disconnected grant
    // under its own name: neither working nor dead, nor checked.
    let gone = s.worker.call(
        "DELETE",
        &format!("/v1/connections/{}", quiet[0]),
        Some(&common::tenants::bearer(&tenant.manage)),
        None,
    );
    assert_eq!(gone.map(|a| a.status).ok(), Some(200));
    let metrics = s.worker.get("/admin/metrics", Some(&s.operator()));
    let x = &metrics.body["platforms"]["x"];
    assert_eq!(
        x["grants"],
        serde_json::json!({ "working": QUIET - 1, "dead": 1, "disconnected": 1 }),
        "{metrics:?}"
    );
    assert_eq!(x["checked_24h"], QUIET as u64 - 1, "{metrics:?}");
}
