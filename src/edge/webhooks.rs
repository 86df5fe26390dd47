//! A tenant's webhook endpoints and their delivery log (`/v1/webhook-endpoints`,
//! `/v1/webhook-deliveries/{id}/redeliver`). The rules are in `core::webhook_endpoints`; the
//! delivery itself in `webhook_delivery`.

use super::d1::changes;
use super::d1_time::{bind as ms, json as at};
use super::respond::{self, Handled};
use super::tenant_api::Caller;
use super::webhook_delivery::SECRET_PURPOSE;
use super::{bindings, outbox};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::clock::Timestamp;
use crate::core::crypto::Binding;
use crate::core::ids::{kind, new_id};
use crate::core::query;
use crate::core::webhook_endpoints::{event_types_list, EndpointRequest, MAX_PER_TENANT};
use crate::core::webhook_signature::WebhookSecret;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request};

#[derive(Deserialize)]
struct EndpointRow {
    id: String,
    url: String,
    description: Option<String>,
    event_types: String,
    created_at: f64,
}

impl EndpointRow {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "description": self.description,
            "event_types": event_types_list(&self.event_types),
            "created_at": at(Some(self.created_at)),
        })
    }
}

/// `POST /v1/webhook-endpoints`: answers the signing secret, this once.
pub async fn create(
    mut req: Request,
    env: &Env,
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
        .prepare(
            "SELECT COUNT(*) AS n FROM webhook_endpoints WHERE tenant_id = ?1 AND deleted_at IS NULL",
        )
        .bind(&[caller.tenant_id.as_str().into()])?
        .first(None)
        .await?;
    if count.map_or(0.0, |c| c.n) >= MAX_PER_TENANT as f64 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("A tenant has at most {MAX_PER_TENANT} webhook endpoints; delete one first."),
        )
        .into());
    }
    let id = new_id(kind::WEBHOOK_ENDPOINT)?;
    let secret = WebhookSecret::generate()?;
    let shown = secret.expose();
    let sealed = bindings::keyring(env)?.seal(
        Binding {
            purpose: SECRET_PURPOSE,
            tenant_id: &caller.tenant_id,
            row_id: &id,
            version: 0,
        },
        shown.as_bytes(),
    )?;
    db.prepare(
        "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, \
           secret_ciphertext, key_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[
        id.as_str().into(),
        caller.tenant_id.as_str().into(),
        valid.url.as_str().into(),
        super::d1::text_or_null(valid.description.as_deref()),
        valid.event_types.as_str().into(),
        sealed.blob.as_str().into(),
        sealed.key_id.as_str().into(),
        ms(now),
    ])?
    .run()
    .await?;
    let row = EndpointRow {
        id,
        url: valid.url,
        description: valid.description,
        event_types: valid.event_types,
        created_at: now.as_millis() as f64,
    };
    let mut answer = row.to_json();
    answer["secret"] = json!(shown);
    Ok(respond::json(201, &answer)?)
}

const ENDPOINT_SELECT: &str = "SELECT id, url, description, event_types, created_at \
     FROM webhook_endpoints WHERE tenant_id = ?1 AND deleted_at IS NULL";

/// `GET /v1/webhook-endpoints`.
pub async fn list(db: &D1Database, caller: &Caller) -> Handled {
    let rows: Vec<EndpointRow> = db
        .prepare(format!("{ENDPOINT_SELECT} ORDER BY created_at"))
        .bind(&[caller.tenant_id.as_str().into()])?
        .all()
        .await?
        .results()?;
    let listed: Vec<Value> = rows.iter().map(EndpointRow::to_json).collect();
    Ok(respond::json(200, &json!({ "webhook_endpoints": listed }))?)
}

