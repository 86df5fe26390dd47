//! Erasure at the edge (`core::tenancy::erasure` decides what and in which order): an end user's export
//! and erasure (`/v1/end-user-data`), a tenant's deletion (`DELETE /admin/tenants/{id}`) and
//! the minute dispatch's part that erases deleted tenants.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::query;
use crate::core::oauth::connect_sessions::validate_end_user_ref;
use crate::core::tenancy::erasure::{
    Scope, DISCONNECTS_PER_RUN, ROWS_PER_CALL, ROWS_PER_RUN, TENANTS_PER_RUN,
};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::audit_buffer::settle_through_object;
use crate::edge::grant::grant_object::disconnect::{
    erase_through_object, through_object, Disconnected,
};
use crate::edge::grant::grant_object::protocol::AuditAsk;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::tenancy::caller::Caller;
use crate::store::erasure::{self as store_erasure, SESSION_TABLES, STEPS};
use crate::store::{Db, Row};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Result};

/// An end user's connections one erasure call disconnects (far more than anyone has).
const END_USER_CONNECTIONS_MAX: usize = 1_000;

/// Most rows of each kind an export lists; `truncated` names the lists that reached it.
const EXPORT_LIMIT: i64 = 10_000;

fn end_user_of(url: &str) -> std::result::Result<String, ApiError> {
    let end_user = query::param(url, "end_user_ref")
        .ok_or_else(|| ApiError::invalid_request("Name the end user: ?end_user_ref=…"))?;
    validate_end_user_ref(&end_user)?;
    Ok(end_user)
}

/// Deletes up to `budget` rows of the scope's steps, in order, each table emptied before the
/// next is touched; a grant's row is deleted by its object. Adds the rows deleted to `erased`
/// (per table) and answers whether every step is done.
#[allow(clippy::too_many_arguments)]
async fn erase_rows(
    cx: &Context,
    db: &D1Database,
    scope: Scope,
    tenant_id: &TenantId,
    end_user: &str,
    only: Option<&[&str]>,
    budget: u32,
    erased: &mut Map<String, Value>,
) -> Handled<bool> {
    let mut left = budget;
    for step in STEPS {
        if only.is_some_and(|tables| !tables.contains(&step.table)) {
            continue;
        }
        let mut count = erased.get(step.table).and_then(Value::as_u64).unwrap_or(0);
        loop {
            if left == 0 {
                erased.insert(step.table.to_owned(), json!(count));
                return Ok(false);
            }
            let asked = left;
            let Some(statement) = step.statement(scope, tenant_id, end_user, asked.into()) else {
                break;
            };
            let n = if step.through_grant_object {
                let listed = db.run(statement).await?.rows;
                let mut n = 0_u32;
                for row in &listed {
                    let id = row.text("id").map_err(Internal::Row)?;
                    n += u32::from(erase_through_object(cx, &GrantId::from(id)).await?);
                }
                // A listed grant the object did not delete (a connection came back): stop here.
                if (n as usize) < listed.len() {
                    count += u64::from(n);
                    erased.insert(step.table.to_owned(), json!(count));
                    return Ok(false);
                }
                n
            } else {
                db.write(statement).await? as u32
            };
            count += u64::from(n);
            left -= n.min(left);
            if n < asked {
                break;
            }
        }
        erased.insert(step.table.to_owned(), json!(count));
    }
    Ok(true)
}

#[derive(Deserialize)]
struct LiveConnection {
    id: String,
    grant_id: GrantId,
}

/// Live connections of the tenant (or of one end user), at most `limit`.
async fn live_connections(
    db: &D1Database,
    tenant_id: &TenantId,
    end_user: Option<&str>,
    limit: usize,
) -> Result<Vec<LiveConnection>> {
    Ok(db
        .all(store_erasure::live_connections(
            tenant_id,
            end_user,
            limit as i64,
        ))
        .await?)
}

/// What to do with the token reads an end user's grant objects have buffered.
#[derive(Clone, Copy)]
enum Settle {
    /// Write them to D1 (an export).
    Flush,
    /// Drop the end user's (an erasure).
    Discard,
}

