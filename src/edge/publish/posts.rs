//! The posts API: create (idempotent by key), show, list, retry, cancel, resolve.
//!
//! Writes here touch only targets in states no consumer holds (`scheduled`, `queued`,
//! `failed`, `parked`, `unconfirmed`), each with a conditional update, so two concurrent
//! retries send one message between them, and nothing in flight is moved under a consumer.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::{cursor, query};
use crate::core::oauth::catalogue::PublishDialect;
use crate::core::publish::media;
use crate::core::publish::posts::{
    idempotency_key, post_state, PostRequest, Resolution, TargetState,
};
use crate::core::publish::publish_dialect;
use crate::core::publish::publish_policy::{earliest_checks, new_target, stagger};
use crate::core::publish::publish_progress::Progress;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::{json as at, read as time};
use crate::edge::http::respond::{self, Handled};
use crate::edge::publish::resolution;
use crate::edge::publish::{dispatch, settle};
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, Request};

#[derive(Deserialize)]
struct PostRow {
    id: String,
    end_user_ref: String,
    text: String,
    publish_at: f64,
    idempotency_key: String,
    created_at: f64,
    media: Option<String>,
}

#[derive(Deserialize)]
struct TargetRow {
    post_id: String,
    id: String,
    connection_id: String,
    provider: String,
    state: String,
    not_before: f64,
    attempts: f64,
    platform_post_id: Option<String>,
    reason: Option<String>,
    last_error: Option<String>,
    last_status: Option<f64>,
    published_at: Option<f64>,
    updated_at: f64,
    progress: Option<String>,
}

fn post_json(post: &PostRow, targets: &[TargetRow]) -> Value {
    let states: Vec<TargetState> = targets
        .iter()
        .filter_map(|t| TargetState::parse(&t.state))
        .collect();
    json!({
        "id": post.id,
        "end_user_ref": post.end_user_ref,
        "text": post.text,
        "publish_at": at(Some(post.publish_at)),
        "idempotency_key": post.idempotency_key,
        "media": post.media.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok())
            .unwrap_or_else(|| json!([])),
        "state": post_state(&states),
        "created_at": at(Some(post.created_at)),
        "targets": targets.iter().map(|t| json!({
            "id": t.id,
            "connection_id": t.connection_id,
            "provider": t.provider,
            "state": t.state,
            "not_before": at(Some(t.not_before)),
            "attempts": t.attempts as i64,
            "platform_post_id": t.platform_post_id,
            "reason": t.reason,
            "last_error": t.last_error,
            "last_status": t.last_status.map(|s| s as i64),
            "published_at": at(t.published_at),
            "updated_at": at(Some(t.updated_at)),
            // Where a multi-step publish stands (`container`, `upload`, …); the handles
            // themselves stay inside (an upload session URI is a capability).
            "step": Progress::parse(t.progress.as_deref()).map(|p| p.step()),
        })).collect::<Vec<_>>(),
    })
}

async fn find_post(
    db: &D1Database,
    caller: &Caller,
    id: &str,
) -> Handled<(PostRow, Vec<TargetRow>)> {
    let post: Option<PostRow> = db.first(store::posts::find(id, &caller.tenant_id)).await?;
    let post =
        post.ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No post {id:?}.")))?;
    let targets = db.all(store::posts::targets(&post.id)).await?;
    Ok((post, targets))
}

pub async fn show(db: &D1Database, caller: &Caller, id: &str) -> Handled {
    let (post, targets) = find_post(db, caller, id).await?;
    Ok(respond::json(200, &post_json(&post, &targets))?)
}

/// A target connection as the post needs it.
#[derive(Deserialize)]
struct Connection {
    id: String,
    grant_id: GrantId,
    end_user_ref: String,
    provider: String,
}

