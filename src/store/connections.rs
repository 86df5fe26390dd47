//! Connections: the accounts a grant holds (a profile, a Facebook Page, a LinkedIn company
//! page), and the reconnect links' spent nonces. Written inside the grant's object, in the
//! batch of the grant write they belong to, each write guarded on the grant's version.

use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::grant_health::{Colour, GrantState, RefreshState};
use crate::core::oauth::managed_accounts::Access;

/// A connection to store (or to bring back, if the grant already holds this account).
pub struct NewConnection<'a> {
    pub id: &'a str,
    pub grant_id: &'a GrantId,
    pub tenant_id: &'a TenantId,
    pub end_user_ref: &'a str,
    pub kind: &'a str,
    pub external_id: &'a str,
    pub display_name: Option<&'a str>,
    pub username: Option<&'a str>,
    /// The grant's version the batch writes: nothing is stored if the grant moved on.
    pub grant_version: i64,
    pub now: Timestamp,
}

/// What a disconnect must know before it writes.
pub struct DisconnectAsk<'a> {
    pub connection_id: &'a str,
    pub grant_id: &'a GrantId,
    pub provider: &'a str,
    pub provider_account_id: &'a str,
    pub client_id: &'a str,
}

pub const UPSERT: Sql = Sql {
    name: "connections.upsert",
    text: "INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
             display_name, username, created_at, updated_at) \
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9 \
           WHERE EXISTS (SELECT 1 FROM grants WHERE id = ?2 AND version = ?10) \
           ON CONFLICT (grant_id, kind, external_id) DO UPDATE SET \
             end_user_ref = excluded.end_user_ref, display_name = excluded.display_name, \
             username = excluded.username, access = ?11, access_reason = NULL, \
             disconnected_at = NULL, updated_at = excluded.updated_at",
};
pub const OF_GRANT: Sql = Sql {
    name: "connections.of_grant",
    text: "SELECT id, kind, external_id FROM connections WHERE grant_id = ?1",
};
pub const LIVE_OF_GRANT: Sql = Sql {
    name: "connections.live_of_grant",
    text: "SELECT id, tenant_id, kind, external_id, access, access_reason FROM connections \
           WHERE grant_id = ?1 AND disconnected_at IS NULL ORDER BY created_at, id",
};
pub const LIVE_EXTERNAL_IDS: Sql = Sql {
    name: "connections.live_external_ids",
    text: "SELECT external_id FROM connections \
           WHERE grant_id = ?1 AND kind = ?2 AND disconnected_at IS NULL ORDER BY external_id",
};
pub const SET_ACCESS: Sql = Sql {
    name: "connections.set_access",
    text: "UPDATE connections SET access = ?1, access_reason = ?2, updated_at = ?3 \
           WHERE id = ?4 AND access = ?5",
};
pub const DISCONNECT_COUNTS: Sql = Sql {
    name: "connections.disconnect_counts",
    text: "SELECT \
             (SELECT COUNT(*) FROM connections WHERE id = ?1 AND grant_id = ?2 \
                AND disconnected_at IS NULL) AS this_live, \
             (SELECT COUNT(*) FROM connections WHERE grant_id = ?2 AND id != ?1 \
                AND disconnected_at IS NULL) AS others_live, \
             (SELECT COUNT(*) FROM grants WHERE provider = ?3 AND provider_account_id = ?4 \
                AND client_id = ?5 AND id != ?2 AND token_ciphertext IS NOT NULL \
                AND state != ?6) AS other_grants",
};
pub const DISCONNECT: Sql = Sql {
    name: "connections.disconnect",
    text: "UPDATE connections SET disconnected_at = ?1, updated_at = ?1 \
           WHERE id = ?2 AND grant_id = ?3 AND disconnected_at IS NULL \
             AND EXISTS (SELECT 1 FROM grants WHERE id = ?3 AND version = ?4)",
};
pub const SPEND_NONCE: Sql = Sql {
    name: "connections.spend_nonce",
    text: "INSERT INTO reconnect_nonces (nonce, grant_id, consumed_at) SELECT ?1, ?2, ?4 \
           WHERE EXISTS (SELECT 1 FROM grants WHERE id = ?2 AND version = ?3)",
};
pub const NONCE_SPENT: Sql = Sql {
    name: "connections.nonce_spent",
    text: "SELECT EXISTS (SELECT 1 FROM reconnect_nonces WHERE nonce = ?1) AS used",
};

