//! Tenants and what belongs to them directly: API keys (hashes only), the return-URL
//! allow-list, and tenants' own OAuth clients (secrets sealed by the caller).

use super::db::{decode_all, decode_first, Db, StoreError};
use super::row::{Row, RowError};
use super::statement::Sql;
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;

/// A tenant as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    /// Set by `DELETE /admin/tenants/{id}`; the row stays until the erasure has run.
    pub deleted_at: Option<Timestamp>,
}

/// An API key as the operator sees it: never its secret or hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: String,
    pub prefix: String,
    /// Space-separated, as `Scopes::to_stored` writes them.
    pub scopes: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A key that may authenticate a request now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveKey {
    pub id: String,
    pub tenant_id: TenantId,
    pub scopes: String,
    pub expires_at: Option<Timestamp>,
}

/// A key to store: its hash, never its secret.
pub struct NewKey<'a> {
    pub id: &'a str,
    pub tenant_id: &'a TenantId,
    pub prefix: &'a str,
    pub secret_hash: &'a str,
    pub scopes: &'a str,
    pub created_at: Timestamp,
}

/// A tenant's own OAuth client, its secret sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub tenant_id: TenantId,
    pub provider: String,
    pub client_id: String,
    pub secret_ciphertext: String,
    pub key_id: String,
    pub updated_at: Timestamp,
}

