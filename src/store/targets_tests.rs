//! Native tests of `store::targets` (the publish pipeline) and `store::operations`: each
//! move names the state it expects, a claimed target is written only under its lease, and the
//! reconciler tells a claim that never sent from one that may have.

use super::grants_tests::{at, connect, run, seeded, GR_A, T0};
use super::operations;
use super::sqlite::{block_on, Sqlite};
use super::targets::{self, Requeue, Settled, Settler};
use super::{Db, Row, Statement};
use crate::core::publish::posts::TargetState::{self, *};
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn ids(db: &Sqlite, statement: Statement) -> Vec<String> {
    let mut ids: Vec<String> = rows(db, statement)
        .iter()
        .map(|r| r.text("id").unwrap())
        .collect();
    ids.sort();
    ids
}

fn column(db: &Sqlite, target: &str, column: &str) -> Value {
    db.value(&format!(
        "SELECT {column} FROM post_targets WHERE id = '{target}'"
    ))
}

fn state(db: &Sqlite, target: &str) -> String {
    column(db, target, "state").as_str().unwrap().to_owned()
}

/// A grant, its connection, one post, and targets `(id, state, not_before hour)`.
fn arranged(db: &Sqlite, targets: &[(&str, TargetState, i64)]) {
    seeded(db, "gr_a");
    connect(db, "conn_a", "u1");
    for (i, (id, st, hour)) in targets.iter().enumerate() {
        db.exec(&format!(
            "INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
               request_digest, created_at) VALUES ('post_{i}', 'ten_g', 'alice', 'hello', {p}, \
               'k{i}', 'd', 0);
             INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, provider, \
               content_hash, state, not_before, created_at, updated_at) VALUES \
               ('{id}', 'post_{i}', 'ten_g', 'conn_a', 'gr_a', 'x', 'h', '{s}', {p}, 0, 0);",
            p = at(*hour).as_millis(),
            s = st.as_str(),
        ));
    }
}

