//! Native tests of `store::posts`: a post and its targets stored in one batch (idempotent by
//! key), read and listed for the tenant only, moved back to the queue from the states the API
//! may move, and the pre-flight that replaced the posts API's write to `grants`.

use super::connections::{self, NewConnection};
use super::grant_writes;
use super::grants::current;
use super::grants_tests::{at, connect, run, seeded, GR_A, T0, TEN_G};
use super::posts::{self, NewPost, NewTarget};
use super::sqlite::{block_on, Sqlite};
use super::targets;
use super::{tenants, Db, Row, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_health::GrantState;
use crate::core::publish::posts::TargetState::{self, *};
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn texts(rows: &[Row], column: &str) -> Vec<String> {
    rows.iter().map(|r| r.text(column).unwrap()).collect()
}

fn post<'a>(id: &'a str, key: &'a str) -> NewPost<'a> {
    NewPost {
        id,
        tenant_id: &TEN_G,
        end_user_ref: "alice",
        text: "hello",
        publish_at: at(30),
        idempotency_key: key,
        request_digest: "digest",
        media: None,
        now: T0,
    }
}

fn target<'a>(id: &'a str, post_id: &'a str, state: TargetState, hour: i64) -> NewTarget<'a> {
    NewTarget {
        id,
        post_id,
        tenant_id: &TEN_G,
        connection_id: "conn_a",
        grant_id: &GR_A,
        provider: "x",
        content_hash: "h",
        state,
        not_before: at(hour),
        check_by: at(hour - 24).max(T0),
        now: T0,
    }
}

fn arranged(db: &Sqlite) {
    seeded(db, "gr_a");
    connect(db, "conn_a", "u1");
}

/// Create, replay, show and list; the slots of identical sends.
pub fn create_and_read(db: &Sqlite) {
    arranged(db);
    let stored = block_on(db.batch(vec![
        posts::insert(&post("post_1", "key-1")),
        posts::insert_target(&target("tgt_1", "post_1", Scheduled, 30)),
    ]))
    .unwrap();
    assert_eq!(stored.iter().map(|o| o.changes).collect::<Vec<_>>(), [1, 1]);
    // The same key again: the post is not stored, and neither are its targets.
    let again = block_on(db.batch(vec![
        posts::insert(&post("post_2", "key-1")),
        posts::insert_target(&target("tgt_2", "post_2", Queued, 0)),
    ]))
    .unwrap();
    assert_eq!(again.iter().map(|o| o.changes).collect::<Vec<_>>(), [0, 0]);
    let keyed = rows(db, posts::by_key(&TEN_G, "key-1")).remove(0);
    assert_eq!(keyed.text("id").unwrap(), "post_1");
    assert_eq!(keyed.text("request_digest").unwrap(), "digest");
    assert!(rows(db, posts::by_key(&"ten_other".into(), "key-1")).is_empty());

    let found = rows(db, posts::find("post_1", &TEN_G)).remove(0);
    assert_eq!(found.text("text").unwrap(), "hello");
    assert_eq!(found.int("publish_at").unwrap(), at(30).as_millis());
    assert!(
        rows(db, posts::find("post_1", &"ten_other".into())).is_empty(),
        "another tenant's"
    );
    let t = rows(db, posts::targets("post_1")).remove(0);
    assert_eq!(t.text("state").unwrap(), "scheduled");
    assert_eq!(t.int("attempts").unwrap(), 0);
    assert_eq!(t.opt_int("last_status").unwrap(), None);
    assert_eq!(
        db.value("SELECT enqueued_at IS NULL FROM post_targets WHERE id = 'tgt_1'"),
        1,
        "a scheduled target is not sent to the queue yet"
    );

    // A second post, queued now: listed newest first, filtered by end user and target state.
    block_on(db.batch(vec![
        posts::insert(&NewPost {
            now: at(1),
            ..post("post_3", "key-3")
        }),
        posts::insert_target(&NewTarget {
            now: at(1),
            ..target("tgt_3", "post_3", Queued, 1)
        }),
    ]))
    .unwrap();
    assert_eq!(
        db.value("SELECT enqueued_at FROM post_targets WHERE id = 'tgt_3'"),
        at(1).as_millis()
    );
    // A page's targets in one read, by post; none of another tenant's, none of another post.
    let of = |tenant: &str, ids: &[&str]| {
        let found = rows(db, posts::targets_of_posts(&tenant.into(), ids));
        (texts(&found, "post_id"), texts(&found, "id"))
    };
    assert_eq!(
        of("ten_g", &["post_3", "post_1", "post_9"]),
        (
            vec!["post_1".into(), "post_3".into()],
            vec!["tgt_1".into(), "tgt_3".into()]
        )
    );
    assert_eq!(of("ten_g", &["post_3"]).1, ["tgt_3"]);
    assert_eq!(
        of("ten_other", &["post_3", "post_1"]).1,
        Vec::<String>::new()
    );
    assert_eq!(of("ten_g", &[]).1, Vec::<String>::new());
    let plan = db.plan(&posts::targets_of_posts(&TEN_G, &["post_1"]));
    assert!(
        plan.iter()
            .any(|s| s.contains("USING INDEX post_targets_by_post (post_id=?)")),
        "a page's targets are found by post, not among the tenant's: {plan:?}"
    );
    let list = |user, state| texts(&rows(db, posts::list(&TEN_G, user, state, None, 10)), "id");
    assert_eq!(list(None, None), ["post_3", "post_1"]);
    assert_eq!(list(None, Some(Queued)), ["post_3"]);
    assert_eq!(list(Some("bob"), None), Vec::<String>::new());
    assert_eq!(list(Some("alice"), None), ["post_3", "post_1"]);
    let first = rows(db, posts::list(&TEN_G, None, None, None, 1));
    assert_eq!(texts(&first, "id"), ["post_3"]);
    // The next page starts after the last row's position, in the same order.
    let last = (
        first[0].int("created_at").unwrap(),
        first[0].text("id").unwrap(),
    );
    for user in [None, Some("alice")] {
        assert_eq!(
            texts(
                &rows(
                    db,
                    posts::list(&TEN_G, user, None, Some((last.0, &last.1)), 10)
                ),
                "id"
            ),
            ["post_1"]
        );
    }

    // Where identical sends already sit (cancelled and failed ones do not count).
    let busy = |db: &Sqlite| {
        rows(db, posts::busy_slots(&TEN_G, "x", "h", at(0), at(40)))
            .iter()
            .map(|r| r.int("not_before").unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(busy(db).len(), 2);
    db.arrange(
        "UPDATE post_targets SET state = ?1 WHERE id = 'tgt_1'",
        &[Cancelled.as_str()],
    );
    assert_eq!(busy(db), [at(1).as_millis()]);

    // The connection a post may go to: live, the tenant's.
    let conn = rows(db, posts::target_connection("conn_a", &TEN_G)).remove(0);
    assert_eq!(conn.text("grant_id").unwrap(), "gr_a");
    assert_eq!(conn.text("provider").unwrap(), "x");
    assert!(rows(db, posts::target_connection("conn_a", &"ten_other".into())).is_empty());
    run(db, connections::disconnect("conn_a", &GR_A, 1, at(2)));
    assert!(rows(db, posts::target_connection("conn_a", &TEN_G)).is_empty());
}

/// Retry moves failed and parked targets only, once; an unconfirmed one is sent again alone.
pub fn retry(db: &Sqlite) {
    arranged(db);
    let mut batch = vec![posts::insert(&post("post_1", "k"))];
    for (id, conn) in [
        ("tgt_f", "conn_f"),
        ("tgt_p", "conn_p"),
        ("tgt_q", "conn_q"),
        ("tgt_u", "conn_u"),
    ] {
        run(
            db,
            connections::upsert(&NewConnection {
                id: conn,
                grant_id: &GR_A,
                tenant_id: &TEN_G,
                end_user_ref: "alice",
                kind: "page",
                external_id: conn,
                display_name: None,
                username: None,
                grant_version: 1,
                now: T0,
            }),
        );
        batch.push(posts::insert_target(&NewTarget {
            connection_id: conn,
            ..target(id, "post_1", Queued, 0)
        }));
    }
    block_on(db.batch(batch)).unwrap();
    for (id, state, attempts) in [
        ("tgt_f", Failed, 3),
        ("tgt_p", Parked, 1),
        ("tgt_u", Unconfirmed, 0),
    ] {
        db.arrange(
            "UPDATE post_targets SET state = ?1, attempts = ?2, progress = '{}' WHERE id = ?3",
            &[state.as_str(), &attempts.to_string(), id],
        );
    }
    db.exec("UPDATE post_targets SET recheck_at = 5 WHERE id = 'tgt_u'");
    let moved = |s: Statement| {
        let mut ids = texts(&rows(db, s), "id");
        ids.sort();
        ids
    };
    assert_eq!(moved(posts::retry("post_1", at(2))), ["tgt_f", "tgt_p"]);
    assert!(
        moved(posts::retry("post_1", at(2))).is_empty(),
        "a second retry moves nothing"
    );
    let column =
        |id: &str, c: &str| db.value(&format!("SELECT {c} FROM post_targets WHERE id = '{id}'"));
    assert_eq!(column("tgt_f", "attempts"), 0);
    assert_eq!(
        column("tgt_f", "progress"),
        Value::Null,
        "a failed send starts over"
    );
    assert_eq!(
        column("tgt_p", "progress"),
        "{}",
        "a parked one keeps its progress"
    );
    assert_eq!(column("tgt_p", "not_before"), at(2).as_millis());
    assert_eq!(
        moved(posts::retry_unconfirmed("tgt_q", at(2))),
        Vec::<String>::new()
    );
    assert_eq!(moved(posts::retry_unconfirmed("tgt_u", at(2))), ["tgt_u"]);
    assert_eq!(column("tgt_u", "recheck_at"), Value::Null);
    assert_eq!(column("tgt_u", "state"), "queued");
}

/// The pre-flight: the grant's object brings the check forward (never back, never for a dead
/// grant) and clears the marks that satisfies; the dispatch finds the marks left behind.
pub fn preflight(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).ok();
    arranged(db);
    let next_check = |db: &Sqlite| block_on(current(db, &GR_A)).unwrap().unwrap().next_check_at;
    assert_eq!(next_check(db), Some(at(24)));
    block_on(db.batch(vec![
        posts::insert(&post("post_1", "k")),
        posts::insert_target(&target("tgt_1", "post_1", Scheduled, 30)),
        posts::insert_target(&NewTarget {
            connection_id: "conn_a",
            ..target("tgt_2", "post_1", Scheduled, 40)
        }),
    ]))
    .unwrap_err(); // one target per (post, connection): the whole batch rolls back
    assert!(
        rows(db, posts::find("post_1", &TEN_G)).is_empty(),
        "nothing of it stays"
    );
    block_on(db.batch(vec![
        posts::insert(&post("post_1", "k")),
        posts::insert_target(&target("tgt_1", "post_1", Scheduled, 30)),
        posts::insert(&post("post_2", "k2")),
        posts::insert_target(&target("tgt_2", "post_2", Scheduled, 100)),
    ]))
    .unwrap();
    let left = |db: &Sqlite, before: Timestamp| {
        rows(db, targets::preflights_left(before, 10))
            .iter()
            .map(|r| (r.text("grant_id").unwrap(), r.int("check_by").unwrap()))
            .collect::<Vec<_>>()
    };
    assert!(
        left(db, at(-1)).is_empty(),
        "too fresh: the post's own call has its turn"
    );
    assert_eq!(left(db, T0), [("gr_a".to_owned(), at(6).as_millis())]);
    // The object's batch: the check comes forward to 6 h, and the marks it satisfies go.
    assert_eq!(run(db, grant_writes::check_by(&GR_A, at(6))), 1);
    assert_eq!(run(db, targets::preflight_done(&GR_A, at(6))), 2);
    assert_eq!(next_check(db), Some(at(6)));
    assert!(left(db, T0).is_empty());
    assert_eq!(run(db, grant_writes::check_by(&GR_A, at(20))), 1);
    assert_eq!(next_check(db), Some(at(6)), "never moved back");
    // A mark a check does not satisfy stays.
    db.exec(&format!(
        "UPDATE post_targets SET preflight_due = {} WHERE id = 'tgt_2'",
        at(3).as_millis()
    ));
    assert_eq!(run(db, targets::preflight_done(&GR_A, at(6))), 0);
    assert_eq!(left(db, T0), [("gr_a".to_owned(), at(3).as_millis())]);
    db.arrange(
        "UPDATE grants SET state = ?1 WHERE id = 'gr_a'",
        &[GrantState::DEAD],
    );
    assert_eq!(
        run(db, grant_writes::check_by(&GR_A, at(1))),
        0,
        "a dead grant is not checked"
    );
}
