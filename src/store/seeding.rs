//! Test builds only: many connections at once, written straight to D1, for the tests that page
//! through thousands of them (`POST /__test/tenants/{id}/seeded-connections`), and the query
//! plan D1 chooses for a statement with its values bound (`GET /__test/plans/connections`).
//!
//! Seeded grants hold no tokens and are never due (`next_check_at` is NULL): no object or
//! sweep ever reads them. They exist to be listed.

use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::core::oauth::managed_accounts::Access;
use crate::core::publish::posts::TargetState;

/// The client id seeded grants carry, which no platform issues.
const SEEDED_CLIENT: &str = "seeded";

pub const SEED_GRANTS: Sql = Sql {
    name: "seeding.grants",
    text: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
           INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
             end_user_ref, refresh_policy, state, state_reason, refresh_state, created_at, \
             updated_at) \
           SELECT printf('gr_%s%06d', ?3, i), ?1, ?4, printf('%s%06d', ?3, i), ?5, ?6, ?7, \
             CASE WHEN ?8 > 0 AND i % ?8 = 0 THEN ?9 ELSE ?10 END, \
             CASE WHEN ?8 > 0 AND i % ?8 = 0 THEN ?11 END, ?12, ?13 + i, ?13 + i FROM n",
};
pub const SEED_CONNECTIONS: Sql = Sql {
    name: "seeding.connections",
    text: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?5) \
           INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
             access, created_at, updated_at) \
           SELECT printf('conn_%s%06d', ?2, i), g.id, g.tenant_id, g.end_user_ref, ?3, \
             printf('%s%06d', ?2, i), ?4, ?7 + i, ?7 + i \
           FROM n JOIN grants g ON g.id = printf('gr_%s%06d', ?2, (i - 1) / ?6 + 1) \
           WHERE g.tenant_id = ?1",
};
pub const LOSE_ACCESS: Sql = Sql {
    name: "seeding.lose_access",
    text: "UPDATE connections SET access = ?3, access_reason = 'seeded' \
           WHERE id = ?1 AND tenant_id = ?2 AND EXISTS \
             (SELECT 1 FROM grants g WHERE g.id = connections.grant_id AND g.client_id = ?4)",
};

pub const SEED_POSTS: Sql = Sql {
    name: "seeding.posts",
    text: "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2) \
           INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
             request_digest, created_at) \
           SELECT printf('post_%s%06d', ?3, i), ?1, c.end_user_ref, printf('Seeded post %d', i), \
             ?5 + i, printf('seeded-%s-%d', ?3, i), 'seeded', ?5 + i \
           FROM n JOIN connections c ON c.id = ?4 AND c.tenant_id = ?1",
};
pub const SEED_TARGETS: Sql = Sql {
    name: "seeding.targets",
    text: "INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, provider, \
             content_hash, state, not_before, reason, last_error, created_at, updated_at) \
           SELECT 'tgt_' || substr(p.id, 6), p.id, p.tenant_id, c.id, c.grant_id, g.provider, \
             p.id, ?4, p.created_at, 'seeded', 'Seeded as ' || ?4 || '.', p.created_at, p.created_at \
           FROM posts p JOIN connections c ON c.id = ?3 JOIN grants g ON g.id = c.grant_id \
           WHERE p.tenant_id = ?1 AND p.id > printf('post_%s', ?2) AND p.id < printf('post_%s~', ?2) \
             AND length(p.id) = length(?2) + 11",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &SEED_GRANTS,
    &SEED_CONNECTIONS,
    &LOSE_ACCESS,
    &SEED_POSTS,
    &SEED_TARGETS,
];

/// Seeded connections: `count` connections of one end user, `per_grant` to a grant of
/// `provider` (one profile each when 1, pages otherwise), connection i created `base + i` ms
/// (i from 1), every `dead_every`-th grant dead (0: none). `batch` names them
/// (`gr_{batch}{g:06}`, `conn_{batch}{i:06}`): a different one per call.
pub struct Seed<'a> {
    pub tenant_id: &'a TenantId,
    pub batch: &'a str,
    pub count: i64,
    pub provider: &'a str,
    pub end_user_ref: &'a str,
    pub dead_every: i64,
    pub per_grant: i64,
    pub base: Timestamp,
}

/// The two statements that seed, as one batch: the grants, then their connections.
pub fn seed(s: &Seed<'_>) -> Vec<Statement> {
    let per_grant = s.per_grant.max(1);
    let grants = (s.count + per_grant - 1) / per_grant;
    let kind = if per_grant == 1 { "profile" } else { "page" };
    vec![
        SEED_GRANTS.bind(vec![
            s.tenant_id.into(),
            grants.into(),
            s.batch.into(),
            s.provider.into(),
            SEEDED_CLIENT.into(),
            s.end_user_ref.into(),
            "on_demand".into(),
            s.dead_every.into(),
            GrantState::DEAD.into(),
            GrantState::Alive.as_str().into(),
            "revoked".into(),
            RefreshState::Ok.as_str().into(),
            s.base.into(),
        ]),
        SEED_CONNECTIONS.bind(vec![
            s.tenant_id.into(),
            s.batch.into(),
            kind.into(),
            Access::Ok.as_str().into(),
            s.count.into(),
            per_grant.into(),
            s.base.into(),
        ]),
    ]
}

/// Seeded posts: `count` posts of the connection's end user, each with one target on the
/// connection in `state`, created `base + i` ms, named `post_{batch}{i:06}` and
/// `tgt_{batch}{i:06}`.
pub fn seed_posts(
    tenant_id: &TenantId,
    batch: &str,
    count: i64,
    connection_id: &str,
    state: TargetState,
    base: Timestamp,
) -> Vec<Statement> {
    vec![
        SEED_POSTS.bind(vec![
            tenant_id.into(),
            count.into(),
            batch.into(),
            connection_id.into(),
            base.into(),
        ]),
        SEED_TARGETS.bind(vec![
            tenant_id.into(),
            batch.into(),
            connection_id.into(),
            state.as_str().into(),
        ]),
    ]
}