/// The dispatch, the claim and its writes, the requeue, and settling by the claim's holder.
pub fn claim_and_settle(db: &Sqlite) {
    arranged(db, &[("tgt_1", Scheduled, 1), ("tgt_2", Scheduled, 5)]);
    assert_eq!(ids(db, targets::dispatch_due(at(0), at(2), 10)), ["tgt_1"]);
    assert_eq!(state(db, "tgt_1"), "queued");
    assert!(
        ids(db, targets::dispatch_due(at(0), at(2), 10)).is_empty(),
        "once"
    );
    assert_eq!(
        ids(db, targets::dispatch_due(at(0), at(9), 1)).len(),
        1,
        "a page at a time"
    );
    // tgt_2 is queued too, but not due before the overdue mark.
    assert_eq!(ids(db, targets::resend_lost(at(3), at(2), 10)), ["tgt_1"]);
    assert!(
        ids(db, targets::resend_lost(at(3), at(2), 10)).is_empty(),
        "sent since"
    );

    let loaded = rows(db, targets::load("tgt_1")).remove(0);
    assert_eq!(loaded.text("text").unwrap(), "hello");
    assert_eq!(loaded.text("access").unwrap(), "ok");
    assert_eq!(loaded.text("external_id").unwrap(), "u1");
    assert!(rows(db, targets::load("tgt_none")).is_empty());

    // The claim: only a queued target that is due (allowing a second).
    assert_eq!(
        run(db, targets::claim("tgt_2", "lse_x", at(4), at(4))),
        0,
        "not due"
    );
    assert_eq!(run(db, targets::claim("tgt_1", "lse_1", at(4), at(3))), 1);
    assert_eq!(
        run(db, targets::claim("tgt_1", "lse_2", at(4), at(3))),
        0,
        "claimed"
    );
    assert_eq!(state(db, "tgt_1"), "publishing");
    assert_eq!(
        run(db, targets::mark_sent("tgt_1", "lse_x", at(3))),
        0,
        "another lease"
    );
    assert_eq!(run(db, targets::mark_sent("tgt_1", "lse_1", at(3))), 1);
    assert_eq!(column(db, "tgt_1", "attempts"), 1);
    assert_eq!(
        run(
            db,
            targets::save_progress("tgt_1", "lse_1", r#"{"step":"upload"}"#, at(3))
        ),
        1
    );
    assert_eq!(run(db, targets::extend_lease("tgt_1", "lse_1", at(6))), 1);
    assert_eq!(column(db, "tgt_1", "lease_until"), at(6).as_millis());
    let requeue = |lease_id| Requeue {
        target_id: "tgt_1",
        lease_id,
        at: at(7),
        reason: "rate_limited",
        note: "429",
        progress: None,
        refused: Some((429, 1)),
        now: at(3),
    };
    assert_eq!(run(db, targets::requeue_claim(&requeue("lse_x"))), 0);
    assert_eq!(run(db, targets::requeue_claim(&requeue("lse_1"))), 1);
    assert_eq!(state(db, "tgt_1"), "queued");
    assert_eq!(column(db, "tgt_1", "last_status"), 429);
    assert_eq!(
        column(db, "tgt_1", "progress"),
        r#"{"step":"upload"}"#,
        "progress kept"
    );
    assert_eq!(column(db, "tgt_1", "sent_at"), Value::Null);
    assert_eq!(
        run(db, targets::mark_sent("tgt_1", "lse_1", at(3))),
        0,
        "the lease went"
    );

    // Settled by the claim's holder: also from unconfirmed; published_at only when published.
    assert_eq!(run(db, targets::claim("tgt_1", "lse_3", at(8), at(7))), 1);
    let settled = |st, lease| Settled {
        target_id: "tgt_1",
        state: st,
        reason: Some("ambiguous"),
        message: Some("unclear"),
        platform_post_id: None,
        by: Settler::Claim(lease),
        recheck_at: Some(at(9)),
        now: at(7),
    };
    assert_eq!(run(db, targets::settle(&settled(Unconfirmed, "lse_x"))), 0);
    assert_eq!(run(db, targets::settle(&settled(Unconfirmed, "lse_3"))), 1);
    assert_eq!(column(db, "tgt_1", "published_at"), Value::Null);
    assert_eq!(column(db, "tgt_1", "recheck_at"), at(9).as_millis());
    assert_eq!(column(db, "tgt_1", "lease_until"), Value::Null);
    let published = Settled {
        platform_post_id: Some("tw_1"),
        reason: None,
        message: None,
        recheck_at: None,
        ..settled(Published, "lse_3")
    };
    // The holder, late (the reconciler marked it unconfirmed): what the platform answered
    // still lands.
    assert_eq!(run(db, targets::settle(&published)), 1);
    assert_eq!(state(db, "tgt_1"), "published");
    assert_eq!(column(db, "tgt_1", "published_at"), at(7).as_millis());
    assert_eq!(column(db, "tgt_1", "platform_post_id"), "tw_1");
    assert_eq!(column(db, "tgt_1", "last_error"), Value::Null);
    assert_eq!(
        column(db, "tgt_1", "lease_id"),
        Value::Null,
        "settled: the claim ends"
    );
    assert_eq!(run(db, targets::settle(&published)), 0, "the lease is gone");

    // Settled from the API: only from the states it names.
    let cancel = |from: &'static [TargetState]| Settled {
        target_id: "tgt_2",
        state: Cancelled,
        reason: Some("cancelled"),
        message: None,
        platform_post_id: None,
        by: Settler::From(from),
        recheck_at: None,
        now: at(8),
    };
    assert_eq!(run(db, targets::settle(&cancel(&[Unconfirmed]))), 0);
    assert_eq!(
        run(db, targets::settle(&cancel(&[Scheduled, Queued, Parked]))),
        1
    );
    assert_eq!(state(db, "tgt_2"), "cancelled");
}