/// `POST /v1/posts`: checked, staggered across accounts, stored with its targets in one
/// batch, then the due targets queued and their grants' pre-flights brought forward.
pub async fn create(
    mut req: Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    now: Timestamp,
) -> Handled {
    let key = idempotency_key(req.headers().get("idempotency-key")?.as_deref())
        .map_err(ApiError::invalid_request)?;
    let body = respond::read_body(&mut req).await?;
    let asked = PostRequest::parse(&body).map_err(ApiError::invalid_request)?;
    if let Some(answer) = replay(db, caller, &key, &asked).await? {
        return Ok(answer);
    }
    let connections = publishable_connections(cx, db, caller, &asked).await?;
    let slots = staggered_slots(cx, db, caller, &asked, &connections, now).await?;
    let post_id = crate::core::common::ids::PostId::mint()?;
    let content = asked.content_hash();
    let media = asked.media_json();
    let mut statements = vec![store::posts::insert(&store::posts::NewPost {
        id: &post_id,
        tenant_id: &caller.tenant_id,
        end_user_ref: &connections[0].end_user_ref,
        text: &asked.text,
        publish_at: asked.publish_at.unwrap_or(now),
        idempotency_key: &key,
        request_digest: &asked.digest,
        media: media.as_deref(),
        now,
    })];
    let mut due = Vec::new();
    let mut checks = Vec::new();
    for (c, not_before) in connections.iter().zip(slots) {
        let target_id = crate::core::common::ids::TargetId::mint()?;
        // The grant's object brings its check forward once this batch landed.
        let start = new_target(not_before, now);
        if start.state == TargetState::Queued {
            due.push(dispatch::Queued {
                id: target_id.clone(),
                not_before,
                provider: c.provider.to_string(),
            });
        }
        statements.push(store::posts::insert_target(&store::posts::NewTarget {
            id: &target_id,
            post_id: &post_id,
            tenant_id: &caller.tenant_id,
            connection_id: &c.id,
            grant_id: &c.grant_id,
            provider: &c.provider,
            content_hash: &content,
            state: start.state,
            not_before,
            check_by: start.check_by,
            now,
        }));
        checks.push((c.grant_id.clone(), start.check_by));
    }
    let results = Db::batch(db, statements).await?;
    if results.first().map(|r| r.changes) != Some(1) {
        // Another request with this key won the race: answer what it stored.
        return replay(db, caller, &key, &asked).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "The post could not be stored; send it again.",
            )
            .into()
        });
    }
    dispatch::send(cx, &due, now).await?;
    for (grant_id, by) in &earliest_checks(checks) {
        dispatch::preflight(cx, grant_id, *by, now).await;
    }
    let (post, targets) = find_post(db, caller, &post_id).await?;
    Ok(respond::json(201, &post_json(&post, &targets))?)
}

/// The post's connections, each live, the tenant's, on a platform Evergreen publishes to, and
/// able to take the post's text and media; else the first that is not, named.
async fn publishable_connections(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    asked: &PostRequest,
) -> Handled<Vec<Connection>> {
    let catalogue = cx.catalogue()?;
    let mut connections = Vec::new();
    for id in &asked.connection_ids {
        let found: Option<Connection> = db
            .first(store::posts::target_connection(id, &caller.tenant_id))
            .await?;
        let c = found.ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("No connection {id:?} (or it was disconnected)."),
            )
        })?;
        let spec = catalogue.resolve(&c.provider);
        let Some(publish) = spec.as_deref().and_then(|s| s.publish.as_ref()) else {
            return Err(ApiError::new(
                ErrorCode::NotPublishable,
                format!(
                    "Connection {id:?} is on {:?}, where Evergreen does not publish.",
                    c.provider
                ),
            )
            .into());
        };
        let name = spec
            .as_deref()
            .map_or(c.provider.as_str(), |s| s.display_name.as_str());
        let upload_cap = (publish.dialect == PublishDialect::Youtube)
            .then(|| cx.settings().media.upload_cap_bytes());
        publish_dialect::fits(publish, name, &asked.text)
            .and_then(|()| media::fits(publish.media.as_ref(), name, &asked.media, upload_cap))
            .map_err(|why| {
                ApiError::new(
                    ErrorCode::NotPublishable,
                    format!("Connection {id:?}: {why}"),
                )
            })?;
        connections.push(c);
    }
    Ok(connections)
}

