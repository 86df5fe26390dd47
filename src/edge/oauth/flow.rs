//! How a browser flow (connect link, OAuth callback) stops: the browser gets a page or a
//! redirect with an `error` code (`core::oauth::flow_errors` decides which), and the log gets why.

use crate::core::common::ids::RandomUnavailable;
use crate::core::common::log::LogLine;
use crate::core::crypto::CryptoError;
use crate::core::http::api_error::ApiError;
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::flow_errors::{reply, FlowError};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::respond;
use worker::Response;

/// Why a flow stopped, and (for the log only) the cause behind an internal failure.
pub struct Stop {
    pub error: FlowError,
    pub cause: Option<String>,
    /// Shown to the browser (query parameters or page details), e.g. the declined scopes.
    pub details: Vec<(&'static str, String)>,
}

impl Stop {
    pub fn new(error: FlowError) -> Self {
        Self {
            error,
            cause: None,
            details: Vec::new(),
        }
    }

    pub fn because(error: FlowError, cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(error)
        }
    }

    pub fn with_detail(mut self, name: &'static str, value: String) -> Self {
        self.details.push((name, value));
        self
    }
}

impl From<FlowError> for Stop {
    fn from(error: FlowError) -> Self {
        Stop::new(error)
    }
}

macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Stop {
            fn from(e: $t) -> Self {
                Stop::because(FlowError::Internal, e.to_string())
            }
        }
    )*};
}
internal_from!(
    worker::Error,
    crate::store::StoreError,
    serde_json::Error,
    CryptoError,
    RandomUnavailable
);

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::because(FlowError::Internal, e.message)
    }
}

impl From<respond::Failure> for Stop {
    fn from(f: respond::Failure) -> Self {
        match f {
            respond::Failure::Api(e) => e.into(),
            respond::Failure::Runtime(e) => e.into(),
            internal @ respond::Failure::Internal(_) => {
                Stop::because(FlowError::Internal, respond::with_causes(&internal))
            }
        }
    }
}

/// The catalogue entry of a provider a session row names.
pub fn provider_spec(cx: &Context, name: &str) -> Result<ProviderSpec, Stop> {
    cx.catalogue()?
        .resolve(name)
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| Stop::because(FlowError::Internal, format!("unknown provider {name:?}")))
}

/// The browser's answer for a step's outcome. `return_url` is the session's (allow-listed)
/// return URL, or `None` when no session was found. Every stop is logged under `event`.
pub fn finish(
    outcome: Result<Response, Stop>,
    return_url: Option<&str>,
    event: &str,
) -> worker::Result<Response> {
    match outcome {
        Ok(response) => Ok(response),
        Err(stop) => {
            let mut line = if stop.error == FlowError::Internal {
                LogLine::error(event, clock::real_now())
            } else {
                LogLine::warn(event, clock::real_now())
            };
            line = line
                .field("error_code", stop.error.code())
                .field("redirected", return_url.is_some());
            if let Some(cause) = stop.cause {
                line = line.field("cause", cause);
            }
            logging::emit(&line);
            let details: Vec<(&str, &str)> =
                stop.details.iter().map(|(k, v)| (*k, v.as_str())).collect();
            respond::flow_reply(reply(stop.error, return_url, &details))
        }
    }
}
