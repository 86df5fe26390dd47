//! Test builds only: the routes under `/__test/`, all behind the operator secret except the
//! demo return page, which a browser lands on.
//!
//! This module is compiled only with the `test-powers` feature; the release bundle check proves
//! none of it ships.

use crate::core::common::clock::{ClockOffset, Timestamp};
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::queues::WorkQueue;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::pages::Page;
use crate::core::http::query;
use crate::core::http::routes::TestRoute;
use crate::core::publish::posts::TargetState;
use crate::core::tenancy::auth::authorize_operator;
use crate::edge::common::bindings;
use crate::edge::common::context::Context;
use crate::edge::grant::grant_object::protocol::GrantObjectClient;
use crate::edge::grant::grant_object::protocol::{AuditAsk, TestWrite, TestWriteAsk};
use crate::edge::grant::grant_object::spike;
use crate::edge::http::respond::{self, Handled, Internal};
use crate::store::{self, Db};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{QueueContentType, RawMessageBuilder, Request};

pub async fn handle(route: TestRoute, req: Request, cx: &Context, now: Timestamp) -> Handled {
    // The demo return page is where a browser lands: the one route without the operator secret.
    if route != TestRoute::ReturnPage {
        let authorization = req.headers().get("authorization")?;
        let secret = cx.text(bindings::OPERATOR_SECRET);
        authorize_operator(authorization.as_deref(), secret.as_deref())?;
    }
    match route {
        TestRoute::GetClock => show_clock(cx, now).await,
        TestRoute::SetClock => set_clock(req, cx).await,
        TestRoute::EnqueueProbe(queue) => enqueue_probe(req, cx, queue).await,
        TestRoute::DeadLetters => dead_letters(cx).await,
        TestRoute::CreateSpikeGrant => spike::create_grant(req, cx, now).await,
        TestRoute::SpikeGrant(id) => spike::inspect(cx, &id.into()).await,
        TestRoute::SpikeRefresh(id) => spike::refresh(req, cx, &id.into()).await,
        TestRoute::ReturnPage => return_page(&req, cx).await,
        TestRoute::RowCounts => row_counts(cx).await,
        TestRoute::CopyCiphertext(id) => copy_ciphertext(req, cx, &id.into()).await,
        TestRoute::ReviveGrant(id) => revive_grant(cx, &id.into()).await,
        TestRoute::FlushAudit(id) => flush_audit(cx, &id.into()).await,
        TestRoute::SeedConnections(tenant) => seed_connections(req, cx, &tenant.into(), now).await,
        TestRoute::SeedPosts(tenant, connection) => {
            seed_posts(req, cx, &tenant.into(), &connection, now).await
        }
        TestRoute::LoseAccess(tenant, connection) => {
            lose_access(cx, &tenant.into(), &connection).await
        }
        TestRoute::ConnectionsPlan(tenant) => connections_plan(&req, cx, &tenant.into(), now).await,
    }
}

/// The grant's object flushes its buffered token reads now; its answer is passed on.
async fn flush_audit(cx: &Context, grant_id: &GrantId) -> Handled {
    let mut answer = GrantObjectClient::new(cx, grant_id)
        .audit(AuditAsk::Flush)
        .await?;
    let body: Value = answer.json().await?;
    Ok(respond::json(answer.status_code(), &body)?)
}

fn clock_json(offset: ClockOffset, frozen_at: Option<Timestamp>, now: Timestamp) -> Value {
    json!({
        "offset_ms": offset.as_millis(),
        "frozen_at_ms": frozen_at.map(Timestamp::as_millis),
        "now": now.to_rfc3339(),
        "now_ms": now.as_millis(),
    })
}

async fn show_clock(cx: &Context, now: Timestamp) -> Handled {
    let (offset, frozen_at) = crate::edge::common::clock::test_clock(cx).await?;
    Ok(respond::json(200, &clock_json(offset, frozen_at, now))?)
}

