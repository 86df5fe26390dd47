//! Reconnect links, webhooks and disconnect under `wrangler dev`: deliveries verified by the
//! official `standardwebhooks` package, a receiver that was down gets every event with no gap
//! in the sequence, a lost queue message comes back through the outbox reconciler, a link
//! restores the same connection and refuses everything it must, and disconnect revokes at
//! the platform only when nobody else holds the account.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::Browser;
use common::ledger::serial;
use common::receiver::{Received, Receiver};
use common::tenants::{bearer, Tenant};
use common::x_flow::{connect, consent, ClockShift};
use common::Stack;
use evergreen_fake_platform::Fault;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("reconnect-webhooks", |_| {
            vec![
                ("REFRESH_BACKOFF".into(), "first=1,max=2".into()),
                ("WEBHOOK_RETRY".into(), "first=1,max=2,window=30".into()),
            ]
        })
    })
}

/// Registers an endpoint named `name` at the receiver; answers its id.
fn endpoint(s: &Stack, tenant: &Tenant<'_>, rx: &Receiver, name: &str) -> String {
    let made = s.worker.send(
        "POST",
        "/v1/webhook-endpoints",
        Some(&bearer(&tenant.manage)),
        &json!({ "url": rx.url(name) }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let secret = made.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    rx.set_secret(name, secret);
    let shown = tenant.get(&format!(
        "/v1/webhook-endpoints/{}",
        made.body["id"].as_str().unwrap()
    ));
    assert_eq!(shown.status, 200, "{shown:?}");
    assert!(
        shown.body.get("secret").is_none(),
        "the secret is shown once: {shown:?}"
    );
    made.body["id"].as_str().unwrap().to_owned()
}

/// What `name` received, grouped by webhook id.
fn by_id(rx: &Receiver, name: &str) -> BTreeMap<String, Vec<Received>> {
    let mut out: BTreeMap<String, Vec<Received>> = BTreeMap::new();
    for r in rx.received().into_iter().filter(|r| r.name == name) {
        out.entry(r.webhook_id.clone()).or_default().push(r);
    }
    out
}

fn delivered(attempts: &[Received]) -> bool {
    attempts.iter().any(Received::delivered)
}

#[test]
fn a_receiver_that_was_down_gets_every_event_verified_once_it_is_back() {
    let _serial = serial();
    let s = stack();
    let rx = Receiver::start();
    let tenant = Tenant::new(s, "Hooks");
    let endpoint_id = endpoint(s, &tenant, &rx, "outage");
    let connection = connect(s, &tenant, "user-1", "hook_user");

    rx.set_down(true);
    // Three changes of standing: refreshing fails, works again, then the user revokes.
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    let failed = tenant.refresh(&connection);
    assert_eq!(failed.status, 502, "{failed:?}");
    s.fake.set_token_outage(None);
    let ok = tenant.refresh(&connection);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(s.fake.revoke_all_grants_of("hook_user"), 1);
    let dead = tenant.refresh(&connection);
    assert_eq!(dead.status, 409, "{dead:?}");

    // While down, every event is tried (and refused) more than once: retries, not one shot.
    s.worker
        .eventually(Duration::from_secs(60), "retries while down", || {
            let seen = by_id(&rx, "outage");
            (seen.len() == 3 && seen.values().all(|a| a.len() >= 2)).then_some(())
        });
    rx.set_down(false);
    let seen = s
        .worker
        .eventually(Duration::from_secs(60), "every event delivered", || {
            let seen = by_id(&rx, "outage");
            (seen.len() == 3 && seen.values().all(|a| delivered(a))).then_some(seen)
        });

    let mut by_seq = BTreeMap::new();
    for (id, attempts) in &seen {
        // The same bytes on every attempt, under the same webhook-id (the event id).
        let bodies: BTreeSet<&str> = attempts.iter().map(|a| a.body.as_str()).collect();
        assert_eq!(bodies.len(), 1, "{id}: {attempts:?}");
        for a in attempts.iter().filter(|a| a.answered != 503) {
            assert!(a.verified, "the official library verifies it: {a:?}");
        }
        let body = attempts[0].json();
        assert_eq!(body["data"]["event_id"], id.as_str());
        assert_eq!(body["data"]["connection_id"], connection.as_str());
        by_seq.insert(body["data"]["seq"].as_i64().unwrap(), body);
    }
    // No gaps per connection, and each event carries the state at its point.
    assert_eq!(by_seq.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    let kinds: Vec<&str> = by_seq
        .values()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "connection.degraded",
            "connection.recovered",
            "connection.revoked"
        ]
    );
    assert_eq!(by_seq[&1]["data"]["health"], "yellow");
    assert_eq!(by_seq[&2]["data"]["health"], "green");
    assert!(by_seq[&2]["data"].get("reconnect_url").is_none());
    assert_eq!(by_seq[&3]["data"]["health"], "red");
    let link = by_seq[&3]["data"]["reconnect_url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("{}/reconnect/", s.worker.base_url)),
        "{link}"
    );
    assert_eq!(
        Browser::new().get(link).status,
        200,
        "the event's link opens"
    );

    // The delivery log counts the attempts; a redelivery sends the same body again.
    let log = tenant.get(&format!("/v1/webhook-endpoints/{endpoint_id}/deliveries"));
    assert_eq!(log.status, 200, "{log:?}");
    let rows = log.body["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{log:?}");
    for row in rows {
        assert_eq!(row["status"], "delivered", "{row}");
        assert!(row["attempts"].as_i64().unwrap() >= 3, "{row}");
    }
    let again_id = rows[0]["id"].as_str().unwrap();
    let event_id = rows[0]["event_id"].as_str().unwrap().to_owned();
    let before = seen[&event_id].len();
    let again = s.worker.send(
        "POST",
        &format!("/v1/webhook-deliveries/{again_id}/redeliver"),
        Some(&bearer(&tenant.manage)),
        &Value::Null,
    );
    assert_eq!(again.status, 202, "{again:?}");
    let attempts = s
        .worker
        .eventually(Duration::from_secs(30), "the redelivery", || {
            let seen = by_id(&rx, "outage");
            seen.get(&event_id).filter(|a| a.len() > before).cloned()
        });
    let last = attempts.last().unwrap();
    assert!(last.verified);
    assert_eq!(last.body, attempts[0].body);
    let other = Tenant::new(s, "Other");
    let foreign = s.worker.send(
        "POST",
        &format!("/v1/webhook-deliveries/{again_id}/redeliver"),
        Some(&bearer(&other.manage)),
        &Value::Null,
    );
    assert_eq!(
        foreign.status, 404,
        "another tenant's delivery: {foreign:?}"
    );
}

#[test]
fn a_lost_queue_message_is_sent_again_by_the_outbox_reconciler() {
    // Its own worker: it is killed and restarted.
    let mut s = Stack::start_with("webhook-reconciler", |_| {
        vec![("WEBHOOK_RETRY".into(), "first=1,max=2,window=30".into())]
    });
    let rx = Receiver::start();
    let (connection, tenant_keys) = {
        let tenant = Tenant::new(&s, "Reconciler");
        endpoint(&s, &tenant, &rx, "lost");
        let connection = connect(&s, &tenant, "user-2", "lost_hook_user");
        rx.set_down(true);
        assert_eq!(s.fake.revoke_all_grants_of("lost_hook_user"), 1);
        assert_eq!(tenant.refresh(&connection).status, 409);
        (connection, tenant.manage.clone())
    };
    s.worker
        .eventually(Duration::from_secs(30), "a refused attempt", || {
            (!by_id(&rx, "lost").is_empty()).then_some(())
        });
    // The local broker keeps messages in memory: a kill loses the retry in flight.
    s.worker.kill9();
    s.worker.restart();
    rx.set_down(false);
    let _later = ClockShift::by_minutes(&s, 10);
    s.worker.run_cron("* * * * *");
    let health = s.worker.get("/healthz", None);
    let outcome = health.body["crons"]["dispatch"]["last_outcome"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        outcome.contains("\"webhooks_resent\":1"),
        "the reconciler re-sent it: {health:?}"
    );
    let seen = s
        .worker
        .eventually(Duration::from_secs(30), "the delivery", || {
            let seen = by_id(&rx, "lost");
            seen.values().all(|a| delivered(a)).then_some(seen)
        });
    let body = seen.values().next().unwrap()[0].json();
    assert_eq!(body["type"], "connection.revoked");
    assert_eq!(body["data"]["connection_id"], connection.as_str());
    let shown = s.worker.get(
        &format!("/v1/connections/{connection}"),
        Some(&bearer(&tenant_keys)),
    );
    assert_eq!(shown.body["health"]["colour"], "red");
}

/// What `name` received of events of type `kind`, verified or not, in arrival order.
fn of_kind(rx: &Receiver, name: &str, kind: &str) -> Vec<Received> {
    rx.received()
        .into_iter()
        .filter(|r| r.name == name && r.json()["type"] == kind)
        .collect()
}

#[test]
fn a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends() {
    let _serial = serial();
    let s = stack();
    let rx = Receiver::start();
    let tenant = Tenant::new(s, "Rotation");
    let made = s.worker.send(
        "POST",
        "/v1/webhook-endpoints",
        Some(&bearer(&tenant.manage)),
        &json!({ "url": rx.url("rotating") }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let endpoint_id = made.body["id"].as_str().unwrap().to_owned();
    let old = made.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(made.body["previous_secret_expires_at"], Value::Null);
    let connection = connect(s, &tenant, "user-rot", "rotating_user");
    let rotate = |who: &Tenant<'_>, body: &Value| {
        s.worker.send(
            "POST",
            &format!("/v1/webhook-endpoints/{endpoint_id}/rotate-secret"),
            Some(&bearer(&who.manage)),
            body,
        )
    };

    // What a rotation refuses: a foreign endpoint, an overlap past a week, an unknown field.
    let other = Tenant::new(s, "Not the owner");
    assert_eq!(rotate(&other, &json!({})).status, 404);
    for (body, says) in [
        (json!({ "overlap_seconds": 604_801 }), "overlap_seconds"),
        (json!({ "overlap_seconds": -1 }), "overlap_seconds"),
        (json!({ "overlap": 60 }), "unknown field"),
    ] {
        let refused = rotate(&tenant, &body);
        assert_eq!(refused.status, 400, "{body}: {refused:?}");
        assert_eq!(
            refused.body["error"]["code"], "invalid_request",
            "{refused:?}"
        );
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{refused:?}"
        );
    }

    // No overlap named: a day's. The new secret is answered once.
    let rotated = rotate(&tenant, &json!({}));
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old, "{rotated:?}");
    let now = common::x_flow::clock_now_ms(s);
    let until = chrono::DateTime::parse_from_rfc3339(
        rotated.body["previous_secret_expires_at"].as_str().unwrap(),
    )
    .unwrap()
    .timestamp_millis();
    assert!(
        (until - now - 86_400_000).abs() < 60_000,
        "a day's overlap: {rotated:?}"
    );
    let shown = tenant.get(&format!("/v1/webhook-endpoints/{endpoint_id}"));
    assert!(shown.body.get("secret").is_none(), "{shown:?}");
    assert_eq!(
        shown.body["previous_secret_expires_at"],
        rotated.body["previous_secret_expires_at"]
    );

    // During the overlap a delivery verifies with either secret, with the official library.
    rx.set_secrets("rotating", &[new.as_str(), old.as_str()]);
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(tenant.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    let during = s
        .worker
        .eventually(Duration::from_secs(30), "a delivery in the overlap", || {
            of_kind(&rx, "rotating", "connection.degraded").pop()
        });
    assert_eq!(during.verified_by, [true, true], "{during:?}");
    assert!(during.delivered(), "{during:?}");
    assert_eq!(during.signature.split(' ').count(), 2, "{during:?}");

    // After it, only the new secret signs, and the minute dispatch deletes the old one.
    let _later = ClockShift::by_days(s, 2);
    assert_eq!(tenant.refresh(&connection).status, 200);
    let after = s.worker.eventually(
        Duration::from_secs(30),
        "a delivery after the overlap",
        || of_kind(&rx, "rotating", "connection.recovered").pop(),
    );
    assert_eq!(after.verified_by, [true, false], "{after:?}");
    assert_eq!(after.signature.split(' ').count(), 1, "{after:?}");
    s.worker.run_cron("* * * * *");
    let summary = s.worker.last_cron_summary("dispatch");
    assert_eq!(
        summary["ended_secret_overlaps"], 1,
        "the dispatch deleted the old secret: {summary}"
    );
    let shown = tenant.get(&format!("/v1/webhook-endpoints/{endpoint_id}"));
    assert_eq!(
        shown.body["previous_secret_expires_at"],
        Value::Null,
        "{shown:?}"
    );

    // An overlap of 0 stops the replaced secret at once.
    let at_once = rotate(&tenant, &json!({ "overlap_seconds": 0 }));
    assert_eq!(at_once.status, 200, "{at_once:?}");
    let newest = at_once.body["secret"].as_str().unwrap().to_owned();
    rx.set_secrets("rotating", &[newest.as_str(), new.as_str()]);
    assert_eq!(s.fake.revoke_all_grants_of("rotating_user"), 1);
    assert_eq!(tenant.refresh(&connection).status, 409);
    let revoked = s.worker.eventually(
        Duration::from_secs(30),
        "a delivery after a rotation without overlap",
        || of_kind(&rx, "rotating", "connection.revoked").pop(),
    );
    assert_eq!(revoked.verified_by, [true, false], "{revoked:?}");
}

/// One page of `connection`'s events as `tenant` asks for it: (seqs, next_cursor), or the
/// refusal's status and code.
fn events_page(
    tenant: &Tenant<'_>,
    connection: &str,
    query: &str,
) -> Result<(Vec<i64>, Option<String>), (u16, String)> {
    let page = tenant.get(&format!("/v1/connections/{connection}/events?{query}"));
    if page.status != 200 {
        let code = page.body["error"]["code"].as_str().unwrap_or_default();
        return Err((page.status, code.to_owned()));
    }
    let seqs = page.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    Ok((seqs, page.body["next_cursor"].as_str().map(str::to_owned)))
}

#[test]
fn a_connections_events_are_paged_by_a_cursor_bound_to_it() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Paging");
    let connection = connect(s, &tenant, "user-pages", "paging_user");
    let other_connection = connect(s, &tenant, "user-pages", "paging_user_2");
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(tenant.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    assert_eq!(tenant.refresh(&connection).status, 200);

    // Without parameters: everything, as before pages existed.
    assert_eq!(
        events_page(&tenant, &connection, ""),
        Ok((vec![1, 2], None))
    );
    let (first, cursor) = events_page(&tenant, &connection, "limit=1").unwrap();
    assert_eq!(first, [1]);
    let cursor = cursor.expect("another page follows");
    // An event that happens between pages is on a later page, and none is repeated.
    assert_eq!(s.fake.revoke_all_grants_of("paging_user"), 1);
    assert_eq!(tenant.refresh(&connection).status, 409);
    let (second, cursor) =
        events_page(&tenant, &connection, &format!("limit=1&cursor={cursor}")).unwrap();
    assert_eq!(second, [2]);
    let cursor = cursor.unwrap();
    let (third, last) =
        events_page(&tenant, &connection, &format!("limit=1&cursor={cursor}")).unwrap();
    assert_eq!((third, last), (vec![3], None), "the last page says so");

    // The cursor is refused on another connection, for another tenant, and changed.
    let refused = Err((400, "invalid_request".to_owned()));
    let on = |who: &Tenant<'_>, conn: &str, cursor: &str| {
        events_page(who, conn, &format!("cursor={cursor}"))
    };
    assert_eq!(on(&tenant, &other_connection, &cursor), refused);
    let other = Tenant::new(s, "Paging, not the owner");
    let theirs = connect(s, &other, "user-pages", "paging_user_3");
    assert_eq!(on(&other, &theirs, &cursor), refused);
    assert_eq!(
        on(&other, &connection, &cursor),
        Err((404, "not_found".to_owned())),
        "another tenant's connection is not found at all"
    );
    let mut tampered = cursor.clone();
    let flipped = if tampered.ends_with('A') { "B" } else { "A" };
    tampered.replace_range(tampered.len() - 1.., flipped);
    assert_eq!(on(&tenant, &connection, &tampered), refused);
    assert_eq!(
        events_page(&tenant, &connection, "limit=0"),
        Err((400, "invalid_request".to_owned()))
    );
}

