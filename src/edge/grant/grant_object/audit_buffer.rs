//! The token reads' audit, buffered in the grant's object: a read through the API costs the
//! object one write to its own storage instead of a D1 write, and an alarm writes the buffer to
//! `token_reads` in one D1 batch shortly after.
//!
//! - **Durable.** The buffer lives in the object's storage, not in memory: a read the object
//!   answered is in the audit even if the object is evicted or the isolate dies before the
//!   alarm. The alarm is set when the first read lands in an empty buffer, to go off
//!   `TOKEN_AUDIT_FLUSH_SECONDS` later (10 by default).
//! - **Seen in the export.** An end user's export first asks each of their grants' objects to
//!   flush ([`AuditAsk::Flush`](super::protocol::AuditAsk)), so buffered reads are in it.
//! - **Never brought back.** An end user's erasure asks each of their grants' objects to drop
//!   their buffered reads ([`AuditAsk::Discard`](super::protocol::AuditAsk)) before it deletes
//!   their `token_reads`. Flushing and dropping take turns through one lock, so a flush under way
//!   lands before the erasure's delete. And a flush writes a read only while its connection is
//!   stored and its tenant not deleted (`store::operations::flush_token_read`), so a flush after
//!   an erasure (or a tenant's deletion) writes nothing.
//! - **Failures.** A flush that fails keeps its rows and tries again a minute later; each
//!   failure is logged with the rows waiting. A read whose buffering fails is logged and
//!   written to D1 directly instead ([`record`]), so it is not lost.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::tenancy::token_reads::ReadOutcome;
use crate::edge::common::clock::real_now;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::protocol::{AuditAsk, AuditOf, GrantObjectClient, TokenAsk};
use crate::edge::http::respond::with_causes;
use crate::store::{self, Db};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::time::Duration;
use worker::{js_sys, wasm_bindgen::JsValue, ListOptions, State};

/// Storage keys of buffered reads: `audit/<real ms, 13 digits>-<sequence, 6 digits>`, so they
/// list in the order they were read.
const PREFIX: &str = "audit/";

/// After a failed flush, the next try.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Rows per page when flushing or dropping: one D1 batch, and within the 128 keys storage
/// deletes at once.
const ROWS_PER_BATCH: usize = 100;

/// One buffered read, as the object stores it (JSON text).
#[derive(Serialize, Deserialize)]
pub struct BufferedRead {
    pub tenant_id: TenantId,
    pub api_key_id: String,
    pub connection_id: String,
    pub grant_id: GrantId,
    pub outcome: String,
    /// When the read was made (ms; the caller's clock, the test clock in test builds).
    pub at: i64,
}

impl BufferedRead {
    /// The `token_reads` row it becomes.
    fn row(&self) -> store::operations::TokenRead<'_> {
        store::operations::TokenRead {
            tenant_id: &self.tenant_id,
            api_key_id: &self.api_key_id,
            connection_id: &self.connection_id,
            grant_id: Some(self.grant_id.as_str()),
            outcome: &self.outcome,
            at: Timestamp::from_millis(self.at),
        }
    }
}

/// The object's side of the buffer: the lock flushes and drops take turns through, and what it
/// knows of its alarm.
pub struct AuditBuffer {
    turns: futures_util::lock::Mutex<()>,
    /// An alarm is known to be set: a read need not ask storage.
    alarm_set: Cell<bool>,
    /// Orders reads made in the same millisecond.
    sequence: Cell<u32>,
}

impl Default for AuditBuffer {
    fn default() -> Self {
        Self {
            turns: futures_util::lock::Mutex::new(()),
            alarm_set: Cell::new(false),
            sequence: Cell::new(0),
        }
    }
}

impl AuditBuffer {
    /// Buffers `read` in the object's storage and makes sure an alarm will flush it.
    pub async fn add(
        &self,
        cx: &Context,
        state: &State,
        read: &BufferedRead,
    ) -> worker::Result<()> {
        let sequence = self.sequence.get().wrapping_add(1) % 1_000_000;
        self.sequence.set(sequence);
        let key = format!(
            "{PREFIX}{:013}-{sequence:06}",
            real_now().as_millis().max(0)
        );
        let storage = state.storage();
        storage
            .put_raw(&key, JsValue::from_str(&serde_json::to_string(read)?))
            .await?;
        if !self.alarm_set.get() {
            if storage.get_alarm().await?.is_none() {
                let after = cx.settings().token_audit_flush_seconds;
                storage
                    .set_alarm(Duration::from_secs(u64::from(after)))
                    .await?;
            }
            self.alarm_set.set(true);
        }
        Ok(())
    }

    /// The alarm: flushes the buffer. A failure sets the alarm again for a later try.
    pub async fn on_alarm(&self, cx: &Context, state: &State) -> worker::Result<()> {
        // The alarm that is running no longer counts: a read during the flush sets another.
        self.alarm_set.set(false);
        if let Err(e) = self.flush(cx, state).await {
            let waiting = page(state, None).await.map(|rows| rows.len()).unwrap_or(0);
            logging::emit(
                &LogLine::error("token_read.flush_failed", real_now())
                    .field("rows_waiting_at_least", waiting)
                    .field("error", with_causes(&e)),
            );
            state.storage().set_alarm(RETRY_AFTER).await?;
            self.alarm_set.set(true);
        }
        Ok(())
    }

