//! Per-tenant rate limits on the tenant API (`/v1/…`).
//!
//! Every authenticated `/v1/` request counts against its tenant's budget in the Workers Rate
//! Limiting binding (`TENANT_RATE_LIMIT` in `wrangler.toml`), keyed by the tenant id: one tenant
//! that loops cannot take D1's single writer, the grant objects or the platforms' rate budgets
//! from the others. The binding counts per Cloudflare location and is eventually consistent,
//! so the limit is a guard against runaway callers, not an exact quota.
//!
//! The budget (`limit` per `period`) lives in `wrangler.toml`, since the binding fixes it there;
//! `PERIOD_SECONDS` must equal the configured period (tests/wrangler_config.rs checks it).

use crate::core::common::ids::TenantId;
use crate::core::http::api_error::{ApiError, ErrorCode};

/// The binding's `period` in `wrangler.toml`: the window a tenant's count covers, and the longest
/// a refused caller has to wait, which is what `Retry-After` says.
pub const PERIOD_SECONDS: u32 = 60;

/// The key a tenant's requests are counted under. Only authenticated requests count, so a
/// stranger cannot spend a tenant's budget.
pub fn key(tenant_id: &TenantId) -> String {
    format!("tenant:{tenant_id}")
}

/// The answer once the tenant's budget is spent: `429 rate_limited` with `Retry-After`.
pub fn exceeded() -> ApiError {
    let mut error = ApiError::new(
        ErrorCode::RateLimited,
        format!(
            "This tenant sent more API requests than its limit allows in {PERIOD_SECONDS} \
             seconds (every API key of the tenant counts). Retry after the `Retry-After` \
             seconds; the operator sets the limit (docs/operations.md, \"Rate limits\")."
        ),
    );
    error.retry_after_seconds = Some(PERIOD_SECONDS);
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_counted_apart() {
        assert_ne!(key(&"ten_a".into()), key(&"ten_b".into()));
        assert_eq!(key(&"ten_a".into()), key(&"ten_a".into()));
    }

    #[test]
    fn the_refusal_is_a_429_that_says_when_to_retry() {
        let e = exceeded();
        assert_eq!(e.status(), 429);
        assert_eq!(e.code.as_str(), "rate_limited");
        assert_eq!(e.retry_after_seconds, Some(PERIOD_SECONDS));
        assert!(e.message.contains("Retry-After"));
    }
}
