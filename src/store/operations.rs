//! Operations: what keeps the worker itself in order: the platforms' daily API quotas, and
//! the record of the platforms' data-deletion requests.

use super::statement::{Sql, Statement};
use crate::core::clock::Timestamp;

pub const QUOTA_USED: Sql = Sql {
    name: "operations.quota_used",
    text: "SELECT units FROM quota_usage WHERE provider = ?1 AND day = ?2",
};
pub const SPEND_QUOTA: Sql = Sql {
    name: "operations.spend_quota",
    text: "INSERT INTO quota_usage (provider, day, units) VALUES (?1, ?2, ?3) \
           ON CONFLICT (provider, day) DO UPDATE SET units = units + excluded.units \
           WHERE ?4 IS NULL OR quota_usage.units + excluded.units <= ?4",
};

pub const RECORD_DELETION: Sql = Sql {
    name: "operations.record_deletion",
    text: "INSERT INTO data_deletions (code, provider, user_hash, grants, connections, status, \
             requested_at, completed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
pub const DELETION: Sql = Sql {
    name: "operations.deletion",
    text: "SELECT status, connections, requested_at FROM data_deletions \
           WHERE code = ?1 AND provider = ?2",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[&QUOTA_USED, &SPEND_QUOTA, &RECORD_DELETION, &DELETION];

/// The units of `provider`'s quota used on `day` (`units`; no row: none).
pub fn quota_used(provider: &str, day: &str) -> Statement {
    QUOTA_USED.bind(vec![provider.into(), day.into()])
}

/// Adds `units` to the day's count; with `limit`, only if the total stays within it (0 rows
/// changed: the limit would be passed).
pub fn spend_quota(provider: &str, day: &str, units: u32, limit: Option<u32>) -> Statement {
    SPEND_QUOTA.bind(vec![
        provider.into(),
        day.into(),
        i64::from(units).into(),
        limit.map(i64::from).into(),
    ])
}

/// A platform's data-deletion request, as carried out.
pub struct Deletion<'a> {
    /// The confirmation code the platform shows the person.
    pub code: &'a str,
    pub provider: &'a str,
    /// SHA-256 of the platform's user id.
    pub user_hash: &'a str,
    pub grants: i64,
    pub connections: i64,
    /// `complete`, or `partial` (some connections are removed later).
    pub status: &'a str,
    pub requested_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

pub fn record_deletion(d: &Deletion<'_>) -> Statement {
    RECORD_DELETION.bind(vec![
        d.code.into(),
        d.provider.into(),
        d.user_hash.into(),
        d.grants.into(),
        d.connections.into(),
        d.status.into(),
        d.requested_at.into(),
        d.completed_at.into(),
    ])
}

/// A deletion request's status page (`status, connections, requested_at`).
pub fn deletion(code: &str, provider: &str) -> Statement {
    DELETION.bind(vec![code.into(), provider.into()])
}
