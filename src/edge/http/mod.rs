//! Answers and outgoing calls: JSON answers and errors, the outgoing HTTP client, the public URL, rate limits, the health check.

pub(crate) mod healthz;
pub(crate) mod http_client;
pub(crate) mod public_url;
pub(crate) mod rate_limit;
pub(crate) mod respond;