/// `{"offset_ms": N}` runs the clock N ms ahead of real time; `{"frozen_at_ms": T}` stops it
/// at T until it is set again.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetClock {
    #[serde(default)]
    offset_ms: i64,
    #[serde(default)]
    frozen_at_ms: Option<i64>,
}

async fn set_clock(mut req: Request, cx: &Context) -> Handled {
    let body: SetClock = respond::read_json(&mut req).await?;
    let offset = ClockOffset::from_millis(body.offset_ms)
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    cx.db()?
        .write(store::operations::set_test_clock(
            offset.as_millis(),
            body.frozen_at_ms.map(Timestamp::from_millis),
        ))
        .await?;
    let frozen_at = body.frozen_at_ms.map(Timestamp::from_millis);
    let now = frozen_at.unwrap_or_else(|| offset.apply(crate::edge::common::clock::real_now()));
    Ok(respond::json(200, &clock_json(offset, frozen_at, now))?)
}

async fn enqueue_probe(mut req: Request, cx: &Context, queue: WorkQueue) -> Handled {
    let body: Value = respond::read_json(&mut req).await?;
    // JSON-compatible: serde_wasm_bindgen would otherwise send a JSON object as a JS `Map`.
    let message = body
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(worker::Error::from)?;
    cx.env()
        .queue(queue.binding())?
        .send_raw(RawMessageBuilder::new(message).build_with_content_type(QueueContentType::Json))
        .await?;
    Ok(respond::json(
        202,
        &json!({ "queued": queue.queue_name() }),
    )?)
}

#[derive(Deserialize)]
struct DeadLetterRow {
    queue: String,
    message_id: String,
    body: String,
    reason: String,
    received_at: f64,
}

async fn dead_letters(cx: &Context) -> Handled {
    let rows: Vec<DeadLetterRow> = cx
        .db()?
        .all(store::operations::dead_letters(None, None, 100))
        .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "queue": row.queue,
                "message_id": row.message_id,
                "body": serde_json::from_str::<Value>(&row.body).unwrap_or(Value::Null),
                "reason": row.reason,
                "received_at": Timestamp::from_millis(row.received_at as i64).to_rfc3339(),
            })
        })
        .collect();
    Ok(respond::json(200, &json!({ "dead_letters": items }))?)
}

/// `GET /__test/return?connection_id=…` (or `?error=…`): the demo tenant's return URL. Shows
/// what the connect flow handed back, and the connection's account.
async fn return_page(req: &Request, cx: &Context) -> Handled {
    let url = req.inner().url();
    if let Some(error) = query::param(&url, "error") {
        let page = Page::new(
            200,
            "Not connected",
            "The connect flow came back with an error.",
        )
        .detail("error", &error);
        return Ok(respond::page(&page)?);
    }
    let Some(connection_id) = query::param(&url, "connection_id") else {
        let page = Page::new(
            400,
            "Return page",
            "Nothing came back: no connection_id and no error.",
        );
        return Ok(respond::page(&page)?);
    };
    #[derive(Deserialize)]
    struct Row {
        provider: String,
        external_id: String,
        display_name: Option<String>,
        username: Option<String>,
        end_user_ref: String,
    }
    let row: Option<Row> = cx
        .db()?
        .first(store::connections::describe(&connection_id))
        .await?;
    let page = match row {
        Some(row) => Page::new(200, "Connected", "Connected")
            .paragraph("Evergreen now keeps this account's connection alive.")
            .detail("connection_id", &connection_id)
            .detail("provider", &row.provider)
            .detail(
                "account",
                row.username
                    .as_deref()
                    .map_or(row.external_id.as_str(), |u| u),
            )
            .detail("name", row.display_name.as_deref().unwrap_or(""))
            .detail("account id", &row.external_id)
            .detail("end_user_ref", &row.end_user_ref),
        None => Page::new(404, "Unknown connection", "No such connection.")
            .detail("connection_id", &connection_id),
    };
    Ok(respond::page(&page)?)
}

/// The most connections one seeding call writes (one D1 batch of two statements).
const SEED_MAX: i64 = 20_000;

