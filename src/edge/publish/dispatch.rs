//! Publishing one post target: the publish queue's consumer, the minute dispatch that hands
//! due targets to the queue, the reconciler, and resuming parked targets after a reconnect.
//!
//! A message carries a target id and nothing else. The consumer claims the target with a
//! conditional update (`queued` → `publishing`, with a lease), takes the token through the
//! grant's Durable Object (the pre-post check: a dead grant parks the target), marks the claim
//! `sent_at` just before the request goes out, and writes what the answer proves
//! (`core::publish::publish_policy`). Every settling write is conditional on the claim, so a redelivered
//! message, a second consumer or an expired lease can never publish twice.
//!
//! This module is the queue side: the messages, the minute dispatch, the reconciler, the
//! pre-flight, resuming parked targets.

use super::settle::{settle, Settle};
use super::target::load;
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::common::ids::TargetId;
use crate::core::common::log::LogLine;
use crate::core::common::queues::WorkQueue;
use crate::core::publish::posts::PublishMessage;
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_policy::{self};
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::protocol::CheckByAsk;
use crate::edge::grant::grant_object::protocol::GrantObjectClient;
use crate::edge::http::respond::Handled;
use crate::edge::http::respond::Internal;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{D1Database, MessageBuilder};

/// A target handed to the queue: which, due when, on which platform.
pub struct Queued {
    pub id: TargetId,
    pub not_before: Timestamp,
    pub provider: String,
}

/// How a publish message went: done (ack) or worth another try (retry, with the queue's delay).
pub enum Delivery {
    Done,
    Retry(String),
}

/// The longest delay a queue message may carry (12 hours).
pub(crate) const MAX_DELAY_SECS: i64 = 43_200;
/// A queued target whose message has not arrived this long after it was due is re-sent.
pub(crate) const OVERDUE_MS: i64 = 5 * 60_000;
/// The most targets one dispatch or reconciler pass hands on.
pub(crate) const PAGE: i64 = 100;

/// Sends each target's message, delayed until its `not_before` (at most 12 hours; the
/// dispatch hands later ones on when their time comes).
pub async fn send(cx: &Context, due: &[Queued], now: Timestamp) -> Handled<()> {
    if due.is_empty() {
        return Ok(());
    }
    let queue = cx.env().queue(WorkQueue::Publish.binding())?;
    for target in due {
        let delay =
            ((target.not_before.as_millis() - now.as_millis()) as f64 / 1000.0).ceil() as i64;
        queue
            .send(
                MessageBuilder::new(PublishMessage {
                    target_id: target.id.clone(),
                    provider: Some(target.provider.clone()),
                })
                .delay_seconds(delay.clamp(0, MAX_DELAY_SECS) as u32)
                .build(),
            )
            .await?;
    }
    Ok(())
}

/// A row of a statement that hands targets to the queue (`RETURNING id, not_before, provider`).
#[derive(Deserialize)]
pub(crate) struct Due {
    id: TargetId,
    not_before: f64,
    provider: String,
}

pub(crate) fn due_list(rows: Vec<Due>) -> Vec<Queued> {
    rows.into_iter()
        .map(|r| Queued {
            id: r.id,
            not_before: time(r.not_before),
            provider: r.provider,
        })
        .collect()
}

/// The minute dispatch: scheduled targets due within the next minute go to the queue, each
/// delayed to its second.
pub async fn dispatch(cx: &Context, now: Timestamp) -> Handled<Value> {
    let db = cx.db()?;
    let rows: Vec<Due> = db
        .all(store::targets::dispatch_due(
            now,
            now.plus_millis(60_000),
            PAGE,
        ))
        .await?;
    let due = due_list(rows);
    send(cx, &due, now).await?;
    // Pre-flight marks a failed call left behind (a minute old: the post's own call has had
    // its turn).
    #[derive(Deserialize)]
    pub(crate) struct Left {
        grant_id: GrantId,
        check_by: f64,
    }
    let left: Vec<Left> = db
        .all(store::targets::preflights_left(
            now.plus_millis(-60_000),
            PAGE,
        ))
        .await?;
    for l in &left {
        preflight(cx, &l.grant_id, time(l.check_by), now).await;
    }
    Ok(json!({ "posts_dispatched": due.len(), "preflights_resent": left.len() }))
}

