//! Native tests of `store::webhooks`: endpoints per tenant, deleting one ends its pending
//! deliveries, an attempt is recorded only on a pending delivery, redelivery only to a live
//! endpoint, and an event's body is frozen once.

use super::events::{self};
use super::grants_tests::{at, connect, expiring, run, seeded, GR_A, T0, TEN_G};
use super::sqlite::{block_on, Sqlite};
use super::webhooks::{self, Attempt, NewEndpoint};
use super::{tenants, Db, Row, Statement};
use crate::core::common::ids::TenantId;
use crate::core::webhooks::webhook_retry::DeliveryStatus::{Delivered, Failed, Pending};
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn endpoint<'a>(id: &'a str, tenant_id: &'a TenantId) -> NewEndpoint<'a> {
    NewEndpoint {
        id,
        tenant_id,
        url: "https://hooks.example/in",
        description: Some("ours"),
        event_types: "*",
        secret_ciphertext: "sealed",
        key_id: "k1",
        now: T0,
    }
}

fn delivery_status(db: &Sqlite, id: &str) -> Value {
    db.value(&format!(
        "SELECT status FROM webhook_deliveries WHERE id = '{id}'"
    ))
}

/// Endpoints, and deliveries from an event through their attempts.
pub fn endpoints_and_deliveries(db: &Sqlite) {
    seeded(db, "gr_a");
    block_on(tenants::create(db, "ten_other", "O", T0)).unwrap();
    run(db, webhooks::create(&endpoint("whe_1", &TEN_G)));
    run(
        db,
        webhooks::create(&NewEndpoint {
            now: at(1),
            description: None,
            ..endpoint("whe_2", &TEN_G)
        }),
    );
    let other: TenantId = "ten_other".into();
    run(db, webhooks::create(&endpoint("whe_o", &other)));
    assert_eq!(
        rows(db, webhooks::count_live(&TEN_G))[0].int("n").unwrap(),
        2
    );
    let listed: Vec<_> = rows(db, webhooks::list(&TEN_G))
        .iter()
        .map(|r| r.text("id").unwrap())
        .collect();
    assert_eq!(listed, ["whe_1", "whe_2"]);
    let found = rows(db, webhooks::find(&TEN_G, "whe_2")).remove(0);
    assert_eq!(found.opt_text("description").unwrap(), None);
    assert!(
        rows(db, webhooks::find(&TEN_G, "whe_o")).is_empty(),
        "another tenant's"
    );

    // One event, two endpoints: two deliveries.
    connect(db, "conn_a", "u1");
    let (t, guard) = expiring(db, &GR_A);
    run(db, events::record_transition(&guard, &t, None, at(2)));
    assert_eq!(
        run(db, events::enqueue_deliveries(&GR_A, &t.dedupe_key, at(2))),
        2
    );
    let id_to = |w: &str| {
        db.value(&format!(
            "SELECT id FROM webhook_deliveries WHERE endpoint_id = '{w}'"
        ))
        .as_str()
        .unwrap()
        .to_owned()
    };
    let (d1, d2) = (id_to("whe_1"), id_to("whe_2"));

    // What an attempt reads: the event, the endpoint's sealed secret, the end user, the epoch.
    let p = rows(db, webhooks::to_attempt(&d1)).remove(0);
    assert_eq!(p.text("status").unwrap(), "pending");
    assert_eq!(p.text("kind").unwrap(), "connection.expiring");
    assert_eq!(p.text("secret_ciphertext").unwrap(), "sealed");
    assert_eq!(
        p.opt_text("end_user_ref").unwrap().as_deref(),
        Some("alice")
    );
    assert_eq!(p.opt_int("epoch").unwrap(), Some(0));
    assert_eq!(p.opt_int("endpoint_deleted").unwrap(), None);
    assert_eq!(p.opt_text("body").unwrap(), None);
    let event_id = p.text("event_id").unwrap();
    assert_eq!(run(db, webhooks::freeze_body(&event_id, "{\"a\":1}")), 1);
    assert_eq!(
        run(db, webhooks::freeze_body(&event_id, "{\"b\":2}")),
        0,
        "frozen once"
    );
    assert_eq!(
        rows(db, webhooks::body(&event_id))[0].text("body").unwrap(),
        "{\"a\":1}"
    );

    // A failed attempt stays pending with its next time; a 2xx delivers; then nothing more.
    let attempt = |status, n, http: Option<u16>| Attempt {
        delivery_id: &d1,
        status,
        attempts: n,
        first_attempt_at: at(2),
        http_status: http,
        error: http.is_none().then_some("timeout"),
        next_attempt_at: at(3),
        now: at(2),
    };
    assert_eq!(
        run(db, webhooks::record_attempt(&attempt(Pending, 1, None))),
        1
    );
    let d = rows(db, webhooks::delivery(&TEN_G, &d1)).remove(0);
    assert_eq!(
        (
            d.int("attempts").unwrap(),
            d.opt_text("last_error").unwrap().as_deref()
        ),
        (1, Some("timeout"))
    );
    assert_eq!(d.int("next_attempt_at").unwrap(), at(3).as_millis());
    assert_eq!(d.opt_int("delivered_at").unwrap(), None);
    assert_eq!(
        run(
            db,
            webhooks::record_attempt(&attempt(Delivered, 2, Some(204)))
        ),
        1
    );
    let d = rows(db, webhooks::delivery(&TEN_G, &d1)).remove(0);
    assert_eq!(d.text("status").unwrap(), "delivered");
    assert_eq!(d.opt_int("delivered_at").unwrap(), Some(at(2).as_millis()));
    assert_eq!(d.opt_int("last_status").unwrap(), Some(204));
    assert_eq!(
        run(db, webhooks::record_attempt(&attempt(Failed, 3, Some(500)))),
        0,
        "settled"
    );
    assert!(rows(db, webhooks::delivery(&"ten_other".into(), &d1)).is_empty());

    // Lists, by status, for the tenant's endpoint.
    let list = |status| rows(db, webhooks::deliveries(&TEN_G, "whe_1", status, None, 10)).len();
    assert_eq!(
        (list(None), list(Some(Delivered)), list(Some(Pending))),
        (1, 1, 0)
    );
    assert!(rows(
        db,
        webhooks::deliveries(&"ten_other".into(), "whe_1", None, None, 10)
    )
    .is_empty());
    let only = rows(db, webhooks::deliveries(&TEN_G, "whe_1", None, None, 10)).remove(0);
    let position = (only.int("created_at").unwrap(), only.text("id").unwrap());
    assert!(
        rows(
            db,
            webhooks::deliveries(&TEN_G, "whe_1", None, Some((position.0, &position.1)), 10)
        )
        .is_empty(),
        "nothing is after the last delivery"
    );
    assert_eq!(
        rows(
            db,
            webhooks::deliveries(&TEN_G, "whe_1", None, Some((position.0, "whf")), 10)
        )
        .len(),
        1,
        "a tie on the time is broken by id"
    );

    // Redelivery: pending again with a new window, to a live endpoint only.
    assert_eq!(
        run(db, webhooks::redeliver(&d1, &"ten_other".into(), at(4))),
        0
    );
    assert_eq!(run(db, webhooks::redeliver(&d1, &TEN_G, at(4))), 1);
    assert_eq!(delivery_status(db, &d1), "pending");
    assert_eq!(
        db.value(&format!(
            "SELECT first_attempt_at IS NULL FROM webhook_deliveries WHERE id = '{d1}'"
        )),
        1
    );

    // Deleting an endpoint ends its pending deliveries; a delivery to it is ended as failed.
    let outcomes = block_on(db.batch(webhooks::delete("whe_1", &TEN_G, at(5)).into())).unwrap();
    assert_eq!(
        outcomes.iter().map(|o| o.changes).collect::<Vec<_>>(),
        [1, 1]
    );
    assert_eq!(delivery_status(db, &d1), "failed");
    assert_eq!(
        run(db, webhooks::redeliver(&d1, &TEN_G, at(6))),
        0,
        "the endpoint is gone"
    );
    assert_eq!(
        rows(db, webhooks::count_live(&TEN_G))[0].int("n").unwrap(),
        1
    );
    assert_eq!(
        rows(db, webhooks::to_attempt(&d1))[0]
            .opt_int("endpoint_deleted")
            .unwrap(),
        Some(at(5).as_millis())
    );
    let other =
        block_on(db.batch(webhooks::delete("whe_2", &"ten_other".into(), at(5)).into())).unwrap();
    assert_eq!(
        other.iter().map(|o| o.changes).collect::<Vec<_>>(),
        [0, 0],
        "another tenant's endpoint and deliveries stay"
    );
    assert_eq!(delivery_status(db, &d2), "pending");
    db.exec("UPDATE webhook_endpoints SET deleted_at = 9 WHERE id = 'whe_2'");
    assert_eq!(run(db, webhooks::fail_pending(&d2)), 1);
    assert_eq!(delivery_status(db, &d2), "failed");
    assert_eq!(run(db, webhooks::fail_pending(&d2)), 0);
}

