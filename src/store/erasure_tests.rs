//! Native tests of `store::erasure`: the steps cover every table holding a tenant's data, in
//! the order the foreign keys need, each scoped as it says; and a scenario runs every
//! statement, erasing one end user of two and then the tenant.

use super::connections::{self, NewConnection};
use super::erasure::{self, Step, SESSION_TABLES, STEPS};
use super::events::{self};
use super::grant_writes;
use super::grants_tests::{at, expiring, run, seeded, T0, TEN_G};
use super::posts::{self, NewPost, NewTarget};
use super::sessions::{self, NewConnect, NewPage};
use super::sqlite::{block_on, Sqlite};
use super::{operations, tenants, Db, Row};
use crate::core::common::ids::GrantId;
use crate::core::publish::posts::TargetState;
use crate::core::tenancy::erasure::{Scope, KEPT};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every table of the migrated schema, with its columns and the tables it references (read
/// from SQLite itself, so a rebuilt or renamed table is seen as it ends up).
fn schema() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let db = Sqlite::migrated();
    let list = |sql: &str| -> BTreeSet<String> {
        match db.value(sql) {
            Value::String(names) => names.split(' ').map(str::to_owned).collect(),
            _ => BTreeSet::new(),
        }
    };
    list(
        "SELECT group_concat(name, ' ') FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
    )
    .into_iter()
    .map(|table| {
        let columns = list(&format!(
            "SELECT group_concat(name, ' ') FROM pragma_table_info('{table}')"
        ));
        let parents = list(&format!(
            "SELECT group_concat(\"table\", ' ') FROM pragma_foreign_key_list('{table}')"
        ));
        (table, (columns, parents))
    })
    .collect()
}

const OWNED_BY: &[&str] = &[
    "tenant_id",
    "end_user_ref",
    "grant_id",
    "connection_id",
    "post_id",
    "event_id",
    "connect_session_id",
];

#[test]
fn every_table_holding_a_tenants_data_is_erased_or_kept_on_purpose() {
    let schema = schema();
    assert!(schema.len() > 20, "the migrations were read: {schema:?}");
    for (table, (columns, _)) in &schema {
        let owned = table == "tenants" || OWNED_BY.iter().any(|c| columns.contains(*c));
        let erased = STEPS.iter().any(|s| s.table == table);
        assert!(
            erased || KEPT.contains(&table.as_str()) || !owned,
            "{table} holds a tenant's data but no erasure step deletes it"
        );
        assert!(!(erased && KEPT.contains(&table.as_str())), "{table}");
    }
    for step in STEPS {
        assert!(
            schema.contains_key(step.table),
            "{} is no table",
            step.table
        );
    }
}

#[test]
fn every_table_is_emptied_before_the_tables_it_references() {
    let schema = schema();
    let position = |t: &str| STEPS.iter().position(|s| s.table == t);
    for (table, (_, parents)) in &schema {
        let Some(child) = position(table) else {
            continue;
        };
        for parent in parents {
            let parent_at = position(parent)
                .unwrap_or_else(|| panic!("{table} references {parent}, never erased"));
            assert!(child < parent_at, "{table} must be erased before {parent}");
        }
    }
}

#[test]
fn an_end_users_erasure_touches_only_that_end_users_rows() {
    for step in STEPS {
        if let Some(sql) = &step.end_user {
            assert!(
                sql.text.contains("?1") && sql.text.contains("?2"),
                "{}",
                sql.name
            );
        }
        assert!(!step.tenant.text.contains("?2"), "{}", step.tenant.name);
        assert!(step.tenant.text.contains("?1") && step.tenant.text.contains("LIMIT ?3"));
    }
    let tenant_level: Vec<&str> = STEPS
        .iter()
        .filter(|s| s.end_user.is_none())
        .map(|s| s.table)
        .collect();
    assert_eq!(
        tenant_level,
        [
            "api_keys",
            "tenant_return_urls",
            "tenant_clients",
            "webhook_endpoints",
            "tenants"
        ]
    );
    let through_object: Vec<&str> = STEPS
        .iter()
        .filter(|s| s.through_grant_object)
        .map(|s| s.table)
        .collect();
    assert_eq!(
        through_object,
        ["grants"],
        "only the grant's object deletes a grant"
    );
}