/// The reconciler's two kinds of expired claim, parked targets resumed, and the recheck.
pub fn reconcile_resume_recheck(db: &Sqlite) {
    arranged(
        db,
        &[
            ("tgt_a", Queued, 0),
            ("tgt_b", Queued, 0),
            ("tgt_c", Queued, 0),
            ("tgt_p", Parked, 2),
            ("tgt_u", Unconfirmed, 0),
        ],
    );
    for (id, lease) in [("tgt_a", "lse_a"), ("tgt_b", "lse_b"), ("tgt_c", "lse_c")] {
        assert_eq!(run(db, targets::claim(id, lease, at(1), T0)), 1);
    }
    // a: never sent. b: sent, progress attached (may have reached the platform). c: sent, a
    // step the platform can answer for.
    run(db, targets::mark_sent("tgt_b", "lse_b", T0));
    run(db, targets::mark_sent("tgt_c", "lse_c", T0));
    run(
        db,
        targets::save_progress("tgt_c", "lse_c", r#"{"step":"upload","session":"s"}"#, T0),
    );
    assert!(
        ids(db, targets::requeue_never_sent(at(0))).is_empty(),
        "leases hold"
    );
    assert!(rows(db, targets::expired_after_sending(at(0), 10)).is_empty());
    let expired = rows(db, targets::expired_after_sending(at(1), 10));
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].text("id").unwrap(), "tgt_b");
    assert_eq!(expired[0].text("lease_id").unwrap(), "lse_b");
    assert_eq!(
        ids(db, targets::requeue_never_sent(at(1))),
        ["tgt_a", "tgt_c"]
    );
    assert_eq!(
        state(db, "tgt_b"),
        "publishing",
        "left for the unconfirmed settle"
    );

    // Parked targets of the grant's live connections go back to the queue, once.
    let parked = rows(db, targets::parked_of_grant(&GR_A));
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].int("publish_at").unwrap(), at(2).as_millis());
    assert_eq!(
        ids(db, targets::resume_parked("tgt_p", &GR_A, at(3))),
        ["tgt_p"]
    );
    assert!(ids(db, targets::resume_parked("tgt_p", &GR_A, at(3))).is_empty());
    assert!(rows(db, targets::parked_of_grant(&GR_A)).is_empty());

    // The recheck: unconfirmed targets whose look is due.
    db.exec(&format!(
        "UPDATE post_targets SET recheck_at = {} WHERE id = 'tgt_u'",
        at(4).as_millis()
    ));
    assert!(ids(db, targets::due_for_recheck(at(3), 10)).is_empty());
    assert_eq!(ids(db, targets::due_for_recheck(at(4), 10)), ["tgt_u"]);
    assert_eq!(run(db, targets::set_recheck("tgt_u", Some(at(6)))), 1);
    assert!(ids(db, targets::due_for_recheck(at(5), 10)).is_empty());
    assert_eq!(run(db, targets::set_recheck("tgt_u", None)), 1);
    assert!(
        ids(db, targets::due_for_recheck(at(99), 10)).is_empty(),
        "left to a person"
    );
    assert_eq!(
        run(db, targets::set_recheck("tgt_a", Some(at(6)))),
        0,
        "only unconfirmed"
    );
}

/// A day's quota: spent within a limit, or not at all.
pub fn quotas(db: &Sqlite) {
    let used = |db: &Sqlite| {
        rows(db, operations::quota_used("youtube", "2026-12-06"))
            .first()
            .map(|r| r.int("units").unwrap())
    };
    assert_eq!(used(db), None);
    assert_eq!(
        run(
            db,
            operations::spend_quota("youtube", "2026-12-06", 1_600, Some(2_000))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            operations::spend_quota("youtube", "2026-12-06", 1_600, Some(2_000))
        ),
        0
    );
    assert_eq!(used(db), Some(1_600), "over the limit: nothing spent");
    assert_eq!(
        run(
            db,
            operations::spend_quota("youtube", "2026-12-06", 50, None)
        ),
        1
    );
    assert_eq!(
        run(
            db,
            operations::spend_quota("youtube", "2026-12-07", 1, None)
        ),
        1
    );
    assert_eq!(used(db), Some(1_650));
}
