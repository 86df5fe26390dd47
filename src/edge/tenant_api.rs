//! A tenant's API (`/v1/…`), authenticated by one of its API keys (`Authorization: Bearer evg_…`).
//!
//! Every query is scoped by the key's tenant, so one tenant can never read another's rows.
//! Connections are listed without any token; reading tokens is a separate, `tokens:read` call.

use super::d1_time::bind as ms;
use super::d1_time::{self, json as at};
use super::respond::{self, Handled};
use super::{bindings, connect, grants};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::api_keys::{hash_presented, Scope, Scopes};
use crate::core::auth::bearer_credential;
use crate::core::clock::Timestamp;
use crate::core::grant_tokens::TokenRequest;
use crate::core::query;
use crate::core::routes::TenantRoute;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request, Response, Result};

/// Who is calling: the tenant behind a live API key.
pub struct Caller {
    pub tenant_id: String,
    pub key_id: String,
    pub scopes: Scopes,
}

#[derive(Deserialize)]
struct KeyLookup {
    id: String,
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
            "SELECT k.id, k.tenant_id, k.scopes FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
             WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL \
               AND (k.expires_at IS NULL OR k.expires_at > ?2) AND t.deleted_at IS NULL",
        )
        .bind(&[hash.as_str().into(), d1_time::bind(now)])?
        .first(None)
        .await?;
    let key = found.ok_or_else(refused)?;
    Ok(Caller {
        key_id: key.id,
        tenant_id: key.tenant_id,
        scopes: Scopes::from_stored(&key.scopes),
    })
}

pub async fn handle(route: TenantRoute, mut req: Request, env: &Env, now: Timestamp) -> Handled {
    let db = bindings::db(env)?;
    let caller = authenticate(&req, &db, now).await?;
    let needed = match route {
        TenantRoute::ConnectionToken(_) => Scope::TokensRead,
        _ => Scope::Manage,
    };
    caller.scopes.require(needed)?;
    match route {
        TenantRoute::ListConnections => {
            let end_user = query::param(&req.inner().url(), "end_user_ref");
            Ok(list_connections(&db, &caller, end_user.as_deref()).await?)
        }
        TenantRoute::Connection(id) => show_connection(&db, &caller, &id).await,
        TenantRoute::CreateConnectSession => {
            connect::create_session(req, env, &db, &caller, now).await
        }
        TenantRoute::ConnectionToken(id) => {
            let body = req.text().await.unwrap_or_default();
            let ask = TokenRequest::parse(&body).map_err(ApiError::invalid_request)?;
            connection_token(env, &db, &caller, &id, ask, now).await
        }
    }
}

#[derive(Deserialize)]
struct ConnectionRow {
    id: String,
    grant_id: String,
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

const CONNECTION_SELECT: &str =
    "SELECT c.id, c.grant_id, g.provider, c.end_user_ref, c.kind, c.external_id, \
    c.display_name, c.username, c.access, g.state AS grant_state, g.access_expires_at, \
    g.grant_expires_at, c.created_at \
    FROM connections c JOIN grants g ON g.id = c.grant_id \
    WHERE c.tenant_id = ?1 AND c.disconnected_at IS NULL";

fn connection_json(c: &ConnectionRow) -> Value {
    json!({
        "id": c.id,
        "grant_id": c.grant_id,
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

/// `POST /v1/connections/{id}/token`: the stored access token, through the grant's object.
/// Every read is audited in `token_reads` (who, which connection, what they got; never the token).
async fn connection_token(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    ask: TokenRequest,
    now: Timestamp,
) -> Handled {
    #[derive(Deserialize)]
    struct Row {
        grant_id: String,
    }
    let row: Option<Row> = db
        .prepare(
            "SELECT grant_id FROM connections \
             WHERE id = ?1 AND tenant_id = ?2 AND disconnected_at IS NULL",
        )
        .bind(&[id.into(), caller.tenant_id.as_str().into()])?
        .first(None)
        .await?;
    let (grant_id, answer) = match row {
        None => (
            None,
            Err(ApiError::new(ErrorCode::NotFound, format!("No connection {id}.")).into()),
        ),
        Some(row) => {
            let answer =
                grants::access_token(env, &row.grant_id, &caller.tenant_id, ask.min_valid_seconds)
                    .await;
            (Some(row.grant_id), answer)
        }
    };
    let outcome = match &answer {
        Ok(r) if r.status_code() == 200 => "served",
        Ok(r) if r.status_code() == 409 => "expired",
        Ok(r) if r.status_code() == 404 => "not_found",
        Err(respond::Failure::Api(e)) if e.code == ErrorCode::NotFound => "not_found",
        _ => "failed",
    };
    db.prepare(
        "INSERT INTO token_reads (tenant_id, api_key_id, connection_id, grant_id, outcome, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&[
        caller.tenant_id.as_str().into(),
        caller.key_id.as_str().into(),
        id.into(),
        super::d1::text_or_null(grant_id.as_deref()),
        outcome.into(),
        ms(now),
    ])?
    .run()
    .await?;
    answer
}
