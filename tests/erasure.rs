//! Erasure (issue 13, operations): one end user's export and erasure through the tenant API,
//! and a tenant's deletion through the operator API, finished by the minute dispatch. What is
//! left afterwards is read straight from the local D1 file, every table and column, so a row
//! the code does not know belongs to someone is found too.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::Browser;
use common::receiver::Receiver;
use common::tenants::{bearer, create_post, Tenant};
use common::x_flow::connect;
use common::{d1_cells_containing, Stack};
use evergreen_fake_platform::Fault;
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A post of the end user's that went out, and what its publishing left behind.
struct Published {
    post_id: String,
    target_id: String,
    platform_post_id: String,
    /// The `post.published` event, delivered to the tenant's webhook endpoint.
    event_id: String,
}

/// Publishes `text` now through `connection` and waits until the tenant's receiver has the
/// verified `post.published` webhook for it.
fn publish(
    s: &Stack,
    tenant: &Tenant<'_>,
    rx: &Receiver,
    connection: &str,
    text: &str,
) -> Published {
    let made = create_post(
        s,
        tenant,
        &format!("published-{connection}"),
        &json!({ "text": text, "connection_ids": [connection] }),
    );
    assert_eq!(made.status, 201, "{made:?}");
    let post_id = made.body["id"].as_str().unwrap().to_owned();
    let delivered = s.worker.eventually(
        Duration::from_secs(60),
        "the post.published webhook",
        || {
            rx.received().into_iter().find(|r| {
                r.delivered()
                    && r.body.contains("post.published")
                    && r.body.contains(post_id.as_str())
            })
        },
    );
    let event = delivered.json();
    let shown = tenant.get(&format!("/v1/posts/{post_id}"));
    let target = &shown.body["targets"][0];
    assert_eq!(target["state"], "published", "{shown:?}");
    Published {
        target_id: target["id"].as_str().unwrap().to_owned(),
        platform_post_id: target["platform_post_id"].as_str().unwrap().to_owned(),
        event_id: event["data"]["event_id"].as_str().unwrap().to_owned(),
        post_id,
    }
}

