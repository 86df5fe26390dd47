//! The store: the only code that speaks SQL to D1.
//!
//! Every statement is a named constant ([`Sql`]) in the module of its tables, bound to typed
//! parameters by a function named for what it does (`tenants::create`, `api_keys::revoke`, …),
//! and run through a [`Db`]: D1 in the worker (`store::d1`, the only code that prepares SQL on
//! D1, and the store's only `worker` import), SQLite with the real `migrations/` in the native
//! tests (`store::sqlite`), behaving as D1 does. States go in as bound parameters
//! from the core's enums, never spliced into SQL text. Rows come back through one generic
//! decoder ([`Row`]) into typed values. See `docs/storage.md`.

pub mod connections;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod connections_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod coverage;
#[cfg(target_arch = "wasm32")]
mod d1;
mod db;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod docs_test;
pub mod erasure;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod erasure_tests;
pub mod events;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod grant_writes;
pub mod grants;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod grants_tests;
pub mod operations;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod operations_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod pages_tests;
pub mod posts;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod posts_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod reads_tests;
mod row;
#[cfg(any(test, feature = "test-powers"))]
pub mod seeding;
pub mod sessions;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod sessions_tests;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod sqlite;
mod statement;
pub mod sweep;
pub mod targets;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod targets_tests;
pub mod tenants;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod test_powers_tests;
pub mod webhooks;
#[cfg(all(test, not(target_arch = "wasm32")))]
mod webhooks_tests;

/// Where a newest-first page starts when no cursor says otherwise: a time after every row's
/// (2^53 ms, the largest integer D1 carries exactly).
pub const NEWEST: i64 = 1 << 53;

pub use db::{decode_all, decode_first, Db, Outcome, StoreError};
pub use row::{Row, RowError};
pub use statement::{Param, Sql, Statement};

/// Every statement the store has, by module. The native coverage test runs each module's
/// scenarios and fails if one of these is never executed; a second test fails if a `Sql`
/// constant in `src/store/` is missing here.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn registry() -> Vec<&'static Sql> {
    let modules: [&[&'static Sql]; 12] = [
        tenants::STATEMENTS,
        grants::STATEMENTS,
        grant_writes::STATEMENTS,
        sweep::STATEMENTS,
        connections::STATEMENTS,
        events::STATEMENTS,
        targets::STATEMENTS,
        posts::STATEMENTS,
        sessions::STATEMENTS,
        webhooks::STATEMENTS,
        operations::STATEMENTS,
        seeding::STATEMENTS,
    ];
    let mut all: Vec<&'static Sql> = modules.into_iter().flatten().copied().collect();
    all.extend(erasure::statements());
    all
}
