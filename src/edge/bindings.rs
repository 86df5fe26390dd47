//! The names of the bindings and variables in `wrangler.toml`, in one place.

use worker::{D1Database, Env, Result};

/// The D1 database: the single source of truth.
pub const DB: &str = "DB";
/// The per-grant Durable Object namespace: each grant's only writer.
// Used by the test powers now; the admin API (issue 3) uses it in release builds too.
#[cfg_attr(not(feature = "test-powers"), allow(dead_code))]
pub const GRANT_OBJECTS: &str = "GRANT_OBJECTS";
/// The operator's secret for the admin API (and, in test builds, the test powers).
// Used by the test powers now; the admin API (issue 3) uses it in release builds too.
#[cfg_attr(not(feature = "test-powers"), allow(dead_code))]
pub const OPERATOR_SECRET: &str = "OPERATOR_SECRET";

pub fn db(env: &Env) -> Result<D1Database> {
    env.d1(DB)
}

/// A secret or plain variable, whichever the deployment defines; `None` if it is not set.
// Used by the test powers now; the admin API (issue 3) uses it in release builds too.
#[cfg_attr(not(feature = "test-powers"), allow(dead_code))]
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}
