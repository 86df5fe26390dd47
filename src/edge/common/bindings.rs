//! The names of the bindings and variables in `wrangler.toml`, in one place, and the
//! per-isolate parsing of the keyring and the catalogue behind [`super::context::Context`].

use crate::core::crypto::Keyring;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::catalogue::Catalogue;
use std::rc::Rc;
use worker::{D1Database, Env, Result};

/// The D1 database: the single source of truth.
pub const DB: &str = "DB";
/// The per-grant Durable Object namespace: each grant's only writer.
pub const GRANT_OBJECTS: &str = "GRANT_OBJECTS";
/// The Workers Rate Limiting binding that holds each tenant's API budget (`core::tenancy::rate_limit`).
pub const TENANT_RATE_LIMIT: &str = "TENANT_RATE_LIMIT";
/// The operator's secret for the admin API (and, in test builds, the test powers).
pub const OPERATOR_SECRET: &str = "OPERATOR_SECRET";

pub fn db(env: &Env) -> Result<D1Database> {
    env.d1(DB)
}

/// A secret or plain variable, whichever the deployment defines; `None` if it is not set.
pub fn text(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

/// The data keys (`DATA_KEYS`), or `unavailable` saying what to set. Parsed once per isolate
/// (the environment does not change inside one), like the catalogue.
pub fn keyring(env: &Env) -> std::result::Result<Rc<Keyring>, ApiError> {
    let spec = text(env, "DATA_KEYS").unwrap_or_default();
    let cached = KEYRING.with_borrow(|k| {
        k.as_ref()
            .filter(|(text, _)| *text == spec)
            .map(|(_, keyring)| keyring.clone())
    });
    if let Some(keyring) = cached {
        return Ok(keyring);
    }
    let keyring = Rc::new(Keyring::parse(&spec).map_err(|e| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("{e}; see docs/operations.md, Configuration."),
        )
    })?);
    KEYRING.set(Some((spec, keyring.clone())));
    Ok(keyring)
}

thread_local! {
    /// The keyring as last parsed, with the `DATA_KEYS` text it came from.
    static KEYRING: std::cell::RefCell<Option<(String, Rc<Keyring>)>> =
        const { std::cell::RefCell::new(None) };

    /// The catalogue as last built, with the declaration it was built from: parsed once per
    /// isolate instead of on every request (an isolate runs one request at a time per thread).
    static CATALOGUE: std::cell::RefCell<Option<(String, Rc<Catalogue>)>> =
        const { std::cell::RefCell::new(None) };
}

/// The provider catalogue: the built-in entries plus the operator's `CUSTOM_PROVIDERS`, or
/// `unavailable` saying what is wrong with the declaration.
pub fn catalogue(env: &Env) -> std::result::Result<Rc<Catalogue>, ApiError> {
    let declared = text(env, "CUSTOM_PROVIDERS").unwrap_or_default();
    let cached = CATALOGUE.with_borrow(|c| {
        c.as_ref()
            .filter(|(text, _)| *text == declared)
            .map(|(_, catalogue)| catalogue.clone())
    });
    if let Some(catalogue) = cached {
        return Ok(catalogue);
    }
    let catalogue = Rc::new(Catalogue::builtin().with_declared(&declared).map_err(|e| {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("{e}; see docs/providers.md, Custom providers."),
        )
    })?);
    CATALOGUE.set(Some((declared, catalogue.clone())));
    Ok(catalogue)
}
