//! Queue consumers.
//!
//! Every message is acked or retried on its own; the handler never fails as a whole. A message
//! nobody can process is never dropped: it is recorded in `dead_letters` (once per message id,
//! however often it is redelivered) and acked. Dead-letter queues land there too, so what the
//! platform gave up on stays inspectable.
//!
//! The work queues have no message kinds yet (refresh and publish messages arrive with the
//! refresh engine and publishing), so for now everything on them is recorded as `no_handler`.

use super::{bindings, clock, d1_time, logging};
use crate::core::clock::Timestamp;
use crate::core::log::LogLine;
use crate::core::queues::QueueRole;
use worker::{Env, MessageBatch, MessageExt, Result};

pub async fn consume(batch: MessageBatch<serde_json::Value>, env: Env) {
    let queue = batch.queue();
    let now = clock::now(&env).await.unwrap_or_else(|_| clock::real_now());
    let reason = match QueueRole::of_queue(&queue) {
        Some(QueueRole::Work(_)) => "no_handler",
        Some(QueueRole::DeadLetter(_)) => "dead_lettered",
        None => "unknown_queue",
    };
    for message in batch.raw_iter() {
        let id = message.id();
        let body = worker::js_sys::JSON::stringify(&message.body())
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| "\"<not JSON>\"".to_owned());
        match record_dead_letter(&env, &queue, &id, &body, reason, now).await {
            Ok(()) => {
                logging::emit(
                    &LogLine::warn("queue.dead_letter", now)
                        .field("queue", queue.as_str())
                        .field("message_id", id.as_str())
                        .field("reason", reason),
                );
                message.ack();
            }
            Err(e) => {
                logging::emit(
                    &LogLine::error("queue.record_failed", now)
                        .field("queue", queue.as_str())
                        .field("message_id", id.as_str())
                        .field("error", e.to_string()),
                );
                message.retry();
            }
        }
    }
}

async fn record_dead_letter(
    env: &Env,
    queue: &str,
    message_id: &str,
    body: &str,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    bindings::db(env)?
        .prepare(
            "INSERT OR IGNORE INTO dead_letters (queue, message_id, body, reason, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(&[
            queue.into(),
            message_id.into(),
            body.into(),
            reason.into(),
            d1_time::bind(now),
        ])?
        .run()
        .await?;
    Ok(())
}
