//! The pure core: every decision Evergreen makes, with no `worker` import and no I/O.
//!
//! The core never reads the clock (`now` is always a parameter) and never talks to storage or
//! the network; the edge does that and hands the core plain values. Everything here is
//! unit-tested natively, and the parts that must behave the same as wasm (randomness, time
//! formatting) are also run under `wasm-bindgen-test`.
//!
//! One folder per domain, mirrored in `edge/`: `oauth` (connecting), `grant` (keeping a grant
//! alive), `publish`, `webhooks`, `tenancy`, `links` (what end users follow), and the shared
//! `common`, `http` and `crypto`.

pub mod common;
pub mod crypto;
pub mod grant;
pub mod http;
pub mod links;
pub mod oauth;
pub mod publish;
pub mod tenancy;
pub mod webhooks;
