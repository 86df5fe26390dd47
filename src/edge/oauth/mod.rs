//! Connecting an account: connect sessions, the OAuth flow and its callback, calls to the platforms, Meta's callbacks.

pub(crate) mod callback;
pub(crate) mod connect;
pub(crate) mod flow;
pub(crate) mod meta_callbacks;
pub(crate) mod oauth_start;
pub(crate) mod platform;
