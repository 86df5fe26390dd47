//! Settling a target: its new state and its `post.*` event written in one batch, then the
//! event handed to the webhook queue.

use super::target::{load, Target};
use crate::core::common::clock::Timestamp;
use crate::core::common::log::LogLine;
use crate::core::publish::posts::TargetState;
use crate::core::webhooks::webhook_payload::{render_post, PostEventRecord};
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::respond::Handled;
use crate::edge::webhooks::outbox;
use crate::store::{self, Db};
use serde::Deserialize;
use worker::D1Database;

/// A settling write: the target's new state and its event.
pub struct Settle<'a> {
    pub state: TargetState,
    /// A stable code (`rejected`, `ambiguous`, `connection_dead`, …); empty for published.
    pub reason: &'a str,
    pub message: String,
    pub platform_post_id: Option<&'a str>,
    /// The claim the write is conditional on; `None` for writes from the API, which are
    /// conditional on `from`.
    pub lease_id: Option<&'a str>,
    /// The states the write may move the target from (with no lease).
    pub from: &'a [TargetState],
    /// An unconfirmed target is looked up again then.
    pub recheck_at: Option<Timestamp>,
}

impl Default for Settle<'_> {
    fn default() -> Self {
        Self {
            state: TargetState::Failed,
            reason: "",
            message: String::new(),
            platform_post_id: None,
            lease_id: None,
            from: &[],
            recheck_at: None,
        }
    }
}

/// Writes the target's settled state and its `post.*` event in one batch, then hands the
/// event's deliveries to the webhook queue. False: the write's condition did not hold (the
/// claim was lost, or the state moved on), and nothing was written.
pub(crate) async fn settle(
    cx: &Context,
    db: &D1Database,
    target: &Target,
    settle: Settle<'_>,
    now: Timestamp,
) -> Handled<bool> {
    let state = settle.state.as_str();
    let update = store::targets::settle(&store::targets::Settled {
        target_id: &target.id,
        state: settle.state,
        reason: Some(settle.reason).filter(|r| !r.is_empty()),
        message: Some(settle.message.as_str()).filter(|_| settle.state != TargetState::Published),
        platform_post_id: settle.platform_post_id,
        by: match settle.lease_id {
            Some(lease_id) => store::targets::Settler::Claim(lease_id),
            None => store::targets::Settler::From(settle.from),
        },
        recheck_at: settle.recheck_at,
        now,
    });
    let mut statements = vec![update];
    statements.extend(post_event(db, target, &settle, now).await?);
    let results = Db::batch(db, statements).await?;
    let landed = results.first().map(|r| r.changes) == Some(1);
    if landed {
        logging::emit(
            &LogLine::info("publish.settled", now)
                .field("target_id", target.id.as_str())
                .field("provider", target.provider.as_str())
                .field("state", state)
                .field("reason", settle.reason),
        );
        outbox::hand_off(cx, db, &target.grant_id, now).await;
    }
    Ok(landed)
}

/// The event row of a settling write (guarded on the write having landed), and its outbox
/// rows. The body is rendered now, with the target's next sequence number.
pub(crate) async fn post_event(
    db: &D1Database,
    target: &Target,
    settle: &Settle<'_>,
    now: Timestamp,
) -> Handled<[store::Statement; 2]> {
    #[derive(Deserialize)]
    pub(crate) struct Next {
        seq: i64,
    }
    let seq = db
        .first::<Next>(store::events::next_seq(&target.id))
        .await?
        .map_or(1, |n| n.seq);
    let id = crate::core::common::ids::EventId::mint()?;
    let kind = format!("post.{}", settle.state.as_str());
    let dedupe = format!("{kind}:{}", now.as_millis());
    let body = render_post(&PostEventRecord {
        id: &id,
        kind: &kind,
        post_id: &target.post_id,
        target_id: &target.id,
        connection_id: &target.connection_id,
        end_user_ref: &target.end_user_ref,
        provider: &target.provider,
        seq,
        platform_post_id: settle.platform_post_id,
        reason: Some(settle.reason).filter(|r| !r.is_empty()),
        message: &settle.message,
        occurred_at: now,
    });
    let event = store::events::record_post(&store::events::PostEvent {
        id: &id,
        seq,
        kind: &kind,
        reason: settle.reason,
        message: &settle.message,
        dedupe_key: &dedupe,
        body: &body,
        target_id: &target.id,
        target_state: settle.state.as_str(),
        occurred_at: now,
    });
    let outbox = store::events::enqueue_deliveries(&target.grant_id, &dedupe, now);
    Ok([event, outbox])
}

/// A target settled through the API (resolve, cancel): written with its event.
pub async fn settle_from_api(
    cx: &Context,
    db: &D1Database,
    target_id: &str,
    settle_as: Settle<'_>,
    now: Timestamp,
) -> Handled<bool> {
    let Some(target) = load(db, target_id).await? else {
        return Ok(false);
    };
    settle(cx, db, &target, settle_as, now).await
}
