//! Tests isolated by tenant, on one shared runtime: each test makes its own tenants and touches
//! nothing every tenant sees (no test clock, no cron, no fault armed on the fake, no restart, no
//! changed variable), so they share one `wrangler dev` and run side by side, saving a runtime
//! start per file. A test that needs any of those belongs in a binary of its own (or one that
//! takes `common::ledger::serial()`); docs/testing.md has the classification.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;

mod api_docs;
mod browser_connect;
mod list_pages;
mod operator_api;
mod rate_limits;

use common::Stack;
use std::sync::OnceLock;

/// The runtime every test here shares.
fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_configured("tenant-isolated", Some(rate_limits::smaller_budget), |_| {
            Vec::new()
        })
    })
}
