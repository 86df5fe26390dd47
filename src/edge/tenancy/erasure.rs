//! Erasure at the edge (`core::tenancy::erasure` decides what and in which order): an end user's export
//! and erasure (`/v1/end-user-data`), a tenant's deletion (`DELETE /admin/tenants/{id}`) and
//! the minute dispatch's part that erases deleted tenants.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::lanes::{self, OUTGOING_LIMIT};
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

/// The most connections one erasure call disconnects (each is a call to its grant's object,
/// and perhaps one to the platform): an end user with more is erased over several calls, each
/// answering `"complete": false` until the last.
const DISCONNECTS_PER_CALL: usize = 100;
/// Connections read at a time, to disconnect them or to reach their grants' objects.
const CONNECTIONS_PAGE: usize = 100;

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
    // Every connection of the end user's, a page at a time, by grant: one object call per
    // grant of a page (a grant whose connections span two pages is asked twice).
    let mut after: Option<(GrantId, String)> = None;
    loop {
        let listed: Vec<LiveConnection> = db
            .all(store_erasure::end_user_connections(
                tenant_id,
                end_user,
                after.as_ref().map(|(g, id)| (g.as_str(), id.as_str())),
                CONNECTIONS_PAGE as i64,
            ))
            .await?;
        let full = listed.len() == CONNECTIONS_PAGE;
        after = listed.last().map(|c| (c.grant_id.clone(), c.id.clone()));
        let mut grants: Vec<(GrantId, Vec<String>)> = Vec::new();
        for c in listed {
            match grants.last_mut() {
                Some((g, ids)) if *g == c.grant_id => ids.push(c.id),
                _ => grants.push((c.grant_id, vec![c.id])),
            }
        }
        let settled = lanes::work(grants, OUTGOING_LIMIT, |(grant_id, connection_ids)| {
            settle_grant(cx, tenant_id, grant_id, connection_ids, settle)
        })
        .await;
        settled.into_iter().collect::<Handled<Vec<()>>>()?;
        if !full {
            return Ok(());
        }
    }
}

/// One grant's object flushes or drops its buffered reads; `503` when it cannot be reached.
async fn settle_grant(
    cx: &Context,
    tenant_id: &TenantId,
    grant_id: GrantId,
    connection_ids: Vec<String>,
    settle: Settle,
) -> Handled<()> {
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
    // Side by side, at most six at once (a disconnect may call the platform to revoke); the
    // objects of one grant take its connections in turn.
    let outcomes = lanes::work(live.iter().collect(), OUTGOING_LIMIT, |c| async move {
        (c, through_object(cx, tenant_id, &c.grant_id, &c.id).await)
    })
    .await;
    for (c, outcome) in outcomes {
        match outcome {
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
    // The live connections, a page at a time: each page disconnected drops out of the next.
    let mut done = Disconnects::default();
    let mut tried = 0;
    loop {
        let live = live_connections(db, &tenant.into(), Some(&end_user), CONNECTIONS_PAGE).await?;
        let page = disconnect_all(cx, &tenant.into(), &live, now).await;
        done.disconnected += page.disconnected;
        done.revoked += page.revoked;
        if page.failed > 0 {
            return Err(ApiError::new(
                ErrorCode::Unavailable,
                format!(
                    "{} of the end user's connections could not be disconnected right now, so \
                     nothing but their sessions was erased. Retry the call.",
                    page.failed
                ),
            )
            .into());
        }
        tried += live.len();
        if live.len() < CONNECTIONS_PAGE {
            break;
        }
        if tried >= DISCONNECTS_PER_CALL {
            // More than one call takes: the rows wait until every connection is disconnected.
            return Ok(respond::json(
                200,
                &json!({
                    "end_user_ref": end_user,
                    "complete": false,
                    "disconnected": done.disconnected,
                    "revoked_at_platform": done.revoked,
                    "erased": erased,
                }),
            )?);
        }
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
fn present(fields: &mut Map<String, Value>) {
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

/// Rows each read of an export list takes: the export streams them as they come.
const EXPORT_PAGE: i64 = 1_000;

/// `GET /v1/end-user-data?end_user_ref=…`: everything Evergreen keeps about the end user in
/// this tenant, tokens and secrets excepted (they are never shown). The document is streamed,
/// each list read a page at a time, however long it is; it ends with `"complete": true`, so an
/// answer cut short (the connection lost, a read failed half-way) cannot pass for a whole one.
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
    let head = format!(
        "{{\"end_user_ref\":{},\"exported_at\":{}",
        Value::from(end_user.as_str()),
        Value::from(now.to_rfc3339())
    );
    let export = Export {
        db: cx.db()?,
        tenant_id: caller.tenant_id.clone(),
        end_user,
        list: 0,
        after: None,
        head: Some(head),
        done: false,
    };
    Ok(respond::json_stream(futures_util::stream::try_unfold(
        export,
        Export::next_chunk,
    ))?)
}

/// Where a streamed export stands: the list being read and the position after its last row.
struct Export {
    db: D1Database,
    tenant_id: TenantId,
    end_user: String,
    /// Index in `store::erasure::EXPORT`.
    list: usize,
    /// The last row written of the current list (`page_key`, `page_id`); `None` before its first.
    after: Option<(i64, String)>,
    /// The document's opening, until it is written.
    head: Option<String>,
    done: bool,
}

impl Export {
    /// The next piece of the document, and the export as it stands after it; `None` once the
    /// end marker is written.
    async fn next_chunk(mut self) -> Result<Option<(String, Self)>> {
        if self.done {
            return Ok(None);
        }
        let mut chunk = self.head.take().unwrap_or_default();
        let Some((name, _)) = store_erasure::EXPORT.get(self.list) else {
            // Kept for clients that read it: nothing is left out any more.
            chunk.push_str(",\"truncated\":[],\"complete\":true}");
            self.done = true;
            return Ok(Some((chunk, self)));
        };
        let rows = self
            .db
            .run(store_erasure::export_page(
                self.list,
                &self.tenant_id,
                &self.end_user,
                self.after.as_ref().map(|(k, id)| (*k, id.as_str())),
                EXPORT_PAGE,
            ))
            .await
            .map_err(|e| {
                // The body is already under way: the answer ends without its end marker.
                logging::emit(
                    &LogLine::error("end_user.export_cut", clock::real_now())
                        .field("tenant_id", &self.tenant_id)
                        .field("list", *name)
                        .field("error", e.to_string()),
                );
                worker::Error::RustError(e.to_string())
            })?
            .rows;
        let first_page = self.after.is_none();
        let full = rows.len() == EXPORT_PAGE as usize;
        if first_page {
            chunk.push_str(&format!(",{}:[", Value::from(*name)));
        }
        let mut last = None;
        for (i, Row(mut fields)) in rows.into_iter().enumerate() {
            let key = fields.remove("page_key").and_then(|v| v.as_f64());
            let id = fields.remove("page_id");
            let id = id.as_ref().and_then(Value::as_str).unwrap_or("").to_owned();
            last = key.map(|k| (k as i64, id));
            if i > 0 || !first_page {
                chunk.push(',');
            }
            present(&mut fields);
            chunk.push_str(&Value::Object(fields).to_string());
        }
        match last {
            // A full page: the list may go on.
            Some(position) if full => self.after = Some(position),
            _ => {
                chunk.push(']');
                self.list += 1;
                self.after = None;
            }
        }
        Ok(Some((chunk, self)))
    }
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
