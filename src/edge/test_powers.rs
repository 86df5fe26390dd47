//! Test builds only: the routes under `/__test/`, all behind the operator secret.
//!
//! This module is compiled only with the `test-powers` feature; the release bundle check proves
//! none of it ships.

use super::respond::{self, Handled};
use super::{bindings, spike};
use crate::core::api_error::ApiError;
use crate::core::auth::authorize_operator;
use crate::core::clock::{ClockOffset, Timestamp};
use crate::core::queues::WorkQueue;
use crate::core::routes::TestRoute;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::{Env, QueueContentType, RawMessageBuilder, Request};

pub async fn handle(route: TestRoute, req: Request, env: &Env, now: Timestamp) -> Handled {
    let authorization = req.headers().get("authorization")?;
    let secret = bindings::text(env, bindings::OPERATOR_SECRET);
    authorize_operator(authorization.as_deref(), secret.as_deref())?;
    match route {
        TestRoute::GetClock => show_clock(env, now).await,
        TestRoute::SetClock => set_clock(req, env).await,
        TestRoute::EnqueueProbe(queue) => enqueue_probe(req, env, queue).await,
        TestRoute::DeadLetters => dead_letters(env).await,
        TestRoute::CreateSpikeGrant => spike::create_grant(req, env, now).await,
        TestRoute::SpikeGrant(id) => spike::inspect(env, &id).await,
        TestRoute::SpikeRefresh(id) => spike::refresh(req, env, &id).await,
    }
}

fn clock_json(offset: ClockOffset, now: Timestamp) -> Value {
    json!({ "offset_ms": offset.as_millis(), "now": now.to_rfc3339(), "now_ms": now.as_millis() })
}

async fn show_clock(env: &Env, now: Timestamp) -> Handled {
    let offset = super::clock::offset(env).await?;
    Ok(respond::json(200, &clock_json(offset, now))?)
}

#[derive(Deserialize)]
struct SetClock {
    offset_ms: i64,
}

async fn set_clock(mut req: Request, env: &Env) -> Handled {
    let body: SetClock = respond::read_json(&mut req).await?;
    let offset = ClockOffset::from_millis(body.offset_ms)
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    bindings::db(env)?
        .prepare(
            "INSERT INTO test_clock (id, offset_ms) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET offset_ms = excluded.offset_ms",
        )
        .bind(&[JsValue::from_f64(offset.as_millis() as f64)])?
        .run()
        .await?;
    let now = offset.apply(super::clock::real_now());
    Ok(respond::json(200, &clock_json(offset, now))?)
}

async fn enqueue_probe(mut req: Request, env: &Env, queue: WorkQueue) -> Handled {
    let body: Value = respond::read_json(&mut req).await?;
    // JSON-compatible: serde_wasm_bindgen would otherwise send a JSON object as a JS `Map`.
    let message = body
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(worker::Error::from)?;
    env.queue(queue.binding())?
        .send_raw(RawMessageBuilder::new(message).build_with_content_type(QueueContentType::Json))
        .await?;
    Ok(respond::json(
        202,
        &json!({ "queued": queue.queue_name() }),
    )?)
}

#[derive(Deserialize)]
struct DeadLetterRow {
    queue: String,
    message_id: String,
    body: String,
    reason: String,
    received_at: f64,
}

async fn dead_letters(env: &Env) -> Handled {
    let rows: Vec<DeadLetterRow> = bindings::db(env)?
        .prepare(
            "SELECT queue, message_id, body, reason, received_at FROM dead_letters \
             ORDER BY id DESC LIMIT 100",
        )
        .all()
        .await?
        .results()?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "queue": row.queue,
                "message_id": row.message_id,
                "body": serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
                "reason": row.reason,
                "received_at": Timestamp::from_millis(row.received_at as i64).to_rfc3339(),
            })
        })
        .collect();
    Ok(respond::json(200, &json!({ "dead_letters": items }))?)
}
