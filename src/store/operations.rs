//! Operations: what keeps the worker itself in order: the cron's heartbeats and housekeeping
//! (expired sessions, retention), the metrics' reads, the platforms' circuit breakers and
//! daily API quotas, the data-key rotation's reseals, dead letters, the token-read audit, the
//! platforms' data-deletion requests, and the test build's clock.

use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::core::publish::posts::TargetState;
use crate::core::webhooks::webhook_retry::DeliveryStatus;

pub const QUOTA_USED: Sql = Sql {
    name: "operations.quota_used",
    text: "SELECT units FROM quota_usage WHERE provider = ?1 AND day = ?2",
};
pub const SPEND_QUOTA: Sql = Sql {
    name: "operations.spend_quota",
    text: "INSERT INTO quota_usage (provider, day, units) VALUES (?1, ?2, ?3) \
           ON CONFLICT (provider, day) DO UPDATE SET units = units + excluded.units \
           WHERE ?4 IS NULL OR quota_usage.units + excluded.units <= ?4",
};

pub const RECORD_DELETION: Sql = Sql {
    name: "operations.record_deletion",
    text: "INSERT INTO data_deletions (code, provider, user_hash, grants, connections, status, \
             requested_at, completed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
pub const DELETION: Sql = Sql {
    name: "operations.deletion",
    text: "SELECT status, connections, requested_at FROM data_deletions \
           WHERE code = ?1 AND provider = ?2",
};

pub const PURGE_OAUTH_SESSIONS: Sql = Sql {
    name: "operations.purge_oauth_sessions",
    text: "DELETE FROM oauth_sessions WHERE expires_at < ?1",
};
pub const PURGE_CONNECT_SESSIONS: Sql = Sql {
    name: "operations.purge_connect_sessions",
    text: "DELETE FROM connect_sessions WHERE expires_at < ?1 AND NOT EXISTS \
             (SELECT 1 FROM oauth_sessions o WHERE o.connect_session_id = connect_sessions.id)",
};
pub const PURGE_PAGE_SESSIONS: Sql = Sql {
    name: "operations.purge_page_sessions",
    text: "DELETE FROM page_sessions WHERE expires_at < ?1",
};
pub const PRUNE_DELIVERIES: Sql = Sql {
    name: "operations.prune_deliveries",
    text: "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries \
             WHERE status IN (?3, ?4) AND created_at < ?1 LIMIT ?2)",
};
pub const PRUNE_EVENTS: Sql = Sql {
    name: "operations.prune_events",
    text: "DELETE FROM events WHERE id IN (SELECT e.id FROM events e \
             WHERE e.occurred_at < ?1 \
               AND e.seq < (SELECT MAX(l.seq) FROM events l \
                 WHERE l.connection_id = e.connection_id AND l.target_id IS e.target_id) \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id) \
             LIMIT ?2)",
};
pub const PRUNE_TOKEN_READS: Sql = Sql {
    name: "operations.prune_token_reads",
    text: "DELETE FROM token_reads WHERE id IN \
             (SELECT id FROM token_reads WHERE at < ?1 LIMIT ?2)",
};
pub const PRUNE_RECONNECT_NONCES: Sql = Sql {
    name: "operations.prune_reconnect_nonces",
    text: "DELETE FROM reconnect_nonces WHERE nonce IN \
             (SELECT nonce FROM reconnect_nonces WHERE consumed_at < ?1 LIMIT ?2)",
};
pub const RECORD_HEARTBEAT: Sql = Sql {
    name: "operations.record_heartbeat",
    text: "INSERT INTO cron_heartbeats \
             (job, runs, failures, last_scheduled_at, last_started_at, last_finished_at, \
              last_outcome) \
           VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6) \
           ON CONFLICT (job) DO UPDATE SET \
             runs = runs + 1, \
             failures = failures + excluded.failures, \
             last_scheduled_at = excluded.last_scheduled_at, \
             last_started_at = excluded.last_started_at, \
             last_finished_at = excluded.last_finished_at, \
             last_outcome = excluded.last_outcome",
};
pub const HEARTBEATS: Sql = Sql {
    name: "operations.heartbeats",
    text: "SELECT job, runs, failures, last_scheduled_at, last_finished_at, last_outcome \
           FROM cron_heartbeats ORDER BY job",
};
pub const GRANT_STANDINGS: Sql = Sql {
    name: "operations.grant_standings",
    text: "SELECT provider, \
             CASE WHEN token_ciphertext IS NULL THEN ?2 \
                  WHEN state = ?6 THEN ?3 \
                  WHEN refresh_state != ?7 THEN ?4 ELSE ?5 END \
               AS standing, \
             COUNT(*) AS grants, \
             SUM(CASE WHEN last_refresh_at >= ?1 THEN 1 ELSE 0 END) AS refreshed_24h, \
             SUM(CASE WHEN last_failure_at >= ?1 THEN 1 ELSE 0 END) AS failed_24h, \
             SUM(CASE WHEN token_ciphertext IS NOT NULL \
                   AND (last_validated_at >= ?1 OR last_refresh_at >= ?1) \
                 THEN 1 ELSE 0 END) AS checked_24h \
           FROM grants GROUP BY provider, standing ORDER BY provider, standing",
};
pub const EVENT_COUNTS: Sql = Sql {
    name: "operations.event_counts",
    text: "SELECT g.provider AS provider, e.type AS kind, COUNT(*) AS n \
           FROM events e JOIN grants g ON g.id = e.grant_id \
           WHERE e.occurred_at >= ?1 GROUP BY g.provider, e.type ORDER BY 1, 2",
};
pub const SWEEP_BACKLOG: Sql = Sql {
    name: "operations.sweep_backlog",
    text:
        "SELECT COUNT(*) AS n, MIN(next_check_at) AS oldest FROM grants WHERE next_check_at <= ?1",
};
pub const OUTBOX_BACKLOG: Sql = Sql {
    name: "operations.outbox_backlog",
    text: "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM webhook_deliveries \
           WHERE status = ?1",
};
pub const PUBLISH_BACKLOG: Sql = Sql {
    name: "operations.publish_backlog",
    text: "SELECT COUNT(*) AS n, MIN(not_before) AS oldest FROM post_targets \
           WHERE state IN (?2, ?3) AND not_before <= ?1",
};
pub const DEAD_LETTER_BACKLOG: Sql = Sql {
    name: "operations.dead_letter_backlog",
    text: "SELECT COUNT(*) AS n, MIN(received_at) AS oldest FROM dead_letters \
           WHERE replayed_at IS NULL",
};
pub const SEALED_BY_KEY: Sql = Sql {
    name: "operations.sealed_by_key",
    text: "SELECT 'grants' AS table_name, key_id, COUNT(*) AS n FROM grants \
             WHERE token_ciphertext IS NOT NULL GROUP BY key_id \
           UNION ALL SELECT 'tenant_clients', key_id, COUNT(*) FROM tenant_clients \
             GROUP BY key_id \
           UNION ALL SELECT 'webhook_endpoints', key_id, COUNT(*) FROM webhook_endpoints \
             GROUP BY key_id \
           UNION ALL SELECT 'webhook_previous_secrets', previous_key_id, COUNT(*) \
             FROM webhook_endpoints WHERE previous_secret_ciphertext IS NOT NULL \
             GROUP BY previous_key_id \
           UNION ALL SELECT 'oauth_sessions', key_id, COUNT(*) FROM oauth_sessions \
             WHERE consumed_at IS NULL AND expires_at > ?1 GROUP BY key_id",
};
pub const CIRCUIT: Sql = Sql {
    name: "operations.circuit",
    text: "SELECT consecutive_failures, open_until FROM platform_circuits WHERE provider = ?1",
};
pub const CLAIM_PROBE: Sql = Sql {
    name: "operations.claim_probe",
    text: "UPDATE platform_circuits SET open_until = ?1, updated_at = ?2 \
           WHERE provider = ?3 AND (open_until IS NULL OR open_until <= ?2)",
};
pub const CIRCUIT_FAILED: Sql = Sql {
    name: "operations.circuit_failed",
    text: "INSERT INTO platform_circuits (provider, consecutive_failures, open_until, updated_at) \
           VALUES (?1, 1, CASE WHEN 1 >= ?2 THEN ?3 ELSE NULL END, ?4) \
           ON CONFLICT (provider) DO UPDATE SET \
             consecutive_failures = consecutive_failures + 1, \
             open_until = CASE WHEN consecutive_failures + 1 >= ?2 THEN ?3 ELSE open_until END, \
             updated_at = ?4",
};
pub const CIRCUIT_CLOSED: Sql = Sql {
    name: "operations.circuit_closed",
    text: "UPDATE platform_circuits SET consecutive_failures = 0, open_until = NULL, \
             updated_at = ?1 WHERE provider = ?2",
};
pub const GRANTS_TO_RESEAL: Sql = Sql {
    name: "operations.grants_to_reseal",
    text: "SELECT id FROM grants WHERE (key_id < ?1 OR key_id > ?1) \
             AND token_ciphertext IS NOT NULL LIMIT ?2",
};
pub const CLIENTS_TO_RESEAL: Sql = Sql {
    name: "operations.clients_to_reseal",
    text: "SELECT tenant_id, provider AS row_id, secret_ciphertext AS ciphertext, key_id \
           FROM tenant_clients WHERE (key_id < ?1 OR key_id > ?1) LIMIT ?2",
};
pub const RESEAL_CLIENT: Sql = Sql {
    name: "operations.reseal_client",
    text: "UPDATE tenant_clients SET secret_ciphertext = ?1, key_id = ?2 \
           WHERE tenant_id = ?3 AND provider = ?4 AND key_id = ?5 AND secret_ciphertext = ?6",
};
pub const ENDPOINTS_TO_RESEAL: Sql = Sql {
    name: "operations.endpoints_to_reseal",
    text: "SELECT tenant_id, id AS row_id, secret_ciphertext AS ciphertext, key_id \
           FROM webhook_endpoints WHERE (key_id < ?1 OR key_id > ?1) LIMIT ?2",
};
pub const RESEAL_ENDPOINT: Sql = Sql {
    name: "operations.reseal_endpoint",
    text: "UPDATE webhook_endpoints SET secret_ciphertext = ?1, key_id = ?2 \
           WHERE tenant_id = ?3 AND id = ?4 AND key_id = ?5 AND secret_ciphertext = ?6",
};
pub const PREVIOUS_SECRETS_TO_RESEAL: Sql = Sql {
    name: "operations.previous_secrets_to_reseal",
    text: "SELECT tenant_id, id AS row_id, previous_secret_ciphertext AS ciphertext, \
             previous_key_id AS key_id \
           FROM webhook_endpoints WHERE previous_secret_ciphertext IS NOT NULL \
             AND (previous_key_id < ?1 OR previous_key_id > ?1) LIMIT ?2",
};
pub const RESEAL_PREVIOUS_SECRET: Sql = Sql {
    name: "operations.reseal_previous_secret",
    text: "UPDATE webhook_endpoints SET previous_secret_ciphertext = ?1, previous_key_id = ?2 \
           WHERE tenant_id = ?3 AND id = ?4 AND previous_key_id = ?5 \
             AND previous_secret_ciphertext = ?6",
};
pub const DEAD_LETTERS: Sql = Sql {
    name: "operations.dead_letters",
    text: "SELECT id, queue, message_id, body, reason, received_at, replayed_at FROM dead_letters \
           WHERE (?1 IS NULL OR queue = ?1) AND id < ?3 ORDER BY id DESC LIMIT ?2",
};
pub const DEAD_LETTER: Sql = Sql {
    name: "operations.dead_letter",
    text: "SELECT id, queue, message_id, body, reason, received_at, replayed_at \
           FROM dead_letters WHERE id = ?1",
};
pub const MARK_REPLAYED: Sql = Sql {
    name: "operations.mark_replayed",
    text: "UPDATE dead_letters SET replayed_at = ?1 WHERE id = ?2",
};
pub const RECORD_DEAD_LETTER: Sql = Sql {
    name: "operations.record_dead_letter",
    text: "INSERT OR IGNORE INTO dead_letters (queue, message_id, body, reason, received_at) \
           VALUES (?1, ?2, ?3, ?4, ?5)",
};
pub const RECORD_TOKEN_READ: Sql = Sql {
    name: "operations.record_token_read",
    text: "INSERT INTO token_reads (tenant_id, api_key_id, connection_id, grant_id, \
             outcome, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};
/// A read the grant's object buffered, written when the object flushes its buffer: only while
/// the connection is still stored and its tenant not deleted, so a flush never brings back a
/// row an erasure removed (the end user's connections go last; a deleted tenant's rows go after
/// its `deleted_at` is set).
pub const FLUSH_TOKEN_READ: Sql = Sql {
    name: "operations.flush_token_read",
    text: "INSERT INTO token_reads (tenant_id, api_key_id, connection_id, grant_id, \
             outcome, at) \
           SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
           WHERE EXISTS (SELECT 1 FROM connections WHERE id = ?3 AND tenant_id = ?1) \
             AND NOT EXISTS \
               (SELECT 1 FROM tenants WHERE id = ?1 AND deleted_at IS NOT NULL)",
};
pub const TEST_CLOCK: Sql = Sql {
    name: "operations.test_clock",
    text: "SELECT offset_ms, frozen_at FROM test_clock WHERE id = 1",
};
#[cfg(any(test, feature = "test-powers"))]
pub const SET_TEST_CLOCK: Sql = Sql {
    name: "operations.set_test_clock",
    text: "INSERT INTO test_clock (id, offset_ms, frozen_at) VALUES (1, ?1, ?2) \
           ON CONFLICT (id) DO UPDATE SET offset_ms = excluded.offset_ms, \
             frozen_at = excluded.frozen_at",
};
#[cfg(any(test, feature = "test-powers"))]
pub const FLOW_COUNTS: Sql = Sql {
    name: "operations.flow_counts",
    text: "SELECT (SELECT COUNT(*) FROM grants) AS grants, \
             (SELECT COUNT(*) FROM connections) AS connections, \
             (SELECT COUNT(*) FROM connect_sessions) AS connect_sessions, \
             (SELECT COUNT(*) FROM connect_sessions WHERE opened_at IS NOT NULL) \
               AS opened_connect_sessions, \
             (SELECT COUNT(*) FROM oauth_sessions) AS oauth_sessions, \
             (SELECT COUNT(*) FROM oauth_sessions WHERE consumed_at IS NOT NULL) \
               AS consumed_oauth_sessions, \
             (SELECT COUNT(*) FROM token_reads) AS token_reads, \
             (SELECT COUNT(*) FROM page_sessions) AS page_sessions",
};
#[cfg(any(test, feature = "bench"))]
pub const GRANT_VERSIONS: Sql = Sql {
    name: "operations.grant_versions",
    text: "SELECT version, state, COUNT(*) AS n FROM grants GROUP BY version, state \
           ORDER BY version, state",
};
#[cfg(any(test, feature = "bench"))]
pub const ROUND_TRIP: Sql = Sql {
    name: "operations.round_trip",
    text: "SELECT id FROM grants ORDER BY id LIMIT 1",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &GRANT_VERSIONS,
    &ROUND_TRIP,
    &SET_TEST_CLOCK,
    &FLOW_COUNTS,
    &QUOTA_USED,
    &SPEND_QUOTA,
    &RECORD_DELETION,
    &DELETION,
    &PURGE_OAUTH_SESSIONS,
    &PURGE_CONNECT_SESSIONS,
    &PURGE_PAGE_SESSIONS,
    &PRUNE_DELIVERIES,
    &PRUNE_EVENTS,
    &PRUNE_TOKEN_READS,
    &PRUNE_RECONNECT_NONCES,
    &RECORD_HEARTBEAT,
    &HEARTBEATS,
    &GRANT_STANDINGS,
    &EVENT_COUNTS,
    &SWEEP_BACKLOG,
    &OUTBOX_BACKLOG,
    &PUBLISH_BACKLOG,
    &DEAD_LETTER_BACKLOG,
    &SEALED_BY_KEY,
    &CIRCUIT,
    &CLAIM_PROBE,
    &CIRCUIT_FAILED,
    &CIRCUIT_CLOSED,
    &GRANTS_TO_RESEAL,
    &CLIENTS_TO_RESEAL,
    &RESEAL_CLIENT,
    &ENDPOINTS_TO_RESEAL,
    &RESEAL_ENDPOINT,
    &PREVIOUS_SECRETS_TO_RESEAL,
    &RESEAL_PREVIOUS_SECRET,
    &DEAD_LETTERS,
    &DEAD_LETTER,
    &MARK_REPLAYED,
    &RECORD_DEAD_LETTER,
    &RECORD_TOKEN_READ,
    &FLUSH_TOKEN_READ,
    &TEST_CLOCK,
];

/// The units of `provider`'s quota used on `day` (`units`; no row: none).
pub fn quota_used(provider: &str, day: &str) -> Statement {
    QUOTA_USED.bind(vec![provider.into(), day.into()])
}

/// Adds `units` to the day's count; with `limit`, only if the total stays within it (0 rows
/// changed: the limit would be passed).
pub fn spend_quota(provider: &str, day: &str, units: u32, limit: Option<u32>) -> Statement {
    SPEND_QUOTA.bind(vec![
        provider.into(),
        day.into(),
        i64::from(units).into(),
        limit.map(i64::from).into(),
    ])
}

/// A platform's data-deletion request, as carried out.
pub struct Deletion<'a> {
    /// The confirmation code the platform shows the person.
    pub code: &'a str,
    pub provider: &'a str,
    /// SHA-256 of the platform's user id.
    pub user_hash: &'a str,
    pub grants: i64,
    pub connections: i64,
    /// `complete`, or `partial` (some connections are removed later).
    pub status: &'a str,
    pub requested_at: Timestamp,
    pub completed_at: Option<Timestamp>,
}

pub fn record_deletion(d: &Deletion<'_>) -> Statement {
    RECORD_DELETION.bind(vec![
        d.code.into(),
        d.provider.into(),
        d.user_hash.into(),
        d.grants.into(),
        d.connections.into(),
        d.status.into(),
        d.requested_at.into(),
        d.completed_at.into(),
    ])
}

/// A deletion request's status page (`status, connections, requested_at`).
pub fn deletion(code: &str, provider: &str) -> Statement {
    DELETION.bind(vec![code.into(), provider.into()])
}

/// Deletes the sessions of each kind that expired before `cutoff` (a connect session only
/// once no OAuth session points at it): OAuth first, in one batch.
pub fn purge_sessions(cutoff: Timestamp) -> Vec<Statement> {
    [
        &PURGE_OAUTH_SESSIONS,
        &PURGE_CONNECT_SESSIONS,
        &PURGE_PAGE_SESSIONS,
    ]
    .into_iter()
    .map(|sql| sql.bind(vec![cutoff.into()]))
    .collect()
}

/// What retention removes this run: rows older than each cutoff, at most `limit` per table.
pub struct Prune {
    pub deliveries_before: Timestamp,
    pub events_before: Timestamp,
    pub token_reads_before: Timestamp,
    pub reconnect_nonces_before: Timestamp,
    pub limit: i64,
}

/// Settled deliveries, then events no delivery points at (each connection's latest stays, so
/// its `seq` goes on counting), token reads and spent nonces: in one batch, in this order.
pub fn prune(p: &Prune) -> Vec<Statement> {
    vec![
        PRUNE_DELIVERIES.bind(vec![
            p.deliveries_before.into(),
            p.limit.into(),
            DeliveryStatus::Delivered.as_str().into(),
            DeliveryStatus::Failed.as_str().into(),
        ]),
        PRUNE_EVENTS.bind(vec![p.events_before.into(), p.limit.into()]),
        PRUNE_TOKEN_READS.bind(vec![p.token_reads_before.into(), p.limit.into()]),
        PRUNE_RECONNECT_NONCES.bind(vec![p.reconnect_nonces_before.into(), p.limit.into()]),
    ]
}

/// A cron run, recorded in the job's one row.
pub struct Heartbeat<'a> {
    pub job: &'a str,
    pub failed: bool,
    pub scheduled_at: Timestamp,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    /// The run's summary (JSON), or its error.
    pub outcome: &'a str,
}

