//! Erasure at the edge (`core::erasure` decides what and in which order): an end user's export
//! and erasure (`/v1/end-user-data`), a tenant's deletion (`DELETE /admin/tenants/{id}`) and
//! the minute dispatch's part that erases deleted tenants.

use super::d1::{changes, int};
use super::d1_time;
use super::disconnect::{through_object, Disconnected};
use super::respond::{self, Handled};
use super::tenant_api::Caller;
use super::{bindings, logging};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::clock::Timestamp;
use crate::core::connect_sessions::validate_end_user_ref;
use crate::core::erasure::{
    delete_statement, Scope, DISCONNECTS_PER_RUN, END_USER_EVENTS, ROWS_PER_CALL, ROWS_PER_RUN,
    TENANTS_PER_RUN,
};
use crate::core::log::LogLine;
use crate::core::query;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env, Result};

/// The tables whose rows can still start a new grant: emptied before anything is disconnected.
const SESSION_TABLES: [&str; 3] = ["oauth_sessions", "connect_sessions", "page_sessions"];

/// An end user's connections one erasure call disconnects (far more than anyone has).
const END_USER_CONNECTIONS_MAX: usize = 1_000;

/// Most rows of each kind an export lists; `truncated` names the lists that reached it.
const EXPORT_LIMIT: u32 = 10_000;

fn end_user_of(url: &str) -> std::result::Result<String, ApiError> {
    let end_user = query::param(url, "end_user_ref")
        .ok_or_else(|| ApiError::invalid_request("Name the end user: ?end_user_ref=…"))?;
    validate_end_user_ref(&end_user)?;
    Ok(end_user)
}

/// Deletes up to `budget` rows of the scope's steps, in order, each table emptied before the
/// next is touched. Adds the rows deleted to `erased` (per table) and answers whether every
/// step is done.
async fn erase_rows(
    db: &D1Database,
    scope: Scope,
    tenant_id: &str,
    end_user: &str,
    only: Option<&[&str]>,
    budget: u32,
    erased: &mut Map<String, Value>,
) -> Result<bool> {
    let mut left = budget;
    for (table, predicate) in scope.steps() {
        if only.is_some_and(|tables| !tables.contains(&table)) {
            continue;
        }
        let mut count = erased.get(table).and_then(Value::as_u64).unwrap_or(0);
        loop {
            if left == 0 {
                erased.insert(table.to_owned(), json!(count));
                return Ok(false);
            }
            let asked = left;
            let result = db
                .prepare(delete_statement(table, predicate))
                .bind(&[tenant_id.into(), end_user.into(), int(asked.into())])?
                .run()
                .await?;
            let n = changes(&result) as u32;
            count += u64::from(n);
            left -= n.min(left);
            if n < asked {
                break;
            }
        }
        erased.insert(table.to_owned(), json!(count));
    }
    Ok(true)
}

#[derive(Deserialize)]
struct LiveConnection {
    id: String,
    grant_id: String,
}

/// Live connections of the tenant (or of one end user), at most `limit`.
async fn live_connections(
    db: &D1Database,
    tenant_id: &str,
    end_user: Option<&str>,
    limit: usize,
) -> Result<Vec<LiveConnection>> {
    db.prepare(
        "SELECT id, grant_id FROM connections \
         WHERE tenant_id = ?1 AND (?2 IS NULL OR end_user_ref = ?2) AND disconnected_at IS NULL \
         ORDER BY created_at LIMIT ?3",
    )
    .bind(&[
        tenant_id.into(),
        super::d1::text_or_null(end_user),
        int(limit as i64),
    ])?
    .all()
    .await?
    .results()
}

/// What disconnecting a batch of connections came to.
#[derive(Default)]
struct Disconnects {
    disconnected: u32,
    revoked: u32,
    failed: u32,
}

