//! The token reads' audit (`token_reads`: who read which connection's token and what they got,
//! never the token) for the reads no grant object answered: a connection that does not exist
//! for the caller, or an object that could not be reached. (The reads an object answers are
//! buffered in the object's storage: `grant_object::audit_buffer`.) Written after the answer
//! has gone out, and grouped.
//!
//! Each read queues its row in the isolate and hands a write to `wait_until`. That write first
//! waits one timer turn ([`GATHER`]) for other reads to queue theirs, then takes every row queued so
//! far and writes them in one D1 batch. Under load, one batch carries many reads; a read alone is
//! written alone by its own `wait_until`, so no row waits in memory for company. A write that
//! finds the queue empty (another read's write took its row) does nothing. A failed write is
//! logged with the number of rows it lost.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::store::{self, Db};
use std::cell::RefCell;
use std::time::Duration;
use worker::{D1Database, Delay};

pub struct TokenRead {
    pub tenant_id: TenantId,
    pub api_key_id: String,
    pub connection_id: String,
    pub grant_id: Option<GrantId>,
    pub outcome: &'static str,
    pub at: Timestamp,
}

/// How long a read's write waits for others to join it: one timer turn, so the requests in
/// flight run first. (50 ms measured no better on the bench; the caller never waits either way.)
const GATHER: Duration = Duration::ZERO;

thread_local! {
    static QUEUED: RefCell<Vec<TokenRead>> = const { RefCell::new(Vec::new()) };
}

/// Queues `read` and makes sure it is written once the answer has gone out.
pub fn record(ctx: &worker::Context, db: D1Database, read: TokenRead) {
    QUEUED.with(|queued| queued.borrow_mut().push(read));
    ctx.wait_until(async move {
        Delay::from(GATHER).await;
        let rows = QUEUED.with(|queued| std::mem::take(&mut *queued.borrow_mut()));
        if rows.is_empty() {
            return;
        }
        if let Err(e) = write(&db, &rows).await {
            crate::edge::common::logging::emit(
                &LogLine::error(
                    "token_read.audit_failed",
                    crate::edge::common::clock::real_now(),
                )
                .field("rows", rows.len())
                .field("error", crate::edge::http::respond::with_causes(&e)),
            );
        }
    });
}

async fn write(db: &D1Database, rows: &[TokenRead]) -> worker::Result<()> {
    let mut batch = Vec::with_capacity(rows.len());
    for r in rows {
        batch.push(store::operations::record_token_read(
            &store::operations::TokenRead {
                tenant_id: &r.tenant_id,
                api_key_id: &r.api_key_id,
                connection_id: &r.connection_id,
                grant_id: r.grant_id.as_deref(),
                outcome: r.outcome,
                at: r.at,
            },
        ));
    }
    Db::batch(db, batch).await?;
    Ok(())
}