pub fn record_heartbeat(h: &Heartbeat<'_>) -> Statement {
    RECORD_HEARTBEAT.bind(vec![
        h.job.into(),
        i64::from(h.failed).into(),
        h.scheduled_at.into(),
        h.started_at.into(),
        h.finished_at.into(),
        h.outcome.into(),
    ])
}

/// Every job's row (`job, runs, failures, last_scheduled_at, last_finished_at,
/// last_outcome`).
pub fn heartbeats() -> Statement {
    HEARTBEATS.bind(Vec::new())
}

/// How grants stand per platform, as `/metrics` names it.
pub mod standing {
    pub const DISCONNECTED: &str = "disconnected";
    pub const DEAD: &str = "dead";
    pub const REFRESH_FAILING: &str = "refresh_failing";
    pub const WORKING: &str = "working";
}

/// The metrics' reads, in one batch: grants per platform and standing (with their last day's
/// refreshes, failures and checks), events per platform and type, the sweep's, outbox's,
/// publish queue's and dead letters' backlogs (`n, oldest`), and stored secrets by data key
/// (`table_name, key_id, n`).
pub fn metrics(now: Timestamp, day_ago: Timestamp) -> Vec<Statement> {
    vec![
        GRANT_STANDINGS.bind(vec![
            day_ago.into(),
            standing::DISCONNECTED.into(),
            standing::DEAD.into(),
            standing::REFRESH_FAILING.into(),
            standing::WORKING.into(),
            GrantState::DEAD.into(),
            RefreshState::Ok.as_str().into(),
        ]),
        EVENT_COUNTS.bind(vec![day_ago.into()]),
        SWEEP_BACKLOG.bind(vec![now.into()]),
        OUTBOX_BACKLOG.bind(vec![DeliveryStatus::Pending.as_str().into()]),
        PUBLISH_BACKLOG.bind(vec![
            now.into(),
            TargetState::Scheduled.as_str().into(),
            TargetState::Queued.as_str().into(),
        ]),
        DEAD_LETTER_BACKLOG.bind(Vec::new()),
        SEALED_BY_KEY.bind(vec![now.into()]),
    ]
}