/// An end user's rows in the tables that grow (posts, post targets, token reads, events,
/// webhook deliveries) are found through their own index or their connections, grants and
/// events: no end user's erasure or export step reads such a table by tenant (`+tenant_id`,
/// see `store::erasure`).
#[test]
fn an_end_users_rows_are_found_through_their_connections_not_among_the_tenants() {
    let db = Sqlite::migrated();
    let by_tenant = [
        "posts_by_tenant (tenant_id=?",
        "post_targets_same_content (tenant_id=?)",
        "token_reads_by_tenant (tenant_id=?)",
        "events_by_tenant (tenant_id=?)",
        "webhook_deliveries_by_tenant (tenant_id=?)",
    ];
    let end_user: Vec<super::Statement> = STEPS
        .iter()
        .filter_map(|s| s.end_user.as_ref())
        .map(|sql| sql.bind(vec!["ten_g".into(), "alice".into(), 100.into()]))
        .chain(erasure::EXPORT.iter().map(|(_, sql)| {
            sql.bind(vec![
                "ten_g".into(),
                "alice".into(),
                100.into(),
                0.into(),
                "".into(),
            ])
        }))
        .collect();
    assert_eq!(end_user.len(), STEPS.len() - 5 + erasure::EXPORT.len());
    for statement in &end_user {
        let plan = db.plan(statement);
        let read_by_tenant: Vec<&String> = plan
            .iter()
            .filter(|step| by_tenant.iter().any(|index| step.contains(index)))
            .collect();
        assert!(
            read_by_tenant.is_empty(),
            "{} reads by tenant: {plan:?}",
            statement.sql.name
        );
    }
}

/// The export's posts are the end user's own and the others' posts with a target on one of
/// their connections, each once, in order.
#[test]
fn the_export_lists_an_end_users_posts_and_those_sent_through_their_connections() {
    let db = Sqlite::migrated();
    block_on(tenants::create(&db, "ten_g", "G", T0)).unwrap();
    db.exec(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('whe_1', 'ten_g', 'https://h.example/', '*', 's', 'k', 0);
         INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes, created_at) \
           VALUES ('key_1', 'ten_g', 'p', 'h', 'connections:read', 0);",
    );
    arrange_end_user(&db, "alice", 1);
    arrange_end_user(&db, "bob", 2);
    arrange_end_user(&db, "carol", 3);
    // Bob's post also goes out on Alice's account.
    run(
        &db,
        posts::insert_target(&NewTarget {
            id: "tgt_bob_alice",
            post_id: "post_bob",
            tenant_id: &TEN_G,
            connection_id: "conn_alice",
            grant_id: &"gr_alice".into(),
            provider: "x",
            content_hash: "h",
            state: TargetState::Scheduled,
            not_before: at(50),
            check_by: at(26),
            now: at(2),
        }),
    );
    let posts_of = |who: &str| {
        let posts = erasure::EXPORT
            .iter()
            .position(|(name, _)| *name == "posts")
            .unwrap();
        texts(&rows(
            &db,
            erasure::export_page(posts, &TEN_G, who, None, 10),
        ))
    };
    assert_eq!(posts_of("alice"), ["post_alice", "post_bob"]);
    assert_eq!(posts_of("bob"), ["post_bob"]);
    assert_eq!(posts_of("carol"), ["post_carol"]);
}

fn texts(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r.text("id").unwrap()).collect()
}