pub const CREATE: Sql = Sql {
    name: "tenants.create",
    text: "INSERT INTO tenants (id, name, created_at) VALUES (?1, ?2, ?3)",
};
pub const FIND: Sql = Sql {
    name: "tenants.find",
    text: "SELECT id, name, created_at, deleted_at FROM tenants WHERE id = ?1",
};
pub const IS_LIVE: Sql = Sql {
    name: "tenants.is_live",
    text: "SELECT 1 AS live FROM tenants WHERE id = ?1 AND deleted_at IS NULL",
};
pub const INSERT_KEY: Sql = Sql {
    name: "tenants.insert_key",
    text: "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, scopes, created_at) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};
pub const LIST_KEYS: Sql = Sql {
    name: "tenants.list_keys",
    text: "SELECT id, prefix, scopes, created_at, expires_at, revoked_at FROM api_keys \
           WHERE tenant_id = ?1 ORDER BY created_at, id",
};
pub const LIVE_KEY_BY_ID: Sql = Sql {
    name: "tenants.live_key_by_id",
    text: "SELECT id, tenant_id, scopes, expires_at FROM api_keys WHERE id = ?1 \
           AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?2)",
};
pub const LIVE_KEY_BY_HASH: Sql = Sql {
    name: "tenants.live_key_by_hash",
    text: "SELECT k.id, k.tenant_id, k.scopes, k.expires_at \
           FROM api_keys k JOIN tenants t ON t.id = k.tenant_id \
           WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL \
             AND (k.expires_at IS NULL OR k.expires_at > ?2) AND t.deleted_at IS NULL",
};
pub const EXPIRE_KEY: Sql = Sql {
    name: "tenants.expire_key",
    text: "UPDATE api_keys SET expires_at = MIN(COALESCE(expires_at, ?2), ?2) WHERE id = ?1",
};
pub const REVOKE_KEY: Sql = Sql {
    name: "tenants.revoke_key",
    text: "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
};
pub const KEY_REVOKED_AT: Sql = Sql {
    name: "tenants.key_revoked_at",
    text: "SELECT revoked_at FROM api_keys WHERE id = ?1",
};
pub const RETURN_URLS: Sql = Sql {
    name: "tenants.return_urls",
    text: "SELECT url FROM tenant_return_urls WHERE tenant_id = ?1 ORDER BY url",
};
pub const CLEAR_RETURN_URLS: Sql = Sql {
    name: "tenants.clear_return_urls",
    text: "DELETE FROM tenant_return_urls WHERE tenant_id = ?1",
};
pub const ADD_RETURN_URL: Sql = Sql {
    name: "tenants.add_return_url",
    text: "INSERT INTO tenant_return_urls (tenant_id, url, created_at) VALUES (?1, ?2, ?3)",
};
pub const PUT_CLIENT: Sql = Sql {
    name: "tenants.put_client",
    text: "INSERT INTO tenant_clients \
             (tenant_id, provider, client_id, secret_ciphertext, key_id, created_at, updated_at) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
           ON CONFLICT (tenant_id, provider) DO UPDATE SET client_id = excluded.client_id, \
             secret_ciphertext = excluded.secret_ciphertext, key_id = excluded.key_id, \
             updated_at = excluded.updated_at",
};
pub const ADD_CLIENT: Sql = Sql {
    name: "tenants.add_client",
    text: "INSERT INTO tenant_clients \
             (tenant_id, provider, client_id, secret_ciphertext, key_id, created_at, updated_at) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (tenant_id, provider) DO NOTHING",
};
pub const DELETE_CLIENT: Sql = Sql {
    name: "tenants.delete_client",
    text: "DELETE FROM tenant_clients WHERE tenant_id = ?1 AND provider = ?2",
};
pub const LIST_CLIENTS: Sql = Sql {
    name: "tenants.list_clients",
    text: "SELECT tenant_id, provider, client_id, secret_ciphertext, key_id, updated_at \
           FROM tenant_clients WHERE tenant_id = ?1 ORDER BY provider",
};
pub const CLIENT: Sql = Sql {
    name: "tenants.client",
    text: "SELECT tenant_id, provider, client_id, secret_ciphertext, key_id, updated_at \
           FROM tenant_clients WHERE tenant_id = ?1 AND provider = ?2",
};
pub const CLIENTS_FOR_PROVIDER: Sql = Sql {
    name: "tenants.clients_for_provider",
    text: "SELECT tenant_id, provider, client_id, secret_ciphertext, key_id, updated_at \
           FROM tenant_clients WHERE provider = ?1 ORDER BY tenant_id",
};

pub const STATEMENTS: &[&Sql] = &[
    &CREATE,
    &FIND,
    &IS_LIVE,
    &INSERT_KEY,
    &LIST_KEYS,
    &LIVE_KEY_BY_ID,
    &LIVE_KEY_BY_HASH,
    &EXPIRE_KEY,
    &REVOKE_KEY,
    &KEY_REVOKED_AT,
    &RETURN_URLS,
    &CLEAR_RETURN_URLS,
    &ADD_RETURN_URL,
    &PUT_CLIENT,
    &ADD_CLIENT,
    &DELETE_CLIENT,
    &LIST_CLIENTS,
    &CLIENT,
    &CLIENTS_FOR_PROVIDER,
];

fn tenant(row: &Row) -> Result<Tenant, RowError> {
    Ok(Tenant {
        id: row.text("id")?,
        name: row.text("name")?,
        created_at: row.time("created_at")?,
        deleted_at: row.opt_time("deleted_at")?,
    })
}

fn api_key(row: &Row) -> Result<ApiKey, RowError> {
    Ok(ApiKey {
        id: row.text("id")?,
        prefix: row.text("prefix")?,
        scopes: row.text("scopes")?,
        created_at: row.time("created_at")?,
        expires_at: row.opt_time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
    })
}

fn live_key(row: &Row) -> Result<LiveKey, RowError> {
    Ok(LiveKey {
        id: row.text("id")?,
        tenant_id: row.text("tenant_id")?.into(),
        scopes: row.text("scopes")?,
        expires_at: row.opt_time("expires_at")?,
    })
}

fn client_row(row: &Row) -> Result<Client, RowError> {
    Ok(Client {
        tenant_id: row.text("tenant_id")?.into(),
        provider: row.text("provider")?,
        client_id: row.text("client_id")?,
        secret_ciphertext: row.text("secret_ciphertext")?,
        key_id: row.text("key_id")?,
        updated_at: row.time("updated_at")?,
    })
}

pub async fn create(db: &impl Db, id: &str, name: &str, now: Timestamp) -> Result<(), StoreError> {
    db.run(CREATE.bind(vec![id.into(), name.into(), now.into()]))
        .await?;
    Ok(())
}

/// A tenant, deleted or not.
pub async fn find(db: &impl Db, id: &str) -> Result<Option<Tenant>, StoreError> {
    let outcome = db.run(FIND.bind(vec![id.into()])).await?;
    decode_first(FIND.name, outcome, tenant)
}

/// Whether the tenant exists and is not deleted.
pub async fn is_live(db: &impl Db, id: &str) -> Result<bool, StoreError> {
    Ok(!db.run(IS_LIVE.bind(vec![id.into()])).await?.rows.is_empty())
}

/// Stores a new key; on rotation, in one batch with the old key's expiry.
pub async fn insert_key(
    db: &impl Db,
    key: NewKey<'_>,
    expire_old: Option<(&str, Timestamp)>,
) -> Result<(), StoreError> {
    let mut statements = vec![INSERT_KEY.bind(vec![
        key.id.into(),
        key.tenant_id.into(),
        key.prefix.into(),
        key.secret_hash.into(),
        key.scopes.into(),
        key.created_at.into(),
    ])];
    if let Some((old, at)) = expire_old {
        statements.push(EXPIRE_KEY.bind(vec![old.into(), at.into()]));
    }
    db.batch(statements).await?;
    Ok(())
}

/// A tenant's keys, oldest first.
pub async fn list_keys(db: &impl Db, tenant_id: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
    let outcome = db.run(LIST_KEYS.bind(vec![tenant_id.into()])).await?;
    decode_all(LIST_KEYS.name, outcome, api_key)
}

/// The key `id` if it is neither revoked nor expired at `now`.
pub async fn live_key_by_id(
    db: &impl Db,
    id: &str,
    now: Timestamp,
) -> Result<Option<LiveKey>, StoreError> {
    let outcome = db
        .run(LIVE_KEY_BY_ID.bind(vec![id.into(), now.into()]))
        .await?;
    decode_first(LIVE_KEY_BY_ID.name, outcome, live_key)
}

/// The key whose secret hashes to `hash`, if it is live at `now` and its tenant is not deleted.
pub async fn live_key_by_hash(
    db: &impl Db,
    hash: &str,
    now: Timestamp,
) -> Result<Option<LiveKey>, StoreError> {
    let outcome = db
        .run(LIVE_KEY_BY_HASH.bind(vec![hash.into(), now.into()]))
        .await?;
    decode_first(LIVE_KEY_BY_HASH.name, outcome, live_key)
}

/// Revokes a key (idempotent) and answers when it was first revoked; `None`: no such key.
pub async fn revoke_key(
    db: &impl Db,
    id: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let mut outcomes = db
        .batch(vec![
            REVOKE_KEY.bind(vec![id.into(), now.into()]),
            KEY_REVOKED_AT.bind(vec![id.into()]),
        ])
        .await?;
    let read = outcomes.pop().unwrap_or_default();
    let at = decode_first(KEY_REVOKED_AT.name, read, |row| row.opt_time("revoked_at"))?;
    Ok(at.flatten())
}

/// The tenant's return-URL allow-list, sorted.
pub async fn return_urls(db: &impl Db, tenant_id: &TenantId) -> Result<Vec<String>, StoreError> {
    let outcome = db.run(RETURN_URLS.bind(vec![tenant_id.into()])).await?;
    decode_all(RETURN_URLS.name, outcome, |row| row.text("url"))
}

/// Replaces the tenant's return-URL allow-list in one batch.
pub async fn set_return_urls(
    db: &impl Db,
    tenant_id: &TenantId,
    urls: &[String],
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut statements = vec![CLEAR_RETURN_URLS.bind(vec![tenant_id.into()])];
    statements.extend(
        urls.iter()
            .map(|url| ADD_RETURN_URL.bind(vec![tenant_id.into(), url.into(), now.into()])),
    );
    db.batch(statements).await?;
    Ok(())
}

/// Stores a client registered for the tenant (a Mastodon server's app) unless one is there
/// already: two registrations racing keep the first. Whether this one was stored.
pub async fn add_client(db: &impl Db, client: &Client) -> Result<bool, StoreError> {
    let added = db
        .write(ADD_CLIENT.bind(vec![
            (&client.tenant_id).into(),
            (&client.provider).into(),
            (&client.client_id).into(),
            (&client.secret_ciphertext).into(),
            (&client.key_id).into(),
            client.updated_at.into(),
        ]))
        .await?;
    Ok(added == 1)
}

/// Stores (or replaces) a tenant's own client for a provider.
pub async fn put_client(db: &impl Db, client: &Client) -> Result<(), StoreError> {
    db.run(PUT_CLIENT.bind(vec![
        (&client.tenant_id).into(),
        (&client.provider).into(),
        (&client.client_id).into(),
        (&client.secret_ciphertext).into(),
        (&client.key_id).into(),
        client.updated_at.into(),
    ]))
    .await?;
    Ok(())
}

/// Deletes a tenant's own client; answers whether there was one.
pub async fn delete_client(
    db: &impl Db,
    tenant_id: &TenantId,
    provider: &str,
) -> Result<bool, StoreError> {
    let outcome = db
        .run(DELETE_CLIENT.bind(vec![tenant_id.into(), provider.into()]))
        .await?;
    Ok(outcome.changes == 1)
}

/// A tenant's own clients, by provider.
pub async fn list_clients(db: &impl Db, tenant_id: &TenantId) -> Result<Vec<Client>, StoreError> {
    let outcome = db.run(LIST_CLIENTS.bind(vec![tenant_id.into()])).await?;
    decode_all(LIST_CLIENTS.name, outcome, client_row)
}

/// The tenant's own client for a provider, if it has one.
pub async fn client(
    db: &impl Db,
    tenant_id: &TenantId,
    provider: &str,
) -> Result<Option<Client>, StoreError> {
    let outcome = db
        .run(CLIENT.bind(vec![tenant_id.into(), provider.into()]))
        .await?;
    decode_first(CLIENT.name, outcome, client_row)
}

/// Every tenant's own client for a provider.
pub async fn clients_for_provider(db: &impl Db, provider: &str) -> Result<Vec<Client>, StoreError> {
    let outcome = db
        .run(CLIENTS_FOR_PROVIDER.bind(vec![provider.into()]))
        .await?;
    decode_all(CLIENTS_FOR_PROVIDER.name, outcome, client_row)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use crate::store::sqlite::{block_on, Sqlite};
    use serde_json::Value;

    const T0: Timestamp = Timestamp::from_millis(1_764_000_000_000);

    fn key<'a>(id: &'a str, tenant_id: &'a TenantId, hash: &'a str, at: Timestamp) -> NewKey<'a> {
        NewKey {
            id,
            tenant_id,
            prefix: "evg_abc",
            secret_hash: hash,
            scopes: "manage tokens:read",
            created_at: at,
        }
    }

    /// Tenants and keys: creation, lookup by id and hash, rotation's overlap, revocation, and
    /// a deleted tenant's keys no longer authenticating.
    pub fn tenants_and_keys(db: &Sqlite) {
        block_on(async {
            create(db, "ten_a", "Acme", T0).await.unwrap();
            create(db, "ten_b", "Bolt", T0).await.unwrap();
            assert!(
                create(db, "ten_a", "again", T0).await.is_err(),
                "ids are unique"
            );
            assert_eq!(
                find(db, "ten_a").await.unwrap(),
                Some(Tenant {
                    id: "ten_a".into(),
                    name: "Acme".into(),
                    created_at: T0,
                    deleted_at: None
                })
            );
            assert_eq!(find(db, "ten_none").await.unwrap(), None);
            assert!(is_live(db, "ten_a").await.unwrap());
            assert!(!is_live(db, "ten_none").await.unwrap());

            insert_key(db, key("key_1", &"ten_a".into(), "h1", T0), None)
                .await
                .unwrap();
            insert_key(db, key("key_b", &"ten_b".into(), "hb", T0), None)
                .await
                .unwrap();
            let live = live_key_by_hash(db, "h1", T0).await.unwrap().unwrap();
            assert_eq!(
                (live.id.as_str(), live.tenant_id.as_str()),
                ("key_1", "ten_a")
            );
            assert_eq!(live.expires_at, None);
            assert_eq!(live_key_by_hash(db, "nope", T0).await.unwrap(), None);

            // Rotation: the new key and the old key's expiry land together.
            let later = T0.plus_millis(3_600_000);
            insert_key(
                db,
                key("key_2", &"ten_a".into(), "h2", T0.plus_millis(1)),
                Some(("key_1", later)),
            )
            .await
            .unwrap();
            let old = live_key_by_id(db, "key_1", T0).await.unwrap().unwrap();
            assert_eq!(old.expires_at, Some(later));
            assert_eq!(live_key_by_id(db, "key_1", later).await.unwrap(), None);
            assert_eq!(live_key_by_hash(db, "h1", later).await.unwrap(), None);
            // Expiry only ever moves earlier.
            insert_key(
                db,
                key("key_3", &"ten_a".into(), "h3", T0.plus_millis(2)),
                Some(("key_1", later.plus_millis(1))),
            )
            .await
            .unwrap();
            assert_eq!(
                live_key_by_id(db, "key_1", T0)
                    .await
                    .unwrap()
                    .unwrap()
                    .expires_at,
                Some(later)
            );
            // A failed rotation (the new key's hash is taken) leaves the old key untouched.
            assert!(insert_key(
                db,
                key("key_4", &"ten_a".into(), "h2", T0),
                Some(("key_2", T0.plus_millis(5)))
            )
            .await
            .is_err());
            assert_eq!(
                live_key_by_id(db, "key_2", T0)
                    .await
                    .unwrap()
                    .unwrap()
                    .expires_at,
                None
            );

            let keys = list_keys(db, &"ten_a".into()).await.unwrap();
            assert_eq!(
                keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
                ["key_1", "key_2", "key_3"]
            );
            assert_eq!(keys[0].scopes, "manage tokens:read");

            // Revocation is idempotent and keeps the first time.
            let first = revoke_key(db, "key_2", later).await.unwrap();
            assert_eq!(first, Some(later));
            let again = revoke_key(db, "key_2", later.plus_millis(9)).await.unwrap();
            assert_eq!(again, Some(later));
            assert_eq!(live_key_by_hash(db, "h2", T0).await.unwrap(), None);
            assert_eq!(revoke_key(db, "key_none", later).await.unwrap(), None);

            // A deleted tenant's live key no longer authenticates.
            db.exec("UPDATE tenants SET deleted_at = 1 WHERE id = 'ten_b'");
            assert_eq!(live_key_by_hash(db, "hb", T0).await.unwrap(), None);
            assert!(!is_live(db, "ten_b").await.unwrap());
        });
    }

    /// Return URLs are replaced whole; own clients are upserted, listed and deleted.
    pub fn return_urls_and_clients(db: &Sqlite) {
        block_on(async {
            create(db, "ten_c", "C", T0).await.unwrap();
            create(db, "ten_d", "D", T0).await.unwrap();
            let urls = vec!["https://a.test/b".to_owned(), "https://a.test/a".to_owned()];
            set_return_urls(db, &"ten_c".into(), &urls, T0)
                .await
                .unwrap();
            set_return_urls(db, &"ten_d".into(), &urls[..1], T0)
                .await
                .unwrap();
            assert_eq!(
                return_urls(db, &"ten_c".into()).await.unwrap(),
                ["https://a.test/a", "https://a.test/b"]
            );
            set_return_urls(db, &"ten_c".into(), &urls[..1], T0)
                .await
                .unwrap();
            assert_eq!(
                return_urls(db, &"ten_c".into()).await.unwrap(),
                ["https://a.test/b"]
            );
            // A duplicate fails the batch, and the old list survives whole.
            let twice = vec!["https://x.test/".to_owned(), "https://x.test/".to_owned()];
            assert!(set_return_urls(db, &"ten_c".into(), &twice, T0)
                .await
                .is_err());
            assert_eq!(
                return_urls(db, &"ten_c".into()).await.unwrap(),
                ["https://a.test/b"]
            );
            assert_eq!(
                return_urls(db, &"ten_d".into()).await.unwrap(),
                ["https://a.test/b"]
            );

            let mut own = Client {
                tenant_id: "ten_c".into(),
                provider: "x".into(),
                client_id: "cid".into(),
                secret_ciphertext: "sealed".into(),
                key_id: "k1".into(),
                updated_at: T0,
            };
            put_client(db, &own).await.unwrap();
            own.client_id = "cid2".into();
            own.updated_at = T0.plus_millis(5);
            put_client(db, &own).await.unwrap();
            assert_eq!(
                list_clients(db, &"ten_c".into()).await.unwrap(),
                [own.clone()]
            );
            assert_eq!(
                client(db, &"ten_c".into(), "x").await.unwrap(),
                Some(own.clone())
            );
            assert_eq!(client(db, &"ten_d".into(), "x").await.unwrap(), None);
            assert_eq!(
                db.value("SELECT created_at FROM tenant_clients WHERE tenant_id = 'ten_c'"),
                Value::from(T0.as_millis()),
                "an update keeps the creation time"
            );
            assert_eq!(clients_for_provider(db, "x").await.unwrap(), [own.clone()]);
            assert!(clients_for_provider(db, "y").await.unwrap().is_empty());
            assert!(
                !delete_client(db, &"ten_d".into(), "x").await.unwrap(),
                "not D's"
            );
            assert!(delete_client(db, &"ten_c".into(), "x").await.unwrap());
            assert!(!delete_client(db, &"ten_c".into(), "x").await.unwrap());
            // A registered client is added once; a second registration changes nothing.
            let registered = Client {
                provider: "mastodon:a.example.org".into(),
                client_id: "app1".into(),
                ..own.clone()
            };
            assert!(add_client(db, &registered).await.unwrap());
            let racing = Client {
                client_id: "app2".into(),
                ..registered.clone()
            };
            assert!(!add_client(db, &racing).await.unwrap());
            assert_eq!(
                client(db, &"ten_c".into(), "mastodon:a.example.org")
                    .await
                    .unwrap()
                    .map(|c| c.client_id),
                Some("app1".to_owned())
            );
            assert!(delete_client(db, &"ten_c".into(), "mastodon:a.example.org")
                .await
                .unwrap());
            assert!(list_clients(db, &"ten_c".into()).await.unwrap().is_empty());
        });
    }
}