/// A platform's circuit (`consecutive_failures, open_until`; no row: closed, no failures).
pub fn circuit(provider: &str) -> Statement {
    CIRCUIT.bind(vec![provider.into()])
}

/// Claims the one probe through a circuit whose wait is over, holding it open until
/// `reopen_until` meanwhile (1 row changed: this caller probes).
pub fn claim_probe(provider: &str, reopen_until: Timestamp, now: Timestamp) -> Statement {
    CLAIM_PROBE.bind(vec![reopen_until.into(), now.into(), provider.into()])
}

/// One more failure in a row; the circuit opens until `open_until` at `threshold` failures.
pub fn circuit_failed(
    provider: &str,
    threshold: u32,
    open_until: Timestamp,
    now: Timestamp,
) -> Statement {
    CIRCUIT_FAILED.bind(vec![
        provider.into(),
        i64::from(threshold).into(),
        open_until.into(),
        now.into(),
    ])
}

/// A success closes the circuit.
pub fn circuit_closed(provider: &str, now: Timestamp) -> Statement {
    CIRCUIT_CLOSED.bind(vec![now.into(), provider.into()])
}

/// Grants whose tokens are sealed under another key than `active` (`id`); their objects
/// reseal them.
pub fn grants_to_reseal(active: &str, limit: i64) -> Statement {
    GRANTS_TO_RESEAL.bind(vec![active.into(), limit.into()])
}

