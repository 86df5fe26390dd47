//! Webhook endpoints (a tenant's receivers, their signing secrets sealed by the caller) and
//! the deliveries to them: the outbox rows `store::events` writes, attempted by the webhook
//! queue's consumer, listed and redelivered through the API.

use super::statement::{Param, Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::webhooks::webhook_retry::DeliveryStatus::{self, Delivered, Failed, Pending};

/// Why pending deliveries of a deleted endpoint end as failed.
const ENDPOINT_DELETED: &str = "the endpoint was deleted";

pub const COUNT_LIVE: Sql = Sql {
    name: "webhooks.count_live",
    text: "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?1 AND deleted_at IS NULL",
};
pub const CREATE: Sql = Sql {
    name: "webhooks.create",
    text: "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, \
             secret_ciphertext, key_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
pub const LIST: Sql = Sql {
    name: "webhooks.list",
    text: "SELECT id, url, description, event_types, created_at, previous_secret_expires_at \
           FROM webhook_endpoints \
           WHERE tenant_id = ?1 AND deleted_at IS NULL ORDER BY created_at, id",
};
pub const FIND: Sql = Sql {
    name: "webhooks.find",
    text: "SELECT id, url, description, event_types, created_at, previous_secret_expires_at \
           FROM webhook_endpoints \
           WHERE tenant_id = ?1 AND deleted_at IS NULL AND id = ?2",
};
pub const SECRET: Sql = Sql {
    name: "webhooks.secret",
    text: "SELECT secret_ciphertext, key_id FROM webhook_endpoints \
           WHERE tenant_id = ?1 AND deleted_at IS NULL AND id = ?2",
};
pub const ROTATE: Sql = Sql {
    name: "webhooks.rotate",
    text: "UPDATE webhook_endpoints SET secret_ciphertext = ?1, key_id = ?2, \
             previous_secret_ciphertext = ?3, previous_key_id = ?4, \
             previous_secret_expires_at = ?5 \
           WHERE tenant_id = ?6 AND id = ?7 AND deleted_at IS NULL \
             AND secret_ciphertext = ?8 AND key_id = ?9",
};
pub const END_OVERLAPS: Sql = Sql {
    name: "webhooks.end_overlaps",
    text: "UPDATE webhook_endpoints SET previous_secret_ciphertext = NULL, \
             previous_key_id = NULL, previous_secret_expires_at = NULL \
           WHERE previous_secret_expires_at <= ?1",
};
pub const DELETE: Sql = Sql {
    name: "webhooks.delete",
    text: "UPDATE webhook_endpoints SET deleted_at = ?1, previous_secret_ciphertext = NULL, \
             previous_key_id = NULL, previous_secret_expires_at = NULL \
           WHERE id = ?2 AND tenant_id = ?3",
};
pub const FAIL_PENDING_OF_ENDPOINT: Sql = Sql {
    name: "webhooks.fail_pending_of_endpoint",
    text: "UPDATE webhook_deliveries SET status = ?2, last_error = ?3 \
           WHERE endpoint_id = ?1 AND +status = ?4 AND +tenant_id = ?5",
};
/// A delivery as the delivery log shows it, with its event's type and stream.
macro_rules! delivery_row {
    () => {
        "SELECT d.id, d.event_id, e.type AS kind, e.connection_id, e.target_id, e.post_id, \
           e.seq, d.status, d.attempts, d.last_status, d.last_error, d.first_attempt_at, \
           d.last_attempt_at, d.next_attempt_at, d.delivered_at, d.created_at \
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id "
    };
}

pub const DELIVERIES: Sql = Sql {
    name: "webhooks.deliveries",
    text: concat!(
        delivery_row!(),
        "WHERE d.tenant_id = ?1 AND d.endpoint_id = ?2 AND (?3 IS NULL OR d.status = ?3) \
           AND (d.created_at, d.id) < (?5, ?6) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT ?4"
    ),
};
pub const DELIVERY: Sql = Sql {
    name: "webhooks.delivery",
    text: concat!(delivery_row!(), "WHERE d.tenant_id = ?1 AND d.id = ?2"),
};
pub const REDELIVER: Sql = Sql {
    name: "webhooks.redeliver",
    text: "UPDATE webhook_deliveries SET status = ?4, first_attempt_at = NULL, \
             next_attempt_at = ?1, enqueued_at = ?1 \
           WHERE id = ?2 AND tenant_id = ?3 AND EXISTS (SELECT 1 FROM webhook_endpoints w \
             WHERE w.id = webhook_deliveries.endpoint_id AND w.deleted_at IS NULL)",
};
pub const TO_ATTEMPT: Sql = Sql {
    name: "webhooks.to_attempt",
    text: "SELECT d.status, d.attempts, d.first_attempt_at, e.id AS event_id, e.type AS kind, \
             e.seq, e.colour, e.reason, e.message, e.occurred_at, e.body, e.connection_id, \
             e.grant_id, e.tenant_id, c.end_user_ref, g.provider, g.epoch, \
             w.id AS endpoint_id, w.url, w.secret_ciphertext, w.key_id, \
             w.previous_secret_ciphertext, w.previous_key_id, w.previous_secret_expires_at, \
             w.deleted_at AS endpoint_deleted \
           FROM webhook_deliveries d \
           JOIN events e ON e.id = d.event_id \
           JOIN webhook_endpoints w ON w.id = d.endpoint_id \
           LEFT JOIN connections c ON c.id = e.connection_id \
           LEFT JOIN grants g ON g.id = e.grant_id \
           WHERE d.id = ?1",
};
pub const FAIL_PENDING: Sql = Sql {
    name: "webhooks.fail_pending",
    text: "UPDATE webhook_deliveries SET status = ?2, last_error = ?3 \
           WHERE id = ?1 AND status = ?4",
};
pub const RECORD_ATTEMPT: Sql = Sql {
    name: "webhooks.record_attempt",
    text: "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, \
             first_attempt_at = COALESCE(first_attempt_at, ?3), last_attempt_at = ?4, \
             last_status = ?5, last_error = ?6, next_attempt_at = ?7, enqueued_at = ?4, \
             delivered_at = CASE WHEN ?1 = ?10 THEN ?4 ELSE delivered_at END \
           WHERE id = ?8 AND status = ?9",
};
pub const FREEZE_BODY: Sql = Sql {
    name: "webhooks.freeze_body",
    text: "UPDATE events SET body = ?1 WHERE id = ?2 AND body IS NULL",
};
pub const BODY: Sql = Sql {
    name: "webhooks.body",
    text: "SELECT body FROM events WHERE id = ?1",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &COUNT_LIVE,
    &CREATE,
    &LIST,
    &FIND,
    &SECRET,
    &ROTATE,
    &END_OVERLAPS,
    &DELETE,
    &FAIL_PENDING_OF_ENDPOINT,
    &DELIVERIES,
    &DELIVERY,
    &REDELIVER,
    &TO_ATTEMPT,
    &FAIL_PENDING,
    &RECORD_ATTEMPT,
    &FREEZE_BODY,
    &BODY,
];

fn status(s: DeliveryStatus) -> Param {
    s.as_str().into()
}

/// How many live endpoints the tenant has (`n`).
pub fn count_live(tenant_id: &TenantId) -> Statement {
    COUNT_LIVE.bind(vec![tenant_id.into()])
}

/// An endpoint to store, its secret sealed.
pub struct NewEndpoint<'a> {
    pub id: &'a str,
    pub tenant_id: &'a TenantId,
    pub url: &'a str,
    pub description: Option<&'a str>,
    /// `*`, or event types separated by spaces.
    pub event_types: &'a str,
    pub secret_ciphertext: &'a str,
    pub key_id: &'a str,
    pub now: Timestamp,
}

pub fn create(e: &NewEndpoint<'_>) -> Statement {
    CREATE.bind(vec![
        e.id.into(),
        e.tenant_id.into(),
        e.url.into(),
        e.description.into(),
        e.event_types.into(),
        e.secret_ciphertext.into(),
        e.key_id.into(),
        e.now.into(),
    ])
}

/// The tenant's live endpoints, oldest first (`id, url, description, event_types,
/// created_at, previous_secret_expires_at`).
pub fn list(tenant_id: &TenantId) -> Statement {
    LIST.bind(vec![tenant_id.into()])
}

/// The tenant's live endpoint.
pub fn find(tenant_id: &TenantId, endpoint_id: &str) -> Statement {
    FIND.bind(vec![tenant_id.into(), endpoint_id.into()])
}

/// The tenant's live endpoint's sealed secret (`secret_ciphertext, key_id`).
pub fn secret(tenant_id: &TenantId, endpoint_id: &str) -> Statement {
    SECRET.bind(vec![tenant_id.into(), endpoint_id.into()])
}

/// A rotation: the new secret, and the one it replaces (sealed again as the previous secret)
/// with the end of its overlap.
pub struct Rotation<'a> {
    pub tenant_id: &'a TenantId,
    pub endpoint_id: &'a str,
    /// The secret as read (key id, ciphertext): the rotation lands only if it is unchanged.
    pub read: (&'a str, &'a str),
    /// The new secret (key id, ciphertext).
    pub new: (&'a str, &'a str),
    /// The replaced secret sealed as the previous one (key id, ciphertext).
    pub previous: (&'a str, &'a str),
    pub previous_expires_at: Timestamp,
}

