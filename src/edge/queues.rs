//! Queue consumers.
//!
//! Every message is acked or retried on its own; the handler never fails as a whole. A message
//! nobody can process is never dropped: it is recorded in `dead_letters` (once per message id,
//! however often it is redelivered) and acked. Dead-letter queues land there too, so what the
//! platform gave up on stays inspectable.
//!
//! The refresh queue carries the sweep's visits (`sweep::handle`); a visit that fails on our
//! side is retried with the queue's delay. The webhook queue carries outbox rows
//! (`webhook_delivery`), retried with the delivery policy's delay. The publish queue carries
//! post targets (`publish`); its business retries are counted in D1, so the queue's own retries
//! happen only when handling itself failed.

use crate::core::common::clock::Timestamp;
use crate::core::common::log::LogLine;
use crate::core::common::queues::{QueueRole, WorkQueue};
use crate::core::grant::sweep::RefreshMessage;
use crate::core::webhooks::webhook_retry::DeliveryMessage;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::sweep;
use crate::edge::publish::{attempt, dispatch};
use crate::edge::webhooks::webhook_delivery::{self, Step};
use crate::store::{self, Db};
use worker::{MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage, Result};

pub async fn consume(batch: MessageBatch<serde_json::Value>, cx: Context) {
    let queue = batch.queue();
    let now = clock::now(&cx).await.unwrap_or_else(|_| clock::real_now());
    let role = QueueRole::of_queue(&queue);
    if role == Some(QueueRole::Work(WorkQueue::Refresh)) {
        return consume_refresh(batch, &cx, now).await;
    }
    if role == Some(QueueRole::Work(WorkQueue::Webhooks)) {
        return consume_webhooks(batch, &cx, now).await;
    }
    if role == Some(QueueRole::Work(WorkQueue::Publish)) {
        return consume_publish(batch, &cx, now).await;
    }
    let reason = match role {
        Some(QueueRole::Work(_)) => "no_handler",
        Some(QueueRole::DeadLetter(_)) => "dead_lettered",
        None => "unknown_queue",
    };
    for message in batch.raw_iter() {
        set_aside(&cx, &queue, &message, reason, now).await;
    }
}

/// Records a message nobody can process in `dead_letters`, then acks it (or retries it when
/// even the record failed, so it is never lost).
async fn set_aside(cx: &Context, queue: &str, message: &RawMessage, reason: &str, now: Timestamp) {
    let id = message.id();
    let body = worker::js_sys::JSON::stringify(&message.body())
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_else(|| "\"<not JSON>\"".to_owned());
    match record_dead_letter(cx, queue, &id, &body, reason, now).await {
        Ok(()) => {
            logging::emit(
                &LogLine::warn("queue.dead_letter", now)
                    .field("queue", queue)
                    .field("message_id", id.as_str())
                    .field("reason", reason),
            );
            message.ack();
        }
        Err(e) => {
            logging::emit(
                &LogLine::error("queue.record_failed", now)
                    .field("queue", queue)
                    .field("message_id", id.as_str())
                    .field("error", crate::edge::http::respond::with_causes(&e)),
            );
            message.retry();
        }
    }
}

/// The refresh queue's messages, one after the other: each is a visit in a grant's object,
/// and one at a time keeps a batch inside an invocation's concurrency budget and lets the
/// platform's circuit see each failure before the next call.
async fn consume_refresh(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let queue = batch.queue();
    for message in batch.raw_iter() {
        let id = message.id();
        let parsed: Option<RefreshMessage> = serde_wasm_bindgen::from_value(message.body()).ok();
        let Some(parsed) = parsed else {
            set_aside(cx, &queue, &message, "unknown_message", now).await;
            continue;
        };
        match sweep::handle(cx, parsed, now).await {
            sweep::Delivery::Done => message.ack(),
            sweep::Delivery::Retry(why) => {
                logging::emit(
                    &LogLine::warn("queue.retry", now)
                        .field("queue", queue.as_str())
                        .field("message_id", id.as_str())
                        .field("error", why),
                );
                message.retry();
            }
        }
    }
}

/// The publish queue's messages, one after the other: identical text staggered across
/// accounts must leave in the order and spacing it was planned.
async fn consume_publish(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let queue = batch.queue();
    for message in batch.raw_iter() {
        let parsed: Option<dispatch::PublishMessage> =
            serde_wasm_bindgen::from_value(message.body()).ok();
        let Some(parsed) = parsed else {
            set_aside(cx, &queue, &message, "unknown_message", now).await;
            continue;
        };
        // Each message gets the time it is handled at: a batch can take a while.
        let now = clock::now(cx).await.unwrap_or(now);
        match attempt::handle(cx, parsed, now).await {
            dispatch::Delivery::Done => message.ack(),
            dispatch::Delivery::Retry(why) => {
                logging::emit(
                    &LogLine::warn("queue.retry", now)
                        .field("queue", queue.as_str())
                        .field("message_id", message.id())
                        .field("error", why),
                );
                message.retry();
            }
        }
    }
}

/// The webhook queue's messages, delivered side by side (a batch is at most 10, each with its
/// own timeout).
async fn consume_webhooks(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let queue = batch.queue();
    let mut work = Vec::new();
    for message in batch.raw_iter() {
        let parsed: Option<DeliveryMessage> = serde_wasm_bindgen::from_value(message.body()).ok();
        match parsed {
            Some(parsed) => work.push(async move {
                let step = webhook_delivery::deliver(cx, &parsed.delivery_id, now).await;
                (message, step)
            }),
            None => set_aside(cx, &queue, &message, "unknown_message", now).await,
        }
    }
    for (message, step) in futures_util::future::join_all(work).await {
        match step {
            Step::Done => message.ack(),
            Step::RetryIn(secs) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs)
                    .build(),
            ),
            Step::Retry(why) => {
                logging::emit(
                    &LogLine::warn("queue.retry", now)
                        .field("queue", queue.as_str())
                        .field("message_id", message.id())
                        .field("error", why),
                );
                message.retry();
            }
        }
    }
}

async fn record_dead_letter(
    cx: &Context,
    queue: &str,
    message_id: &str,
    body: &str,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    cx.db()?
        .write(store::operations::record_dead_letter(
            &store::operations::DeadLetter {
                queue,
                message_id,
                body,
                reason,
                now,
            },
        ))
        .await?;
    Ok(())
}