fn rows(db: &Sqlite, statement: super::Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn count(db: &Sqlite, sql: &str) -> i64 {
    match db.value(sql) {
        Value::Number(n) => n.as_i64().unwrap(),
        other => panic!("{sql}: {other}"),
    }
}

/// An end user of tenant `ten_g` with one grant (`gr_{who}`), one connection, a session of
/// each kind, a post with its target, an event with its delivery, a token read, a spent
/// nonce and a sweep lease.
fn arrange_end_user(db: &Sqlite, who: &str, hour: i64) {
    let grant: GrantId = format!("gr_{who}").into();
    let conn = format!("conn_{who}");
    seeded(db, &grant);
    db.exec(&format!("UPDATE grants SET end_user_ref = '{who}', provider_account_id = 'acct_{who}' WHERE id = '{grant}'"));
    run(
        db,
        connections::upsert(&NewConnection {
            id: &conn,
            grant_id: &grant,
            tenant_id: &TEN_G,
            end_user_ref: who,
            kind: "profile",
            external_id: who,
            display_name: None,
            username: None,
            grant_version: 1,
            now: T0,
        }),
    );
    let cs = format!("cs_{who}");
    run(
        db,
        sessions::create_connect(&NewConnect {
            id: &cs,
            token_hash: &cs,
            tenant_id: &TEN_G,
            provider: "x",
            end_user_ref: who,
            return_url: "",
            now: T0,
            expires_at: at(1),
        }),
    );
    run(
        db,
        sessions::create_oauth(&sessions::NewOauth {
            state_hash: &format!("st_{who}"),
            connect_session_id: &cs,
            binding_hash: "b",
            verifier_ciphertext: "v",
            key_id: "k",
            redirect_uri: "r",
            now: T0,
            expires_at: at(1),
            context_ciphertext: Some("c"),
        }),
    );
    run(
        db,
        sessions::open_page(&NewPage {
            id: &format!("ps_{who}"),
            link_nonce: &format!("ln_{who}"),
            secret_hash: &format!("sh_{who}"),
            tenant_id: &TEN_G,
            end_user_ref: who,
            csrf: "c",
            now: T0,
            expires_at: at(1),
        }),
    );
    let post = format!("post_{who}");
    block_on(db.batch(vec![
        posts::insert(&NewPost {
            id: &post,
            tenant_id: &TEN_G,
            end_user_ref: who,
            text: "hi",
            publish_at: at(hour),
            idempotency_key: &post,
            request_digest: "d",
            media: None,
            now: at(hour),
        }),
        posts::insert_target(&NewTarget {
            id: &format!("tgt_{who}"),
            post_id: &post,
            tenant_id: &TEN_G,
            connection_id: &conn,
            grant_id: &grant,
            provider: "x",
            content_hash: "h",
            state: TargetState::Scheduled,
            not_before: at(hour + 48),
            check_by: at(hour + 24),
            now: at(hour),
        }),
    ]))
    .unwrap();
    let (t, guard) = expiring(db, &grant);
    run(db, events::record_transition(&guard, &t, None, at(hour)));
    run(
        db,
        events::enqueue_deliveries(&grant, &t.dedupe_key, at(hour)),
    );
    run(
        db,
        super::operations::record_token_read(&super::operations::TokenRead {
            tenant_id: &TEN_G,
            api_key_id: "key_1",
            connection_id: &conn,
            grant_id: Some(&grant),
            outcome: "served",
            at: at(hour),
        }),
    );
    run(
        db,
        connections::spend_nonce(&format!("n_{who}"), &grant, 1, at(hour)),
    );
    db.exec(&format!(
        "INSERT INTO sweep_leases (grant_id, until, next_check_at) VALUES ('{grant}', 1, 1)"
    ));
}

/// Runs every step of the scope in order, `limit` rows at a time; a grant's row is deleted by
/// its object's statement. The rows deleted per table.
fn erase(db: &Sqlite, scope: Scope, end_user: &str, limit: i64) -> BTreeMap<&'static str, usize> {
    let mut erased = BTreeMap::new();
    for step in STEPS {
        if step.statement(scope, &TEN_G, end_user, limit).is_none() {
            continue;
        }
        loop {
            let statement = step.statement(scope, &TEN_G, end_user, limit).unwrap();
            let n = if step.through_grant_object {
                let ids: Vec<String> = rows(db, statement)
                    .iter()
                    .map(|r| r.text("id").unwrap())
                    .collect();
                ids.iter()
                    .map(|id| run(db, grant_writes::erase(&id.into())))
                    .sum()
            } else {
                run(db, statement)
            };
            *erased.entry(step.table).or_default() += n;
            if (n as i64) < limit {
                break;
            }
        }
    }
    erased
}