/// Rotates a live endpoint's secret, if it is still the one read (1 row) or not (0: it was
/// rotated or deleted meanwhile).
pub fn rotate(r: &Rotation<'_>) -> Statement {
    ROTATE.bind(vec![
        r.new.1.into(),
        r.new.0.into(),
        r.previous.1.into(),
        r.previous.0.into(),
        r.previous_expires_at.into(),
        r.tenant_id.into(),
        r.endpoint_id.into(),
        r.read.1.into(),
        r.read.0.into(),
    ])
}

/// Deletes the previous secrets whose overlap ended by `now`.
pub fn end_overlaps(now: Timestamp) -> Statement {
    END_OVERLAPS.bind(vec![now.into()])
}

/// Deletes the tenant's endpoint (its previous secret erased), and ends its pending deliveries
/// as failed: both in one batch.
pub fn delete(endpoint_id: &str, tenant_id: &TenantId, now: Timestamp) -> [Statement; 2] {
    [
        DELETE.bind(vec![now.into(), endpoint_id.into(), tenant_id.into()]),
        FAIL_PENDING_OF_ENDPOINT.bind(vec![
            endpoint_id.into(),
            status(Failed),
            ENDPOINT_DELETED.into(),
            status(Pending),
            tenant_id.into(),
        ]),
    ]
}

