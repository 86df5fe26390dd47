//! The operator's API (`/admin/…`): tenants, their API keys, return-URL allow-lists and their
//! own OAuth clients. Authenticated by the operator secret; secrets it takes in are stored
//! hashed (API keys) or sealed (client secrets), and never returned.

use crate::core::common::clock::Timestamp;
use crate::core::crypto::Binding;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::json_integer;
use crate::core::http::routes::AdminRoute;
use crate::core::oauth::return_urls;
use crate::core::tenancy::api_keys::{self, Scopes};
use crate::core::tenancy::auth::authorize_operator;
use crate::edge::common::bindings;
use crate::edge::common::context::Context;
use crate::edge::http::respond::{self, Handled};
use crate::store::tenants;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Request};

/// How long a rotated key keeps working unless the request says otherwise.
const DEFAULT_OVERLAP_SECONDS: u32 = 3600;
/// The longest overlap a rotation may ask for.
const MAX_OVERLAP_SECONDS: u32 = 7 * 24 * 3600;

pub async fn handle(route: AdminRoute, mut req: Request, cx: &Context, now: Timestamp) -> Handled {
    let authorization = req.headers().get("authorization")?;
    let secret = cx.text(bindings::OPERATOR_SECRET);
    authorize_operator(authorization.as_deref(), secret.as_deref())?;
    let db = cx.db()?;
    let (status, body) = match route {
        AdminRoute::CreateTenant => create_tenant(&mut req, &db, now).await?,
        AdminRoute::Tenant(id) => show_tenant(&db, &id).await?,
        AdminRoute::DeleteTenant(id) => {
            crate::edge::tenancy::erasure::delete_tenant(cx, &db, &id.into(), now).await?
        }
        AdminRoute::CreateApiKey(tenant) => create_key(&mut req, &db, &tenant, now).await?,
        AdminRoute::RotateApiKey(key) => rotate_key(&mut req, &db, &key, now).await?,
        AdminRoute::RevokeApiKey(key) => revoke_key(&db, &key, now).await?,
        AdminRoute::SetReturnUrls(tenant) => set_return_urls(&mut req, &db, &tenant, now).await?,
        AdminRoute::SetClient(tenant, provider) => {
            set_client(&mut req, cx, &db, &tenant, &provider, now).await?
        }
        AdminRoute::DeleteClient(tenant, provider) => {
            delete_client(&db, &tenant, &provider).await?
        }
        AdminRoute::DeadLetters => {
            crate::edge::tenancy::dead_letters::list(cx, &db, &req.inner().url()).await?
        }
        AdminRoute::Metrics => (
            200,
            crate::edge::tenancy::metrics::metrics(cx, &db, now).await?,
        ),
        AdminRoute::ReplayDeadLetter(id) => {
            crate::edge::tenancy::dead_letters::replay(cx, &db, &id, now).await?
        }
    };
    Ok(respond::json(status, &body)?)
}

async fn tenant_exists(db: &D1Database, tenant: &str) -> Handled<bool> {
    Ok(tenants::is_live(db, tenant).await?)
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
    let id = crate::core::common::ids::TenantId::mint()?;
    tenants::create(db, &id, name, now).await?;
    Ok((
        201,
        json!({ "id": id, "name": name, "created_at": now.to_rfc3339() }),
    ))
}

