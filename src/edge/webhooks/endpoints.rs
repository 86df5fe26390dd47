//! A tenant's webhook endpoints, their secrets' rotation and their delivery log
//! (`/v1/webhook-endpoints`, `/v1/webhook-deliveries/{id}/redeliver`). The rules are in `core::webhooks::webhook_endpoints`; the
//! delivery itself in `webhook_delivery`.

use crate::core::common::clock::Timestamp;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::{cursor, query};
use crate::core::webhooks::secret_rotation::RotateRequest;
use crate::core::webhooks::webhook_endpoints::{event_types_list, EndpointRequest, MAX_PER_TENANT};
use crate::core::webhooks::webhook_retry::DeliveryStatus;
use crate::core::webhooks::webhook_signature::WebhookSecret;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::json as at;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::tenancy::caller::Caller;
use crate::edge::webhooks::outbox;
use crate::edge::webhooks::webhook_delivery::{
    open_secret, secret_binding, PREVIOUS_SECRET_PURPOSE, SECRET_PURPOSE,
};
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Request};

#[derive(Deserialize)]
struct EndpointRow {
    id: crate::core::common::ids::WebhookEndpointId,
    url: String,
    description: Option<String>,
    event_types: String,
    created_at: f64,
    previous_secret_expires_at: Option<f64>,
}

impl EndpointRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "event_types": event_types_list(&self.event_types),
            "created_at": at(Some(self.created_at)),
            "previous_secret_expires_at": at(self.previous_secret_expires_at),
        })
    }
}

/// `POST /v1/webhook-endpoints`: answers the signing secret, this once.
pub async fn create(
    mut req: Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    now: Timestamp,
) -> Handled {
    let body: EndpointRequest = respond::read_json(&mut req).await?;
    let valid = body.validate()?;
    #[derive(Deserialize)]
    struct Count {
        n: f64,
    }
    let count: Option<Count> = db
        .first(store::webhooks::count_live(&caller.tenant_id))
        .await?;
    if count.map_or(0.0, |c| c.n) >= MAX_PER_TENANT as f64 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A tenant has at most {MAX_PER_TENANT} webhook endpoints; delete one first."),
        )
        .into());
    }
    let id = crate::core::common::ids::WebhookEndpointId::mint()?;
    let secret = WebhookSecret::generate()?;
    let shown = secret.expose();
    let sealed = cx.keyring()?.seal(
        secret_binding(SECRET_PURPOSE, &caller.tenant_id, &id),
        shown.as_bytes(),
    )?;
    db.write(store::webhooks::create(&store::webhooks::NewEndpoint {
        id: &id,
        tenant_id: &caller.tenant_id,
        url: &valid.url,
        description: valid.description.as_deref(),
        event_types: &valid.event_types,
        secret_ciphertext: &sealed.blob,
        key_id: sealed.key_id.as_str(),
        now,
    }))
    .await?;
    let row = EndpointRow {
        id,
        url: valid.url,
        description: valid.description,
        event_types: valid.event_types,
        created_at: now.as_millis() as f64,
        previous_secret_expires_at: None,
    };
    let mut answer = row.to_json();
    answer["secret"] = json!(shown);
    Ok(respond::json(201, &answer)?)
}

/// `GET /v1/webhook-endpoints`.
pub async fn list(db: &D1Database, caller: &Caller) -> Handled {
    let rows: Vec<EndpointRow> = db.all(store::webhooks::list(&caller.tenant_id)).await?;
    let listed: Vec<Value> = rows.iter().map(EndpointRow::to_json).collect();
    Ok(respond::json(200, &json!({ "webhook_endpoints": listed }))?)
}

