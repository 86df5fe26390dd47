//! The events table: a transition's rows, written in the same D1 batch as the state change.
//!
//! One row per live connection of the grant, each with the next number of that connection's
//! sequence (assigned inside the insert: no gaps, since the grant's Durable Object is the only
//! writer) and `connection id:dedupe key`, so a transition reached twice inserts nothing the
//! second time (`INSERT OR IGNORE`). The insert is guarded on the grant being in the state the
//! event describes at the version written: a batch does not stop when its UPDATE matched
//! nothing, and then neither must the event appear.

use super::d1::{int, text_or_null};
use super::d1_time::bind as ms;
use crate::core::clock::Timestamp;
use crate::core::grant_events::Transition;
use worker::{D1Database, D1PreparedStatement, D1Result, Result};

/// The state the grant is in once the write landed, which the event insert checks.
pub struct Written<'a> {
    pub grant_id: &'a str,
    pub version: i64,
    /// `grants.state` after the write.
    pub state: &'a str,
    /// `grants.refresh_state` after the write.
    pub refresh_state: &'a str,
}

/// The statements that record `transition` for the grant's live connections (or only
/// `only_connection`): the event rows, then one outbox row per subscribed webhook endpoint of
/// the tenant for each event inserted now (`webhook_deliveries`, handed to the webhook queue
/// by `outbox` once the batch landed).
pub fn insert(
    db: &D1Database,
    written: &Written<'_>,
    transition: &Transition,
    only_connection: Option<&str>,
    now: Timestamp,
) -> Result<Vec<D1PreparedStatement>> {
    let event = db
        .prepare(
            "INSERT OR IGNORE INTO events (id, tenant_id, grant_id, connection_id, seq, type, \
               colour, reason, message, dedupe_key, occurred_at) \
             SELECT 'evt_' || lower(hex(randomblob(16))), c.tenant_id, c.grant_id, c.id, \
               (SELECT COALESCE(MAX(e.seq), 0) + 1 FROM events e WHERE e.connection_id = c.id), \
               ?1, ?2, ?3, ?4, c.id || ':' || ?5, ?6 \
             FROM connections c \
             WHERE c.grant_id = ?7 AND c.disconnected_at IS NULL AND (?11 IS NULL OR c.id = ?11) \
               AND EXISTS (SELECT 1 FROM grants g WHERE g.id = ?7 AND g.version = ?8 \
                           AND g.state = ?9 AND g.refresh_state = ?10) \
             RETURNING connection_id",
        )
        .bind(&[
            transition.kind.as_str().into(),
            transition.health.colour.as_str().into(),
            transition.health.reason.into(),
            transition.health.message.as_str().into(),
            transition.dedupe_key.as_str().into(),
            ms(now),
            written.grant_id.into(),
            int(written.version),
            written.state.into(),
            written.refresh_state.into(),
            text_or_null(only_connection),
        ])?;
    let outbox = outbox(db, written.grant_id, &transition.dedupe_key, now)?;
    Ok(vec![event, outbox])
}

/// Where a batch records transitions: the position of each transition's event insert in the
/// batch, so that once the batch has run, each event row it inserted gets its log line.
#[derive(Default)]
pub struct Recorded<'t> {
    at: Vec<(usize, &'t Transition)>,
}

impl<'t> Recorded<'t> {
    /// Appends `transition`'s statements ([`insert`]) to `batch`, remembering where.
    pub fn push(
        &mut self,
        batch: &mut Vec<D1PreparedStatement>,
        db: &D1Database,
        written: &Written<'_>,
        transition: &'t Transition,
        only_connection: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        self.at.push((batch.len(), transition));
        batch.extend(insert(db, written, transition, only_connection, now)?);
        Ok(())
    }

    /// Writes one log line per event row the batch inserted (a transition reached again
    /// inserts nothing, and logs nothing).
    pub fn log(&self, results: &[D1Result], grant_id: &str, now: Timestamp) {
        #[derive(serde::Deserialize)]
        struct Inserted {
            connection_id: String,
        }
        for (index, transition) in &self.at {
            let rows = results
                .get(*index)
                .and_then(|r| r.results::<Inserted>().ok())
                .unwrap_or_default();
            for row in rows {
                super::logging::emit(&transition.log_line(grant_id, &row.connection_id, now));
            }
        }
    }
}

/// One outbox row per subscribed webhook endpoint of the tenant for the grant's event written
/// at `now` under `dedupe_key` (without its connection or target prefix).
pub fn outbox(
    db: &D1Database,
    grant_id: &str,
    dedupe_key: &str,
    now: Timestamp,
) -> Result<D1PreparedStatement> {
    db.prepare(
        "INSERT OR IGNORE INTO webhook_deliveries (id, event_id, endpoint_id, tenant_id, \
           next_attempt_at, created_at) \
         SELECT 'dlv_' || lower(hex(randomblob(16))), e.id, w.id, e.tenant_id, ?3, ?3 \
         FROM events e JOIN webhook_endpoints w \
           ON w.tenant_id = e.tenant_id AND w.deleted_at IS NULL \
           AND (w.event_types = '*' OR instr(' ' || w.event_types || ' ', ' ' || e.type || ' ') > 0) \
         WHERE e.grant_id = ?1 AND e.occurred_at = ?3 AND e.dedupe_key = e.connection_id || ':' || ?2",
    )
    .bind(&[grant_id.into(), dedupe_key.into(), ms(now)])
}