/// `POST /__test/tenants/{id}/seeded-connections`: `count` connections, each of its own
/// grant, written straight to D1 (`store::seeding`), created `base_ms + i` (now by default).
async fn seed_connections(
    mut req: Request,
    cx: &Context,
    tenant_id: &TenantId,
    now: Timestamp,
) -> Handled {
    #[derive(Deserialize)]
    struct Body {
        batch: String,
        count: i64,
        #[serde(default)]
        dead_every: i64,
        base_ms: Option<i64>,
        end_user_ref: Option<String>,
        #[serde(default)]
        per_grant: Option<i64>,
    }
    let body: Body = respond::read_json(&mut req).await?;
    check_batch(&body.batch, body.count)?;
    if body.dead_every < 0 || body.per_grant.is_some_and(|n| !(1..=SEED_MAX).contains(&n)) {
        return Err(ApiError::invalid_request(format!(
            "dead_every is 0 or more, per_grant 1 to {SEED_MAX}."
        ))
        .into());
    }
    Db::batch(
        &cx.db()?,
        store::seeding::seed(&store::seeding::Seed {
            tenant_id,
            batch: &body.batch,
            count: body.count,
            provider: "fake",
            end_user_ref: body.end_user_ref.as_deref().unwrap_or("seeded-user"),
            dead_every: body.dead_every,
            per_grant: body.per_grant.unwrap_or(1),
            base: body.base_ms.map_or(now, Timestamp::from_millis),
        }),
    )
    .await
    .map_err(|e| seeded_before(e, &body.batch))?;
    Ok(respond::json(200, &json!({ "seeded": body.count }))?)
}

/// `POST /__test/tenants/{id}/connections/{connection}/seeded-posts`: `count` posts, each
/// with one target on the connection in `state` (`failed` by default: the fuzzing asks for
/// `unconfirmed` ones to resolve), created `base_ms + i` (now by default).
async fn seed_posts(
    mut req: Request,
    cx: &Context,
    tenant_id: &TenantId,
    connection_id: &str,
    now: Timestamp,
) -> Handled {
    #[derive(Deserialize)]
    struct Body {
        batch: String,
        count: i64,
        base_ms: Option<i64>,
        state: Option<String>,
    }
    let body: Body = respond::read_json(&mut req).await?;
    check_batch(&body.batch, body.count)?;
    let state = match body.state.as_deref() {
        None => TargetState::Failed,
        Some(text) => TargetState::parse(text)
            .ok_or_else(|| ApiError::invalid_request(format!("{text:?} is not a target state.")))?,
    };
    let written = Db::batch(
        &cx.db()?,
        store::seeding::seed_posts(
            tenant_id,
            &body.batch,
            body.count,
            connection_id,
            state,
            body.base_ms.map_or(now, Timestamp::from_millis),
        ),
    )
    .await
    .map_err(|e| seeded_before(e, &body.batch))?;
    let posts = written.first().map_or(0, |o| o.changes);
    Ok(respond::json(200, &json!({ "seeded": posts }))?)
}

/// A seeding write that failed: `409 conflict` when its ids are taken (the batch's name was
/// used before; ids are made from it), else the store's error.
fn seeded_before(e: store::StoreError, batch: &str) -> respond::Failure {
    if e.is_key_taken() {
        ApiError::new(
            ErrorCode::Conflict,
            format!(
                "Batch {batch:?} was seeded before: give each seeding call its own batch name."
            ),
        )
        .into()
    } else {
        e.into()
    }
}

/// A seeding call's batch name and count, or `400`.
fn check_batch(batch: &str, count: i64) -> Handled<()> {
    let batch_ok = !batch.is_empty()
        && batch.len() <= 16
        && batch
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !batch_ok || !(1..=SEED_MAX).contains(&count) {
        return Err(ApiError::invalid_request(format!(
            "batch is 1 to 16 lowercase letters or digits, count 1 to {SEED_MAX}."
        ))
        .into());
    }
    Ok(())
}