async fn disconnect_all(
    env: &Env,
    tenant_id: &str,
    live: &[LiveConnection],
    now: Timestamp,
) -> Disconnects {
    let mut done = Disconnects::default();
    for c in live {
        match through_object(env, tenant_id, &c.grant_id, &c.id).await {
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
                        .field("error", e.to_string()),
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
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    url: &str,
    now: Timestamp,
) -> Handled {
    let end_user = end_user_of(url)?;
    let tenant = caller.tenant_id.as_str();
    let mut erased = Map::new();
    erase_rows(
        db,
        Scope::EndUser,
        tenant,
        &end_user,
        Some(&SESSION_TABLES),
        u32::MAX,
        &mut erased,
    )
    .await?;
    let live = live_connections(db, tenant, Some(&end_user), END_USER_CONNECTIONS_MAX).await?;
    let done = disconnect_all(env, tenant, &live, now).await;
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
    let complete = erase_rows(
        db,
        Scope::EndUser,
        tenant,
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
    db: &D1Database,
    caller: &Caller,
    url: &str,
    now: Timestamp,
) -> Handled {
    let end_user = end_user_of(url)?;
    const CONNECTIONS: &str =
        "(SELECT id FROM connections WHERE tenant_id = ?1 AND end_user_ref = ?2)";
    let lists: [(&str, String); 8] = [
        (
            "grants",
            "SELECT id, provider, provider_account_id, scopes, state, state_reason, \
               access_expires_at, grant_expires_at, last_refresh_at, created_at, updated_at \
             FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2 ORDER BY created_at LIMIT ?3"
                .to_owned(),
        ),
        (
            "connections",
            "SELECT id, grant_id, kind, external_id, display_name, username, access, \
               access_reason, created_at, updated_at, disconnected_at \
             FROM connections WHERE tenant_id = ?1 AND end_user_ref = ?2 \
             ORDER BY created_at LIMIT ?3"
                .to_owned(),
        ),
        (
            "posts",
            format!(
                "SELECT id, text, media, publish_at, idempotency_key, created_at FROM posts \
                 WHERE tenant_id = ?1 AND (end_user_ref = ?2 OR id IN \
                   (SELECT post_id FROM post_targets WHERE tenant_id = ?1 \
                    AND connection_id IN {CONNECTIONS})) \
                 ORDER BY created_at LIMIT ?3"
            ),
        ),
        (
            "post_targets",
            format!(
                "SELECT id, post_id, connection_id, provider, state, platform_post_id, reason, \
                   published_at, created_at, updated_at \
                 FROM post_targets WHERE tenant_id = ?1 AND connection_id IN {CONNECTIONS} \
                 ORDER BY created_at LIMIT ?3"
            ),
        ),
        (
            "events",
            format!(
                "SELECT id, connection_id, seq, type, colour, reason, message, occurred_at \
                 FROM events WHERE id IN {END_USER_EVENTS} \
                 ORDER BY occurred_at, seq LIMIT ?3"
            ),
        ),
        (
            "webhook_deliveries",
            format!(
                "SELECT id, event_id, endpoint_id, status, attempts, last_status, \
                   delivered_at, created_at \
                 FROM webhook_deliveries WHERE tenant_id = ?1 AND event_id IN {END_USER_EVENTS} \
                 ORDER BY created_at LIMIT ?3"
            ),
        ),
        (
            "token_reads",
            format!(
                "SELECT connection_id, api_key_id, outcome, at FROM token_reads \
                 WHERE tenant_id = ?1 AND connection_id IN {CONNECTIONS} ORDER BY at LIMIT ?3"
            ),
        ),
        (
            "page_sessions",
            "SELECT id, created_at, expires_at FROM page_sessions \
             WHERE tenant_id = ?1 AND end_user_ref = ?2 ORDER BY created_at LIMIT ?3"
                .to_owned(),
        ),
    ];
    let mut statements = Vec::with_capacity(lists.len());
    for (_, sql) in &lists {
        statements.push(db.prepare(sql).bind(&[
            caller.tenant_id.as_str().into(),
            end_user.as_str().into(),
            int(EXPORT_LIMIT.into()),
        ])?);
    }
    let results = db.batch(statements).await?;
    let mut export = Map::new();
    export.insert("end_user_ref".into(), json!(end_user));
    export.insert("exported_at".into(), json!(now.to_rfc3339()));
    let mut truncated = Vec::new();
    for ((name, _), result) in lists.iter().zip(results) {
        let rows: Vec<Value> = result.results()?;
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
    db: &D1Database,
    tenant_id: &str,
    now: Timestamp,
) -> Handled<(u16, Value)> {
    #[derive(Deserialize)]
    struct Row {
        deleted_at: Option<f64>,
    }
    let row: Option<Row> = db
        .prepare("SELECT deleted_at FROM tenants WHERE id = ?1")
        .bind(&[tenant_id.into()])?
        .first(None)
        .await?;
    let Some(row) = row else {
        return Err(ApiError::new(ErrorCode::NotFound, format!("No tenant {tenant_id}.")).into());
    };
    let deleted_at = match row.deleted_at {
        Some(at) => d1_time::read(at),
        None => {
            let at = d1_time::bind(now);
            db.batch(vec![
                db.prepare(
                    "UPDATE tenants SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
                )
                .bind(&[tenant_id.into(), at.clone()])?,
                // No new deliveries: the erasure's own disconnects raise events.
                db.prepare(
                    "UPDATE webhook_endpoints SET deleted_at = ?2 \
                     WHERE tenant_id = ?1 AND deleted_at IS NULL",
                )
                .bind(&[tenant_id.into(), at.clone()])?,
                db.prepare(
                    "UPDATE post_targets SET state = 'cancelled', reason = 'tenant_deleted', \
                       updated_at = ?2 \
                     WHERE tenant_id = ?1 AND state IN ('scheduled', 'queued', 'parked')",
                )
                .bind(&[tenant_id.into(), at])?,
            ])
            .await?;
            now
        }
    };
    erase_rows(
        db,
        Scope::Tenant,
        tenant_id,
        "",
        Some(&SESSION_TABLES),
        u32::MAX,
        &mut Map::new(),
    )
    .await?;
    super::tenant_api::forget_tenant(tenant_id);
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
pub async fn run(env: &Env, now: Timestamp) -> Result<Value> {
    let db = bindings::db(env)?;
    #[derive(Deserialize)]
    struct Deleted {
        id: String,
    }
    let tenants: Vec<Deleted> = db
        .prepare("SELECT id FROM tenants WHERE deleted_at IS NOT NULL ORDER BY deleted_at LIMIT ?1")
        .bind(&[int(TENANTS_PER_RUN.into())])?
        .all()
        .await?
        .results()?;
    if tenants.is_empty() {
        return Ok(json!({}));
    }
    let (mut disconnected, mut failed, mut rows, mut finished) = (0, 0, 0_u64, 0);
    for tenant in &tenants {
        let live = live_connections(&db, &tenant.id, None, DISCONNECTS_PER_RUN).await?;
        let done = disconnect_all(env, &tenant.id, &live, now).await;
        disconnected += done.disconnected;
        failed += done.failed;
        if live.len() == DISCONNECTS_PER_RUN || done.failed > 0 {
            continue;
        }
        let mut erased = Map::new();
        let complete = erase_rows(
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