/// Each connection's slot: the post's time, moved apart from every other send of the same text
/// to the same platform near it (stored ones, and this post's own), by `PUBLISH stagger_secs`.
async fn staggered_slots(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    asked: &PostRequest,
    connections: &[Connection],
    now: Timestamp,
) -> Handled<Vec<Timestamp>> {
    #[derive(Deserialize)]
    struct Busy {
        not_before: f64,
    }
    let slot = asked.publish_at.unwrap_or(now).max(now);
    let gap_ms = i64::from(cx.settings().publish.stagger_secs) * 1_000;
    let window = gap_ms * (asked.connection_ids.len() as i64 + 1);
    let content = asked.content_hash();
    let mut planned: Vec<(&str, Timestamp)> = Vec::new();
    for c in connections {
        let stored: Vec<Busy> = db
            .all(store::posts::busy_slots(
                &caller.tenant_id,
                &c.provider,
                &content,
                slot.plus_millis(-gap_ms),
                slot.plus_millis(window * 4),
            ))
            .await?;
        let mut busy: Vec<Timestamp> = stored.into_iter().map(|b| time(b.not_before)).collect();
        busy.extend(
            planned
                .iter()
                .filter(|(p, _)| *p == c.provider)
                .map(|(_, t)| *t),
        );
        planned.push((&c.provider, stagger(slot, &busy, gap_ms)));
    }
    Ok(planned.into_iter().map(|(_, t)| t).collect())
}

/// The post stored under `key`, if any: the same content answers it again (200), other
/// content is a conflict.
async fn replay(
    db: &D1Database,
    caller: &Caller,
    key: &str,
    asked: &PostRequest,
) -> Handled<Option<worker::Response>> {
    #[derive(Deserialize)]
    struct Keyed {
        id: String,
        request_digest: String,
    }
    let stored: Option<Keyed> = db
        .first(store::posts::by_key(&caller.tenant_id, key))
        .await?;
    let Some(stored) = stored else {
        return Ok(None);
    };
    if stored.request_digest != asked.digest {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            format!(
                "Idempotency-Key {key:?} was used for post {} with a different body. Use a new key for a new post.",
                stored.id
            ),
        )
        .into());
    }
    let (post, targets) = find_post(db, caller, &stored.id).await?;
    let mut answer = respond::json(200, &post_json(&post, &targets))?;
    answer.headers_mut().set("idempotent-replayed", "true")?;
    Ok(Some(answer))
}

/// The most posts one page answers (newest first), and what a page holds unless `?limit=`
/// says otherwise: what the list answered before it had pages.
const LIST_LIMIT: u32 = 100;