/// Consents at the fake X as `username` after pressing the link's button; the callback's answer.
fn reconnect_as(s: &Stack, link: &str, username: &str) -> common::browser::Visit {
    let browser = Browser::new();
    let page = browser.get(link);
    assert_eq!(page.status, 200, "{page:?}");
    let started = browser.post_form(link, &[]);
    let authorize = started.redirect().to_owned();
    let callback = consent(s, &browser, &authorize, username, "approve");
    browser.get(&callback)
}

fn mint(s: &Stack, tenant: &Tenant<'_>, connection: &str) -> String {
    let made = s.worker.send(
        "POST",
        &format!("/v1/connections/{connection}/reconnect-link"),
        Some(&bearer(&tenant.manage)),
        &Value::Null,
    );
    assert_eq!(made.status, 201, "{made:?}");
    made.body["url"].as_str().unwrap().to_owned()
}

#[test]
fn a_reconnect_link_restores_the_same_connection_and_refuses_what_it_must() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Reconnect");
    let connection = connect(s, &tenant, "user-3", "relink_user");
    let link = mint(s, &tenant, &connection);
    let browser = Browser::new();

    // Opening the page and even starting consent leave the link usable.
    let page = browser.get(&link);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("<form method=\"post\""), "{}", page.body);
    let started = browser.post_form(&link, &[]);
    assert!(started.redirect().contains("/authorize"), "{started:?}");
    assert_eq!(browser.get(&link).status, 200);

    // Tampered and expired links get their pages.
    let mut tampered = link.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let refused = browser.get(&tampered);
    assert_eq!(refused.status, 404, "{refused:?}");
    assert!(refused.body.contains("invalid_reconnect_link"));
    {
        let _later = ClockShift::by_days(s, 22);
        let expired = browser.get(&link);
        assert_eq!(expired.status, 410, "{expired:?}");
        assert!(expired.body.contains("reconnect_link_expired"));
    }

    // The user revokes the app: red.
    assert_eq!(s.fake.revoke_all_grants_of("relink_user"), 1);
    assert_eq!(tenant.refresh(&connection).status, 409);
    assert_eq!(tenant.connection(&connection)["health"]["colour"], "red");

    // Signing in as somebody else changes nothing, and says so; the link stays usable.
    let wrong = reconnect_as(s, &link, "someone_else");
    assert_eq!(wrong.status, 409, "{wrong:?}");
    assert!(
        wrong.body.contains("reconnect_wrong_account"),
        "{}",
        wrong.body
    );
    assert_eq!(tenant.connection(&connection)["health"]["colour"], "red");
    assert_eq!(tenant.token(&connection).status, 409);

    // The right account restores the same connection, green, with a working token.
    let restored = reconnect_as(s, &link, "relink_user");
    assert_eq!(restored.status, 200, "{restored:?}");
    assert!(restored.body.contains(&connection), "{}", restored.body);
    let shown = tenant.connection(&connection);
    assert_eq!(shown["health"]["colour"], "green", "{shown}");
    assert_eq!(tenant.token(&connection).status, 200);
    let ids: Vec<String> = tenant
        .connections()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        std::slice::from_ref(&connection),
        "restored in place, not added"
    );
    let kinds: Vec<String> = tenant
        .events(&connection)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["connection.revoked", "connection.reconnected"]);

    // Used once: the same link is refused.
    let reused = browser.get(&link);
    assert_eq!(reused.status, 409, "{reused:?}");
    assert!(reused.body.contains("reconnect_link_used"));

    // A link minted before a disconnect never brings the connection back.
    let before_disconnect = mint(s, &tenant, &connection);
    let removed = s.worker.call(
        "DELETE",
        &format!("/v1/connections/{connection}"),
        Some(&bearer(&tenant.manage)),
        None,
    );
    assert_eq!(removed.unwrap().status, 200);
    let stale = browser.get(&before_disconnect);
    assert_eq!(stale.status, 410, "{stale:?}");
    assert!(stale.body.contains("reconnect_link_stale"));
    let stale_post = browser.post_form(&before_disconnect, &[]);
    assert_eq!(stale_post.status, 410, "{stale_post:?}");
}

