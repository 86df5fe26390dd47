//! The operator's API (`/admin/…`): tenants, their API keys, return-URL allow-lists and their
//! own OAuth clients. Authenticated by the operator secret; secrets it takes in are stored
//! hashed (API keys) or sealed (client secrets), and never returned.

use super::bindings;
use super::d1_time::{bind as ms, json as at};
use super::respond::{self, Handled};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::api_keys::{self, Scopes};
use crate::core::auth::authorize_operator;
use crate::core::clock::Timestamp;
use crate::core::crypto::Binding;
use crate::core::ids::new_id;
use crate::core::return_urls;
use crate::core::routes::AdminRoute;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Request, Result};

/// How long a rotated key keeps working unless the request says otherwise.
const DEFAULT_OVERLAP_SECONDS: u32 = 3600;
/// The longest overlap a rotation may ask for.
const MAX_OVERLAP_SECONDS: u32 = 7 * 24 * 3600;

pub async fn handle(route: AdminRoute, mut req: Request, env: &Env, now: Timestamp) -> Handled {
    let authorization = req.headers().get("authorization")?;
    let secret = bindings::text(env, bindings::OPERATOR_SECRET);
    authorize_operator(authorization.as_deref(), secret.as_deref())?;
    let db = bindings::db(env)?;
    let (status, body) = match route {
        AdminRoute::CreateTenant => create_tenant(&mut req, &db, now).await?,
        AdminRoute::Tenant(id) => show_tenant(&db, &id).await?,
        AdminRoute::DeleteTenant(id) => super::erasure::delete_tenant(&db, &id, now).await?,
        AdminRoute::CreateApiKey(tenant) => create_key(&mut req, &db, &tenant, now).await?,
        AdminRoute::RotateApiKey(key) => rotate_key(&mut req, &db, &key, now).await?,
        AdminRoute::RevokeApiKey(key) => revoke_key(&db, &key, now).await?,
        AdminRoute::SetReturnUrls(tenant) => set_return_urls(&mut req, &db, &tenant, now).await?,
        AdminRoute::SetClient(tenant, provider) => {
            set_client(&mut req, env, &db, &tenant, &provider, now).await?
        }
        AdminRoute::DeleteClient(tenant, provider) => {
            delete_client(&db, &tenant, &provider).await?
        }
        AdminRoute::DeadLetters => super::dead_letters::list(&db, &req.inner().url()).await?,
        AdminRoute::Metrics => (200, super::metrics::metrics(env, &db, now).await?),
        AdminRoute::ReplayDeadLetter(id) => super::dead_letters::replay(env, &db, &id, now).await?,
    };
    Ok(respond::json(status, &body)?)
}

async fn tenant_exists(db: &D1Database, tenant: &str) -> Result<bool> {
    let found: Option<String> = db
        .prepare("SELECT id FROM tenants WHERE id = ?1 AND deleted_at IS NULL")
        .bind(&[tenant.into()])?
        .first(Some("id"))
        .await?;
    Ok(found.is_some())
}

fn no_tenant(tenant: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("No tenant {tenant}."))
}

#[derive(Deserialize)]
struct NewTenant {
    name: String,
}

async fn create_tenant(
    req: &mut Request,
    db: &D1Database,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let body: NewTenant = respond::read_json(req).await?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_request("A tenant's name is 1 to 100 characters.").into());
    }
    let id = new_id("ten_")?;
    db.prepare("INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)")
        .bind(&[id.as_str().into(), name.into(), ms(now)])?
        .run()
        .await?;
    Ok((
        201,
        json!({ "id": id, "name": name, "created_at": now.to_rfc3339() }),
    ))
}

#[derive(Deserialize)]
struct TenantRow {
    id: String,
    name: String,
    created_at: f64,
    deleted_at: Option<f64>,
}

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    prefix: String,
    scopes: String,
    created_at: f64,
    expires_at: Option<f64>,
    revoked_at: Option<f64>,
}

#[derive(Deserialize)]
struct UrlRow {
    url: String,
}

#[derive(Deserialize)]
struct ClientRow {
    provider: String,
    client_id: String,
    key_id: String,
    updated_at: f64,
}

