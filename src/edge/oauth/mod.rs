//! Connecting an account: connect sessions, the OAuth flow and its callback, calls to the platforms, Meta's callbacks, and the server step of per-server platforms.

pub(crate) mod atproto_client;
pub(crate) mod callback;
pub(crate) mod connect;
pub(crate) mod flow;
pub(crate) mod meta_callbacks;
pub(crate) mod oauth_start;
pub(crate) mod per_server;
pub(crate) mod platform;
