//! Native tests of the reads the API, the connections page, the reconnect links and the
//! platforms' callbacks make: each answers for its tenant (and end user) only, live rows only
//! where it says so.

use super::connections::{self, NewConnection};
use super::events::{self};
use super::grants::{of_platform_user, same_account};
use super::grants_tests::{at, expiring, run, seeded, GR_A, T0, TEN_G};
use super::operations::{self, Deletion};
use super::posts::{self, NewPost, NewTarget};
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db, Row, Statement};
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::core::publish::posts::TargetState::{Failed, Published, Queued, Unconfirmed};

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn texts_of(rows: &[Row], column: &str) -> Vec<String> {
    rows.iter().map(|r| r.text(column).unwrap()).collect()
}

fn ids(db: &Sqlite, statement: Statement, column: &str) -> Vec<String> {
    rows(db, statement)
        .iter()
        .map(|r| r.text(column).unwrap())
        .collect()
}

fn connection<'a>(id: &'a str, user: &'a str, external_id: &'a str) -> NewConnection<'a> {
    NewConnection {
        id,
        grant_id: &GR_A,
        tenant_id: &TEN_G,
        end_user_ref: user,
        kind: "profile",
        external_id,
        display_name: Some("Alice"),
        username: Some("alice"),
        grant_version: 1,
        now: T0,
    }
}

/// The API's and the page's reads of connections, with their grant's standing.
pub fn connections_for_api_and_page(db: &Sqlite) {
    seeded(db, "gr_a");
    block_on(tenants::create(db, "ten_other", "O", T0)).unwrap();
    run(
        db,
        connections::upsert(&connection("conn_a", "alice", "u1")),
    );
    run(
        db,
        connections::upsert(&NewConnection {
            now: at(1),
            ..connection("conn_b", "bob", "u2")
        }),
    );
    assert_eq!(
        ids(db, connections::list_for_end_user(&TEN_G, "bob"), "id"),
        ["conn_b"]
    );
    assert!(rows(
        db,
        connections::list_for_end_user(&"ten_other".into(), "bob")
    )
    .is_empty());
    let found = rows(db, connections::find_for_tenant(&TEN_G, "conn_a")).remove(0);
    assert_eq!(found.text("provider").unwrap(), "x");
    assert_eq!(
        found.text("grant_state").unwrap(),
        GrantState::Alive.as_str()
    );
    assert_eq!(
        found.text("refresh_state").unwrap(),
        RefreshState::Ok.as_str()
    );
    assert_eq!(found.int("failure_streak").unwrap(), 0);
    assert_eq!(
        found.opt_int("access_expires_at").unwrap(),
        Some(at(2).as_millis())
    );
    assert!(rows(
        db,
        connections::find_for_tenant(&"ten_other".into(), "conn_a")
    )
    .is_empty());
    assert_eq!(
        ids(db, connections::live_grant("conn_a", &TEN_G), "grant_id"),
        ["gr_a"]
    );
    assert!(rows(db, connections::live_grant("conn_a", &"ten_other".into())).is_empty());
    let home = rows(db, connections::home("conn_b")).remove(0);
    assert_eq!(home.text("external_id").unwrap(), "u2");
    assert_eq!(
        rows(
            db,
            connections::owned_by_end_user("conn_a", &TEN_G, "alice")
        )
        .len(),
        1
    );
    assert!(rows(db, connections::owned_by_end_user("conn_a", &TEN_G, "bob")).is_empty());

    // Reconnect links: minted for a live connection whose grant holds tokens.
    let minted = rows(
        db,
        connections::reconnectable("conn_a", &TEN_G, Some("alice")),
    )
    .remove(0);
    assert_eq!(
        (
            minted.text("grant_id").unwrap(),
            minted.int("epoch").unwrap()
        ),
        ("gr_a".into(), 0)
    );
    assert!(rows(
        db,
        connections::reconnectable("conn_a", &TEN_G, Some("bob"))
    )
    .is_empty());
    assert_eq!(
        rows(db, connections::reconnectable("conn_a", &TEN_G, None)).len(),
        1
    );
    let standing = |db: &Sqlite| {
        rows(
            db,
            connections::reconnect_link_standing(&GR_A, &TEN_G, "n1", "conn_a"),
        )
        .remove(0)
    };
    let s = standing(db);
    assert_eq!(
        ["has_tokens", "live", "consumed"].map(|c| s.int(c).unwrap()),
        [1, 1, 0]
    );
    assert_eq!(s.text("provider").unwrap(), "x");
    run(db, connections::spend_nonce("n1", &GR_A, 1, at(1)));
    run(db, connections::disconnect("conn_a", &GR_A, 1, at(1)));
    let s = standing(db);
    assert_eq!(["live", "consumed"].map(|c| s.int(c).unwrap()), [0, 1]);
    assert!(rows(
        db,
        connections::reconnect_link_standing(&GR_A, &"ten_other".into(), "n1", "conn_a")
    )
    .is_empty());
    assert!(
        rows(db, connections::reconnectable("conn_a", &TEN_G, None)).is_empty(),
        "disconnected"
    );
    assert!(rows(db, connections::list_for_end_user(&TEN_G, "alice")).is_empty());
    assert!(rows(db, connections::live_grant("conn_a", &TEN_G)).is_empty());
    assert_eq!(
        rows(db, connections::home("conn_a")).len(),
        1,
        "its home stays known"
    );

    // A connection's events, in order, for its tenant only.
    let (t, guard) = expiring(db, &GR_A);
    run(db, events::record_transition(&guard, &t, None, at(2)));
    let listed = rows(db, events::of_connection("conn_b", &TEN_G, 0, 10));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].text("type").unwrap(), "connection.expiring");
    assert_eq!(listed[0].int("seq").unwrap(), 1);
    // A page starts after the position it is given, and holds at most its limit.
    db.exec(
        "INSERT INTO events (id, tenant_id, grant_id, connection_id, seq, type, colour, reason, \
           message, dedupe_key, occurred_at) SELECT 'evt_' || n, tenant_id, grant_id, \
           connection_id, n, type, colour, reason, message, dedupe_key || n, occurred_at + n \
           FROM events, \
           (SELECT 2 AS n UNION ALL SELECT 3 UNION ALL SELECT 4) WHERE connection_id = 'conn_b'",
    );
    let seqs = |after, limit| -> Vec<i64> {
        rows(db, events::of_connection("conn_b", &TEN_G, after, limit))
            .iter()
            .map(|r| r.int("seq").unwrap())
            .collect()
    };
    assert_eq!(seqs(0, 2), [1, 2]);
    assert_eq!(seqs(2, 2), [3, 4]);
    assert_eq!(seqs(4, 2), Vec::<i64>::new());
    assert!(rows(
        db,
        events::of_connection("conn_b", &"ten_other".into(), 0, 10)
    )
    .is_empty());
    assert!(
        rows(db, events::of_connection("conn_a", &TEN_G, 0, 10)).is_empty(),
        "disconnected: no event"
    );
}

