//! The tenant API's connection routes: list, show, refresh, events, and the token endpoint.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::isolate_cache::IsolateCache;
use crate::core::grant::grant_health::Colour;
use crate::core::grant::grant_tokens::TokenRequest;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::{cursor, query};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::json as at;
use crate::edge::grant::connection_reads::{ConnectionRow, EVENTS_SHOWN};
use crate::edge::grant::grant_object::protocol::{AuditOf, VisitAsk};
use crate::edge::grant::grant_object::{audit_buffer, grants};
use crate::edge::http::respond::{self, Handled};
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use std::cell::RefCell;
use worker::D1Database;

/// The most connections one page answers (oldest first), and what a page holds unless
/// `?limit=` says otherwise: what the list answered before it had pages.
const LIST_LIMIT: u32 = 500;

/// `GET /v1/connections[?end_user_ref=…][&health=…][&limit=…][&cursor=…]`: the tenant's live
/// connections, oldest first, a page at a time; the end user and colour filters run in SQL
/// (`store::connections::page`), health judged at `now`.
pub(crate) async fn list_connections(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    url: &str,
    now: Timestamp,
) -> Handled {
    let end_user = query::param(url, "end_user_ref");
    let colour = match query::param(url, "health") {
        None => None,
        Some(text) => Some(
            Colour::parse(&text)
                .ok_or_else(|| ApiError::invalid_request("health must be green, yellow or red."))?,
        ),
    };
    let scope = cursor::ListScope {
        list: "connections",
        tenant_id: caller.tenant_id.as_str(),
        filter: cursor::filter_form(&[end_user.as_deref(), colour.map(Colour::as_str)]),
    };
    let keyring = cx.keyring()?;
    let cursor::PageAsk { limit, after } = cursor::ask(&scope, url, LIST_LIMIT, &keyring)?;
    let warnings = cx.settings().warnings;
    let mut rows: Vec<ConnectionRow> = db
        .all(store::connections::page(&store::connections::PageAsk {
            tenant_id: &caller.tenant_id,
            end_user_ref: end_user.as_deref(),
            colour,
            after: after.as_ref().map(|p| (p.key, p.id.as_str())),
            limit: i64::from(limit) + 1,
            now,
            window_ms: warnings.window_ms(),
        }))
        .await?;
    let next = cursor::cut(&mut rows, limit, |row| cursor::Position {
        key: row.created_at as i64,
        id: row.id.clone(),
    });
    let listed: Vec<Value> = rows
        .iter()
        .map(|row| row.to_json(&row.health(warnings, now)))
        .collect();
    let next_cursor = next.map(|p| cursor::next(&scope, p, &keyring));
    Ok(respond::json(
        200,
        &json!({ "connections": listed, "next_cursor": next_cursor }),
    )?)
}

async fn connection_row(db: &D1Database, caller: &Caller, id: &str) -> Handled<ConnectionRow> {
    let row: Option<ConnectionRow> = db
        .first(store::connections::find_for_tenant(&caller.tenant_id, id))
        .await?;
    // Another tenant's connection is "not found" too: its existence is not ours to reveal.
    Ok(row.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No connection {id}.")))?)
}

pub(crate) async fn show_connection(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let row = connection_row(db, caller, id).await?;
    let health = row.health(cx.settings().warnings, now);
    Ok(respond::json(200, &row.to_json(&health))?)
}

/// `POST /v1/connections/{id}/refresh`: refreshes the grant now, through its object, and
/// answers the connection as it is afterwards. A refresh the platform refuses for now is
/// `refresh_failed` (the connection is kept); a dead grant is `connection_dead`.
pub(crate) async fn refresh_connection(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let row = connection_row(db, caller, id).await?;
    let ask = VisitAsk {
        grant_id: row.grant_id.clone(),
        force: true,
        tenant_id: Some(caller.tenant_id.clone()),
    };
    let answer =
        crate::edge::grant::grant_object::protocol::GrantObjectClient::new(cx, &row.grant_id)
            .visit(ask)
            .await?;
    if answer.status_code() != 200 {
        // The object's errors are already JSON errors with their codes.
        return Ok(answer);
    }
    show_connection(cx, db, caller, id, now).await
}

/// `GET /v1/connections/{id}/events[?limit=…][&cursor=…]`: the connection's events, oldest
/// first, a page at a time (`core::http::cursor`): `next_cursor` is `null` on the last page.
pub(crate) async fn connection_events(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    url: &str,
) -> Handled {
    let row = connection_row(db, caller, id).await?;
    let scope = cursor::ListScope {
        list: "connection_events",
        tenant_id: caller.tenant_id.as_str(),
        filter: row.id.clone(),
    };
    let keyring = cx.keyring()?;
    let page = cursor::ask(&scope, url, EVENTS_SHOWN, &keyring)?;
    let (limit, after) = (page.limit, page.after.map_or(0, |p| p.key));
    #[derive(Deserialize)]
    struct Event {
        id: String,
        seq: f64,
        r#type: String,
        colour: String,
        reason: String,
        message: String,
        occurred_at: f64,
    }
    // One row past the page says whether another page follows.
    let mut events: Vec<Event> = db
        .all(store::events::of_connection(
            &row.id,
            &caller.tenant_id,
            after,
            i64::from(limit) + 1,
        ))
        .await?;
    let next_cursor = cursor::cut(&mut events, limit, |last| cursor::Position {
        key: last.seq as i64,
        id: last.id.clone(),
    })
    .map(|p| cursor::next(&scope, p, &keyring));
    let listed: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "type": e.r#type,
                "connection_id": row.id,
                "seq": e.seq as i64,
                "health": {"colour": e.colour, "reason": e.reason, "message": e.message},
                "occurred_at": at(Some(e.occurred_at)),
            })
        })
        .collect();
    Ok(respond::json(
        200,
        &json!({ "events": listed, "next_cursor": next_cursor }),
    )?)
}