/// A rotation lands only on the secret as read, keeps the replaced one until its overlap ends,
/// and deleting the endpoint erases the replaced one at once.
pub fn rotation(db: &Sqlite) {
    seeded(db, "gr_a");
    run(db, webhooks::create(&endpoint("whe_1", &TEN_G)));
    run(db, webhooks::create(&endpoint("whe_2", &TEN_G)));
    let secret = |id: &str| {
        let r = rows(db, webhooks::secret(&TEN_G, id)).remove(0);
        (
            r.text("key_id").unwrap(),
            r.text("secret_ciphertext").unwrap(),
        )
    };
    assert_eq!(secret("whe_1"), ("k1".to_owned(), "sealed".to_owned()));
    assert!(
        rows(db, webhooks::secret(&"ten_other".into(), "whe_1")).is_empty(),
        "another tenant's endpoint is not found"
    );
    let rotation = |id, read, new, until| webhooks::Rotation {
        tenant_id: &TEN_G,
        endpoint_id: id,
        read,
        new,
        previous: ("k1", "sealed-as-previous"),
        previous_expires_at: at(until),
    };
    assert_eq!(
        run(
            db,
            webhooks::rotate(&rotation("whe_1", ("k1", "stale"), ("k2", "new"), 24))
        ),
        0,
        "rotated meanwhile: nothing lands"
    );
    assert_eq!(
        run(
            db,
            webhooks::rotate(&rotation("whe_1", ("k1", "sealed"), ("k2", "new"), 24))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            webhooks::rotate(&rotation("whe_2", ("k1", "sealed"), ("k2", "new2"), 48))
        ),
        1
    );
    assert_eq!(secret("whe_1"), ("k2".to_owned(), "new".to_owned()));
    let shown = rows(db, webhooks::find(&TEN_G, "whe_1")).remove(0);
    assert_eq!(
        shown.opt_int("previous_secret_expires_at").unwrap(),
        Some(at(24).as_millis())
    );
    let attempt_row = |id: &str| {
        db.value(&format!(
            "SELECT json_array(previous_secret_ciphertext, previous_key_id, \
               previous_secret_expires_at) FROM webhook_endpoints WHERE id = '{id}'"
        ))
    };
    assert_eq!(
        attempt_row("whe_1"),
        Value::from(format!(
            "[\"sealed-as-previous\",\"k1\",{}]",
            at(24).as_millis()
        ))
    );

    // The overlap of whe_1 ends at 24 h; whe_2's at 48 h.
    assert_eq!(run(db, webhooks::end_overlaps(at(23))), 0);
    assert_eq!(run(db, webhooks::end_overlaps(at(24))), 1);
    assert_eq!(attempt_row("whe_1"), Value::from("[null,null,null]"));
    assert!(
        attempt_row("whe_2")
            .as_str()
            .unwrap()
            .starts_with("[\"sealed-as-previous\""),
        "whe_2's overlap goes on"
    );
    block_on(db.batch(webhooks::delete("whe_2", &TEN_G, at(30)).into())).unwrap();
    assert_eq!(
        attempt_row("whe_2"),
        Value::from("[null,null,null]"),
        "deleting the endpoint erases the replaced secret"
    );
    assert_eq!(
        run(
            db,
            webhooks::rotate(&rotation("whe_2", ("k2", "new2"), ("k3", "newer"), 72))
        ),
        0,
        "a deleted endpoint does not rotate"
    );
}
