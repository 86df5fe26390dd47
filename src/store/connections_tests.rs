//! Native tests of `store::connections` and `store::events`: what each statement returns and
//! changes, and that each write is guarded on the grant's version (or standing) as the batch
//! leaves it.

use super::connections::{self, DisconnectAsk, NewConnection};
use super::events::{self, Guard, PostEvent};
use super::grants_tests::{at, run, seeded, EXPIRING, GR_A, T0, TEN_G};
use super::sqlite::{block_on, Sqlite};
use super::{Db, Row, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_events;
use crate::core::grant::grant_health::{Colour, GrantState, RefreshState, Status};
use crate::core::oauth::managed_accounts::Access;
use crate::core::publish::posts::TargetState;
use crate::core::webhooks::webhook_retry::DeliveryStatus;
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn texts(rows: &[Row], column: &str) -> Vec<String> {
    rows.iter().map(|r| r.text(column).unwrap()).collect()
}

fn connection<'a>(
    id: &'a str,
    kind: &'a str,
    external_id: &'a str,
    version: i64,
) -> NewConnection<'a> {
    NewConnection {
        id,
        grant_id: &GR_A,
        tenant_id: &TEN_G,
        end_user_ref: "alice",
        kind,
        external_id,
        display_name: Some("Alice"),
        username: None,
        grant_version: version,
        now: T0,
    }
}

/// Stores, reads, loses and restores, and disconnects connections; spends reconnect nonces.
pub fn lifecycle(db: &Sqlite) {
    seeded(db, "gr_a");
    assert_eq!(
        run(
            db,
            connections::upsert(&connection("conn_p", "profile", "u1", 1))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            connections::upsert(&connection("conn_x", "page", "p9", 2))
        ),
        0,
        "a grant that moved past the batch's version stores nothing"
    );
    assert_eq!(
        run(
            db,
            connections::upsert(&connection("conn_1", "page", "p1", 1))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            connections::upsert(&connection("conn_2", "page", "p2", 1))
        ),
        1
    );
    let all = rows(db, connections::of_grant(&GR_A));
    assert_eq!(texts(&all, "id").len(), 3);
    let pages = rows(db, connections::live_external_ids(&GR_A, "page"));
    assert_eq!(texts(&pages, "external_id"), ["p1", "p2"]);

    // Access: compare-and-set on what it was.
    let lose =
        || connections::set_access("conn_1", Access::Lost, Access::Ok, Some("no role"), at(1));
    assert_eq!(run(db, lose()), 1);
    assert_eq!(run(db, lose()), 0, "already lost: nothing");
    let live = rows(db, connections::live_of_grant(&GR_A));
    assert_eq!(texts(&live, "id"), ["conn_1", "conn_2", "conn_p"]);
    let lost = live
        .iter()
        .find(|r| r.text("id").unwrap() == "conn_1")
        .unwrap();
    assert_eq!(lost.text("access").unwrap(), "lost");
    assert_eq!(
        lost.opt_text("access_reason").unwrap().as_deref(),
        Some("no role")
    );
    // Storing the same account again brings it back under its first id, usable.
    assert_eq!(
        run(
            db,
            connections::upsert(&connection("conn_new", "page", "p1", 1))
        ),
        1
    );
    let again = rows(db, connections::live_of_grant(&GR_A));
    let back = again
        .iter()
        .find(|r| r.text("external_id").unwrap() == "p1")
        .unwrap();
    assert_eq!(back.text("id").unwrap(), "conn_1");
    assert_eq!(back.text("access").unwrap(), Access::Ok.as_str());
    assert_eq!(back.opt_text("access_reason").unwrap(), None);

    // What a disconnect decides on.
    let ask = DisconnectAsk {
        connection_id: "conn_2",
        grant_id: &GR_A,
        provider: "x",
        provider_account_id: "acct_1",
        client_id: "client",
    };
    let counts = |db: &Sqlite| {
        let r = rows(db, connections::disconnect_counts(&ask)).remove(0);
        ["this_live", "others_live", "other_grants"].map(|c| r.int(c).unwrap())
    };
    assert_eq!(counts(db), [1, 2, 0]);
    seeded(db, "gr_b"); // the same account and client, through a second grant
    assert_eq!(counts(db), [1, 2, 1]);
    db.arrange(
        "UPDATE grants SET state = ?1 WHERE id = 'gr_b'",
        &[GrantState::DEAD],
    );
    assert_eq!(
        counts(db),
        [1, 2, 0],
        "a dead grant holds nothing to revoke"
    );
    assert_eq!(
        run(db, connections::disconnect("conn_2", &GR_A, 2, at(2))),
        0,
        "stale version"
    );
    assert_eq!(
        run(
            db,
            connections::disconnect("conn_2", &"gr_b".into(), 1, at(2))
        ),
        0,
        "another grant's"
    );
    assert_eq!(
        run(db, connections::disconnect("conn_2", &GR_A, 1, at(2))),
        1
    );
    assert_eq!(
        run(db, connections::disconnect("conn_2", &GR_A, 1, at(3))),
        0,
        "once"
    );
    assert_eq!(counts(db), [0, 2, 0]);
    assert_eq!(
        texts(
            &rows(db, connections::live_external_ids(&GR_A, "page")),
            "external_id"
        ),
        ["p1"]
    );
    assert_eq!(
        texts(&rows(db, connections::of_grant(&GR_A)), "id").len(),
        3,
        "kept, disconnected"
    );

    // Reconnect nonces: spent once, guarded on the version.
    let spent = |db: &Sqlite, nonce: &str| {
        rows(db, connections::nonce_spent(nonce))[0]
            .int("used")
            .unwrap()
    };
    assert_eq!(spent(db, "n1"), 0);
    assert_eq!(
        run(db, connections::spend_nonce("n1", &GR_A, 5, at(1))),
        0,
        "stale version"
    );
    assert_eq!(spent(db, "n1"), 0);
    assert_eq!(run(db, connections::spend_nonce("n1", &GR_A, 1, at(1))), 1);
    assert_eq!(spent(db, "n1"), 1);
    let twice = block_on(db.run(connections::spend_nonce("n1", &GR_A, 1, at(2))));
    assert!(
        twice.is_err(),
        "a spent nonce fails the batch that spends it again"
    );
}

