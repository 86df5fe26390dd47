//! The operator's view of dead letters: what the consumers could not process, and replaying
//! one into its work queue once the cause is fixed.
//!
//! A dead-letter queue's messages, and messages no handler can read, are recorded in
//! `dead_letters` (`queues::set_aside`). Replay sends the stored body to the work queue the
//! message came from (a publish message only carries a target id, and publishing it again is
//! safe: the consumer claims the target first).

use super::d1::changes;
use super::d1_time::{bind as ms, json as at};
use super::respond::Handled;
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::clock::Timestamp;
use crate::core::queues::{QueueRole, WorkQueue};
use serde::Deserialize;
use serde::Serialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, QueueContentType, RawMessageBuilder, Result};

#[derive(Deserialize)]
struct Row {
    id: f64,
    queue: String,
    message_id: String,
    body: String,
    reason: String,
    received_at: f64,
    replayed_at: Option<f64>,
}

const LIMIT: u32 = 200;

pub async fn list(db: &D1Database, url: &str) -> Result<(u16, Value)> {
    let queue = crate::core::query::param(url, "queue");
    let rows: Vec<Row> = db
        .prepare(
            "SELECT id, queue, message_id, body, reason, received_at, replayed_at FROM dead_letters \
             WHERE (?1 IS NULL OR queue = ?1) ORDER BY id DESC LIMIT ?2",
        )
        .bind(&[
            super::d1::text_or_null(queue.as_deref()),
            f64::from(LIMIT).into(),
        ])?
        .all()
        .await?
        .results()?;
    let listed: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id as i64,
                "queue": r.queue,
                "message_id": r.message_id,
                "body": serde_json::from_str::<Value>(&r.body).unwrap_or(Value::Null),
                "reason": r.reason,
                "received_at": at(Some(r.received_at)),
                "replayed_at": at(r.replayed_at),
            })
        })
        .collect();
    Ok((200, json!({ "dead_letters": listed })))
}

pub async fn replay(env: &Env, db: &D1Database, id: &str, now: Timestamp) -> Handled<(u16, Value)> {
    let not_found = || ApiError::new(ErrorCode::NotFound, format!("No dead letter {id:?}."));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let row: Option<Row> = db
        .prepare(
            "SELECT id, queue, message_id, body, reason, received_at, replayed_at \
             FROM dead_letters WHERE id = ?1",
        )
        .bind(&[super::d1::int(number)])?
        .first(None)
        .await?;
    let row = row.ok_or_else(not_found)?;
    let work: Option<WorkQueue> = match QueueRole::of_queue(&row.queue) {
        Some(QueueRole::Work(q) | QueueRole::DeadLetter(q)) => Some(q),
        None => None,
    };
    let Some(work) = work else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "Dead letter {id} came from {:?}, which no longer exists.",
                row.queue
            ),
        )
        .into());
    };
    let body: Value = serde_json::from_str(&row.body).map_err(|_| {
        ApiError::new(
            ErrorCode::Conflict,
            format!("Dead letter {id}'s body is not JSON; it cannot be replayed."),
        )
    })?;
    let message = body
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(worker::Error::from)?;
    env.queue(work.binding())?
        .send_raw(RawMessageBuilder::new(message).build_with_content_type(QueueContentType::Json))
        .await?;
    let marked = db
        .prepare("UPDATE dead_letters SET replayed_at = ?1 WHERE id = ?2")
        .bind(&[ms(now), super::d1::int(number)])?
        .run()
        .await?;
    Ok((
        202,
        json!({ "replayed": changes(&marked) == 1, "queue": work.queue_name() }),
    ))
}