/// The tables whose secrets the rotation reseals here (grants are resealed by their object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedTable {
    TenantClients,
    WebhookEndpoints,
    /// The secrets webhook endpoints replaced, while their overlap lasts.
    WebhookPreviousSecrets,
}

/// Rows of `table` sealed under another key than `active` (`tenant_id, row_id, ciphertext,
/// key_id`).
pub fn to_reseal(table: SealedTable, active: &str, limit: i64) -> Statement {
    let sql = match table {
        SealedTable::TenantClients => &CLIENTS_TO_RESEAL,
        SealedTable::WebhookEndpoints => &ENDPOINTS_TO_RESEAL,
        SealedTable::WebhookPreviousSecrets => &PREVIOUS_SECRETS_TO_RESEAL,
    };
    sql.bind(vec![active.into(), limit.into()])
}

/// A row's secret as resealed, if the row is still as read (compare-and-set on the old key
/// and ciphertext).
pub struct Reseal<'a> {
    pub table: SealedTable,
    pub tenant_id: &'a TenantId,
    pub row_id: &'a str,
    pub old: (&'a str, &'a str),
    pub new: (&'a str, &'a str),
}

pub fn reseal(r: &Reseal<'_>) -> Statement {
    let sql = match r.table {
        SealedTable::TenantClients => &RESEAL_CLIENT,
        SealedTable::WebhookEndpoints => &RESEAL_ENDPOINT,
        SealedTable::WebhookPreviousSecrets => &RESEAL_PREVIOUS_SECRET,
    };
    let ((old_key, old_blob), (new_key, new_blob)) = (r.old, r.new);
    sql.bind(vec![
        new_blob.into(),
        new_key.into(),
        r.tenant_id.into(),
        r.row_id.into(),
        old_key.into(),
        old_blob.into(),
    ])
}

