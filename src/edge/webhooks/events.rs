//! The events table: a transition's rows, written in the same D1 batch as the state change.
//!
//! One row per live connection of the grant, each with the next number of that connection's
//! sequence (assigned inside the insert: no gaps, since the grant's Durable Object is the only
//! writer) and `connection id:dedupe key`, so a transition reached twice inserts nothing the
//! second time (`INSERT OR IGNORE`). The insert is guarded on the grant being in the state the
//! event describes at the version written: a batch does not stop when its UPDATE matched
//! nothing, and then neither must the event appear.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::grant::grant_events::Transition;
use crate::store::{self, Outcome, Statement};

/// The state the grant is in once the write landed, which the event insert checks.
pub type Written<'a> = store::events::Guard<'a>;

/// The statements that record `transition` for the grant's live connections (or only
/// `only_connection`): the event rows, then one outbox row per subscribed webhook endpoint of
/// the tenant for each event inserted now (`webhook_deliveries`, handed to the webhook queue
/// by `outbox` once the batch landed).
pub fn insert(
    written: &Written<'_>,
    transition: &Transition,
    only_connection: Option<&str>,
    now: Timestamp,
) -> [Statement; 2] {
    [
        store::events::record_transition(written, transition, only_connection, now),
        store::events::enqueue_deliveries(written.grant_id, &transition.dedupe_key, now),
    ]
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
        batch: &mut Vec<Statement>,
        written: &Written<'_>,
        transition: &'t Transition,
        only_connection: Option<&str>,
        now: Timestamp,
    ) {
        self.at.push((batch.len(), transition));
        batch.extend(insert(written, transition, only_connection, now));
    }

    /// Writes one log line per event row the batch inserted (a transition reached again
    /// inserts nothing, and logs nothing).
    pub fn log(&self, results: &[Outcome], grant_id: &GrantId, now: Timestamp) {
        for (index, transition) in &self.at {
            let rows = results
                .get(*index)
                .map(|r| r.rows.as_slice())
                .unwrap_or_default();
            for connection_id in rows.iter().filter_map(|r| r.text("connection_id").ok()) {
                crate::edge::common::logging::emit(&transition.log_line(
                    grant_id,
                    &connection_id,
                    now,
                ));
            }
        }
    }
}
