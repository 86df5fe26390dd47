//! What a person decides about targets, from the API or the connections page: failed and parked
//! targets sent again, an unconfirmed one settled as they found it. Every move is conditional, so
//! two people (or a person and the reconciler) acting at once never send a target twice.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TargetId;
use crate::core::publish::posts::{Resolution, TargetState};
use crate::edge::common::context::Context;
use crate::edge::http::respond::Handled;
use crate::edge::publish::{dispatch, settle};
use crate::store::{self, Db};
use worker::D1Database;

/// Runs a conditional `UPDATE … RETURNING id, not_before, provider` that moves targets back to
/// `queued`, and sends a message for each target it moved (only those: a concurrent call that
/// moved nothing sends nothing).
pub(crate) async fn requeue(
    cx: &Context,
    db: &D1Database,
    update: store::Statement,
    now: Timestamp,
) -> worker::Result<Vec<TargetId>> {
    let moved: Vec<dispatch::Due> = db.all(update).await?;
    let due = dispatch::due_list(moved);
    dispatch::send(cx, &due, now).await?;
    Ok(due.into_iter().map(|q| q.id).collect())
}

/// Moves post `post_id`'s failed and parked targets back to the queue; the ids it moved.
/// The caller has checked the post is theirs.
pub(crate) async fn retry_targets(
    cx: &Context,
    db: &D1Database,
    post_id: &str,
    now: Timestamp,
) -> worker::Result<Vec<TargetId>> {
    requeue(cx, db, store::posts::retry(post_id, now), now).await
}

/// Settles unconfirmed target `target_id` as a person found it; `false` when it was not
/// unconfirmed (any more). The caller has checked the target is theirs.
pub(crate) async fn settle_unconfirmed(
    cx: &Context,
    db: &D1Database,
    target_id: &str,
    resolution: &Resolution,
    now: Timestamp,
) -> Handled<bool> {
    Ok(match resolution {
        Resolution::Published(id) => {
            settle::settle_from_api(
                cx,
                db,
                target_id,
                settle::Settle {
                    state: TargetState::Published,
                    reason: "resolved",
                    message: "Marked published by the scheduler.".into(),
                    platform_post_id: Some(id),
                    from: &[TargetState::Unconfirmed],
                    ..settle::Settle::default()
                },
                now,
            )
            .await?
        }
        Resolution::Retry => {
            let due = requeue(cx, db, store::posts::retry_unconfirmed(target_id, now), now).await?;
            !due.is_empty()
        }
    })
}
