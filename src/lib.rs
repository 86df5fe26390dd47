//! Evergreen keeps a social-media scheduler's OAuth connections alive.
//!
//! The crate builds two ways from one source:
//! - natively (`rlib`), where only [`core`] exists: the decisions, unit-tested with `cargo test`;
//! - as wasm32 (`cdylib`) for Cloudflare Workers, where `edge` adds the thin glue (routes, the
//!   grant Durable Object, crons, queue consumers, D1) around the same core.
//!
//! Test-only powers live behind the `test-powers` cargo feature; see `docs/architecture.md`, "Three builds".

pub mod core;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod docs_test;
pub mod store;

#[cfg(target_arch = "wasm32")]
mod edge;

#[cfg(target_arch = "wasm32")]
pub use edge::GrantObject;
