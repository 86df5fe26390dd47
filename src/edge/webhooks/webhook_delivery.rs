//! The webhook queue's consumer: one outbox row (`webhook_deliveries`) per message.
//!
//! The event's body is rendered once (`core::webhooks::webhook_payload`) and stored on the event, so
//! every attempt and every endpoint gets the same bytes; `webhook-id` is the event id. Each
//! attempt is signed the Standard Webhooks way (`core::webhooks::webhook_signature`) with a fresh
//! timestamp. A 2xx answer delivers; anything else (or no answer within the timeout) counts an
//! attempt in D1 and retries through the queue with the policy's delay, until the policy's
//! window is over: then the row is `failed` (and can be redelivered by hand).

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::crypto::{Binding, Keyring, Sealed};
use crate::core::http::platform_answer::Answer;
use crate::core::links::reconnect_links;
use crate::core::webhooks::secret_rotation::SigningSecrets;
use crate::core::webhooks::webhook_payload::{self, EventRecord};
use crate::core::webhooks::webhook_retry::{AfterFailure, DeliveryStatus, MAX_QUEUE_DELAY_SECS};
use crate::core::webhooks::webhook_signature::WebhookSecret;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::http::http_client;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::store::{self, Db};
use serde::Deserialize;

/// The seal purpose of an endpoint's signing secret (bound to the endpoint id).
pub const SECRET_PURPOSE: &str = "webhook_secret";
/// The seal purpose of the secret an endpoint replaced, while its overlap lasts: associated data
/// of its own, so neither secret's ciphertext opens as the other.
pub const PREVIOUS_SECRET_PURPOSE: &str = "webhook_previous_secret";

/// What became of one message.
pub enum Step {
    /// Delivered, finally failed, or nothing to do: ack.
    Done,
    /// Not delivered yet: retry the message after this many seconds.
    RetryIn(u32),
    /// Our side failed (D1, the keyring): retry with the queue's own delay.
    Retry(String),
}

#[derive(Deserialize)]
struct Pending {
    status: String,
    attempts: f64,
    first_attempt_at: Option<f64>,
    event_id: String,
    kind: String,
    seq: f64,
    colour: String,
    reason: String,
    message: String,
    occurred_at: f64,
    body: Option<String>,
    connection_id: String,
    grant_id: GrantId,
    tenant_id: TenantId,
    /// `None` for post events, whose `connection_id` is the target (their body is stored
    /// when they are written).
    end_user_ref: Option<String>,
    provider: Option<String>,
    epoch: Option<f64>,
    endpoint_id: String,
    url: String,
    secret_ciphertext: String,
    key_id: String,
    previous_secret_ciphertext: Option<String>,
    previous_key_id: Option<String>,
    previous_secret_expires_at: Option<f64>,
    endpoint_deleted: Option<f64>,
}

/// What an endpoint's secret sealed for `purpose` is bound to: the tenant and the endpoint.
pub fn secret_binding<'a>(
    purpose: &'static str,
    tenant_id: &'a TenantId,
    endpoint_id: &'a str,
) -> Binding<'a> {
    Binding {
        purpose,
        tenant_id,
        row_id: endpoint_id,
        version: 0,
    }
}

/// An endpoint's secret sealed for `purpose`, opened and read; `None` if it does not open.
pub fn open_secret(
    keyring: &Keyring,
    purpose: &'static str,
    (tenant_id, endpoint_id): (&TenantId, &str),
    key_id: &str,
    ciphertext: &str,
) -> Option<WebhookSecret> {
    let bytes = keyring
        .open(
            &Sealed::new(key_id, ciphertext.to_owned()),
            secret_binding(purpose, tenant_id, endpoint_id),
        )
        .ok()?;
    WebhookSecret::parse(&String::from_utf8(bytes).ok()?)
}

pub async fn deliver(cx: &Context, delivery_id: &str, now: Timestamp) -> Step {
    match attempt(cx, delivery_id, now).await {
        Ok(step) => step,
        Err(e) => Step::Retry(e.to_string()),
    }
}