async fn show_tenant(db: &D1Database, tenant: &str) -> Handled<(u16, Value)> {
    let row: Option<TenantRow> = db
        .prepare("SELECT id, name, created_at, deleted_at FROM tenants WHERE id = ?1")
        .bind(&[tenant.into()])?
        .first(None)
        .await?;
    let Some(row) = row else {
        return Err(no_tenant(tenant).into());
    };
    let results = db
        .batch(vec![
            db.prepare(
                "SELECT id, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys \
                 WHERE tenant_id = ?1 ORDER BY created_at",
            )
            .bind(&[tenant.into()])?,
            db.prepare("SELECT url FROM tenant_return_urls WHERE tenant_id = ?1 ORDER BY url")
                .bind(&[tenant.into()])?,
            db.prepare(
                "SELECT provider, client_id, key_id, updated_at FROM tenant_clients \
                 WHERE tenant_id = ?1 ORDER BY provider",
            )
            .bind(&[tenant.into()])?,
        ])
        .await?;
    let keys: Vec<KeyRow> = results[0].results()?;
    let urls: Vec<UrlRow> = results[1].results()?;
    let clients: Vec<ClientRow> = results[2].results()?;
    Ok((
        200,
        json!({
            "id": row.id,
            "name": row.name,
            "created_at": at(Some(row.created_at)),
            // A deleted tenant is shown until the minute dispatch has erased it.
            "deleted_at": at(row.deleted_at),
            "erasure": row.deleted_at.map(|_| "in_progress"),
            "api_keys": keys.iter().map(|k| json!({
                "id": k.id,
                "prefix": k.prefix,
                "scopes": Scopes::from_stored(&k.scopes).names(),
                "created_at": at(Some(k.created_at)),
                "expires_at": at(k.expires_at),
                "revoked_at": at(k.revoked_at),
            })).collect::<Vec<_>>(),
            "return_urls": urls.into_iter().map(|u| u.url).collect::<Vec<_>>(),
            "clients": clients.iter().map(|c| json!({
                "provider": c.provider,
                "client_id": c.client_id,
                "key_id": c.key_id,
                "updated_at": at(Some(c.updated_at)),
            })).collect::<Vec<_>>(),
        }),
    ))
}

#[derive(Deserialize)]
struct NewKey {
    scopes: Vec<String>,
}

async fn create_key(
    req: &mut Request,
    db: &D1Database,
    tenant: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let body: NewKey = respond::read_json(req).await?;
    let scopes = Scopes::from_list(&body.scopes)?;
    if !tenant_exists(db, tenant).await? {
        return Err(no_tenant(tenant).into());
    }
    let (id, key) = insert_key(db, tenant, &scopes, now, Vec::new()).await?;
    Ok((201, key_created(&id, &key, &scopes)))
}

/// Inserts a new key, in one batch with `also` (e.g. the old key's expiry on rotation).
async fn insert_key(
    db: &D1Database,
    tenant: &str,
    scopes: &Scopes,
    now: Timestamp,
    also: Vec<worker::D1PreparedStatement>,
) -> Handled<(String, api_keys::NewApiKey)> {
    let id = new_id("key_")?;
    let key = api_keys::generate()?;
    let mut statements = vec![db
        .prepare(
            "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&[
            id.as_str().into(),
            tenant.into(),
            key.prefix.as_str().into(),
            key.hash.as_str().into(),
            scopes.to_stored().as_str().into(),
            ms(now),
        ])?];
    statements.extend(also);
    db.batch(statements).await?;
    Ok((id, key))
}

fn key_created(id: &str, key: &api_keys::NewApiKey, scopes: &Scopes) -> Value {
    json!({
        "id": id,
        "key": key.secret,
        "prefix": key.prefix,
        "scopes": scopes.names(),
        "note": "Store this key now: Evergreen keeps only its hash and cannot show it again.",
    })
}

#[derive(Deserialize, Default)]
struct Rotation {
    overlap_seconds: Option<u32>,
}

#[derive(Deserialize)]
struct LiveKey {
    tenant_id: String,
    scopes: String,
}

async fn rotate_key(
    req: &mut Request,
    db: &D1Database,
    key_id: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let text = respond::read_body(req).await?;
    let rotation: Rotation = if text.trim().is_empty() {
        Rotation::default()
    } else {
        serde_json::from_str(&text)
            .map_err(|e| ApiError::invalid_request(format!("The JSON body is not valid: {e}.")))?
    };
    let overlap = rotation.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::invalid_request(format!(
            "overlap_seconds is at most {MAX_OVERLAP_SECONDS} (7 days)."
        ))
        .into());
    }
    let live: Option<LiveKey> = db
        .prepare(
            "SELECT tenant_id, scopes FROM api_keys WHERE id = ?1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?2)",
        )
        .bind(&[key_id.into(), ms(now)])?
        .first(None)
        .await?;
    let Some(live) = live else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("No live API key {key_id} (it may be revoked or expired)."),
        )
        .into());
    };
    let scopes = Scopes::from_stored(&live.scopes);
    let old_expires = now.plus_millis(i64::from(overlap) * 1000);
    let expire_old = db
        .prepare("UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?2), ?2) WHERE id = ?1")
        .bind(&[key_id.into(), ms(old_expires)])?;
    let (id, key) = insert_key(db, &live.tenant_id, &scopes, now, vec![expire_old]).await?;
    super::tenant_api::forget_key(key_id);
    let mut body = key_created(&id, &key, &scopes);
    body["replaces"] = json!(key_id);
    body["old_key_expires_at"] = json!(old_expires.to_rfc3339());
    Ok((201, body))
}