async fn endpoint(db: &D1Database, caller: &Caller, id: &str) -> Handled<EndpointRow> {
    let row: Option<EndpointRow> = db
        .prepare(format!("{ENDPOINT_SELECT} AND id = ?2"))
        .bind(&[caller.tenant_id.as_str().into(), id.into()])?
        .first(None)
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
    db.batch(vec![
        db.prepare("UPDATE webhook_endpoints SET deleted_at = ?1 WHERE id = ?2 AND tenant_id = ?3")
            .bind(&[ms(now), id.into(), caller.tenant_id.as_str().into()])?,
        db.prepare(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'the endpoint was deleted' \
             WHERE endpoint_id = ?1 AND status = 'pending'",
        )
        .bind(&[id.into()])?,
    ])
    .await?;
    Ok(respond::json(200, &json!({ "id": id, "deleted": true }))?)
}

#[derive(Deserialize)]
struct DeliveryRow {
    id: String,
    event_id: String,
    kind: String,
    connection_id: String,
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
            "seq": self.seq as i64,
            "status": self.status,
            "attempts": self.attempts as i64,
            "last_status": self.last_status.map(|s| s as i64),
            "last_error": self.last_error,
            "first_attempt_at": at(self.first_attempt_at),
            "last_attempt_at": at(self.last_attempt_at),
            "next_attempt_at": (self.status == "pending").then(|| at(Some(self.next_attempt_at))),
            "delivered_at": at(self.delivered_at),
            "created_at": at(Some(self.created_at)),
        })
    }
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.event_id, e.type AS kind, e.connection_id, e.seq, \
     d.status, d.attempts, d.last_status, d.last_error, d.first_attempt_at, d.last_attempt_at, \
     d.next_attempt_at, d.delivered_at, d.created_at \
     FROM webhook_deliveries d JOIN events e ON e.id = d.event_id WHERE d.tenant_id = ?1";

/// `GET /v1/webhook-endpoints/{id}/deliveries[?status=pending|delivered|failed]`: the newest
/// 200 first.
pub async fn deliveries(db: &D1Database, caller: &Caller, id: &str, url: &str) -> Handled {
    endpoint(db, caller, id).await?;
    let status = query::param(url, "status");
    if let Some(s) = &status {
        if !matches!(s.as_str(), "pending" | "delivered" | "failed") {
            return Err(
                ApiError::invalid_request("status must be pending, delivered or failed.").into(),
            );
        }
    }
    let rows: Vec<DeliveryRow> = db
        .prepare(format!(
            "{DELIVERY_SELECT} AND d.endpoint_id = ?2 AND (?3 IS NULL OR d.status = ?3) \
             ORDER BY d.created_at DESC, e.seq DESC LIMIT 200"
        ))
        .bind(&[
            caller.tenant_id.as_str().into(),
            id.into(),
            super::d1::text_or_null(status.as_deref()),
        ])?
        .all()
        .await?
        .results()?;
    let listed: Vec<Value> = rows.iter().map(DeliveryRow::to_json).collect();
    Ok(respond::json(200, &json!({ "deliveries": listed }))?)
}

/// `POST /v1/webhook-deliveries/{id}/redeliver`: the same body again, with a new retry window.
pub async fn redeliver(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let updated = db
        .prepare(
            "UPDATE webhook_deliveries SET status = 'pending', first_attempt_at = NULL, \
               next_attempt_at = ?1, enqueued_at = ?1 \
             WHERE id = ?2 AND tenant_id = ?3 AND EXISTS (SELECT 1 FROM webhook_endpoints w \
               WHERE w.id = webhook_deliveries.endpoint_id AND w.deleted_at IS NULL)",
        )
        .bind(&[ms(now), id.into(), caller.tenant_id.as_str().into()])?
        .run()
        .await?;
    if changes(&updated) != 1 {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("No webhook delivery {id} to an endpoint that still exists."),
        )
        .into());
    }
    outbox::send_one(env, id).await?;
    let row: Option<DeliveryRow> = db
        .prepare(format!("{DELIVERY_SELECT} AND d.id = ?2"))
        .bind(&[caller.tenant_id.as_str().into(), id.into()])?
        .first(None)
        .await?;
    let body = row.map_or_else(|| json!({ "id": id }), |r| r.to_json());
    Ok(respond::json(202, &body)?)
}