/// Asks the grant's object to check the grant by `by` (the pre-flight). Best effort: a failure
/// is logged, and the minute dispatch sends the mark the call left behind.
pub async fn preflight(cx: &Context, grant_id: &GrantId, by: Timestamp, now: Timestamp) {
    let ask = CheckByAsk {
        grant_id: grant_id.to_owned(),
        by: by.as_millis(),
    };
    let failed = match GrantObjectClient::new(cx, grant_id).check_by(ask).await {
        Ok(answer) if answer.status_code() == 200 => return,
        Ok(answer) => format!("the grant's object answered {}", answer.status_code()),
        Err(e) => e.to_string(),
    };
    logging::emit(
        &LogLine::warn("publish.preflight_failed", now)
            .field("grant_id", grant_id)
            .field("error", failed),
    );
}

/// The reconciler: re-sends queued targets whose message was lost (the local broker loses its
/// messages when killed), and settles expired claims: one that never sent goes back to the
/// queue; one that may have sent becomes `unconfirmed`.
pub async fn reconcile(cx: &Context, now: Timestamp) -> Handled<Value> {
    let db = cx.db()?;
    let overdue = now.plus_millis(-OVERDUE_MS);
    let lost: Vec<Due> = db
        .all(store::targets::resend_lost(now, overdue, PAGE))
        .await?;
    let lost = due_list(lost);
    send(cx, &lost, now).await?;
    let never_sent: Vec<Due> = db.all(store::targets::requeue_never_sent(now)).await?;
    let never_sent = due_list(never_sent);
    send(cx, &never_sent, now).await?;
    #[derive(Deserialize)]
    pub(crate) struct Expired {
        id: String,
        lease_id: String,
    }
    let expired: Vec<Expired> = db
        .all(store::targets::expired_after_sending(now, PAGE))
        .await?;
    let mut unconfirmed = 0;
    let catalogue = cx.catalogue().map_err(Internal::Config)?;
    for e in &expired {
        let Some(target) = load(&db, &e.id).await? else {
            continue;
        };
        // Where the platform lists the account's recent posts, the recheck looks the post up
        // from the next dispatch on (`publish/recheck.rs`), as after any unclear answer: a
        // runtime killed mid-publish needs no person when the platform can tell.
        let can_look = catalogue.resolve(&target.provider).is_some_and(|spec| {
            spec.publish
                .as_ref()
                .is_some_and(|publish| publish.lookup_url.is_some())
        });
        let settled = settle(
            cx,
            &db,
            &target,
            Settle {
                state: TargetState::Unconfirmed,
                reason: "lease_expired",
                message: format!(
                    "The publish request went out and no outcome was recorded before the claim \
                     expired. {}",
                    if can_look {
                        "Evergreen looks for the post on the platform for a while, then settles \
                         the target."
                    } else {
                        "Check the platform, then resolve the target."
                    }
                ),
                lease_id: Some(&e.lease_id),
                recheck_at: can_look.then_some(now),
                ..Settle::default()
            },
            now,
        )
        .await?;
        unconfirmed += usize::from(settled);
    }
    Ok(json!({
        "posts_resent": lost.len(),
        "posts_requeued": never_sent.len(),
        "posts_unconfirmed": unconfirmed,
    }))
}

/// After a consent restored `grant_id`: its parked targets go back to the queue, or fail when
/// their slot is further back than the staleness limit.
pub async fn resume_parked(cx: &Context, db: &D1Database, grant_id: &GrantId, now: Timestamp) {
    if let Err(e) = resume(cx, db, grant_id, now).await {
        logging::emit(
            &LogLine::warn("publish.resume_failed", now)
                .field("grant_id", grant_id)
                .field("error", e.to_string()),
        );
    }
}

pub(crate) async fn resume(
    cx: &Context,
    db: &D1Database,
    grant_id: &GrantId,
    now: Timestamp,
) -> Handled<()> {
    #[derive(Deserialize)]
    pub(crate) struct Parked {
        id: String,
        publish_at: f64,
    }
    let parked: Vec<Parked> = db.all(store::targets::parked_of_grant(grant_id)).await?;
    let settings = cx.settings().publish;
    let mut resumed = Vec::new();
    for p in parked {
        if publish_policy::resumes(settings, time(p.publish_at), now) {
            let rows: Vec<Due> = db
                .all(store::targets::resume_parked(&p.id, grant_id, now))
                .await?;
            resumed.extend(due_list(rows));
        } else if let Some(target) = load(db, &p.id).await? {
            settle(
                cx,
                db,
                &target,
                Settle {
                    state: TargetState::Failed,
                    reason: "stale",
                    message: format!(
                        "The connection came back more than {} hours after the post's slot; \
                         it was not published late. Retry it to publish it now.",
                        settings.stale_after_secs / 3_600
                    ),
                    from: &[TargetState::Parked],
                    ..Settle::default()
                },
                now,
            )
            .await?;
        }
    }
    send(cx, &resumed, now).await
}