/// `POST /__test/tenants/{id}/connections/{connection}/access-lost`.
async fn lose_access(cx: &Context, tenant_id: &TenantId, connection_id: &str) -> Handled {
    let changed = cx
        .db()?
        .write(store::seeding::lose_access(connection_id, tenant_id))
        .await?;
    if changed != 1 {
        return Err(ApiError::new(ErrorCode::NotFound, "No such seeded connection.").into());
    }
    Ok(respond::json(200, &json!({ "access": "lost" }))?)
}

/// `GET /__test/tenants/{id}/connections-plan[?health=…]`: the plan D1 chooses for the first
/// page `GET /v1/connections` reads with that filter, one step per line.
async fn connections_plan(
    req: &Request,
    cx: &Context,
    tenant_id: &TenantId,
    now: Timestamp,
) -> Handled {
    let url = req.url()?.to_string();
    let colour = query::param(&url, "health")
        .map(|c| {
            crate::core::grant::grant_health::Colour::parse(&c)
                .ok_or_else(|| ApiError::invalid_request("health must be green, yellow or red."))
        })
        .transpose()?;
    let page = store::connections::page(&store::connections::PageAsk {
        tenant_id,
        end_user_ref: None,
        colour,
        after: None,
        limit: 500,
        now,
        window_ms: cx.settings().warnings.window_ms(),
    });
    let rows = cx.db()?.run(store::seeding::plan_of(page)).await?;
    let steps: Vec<String> = rows
        .rows
        .iter()
        .filter_map(|r| r.text("detail").ok())
        .collect();
    Ok(respond::json(200, &json!({ "plan": steps }))?)
}

/// `GET /__test/row-counts`: rows in the tables the connect flow writes.
async fn row_counts(cx: &Context) -> Handled {
    #[derive(Deserialize, Serialize)]
    struct Counts {
        grants: f64,
        connections: f64,
        connect_sessions: f64,
        opened_connect_sessions: f64,
        oauth_sessions: f64,
        consumed_oauth_sessions: f64,
        token_reads: f64,
        page_sessions: f64,
    }
    let counts: Option<Counts> = cx.db()?.first(store::operations::flow_counts()).await?;
    Ok(respond::json(200, &counts)?)
}

/// `PUT /__test/grants/{id}/ciphertext` `{"from_grant"}`: copies another grant's sealed tokens
/// (ciphertext and key id) over this grant's, leaving its version alone.
async fn copy_ciphertext(mut req: Request, cx: &Context, grant_id: &GrantId) -> Handled {
    #[derive(Deserialize)]
    struct Body {
        from_grant: GrantId,
    }
    let body: Body = respond::read_json(&mut req).await?;
    let copied = test_write(
        cx,
        grant_id,
        TestWrite::CopyTokens {
            from_grant: body.from_grant,
        },
    )
    .await?;
    if !copied {
        return Err(ApiError::new(ErrorCode::NotFound, "No such grant (either of them).").into());
    }
    Ok(respond::json(200, &json!({ "copied": true }))?)
}

async fn revive_grant(cx: &Context, grant_id: &GrantId) -> Handled {
    if !test_write(cx, grant_id, TestWrite::Revive).await? {
        return Err(ApiError::new(ErrorCode::NotFound, "No such grant.").into());
    }
    Ok(respond::json(200, &json!({ "revived": true }))?)
}

/// A test power's write to a grant, made by the grant's object (the grant's only writer),
/// which forgets what it remembers of it. Whether a row changed.
async fn test_write(cx: &Context, grant_id: &GrantId, write: TestWrite) -> Handled<bool> {
    let mut answer = GrantObjectClient::new(cx, grant_id)
        .test_write(TestWriteAsk {
            grant_id: grant_id.to_owned(),
            write,
        })
        .await?;
    if answer.status_code() != 200 {
        return Err(Internal::ObjectAnswered {
            command: "test_write",
            status: answer.status_code(),
            body: String::new(),
        }
        .into());
    }
    let body: Value = answer.json().await?;
    Ok(body["changed"] == json!(true))
}