    /// Writes every buffered read to `token_reads` and removes it from storage, a page at a
    /// time (one D1 batch, then the page's keys); answers how many were buffered.
    pub async fn flush(&self, cx: &Context, state: &State) -> worker::Result<usize> {
        let _turn = self.turns.lock().await;
        let db = cx.db()?;
        let mut flushed = 0;
        loop {
            let rows = page(state, None).await?;
            if rows.is_empty() {
                return Ok(flushed);
            }
            let statements = rows
                .iter()
                .filter_map(|(_, read)| read.as_ref())
                .map(|r| store::operations::flush_token_read(&r.row()))
                .collect::<Vec<_>>();
            if !statements.is_empty() {
                Db::batch(&db, statements).await?;
            }
            let keys: Vec<&str> = rows.iter().map(|(key, _)| key.as_str()).collect();
            state.storage().delete_multiple(keys).await?;
            flushed += rows.len();
        }
    }

    /// Drops the buffered reads of `connection_ids` unwritten; answers how many.
    pub async fn discard(&self, state: &State, connection_ids: &[String]) -> worker::Result<usize> {
        let _turn = self.turns.lock().await;
        let mut after: Option<String> = None;
        let mut dropped = 0;
        loop {
            let rows = page(state, after.as_deref()).await?;
            let Some((last, _)) = rows.last() else {
                return Ok(dropped);
            };
            after = Some(last.clone());
            let keys: Vec<&str> = rows
                .iter()
                .filter(|(_, read)| {
                    read.as_ref()
                        .is_some_and(|r| connection_ids.contains(&r.connection_id))
                })
                .map(|(key, _)| key.as_str())
                .collect();
            if !keys.is_empty() {
                dropped += keys.len();
                state.storage().delete_multiple(keys).await?;
            }
        }
    }
}

/// What a token read's answer came to, for the audit: served on a 200, else named by its
/// error's code.
pub fn outcome_of(answer: &crate::edge::http::respond::Handled<worker::Response>) -> ReadOutcome {
    ReadOutcome::of(match answer {
        Ok(r) if r.status_code() == 200 => Ok(()),
        Err(crate::edge::http::respond::Failure::Api(e)) => Err(Some(e.code)),
        _ => Err(None),
    })
}

/// Records the read of `ask` that came to `outcome`: buffered, or written to D1 at once when
/// buffering fails.
pub async fn record(
    cx: &Context,
    state: &State,
    buffer: &AuditBuffer,
    ask: &TokenAsk,
    audit: AuditOf,
    outcome: ReadOutcome,
) {
    let read = BufferedRead {
        tenant_id: ask.tenant_id.clone(),
        api_key_id: audit.api_key_id,
        connection_id: ask.connection_id.clone().unwrap_or_default(),
        grant_id: ask.grant_id.clone(),
        outcome: outcome.as_str().to_owned(),
        at: audit.at,
    };
    let Err(e) = buffer.add(cx, state, &read).await else {
        return;
    };
    let direct = async {
        let statement = store::operations::record_token_read(&read.row());
        let db = cx.db().map_err(|e| e.to_string())?;
        db.write(statement).await.map_err(|e| e.to_string())
    };
    let written: Result<usize, String> = direct.await;
    logging::emit(
        &LogLine::error("token_read.buffer_failed", real_now())
            .field("grant_id", &read.grant_id)
            .field("written_directly", written.is_ok())
            .field("error", with_causes(&e)),
    );
}

/// Up to [`ROWS_PER_BATCH`] buffered reads, oldest first, by their keys; after key `after` when
/// given. (Keys have one length, so `after` followed by any character sorts after `after` and
/// before every later key.) A value that does not read as a [`BufferedRead`] is logged and
/// listed as `None`, so a flush removes it.
async fn page(
    state: &State,
    after: Option<&str>,
) -> worker::Result<Vec<(String, Option<BufferedRead>)>> {
    let start = after.map(|key| format!("{key}0"));
    let mut options = ListOptions::new().prefix(PREFIX).limit(ROWS_PER_BATCH);
    if let Some(start) = &start {
        options = options.start(start);
    }
    let listed = state.storage().list_with_options(options).await?;
    let mut rows = Vec::with_capacity(listed.size() as usize);
    for entry in listed.entries() {
        let pair = js_sys::Array::from(&entry?);
        let key = pair.get(0).as_string().unwrap_or_default();
        let read = pair
            .get(1)
            .as_string()
            .and_then(|text| serde_json::from_str::<BufferedRead>(&text).ok());
        if read.is_none() {
            logging::emit(
                &LogLine::error("token_read.unreadable_buffered_row", real_now())
                    .field("key", key.as_str()),
            );
        }
        rows.push((key, read));
    }
    Ok(rows)
}

/// From outside the object: asks grant `grant_id`'s object to flush its buffered reads or drop
/// some connections' (`ask`). Any answer but a 200 is an error: the export or erasure that
/// asked stops there rather than miss buffered reads.
pub async fn settle_through_object(
    cx: &Context,
    grant_id: &GrantId,
    ask: AuditAsk,
) -> crate::edge::http::respond::Handled<()> {
    let mut answer = GrantObjectClient::new(cx, grant_id).audit(ask).await?;
    match answer.status_code() {
        200 => Ok(()),
        status => Err(crate::edge::http::respond::Internal::ObjectAnswered {
            command: "audit",
            status,
            body: answer.text().await.unwrap_or_default(),
        }
        .into()),
    }
}