/// The export lists one end user's data; erasing that end user leaves the other's; deleting
/// the tenant stops its work and then erases everything of it, the tenant last.
pub fn end_user_then_tenant(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    db.exec(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, event_types, secret_ciphertext, \
           key_id, created_at) VALUES ('whe_1', 'ten_g', 'https://h.example/', '*', 's', 'k', 0);
         INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes, created_at) \
           VALUES ('key_1', 'ten_g', 'p', 'h', 'connections:read', 0);
         INSERT INTO tenant_return_urls (tenant_id, url, created_at) VALUES ('ten_g', 'https://a.example/', 0);
         INSERT INTO tenant_clients (tenant_id, provider, client_id, secret_ciphertext, key_id, \
           created_at, updated_at) VALUES ('ten_g', 'x', 'c', 's', 'k', 0, 0);",
    );

    arrange_end_user(db, "alice", 1);
    arrange_end_user(db, "bob", 2);

    // The export: alice's rows only.
    let lists = block_on(db.batch(erasure::export(&TEN_G, "alice", 100))).unwrap();
    let sizes: Vec<(&str, usize)> = erasure::EXPORT
        .iter()
        .map(|(n, _)| *n)
        .zip(lists.iter().map(|o| o.rows.len()))
        .collect();
    assert_eq!(
        sizes,
        [
            ("grants", 1),
            ("connections", 1),
            ("posts", 1),
            ("post_targets", 1),
            ("events", 1),
            ("webhook_deliveries", 1),
            ("token_reads", 1),
            ("page_sessions", 1)
        ]
    );
    assert_eq!(lists[0].rows[0].text("id").unwrap(), "gr_alice");
    assert!(
        lists[0].rows[0].0.get("token_ciphertext").is_none(),
        "no secret is exported"
    );
    let limited = block_on(db.batch(erasure::export(&TEN_G, "alice", 0))).unwrap();
    assert!(limited.iter().all(|o| o.rows.is_empty()));
    // The export pages: each list's next page starts after its last row's position.
    for (list, (name, _)) in erasure::EXPORT.iter().enumerate() {
        let first = rows(db, erasure::export_page(list, &TEN_G, "alice", None, 1));
        assert_eq!(first.len(), 1, "{name}");
        let key = first[0].int("page_key").unwrap();
        let id = first[0].text("page_id").unwrap();
        assert!(
            rows(
                db,
                erasure::export_page(list, &TEN_G, "alice", Some((key, &id)), 1)
            )
            .is_empty(),
            "{name}: one row, one page"
        );
        assert_eq!(
            rows(
                db,
                erasure::export_page(list, &TEN_G, "alice", Some((key - 1, &id)), 1)
            )
            .len(),
            1,
            "{name}: an earlier position reads it again"
        );
    }

    // Alice's sessions first (nothing can start a new grant), then her connections, listed
    // for disconnecting; then her rows.
    let sessions_only: Vec<&Step> = STEPS
        .iter()
        .filter(|s| SESSION_TABLES.contains(&s.table))
        .collect();
    for step in &sessions_only {
        run(
            db,
            step.statement(Scope::EndUser, &TEN_G, "alice", 100)
                .unwrap(),
        );
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM connect_sessions"),
        1,
        "bob's stays"
    );
    let live = rows(db, erasure::live_connections(&TEN_G, Some("alice"), 10));
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].text("grant_id").unwrap(), "gr_alice");
    run(
        db,
        connections::disconnect("conn_alice", &"gr_alice".into(), 1, at(3)),
    );
    assert!(rows(db, erasure::live_connections(&TEN_G, Some("alice"), 10)).is_empty());
    // Her grants' objects are told to flush or drop their buffered reads: every connection of
    // hers is listed, the disconnected one too.
    let all = rows(db, erasure::end_user_connections(&TEN_G, "alice", None, 10));
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].text("id").unwrap(), "conn_alice");
    assert_eq!(all[0].text("grant_id").unwrap(), "gr_alice");
    assert!(rows(db, erasure::end_user_connections(&TEN_G, "alice", None, 0)).is_empty());
    assert!(
        rows(
            db,
            erasure::end_user_connections(&TEN_G, "alice", Some(("gr_alice", "conn_alice")), 10)
        )
        .is_empty(),
        "the next page starts after the last row"
    );
    assert_eq!(
        rows(
            db,
            erasure::end_user_connections(&TEN_G, "alice", Some(("gr_alic", "conn_z")), 10)
        )
        .len(),
        1,
        "pages go by grant first"
    );
    let erased = erase(db, Scope::EndUser, "alice", 1);
    // A read an object flushes later does not bring her rows back; bob's is written.
    let flushed = |connection_id: &str, grant_id: &str| {
        block_on(
            db.batch(vec![operations::flush_token_read(&operations::TokenRead {
                tenant_id: &TEN_G,
                api_key_id: "key_1",
                connection_id,
                grant_id: Some(grant_id),
                outcome: "served",
                at: at(4),
            })]),
        )
        .unwrap()[0]
            .changes
    };
    assert_eq!(
        flushed("conn_alice", "gr_alice"),
        0,
        "alice's connection is erased"
    );
    assert_eq!(flushed("conn_bob", "gr_bob"), 1, "bob's connection stays");
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM token_reads WHERE connection_id = 'conn_bob'"
        ),
        2
    );
    for table in [
        "grants",
        "connections",
        "events",
        "webhook_deliveries",
        "token_reads",
        "post_targets",
        "posts",
        "reconnect_nonces",
        "sweep_leases",
    ] {
        assert_eq!(erased.get(table), Some(&1), "{table}: {erased:?}");
    }
    for (table, column) in [
        ("grants", "id"),
        ("connections", "id"),
        ("posts", "id"),
        ("post_targets", "id"),
        ("page_sessions", "id"),
    ] {
        let left: Vec<String> =
            match db.value(&format!("SELECT group_concat({column}) FROM {table}")) {
                Value::String(s) => s.split(',').map(str::to_owned).collect(),
                other => panic!("{table}: {other}"),
            };
        assert!(
            left.iter().all(|id| id.ends_with("bob")),
            "{table}: {left:?}"
        );
        assert_eq!(left.len(), 1, "{table}: bob's stays");
    }
    assert_eq!(count(db, "SELECT COUNT(*) FROM events"), 1);
    assert_eq!(count(db, "SELECT COUNT(*) FROM webhook_deliveries"), 1);

    // The tenant: deleted now (its webhooks and posts stop), erased by the dispatch.
    assert_eq!(
        rows(db, erasure::tenant_deleted_at(&TEN_G))[0]
            .opt_int("deleted_at")
            .unwrap(),
        None
    );
    assert!(rows(db, erasure::tenant_deleted_at(&"ten_none".into())).is_empty());
    assert!(rows(db, erasure::deleted_tenants(10)).is_empty());
    let marked = block_on(db.batch(erasure::mark_tenant_deleted(&TEN_G, at(5)))).unwrap();
    assert_eq!(
        marked.iter().map(|o| o.changes).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    assert_eq!(
        flushed("conn_bob", "gr_bob"),
        0,
        "nothing is flushed into a deleted tenant"
    );
    let again = block_on(db.batch(erasure::mark_tenant_deleted(&TEN_G, at(6)))).unwrap();
    assert_eq!(
        again.iter().map(|o| o.changes).collect::<Vec<_>>(),
        [0, 0, 0],
        "once"
    );
    assert_eq!(
        db.value("SELECT state || ' ' || reason FROM post_targets"),
        "cancelled tenant_deleted"
    );
    assert_eq!(
        rows(db, erasure::deleted_tenants(10))[0]
            .text("id")
            .unwrap(),
        "ten_g"
    );
    let live = rows(db, erasure::live_connections(&TEN_G, None, 10));
    assert_eq!(live[0].text("id").unwrap(), "conn_bob");
    run(
        db,
        connections::disconnect("conn_bob", &"gr_bob".into(), 1, at(7)),
    );
    let erased = erase(db, Scope::Tenant, "", 2);
    assert_eq!(erased.get("tenants"), Some(&1));
    assert_eq!(erased.get("grants"), Some(&1));
    for step in STEPS {
        assert_eq!(
            count(db, &format!("SELECT COUNT(*) FROM {}", step.table)),
            0,
            "{}",
            step.table
        );
    }
    assert!(rows(db, erasure::deleted_tenants(10)).is_empty());
}