/// What the tenant has of one end user: a connection with a token read, a webhook delivery of
/// an event, a scheduled post and a connections-page session.
fn give_history(
    s: &Stack,
    tenant: &Tenant<'_>,
    end_user: &str,
    username: &str,
    text: &str,
) -> String {
    let connection = connect(s, tenant, end_user, username);
    assert_eq!(tenant.token(&connection).status, 200);
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(tenant.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    let post = create_post(
        s,
        tenant,
        &format!("erasure-{username}"),
        &json!({ "text": text, "connection_ids": [connection], "publish_at": "2099-01-01T00:00:00Z" }),
    );
    assert_eq!(post.status, 201, "{post:?}");
    let opened = Browser::new().get(&tenant.page_link(end_user));
    assert_eq!(opened.status, 303, "the page link opens a session");
    connection
}

fn export(tenant: &Tenant<'_>, end_user: &str) -> Value {
    let answer = tenant.get(&format!("/v1/end-user-data?end_user_ref={end_user}"));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

fn erase(s: &Stack, tenant: &Tenant<'_>, end_user: &str) -> Value {
    let answer = s
        .worker
        .call(
            "DELETE",
            &format!("/v1/end-user-data?end_user_ref={end_user}"),
            Some(&bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

const LISTS: [&str; 8] = [
    "grants",
    "connections",
    "posts",
    "post_targets",
    "events",
    "webhook_deliveries",
    "token_reads",
    "page_sessions",
];

#[test]
fn an_end_user_is_exported_then_erased_and_nothing_of_theirs_is_left() {
    // Token reads stay buffered in their grants' objects (the alarm is five minutes away), so
    // the export and the erasure meet them there.
    let s = Stack::start_with("erasure-end-user", |_| {
        vec![("TOKEN_AUDIT_FLUSH_SECONDS".to_owned(), "300".to_owned())]
    });
    let tenant = Tenant::new(&s, "Scheduler");
    let rx = Receiver::start();
    let (_, webhook_secret) = tenant.webhook_endpoint(&rx.url("scheduler"));
    rx.set_secret("scheduler", &webhook_secret);
    let (alice, bob) = ("alice-erase-9f2c", "bob-keep-41d0");
    let alice_text = "alice's words 5e1b";
    let alice_conn = give_history(&s, &tenant, alice, "alice_erase", alice_text);
    let bob_conn = give_history(&s, &tenant, bob, "bob_keep", "bob's words 77ac");
    // Alice also has a post that went out, and its webhook was delivered.
    let alice_published_text = "alice went out 0d3a";
    let published = publish(&s, &tenant, &rx, &alice_conn, alice_published_text);
    let alice_token = tenant.token(&alice_conn).body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let alice_grant = tenant.connection(&alice_conn)["grant_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The export: everything of Alice's, nothing of Bob's, never a token. Both token reads are
    // still buffered in her grant's object: the export has it flush them first.
    let mine = export(&tenant, alice);
    let reads = mine["token_reads"].as_array().unwrap();
    assert_eq!(reads.len(), 2, "{mine}");
    assert!(reads.iter().all(|r| r["outcome"] == "served"
        && r["connection_id"] == json!(alice_conn)
        && r["api_key_id"]
            .as_str()
            .is_some_and(|k| k.starts_with("key_"))));
    assert_eq!(mine["end_user_ref"], alice);
    for list in LISTS {
        assert!(!mine[list].as_array().unwrap().is_empty(), "{list}: {mine}");
    }
    assert_eq!(mine["connections"][0]["id"], json!(alice_conn));
    assert_eq!(mine["connections"][0]["username"], "alice_erase");
    assert_eq!(mine["grants"][0]["id"], json!(alice_grant));
    assert_eq!(mine["posts"][0]["text"], alice_text);
    assert_eq!(mine["truncated"], json!([]));
    // The published post is in the export with its event and that event's delivery.
    let listed = |list: &str, field: &str, value: &str| {
        mine[list]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row[field] == value)
    };
    assert!(listed("posts", "id", &published.post_id), "{mine}");
    assert!(listed("post_targets", "id", &published.target_id), "{mine}");
    assert!(listed("events", "id", &published.event_id), "{mine}");
    assert!(
        listed("webhook_deliveries", "event_id", &published.event_id),
        "{mine}"
    );
    let text = mine.to_string();
    assert!(!text.contains(&bob_conn) && !text.contains(bob), "{text}");
    assert!(!text.contains(&alice_token), "the export shows no token");
    assert!(
        !text.contains("ciphertext") && !text.contains("secret_hash") && !text.contains("csrf")
    );
    // Another tenant asking for the same end user's data gets nothing.
    let stranger = Tenant::new(&s, "Stranger");
    let theirs = export(&stranger, alice);
    for list in LISTS {
        assert_eq!(theirs[list], json!([]), "{list}");
    }

    // More reads after the export, buffered when the erasure comes (two of the buffer's pages
    // of 100): the erasure drops them all, so no flush brings any back.
    for _ in 0..150 {
        assert_eq!(tenant.token(&alice_conn).status, 200);
    }

    // The erasure: disconnected (and revoked at X, which no other grant shares), then gone.
    let erased = erase(&s, &tenant, alice);
    assert_eq!(erased["complete"], true, "{erased}");
    assert_eq!(erased["disconnected"], 1, "{erased}");
    assert_eq!(erased["revoked_at_platform"], 1, "{erased}");
    assert_eq!(s.fake.counters("alice_erase").revoke, 1);
    for table in ["grants", "connections", "page_sessions"] {
        assert_eq!(erased["erased"][table], 1, "{table}: {erased}");
    }
    for table in ["posts", "post_targets"] {
        assert_eq!(erased["erased"][table], 2, "{table}: {erased}");
    }
    for table in ["events", "token_reads", "webhook_deliveries"] {
        assert!(
            erased["erased"][table].as_u64().unwrap() >= 1,
            "{table}: {erased}"
        );
    }
    for needle in [
        alice,
        alice_text,
        alice_conn.as_str(),
        alice_grant.as_str(),
        "alice_erase",
        alice_published_text,
        published.post_id.as_str(),
        published.target_id.as_str(),
        published.platform_post_id.as_str(),
        published.event_id.as_str(),
    ] {
        assert_eq!(
            d1_cells_containing(s.worker.persist_dir(), needle),
            Vec::<String>::new(),
            "{needle} is still stored"
        );
    }
    assert_eq!(
        tenant.get(&format!("/v1/connections/{alice_conn}")).status,
        404
    );
    let after = export(&tenant, alice);
    for list in LISTS {
        assert_eq!(after[list], json!([]), "{list}");
    }
    // Her grant's object holds no read for its alarm to write: the erasure dropped the ones
    // buffered after the export. (A flush would write none anyway: her connection is gone.)
    let flushed = s.worker.send(
        "POST",
        &format!("/__test/grants/{alice_grant}/audit-flush"),
        Some(&s.operator()),
        &json!({}),
    );
    assert_eq!(flushed.status, 200, "{flushed:?}");
    assert_eq!(flushed.body["flushed"], 0, "{flushed:?}");
    assert_eq!(
        d1_cells_containing(s.worker.persist_dir(), &alice_conn),
        Vec::<String>::new(),
        "no token read of hers came back"
    );

    // Bob is untouched, and still served. His reads are all still buffered in his grant's
    // object (three of its pages of 100): his export has every one.
    for _ in 0..230 {
        assert_eq!(tenant.token(&bob_conn).status, 200);
    }
    let his = export(&tenant, bob);
    assert_eq!(his["posts"][0]["text"], "bob's words 77ac");
    assert_eq!(
        his["token_reads"].as_array().unwrap().len(),
        1 + 230,
        "the read of his history and the 230 since"
    );
    assert!(!d1_cells_containing(s.worker.persist_dir(), bob).is_empty());

    // Again: nothing left to do, and it says so.
    let again = erase(&s, &tenant, alice);
    assert_eq!(again["complete"], true);
    assert_eq!(again["disconnected"], 0);
    assert!(
        again["erased"]
            .as_object()
            .unwrap()
            .values()
            .all(|n| n == 0),
        "{again}"
    );

    // No end user named: a clear error, nothing erased.
    let unnamed = s
        .worker
        .call(
            "DELETE",
            "/v1/end-user-data",
            Some(&bearer(&tenant.manage)),
            None,
        )
        .unwrap();
    assert_eq!(unnamed.status, 400, "{unnamed:?}");
    assert_eq!(unnamed.body["error"]["code"], "invalid_request");
}

#[test]
fn a_deleted_tenant_stops_at_once_and_the_dispatch_erases_it() {
    let s = Stack::start("erasure-tenant");
    let leaving = Tenant::new(&s, "Leaving");
    let staying = Tenant::new(&s, "Staying");
    let rx = Receiver::start();
    leaving.webhook_endpoint(&rx.url("leaving"));
    let gone = give_history(
        &s,
        &leaving,
        "leaver-1c9e",
        "leaving_x",
        "leaving words 31f0",
    );
    let kept = give_history(
        &s,
        &staying,
        "stayer-8d2a",
        "staying_x",
        "staying words 0b7e",
    );
    let operator = s.operator();
    let path = format!("/admin/tenants/{}", leaving.id);

    let deleted = s
        .worker
        .call("DELETE", &path, Some(&operator), None)
        .unwrap();
    assert_eq!(deleted.status, 202, "{deleted:?}");
    assert_eq!(deleted.body["erasure"], "in_progress");
    // At once: its keys stop, and it can get no new ones.
    assert_eq!(leaving.get("/v1/connections").status, 401);
    let key = s.worker.send(
        "POST",
        &format!("{path}/api-keys"),
        Some(&operator),
        &json!({ "scopes": ["manage"] }),
    );
    assert_eq!(key.status, 404, "{key:?}");
    let shown = s.worker.get(&path, Some(&operator));
    assert_eq!(shown.status, 200, "{shown:?}");
    assert_eq!(shown.body["erasure"], "in_progress");
    assert_eq!(shown.body["deleted_at"], deleted.body["deleted_at"]);
    // Again: the same answer.
    let again = s
        .worker
        .call("DELETE", &path, Some(&operator), None)
        .unwrap();
    assert_eq!(again.status, 202);
    assert_eq!(again.body["deleted_at"], deleted.body["deleted_at"]);

    // The minute dispatch disconnects (revoking at X) and erases everything of the tenant's.
    s.worker.run_cron("* * * * *");
    let summary = s.worker.last_cron_summary("dispatch");
    assert_eq!(summary["tenant_erasure"]["disconnected"], 1, "{summary}");
    assert_eq!(summary["tenant_erasure"]["tenants_erased"], 1, "{summary}");
    assert_eq!(s.fake.counters("leaving_x").revoke, 1);
    assert_eq!(s.worker.get(&path, Some(&operator)).status, 404);
    for needle in [
        leaving.id.as_str(),
        gone.as_str(),
        "leaver-1c9e",
        "leaving words 31f0",
    ] {
        assert_eq!(
            d1_cells_containing(s.worker.persist_dir(), needle),
            Vec::<String>::new(),
            "{needle} is still stored"
        );
    }
    // The next run has nothing to do.
    s.worker.run_cron("* * * * *");
    assert_eq!(
        s.worker.last_cron_summary("dispatch").get("tenant_erasure"),
        None
    );

    // The other tenant is untouched.
    assert_eq!(staying.token(&kept).status, 200);
    assert_eq!(s.fake.counters("staying_x").revoke, 0);
    assert!(!d1_cells_containing(s.worker.persist_dir(), &staying.id).is_empty());
}

/// An end user with more connections than one read or one call takes (seeded through a test
/// power, straight to D1): the export streams them all and ends complete; erasure disconnects
/// at most 100 a call and finishes on the third.
#[test]
fn an_end_user_with_more_than_a_page_is_exported_whole_and_erased_over_calls() {
    let s = Stack::start("erasure-bulk");
    let tenant = Tenant::new(&s, "Bulk end user");
    let day_ago = now_ms() - 86_400_000;
    // Pages of three consents, 350 each: past the export's 1,000-row reads.
    tenant.seed_pages("bulk", 1_050, 350, 0, day_ago, "bulk-user");
    // Pages of 25 consents, for the erasure: past one call's 100 disconnects.
    tenant.seed_pages("erased", 250, 10, 0, day_ago, "erased-user");
    tenant.seed_connections("bystander", 3, 0, day_ago, "other-user");

    // The export streams every row, past its 1,000-row reads, and says it is complete.
    let export = tenant.get("/v1/end-user-data?end_user_ref=bulk-user");
    assert_eq!(export.status, 200, "{export:?}");
    let listed: Vec<String> = export.body["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("{:?}", export.body))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (1..=1_050).map(|i| format!("conn_bulk{i:06}")).collect();
    assert_eq!(listed, expected, "every connection once, oldest first");
    assert_eq!(export.body["grants"].as_array().unwrap().len(), 3);
    assert_eq!(export.body["complete"], true);
    assert_eq!(export.body["truncated"], json!([]));
    assert!(
        export.body["connections"][0].get("page_key").is_none(),
        "positions are not part of the export"
    );

    // Erasure: a call disconnects at most 100 and says it is not complete; the last finishes.
    let erase = || {
        let answer = s.worker.send(
            "DELETE",
            "/v1/end-user-data?end_user_ref=erased-user",
            Some(&bearer(&tenant.manage)),
            &Value::Null,
        );
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.body
    };
    for call in 1..=2 {
        let partial = erase();
        assert_eq!(partial["complete"], false, "call {call}: {partial}");
        assert_eq!(partial["disconnected"], 100, "call {call}: {partial}");
        assert!(
            partial["erased"].get("connections").is_none(),
            "no row but sessions goes before every connection is disconnected: {partial}"
        );
    }
    let last = erase();
    assert_eq!(last["complete"], true, "{last}");
    assert_eq!(last["disconnected"], 50, "{last}");
    assert_eq!(last["erased"]["connections"], 250, "{last}");
    assert_eq!(last["erased"]["grants"], 25, "{last}");
    let after = tenant.get("/v1/end-user-data?end_user_ref=erased-user");
    assert_eq!(after.body["connections"], json!([]), "{:?}", after.body);
    assert_eq!(after.body["complete"], true);
    // The export's end user and the other one keep their connections.
    let kept = tenant.get("/v1/connections?end_user_ref=bulk-user&limit=1");
    assert_eq!(kept.body["connections"].as_array().unwrap().len(), 1);
    // The other end user's connections stay.
    let others = tenant.get("/v1/connections?end_user_ref=other-user");
    assert_eq!(others.body["connections"].as_array().unwrap().len(), 3);
}
