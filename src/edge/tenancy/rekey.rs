//! The re-encryption sweep (`core::crypto::key_rotation`): part of the minute dispatch. Each run seals
//! a page of stored secrets again under the active data key: tenants' own client secrets and
//! webhook endpoints' signing secrets (and the secrets they replaced, while the overlap lasts) here, with writes conditional on the row being unchanged
//! (an operator or tenant replacing the secret meanwhile wins); grants' tokens through each
//! grant's Durable Object, their only writer. Finding the rows uses `key_id` ranges around the
//! active key, which the `grants_by_key` index answers without a scan once nothing is left.
//!
//! A secret that does not open (its key is not configured, or it was tampered with) is skipped
//! and counted; its row's reads fail the same way, and `/admin/metrics` names a missing key.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::crypto::key_rotation::{GRANTS_PER_RUN, ROWS_PER_RUN};
use crate::core::crypto::{Binding, Keyring, Sealed};
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::grants;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::store::operations::SealedTable;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Result};

/// A sealed secret in a small table: its row's key and what it is bound to.
#[derive(Deserialize)]
struct SealedRow {
    tenant_id: TenantId,
    row_id: String,
    ciphertext: String,
    key_id: String,
}

/// One table of sealed secrets the sweep resealed in place.
struct Table {
    name: &'static str,
    purpose: &'static str,
    table: SealedTable,
}

const TABLES: [Table; 3] = [
    Table {
        name: "tenant_clients",
        purpose: "tenant_client_secret",
        table: SealedTable::TenantClients,
    },
    Table {
        name: "webhook_endpoints",
        purpose: crate::edge::webhooks::webhook_delivery::SECRET_PURPOSE,
        table: SealedTable::WebhookEndpoints,
    },
    Table {
        name: "webhook_previous_secrets",
        purpose: crate::edge::webhooks::webhook_delivery::PREVIOUS_SECRET_PURPOSE,
        table: SealedTable::WebhookPreviousSecrets,
    },
];

/// One run: `{"rekeyed": n, "rekey_failed": m}` for the dispatch's summary.
pub async fn rekey(cx: &Context, now: Timestamp) -> Handled<Value> {
    let keyring = cx.keyring().map_err(Internal::Config)?;
    let db = cx.db()?;
    let active = keyring.active_key_id().as_str().to_owned();
    let (mut rekeyed, mut failed) = (0, 0);
    for table in &TABLES {
        let (done, not) = reseal_table(&db, &keyring, table, &active, now).await?;
        rekeyed += done;
        failed += not;
    }
    #[derive(Deserialize)]
    struct Due {
        id: GrantId,
    }
    let due: Vec<Due> = db
        .all(store::operations::grants_to_reseal(
            &active,
            GRANTS_PER_RUN.into(),
        ))
        .await?;
    for grant in &due {
        match grants::reseal(cx, &grant.id).await {
            Ok(true) => rekeyed += 1,
            Ok(false) => {}
            Err(e) => {
                failed += 1;
                logging::emit(
                    &LogLine::warn("rekey.failed", now)
                        .field("table", "grants")
                        .field("grant_id", grant.id.as_str())
                        .field("error", crate::edge::http::respond::with_causes(&e)),
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
        .all(store::operations::to_reseal(
            table.table,
            active,
            ROWS_PER_RUN.into(),
        ))
        .await?;
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
                    .write(store::operations::reseal(&store::operations::Reseal {
                        table: table.table,
                        tenant_id: &row.tenant_id,
                        row_id: &row.row_id,
                        old: (&row.key_id, &row.ciphertext),
                        new: (new.key_id.as_str(), &new.blob),
                    }))
                    .await?;
                done += written;
            }
            Ok(None) => {}
            Err(e) => {
                failed += 1;
                logging::emit(
                    &LogLine::warn("rekey.failed", now)
                        .field("table", table.name)
                        .field("row_id", row.row_id.as_str())
                        .field("key_id", row.key_id.as_str())
                        .field("error", crate::edge::http::respond::with_causes(&e)),
                );
            }
        }
    }
    Ok((done, failed))
}
