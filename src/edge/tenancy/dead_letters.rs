//! The operator's view of dead letters: what the consumers could not process, and replaying
//! one into its work queue once the cause is fixed.
//!
//! A dead-letter queue's messages, and messages no handler can read, are recorded in
//! `dead_letters` (`queues::set_aside`). Replay sends the stored body to the work queue the
//! message came from (a publish message only carries a target id, and publishing it again is
//! safe: the consumer claims the target first).

use crate::core::common::clock::Timestamp;
use crate::core::common::queues::{QueueRole, WorkQueue};
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::{cursor, query};
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::json as at;
use crate::edge::http::respond::Handled;
use crate::store::{self, Db};
use serde::Deserialize;
use serde::Serialize;
use serde_json::{json, Value};
use worker::{D1Database, QueueContentType, RawMessageBuilder};

/// Whose lists the operator's are, for their cursors (no tenant id has this form).
const OPERATOR: &str = "operator";

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

/// The most dead letters one page answers (newest first), and what a page holds unless
/// `?limit=` says otherwise.
const LIMIT: u32 = 200;

/// `GET /admin/dead-letters[?queue=…][&limit=…][&cursor=…]`: a page at a time, newest first.
pub async fn list(cx: &Context, db: &D1Database, url: &str) -> Handled<(u16, Value)> {
    let queue = query::param(url, "queue");
    let scope = cursor::ListScope {
        list: "dead_letters",
        tenant_id: OPERATOR,
        filter: cursor::filter_form(&[queue.as_deref()]),
    };
    let keyring = cx.keyring()?;
    let page = cursor::ask(&scope, url, LIMIT, &keyring)?;
    let (limit, before) = (page.limit, page.after.map(|p| p.key));
    let mut rows: Vec<Row> = db
        .all(store::operations::dead_letters(
            queue.as_deref(),
            before,
            i64::from(limit) + 1,
        ))
        .await?;
    let next_cursor = cursor::cut(&mut rows, limit, |last| cursor::Position {
        key: last.id as i64,
        id: String::new(),
    })
    .map(|p| cursor::next(&scope, p, &keyring));
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
    Ok((
        200,
        json!({ "dead_letters": listed, "next_cursor": next_cursor }),
    ))
}

pub async fn replay(
    cx: &Context,
    db: &D1Database,
    id: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let not_found = || ApiError::new(ErrorCode::NotFound, format!("No dead letter {id:?}."));
    let number: i64 = id.parse().map_err(|_| not_found())?;
    let row: Option<Row> = db.first(store::operations::dead_letter(number)).await?;
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
    cx.env()
        .queue(work.binding())?
        .send_raw(RawMessageBuilder::new(message).build_with_content_type(QueueContentType::Json))
        .await?;
    let marked = db
        .write(store::operations::mark_replayed(number, now))
        .await?;
    Ok((
        202,
        json!({ "replayed": marked == 1, "queue": work.queue_name() }),
    ))
}
