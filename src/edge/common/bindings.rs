//! The names of the bindings and variables in `wrangler.toml`, in one place.

use crate::core::crypto::Keyring;
use crate::core::grant::expiry_warnings::Warnings;
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

/// A parsed setting, with the variable's text it was parsed from (`None`: unset).
type ParsedSetting = (Option<String>, Rc<dyn std::any::Any>);

thread_local! {
    /// Settings as last parsed, by variable: parsed once per isolate, not on every call.
    static SETTINGS: std::cell::RefCell<std::collections::HashMap<String, ParsedSetting>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// A setting parsed from a variable (`REFRESH_BACKOFF`, `CIRCUIT_BREAKER`, `SWEEP`, ...): the
/// default when unset; when set but invalid, the default and an error log line naming the
/// problem (once per isolate), so a typo is seen instead of silently ignored.
pub fn setting<T: Default + Clone + 'static>(
    env: &Env,
    name: &str,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> T {
    let text = text(env, name);
    let cached = SETTINGS.with_borrow(|settings| {
        settings
            .get(name)
            .filter(|(seen, _)| *seen == text)
            .and_then(|(_, value)| value.downcast_ref::<T>().cloned())
    });
    if let Some(value) = cached {
        return value;
    }
    let value = match &text {
        None => T::default(),
        Some(text) => parse(text).unwrap_or_else(|problem| {
            crate::edge::common::logging::emit(
                &crate::core::common::log::LogLine::error(
                    "config.invalid",
                    crate::edge::common::wall_clock::real_now(),
                )
                .field("variable", name)
                .field("problem", problem),
            );
            T::default()
        }),
    };
    SETTINGS.with_borrow_mut(|settings| {
        settings.insert(name.to_owned(), (text, Rc::new(value.clone())));
    });
    value
}

/// How long a reconnect link stays valid (`RECONNECT_LINK_DAYS`, default 21).
pub fn reconnect_link_days(env: &Env) -> u16 {
    #[derive(Clone)]
    struct Days(u16);
    impl Default for Days {
        fn default() -> Self {
            Days(crate::core::links::reconnect_links::DEFAULT_TTL_DAYS)
        }
    }
    setting(env, "RECONNECT_LINK_DAYS", |text| {
        match text.trim().parse::<u16>() {
            Ok(days) if (1..=90).contains(&days) => Ok(Days(days)),
            _ => Err("RECONNECT_LINK_DAYS must be a whole number of days from 1 to 90".into()),
        }
    })
    .0
}

/// The warning stages before a grant's known death (`EXPIRY_WARNINGS`, days, default
/// `14,3,1`); the first is the window in which a connection is yellow.
pub fn warnings(env: &Env) -> Warnings {
    setting(env, "EXPIRY_WARNINGS", Warnings::parse)
}
