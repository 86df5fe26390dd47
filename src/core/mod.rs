//! The pure core: every decision Evergreen makes, with no `worker` import and no I/O.
//!
//! The core never reads the clock (`now` is always a parameter) and never talks to storage or
//! the network; the edge does that and hands the core plain values. Everything here is
//! unit-tested natively, and the parts that must behave the same as wasm (randomness, time
//! formatting) are also run under `wasm-bindgen-test`.

pub mod api_error;
pub mod api_keys;
pub mod auth;
pub mod binding_cookie;
pub mod build;
pub mod catalogue;
pub mod circuit;
pub mod clock;
pub mod connect_sessions;
pub mod connections_page;
pub mod cron;
pub mod crypto;
pub mod digest;
pub mod disconnect;
pub mod erasure;
pub mod expiry_warnings;
pub mod flow_errors;
pub mod grant_events;
pub mod grant_expiry;
pub mod grant_health;
pub mod grant_tokens;
pub mod graph;
pub mod identity;
pub mod ids;
pub mod instagram_publish;
pub mod isolate_cache;
pub mod key_rotation;
pub mod log;
pub mod managed_accounts;
pub mod media;
pub mod oauth_callback;
pub mod origin;
pub mod page_links;
pub mod pages;
pub mod pkce;
pub mod posts;
#[cfg(feature = "test-powers")]
pub mod provider_rewrite;
pub mod publish_dialect;
pub mod publish_policy;
pub mod publish_progress;
pub mod query;
pub mod queues;
pub mod rate_limit;
pub mod reconnect_links;
pub mod refresh_failure;
pub mod refresh_schedule;
pub mod request_body;
pub mod retention;
pub mod return_urls;
pub mod routes;
pub mod scheduled_check;
pub mod settings;
pub mod signed_request;
pub mod signed_tokens;
pub mod sweep;
pub mod tiktok_publish;
pub mod token_response;
pub mod webhook_endpoints;
pub mod webhook_payload;
pub mod webhook_retry;
pub mod webhook_signature;
pub mod youtube_upload;
