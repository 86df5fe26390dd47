//! Grants: what one OAuth consent produced, its sealed tokens and its ledger. Read by anyone
//! here; written only through `store::grant_writes`, which only the grant's object reaches.

use super::db::{decode_first, Db, StoreError};
use super::row::{Row, RowError};
use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::publish::posts::TargetState;

/// A grant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub tenant_id: TenantId,
    pub provider: String,
    pub provider_account_id: String,
    pub client_id: String,
    /// The token version: every write of the tokens bumps it, and every write of the row
    /// compares it (compare-and-set).
    pub version: i64,
    /// Bumped by disconnect, delete and reconnect.
    pub epoch: i64,
    pub token_ciphertext: Option<String>,
    pub key_id: Option<String>,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    /// `GrantState::as_str`.
    pub state: String,
    pub state_reason: Option<String>,
    pub last_error: Option<String>,
    pub claim_id: Option<String>,
    pub failure_streak: i64,
    pub failure_days: i64,
    pub last_failure_at: Option<Timestamp>,
    /// `RefreshState::as_str`.
    pub refresh_state: String,
    pub next_check_at: Option<Timestamp>,
    pub last_refresh_at: Option<Timestamp>,
    pub last_validated_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The earliest post waiting to go out through this grant (pre-flight).
    pub next_post_at: Option<Timestamp>,
    /// The row's sequence number (SQLite's rowid): the grant's slot for the scheduled check.
    pub check_seq: i64,
}

pub const CURRENT: Sql = Sql {
    name: "grants.current",
    text: "SELECT id, tenant_id, provider, provider_account_id, client_id, version, epoch, \
             token_ciphertext, key_id, access_expires_at, \
             grant_expires_at, state, state_reason, last_error, claim_id, failure_streak, \
             failure_days, last_failure_at, refresh_state, next_check_at, last_refresh_at, \
             last_validated_at, created_at, rowid AS check_seq, \
             (SELECT MIN(t.not_before) FROM post_targets t WHERE t.grant_id = grants.id \
                AND +t.state IN (?2, ?3)) AS next_post_at \
           FROM grants WHERE id = ?1",
};
pub const NEXT_ROW_SEQ: Sql = Sql {
    name: "grants.next_row_seq",
    text: "SELECT COALESCE(MAX(rowid), 0) + 1 AS n FROM grants",
};

pub const SAME_ACCOUNT: Sql = Sql {
    name: "grants.same_account",
    text: "SELECT id FROM grants WHERE tenant_id = ?1 AND provider = ?2 \
             AND provider_account_id = ?3 AND client_id = ?4 AND end_user_ref = ?5 \
             AND token_ciphertext IS NOT NULL \
           ORDER BY created_at, id LIMIT 1",
};
pub const OF_PLATFORM_USER: Sql = Sql {
    name: "grants.of_platform_user",
    text: "SELECT id FROM grants WHERE provider = ?1 AND client_id = ?2 \
             AND provider_account_id = ?3 AND token_ciphertext IS NOT NULL ORDER BY id",
};

pub const STATEMENTS: &[&Sql] = &[&CURRENT, &NEXT_ROW_SEQ, &SAME_ACCOUNT, &OF_PLATFORM_USER];

fn grant(row: &Row) -> Result<Grant, RowError> {
    Ok(Grant {
        id: row.text("id")?.into(),
        tenant_id: row.text("tenant_id")?.into(),
        provider: row.text("provider")?,
        provider_account_id: row.text("provider_account_id")?,
        client_id: row.text("client_id")?,
        version: row.int("version")?,
        epoch: row.int("epoch")?,
        token_ciphertext: row.opt_text("token_ciphertext")?,
        key_id: row.opt_text("key_id")?,
        access_expires_at: row.opt_time("access_expires_at")?,
        grant_expires_at: row.opt_time("grant_expires_at")?,
        state: row.text("state")?,
        state_reason: row.opt_text("state_reason")?,
        last_error: row.opt_text("last_error")?,
        claim_id: row.opt_text("claim_id")?,
        failure_streak: row.int("failure_streak")?,
        failure_days: row.int("failure_days")?,
        last_failure_at: row.opt_time("last_failure_at")?,
        refresh_state: row.text("refresh_state")?,
        next_check_at: row.opt_time("next_check_at")?,
        last_refresh_at: row.opt_time("last_refresh_at")?,
        last_validated_at: row.opt_time("last_validated_at")?,
        created_at: row.time("created_at")?,
        next_post_at: row.opt_time("next_post_at")?,
        check_seq: row.int("check_seq")?,
    })
}

/// The grant as stored now, with its earliest waiting post.
pub async fn current(db: &impl Db, grant_id: &GrantId) -> Result<Option<Grant>, StoreError> {
    let outcome = db
        .run(CURRENT.bind(vec![
            grant_id.into(),
            TargetState::Scheduled.as_str().into(),
            TargetState::Queued.as_str().into(),
        ]))
        .await?;
    decode_first(CURRENT.name, outcome, grant)
}

/// The sequence number (rowid) the next new grant row takes: its check slot.
pub async fn next_row_seq(db: &impl Db) -> Result<i64, StoreError> {
    let outcome = db.run(NEXT_ROW_SEQ.bind(vec![])).await?;
    Ok(decode_first(NEXT_ROW_SEQ.name, outcome, |row| row.int("n"))?.unwrap_or(1))
}

/// The grant a new consent restores in place (`id`): the oldest one holding tokens for the
/// same tenant, end user, account and client.
pub fn same_account(
    tenant_id: &TenantId,
    provider: &str,
    account_id: &str,
    client_id: &str,
    end_user_ref: &str,
) -> Statement {
    SAME_ACCOUNT.bind(vec![
        tenant_id.into(),
        provider.into(),
        account_id.into(),
        client_id.into(),
        end_user_ref.into(),
    ])
}

/// Every grant holding tokens for a platform user through one app (`id`), across tenants:
/// what the platform's deauthorize and data-deletion callbacks end.
pub fn of_platform_user(provider: &str, client_id: &str, account_id: &str) -> Statement {
    OF_PLATFORM_USER.bind(vec![provider.into(), client_id.into(), account_id.into()])
}
