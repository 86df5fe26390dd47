//! Events and the outbox: one row per change of a connection's (or a post target's) standing,
//! and one `webhook_deliveries` row per subscribed endpoint, written in the batch of the change
//! they describe, then handed to the webhook queue.
//!
//! Event and delivery ids minted here by the `INSERT … SELECT` fan-outs have a SQL-made body:
//! `evt_` or `dlv_` and 32 lower-case hex digits of `randomblob(16)`.

use super::statement::{Param, Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::grant_events::Transition;
use crate::core::webhooks::webhook_retry::DeliveryStatus;

/// The grant as the batch leaves it; an event insert is guarded on it, because a batch goes on
/// when an UPDATE matched nothing, and then the event must not appear either.
pub struct Guard<'a> {
    pub grant_id: &'a GrantId,
    pub version: i64,
    /// `grants.state` after the write.
    pub state: &'a str,
    /// `grants.refresh_state` after the write.
    pub refresh_state: &'a str,
}

/// A post target's event, its body rendered by the caller.
pub struct PostEvent<'a> {
    pub id: &'a str,
    pub seq: i64,
    pub kind: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub dedupe_key: &'a str,
    pub body: &'a str,
    pub target_id: &'a str,
    /// The target's state as settled: the insert is guarded on it and on `occurred_at`.
    pub target_state: &'a str,
    pub occurred_at: Timestamp,
}

pub const RECORD_TRANSITION: Sql = Sql {
    name: "events.record_transition",
    text: "INSERT OR IGNORE INTO events (id, tenant_id, grant_id, connection_id, seq, type, \
             colour, reason, message, dedupe_key, occurred_at) \
           SELECT 'evt_' || lower(hex(randomblob(16))), c.tenant_id, c.grant_id, c.id, \
             (SELECT COALESCE(MAX(e.seq), 0) + 1 FROM events e \
                WHERE e.connection_id = c.id AND e.target_id IS NULL), \
             ?1, ?2, ?3, ?4, c.id || ':' || ?5, ?6 \
           FROM connections c \
           WHERE c.grant_id = ?7 AND c.disconnected_at IS NULL AND (?11 IS NULL OR c.id = ?11) \
             AND EXISTS (SELECT 1 FROM grants g WHERE g.id = ?7 AND g.version = ?8 \
                         AND g.state = ?9 AND g.refresh_state = ?10) \
           RETURNING connection_id",
};
pub const ENQUEUE_DELIVERIES: Sql = Sql {
    name: "events.enqueue_deliveries",
    text: "INSERT OR IGNORE INTO webhook_deliveries (id, event_id, endpoint_id, tenant_id, \
             next_attempt_at, created_at) \
           SELECT 'dlv_' || lower(hex(randomblob(16))), e.id, w.id, e.tenant_id, ?3, ?3 \
           FROM events e JOIN webhook_endpoints w \
             ON w.tenant_id = e.tenant_id AND w.deleted_at IS NULL \
             AND (w.event_types = '*' OR instr(' ' || w.event_types || ' ', ' ' || e.type || ' ') > 0) \
           WHERE e.grant_id = ?1 AND e.occurred_at = ?3 \
             AND e.dedupe_key = COALESCE(e.target_id, e.connection_id) || ':' || ?2",
};
pub const NEXT_SEQ: Sql = Sql {
    name: "events.next_seq",
    text: "SELECT COALESCE(MAX(seq), 0) + 1 AS seq FROM events WHERE target_id = ?1",
};
pub const RECORD_POST: Sql = Sql {
    name: "events.record_post",
    text: "INSERT OR IGNORE INTO events (id, tenant_id, grant_id, connection_id, target_id, \
             post_id, seq, type, colour, reason, message, dedupe_key, occurred_at, body) \
           SELECT ?1, t.tenant_id, t.grant_id, t.connection_id, t.id, t.post_id, ?2, ?3, ?11, ?4, \
             ?5, t.id || ':' || ?6, ?7, ?8 \
           FROM post_targets t WHERE t.id = ?9 AND t.state = ?10 AND t.updated_at = ?7",
};
pub const HAND_OFF: Sql = Sql {
    name: "events.hand_off",
    text: "UPDATE webhook_deliveries SET enqueued_at = ?1 \
           WHERE +status = ?3 AND enqueued_at IS NULL AND event_id IN \
             (SELECT id FROM events WHERE grant_id = ?2 AND occurred_at = ?1) \
           RETURNING id, endpoint_id",
};
pub const RESEND_OVERDUE: Sql = Sql {
    name: "events.resend_overdue",
    text: "UPDATE webhook_deliveries SET enqueued_at = ?1 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE status = ?4 \
                AND next_attempt_at <= ?2 AND (enqueued_at IS NULL OR enqueued_at <= ?2) \
              ORDER BY next_attempt_at LIMIT ?3) \
           RETURNING id, endpoint_id",
};