/// Asks the object of every grant the end user has a connection of (live or not) to flush or
/// drop the token reads it has buffered. An object that cannot be reached stops the call with
/// `503 unavailable`, since going on would miss (or later bring back) its reads.
async fn settle_buffered_reads(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    end_user: &str,
    settle: Settle,
) -> Handled<()> {
    let listed: Vec<LiveConnection> = db
        .all(store_erasure::end_user_connections(
            tenant_id,
            end_user,
            END_USER_CONNECTIONS_MAX as i64,
        ))
        .await?;
    let mut grants: Vec<(GrantId, Vec<String>)> = Vec::new();
    for c in listed {
        match grants.iter_mut().find(|(g, _)| *g == c.grant_id) {
            Some((_, ids)) => ids.push(c.id),
            None => grants.push((c.grant_id, vec![c.id])),
        }
    }
    for (grant_id, connection_ids) in grants {
        let ask = match settle {
            Settle::Flush => AuditAsk::Flush,
            Settle::Discard => AuditAsk::Discard { connection_ids },
        };
        if let Err(e) = settle_through_object(cx, &grant_id, ask).await {
            logging::emit(
                &LogLine::error("end_user.audit_settle_failed", clock::real_now())
                    .field("tenant_id", tenant_id)
                    .field("grant_id", &grant_id)
                    .field("error", crate::edge::http::respond::with_causes(&e)),
            );
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                "The token reads one of the end user's grants still buffers for the audit \
                 could not be reached right now. Retry the call.",
            )
            .into());
        }
    }
    Ok(())
}

/// What disconnecting a batch of connections came to.
#[derive(Default)]
struct Disconnects {
    disconnected: u32,
    revoked: u32,
    failed: u32,
}

async fn disconnect_all(
    cx: &Context,
    tenant_id: &TenantId,
    live: &[LiveConnection],
    now: Timestamp,
) -> Disconnects {
    let mut done = Disconnects::default();
    for c in live {
        match through_object(cx, tenant_id, &c.grant_id, &c.id).await {
            Ok(Disconnected::Now {
                revoked_at_platform,
            }) => {
                done.disconnected += 1;
                done.revoked += u32::from(revoked_at_platform);
            }
            Ok(Disconnected::Already) => {}
            Err(e) => {
                done.failed += 1;
                logging::emit(
                    &LogLine::error("erasure.disconnect_failed", now)
                        .field("tenant_id", tenant_id)
                        .field("connection_id", c.id.as_str())
                        .field("error", crate::edge::http::respond::with_causes(&e)),
                );
            }
        }
    }
    done
}

/// `DELETE /v1/end-user-data?end_user_ref=…`: the end user's sessions go, each live connection
/// is disconnected through its grant's object (revoked at the platform where the rule allows),
/// then every row of the end user's is deleted. Calling it again is safe, and finishes an
/// erasure the answer called incomplete.
pub async fn erase_end_user(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    url: &str,
    now: Timestamp,
) -> Handled {
    let end_user = end_user_of(url)?;
    let tenant = caller.tenant_id.as_str();
    let mut erased = Map::new();
    erase_rows(
        cx,
        db,
        Scope::EndUser,
        &tenant.into(),
        &end_user,
        Some(&SESSION_TABLES),
        u32::MAX,
        &mut erased,
    )
    .await?;
    let live = live_connections(
        db,
        &tenant.into(),
        Some(&end_user),
        END_USER_CONNECTIONS_MAX,
    )
    .await?;
    let done = disconnect_all(cx, &tenant.into(), &live, now).await;
    if done.failed > 0 {
        return Err(ApiError::new(
            ErrorCode::Unavailable,
            format!(
                "{} of the end user's connections could not be disconnected right now, so \
                 nothing but their sessions was erased. Retry the call.",
                done.failed
            ),
        )
        .into());
    }
    // The token reads their grants' objects still hold are dropped before their `token_reads`
    // go, so no later flush brings any back (`grant_object::audit_buffer`).
    settle_buffered_reads(cx, db, &tenant.into(), &end_user, Settle::Discard).await?;
    let complete = erase_rows(
        cx,
        db,
        Scope::EndUser,
        &tenant.into(),
        &end_user,
        None,
        ROWS_PER_CALL,
        &mut erased,
    )
    .await?;
    // The end user's reference is theirs: the log line names only the tenant.
    logging::emit(
        &LogLine::info("end_user.erased", now)
            .field("tenant_id", tenant)
            .field("disconnected", done.disconnected)
            .field("complete", complete)
            .field("erased", Value::Object(erased.clone())),
    );
    Ok(respond::json(
        200,
        &json!({
            "end_user_ref": end_user,
            "complete": complete,
            "disconnected": done.disconnected,
            "revoked_at_platform": done.revoked,
            "erased": erased,
        }),
    )?)
}

/// Times (`…_at`, `at`) from D1's milliseconds to RFC 3339, as the rest of the API shows them;
/// `media` from its stored JSON.
fn presented(mut rows: Vec<Value>) -> Vec<Value> {
    for row in &mut rows {
        if let Value::Object(fields) = row {
            for (name, value) in fields.iter_mut() {
                if name == "at" || name.ends_with("_at") {
                    *value = d1_time::json(value.as_f64());
                } else if name == "media" {
                    if let Some(text) = value.as_str() {
                        *value = serde_json::from_str(text).unwrap_or(Value::Null);
                    }
                }
            }
        }
    }
    rows
}