/// `GET /v1/posts[?state=…][&end_user_ref=…][&limit=…][&cursor=…]`: a page at a time.
pub async fn list(cx: &Context, db: &D1Database, caller: &Caller, url: &str) -> Handled {
    let state = query::param(url, "state");
    let state = match &state {
        Some(s) => Some(TargetState::parse(s).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "state must be one of {}.",
                TargetState::ALL.map(TargetState::as_str).join(", ")
            ))
        })?),
        None => None,
    };
    let end_user = query::param(url, "end_user_ref");
    let scope = cursor::ListScope {
        list: "posts",
        tenant_id: caller.tenant_id.as_str(),
        filter: cursor::filter_form(&[end_user.as_deref(), state.map(TargetState::as_str)]),
    };
    let keyring = cx.keyring()?;
    let page = cursor::ask(&scope, url, LIST_LIMIT, &keyring)?;
    let (limit, before) = (page.limit, page.after);
    let mut posts: Vec<PostRow> = db
        .all(store::posts::list(
            &caller.tenant_id,
            end_user.as_deref(),
            state,
            before.as_ref().map(|p| (p.key, p.id.as_str())),
            i64::from(limit) + 1,
        ))
        .await?;
    let next_cursor = cursor::cut(&mut posts, limit, |last| cursor::Position {
        key: last.created_at as i64,
        id: last.id.clone(),
    })
    .map(|p| cursor::next(&scope, p, &keyring));
    let ids: Vec<&str> = posts.iter().map(|p| p.id.as_str()).collect();
    let targets: Vec<TargetRow> = if ids.is_empty() {
        Vec::new()
    } else {
        db.all(store::posts::targets_of_posts(&caller.tenant_id, &ids))
            .await?
    };
    // Read by post: each post's targets are one run of the answer.
    let by_post: std::collections::HashMap<&str, &[TargetRow]> = targets
        .chunk_by(|a, b| a.post_id == b.post_id)
        .map(|run| (run[0].post_id.as_str(), run))
        .collect();
    let listed: Vec<Value> = posts
        .iter()
        .map(|post| post_json(post, by_post.get(post.id.as_str()).copied().unwrap_or(&[])))
        .collect();
    Ok(respond::json(
        200,
        &json!({ "posts": listed, "next_cursor": next_cursor }),
    )?)
}

/// Sends the failed and parked targets again (their count starts over). Targets another call
/// retried a moment earlier are already queued, so they are not sent twice.
pub async fn retry(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let (post, _) = find_post(db, caller, id).await?;
    let due = resolution::retry_targets(cx, db, &post.id, now).await?;
    let (post, targets) = find_post(db, caller, id).await?;
    let mut body = post_json(&post, &targets);
    body["retried"] = json!(due);
    Ok(respond::json(200, &body)?)
}

/// Cancels the targets not yet sent; one being published right now cannot be.
pub async fn cancel(
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    id: &str,
    now: Timestamp,
) -> Handled {
    let (_, targets) = find_post(db, caller, id).await?;
    for t in targets
        .iter()
        .filter(|t| TargetState::parse(&t.state).is_some_and(TargetState::cancellable))
    {
        settle::settle_from_api(
            cx,
            db,
            &t.id,
            settle::Settle {
                state: TargetState::Cancelled,
                reason: "cancelled",
                message: "Cancelled before it was published.".into(),
                from: &[
                    TargetState::Scheduled,
                    TargetState::Queued,
                    TargetState::Parked,
                ],
                ..settle::Settle::default()
            },
            now,
        )
        .await?;
    }
    let (post, targets) = find_post(db, caller, id).await?;
    if targets
        .iter()
        .any(|t| t.state == TargetState::Publishing.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "A target is being published right now and cannot be cancelled; the others were.",
        )
        .into());
    }
    Ok(respond::json(200, &post_json(&post, &targets))?)
}

/// Settles an unconfirmed target: published (a person found it, with its id) or sent again.
pub async fn resolve(
    mut req: Request,
    cx: &Context,
    db: &D1Database,
    caller: &Caller,
    post_id: &str,
    target_id: &str,
    now: Timestamp,
) -> Handled {
    let body = respond::read_body(&mut req).await?;
    let resolution = Resolution::parse(&body).map_err(ApiError::invalid_request)?;
    let (_, targets) = find_post(db, caller, post_id).await?;
    let target = targets.iter().find(|t| t.id == target_id).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Post {post_id:?} has no target {target_id:?}."),
        )
    })?;
    if !resolution::settle_unconfirmed(cx, db, &target.id, &resolution, now).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "Target {target_id:?} is {}, not unconfirmed; nothing was changed.",
                target.state
            ),
        )
        .into());
    }
    let (post, targets) = find_post(db, caller, post_id).await?;
    Ok(respond::json(200, &post_json(&post, &targets))?)
}