/// A page of the dead letters, newest first (of one queue, if asked), before the id `before`.
pub fn dead_letters(queue: Option<&str>, before: Option<i64>, limit: i64) -> Statement {
    DEAD_LETTERS.bind(vec![
        queue.into(),
        limit.into(),
        before.unwrap_or(super::NEWEST).into(),
    ])
}

/// One dead letter.
pub fn dead_letter(id: i64) -> Statement {
    DEAD_LETTER.bind(vec![id.into()])
}

/// A dead letter was sent back to its work queue.
pub fn mark_replayed(id: i64, now: Timestamp) -> Statement {
    MARK_REPLAYED.bind(vec![now.into(), id.into()])
}

/// A message that exhausted its retries (once per queue and message id).
pub struct DeadLetter<'a> {
    pub queue: &'a str,
    pub message_id: &'a str,
    /// The message's body: ids only, never a token.
    pub body: &'a str,
    pub reason: &'a str,
    pub now: Timestamp,
}

pub fn record_dead_letter(d: &DeadLetter<'_>) -> Statement {
    RECORD_DEAD_LETTER.bind(vec![
        d.queue.into(),
        d.message_id.into(),
        d.body.into(),
        d.reason.into(),
        d.now.into(),
    ])
}

/// One token read through the API, for the audit.
pub struct TokenRead<'a> {
    pub tenant_id: &'a TenantId,
    pub api_key_id: &'a str,
    pub connection_id: &'a str,
    pub grant_id: Option<&'a str>,
    pub outcome: &'a str,
    pub at: Timestamp,
}

