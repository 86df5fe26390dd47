//! Connecting an account: the provider catalogue, connect sessions, the callback's checks, PKCE, token answers, identities, and Meta's Graph dialect.

pub mod atproto;
pub mod binding_cookie;
pub mod catalogue;
pub mod connect_sessions;
pub mod consented_accounts;
pub mod flow_errors;
pub mod graph;
pub mod identity;
pub mod managed_accounts;
pub mod mastodon;
pub mod oauth_callback;
pub mod pkce;
#[cfg(feature = "test-powers")]
pub mod provider_rewrite;
pub mod return_urls;
pub mod signed_request;
pub mod token_response;