#[test]
fn disconnect_revokes_at_the_platform_only_when_nobody_else_holds_the_account() {
    let _serial = serial();
    let s = stack();
    let rx = Receiver::start();
    let tenant = Tenant::new(s, "Disconnect");
    endpoint(s, &tenant, &rx, "disconnect");
    // Two end users of the scheduler connected the same account: two grants.
    let first = connect(s, &tenant, "user-4", "shared_user");
    let second = connect(s, &tenant, "user-5", "shared_user");
    assert_ne!(
        tenant.connection(&first)["grant_id"],
        tenant.connection(&second)["grant_id"]
    );
    let delete = |connection: &str, key: &str| {
        s.worker
            .call(
                "DELETE",
                &format!("/v1/connections/{connection}"),
                Some(&bearer(key)),
                None,
            )
            .unwrap()
    };
    let other = Tenant::new(s, "Not yours");
    assert_eq!(
        delete(&first, &other.manage).status,
        404,
        "another tenant's"
    );

    let gone = delete(&first, &tenant.manage);
    assert_eq!(gone.status, 200, "{gone:?}");
    assert_eq!(gone.body["grant_deleted"], true);
    assert_eq!(gone.body["revoked_at_platform"], false);
    assert_eq!(gone.body["revoke_skipped"], "account_shared");
    assert_eq!(s.fake.counters("shared_user").revoke, 0);
    assert_eq!(
        tenant.token(&second).status,
        200,
        "the other grant still works"
    );
    assert_eq!(tenant.token(&first).status, 404);
    assert_eq!(delete(&first, &tenant.manage).status, 404, "already gone");

    let last = delete(&second, &tenant.manage);
    assert_eq!(last.status, 200, "{last:?}");
    assert_eq!(last.body["revoked_at_platform"], true, "{last:?}");
    assert_eq!(s.fake.counters("shared_user").revoke, 1);
    assert!(tenant.connections().is_empty());

    // Each disconnect was told, once, to the tenant's endpoint.
    let seen = s
        .worker
        .eventually(Duration::from_secs(30), "both disconnect events", || {
            let seen = by_id(&rx, "disconnect");
            (seen.len() == 2 && seen.values().all(|a| delivered(a))).then_some(seen)
        });
    let mut told: Vec<String> = seen
        .values()
        .map(|a| {
            let body = a[0].json();
            assert_eq!(body["type"], "connection.disconnected");
            assert!(body["data"].get("reconnect_url").is_none());
            body["data"]["connection_id"].as_str().unwrap().to_owned()
        })
        .collect();
    told.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(told, want);
}