/// Where a connection lives: its tenant, its grant and its account at the platform.
#[derive(Clone, Deserialize)]
struct ConnectionHome {
    tenant_id: TenantId,
    grant_id: GrantId,
    external_id: String,
}

/// How long an isolate keeps a connection's home. Safe at any length: none of the three ever
/// changes for a connection id (a reconnect stores into the same grant and connection, and
/// nothing deletes connections). Whether the connection is still live and may still act is
/// not cached here: the grant's object answers that from the grant's live connections, which
/// it holds in memory and forgets on every write (disconnects and role changes go through it).
const HOME_TTL_MS: i64 = 3_600_000;

thread_local! {
    static CONNECTION_HOMES: RefCell<IsolateCache<ConnectionHome>> =
        RefCell::new(IsolateCache::new(HOME_TTL_MS, 10_000));
}

/// Connection `id`'s home, live or not; from this isolate's cache when it has it.
async fn connection_home(db: &D1Database, id: &str) -> worker::Result<Option<ConnectionHome>> {
    let real_now = clock::real_now().as_millis();
    if let Some(home) = CONNECTION_HOMES.with(|homes| homes.borrow().get(id, real_now)) {
        return Ok(Some(home));
    }
    let found: Option<ConnectionHome> = db.first(store::connections::home(id)).await?;
    if let Some(home) = &found {
        CONNECTION_HOMES.with(|homes| homes.borrow_mut().put(id, home.clone(), real_now));
    }
    Ok(found)
}

/// `POST /v1/connections/{id}/token`: the stored access token, through the grant's object.
/// The API key and the connection's home come from this isolate's caches when it has them, so
/// a fresh token costs one round trip to the grant's object, which serves it from memory.
/// Every read is audited in `token_reads`: the grant's object buffers the reads it answers in
/// its own storage and flushes them with an alarm (`grant_object::audit_buffer`); a read that
/// reaches no object (no such connection, the object unreachable) is written from here after
/// the answer has gone out (`token_audit`). The audit never delays the caller by a D1 write.
pub(crate) async fn connection_token(
    cx: &Context,
    ctx: &worker::Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    ask: TokenRequest,
    now: Timestamp,
) -> Handled {
    let home = connection_home(db, id)
        .await?
        .filter(|home| home.tenant_id == caller.tenant_id);
    let answer = match &home {
        None => Err(ApiError::new(ErrorCode::NotFound, format!("No connection {id}.")).into()),
        Some(home) => {
            grants::access_token(
                cx,
                &home.grant_id,
                &caller.tenant_id,
                Some(id),
                &home.external_id,
                ask,
                Some(AuditOf {
                    api_key_id: caller.key_id.clone(),
                    at: now.as_millis(),
                }),
            )
            .await
        }
    };
    // The object answered (whatever it said): it has recorded the read.
    if answer.is_ok() {
        return answer;
    }
    let outcome = audit_buffer::outcome_of(&answer);
    crate::edge::tenancy::token_audit::record(
        ctx,
        cx.db()?,
        crate::edge::tenancy::token_audit::TokenRead {
            tenant_id: caller.tenant_id.clone(),
            api_key_id: caller.key_id.clone(),
            connection_id: id.to_owned(),
            grant_id: home.map(|home| home.grant_id),
            outcome: outcome.as_str(),
            at: now,
        },
    );
    answer
}
