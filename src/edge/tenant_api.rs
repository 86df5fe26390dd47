//! A tenant's API (`/v1/…`), authenticated by one of its API keys (`Authorization: Bearer evg_…`).
//!
//! Every query is scoped by the key's tenant, so one tenant can never read another's rows.
//! Connections are listed without any token; reading tokens is a separate, `tokens:read` call.

use super::bindings;
use super::d1_time::{self, json as at};
use super::respond::{self, Handled};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::api_keys::{hash_presented, Scope, Scopes};
use crate::core::auth::bearer_credential;
use crate::core::clock::Timestamp;
use crate::core::query;
use crate::core::routes::TenantRoute;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request, Response, Result};

/// Who is calling: the tenant behind a live API key.
pub struct Caller {
    pub tenant_id: String,
    pub scopes: Scopes,
}

#[derive(Deserialize)]
struct KeyLookup {
    tenant_id: String,
    scopes: String,
}

/// The caller behind the request's API key, or `unauthorized`. The same answer for a missing,
/// malformed, unknown, revoked or expired key, so a prober learns nothing.
pub async fn authenticate(req: &Request, db: &D1Database, now: Timestamp) -> Handled<Caller> {
    let refused = || {
        ApiError::unauthorized(
            "Send a live API key as `Authorization: Bearer evg_…` (the operator creates them).",
        )
    };
    let header = req.headers().get("authorization")?;
    let Some(hash) = bearer_credential(header.as_deref()).and_then(hash_presented) else {
        return Err(refused().into());
    };
    let found: Option<KeyLookup> = db
        .prepare(
            "SELECT k.tenant_id, k.scopes FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > ?2) AND t.deleted_at IS NULL",
        )
        .bind(&[hash.as_str().into(), d1_time::bind(now)])?
        .first(None)
        .await?;
    let key = found.ok_or_else(refused)?;
    Ok(Caller {
        tenant_id: key.tenant_id,
        scopes: Scopes::from_stored(&key.scopes),
    })
}

pub async fn handle(route: TenantRoute, req: Request, env: &Env, now: Timestamp) -> Handled {
    let db = bindings::db(env)?;
    let caller = authenticate(&req, &db, now).await?;
    caller.scopes.require(Scope::Manage)?;
    match route {
        TenantRoute::ListConnections => {
            let end_user = query::param(&req.inner().url(), "end_user_ref");
            Ok(list_connections(&db, &caller, end_user.as_deref()).await?)
        }
        TenantRoute::Connection(id) => show_connection(&db, &caller, &id).await,
    }
}

#[derive(Deserialize)]
struct ConnectionRow {
    id: String,
    provider: String,
    end_user_ref: String,
    kind: String,
    external_id: String,
    display_name: Option<String>,
    username: Option<String>,
    access: String,
    grant_state: String,
    access_expires_at: Option<f64>,
    grant_expires_at: Option<f64>,
    created_at: f64,
}

const CONNECTION_SELECT: &str = "SELECT c.id, g.provider, c.end_user_ref, c.kind, c.external_id, \
    c.display_name, c.username, c.access, g.state AS grant_state, g.access_expires_at, \
    g.grant_expires_at, c.created_at \
    FROM connections c JOIN grants g ON g.id = c.grant_id \
    WHERE c.tenant_id = ?1 AND c.disconnected_at IS NULL";

fn connection_json(c: &ConnectionRow) -> Value {
    json!({
        "id": c.id,
        "provider": c.provider,
        "end_user_ref": c.end_user_ref,
        "account": {
            "kind": c.kind,
            "id": c.external_id,
            "name": c.display_name,
            "username": c.username,
        },
        "access": c.access,
        "grant_state": c.grant_state,
        "access_expires_at": at(c.access_expires_at),
        "grant_expires_at": at(c.grant_expires_at),
        "created_at": at(Some(c.created_at)),
    })
}

async fn list_connections(
    db: &D1Database,
    caller: &Caller,
    end_user: Option<&str>,
) -> Result<Response> {
    let rows: Vec<ConnectionRow> = match end_user {
        Some(end_user) => db
            .prepare(format!(
                "{CONNECTION_SELECT} AND c.end_user_ref = ?2 ORDER BY c.created_at LIMIT 500"
            ))
            .bind(&[caller.tenant_id.as_str().into(), end_user.into()])?,
        None => db
            .prepare(format!(
                "{CONNECTION_SELECT} ORDER BY c.created_at LIMIT 500"
            ))
            .bind(&[caller.tenant_id.as_str().into()])?,
    }
    .all()
    .await?
    .results()?;
    respond::json(
        200,
        &json!({ "connections": rows.iter().map(connection_json).collect::<Vec<_>>() }),
    )
}

async fn show_connection(db: &D1Database, caller: &Caller, id: &str) -> Handled {
    let row: Option<ConnectionRow> = db
        .prepare(format!("{CONNECTION_SELECT} AND c.id = ?2"))
        .bind(&[caller.tenant_id.as_str().into(), id.into()])?
        .first(None)
        .await?;
    // Another tenant's connection is "not found" too: its existence is not ours to reveal.
    let row =
        row.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No connection {id}.")))?;
    Ok(respond::json(200, &connection_json(&row))?)
}
