//! Native tests of `store::operations`: the cron's housekeeping removes only what expired or
//! what retention lets go (in the order the foreign keys need), heartbeats keep one row per
//! job, the metrics count what is stored, the circuit admits one probe, the rotation reseals
//! only rows still as read, dead letters are kept once, token reads are audited.

use super::connections::{self};
use super::events::{self};
use super::grants_tests::{at, connect, expiring, run, seeded, GR_A, T0, TEN_G};
use super::operations::{self, DeadLetter, Heartbeat, Prune, Reseal, SealedTable, TokenRead};
use super::sessions::{self, NewConnect, NewOauth, NewPage};
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db, Outcome, Row, Statement};
use crate::core::grant::grant_events;
use crate::core::grant::grant_health::GrantState;
use crate::core::webhooks::webhook_retry::DeliveryStatus;
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn changes(outcomes: &[Outcome]) -> Vec<usize> {
    outcomes.iter().map(|o| o.changes).collect()
}

fn count(db: &Sqlite, table: &str) -> Value {
    db.value(&format!("SELECT COUNT(*) FROM {table}"))
}

/// Expired sessions go (a connect session only once its OAuth session went), then retention.
pub fn housekeeping(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    for (id, expires) in [("cs_old", 1), ("cs_new", 48)] {
        run(
            db,
            sessions::create_connect(&NewConnect {
                id,
                token_hash: id,
                tenant_id: &TEN_G,
                provider: "x",
                end_user_ref: "alice",
                return_url: "",
                now: T0,
                expires_at: at(expires),
            }),
        );
    }
    let oauth = |state: &'static str, cs: &'static str, expires| NewOauth {
        state_hash: state,
        connect_session_id: cs,
        binding_hash: "b",
        verifier_ciphertext: "v",
        key_id: "k",
        redirect_uri: "r",
        now: T0,
        expires_at: at(expires),
        context_ciphertext: None,
    };
    run(db, sessions::create_oauth(&oauth("st_old", "cs_old", 1)));
    run(db, sessions::create_oauth(&oauth("st_new", "cs_new", 48)));
    run(
        db,
        sessions::open_page(&NewPage {
            id: "ps_old",
            link_nonce: "ln",
            secret_hash: "sh",
            tenant_id: &TEN_G,
            end_user_ref: "alice",
            csrf: "c",
            now: T0,
            expires_at: at(1),
        }),
    );
    let purged = block_on(db.batch(operations::purge_sessions(at(24)))).unwrap();
    assert_eq!(
        changes(&purged),
        [1, 1, 1],
        "the OAuth session first, then its connect session"
    );
    assert_eq!(count(db, "connect_sessions"), 1);
    let again = block_on(db.batch(operations::purge_sessions(at(24)))).unwrap();
    assert_eq!(changes(&again), [0, 0, 0]);

    // Retention: two events on one connection; the older goes once no delivery points at it,
    // the latest stays so its seq goes on counting.
    seeded(db, "gr_a");
    connect(db, "conn_a", "u1");
    db.exec(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('whe_1', 'ten_g', 'https://h.example/', '*', 's', 'k', 0);",
    );
    let (t, guard) = expiring(db, &GR_A);
    for (hour, key) in [(1, "a"), (2, "b")] {
        let t = grant_events::Transition {
            dedupe_key: key.into(),
            ..t.clone()
        };
        run(db, events::record_transition(&guard, &t, None, at(hour)));
        run(db, events::enqueue_deliveries(&GR_A, key, at(hour)));
    }
    run(
        db,
        operations::record_token_read(&TokenRead {
            tenant_id: &TEN_G,
            api_key_id: "key_1",
            connection_id: "conn_a",
            grant_id: Some("gr_a"),
            outcome: "served",
            at: at(1),
        }),
    );
    run(db, connections::spend_nonce("n1", &GR_A, 1, at(1)));
    let prune = |limit| Prune {
        deliveries_before: at(10),
        events_before: at(10),
        token_reads_before: at(10),
        reconnect_nonces_before: at(10),
        limit,
    };
    let first = block_on(db.batch(operations::prune(&prune(10)))).unwrap();
    assert_eq!(
        changes(&first),
        [0, 0, 1, 1],
        "pending deliveries hold their events"
    );
    db.arrange(
        "UPDATE webhook_deliveries SET status = ?1",
        &[DeliveryStatus::Delivered.as_str()],
    );
    let second = block_on(db.batch(operations::prune(&prune(1)))).unwrap();
    assert_eq!(
        changes(&second),
        [1, 1, 0, 0],
        "a delivery at a time, then the event it held"
    );
    let third = block_on(db.batch(operations::prune(&prune(10)))).unwrap();
    assert_eq!(
        changes(&third),
        [1, 0, 0, 0],
        "the other delivery; its event is the latest, and stays"
    );
    assert_eq!(db.value("SELECT dedupe_key FROM events"), "conn_a:b");
}