/// `GET /v1/end-user-data?end_user_ref=…`: everything Evergreen keeps about the end user in
/// this tenant, tokens and secrets excepted (they are never shown).
pub async fn export_end_user(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    url: &str,
    now: Timestamp,
) -> Handled {
    let end_user = end_user_of(url)?;
    // The token reads their grants' objects still hold are written first, so the export has them.
    settle_buffered_reads(cx, db, &caller.tenant_id, &end_user, Settle::Flush).await?;
    let results = Db::batch(
        db,
        store_erasure::export(&caller.tenant_id, &end_user, EXPORT_LIMIT),
    )
    .await?;
    let mut export = Map::new();
    export.insert("end_user_ref".into(), json!(end_user));
    export.insert("exported_at".into(), json!(now.to_rfc3339()));
    let mut truncated = Vec::new();
    for ((name, _), result) in store_erasure::EXPORT.iter().zip(results) {
        let rows: Vec<Value> = result
            .rows
            .into_iter()
            .map(|Row(fields)| Value::Object(fields))
            .collect();
        if rows.len() >= EXPORT_LIMIT as usize {
            truncated.push(*name);
        }
        export.insert((*name).to_owned(), Value::Array(presented(rows)));
    }
    export.insert("truncated".into(), json!(truncated));
    Ok(respond::json(200, &export)?)
}

/// `DELETE /admin/tenants/{id}`: the tenant's keys, connections page and pending work stop now;
/// the minute dispatch disconnects and erases the rest ([`run`]). Safe to call again.
pub async fn delete_tenant(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    #[derive(Deserialize)]
    struct Deleted {
        deleted_at: Option<f64>,
    }
    let row: Option<Deleted> = db
        .first(store_erasure::tenant_deleted_at(tenant_id))
        .await?;
    let Some(row) = row else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("No tenant {tenant_id}.")).into());
    };
    let deleted_at = match row.deleted_at {
        Some(at) => d1_time::read(at),
        None => {
            Db::batch(db, store_erasure::mark_tenant_deleted(tenant_id, now)).await?;
            now
        }
    };
    erase_rows(
        cx,
        db,
        Scope::Tenant,
        tenant_id,
        "",
        Some(&SESSION_TABLES),
        u32::MAX,
        &mut Map::new(),
    )
    .await?;
    crate::edge::tenancy::caller::forget_tenant(tenant_id);
    logging::emit(&LogLine::info("tenant.deleted", now).field("tenant_id", tenant_id));
    Ok((
        202,
        json!({
            "id": tenant_id,
            "deleted_at": deleted_at.to_rfc3339(),
            "erasure": "in_progress",
        }),
    ))
}

/// The minute dispatch's part: for a few deleted tenants, disconnects a page of live
/// connections, and once none is left, deletes a page of rows; the tenant's own row goes last.
pub async fn run(cx: &Context, now: Timestamp) -> Result<Value> {
    let db = cx.db()?;
    #[derive(Deserialize)]
    struct Deleted {
        id: TenantId,
    }
    let tenants: Vec<Deleted> = db
        .all(store_erasure::deleted_tenants(TENANTS_PER_RUN.into()))
        .await?;
    if tenants.is_empty() {
        return Ok(json!({}));
    }
    let (mut disconnected, mut failed, mut rows, mut finished) = (0, 0, 0_u64, 0);
    for tenant in &tenants {
        let live = live_connections(&db, &tenant.id, None, DISCONNECTS_PER_RUN).await?;
        let done = disconnect_all(cx, &tenant.id, &live, now).await;
        disconnected += done.disconnected;
        failed += done.failed;
        if live.len() == DISCONNECTS_PER_RUN || done.failed > 0 {
            continue;
        }
        let mut erased = Map::new();
        let complete = erase_rows(
            cx,
            &db,
            Scope::Tenant,
            &tenant.id,
            "",
            None,
            ROWS_PER_RUN,
            &mut erased,
        )
        .await?;
        rows += erased.values().filter_map(Value::as_u64).sum::<u64>();
        if complete {
            finished += 1;
            logging::emit(
                &LogLine::info("tenant.erased", now).field("tenant_id", tenant.id.as_str()),
            );
        }
    }
    Ok(json!({
        "tenant_erasure": {
            "tenants": tenants.len(),
            "disconnected": disconnected,
            "disconnect_failed": failed,
            "rows_erased": rows,
            "tenants_erased": finished,
        }
    }))
}