fn endpoint(db: &Sqlite, id: &str, types: &str) {
    db.exec(&format!(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('{id}', 'ten_g', 'https://h.example/', '{types}', 's', 'k', 0)"
    ));
}

fn count(db: &Sqlite, sql: &str) -> i64 {
    match db.value(sql) {
        Value::Number(n) => n.as_i64().unwrap(),
        other => panic!("{sql}: {other}"),
    }
}

/// Transition events fan out to live connections once, guarded on the grant's standing; the
/// outbox gets one row per subscribed endpoint; hand-off and the reconciler mark rows sent.
pub fn events_and_outbox(db: &Sqlite) {
    seeded(db, "gr_a");
    run(
        db,
        connections::upsert(&connection("conn_a", "profile", "u1", 1)),
    );
    run(
        db,
        connections::upsert(&connection("conn_b", "page", "p1", 1)),
    );
    endpoint(db, "whe_all", "*");
    endpoint(db, "whe_rev", "connection.revoked");
    endpoint(db, "whe_other", "post.published");
    let before = Status {
        grant: GrantState::Alive,
        refresh: RefreshState::Ok,
    };
    let after = Status {
        grant: GrantState::Expiring {
            dies_at: at(24 * 10),
            stage_days: 14,
        },
        refresh: RefreshState::Ok,
    };
    let transition = grant_events::transitions(before, after, 1).remove(0);
    assert_eq!(transition.health.colour, Colour::Yellow);
    let guard = |state: &'static str| Guard {
        grant_id: &GR_A,
        version: 1,
        state,
        refresh_state: RefreshState::Ok.as_str(),
    };
    let now = at(1);
    // As the batch's grant write leaves it (arranged here).
    db.arrange(
        "UPDATE grants SET state = ?1 WHERE id = 'gr_a'",
        &[EXPIRING],
    );
    let record = |state, only| events::record_transition(&guard(state), &transition, only, now);
    assert!(
        rows(db, record(GrantState::Alive.as_str(), None)).is_empty(),
        "the grant is not as written"
    );
    let inserted = rows(db, record("expiring", None));
    let mut ids = texts(&inserted, "connection_id");
    ids.sort(); // RETURNING has no order
    assert_eq!(ids, ["conn_a", "conn_b"]);
    assert!(
        rows(db, record("expiring", None)).is_empty(),
        "a transition reached twice: once"
    );
    let first = db.value(
        "SELECT id || ' ' || seq || ' ' || colour FROM events WHERE connection_id = 'conn_a'",
    );
    let first = first.as_str().unwrap();
    assert!(
        first.starts_with("evt_") && first.ends_with(" 1 yellow"),
        "{first}"
    );

    assert_eq!(
        run(
            db,
            events::enqueue_deliveries(&GR_A, &transition.dedupe_key, now)
        ),
        2,
        "2 events x 1 endpoint ('*')"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE id LIKE 'dlv_%'"
        ),
        2
    );
    assert_eq!(
        db.value("SELECT group_concat(DISTINCT status) FROM webhook_deliveries"),
        DeliveryStatus::Pending.as_str()
    );
    let sent = rows(db, events::hand_off(&GR_A, now));
    assert_eq!(sent.len(), 2);
    // Each with its endpoint: the webhook consumer's lane.
    let mut endpoints = texts(&sent, "endpoint_id");
    endpoints.sort();
    endpoints.dedup();
    assert_eq!(
        Value::String(endpoints.join(",")),
        db.value("SELECT group_concat(DISTINCT endpoint_id) FROM (SELECT endpoint_id FROM webhook_deliveries ORDER BY 1)")
    );
    assert!(
        rows(db, events::hand_off(&GR_A, now)).is_empty(),
        "sent once"
    );

    // A revocation for one connection only reaches the endpoint subscribed to it, too.
    let revoked = grant_events::Transition {
        kind: grant_events::EventKind::Revoked,
        dedupe_key: "revoked:2".into(),
        ..transition.clone()
    };
    let one = events::record_transition(&guard("expiring"), &revoked, Some("conn_b"), at(2));
    assert_eq!(texts(&rows(db, one), "connection_id"), ["conn_b"]);
    assert_eq!(
        count(
            db,
            "SELECT seq FROM events WHERE dedupe_key = 'conn_b:revoked:2'"
        ),
        2
    );
    assert_eq!(
        run(db, events::enqueue_deliveries(&GR_A, "revoked:2", at(2))),
        2
    );
    assert_eq!(
        run(db, events::enqueue_deliveries(&GR_A, "revoked:2", at(2))),
        0,
        "once per endpoint"
    );

    // The reconciler: pending rows due before `overdue` and not sent since, oldest first.
    let resend = |limit| rows(db, events::resend_overdue(at(3), at(2), limit));
    assert_eq!(resend(3).len(), 3, "a page at a time");
    assert_eq!(
        resend(10).len(),
        1,
        "the rest: sent at 1 and not since, or never sent"
    );
    assert!(resend(10).is_empty(), "sent at 3: not overdue");
    db.arrange(
        "UPDATE webhook_deliveries SET status = ?1",
        &[DeliveryStatus::Delivered.as_str()],
    );
    assert!(
        rows(db, events::resend_overdue(at(9), at(8), 10)).is_empty(),
        "settled rows stay"
    );

    // A post target's events: numbered per target, written only while it is as settled.
    db.exec(
        "INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
           request_digest, created_at) VALUES ('post_1', 'ten_g', 'alice', 't', 0, 'k', 'd', 0);",
    );
    db.arrange(
        "INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, provider, \
           content_hash, state, not_before, created_at, updated_at) \
         VALUES ('tgt_1', 'post_1', 'ten_g', 'conn_a', 'gr_a', 'x', 'h', ?1, 0, 0, 7)",
        &[TargetState::Published.as_str()],
    );
    let seq = rows(db, events::next_seq("tgt_1"))[0].int("seq").unwrap();
    assert_eq!(seq, 1);
    let post = |id, state, at: i64| PostEvent {
        id,
        seq,
        kind: "post.published",
        reason: "",
        message: "published",
        dedupe_key: "post.published:7",
        body: "{}",
        target_id: "tgt_1",
        target_state: state,
        occurred_at: Timestamp::from_millis(at),
    };
    assert_eq!(
        run(db, events::record_post(&post("evt_x", "failed", 7))),
        0,
        "not as settled"
    );
    assert_eq!(
        run(db, events::record_post(&post("evt_x", "published", 8))),
        0,
        "settled again since"
    );
    assert_eq!(
        run(db, events::record_post(&post("evt_p", "published", 7))),
        1
    );
    assert_eq!(
        rows(db, events::next_seq("tgt_1"))[0].int("seq").unwrap(),
        2
    );
    let row = db.value(
        "SELECT connection_id || ' ' || target_id || ' ' || post_id || ' ' || colour || ' ' \
           || dedupe_key FROM events WHERE id = 'evt_p'",
    );
    assert_eq!(
        row.as_str().unwrap(),
        "conn_a tgt_1 post_1 none tgt_1:post.published:7",
        "a post event names its connection, target and post"
    );
    // The connection's own sequence goes on apart from its targets'.
    assert_eq!(
        count(
            db,
            "SELECT MAX(seq) FROM events WHERE connection_id = 'conn_a' AND target_id IS NULL"
        ),
        1
    );
    assert!(rows(db, events::of_connection("conn_a", &TEN_G, 0, 10))
        .iter()
        .all(|r| r.text("type").unwrap().starts_with("connection.")));
}