// Exception to the 80-line limit: one delivery attempt: read, sign, send, record; the retry decision is already `core::webhooks::webhook_retry`.
#[allow(clippy::too_many_lines)]
async fn attempt(cx: &Context, delivery_id: &str, now: Timestamp) -> Handled<Step> {
    let db = cx.db()?;
    let found: Option<Pending> = db.first(store::webhooks::to_attempt(delivery_id)).await?;
    let Some(p) = found else {
        return Ok(Step::Done);
    };
    if p.status != DeliveryStatus::Pending.as_str() {
        return Ok(Step::Done);
    }
    if p.endpoint_deleted.is_some() {
        db.write(store::webhooks::fail_pending(delivery_id)).await?;
        return Ok(Step::Done);
    }
    let keyring = cx.keyring().map_err(Internal::Config)?;
    let body = match &p.body {
        Some(body) => body.clone(),
        None => freeze_body(cx, &keyring, &db, &p, now).await?,
    };
    let open = |purpose, key_id: &str, ciphertext: &str, what: &str| {
        open_secret(
            &keyring,
            purpose,
            (&p.tenant_id, &p.endpoint_id),
            key_id,
            ciphertext,
        )
        .ok_or_else(|| Internal::Unopened(format!("the {what} of endpoint {}", p.endpoint_id)))
    };
    let current = open(
        SECRET_PURPOSE,
        &p.key_id,
        &p.secret_ciphertext,
        "signing secret",
    )?;
    let previous_until = p.previous_secret_expires_at.map(time);
    let previous = match (&p.previous_key_id, &p.previous_secret_ciphertext) {
        (Some(key_id), Some(ciphertext)) if SigningSecrets::previous_signs(previous_until, now) => {
            let secret = open(
                PREVIOUS_SECRET_PURPOSE,
                key_id,
                ciphertext,
                "previous signing secret",
            )?;
            previous_until.map(|until| (secret, until))
        }
        _ => None,
    };
    // The receiver checks the timestamp against its own clock: the real time, never the test
    // build's shifted one. Whether the previous secret still signs is decided at `now`.
    let sent_at = crate::edge::common::clock::real_now().as_millis() / 1_000;
    let signature =
        SigningSecrets { current, previous }.header(&p.event_id, sent_at, body.as_bytes(), now);
    let outcome = post(&p.url, &p.event_id, sent_at, &signature, &body).await;
    let attempts = p.attempts as u32 + 1;
    let first = p.first_attempt_at.map_or(now, time);
    let (status, error) = match &outcome {
        Ok(status) => (Some(*status), None),
        Err(why) => (None, Some(why.clone())),
    };
    let delivered = crate::core::webhooks::webhook_retry::delivered(Answer {
        status,
        retry_after_secs: None,
    });
    let policy = cx.settings().webhook_retry;
    let next = match delivered {
        true => None,
        false => Some(policy.after_failure(attempts, now.as_millis() - first.as_millis())),
    };
    let (new_status, next_at) = match next {
        None => (DeliveryStatus::Delivered, now),
        Some(AfterFailure::GiveUp) => (DeliveryStatus::Failed, now),
        Some(AfterFailure::RetryIn(delay)) => (DeliveryStatus::Pending, now.plus_millis(delay)),
    };
    let error = error
        .or_else(|| (!delivered).then(|| format!("the endpoint answered {}", status.unwrap_or(0))));
    db.write(store::webhooks::record_attempt(&store::webhooks::Attempt {
        delivery_id,
        status: new_status,
        attempts,
        first_attempt_at: first,
        http_status: status,
        error: error.as_deref(),
        next_attempt_at: next_at,
        now,
    }))
    .await?;
    let line = match new_status {
        DeliveryStatus::Delivered => LogLine::info("webhook.delivered", now),
        DeliveryStatus::Failed => LogLine::warn("webhook.gave_up", now),
        DeliveryStatus::Pending => LogLine::info("webhook.retrying", now),
    };
    logging::emit(
        &line
            .field("delivery_id", delivery_id)
            .field("event_id", p.event_id.as_str())
            .field("endpoint_id", p.endpoint_id.as_str())
            .field("attempts", attempts)
            .field("status", status.map_or(0, i64::from)),
    );
    Ok(match next {
        Some(AfterFailure::RetryIn(delay)) => {
            let secs = (delay / 1_000).clamp(1, i64::from(MAX_QUEUE_DELAY_SECS));
            Step::RetryIn(secs as u32)
        }
        _ => Step::Done,
    })
}

/// Renders the event's body, stores it unless another delivery stored one first, and answers
/// whichever was stored: the body is the same for every attempt and endpoint.
async fn freeze_body(
    cx: &Context,
    keyring: &Keyring,
    db: &worker::D1Database,
    p: &Pending,
    now: Timestamp,
) -> worker::Result<String> {
    let link = if webhook_payload::wants_reconnect_link(&p.kind, &p.colour) {
        reconnect_url(cx, keyring, p, now)
    } else {
        None
    };
    let body = webhook_payload::render(
        &EventRecord {
            id: &p.event_id,
            kind: &p.kind,
            connection_id: &p.connection_id,
            end_user_ref: p.end_user_ref.as_deref().unwrap_or(""),
            provider: p.provider.as_deref().unwrap_or(""),
            seq: p.seq as i64,
            colour: &p.colour,
            reason: &p.reason,
            message: &p.message,
            occurred_at: time(p.occurred_at),
        },
        link.as_deref(),
    );
    db.write(store::webhooks::freeze_body(&p.event_id, &body))
        .await?;
    #[derive(Deserialize)]
    struct Stored {
        body: Option<String>,
    }
    let stored: Option<Stored> = db.first(store::webhooks::body(&p.event_id)).await?;
    Ok(stored.and_then(|s| s.body).unwrap_or(body))
}

/// A reconnect link for the event's connection, at the grant's current epoch; `None` (logged)
/// when the deployment has no `PUBLIC_BASE_URL` to put in front of it.
fn reconnect_url(cx: &Context, keyring: &Keyring, p: &Pending, now: Timestamp) -> Option<String> {
    let Some(base) = crate::edge::http::public_url::configured(cx).map(|o| o.to_url()) else {
        logging::emit(
            &LogLine::warn("webhook.no_public_base_url", now)
                .field("event_id", p.event_id.as_str()),
        );
        return None;
    };
    let claims = reconnect_links::new_claims(
        &p.grant_id,
        p.epoch? as i64,
        &p.tenant_id,
        &p.connection_id,
        cx.settings().reconnect_link_days,
        now,
    )
    .ok()?;
    Some(reconnect_links::link_url(
        &base,
        &reconnect_links::sign(&claims, keyring),
    ))
}

/// POSTs the body; the receiver's status, or why there was none. Redirects are not followed
/// (an endpoint is the URL the tenant registered), and the receiver has `http_client`'s
/// deadline to answer.
async fn post(
    url: &str,
    webhook_id: &str,
    timestamp: i64,
    signature: &str,
    body: &str,
) -> Result<u16, String> {
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(url)
        .header("content-type", "application/json")
        .header("user-agent", "Evergreen-Webhooks/1")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.as_bytes().to_vec())
        .map_err(|e| format!("could not build the request: {e}"))?;
    match http_client::send(request).await {
        Ok(answer) => Ok(answer.status().as_u16()),
        Err(e) => Err(format!("no answer: {e}")),
    }
}
