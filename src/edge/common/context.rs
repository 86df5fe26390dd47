//! The one context every handler takes: the Worker's bindings, and what is parsed from its
//! variables (the settings, the keyring, the catalogue) once per isolate, since the
//! environment does not change inside one. Handlers ask it for typed values and never parse a
//! variable themselves.

use crate::core::common::log::LogLine;
use crate::core::common::settings::Settings;
use crate::core::crypto::Keyring;
use crate::core::http::api_error::ApiError;
use crate::core::oauth::catalogue::Catalogue;
use crate::edge::common::bindings;
use std::rc::Rc;
use worker::{D1Database, Env, Result};

/// The bindings and the parsed environment of one request, cron run, queue batch or object.
#[derive(Clone)]
pub struct Context {
    env: Env,
    settings: Settings,
}

thread_local! {
    /// The settings as this isolate parsed them, the first time a context was made.
    static SETTINGS: std::cell::OnceCell<Settings> = const { std::cell::OnceCell::new() };
}

impl Context {
    /// The context over `env`; the first one in an isolate parses the settings and logs each
    /// invalid variable once.
    pub fn new(env: Env) -> Self {
        let settings = SETTINGS.with(|cell| {
            *cell.get_or_init(|| {
                let (settings, problems) = Settings::read(|name| bindings::text(&env, name));
                for p in problems {
                    crate::edge::common::logging::emit(
                        &LogLine::error("config.invalid", super::wall_clock::real_now())
                            .field("variable", p.variable)
                            .field("problem", p.problem.to_string()),
                    );
                }
                settings
            })
        });
        Self { env, settings }
    }

    /// The bindings themselves, for what has no typed accessor here (queues, the grant
    /// objects' namespace, the rate limiter).
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// Every tunable setting, parsed once per isolate.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The D1 database: the single source of truth.
    pub fn db(&self) -> Result<D1Database> {
        bindings::db(&self.env)
    }

    /// The data keys (`DATA_KEYS`), or `unavailable` saying what to set; parsed once per
    /// isolate.
    pub fn keyring(&self) -> std::result::Result<Rc<Keyring>, ApiError> {
        bindings::keyring(&self.env)
    }

    /// The provider catalogue with the operator's `CUSTOM_PROVIDERS`, or `unavailable` saying
    /// what is wrong with the declaration; built once per isolate.
    pub fn catalogue(&self) -> std::result::Result<Rc<Catalogue>, ApiError> {
        bindings::catalogue(&self.env)
    }

    /// A secret or plain variable, whichever the deployment defines; `None` if it is not set.
    pub fn text(&self, name: &str) -> Option<String> {
        bindings::text(&self.env, name)
    }
}