/// The columns a connection answers with through the API and the connections page: the
/// connection, and its grant's ledger and health (`c`: connections, `g`: its grant).
macro_rules! listed_columns {
    () => {
        "SELECT c.id, c.grant_id, g.provider, c.end_user_ref, c.kind, c.external_id, \
           c.display_name, c.username, c.access, c.access_reason, g.state AS grant_state, \
           g.state_reason, g.refresh_state, g.failure_streak, g.next_check_at, g.last_refresh_at, \
           g.last_validated_at, g.last_error, g.access_expires_at, g.grant_expires_at, c.created_at "
    };
}
macro_rules! listed {
    () => {
        concat!(
            listed_columns!(),
            "FROM connections c JOIN grants g ON g.id = c.grant_id "
        )
    };
}

/// A connection's health colour in SQL: `core::grant::grant_health` (`Status::of`, then
/// `connection_health`) written over the stored columns, so a list filters by colour on an
/// index instead of deriving every row in Rust. `reads_tests::colour_in_sql_is_the_cores`
/// holds the two to the same answer over a generated table of cases. Parameters ([`page`]):
/// ?2 now, ?3 the warning window, ?7 the dead state, ?8 `ok` (access), ?9 and ?10 the
/// failing refresh states, ?13 to ?15 the colours red, yellow and green.
macro_rules! colour {
    () => {
        "(CASE WHEN g.state = ?7 OR g.grant_expires_at <= ?2 OR c.access < ?8 OR c.access > ?8 \
                THEN ?13 \
              WHEN g.refresh_state IN (?9, ?10) OR g.grant_expires_at <= ?2 + ?3 THEN ?14 \
              ELSE ?15 END)"
    };
}