/// Heartbeats, metrics, the circuit, the rotation's reseals, dead letters, the test clock.
pub fn operator_tables(db: &Sqlite) {
    let beat = |failed, at_hour| Heartbeat {
        job: "sweep",
        failed,
        scheduled_at: at(at_hour),
        started_at: at(at_hour),
        finished_at: at(at_hour),
        outcome: if failed { "boom" } else { "{}" },
    };
    run(db, operations::record_heartbeat(&beat(false, 1)));
    run(db, operations::record_heartbeat(&beat(true, 2)));
    let h = rows(db, operations::heartbeats()).remove(0);
    assert_eq!((h.int("runs").unwrap(), h.int("failures").unwrap()), (2, 1));
    assert_eq!(h.text("last_outcome").unwrap(), "boom");
    assert_eq!(
        h.opt_int("last_finished_at").unwrap(),
        Some(at(2).as_millis())
    );

    // Metrics over one live grant and one dead one.
    seeded(db, "gr_a");
    seeded(db, "gr_d");
    db.arrange(
        "UPDATE grants SET state = ?1, next_check_at = NULL WHERE id = 'gr_d'",
        &[GrantState::DEAD],
    );
    let results = block_on(db.batch(operations::metrics(at(30), at(6)))).unwrap();
    assert_eq!(results.len(), 7);
    let standings: Vec<(String, i64)> = results[0]
        .rows
        .iter()
        .map(|r| (r.text("standing").unwrap(), r.int("grants").unwrap()))
        .collect();
    assert_eq!(
        standings,
        [("dead".to_owned(), 1), ("working".to_owned(), 1)]
    );
    let backlog = &results[2].rows[0];
    assert_eq!(
        (
            backlog.int("n").unwrap(),
            backlog.opt_int("oldest").unwrap()
        ),
        (1, Some(at(24).as_millis()))
    );
    let sealed = &results[6].rows[0];
    assert_eq!(
        (sealed.text("table_name").unwrap(), sealed.int("n").unwrap()),
        ("grants".into(), 2)
    );
    assert!(
        results[5].rows[0].opt_int("oldest").unwrap().is_none(),
        "no dead letters"
    );

    // The circuit: failures count up and open it at the threshold; one probe gets through.
    assert!(rows(db, operations::circuit("x")).is_empty());
    run(db, operations::circuit_failed("x", 2, at(1), T0));
    let c = rows(db, operations::circuit("x")).remove(0);
    assert_eq!(
        (
            c.int("consecutive_failures").unwrap(),
            c.opt_int("open_until").unwrap()
        ),
        (1, None)
    );
    run(db, operations::circuit_failed("x", 2, at(1), T0));
    let c = rows(db, operations::circuit("x")).remove(0);
    assert_eq!(c.opt_int("open_until").unwrap(), Some(at(1).as_millis()));
    assert_eq!(
        run(db, operations::claim_probe("x", at(3), at(0))),
        0,
        "still open"
    );
    assert_eq!(
        run(db, operations::claim_probe("x", at(3), at(1))),
        1,
        "the wait is over: one probe"
    );
    assert_eq!(
        run(db, operations::claim_probe("x", at(3), at(1))),
        0,
        "and only one"
    );
    assert_eq!(run(db, operations::circuit_closed("x", at(2))), 1);
    let c = rows(db, operations::circuit("x")).remove(0);
    assert_eq!(
        (
            c.int("consecutive_failures").unwrap(),
            c.opt_int("open_until").unwrap()
        ),
        (0, None)
    );

    // The rotation: rows under another key, resealed only while still as read.
    let due: Vec<String> = rows(db, operations::grants_to_reseal("k2", 10))
        .iter()
        .map(|r| r.text("id").unwrap())
        .collect();
    assert_eq!(due.len(), 2);
    assert!(rows(db, operations::grants_to_reseal("k1", 10)).is_empty());
    block_on(tenants::put_client(
        db,
        &tenants::Client {
            tenant_id: "ten_g".into(),
            provider: "x".into(),
            client_id: "cid".into(),
            secret_ciphertext: "old-blob".into(),
            key_id: "k1".into(),
            updated_at: T0,
        },
    ))
    .unwrap();
    db.exec(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('whe_1', 'ten_g', 'https://h.example/', '*', 'wblob', 'k1', 0);",
    );
    db.exec(
        "UPDATE webhook_endpoints SET previous_secret_ciphertext = 'pblob', \
           previous_key_id = 'k1', previous_secret_expires_at = 5 WHERE id = 'whe_1';",
    );
    for (table, row_id, blob) in [
        (SealedTable::TenantClients, "x", "old-blob"),
        (SealedTable::WebhookEndpoints, "whe_1", "wblob"),
        (SealedTable::WebhookPreviousSecrets, "whe_1", "pblob"),
    ] {
        let listed = rows(db, operations::to_reseal(table, "k2", 10));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].text("row_id").unwrap(), row_id);
        assert_eq!(listed[0].text("ciphertext").unwrap(), blob);
        let reseal = |old: (&'static str, &'static str)| Reseal {
            table,
            tenant_id: &TEN_G,
            row_id,
            old,
            new: ("k2", "new-blob"),
        };
        assert_eq!(
            run(db, operations::reseal(&reseal(("k1", "stale")))),
            0,
            "changed since read"
        );
        assert_eq!(run(db, operations::reseal(&reseal(("k1", blob)))), 1);
        assert!(rows(db, operations::to_reseal(table, "k2", 10)).is_empty());
    }

    // Dead letters: kept once per queue and message; replayed marks them.
    let letter = |queue: &'static str| DeadLetter {
        queue,
        message_id: "m1",
        body: "{\"target_id\":\"tgt_1\"}",
        reason: "exhausted",
        now: at(1),
    };
    assert_eq!(
        run(
            db,
            operations::record_dead_letter(&letter("evergreen-publish"))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            operations::record_dead_letter(&letter("evergreen-publish"))
        ),
        0
    );
    assert_eq!(
        run(
            db,
            operations::record_dead_letter(&letter("evergreen-webhooks"))
        ),
        1
    );
    let listed = rows(db, operations::dead_letters(None, None, 10));
    assert_eq!(listed.len(), 2);
    let first_id = listed[1].int("id").unwrap();
    assert_eq!(
        rows(
            db,
            operations::dead_letters(Some("evergreen-webhooks"), None, 10)
        )
        .len(),
        1
    );
    let after_newest = rows(
        db,
        operations::dead_letters(None, Some(listed[0].int("id").unwrap()), 10),
    );
    assert_eq!(after_newest.len(), 1);
    assert_eq!(after_newest[0].int("id").unwrap(), first_id);
    assert_eq!(
        rows(db, operations::dead_letter(first_id))[0]
            .text("queue")
            .unwrap(),
        "evergreen-publish"
    );
    assert_eq!(run(db, operations::mark_replayed(first_id, at(2))), 1);
    assert_eq!(
        rows(db, operations::dead_letter(first_id))[0]
            .opt_int("replayed_at")
            .unwrap(),
        Some(at(2).as_millis())
    );
    let backlog = block_on(db.batch(operations::metrics(at(30), at(6)))).unwrap();
    assert_eq!(
        backlog[5].rows[0].int("n").unwrap(),
        1,
        "the unreplayed one"
    );

    // The test clock: no row, then an offset and a stop.
    assert!(rows(db, operations::test_clock()).is_empty());
    db.exec("INSERT INTO test_clock (id, offset_ms, frozen_at) VALUES (1, 3600000, 42)");
    let clock = rows(db, operations::test_clock()).remove(0);
    assert_eq!(
        (
            clock.int("offset_ms").unwrap(),
            clock.opt_int("frozen_at").unwrap()
        ),
        (3_600_000, Some(42))
    );
}