async fn endpoint(db: &D1Database, caller: &Caller, id: &str) -> Handled<EndpointRow> {
    let row: Option<EndpointRow> = db
        .first(store::webhooks::find(&caller.tenant_id, id))
        .await?;
    Ok(row
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No webhook endpoint {id}.")))?)
}

/// `GET /v1/webhook-endpoints/{id}`.
pub async fn show(db: &D1Database, caller: &Caller, id: &str) -> Handled {
    Ok(respond::json(
        200,
        &endpoint(db, caller, id).await?.to_json(),
    )?)
}

/// `DELETE /v1/webhook-endpoints/{id}`: no more deliveries; pending ones end as failed.
pub async fn delete(db: &D1Database, caller: &Caller, id: &str, now: Timestamp) -> Handled {
    endpoint(db, caller, id).await?;
    Db::batch(
        db,
        store::webhooks::delete(id, &caller.tenant_id, now).into(),
    )
    .await?;
    Ok(respond::json(200, &json!({ "id": id, "deleted": true }))?)
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret` `{"overlap_seconds"?}`: a new signing
/// secret, answered this once; the one it replaces signs beside it until the overlap ends
/// (`core::webhooks::secret_rotation`).
pub async fn rotate_secret(
    mut req: Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let ask: RotateRequest = respond::read_json_or_default(&mut req).await?;
    let previous_expires_at = ask.previous_expires_at(now)?;
    #[derive(Deserialize)]
    struct Stored {
        secret_ciphertext: String,
        key_id: String,
    }
    let stored: Stored = db
        .first(store::webhooks::secret(&caller.tenant_id, id))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No webhook endpoint {id}.")))?;
    let keyring = cx.keyring()?;
    let replaced = open_secret(
        &keyring,
        SECRET_PURPOSE,
        (&caller.tenant_id, id),
        &stored.key_id,
        &stored.secret_ciphertext,
    )
    .ok_or_else(|| Internal::Unopened(format!("the signing secret of endpoint {id}")))?;
    let binding = |purpose| secret_binding(purpose, &caller.tenant_id, id);
    let previous = keyring.seal(
        binding(PREVIOUS_SECRET_PURPOSE),
        replaced.expose().as_bytes(),
    )?;
    let secret = WebhookSecret::generate()?;
    let shown = secret.expose();
    let sealed = keyring.seal(binding(SECRET_PURPOSE), shown.as_bytes())?;
    let rotated = db
        .write(store::webhooks::rotate(&store::webhooks::Rotation {
            tenant_id: &caller.tenant_id,
            endpoint_id: id,
            read: (&stored.key_id, &stored.secret_ciphertext),
            new: (sealed.key_id.as_str(), &sealed.blob),
            previous: (previous.key_id.as_str(), &previous.blob),
            previous_expires_at,
        }))
        .await?;
    if rotated != 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "The secret of webhook endpoint {id} changed while this rotation ran (another \
                 rotation, or a deletion); read the endpoint and rotate again if you still need to."
            ),
        )
        .into());
    }
    let mut answer = endpoint(db, caller, id).await?.to_json();
    answer["secret"] = json!(shown);
    Ok(respond::json(200, &answer)?)
}

/// The minute dispatch's part: deletes the replaced secrets whose overlap ended
/// (`{"ended_secret_overlaps": n}`).
pub async fn end_overlaps(cx: &Context, now: Timestamp) -> worker::Result<Value> {
    let ended = cx.db()?.write(store::webhooks::end_overlaps(now)).await?;
    Ok(json!({ "ended_secret_overlaps": ended }))
}

#[derive(Deserialize)]
struct DeliveryRow {
    id: String,
    event_id: String,
    kind: String,
    connection_id: String,
    target_id: Option<String>,
    post_id: Option<String>,
    seq: f64,
    status: String,
    attempts: f64,
    last_status: Option<f64>,
    last_error: Option<String>,
    first_attempt_at: Option<f64>,
    last_attempt_at: Option<f64>,
    next_attempt_at: f64,
    delivered_at: Option<f64>,
    created_at: f64,
}

impl DeliveryRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "event_id": self.event_id,
            "type": self.kind,
            "connection_id": self.connection_id,
            "target_id": self.target_id,
            "post_id": self.post_id,
            "seq": self.seq as i64,
            "status": self.status,
            "attempts": self.attempts as i64,
            "last_status": self.last_status.map(|s| s as i64),
            "last_error": self.last_error,
            "first_attempt_at": at(self.first_attempt_at),
            "last_attempt_at": at(self.last_attempt_at),
            "next_attempt_at": (self.status == DeliveryStatus::Pending.as_str()).then(|| at(Some(self.next_attempt_at))),
            "delivered_at": at(self.delivered_at),
            "created_at": at(Some(self.created_at)),
        })
    }
}

/// The most deliveries one page answers, and what a page holds unless `?limit=` says
/// otherwise: what the log answered before it had pages.
const DELIVERIES_SHOWN: u32 = 200;

/// `GET /v1/webhook-endpoints/{id}/deliveries[?status=pending|delivered|failed][&limit=…]
/// [&cursor=…]`: the delivery log, newest first, a page at a time.
pub async fn deliveries(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    url: &str,
) -> Handled {
    endpoint(db, caller, id).await?;
    let status = query::param(url, "status");
    let status = match &status {
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_request("status must be pending, delivered or failed.")
        })?),
        None => None,
    };
    let scope = cursor::ListScope {
        list: "deliveries",
        tenant_id: caller.tenant_id.as_str(),
        filter: cursor::filter_form(&[Some(id), status.map(DeliveryStatus::as_str)]),
    };
    let keyring = cx.keyring()?;
    let page = cursor::ask(&scope, url, DELIVERIES_SHOWN, &keyring)?;
    let (limit, before) = (page.limit, page.after);
    let mut rows: Vec<DeliveryRow> = db
        .all(store::webhooks::deliveries(
            &caller.tenant_id,
            id,
            status,
            before.as_ref().map(|p| (p.key, p.id.as_str())),
            i64::from(limit) + 1,
        ))
        .await?;
    let next_cursor = cursor::cut(&mut rows, limit, |last| cursor::Position {
        key: last.created_at as i64,
        id: last.id.clone(),
    })
    .map(|p| cursor::next(&scope, p, &keyring));
    let listed: Vec<Value> = rows.iter().map(DeliveryRow::to_json).collect();
    Ok(respond::json(
        200,
        &json!({ "deliveries": listed, "next_cursor": next_cursor }),
    )?)
}

/// `POST /v1/webhook-deliveries/{id}/redeliver`: the same body again, with a new retry window.
pub async fn redeliver(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let updated = db
        .write(store::webhooks::redeliver(id, &caller.tenant_id, now))
        .await?;
    if updated != 1 {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("No webhook delivery {id} to an endpoint that still exists."),
        )
        .into());
    }
    outbox::send_one(cx, id).await?;
    let row: Option<DeliveryRow> = db
        .first(store::webhooks::delivery(&caller.tenant_id, id))
        .await?;
    let body = row.map_or_else(|| json!({ "id": id }), |r| r.to_json());
    Ok(respond::json(202, &body)?)
}