pub fn record_token_read(r: &TokenRead<'_>) -> Statement {
    RECORD_TOKEN_READ.bind(vec![
        r.tenant_id.into(),
        r.api_key_id.into(),
        r.connection_id.into(),
        r.grant_id.into(),
        r.outcome.into(),
        r.at.into(),
    ])
}

/// A buffered read, flushed from the grant's object ([`FLUSH_TOKEN_READ`]: nothing is written
/// for an erased connection or a deleted tenant).
pub fn flush_token_read(r: &TokenRead<'_>) -> Statement {
    FLUSH_TOKEN_READ.bind(vec![
        r.tenant_id.into(),
        r.api_key_id.into(),
        r.connection_id.into(),
        r.grant_id.into(),
        r.outcome.into(),
        r.at.into(),
    ])
}

/// The test build's clock (`offset_ms, frozen_at`).
pub fn test_clock() -> Statement {
    TEST_CLOCK.bind(Vec::new())
}

/// Test builds: shifts (or stops) the clock every handler reads.
#[cfg(any(test, feature = "test-powers"))]
pub fn set_test_clock(offset_ms: i64, frozen_at: Option<Timestamp>) -> Statement {
    SET_TEST_CLOCK.bind(vec![offset_ms.into(), frozen_at.into()])
}

/// Test builds: rows in the tables the connect flow writes.
#[cfg(any(test, feature = "test-powers"))]
pub fn flow_counts() -> Statement {
    FLOW_COUNTS.bind(Vec::new())
}

/// Benchmark builds: grants by token version and state (`version, state, n`).
#[cfg(any(test, feature = "bench"))]
pub fn grant_versions() -> Statement {
    GRANT_VERSIONS.bind(Vec::new())
}

/// Benchmark builds: the cheapest read, to time D1's round trip.
#[cfg(any(test, feature = "bench"))]
pub fn round_trip() -> Statement {
    ROUND_TRIP.bind(Vec::new())
}