/// Grants found by account: the one a new consent restores, and those a platform ends.
pub fn grants_by_account(db: &Sqlite) {
    seeded(db, "gr_a");
    seeded(db, "gr_b"); // the same account, client and end user, stored later
    db.exec("UPDATE grants SET created_at = created_at + 1 WHERE id = 'gr_b'");
    let same = |db: &Sqlite, user| {
        ids(
            db,
            same_account(&TEN_G, "x", "acct_1", "client", user),
            "id",
        )
    };
    assert_eq!(same(db, "alice"), ["gr_a"], "the oldest");
    assert!(same(db, "bob").is_empty());
    assert_eq!(
        ids(db, of_platform_user("x", "client", "acct_1"), "id"),
        ["gr_a", "gr_b"]
    );
    assert!(ids(db, of_platform_user("x", "other-client", "acct_1"), "id").is_empty());
    db.exec("UPDATE grants SET token_ciphertext = NULL, key_id = NULL WHERE id = 'gr_a'");
    assert_eq!(
        same(db, "alice"),
        ["gr_b"],
        "a grant without tokens restores nothing"
    );
    assert_eq!(
        ids(db, of_platform_user("x", "client", "acct_1"), "id"),
        ["gr_b"]
    );
}

/// The page's list of targets needing a person, and its ownership checks; deletion records.
pub fn page_posts_and_deletions(db: &Sqlite) {
    seeded(db, "gr_a");
    run(
        db,
        connections::upsert(&connection("conn_a", "alice", "u1")),
    );
    let mut batch = Vec::new();
    for (i, id) in ["tgt_f", "tgt_u", "tgt_p", "tgt_q"].into_iter().enumerate() {
        let post_id: &'static str = ["post_0", "post_1", "post_2", "post_3"][i];
        batch.push(posts::insert(&NewPost {
            id: post_id,
            tenant_id: &TEN_G,
            end_user_ref: "alice",
            text: "hi",
            publish_at: T0,
            idempotency_key: post_id,
            request_digest: "d",
            media: None,
            now: at(i as i64),
        }));
        batch.push(posts::insert_target(&NewTarget {
            id,
            post_id,
            tenant_id: &TEN_G,
            connection_id: "conn_a",
            grant_id: &GR_A,
            provider: "x",
            content_hash: "h",
            state: Queued,
            not_before: T0,
            check_by: T0,
            now: at(i as i64),
        }));
    }
    block_on(db.batch(batch)).unwrap();
    // Their states, arranged.
    for (id, state) in [
        ("tgt_f", Failed),
        ("tgt_u", Unconfirmed),
        ("tgt_p", Published),
    ] {
        db.arrange(
            "UPDATE post_targets SET state = ?1 WHERE id = ?2",
            &[state.as_str(), id],
        );
    }
    db.exec("UPDATE post_targets SET last_error = 'refused' WHERE id = 'tgt_f'");
    let attention = rows(db, posts::needing_attention(&TEN_G, "alice", None, 10));
    let listed: Vec<_> = attention.iter().map(|r| r.text("id").unwrap()).collect();
    assert_eq!(
        listed,
        ["tgt_u", "tgt_f"],
        "newest post first; published and queued are fine"
    );
    assert_eq!(
        attention[1].opt_text("last_error").unwrap().as_deref(),
        Some("refused")
    );
    assert_eq!(
        attention[0].opt_text("username").unwrap().as_deref(),
        Some("alice")
    );
    let first = rows(db, posts::needing_attention(&TEN_G, "alice", None, 1));
    assert_eq!(texts_of(&first, "id"), ["tgt_u"], "a page of one post");
    // The next page starts after that post, and holds the one post left.
    let after = (
        first[0].int("created_at").unwrap(),
        first[0].text("post_id").unwrap(),
    );
    assert_eq!(
        texts_of(
            &rows(
                db,
                posts::needing_attention(&TEN_G, "alice", Some((after.0, &after.1)), 1)
            ),
            "id"
        ),
        ["tgt_f"]
    );
    // A post with two targets needing a person comes whole, in one page.
    run(
        db,
        connections::upsert(&connection("conn_b", "alice", "u2")),
    );
    db.arrange(
        "UPDATE post_targets SET state = ?1, post_id = 'post_1', connection_id = 'conn_b' \
         WHERE id = 'tgt_q'",
        &[Failed.as_str()],
    );
    assert_eq!(
        texts_of(
            &rows(db, posts::needing_attention(&TEN_G, "alice", None, 1)),
            "id"
        ),
        ["tgt_q", "tgt_u"]
    );
    assert!(rows(db, posts::needing_attention(&TEN_G, "bob", None, 10)).is_empty());
    assert_eq!(
        rows(db, posts::owned_by_end_user("post_0", &TEN_G, "alice")).len(),
        1
    );
    assert!(rows(db, posts::owned_by_end_user("post_0", &TEN_G, "bob")).is_empty());
    assert_eq!(
        rows(
            db,
            posts::target_owned_by_end_user("tgt_f", "post_0", &TEN_G, "alice")
        )
        .len(),
        1
    );
    assert!(
        rows(
            db,
            posts::target_owned_by_end_user("tgt_f", "post_1", &TEN_G, "alice")
        )
        .is_empty(),
        "another post's"
    );

    let deletion = Deletion {
        code: "del_1",
        provider: "facebook",
        user_hash: "uh",
        grants: 2,
        connections: 3,
        status: "partial",
        requested_at: at(1),
        completed_at: None,
    };
    assert_eq!(run(db, operations::record_deletion(&deletion)), 1);
    assert!(
        block_on(db.run(operations::record_deletion(&deletion))).is_err(),
        "a code is unique"
    );
    let d = rows(db, operations::deletion("del_1", "facebook")).remove(0);
    assert_eq!(
        (d.text("status").unwrap(), d.int("connections").unwrap()),
        ("partial".into(), 3)
    );
    assert_eq!(d.int("requested_at").unwrap(), at(1).as_millis());
    assert!(
        rows(db, operations::deletion("del_1", "instagram")).is_empty(),
        "another platform's code"
    );
}
