//! Erasure: what deleting a tenant, or one end user of a tenant, removes, and in which order.
//!
//! Both start the same way: the end user's (or tenant's) connect and OAuth sessions go first, so
//! no consent still in flight can store a new grant; then every live connection is disconnected
//! through its grant's Durable Object (the grant's only writer: it deletes the tokens with the
//! last connection and revokes at the platform under `core::grant::disconnect`'s rule). Only then are
//! the rows deleted, table by table in `store::erasure::STEPS`'s order: a table is emptied of
//! the scope's rows before the tables it references are touched, since D1 enforces foreign
//! keys; each grant's row is deleted by its object.
//!
//! - **An end user** (`DELETE /v1/end-user-data`) loses its grants, connections, events (its
//!   connections' and its posts': a post event names the target in `connection_id`) and
//!   their webhook deliveries, token reads, post targets, its posts once no other end user's
//!   target is left on them, reconnect nonces, and connect, OAuth and page sessions.
//! - **A tenant** (`DELETE /admin/tenants/{id}`) loses all of that for every end user, then its
//!   API keys, return URLs, OAuth clients, webhook endpoints and itself. It runs in the minute
//!   dispatch, [`DISCONNECTS_PER_RUN`] connections and [`ROWS_PER_RUN`] rows a run.
//!
//! Kept: Meta's data-deletion records (a hash of the platform user and counts, the proof a
//! deletion was made), dead letters (ids only, never content), the platform quota ledger and
//! circuits (per platform), and log lines already written.

/// Tables that hold something of a tenant or an end user and are kept on purpose (see above).
pub const KEPT: &[&str] = &[
    "data_deletions",
    "dead_letters",
    "quota_usage",
    "platform_circuits",
    "cron_heartbeats",
    "test_clock",
];

/// Connections a tenant's erasure disconnects per dispatch run (one object call each).
pub const DISCONNECTS_PER_RUN: usize = 100;
/// Rows a tenant's erasure deletes per dispatch run, across its tables.
pub const ROWS_PER_RUN: u32 = 5_000;
/// Rows one `DELETE /v1/end-user-data` call deletes at most; a bigger end user is finished by
/// calling it again (the answer says `"complete": false`).
pub const ROWS_PER_CALL: u32 = 20_000;
/// Deleted tenants one dispatch run works on.
pub const TENANTS_PER_RUN: u32 = 3;

/// Who is erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    EndUser,
}