/// Migration 0015 carries events over: a post event written before it (its target's id in
/// `connection_id`) names its connection, target and post after it, keeping its number; a
/// delivery pointing at it still does.
#[test]
fn post_events_written_before_0015_name_their_connection_target_and_post_after_it() {
    let db = Sqlite::migrated_before("0015");
    db.exec(
        "INSERT INTO tenants (id, name, created_at) VALUES ('ten_g', 'G', 0);
         INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
           end_user_ref, refresh_policy, created_at, updated_at) \
           VALUES ('gr_a', 'ten_g', 'x', 'acct', 'client', 'alice', 'on_demand', 0, 0);
         INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
           created_at, updated_at) VALUES ('conn_a', 'gr_a', 'ten_g', 'alice', 'profile', 'u1', 0, 0);
         INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
           request_digest, created_at) VALUES ('post_1', 'ten_g', 'alice', 't', 0, 'k', 'd', 0);
         INSERT INTO events (id, tenant_id, grant_id, connection_id, seq, type, colour, reason, \
           message, dedupe_key, occurred_at) VALUES \
           ('evt_c', 'ten_g', 'gr_a', 'conn_a', 1, 'connection.expiring', 'yellow', 'r', 'm', 'conn_a:k', 1), \
           ('evt_p', 'ten_g', 'gr_a', 'tgt_1', 1, 'post.published', 'none', '', 'm', 'tgt_1:k', 2);
         INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('whe_1', 'ten_g', 'https://h.example/', '*', 's', 'k', 0);
         INSERT INTO webhook_deliveries (id, event_id, endpoint_id, tenant_id, next_attempt_at, \
           created_at) VALUES ('dlv_1', 'evt_p', 'whe_1', 'ten_g', 0, 0);",
    );
    // The target the old-form post event names (inserted after it: no foreign key checks it).
    db.arrange(
        "INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, provider, \
           content_hash, state, not_before, created_at, updated_at) \
         VALUES ('tgt_1', 'post_1', 'ten_g', 'conn_a', 'gr_a', 'x', 'h', ?1, 0, 0, 0)",
        &[TargetState::Published.as_str()],
    );
    db.apply("0015_post_events.sql");
    let row = |id: &str| {
        db.value(&format!(
            "SELECT connection_id || ' ' || COALESCE(target_id, '-') || ' ' || \
               COALESCE(post_id, '-') || ' ' || seq FROM events WHERE id = '{id}'"
        ))
    };
    assert_eq!(row("evt_c"), "conn_a - - 1");
    assert_eq!(
        row("evt_p"),
        "conn_a tgt_1 post_1 1",
        "the same number, in the target's stream"
    );
    assert_eq!(
        db.value("SELECT event_id FROM webhook_deliveries WHERE id = 'dlv_1'"),
        "evt_p"
    );
    assert_eq!(
        db.value("PRAGMA foreign_key_check"),
        Value::Null,
        "no dangling reference"
    );
}