/// A page of the endpoint's deliveries (of one status, if asked), newest first (ties by id),
/// before `before` (the last row of the page before: `created_at`, id).
pub fn deliveries(
    tenant_id: &TenantId,
    endpoint_id: &str,
    only: Option<DeliveryStatus>,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Statement {
    let (before_created, before_id) = before.unwrap_or((super::NEWEST, ""));
    DELIVERIES.bind(vec![
        tenant_id.into(),
        endpoint_id.into(),
        only.map(DeliveryStatus::as_str).into(),
        limit.into(),
        before_created.into(),
        before_id.into(),
    ])
}

/// One of the tenant's deliveries.
pub fn delivery(tenant_id: &TenantId, delivery_id: &str) -> Statement {
    DELIVERY.bind(vec![tenant_id.into(), delivery_id.into()])
}

/// The tenant's delivery to a live endpoint, pending again with a new retry window, sent now.
pub fn redeliver(delivery_id: &str, tenant_id: &TenantId, now: Timestamp) -> Statement {
    REDELIVER.bind(vec![
        now.into(),
        delivery_id.into(),
        tenant_id.into(),
        status(Pending),
    ])
}

/// Everything an attempt needs: the delivery, its event, the endpoint (secret sealed), the
/// connection's end user and the grant's epoch (for a reconnect link).
pub fn to_attempt(delivery_id: &str) -> Statement {
    TO_ATTEMPT.bind(vec![delivery_id.into()])
}

/// A pending delivery whose endpoint was deleted ends as failed.
pub fn fail_pending(delivery_id: &str) -> Statement {
    FAIL_PENDING.bind(vec![
        delivery_id.into(),
        status(Failed),
        ENDPOINT_DELETED.into(),
        status(Pending),
    ])
}

/// An attempt's outcome.
pub struct Attempt<'a> {
    pub delivery_id: &'a str,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub first_attempt_at: Timestamp,
    /// The receiver's HTTP status; `None`: no answer.
    pub http_status: Option<u16>,
    pub error: Option<&'a str>,
    pub next_attempt_at: Timestamp,
    pub now: Timestamp,
}

/// Records an attempt on a delivery still pending.
pub fn record_attempt(a: &Attempt<'_>) -> Statement {
    RECORD_ATTEMPT.bind(vec![
        status(a.status),
        i64::from(a.attempts).into(),
        a.first_attempt_at.into(),
        a.now.into(),
        a.http_status.map(i64::from).into(),
        a.error.into(),
        a.next_attempt_at.into(),
        a.delivery_id.into(),
        status(Pending),
        status(Delivered),
    ])
}

/// Stores an event's body the first time it is rendered (every attempt sends the same bytes).
pub fn freeze_body(event_id: &str, body: &str) -> Statement {
    FREEZE_BODY.bind(vec![body.into(), event_id.into()])
}

/// The event's body as stored (`body`).
pub fn body(event_id: &str) -> Statement {
    BODY.bind(vec![event_id.into()])
}