async fn revoke_key(db: &D1Database, key_id: &str, now: Timestamp) -> Handled<(u16, Value)> {
    #[derive(Deserialize)]
    struct Revoked {
        revoked_at: f64,
    }
    // Idempotent: revoking a revoked key answers with the time it was first revoked.
    let results = db
        .batch(vec![
            db.prepare("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
                .bind(&[key_id.into(), ms(now)])?,
            db.prepare("SELECT revoked_at FROM api_keys WHERE id = ?1")
                .bind(&[key_id.into()])?,
        ])
        .await?;
    super::tenant_api::forget_key(key_id);
    let revoked: Vec<Revoked> = results[1].results()?;
    match revoked.first() {
        Some(r) => Ok((
            200,
            json!({ "id": key_id, "revoked_at": at(Some(r.revoked_at)) }),
        )),
        None => Err(ApiError::new(ErrorCode::NotFound, format!("No API key {key_id}.")).into()),
    }
}

#[derive(Deserialize)]
struct ReturnUrls {
    urls: Vec<String>,
}

async fn set_return_urls(
    req: &mut Request,
    db: &D1Database,
    tenant: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let body: ReturnUrls = respond::read_json(req).await?;
    if body.urls.len() > return_urls::MAX_PER_TENANT {
        return Err(ApiError::invalid_request(format!(
            "At most {} return URLs per tenant.",
            return_urls::MAX_PER_TENANT
        ))
        .into());
    }
    for url in &body.urls {
        if let Err(e) = return_urls::validate(url) {
            return Err(e.into());
        }
    }
    if !tenant_exists(db, tenant).await? {
        return Err(no_tenant(tenant).into());
    }
    let mut urls = body.urls;
    urls.sort();
    urls.dedup();
    let mut statements = vec![db
        .prepare("DELETE FROM tenant_return_urls WHERE tenant_id = ?1")
        .bind(&[tenant.into()])?];
    for url in &urls {
        statements.push(
            db.prepare(
                "INSERT INTO tenant_return_urls (tenant_id, url, created_at) VALUES (?1, ?2, ?3)",
            )
            .bind(&[tenant.into(), url.as_str().into(), ms(now)])?,
        );
    }
    db.batch(statements).await?;
    Ok((200, json!({ "return_urls": urls })))
}

#[derive(Deserialize)]
struct NewClient {
    client_id: String,
    client_secret: String,
}

async fn set_client(
    req: &mut Request,
    env: &Env,
    db: &D1Database,
    tenant: &str,
    provider: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    if bindings::catalogue(env)?.get(provider).is_none() {
        return Err(
            ApiError::new(ErrorCode::NotFound, format!("No provider {provider:?}.")).into(),
        );
    }
    let body: NewClient = respond::read_json(req).await?;
    if body.client_id.trim().is_empty() || body.client_secret.is_empty() {
        return Err(ApiError::invalid_request("client_id and client_secret are required.").into());
    }
    if !tenant_exists(db, tenant).await? {
        return Err(no_tenant(tenant).into());
    }
    let keyring = bindings::keyring(env)?;
    let sealed = keyring.seal(
        Binding {
            purpose: "tenant_client_secret",
            tenant_id: tenant,
            row_id: provider,
            version: 0,
        },
        body.client_secret.as_bytes(),
    )?;
    db.prepare(
        "INSERT INTO tenant_clients (tenant_id, provider, client_id, secret_ciphertext, key_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
         ON CONFLICT (tenant_id, provider) DO UPDATE SET client_id = excluded.client_id, \
           secret_ciphertext = excluded.secret_ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at",
    )
    .bind(&[
        tenant.into(),
        provider.into(),
        body.client_id.trim().into(),
        sealed.blob.as_str().into(),
        sealed.key_id.as_str().into(),
        ms(now),
    ])?
    .run()
    .await?;
    Ok((
        200,
        json!({ "provider": provider, "client_id": body.client_id.trim(), "key_id": sealed.key_id.as_str() }),
    ))
}

async fn delete_client(db: &D1Database, tenant: &str, provider: &str) -> Handled<(u16, Value)> {
    let result = db
        .prepare("DELETE FROM tenant_clients WHERE tenant_id = ?1 AND provider = ?2")
        .bind(&[tenant.into(), provider.into()])?
        .run()
        .await?;
    let deleted = result.meta()?.and_then(|m| m.changes).unwrap_or(0);
    if deleted == 1 {
        Ok((
            200,
            json!({ "deleted": { "tenant_id": tenant, "provider": provider } }),
        ))
    } else {
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("Tenant {tenant} has no own client for {provider:?}."),
        )
        .into())
    }
}
