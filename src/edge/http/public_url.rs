//! Evergreen's own public origin, for the links it hands out and the redirect URI it registers.
//!
//! `PUBLIC_BASE_URL` (e.g. `https://connect.example.com`) when the deployment sets it, else the
//! origin the request came to, which is right whenever clients reach the Worker directly.

use crate::core::http::origin::Origin;
use crate::core::oauth::connect_sessions::CALLBACK_PATH;
use crate::edge::common::context::Context;
use worker::Request;

pub fn origin(cx: &Context, req: &Request) -> Option<Origin> {
    configured(cx).or_else(|| Origin::of(&req.inner().url()))
}

/// `PUBLIC_BASE_URL` alone: what work without a request (queue consumers) builds links on.
pub fn configured(cx: &Context) -> Option<Origin> {
    cx.text("PUBLIC_BASE_URL")
        .filter(|v| !v.is_empty())
        .and_then(|v| Origin::of(&v))
}

/// The OAuth redirect URI on `origin`.
pub fn callback_url(origin: &Origin) -> String {
    format!("{}{CALLBACK_PATH}", origin.to_url())
}