pub const OF_CONNECTION: Sql = Sql {
    name: "events.of_connection",
    text: "SELECT id, seq, type, colour, reason, message, occurred_at FROM events \
           WHERE connection_id = ?1 AND target_id IS NULL AND +tenant_id = ?2 AND seq > ?4 \
           ORDER BY seq LIMIT ?3",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &OF_CONNECTION,
    &RECORD_TRANSITION,
    &ENQUEUE_DELIVERIES,
    &NEXT_SEQ,
    &RECORD_POST,
    &HAND_OFF,
    &RESEND_OVERDUE,
];

/// The colour post events carry: they describe a post, not a connection's health.
const POST_COLOUR: &str = "none";

/// `transition`'s rows for the grant's live connections (or only `only_connection`), guarded
/// on the grant being as `guard` says. Returns the connection ids it inserted for.
pub fn record_transition(
    guard: &Guard<'_>,
    transition: &Transition,
    only_connection: Option<&str>,
    now: Timestamp,
) -> Statement {
    RECORD_TRANSITION.bind(vec![
        transition.kind.as_str().into(),
        transition.health.colour.as_str().into(),
        transition.health.reason.into(),
        transition.health.message.as_str().into(),
        transition.dedupe_key.as_str().into(),
        now.into(),
        guard.grant_id.into(),
        guard.version.into(),
        guard.state.into(),
        guard.refresh_state.into(),
        only_connection.into(),
    ])
}

/// One outbox row per subscribed endpoint of the tenant for the grant's events written at
/// `now` under `dedupe_key` (without the connection or target prefix).
pub fn enqueue_deliveries(grant_id: &GrantId, dedupe_key: &str, now: Timestamp) -> Statement {
    ENQUEUE_DELIVERIES.bind(vec![grant_id.into(), dedupe_key.into(), now.into()])
}

/// The next sequence number of a post target's events (column `seq`): each target's events
/// are a sequence of their own.
pub fn next_seq(target_id: &str) -> Statement {
    NEXT_SEQ.bind(vec![target_id.into()])
}

/// A post target's event, written only if the target is still as settled.
pub fn record_post(event: &PostEvent<'_>) -> Statement {
    RECORD_POST.bind(vec![
        event.id.into(),
        event.seq.into(),
        event.kind.into(),
        event.reason.into(),
        event.message.into(),
        event.dedupe_key.into(),
        event.occurred_at.into(),
        event.body.into(),
        event.target_id.into(),
        event.target_state.into(),
        POST_COLOUR.into(),
    ])
}

/// Marks the pending, never-sent deliveries of the grant's events written at `now` as sent
/// now; returns `id, endpoint_id` of each.
pub fn hand_off(grant_id: &GrantId, now: Timestamp) -> Statement {
    HAND_OFF.bind(vec![
        now.into(),
        grant_id.into(),
        DeliveryStatus::Pending.as_str().into(),
    ])
}

/// Marks up to `limit` pending deliveries due before `overdue` and not sent since as sent
/// `now`; returns `id, endpoint_id` of each.
pub fn resend_overdue(now: Timestamp, overdue: Timestamp, limit: i64) -> Statement {
    RESEND_OVERDUE.bind(vec![
        now.into(),
        overdue.into(),
        limit.into(),
        Param::from(DeliveryStatus::Pending.as_str()),
    ])
}

/// The tenant's connection's own events (not its post targets') in order (`id, seq, type,
/// colour, reason, message, occurred_at`), those after `after_seq` (0: from the first), at
/// most `limit`.
pub fn of_connection(
    connection_id: &str,
    tenant_id: &TenantId,
    after_seq: i64,
    limit: i64,
) -> Statement {
    OF_CONNECTION.bind(vec![
        connection_id.into(),
        tenant_id.into(),
        limit.into(),
        after_seq.into(),
    ])
}
