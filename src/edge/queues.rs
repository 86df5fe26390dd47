//! Queue consumers.
//!
//! Every message is acked or retried on its own; the handler never fails as a whole. A message
//! nobody can process is never dropped: it is recorded in `dead_letters` (once per message id,
//! however often it is redelivered) and acked. Dead-letter queues land there too, so what the
//! platform gave up on stays inspectable.
//!
//! A batch is worked in lanes (`core::common::lanes`): one per grant, platform or endpoint, a
//! lane's messages one after another in the batch's order, lanes side by side, at most
//! `QUEUE_LANES` (the platform's 6 outgoing connections per invocation) at once.
//!
//! The refresh queue carries the sweep's visits (`sweep::handle`); a visit that fails on our
//! side is retried with the queue's delay. The webhook queue carries outbox rows
//! (`webhook_delivery`), retried with the delivery policy's delay. The publish queue carries
//! post targets (`publish`); its business retries are counted in D1, so the queue's own retries
//! happen only when handling itself failed.

use crate::core::common::clock::Timestamp;
use crate::core::common::lanes;
use crate::core::common::log::LogLine;
use crate::core::common::queues::{QueueRole, WorkQueue};
use crate::core::grant::sweep::RefreshMessage;
use crate::core::publish::posts::PublishMessage;
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

/// A batch's messages read as `T`; those that cannot be are set aside (recorded, acked).
async fn parse<T: serde::de::DeserializeOwned>(
    cx: &Context,
    batch: &MessageBatch<serde_json::Value>,
    now: Timestamp,
) -> Vec<(T, RawMessage)> {
    let queue = batch.queue();
    let mut parsed = Vec::new();
    for message in batch.raw_iter() {
        match serde_wasm_bindgen::from_value::<T>(message.body()) {
            Ok(body) => parsed.push((body, message)),
            Err(_) => set_aside(cx, &queue, &message, "unknown_message", now).await,
        }
    }
    parsed
}

/// Works messages in lanes (`core::common::lanes`): one lane per `key`, its messages one after
/// another in the batch's order, lanes side by side, at most `QUEUE_LANES` (the platform's 6
/// outgoing connections) at once. `handle` settles each message it is given; a copy of one
/// already handled in its lane (`same`) is acked after it, the handled one standing for both.
async fn in_lanes<T, K, Fut>(
    cx: &Context,
    batch: Batch<T>,
    key: impl Fn(&T) -> K,
    same: impl Fn(&T, &T) -> bool,
    handle: impl Fn(T, RawMessage) -> Fut,
) where
    K: PartialEq,
    Fut: std::future::Future<Output = ()>,
{
    let Batch { queue, now, parsed } = batch;
    let lanes = lanes::sort(parsed, |(m, _)| key(m), |(a, _), (b, _)| same(a, b));
    let (handle, queue) = (&handle, queue.as_str());
    let limit = usize::from(cx.settings().queue_lanes);
    lanes::work(lanes, limit, |lane| async move {
        for unique in lane.messages {
            let (body, message) = unique.first;
            let first_id = message.id();
            handle(body, message).await;
            for (_, copy) in unique.copies {
                logging::emit(
                    &LogLine::info("queue.copy_acked", now)
                        .field("queue", queue)
                        .field("message_id", copy.id())
                        .field("copy_of", first_id.as_str()),
                );
                copy.ack();
            }
        }
    })
    .await;
}

/// A batch's readable messages, with its queue's name and the time it is handled at.
struct Batch<T> {
    queue: String,
    now: Timestamp,
    parsed: Vec<(T, RawMessage)>,
}

impl<T: serde::de::DeserializeOwned> Batch<T> {
    async fn read(cx: &Context, batch: &MessageBatch<serde_json::Value>, now: Timestamp) -> Self {
        Self {
            queue: batch.queue(),
            now,
            parsed: parse(cx, batch, now).await,
        }
    }
}

/// Retries `message` with the queue's own delay, saying why.
fn retry(queue: &str, message: &RawMessage, why: &str, now: Timestamp) {
    logging::emit(
        &LogLine::warn("queue.retry", now)
            .field("queue", queue)
            .field("message_id", message.id())
            .field("error", why),
    );
    message.retry();
}

/// The refresh queue's messages: each a visit in a grant's object, in one lane per grant (the
/// sweep's continuations in one of their own). A grant's copies are visited once.
async fn consume_refresh(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let batch = Batch::<RefreshMessage>::read(cx, &batch, now).await;
    let queue = batch.queue.clone();
    let queue = queue.as_str();
    let handle = |body, message: RawMessage| async move {
        match sweep::handle(cx, body, now).await {
            sweep::Delivery::Done => message.ack(),
            sweep::Delivery::Retry(why) => retry(queue, &message, &why, now),
        }
    };
    in_lanes(cx, batch, RefreshMessage::lane, PartialEq::eq, handle).await;
}

/// The publish queue's messages, in one lane per platform: targets staggered across accounts
/// of a platform leave in the order they were planned, and platforms go side by side. Every
/// message is worked: a redelivery is settled by the target's own state.
async fn consume_publish(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let batch = Batch::<PublishMessage>::read(cx, &batch, now).await;
    let queue = batch.queue.clone();
    let queue = queue.as_str();
    let handle = |body, message: RawMessage| async move {
        // Each message gets the time it is handled at: a lane can take a while.
        let now = clock::now(cx).await.unwrap_or(now);
        match attempt::handle(cx, body, now).await {
            dispatch::Delivery::Done => message.ack(),
            dispatch::Delivery::Retry(why) => retry(queue, &message, &why, now),
        }
    };
    in_lanes(cx, batch, PublishMessage::lane, |_, _| false, handle).await;
}

/// The webhook queue's messages, in one lane per endpoint, each delivery with its own timeout.
async fn consume_webhooks(batch: MessageBatch<serde_json::Value>, cx: &Context, now: Timestamp) {
    let batch = Batch::<DeliveryMessage>::read(cx, &batch, now).await;
    let queue = batch.queue.clone();
    let queue = queue.as_str();
    let handle = |body: DeliveryMessage, message: RawMessage| async move {
        match webhook_delivery::deliver(cx, &body.delivery_id, now).await {
            Step::Done => message.ack(),
            Step::RetryIn(secs) => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(secs)
                    .build(),
            ),
            Step::Retry(why) => retry(queue, &message, &why, now),
        }
    };
    in_lanes(cx, batch, DeliveryMessage::lane, |_, _| false, handle).await;
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