pub const LIST_FOR_END_USER: Sql = Sql {
    name: "connections.list_for_end_user",
    text: concat!(
        listed!(),
        "WHERE c.tenant_id = ?1 AND c.end_user_ref = ?2 AND c.disconnected_at IS NULL \
         ORDER BY c.created_at, c.id"
    ),
};
/// A page of the tenant's live connections, oldest first, after (?4 `created_at`, ?5 id),
/// all of them or one colour (?12, `NULL` for all): read through `connections_by_tenant` in
/// order, so a page of the common colour (green) or of all costs about the page.
pub const PAGE: Sql = Sql {
    name: "connections.page",
    text: concat!(
        listed!(),
        "WHERE c.tenant_id = ?1 AND c.disconnected_at IS NULL AND (c.created_at, c.id) > (?4, ?5) \
           AND (?12 IS NULL OR ",
        colour!(),
        " = ?12) \
         ORDER BY c.created_at, c.id LIMIT ?6"
    ),
};
/// A page of the tenant's red or yellow connections (?12). Only connections that can be
/// either are read: those of dead grants, of grants whose ledger date is inside the warning
/// window or past, of grants whose refresh fails, and those that lost their access, each
/// found through an index of its own. The set is sorted for the page, so the read grows with
/// the tenant's unhealthy connections, not with the tenant.
pub const PAGE_UNHEALTHY: Sql = Sql {
    name: "connections.page_unhealthy",
    text: concat!(
        listed_columns!(),
        "FROM (SELECT c2.id FROM connections c2 WHERE c2.grant_id IN \
                 (SELECT id FROM grants WHERE tenant_id = ?1 AND state = ?7 \
                  UNION SELECT id FROM grants WHERE tenant_id = ?1 AND refresh_state IN (?9, ?10) \
                  UNION SELECT id FROM grants WHERE tenant_id = ?1 AND grant_expires_at <= ?2 + ?3) \
               UNION SELECT id FROM connections WHERE tenant_id = ?1 \
                 AND (access < ?8 OR access > ?8)) AS r \
         CROSS JOIN connections c ON c.id = r.id CROSS JOIN grants g ON g.id = c.grant_id \
         WHERE c.disconnected_at IS NULL AND (c.created_at, c.id) > (?4, ?5) AND ",
        colour!(),
        " = ?12 \
         ORDER BY c.created_at, c.id LIMIT ?6"
    ),
};
/// A page of one end user's (?11) live connections, all or one colour (?12).
pub const PAGE_OF_END_USER: Sql = Sql {
    name: "connections.page_of_end_user",
    text: concat!(
        listed!(),
        "WHERE c.tenant_id = ?1 AND c.end_user_ref = ?11 AND c.disconnected_at IS NULL \
           AND (c.created_at, c.id) > (?4, ?5) AND (?12 IS NULL OR ",
        colour!(),
        " = ?12) ORDER BY c.created_at, c.id LIMIT ?6"
    ),
};
pub const FIND_FOR_TENANT: Sql = Sql {
    name: "connections.find_for_tenant",
    text: concat!(
        listed!(),
        "WHERE c.tenant_id = ?1 AND c.id = ?2 AND c.disconnected_at IS NULL"
    ),
};
pub const LIVE_GRANT: Sql = Sql {
    name: "connections.live_grant",
    text: "SELECT grant_id FROM connections \
           WHERE id = ?1 AND tenant_id = ?2 AND disconnected_at IS NULL",
};
pub const HOME: Sql = Sql {
    name: "connections.home",
    text: "SELECT tenant_id, grant_id, external_id FROM connections WHERE id = ?1",
};
pub const OWNED_BY_END_USER: Sql = Sql {
    name: "connections.owned_by_end_user",
    text: "SELECT 1 AS found FROM connections WHERE id = ?1 AND tenant_id = ?2 \
             AND end_user_ref = ?3 AND disconnected_at IS NULL",
};
pub const RECONNECTABLE: Sql = Sql {
    name: "connections.reconnectable",
    text: "SELECT c.grant_id, g.epoch FROM connections c JOIN grants g ON g.id = c.grant_id \
           WHERE c.id = ?1 AND c.tenant_id = ?2 AND (?3 IS NULL OR c.end_user_ref = ?3) \
             AND c.disconnected_at IS NULL AND g.token_ciphertext IS NOT NULL",
};
pub const RECONNECT_LINK_STANDING: Sql = Sql {
    name: "connections.reconnect_link_standing",
    text: "SELECT g.epoch, g.provider, g.end_user_ref, \
             (g.token_ciphertext IS NOT NULL) AS has_tokens, \
             c.display_name, c.username, (c.disconnected_at IS NULL) AS live, \
             EXISTS (SELECT 1 FROM reconnect_nonces n WHERE n.nonce = ?3) AS consumed \
           FROM grants g JOIN connections c ON c.grant_id = g.id AND c.id = ?4 \
           WHERE g.id = ?1 AND g.tenant_id = ?2",
};
#[cfg(any(test, feature = "test-powers"))]
pub const DESCRIBE: Sql = Sql {
    name: "connections.describe",
    text: "SELECT g.provider, c.external_id, c.display_name, c.username, c.end_user_ref \
           FROM connections c JOIN grants g ON g.id = c.grant_id WHERE c.id = ?1",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &DESCRIBE,
    &LIST_FOR_END_USER,
    &PAGE,
    &PAGE_UNHEALTHY,
    &PAGE_OF_END_USER,
    &FIND_FOR_TENANT,
    &LIVE_GRANT,
    &HOME,
    &OWNED_BY_END_USER,
    &RECONNECTABLE,
    &RECONNECT_LINK_STANDING,
    &UPSERT,
    &OF_GRANT,
    &LIVE_OF_GRANT,
    &LIVE_EXTERNAL_IDS,
    &SET_ACCESS,
    &DISCONNECT_COUNTS,
    &DISCONNECT,
    &SPEND_NONCE,
    &NONCE_SPENT,
];

