//! Tenants: API keys, who is calling, rate limits, erasure, retention, the token reads' audit.

pub mod api_keys;
pub mod auth;
pub mod erasure;
pub mod rate_limit;
pub mod retention;
pub mod token_reads;