/// A seeded connection of the tenant loses its access (red on its own).
pub fn lose_access(connection_id: &str, tenant_id: &TenantId) -> Statement {
    LOSE_ACCESS.bind(vec![
        connection_id.into(),
        tenant_id.into(),
        Access::Lost.as_str().into(),
        SEEDED_CLIENT.into(),
    ])
}

/// `EXPLAIN QUERY PLAN` of `statement`, with the same values bound (`detail` per step).
pub fn plan_of(statement: Statement) -> Statement {
    let text: &'static str =
        Box::leak(format!("EXPLAIN QUERY PLAN {}", statement.sql.text).into_boxed_str());
    let sql: &'static Sql = Box::leak(Box::new(Sql {
        name: statement.sql.name,
        text,
    }));
    sql.bind(statement.params)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub mod tests {
    use super::*;
    use crate::core::grant::expiry_warnings::Warnings;
    use crate::core::grant::grant_health::Colour;
    use crate::store::connections::{self, PageAsk};
    use crate::store::grants_tests::{T0, TEN_G};
    use crate::store::sqlite::{block_on, Sqlite};
    use crate::store::{tenants, Db};

    /// Seeding writes what it says, a batch at a time, and only seeded rows lose access; the
    /// plan read through D1's own statement names the indexes.
    pub fn seeds_and_plans(db: &Sqlite) {
        block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
        let seed = |batch: &'static str, count, dead_every| Seed {
            tenant_id: &TEN_G,
            batch,
            count,
            provider: "x",
            end_user_ref: "alice",
            dead_every,
            per_grant: 1,
            base: T0,
        };
        block_on(db.batch(self::seed(&seed("a", 30, 10)))).unwrap();
        block_on(db.batch(self::seed(&seed("b", 5, 0)))).unwrap();
        assert_eq!(db.value("SELECT COUNT(*) FROM connections"), 35);
        // Pages: seven connections over three grants.
        block_on(db.batch(self::seed(&Seed {
            per_grant: 3,
            count: 7,
            ..seed("c", 0, 0)
        })))
        .unwrap();
        assert_eq!(
            db.value("SELECT COUNT(DISTINCT grant_id) FROM connections WHERE id LIKE 'conn_c%'"),
            3
        );
        assert_eq!(
            db.value("SELECT grant_id FROM connections WHERE id = 'conn_c000007'"),
            "gr_c000003"
        );
        db.exec("DELETE FROM connections WHERE id LIKE 'conn_c%'; DELETE FROM grants WHERE id LIKE 'gr_c%';");
        assert_eq!(
            db.value("SELECT COUNT(*) FROM grants WHERE state_reason = 'revoked'"),
            3
        );
        assert_eq!(
            db.value("SELECT id FROM connections ORDER BY id LIMIT 1"),
            "conn_a000001"
        );
        let changes = |id| block_on(db.run(lose_access(id, &TEN_G))).unwrap().changes;
        assert_eq!(changes("conn_b000002"), 1);
        assert_eq!(changes("conn_nope"), 0);
        let red = PageAsk {
            tenant_id: &TEN_G,
            end_user_ref: None,
            colour: Some(Colour::Red),
            after: None,
            limit: 100,
            now: T0,
            window_ms: Warnings::default().window_ms(),
        };
        let rows = block_on(db.run(connections::page(&red))).unwrap().rows;
        let ids: Vec<String> = rows.iter().map(|r| r.text("id").unwrap()).collect();
        // Oldest first: batch b started at the same base, so its second row comes first.
        assert_eq!(
            ids,
            [
                "conn_b000002",
                "conn_a000010",
                "conn_a000020",
                "conn_a000030"
            ]
        );
        let page = connections::page(&red);
        block_on(db.batch(seed_posts(
            &TEN_G,
            "p",
            3,
            "conn_a000001",
            TargetState::Failed,
            T0,
        )))
        .unwrap();
        let attention = block_on(db.run(crate::store::posts::needing_attention(
            &TEN_G, "alice", None, 10,
        )))
        .unwrap()
        .rows;
        let targets: Vec<String> = attention.iter().map(|r| r.text("id").unwrap()).collect();
        assert_eq!(targets, ["tgt_p000003", "tgt_p000002", "tgt_p000001"]);
        // A batch whose name begins another's ids ("p0" and post_p000001) seeds its own
        // posts' targets only, in the state asked for.
        block_on(db.batch(seed_posts(
            &TEN_G,
            "p0",
            1,
            "conn_a000001",
            TargetState::Unconfirmed,
            T0,
        )))
        .unwrap();
        assert_eq!(
            db.value("SELECT group_concat(id || ':' || state, ' ') FROM post_targets"),
            "tgt_p000001:failed tgt_p000002:failed tgt_p000003:failed tgt_p0000001:unconfirmed"
        );
        // The same batch again: its ids are taken, which the store says as such.
        let again = block_on(db.batch(seed_posts(
            &TEN_G,
            "p0",
            1,
            "conn_a000001",
            TargetState::Failed,
            T0,
        )))
        .unwrap_err();
        assert!(again.is_key_taken(), "{again}");
        let plan = block_on(db.run(plan_of(page))).unwrap().rows;
        let steps: Vec<String> = plan.iter().map(|r| r.text("detail").unwrap()).collect();
        assert!(
            steps.iter().any(|s| s.contains("grants_by_tenant_state")),
            "{steps:?}"
        );
    }
}