/// Stores a connection, or brings the grant's same account back (usable, not disconnected).
pub fn upsert(c: &NewConnection<'_>) -> Statement {
    UPSERT.bind(vec![
        c.id.into(),
        c.grant_id.into(),
        c.tenant_id.into(),
        c.end_user_ref.into(),
        c.kind.into(),
        c.external_id.into(),
        c.display_name.into(),
        c.username.into(),
        c.now.into(),
        c.grant_version.into(),
        Access::Ok.as_str().into(),
    ])
}

/// Every connection of the grant, disconnected ones too (`id, kind, external_id`).
pub fn of_grant(grant_id: &GrantId) -> Statement {
    OF_GRANT.bind(vec![grant_id.into()])
}

/// The grant's live connections (`id, tenant_id, kind, external_id, access, access_reason`).
pub fn live_of_grant(grant_id: &GrantId) -> Statement {
    LIVE_OF_GRANT.bind(vec![grant_id.into()])
}

/// The platform ids of the grant's live connections of one kind (`external_id`).
pub fn live_external_ids(grant_id: &GrantId, kind: &str) -> Statement {
    LIVE_EXTERNAL_IDS.bind(vec![grant_id.into(), kind.into()])
}

/// Sets a connection's access, if it is still `was` (compare-and-set).
pub fn set_access(
    connection_id: &str,
    access: Access,
    was: Access,
    reason: Option<&str>,
    now: Timestamp,
) -> Statement {
    SET_ACCESS.bind(vec![
        access.as_str().into(),
        reason.into(),
        now.into(),
        connection_id.into(),
        was.as_str().into(),
    ])
}

/// Whether the connection is live in the grant (`this_live`), how many others the grant still
/// holds (`others_live`), and how many other live grants hold the same account and client
/// (`other_grants`): what decides whether a disconnect revokes at the platform.
pub fn disconnect_counts(ask: &DisconnectAsk<'_>) -> Statement {
    DISCONNECT_COUNTS.bind(vec![
        ask.connection_id.into(),
        ask.grant_id.into(),
        ask.provider.into(),
        ask.provider_account_id.into(),
        ask.client_id.into(),
        GrantState::DEAD.into(),
    ])
}

/// Marks a live connection disconnected, if the grant is still at `grant_version`.
pub fn disconnect(
    connection_id: &str,
    grant_id: &GrantId,
    grant_version: i64,
    now: Timestamp,
) -> Statement {
    DISCONNECT.bind(vec![
        now.into(),
        connection_id.into(),
        grant_id.into(),
        grant_version.into(),
    ])
}

/// Spends a reconnect link's nonce, if the grant is still at `grant_version`. A plain INSERT:
/// a nonce spent by a racing callback fails the whole batch.
pub fn spend_nonce(
    nonce: &str,
    grant_id: &GrantId,
    grant_version: i64,
    now: Timestamp,
) -> Statement {
    SPEND_NONCE.bind(vec![
        nonce.into(),
        grant_id.into(),
        grant_version.into(),
        now.into(),
    ])
}

/// Whether a reconnect nonce was spent (`used`: 0 or 1).
pub fn nonce_spent(nonce: &str) -> Statement {
    NONCE_SPENT.bind(vec![nonce.into()])
}

/// One end user's live connections with their grant's standing (`listed!`), oldest first.
pub fn list_for_end_user(tenant_id: &TenantId, end_user_ref: &str) -> Statement {
    LIST_FOR_END_USER.bind(vec![tenant_id.into(), end_user_ref.into()])
}

