//! The re-encryption sweep (`core::key_rotation`): part of the minute dispatch. Each run seals
//! a page of stored secrets again under the active data key: tenants' own client secrets and
//! webhook endpoints' signing secrets here, with writes conditional on the row being unchanged
//! (an operator or tenant replacing the secret meanwhile wins); grants' tokens through each
//! grant's Durable Object, their only writer. Finding the rows uses `key_id` ranges around the
//! active key, which the `grants_by_key` index answers without a scan once nothing is left.
//!
//! A secret that does not open (its key is not configured, or it was tampered with) is skipped
//! and counted; its row's reads fail the same way, and `/admin/metrics` names a missing key.

use super::d1::{changes, int};
use super::{bindings, grants, logging};
use crate::core::clock::Timestamp;
use crate::core::crypto::{Binding, Keyring, Sealed};
use crate::core::key_rotation::{GRANTS_PER_RUN, ROWS_PER_RUN};
use crate::core::log::LogLine;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Env, Result};

/// A sealed secret in a small table: its row's key and what it is bound to.
#[derive(Deserialize)]
struct SealedRow {
    tenant_id: String,
    row_id: String,
    ciphertext: String,
    key_id: String,
}

/// One table of sealed secrets the sweep resealed in place.
struct Table {
    name: &'static str,
    purpose: &'static str,
    select: &'static str,
    update: &'static str,
}

const TABLES: [Table; 2] = [
    Table {
        name: "tenant_clients",
        purpose: "tenant_client_secret",
        select: "SELECT tenant_id, provider AS row_id, secret_ciphertext AS ciphertext, key_id \
                 FROM tenant_clients WHERE (key_id < ?1 OR key_id > ?1) LIMIT ?2",
        update: "UPDATE tenant_clients SET secret_ciphertext = ?1, key_id = ?2 \
                 WHERE tenant_id = ?3 AND provider = ?4 AND key_id = ?5 AND secret_ciphertext = ?6",
    },
    Table {
        name: "webhook_endpoints",
        purpose: super::webhook_delivery::SECRET_PURPOSE,
        select: "SELECT tenant_id, id AS row_id, secret_ciphertext AS ciphertext, key_id \
                 FROM webhook_endpoints WHERE (key_id < ?1 OR key_id > ?1) LIMIT ?2",
        update: "UPDATE webhook_endpoints SET secret_ciphertext = ?1, key_id = ?2 \
                 WHERE tenant_id = ?3 AND id = ?4 AND key_id = ?5 AND secret_ciphertext = ?6",
    },
];

/// One run: `{"rekeyed": n, "rekey_failed": m}` for the dispatch's summary.
pub async fn rekey(env: &Env, now: Timestamp) -> Result<Value> {
    let keyring = bindings::keyring(env).map_err(|e| worker::Error::RustError(e.message))?;
    let db = bindings::db(env)?;
    let active = keyring.active_key_id().as_str().to_owned();
    let (mut rekeyed, mut failed) = (0, 0);
    for table in &TABLES {
        let (done, not) = reseal_table(&db, &keyring, table, &active, now).await?;
        rekeyed += done;
        failed += not;
    }
    #[derive(Deserialize)]
    struct Due {
        id: String,
    }
    let due: Vec<Due> = db
        .prepare(
            "SELECT id FROM grants WHERE (key_id < ?1 OR key_id > ?1) \
               AND token_ciphertext IS NOT NULL LIMIT ?2",
        )
        .bind(&[active.as_str().into(), int(GRANTS_PER_RUN.into())])?
        .all()
        .await?
        .results()?;
    for grant in &due {
        match grants::reseal(env, &grant.id).await {
            Ok(true) => rekeyed += 1,
            Ok(false) => {}
            Err(e) => {
                failed += 1;
                logging::emit(
                    &LogLine::warn("rekey.failed", now)
                        .field("table", "grants")
                        .field("grant_id", grant.id.as_str())
                        .field("error", e.to_string()),
                );
            }
        }
    }
    Ok(json!({ "rekeyed": rekeyed, "rekey_failed": failed }))
}

async fn reseal_table(
    db: &D1Database,
    keyring: &Keyring,
    table: &Table,
    active: &str,
    now: Timestamp,
) -> Result<(usize, usize)> {
    let rows: Vec<SealedRow> = db
        .prepare(table.select)
        .bind(&[active.into(), int(ROWS_PER_RUN.into())])?
        .all()
        .await?
        .results()?;
    let (mut done, mut failed) = (0, 0);
    for row in rows {
        let binding = Binding {
            purpose: table.purpose,
            tenant_id: &row.tenant_id,
            row_id: &row.row_id,
            version: 0,
        };
        let sealed = Sealed::new(&row.key_id, row.ciphertext.clone());
        match keyring.reseal(&sealed, binding) {
            Ok(Some(new)) => {
                let written = db
                    .prepare(table.update)
                    .bind(&[
                        new.blob.as_str().into(),
                        new.key_id.as_str().into(),
                        row.tenant_id.as_str().into(),
                        row.row_id.as_str().into(),
                        row.key_id.as_str().into(),
                        row.ciphertext.as_str().into(),
                    ])?
                    .run()
                    .await?;
                done += changes(&written);
            }
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                logging::emit(
                    &LogLine::warn("rekey.failed", now)
                        .field("table", table.name)
                        .field("row_id", row.row_id.as_str())
                        .field("key_id", row.key_id.as_str())
                        .field("error", e.to_string()),
                );
            }
        }
    }
    Ok((done, failed))
}
