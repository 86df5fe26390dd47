//! Operations: what keeps the worker itself in order. Today: the platforms' daily API quotas.

use super::statement::{Sql, Statement};

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

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[&QUOTA_USED, &SPEND_QUOTA];

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