/// What a page of connections is: whose, which, from where, how many, judged when.
pub struct PageAsk<'a> {
    pub tenant_id: &'a TenantId,
    pub end_user_ref: Option<&'a str>,
    pub colour: Option<Colour>,
    /// The last row of the page before (`created_at`, id); `None` for the first page.
    pub after: Option<(i64, &'a str)>,
    pub limit: i64,
    /// Health is judged at this time, with this warning window (`Warnings::window_ms`).
    pub now: Timestamp,
    pub window_ms: i64,
}

/// A page of the tenant's live connections with their grant's standing (`listed!`), oldest
/// first, filtered by end user and health colour in SQL.
pub fn page(ask: &PageAsk<'_>) -> Statement {
    let sql = match (ask.end_user_ref, ask.colour) {
        (Some(_), _) => &PAGE_OF_END_USER,
        (None, Some(Colour::Red | Colour::Yellow)) => &PAGE_UNHEALTHY,
        (None, _) => &PAGE,
    };
    let (after_created, after_id) = ask.after.unwrap_or((-1, ""));
    sql.bind(vec![
        ask.tenant_id.into(),
        ask.now.into(),
        ask.window_ms.into(),
        after_created.into(),
        after_id.into(),
        ask.limit.into(),
        GrantState::DEAD.into(),
        Access::Ok.as_str().into(),
        RefreshState::BackingOff {
            failures: 0,
            retry_at: ask.now,
        }
        .as_str()
        .into(),
        RefreshState::ClientRejected.as_str().into(),
        ask.end_user_ref.into(),
        ask.colour.map(Colour::as_str).into(),
        Colour::Red.as_str().into(),
        Colour::Yellow.as_str().into(),
        Colour::Green.as_str().into(),
    ])
}

/// The tenant's live connection with its grant's standing (`listed!`).
pub fn find_for_tenant(tenant_id: &TenantId, connection_id: &str) -> Statement {
    FIND_FOR_TENANT.bind(vec![tenant_id.into(), connection_id.into()])
}

/// The grant of the tenant's live connection (`grant_id`).
pub fn live_grant(connection_id: &str, tenant_id: &TenantId) -> Statement {
    LIVE_GRANT.bind(vec![connection_id.into(), tenant_id.into()])
}

/// Where a connection lives (`tenant_id, grant_id, external_id`), live or not.
pub fn home(connection_id: &str) -> Statement {
    HOME.bind(vec![connection_id.into()])
}

/// Whether a live connection is the end user's (`found`, or no row).
pub fn owned_by_end_user(
    connection_id: &str,
    tenant_id: &TenantId,
    end_user_ref: &str,
) -> Statement {
    OWNED_BY_END_USER.bind(vec![
        connection_id.into(),
        tenant_id.into(),
        end_user_ref.into(),
    ])
}

/// The grant and epoch a reconnect link for the tenant's live connection (of `end_user` only,
/// when given) is minted for (`grant_id, epoch`); none when its grant holds no tokens.
pub fn reconnectable(
    connection_id: &str,
    tenant_id: &TenantId,
    end_user: Option<&str>,
) -> Statement {
    RECONNECTABLE.bind(vec![
        connection_id.into(),
        tenant_id.into(),
        end_user.into(),
    ])
}

/// What a reconnect link's use is checked against: the grant's epoch and tokens, the
/// connection's liveness, the nonce spent (`epoch, provider, end_user_ref, has_tokens,
/// display_name, username, live, consumed`).
pub fn reconnect_link_standing(
    grant_id: &GrantId,
    tenant_id: &TenantId,
    nonce: &str,
    connection_id: &str,
) -> Statement {
    RECONNECT_LINK_STANDING.bind(vec![
        grant_id.into(),
        tenant_id.into(),
        nonce.into(),
        connection_id.into(),
    ])
}

/// Test builds: a connection as the demo return page shows it.
#[cfg(any(test, feature = "test-powers"))]
pub fn describe(connection_id: &str) -> Statement {
    DESCRIBE.bind(vec![connection_id.into()])
}