async fn show_tenant(db: &D1Database, tenant: &str) -> Handled<(u16, Value)> {
    let Some(row) = tenants::find(db, tenant).await? else {
        return Err(no_tenant(tenant).into());
    };
    let keys = tenants::list_keys(db, &tenant.into()).await?;
    let urls = tenants::return_urls(db, &tenant.into()).await?;
    let clients = tenants::list_clients(db, &tenant.into()).await?;
    let at = |t: Option<Timestamp>| t.map(Timestamp::to_rfc3339);
    Ok((
        200,
        json!({
            "id": row.id,
            "name": row.name,
            "created_at": row.created_at.to_rfc3339(),
            // A deleted tenant is shown until the minute dispatch has erased it.
            "deleted_at": at(row.deleted_at),
            "erasure": row.deleted_at.map(|_| "in_progress"),
            "api_keys": keys.iter().map(|k| json!({
                "id": k.id,
                "prefix": k.prefix,
                "scopes": Scopes::from_stored(&k.scopes).names(),
                "created_at": k.created_at.to_rfc3339(),
                "expires_at": at(k.expires_at),
                "revoked_at": at(k.revoked_at),
            })).collect::<Vec<_>>(),
            "return_urls": urls,
            "clients": clients.iter().map(|c| json!({
                "provider": c.provider,
                "client_id": c.client_id,
                "key_id": c.key_id,
                "updated_at": c.updated_at.to_rfc3339(),
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
    let (id, key) = insert_key(db, tenant, &scopes, now, None).await?;
    Ok((201, key_created(&id, &key, &scopes)))
}

/// Inserts a new key; on rotation, in one batch with the old key's expiry.
async fn insert_key(
    db: &D1Database,
    tenant: &str,
    scopes: &Scopes,
    now: Timestamp,
    expire_old: Option<(&str, Timestamp)>,
) -> Handled<(String, api_keys::NewApiKey)> {
    let id = crate::core::common::ids::ApiKeyId::mint()?;
    let key = api_keys::generate()?;
    let stored_scopes = scopes.to_stored();
    let new_key = tenants::NewKey {
        id: &id,
        tenant_id: &tenant.into(),
        prefix: &key.prefix,
        secret_hash: &key.hash,
        scopes: &stored_scopes,
        created_at: now,
    };
    tenants::insert_key(db, new_key, expire_old).await?;
    Ok((id.into_string(), key))
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
#[serde(deny_unknown_fields)]
struct Rotation {
    #[serde(default, deserialize_with = "json_integer::optional")]
    overlap_seconds: Option<u32>,
}

async fn rotate_key(
    req: &mut Request,
    db: &D1Database,
    key_id: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    let rotation: Rotation = respond::read_json_or_default(req).await?;
    let overlap = rotation.overlap_seconds.unwrap_or(DEFAULT_OVERLAP_SECONDS);
    if overlap > MAX_OVERLAP_SECONDS {
        return Err(ApiError::invalid_request(format!(
            "overlap_seconds is at most {MAX_OVERLAP_SECONDS} (7 days)."
        ))
        .into());
    }
    let Some(live) = tenants::live_key_by_id(db, key_id, now).await? else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("No live API key {key_id} (it may be revoked or expired)."),
        )
        .into());
    };
    let scopes = Scopes::from_stored(&live.scopes);
    let old_expires = now.plus_millis(i64::from(overlap) * 1000);
    let expire_old = Some((key_id, old_expires));
    let (id, key) = insert_key(db, &live.tenant_id, &scopes, now, expire_old).await?;
    crate::edge::tenancy::caller::forget_key(key_id);
    let mut body = key_created(&id, &key, &scopes);
    body["replaces"] = json!(key_id);
    body["old_key_expires_at"] = json!(old_expires.to_rfc3339());
    Ok((201, body))
}

async fn revoke_key(db: &D1Database, key_id: &str, now: Timestamp) -> Handled<(u16, Value)> {
    // Idempotent: revoking a revoked key answers with the time it was first revoked.
    let revoked_at = tenants::revoke_key(db, key_id, now).await?;
    crate::edge::tenancy::caller::forget_key(key_id);
    match revoked_at {
        Some(at) => Ok((200, json!({ "id": key_id, "revoked_at": at.to_rfc3339() }))),
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
    tenants::set_return_urls(db, &tenant.into(), &urls, now).await?;
    Ok((200, json!({ "return_urls": urls })))
}

#[derive(Deserialize)]
struct NewClient {
    client_id: String,
    client_secret: String,
}

async fn set_client(
    req: &mut Request,
    cx: &Context,
    db: &D1Database,
    tenant: &str,
    provider: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    // A Mastodon server's app (`mastodon:<server>`) may be set by hand too; the template not.
    let known = cx
        .catalogue()?
        .resolve(provider)
        .is_some_and(|s| s.per_server.is_none() || s.server.is_some());
    if !known {
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
    let keyring = cx.keyring()?;
    let sealed = keyring.seal(
        Binding {
            purpose: "tenant_client_secret",
            tenant_id: tenant,
            row_id: provider,
            version: 0,
        },
        body.client_secret.as_bytes(),
    )?;
    let client = tenants::Client {
        tenant_id: tenant.into(),
        provider: provider.to_owned(),
        client_id: body.client_id.trim().to_owned(),
        secret_ciphertext: sealed.blob.clone(),
        key_id: sealed.key_id.as_str().to_owned(),
        updated_at: now,
    };
    tenants::put_client(db, &client).await?;
    Ok((
        200,
        json!({ "provider": provider, "client_id": body.client_id.trim(), "key_id": sealed.key_id.as_str() }),
    ))
}

async fn delete_client(db: &D1Database, tenant: &str, provider: &str) -> Handled<(u16, Value)> {
    let deleted = tenants::delete_client(db, &tenant.into(), provider).await?;
    if deleted {
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
