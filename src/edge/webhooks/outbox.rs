//! The outbox's hand-off to the webhook queue, and the reconciler that makes it reliable.
//!
//! Events and their `webhook_deliveries` rows are written in the state change's own batch
//! (`store::events`); once that batch landed, [`hand_off`] sends one queue message per new
//! row. A crash between the two (or a queue message lost, as the local broker loses them when
//! it is killed) leaves a pending row that nobody sent: the minute cron's [`reconcile`] sends
//! every pending row that is overdue by `OVERDUE_MS` and was not sent since.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::common::log::LogLine;
use crate::core::common::queues::WorkQueue;
use crate::core::webhooks::webhook_retry::{DeliveryMessage, OVERDUE_MS};
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Result};

#[derive(Deserialize)]
struct Row {
    id: String,
    endpoint_id: Option<String>,
}

/// The most rows one reconciler pass re-sends.
const RECONCILE_PAGE: i64 = 100;

/// Sends the deliveries of the grant's events written at `now`. Best effort: a failure is
/// logged and left to the reconciler.
pub async fn hand_off(cx: &Context, db: &D1Database, grant_id: &GrantId, now: Timestamp) {
    let sent = async {
        let rows: Vec<Row> = db.all(store::events::hand_off(grant_id, now)).await?;
        send(cx, rows).await
    }
    .await;
    if let Err(e) = sent {
        logging::emit(
            &LogLine::warn("outbox.hand_off_failed", now)
                .field("grant_id", grant_id)
                .field("error", e.to_string()),
        );
    }
}

/// Re-sends pending deliveries whose message was lost. Summary for the cron's heartbeat.
pub async fn reconcile(cx: &Context, now: Timestamp) -> Result<Value> {
    let db = cx.db()?;
    let overdue = now.plus_millis(-OVERDUE_MS);
    let rows: Vec<Row> = db
        .all(store::events::resend_overdue(now, overdue, RECONCILE_PAGE))
        .await?;
    let resent = send(cx, rows).await?;
    Ok(json!({ "webhooks_resent": resent }))
}

/// Sends one delivery now (the redeliver API).
pub async fn send_one(cx: &Context, delivery_id: &str) -> Result<()> {
    send(
        cx,
        vec![Row {
            id: delivery_id.to_owned(),
            endpoint_id: None,
        }],
    )
    .await
    .map(|_| ())
}

/// Sends one message per row; how many.
async fn send(cx: &Context, rows: Vec<Row>) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let count = rows.len();
    let queue = cx.env().queue(WorkQueue::Webhooks.binding())?;
    // A batch holds at most 100 messages.
    for chunk in rows.chunks(100) {
        let messages: Vec<DeliveryMessage> = chunk
            .iter()
            .map(|r| DeliveryMessage {
                delivery_id: r.id.clone(),
                endpoint_id: r.endpoint_id.clone(),
            })
            .collect();
        queue.send_batch(messages).await?;
    }
    Ok(count)
}
