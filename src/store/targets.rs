//! Post targets in the publish pipeline: one row per (post, connection), moved through its
//! states by the minute dispatch, the publish consumer's claim, and the reconciler. Every
//! write names the state it expects (compare-and-set), and a claimed target is written only
//! while its lease (`lease_id`) holds.

use super::statement::{Param, Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::publish::posts::TargetState;
use crate::core::publish::publish_progress::Progress;

use TargetState::{Parked, Published, Publishing, Queued, Scheduled, Unconfirmed};

/// The progress step after which a send may have reached the platform unseen.
const ATTACHED: &str = Progress::ATTACHED_STEP;

pub const DISPATCH_DUE: Sql = Sql {
    name: "targets.dispatch_due",
    text: "UPDATE post_targets SET state = ?4, enqueued_at = ?1, updated_at = ?1 \
           WHERE id IN (SELECT id FROM post_targets WHERE state = ?5 \
                          AND not_before <= ?2 ORDER BY not_before LIMIT ?3) \
             AND +state = ?5 \
           RETURNING id, not_before, provider",
};
pub const RESEND_LOST: Sql = Sql {
    name: "targets.resend_lost",
    text: "UPDATE post_targets SET enqueued_at = ?1, updated_at = ?1 WHERE id IN \
             (SELECT id FROM post_targets WHERE state = ?4 AND not_before <= ?2 \
                AND (enqueued_at IS NULL OR enqueued_at <= ?2) ORDER BY not_before LIMIT ?3) \
           RETURNING id, not_before, provider",
};
pub const REQUEUE_NEVER_SENT: Sql = Sql {
    name: "targets.requeue_never_sent",
    text: "UPDATE post_targets SET state = ?2, lease_id = NULL, lease_until = NULL, \
             not_before = ?1, enqueued_at = ?1, updated_at = ?1 \
           WHERE state = ?3 AND lease_until <= ?1 \
             AND (sent_at IS NULL OR json_extract(progress, '$.step') != ?4) \
           RETURNING id, not_before, provider",
};
pub const EXPIRED_AFTER_SENDING: Sql = Sql {
    name: "targets.expired_after_sending",
    text: "SELECT id, lease_id FROM post_targets \
           WHERE state = ?3 AND lease_until <= ?1 AND sent_at IS NOT NULL \
             AND (progress IS NULL OR json_extract(progress, '$.step') = ?4) LIMIT ?2",
};
pub const PARKED_OF_GRANT: Sql = Sql {
    name: "targets.parked_of_grant",
    text: "SELECT t.id, p.publish_at FROM post_targets t JOIN posts p ON p.id = t.post_id \
           WHERE +t.state = ?2 AND t.connection_id IN \
             (SELECT id FROM connections WHERE grant_id = ?1 AND disconnected_at IS NULL) \
           ORDER BY p.publish_at, t.id",
};
pub const RESUME_PARKED: Sql = Sql {
    name: "targets.resume_parked",
    text: "UPDATE post_targets SET state = ?4, grant_id = ?1, not_before = ?2, \
             enqueued_at = ?2, reason = NULL, updated_at = ?2 \
           WHERE id = ?3 AND state = ?5 RETURNING id, not_before, provider",
};
pub const LOAD: Sql = Sql {
    name: "targets.load",
    text: "SELECT t.id, t.post_id, t.tenant_id, t.connection_id, t.grant_id, t.provider, t.state, \
             t.not_before, t.attempts, p.text, c.end_user_ref, c.kind, c.external_id, c.access, \
             c.access_reason, c.disconnected_at, p.media, t.progress, t.sent_at, c.username \
           FROM post_targets t JOIN posts p ON p.id = t.post_id \
             JOIN connections c ON c.id = t.connection_id \
           WHERE t.id = ?1",
};
pub const CLAIM: Sql = Sql {
    name: "targets.claim",
    text: "UPDATE post_targets SET state = ?6, lease_id = ?1, lease_until = ?2, \
             sent_at = NULL, updated_at = ?3 \
           WHERE id = ?4 AND state = ?7 AND not_before <= ?5",
};
pub const MARK_SENT: Sql = Sql {
    name: "targets.mark_sent",
    text: "UPDATE post_targets SET sent_at = ?3, attempts = attempts + 1, updated_at = ?3 \
           WHERE id = ?1 AND lease_id = ?2 AND state = ?4",
};
pub const SAVE_PROGRESS: Sql = Sql {
    name: "targets.save_progress",
    text: "UPDATE post_targets SET progress = ?3, updated_at = ?4 \
           WHERE id = ?1 AND lease_id = ?2 AND state = ?5",
};
pub const EXTEND_LEASE: Sql = Sql {
    name: "targets.extend_lease",
    text: "UPDATE post_targets SET lease_until = ?3 \
           WHERE id = ?1 AND lease_id = ?2 AND state = ?4",
};
pub const REQUEUE_CLAIM: Sql = Sql {
    name: "targets.requeue_claim",
    text: "UPDATE post_targets SET state = ?10, not_before = ?1, enqueued_at = ?2, \
             lease_id = NULL, lease_until = NULL, sent_at = NULL, reason = ?3, \
             last_error = ?4, progress = COALESCE(?5, progress), updated_at = ?2, \
             last_status = COALESCE(?8, last_status), attempts = COALESCE(?9, attempts) \
           WHERE id = ?6 AND lease_id = ?7 AND state = ?11",
};
pub const SETTLE: Sql = Sql {
    name: "targets.settle",
    text: "UPDATE post_targets SET state = ?1, reason = ?2, last_error = ?3, \
             platform_post_id = COALESCE(?4, platform_post_id), \
             published_at = CASE WHEN ?1 = ?9 THEN ?5 ELSE published_at END, \
             lease_id = CASE WHEN ?1 = ?11 THEN lease_id ELSE NULL END, \
             lease_until = NULL, updated_at = ?5, recheck_at = ?8 \
           WHERE id = ?6 AND ( \
             (?7 IS NOT NULL AND lease_id = ?7 AND state IN (?10, ?11)) \
             OR (?7 IS NULL AND state IN (?12, ?13, ?14, ?15)))",
};
pub const DUE_FOR_RECHECK: Sql = Sql {
    name: "targets.due_for_recheck",
    text: "SELECT id FROM post_targets WHERE state = ?3 AND recheck_at <= ?1 \
           ORDER BY recheck_at LIMIT ?2",
};
pub const PREFLIGHTS_LEFT: Sql = Sql {
    name: "targets.preflights_left",
    text: "SELECT grant_id, MIN(preflight_due) AS check_by FROM post_targets \
           WHERE preflight_due IS NOT NULL AND created_at <= ?1 \
           GROUP BY grant_id ORDER BY check_by LIMIT ?2",
};
pub const PREFLIGHT_DONE: Sql = Sql {
    name: "targets.preflight_done",
    text: "UPDATE post_targets SET preflight_due = NULL \
           WHERE grant_id = ?1 AND preflight_due IS NOT NULL AND preflight_due >= ?2",
};
pub const SET_RECHECK: Sql = Sql {
    name: "targets.set_recheck",
    text: "UPDATE post_targets SET recheck_at = ?1 WHERE id = ?2 AND state = ?3",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &SET_RECHECK,
    &PREFLIGHTS_LEFT,
    &PREFLIGHT_DONE,
    &DUE_FOR_RECHECK,
    &DISPATCH_DUE,
    &RESEND_LOST,
    &REQUEUE_NEVER_SENT,
    &EXPIRED_AFTER_SENDING,
    &PARKED_OF_GRANT,
    &RESUME_PARKED,
    &LOAD,
    &CLAIM,
    &MARK_SENT,
    &SAVE_PROGRESS,
    &EXTEND_LEASE,
    &REQUEUE_CLAIM,
    &SETTLE,
];

fn state(s: TargetState) -> Param {
    s.as_str().into()
}

/// Scheduled targets due by `until` (at most `limit`, earliest first) become queued `now`;
/// returns `id, not_before, provider` of each.
pub fn dispatch_due(now: Timestamp, until: Timestamp, limit: i64) -> Statement {
    DISPATCH_DUE.bind(vec![
        now.into(),
        until.into(),
        limit.into(),
        state(Queued),
        state(Scheduled),
    ])
}

/// Queued targets due and not sent to the queue since `overdue` (their message lost) are
/// marked sent `now`; returns `id, not_before, provider` of each.
pub fn resend_lost(now: Timestamp, overdue: Timestamp, limit: i64) -> Statement {
    RESEND_LOST.bind(vec![
        now.into(),
        overdue.into(),
        limit.into(),
        state(Queued),
    ])
}

/// Claims expired before their request could have reached the platform go back to the queue;
/// returns `id, not_before, provider` of each.
pub fn requeue_never_sent(now: Timestamp) -> Statement {
    REQUEUE_NEVER_SENT.bind(vec![
        now.into(),
        state(Queued),
        state(Publishing),
        ATTACHED.into(),
    ])
}

/// Claims expired after their request may have reached the platform (`id, lease_id`).
pub fn expired_after_sending(now: Timestamp, limit: i64) -> Statement {
    EXPIRED_AFTER_SENDING.bind(vec![
        now.into(),
        limit.into(),
        state(Publishing),
        ATTACHED.into(),
    ])
}

/// The parked targets of the grant's live connections (`id, publish_at`).
pub fn parked_of_grant(grant_id: &GrantId) -> Statement {
    PARKED_OF_GRANT.bind(vec![grant_id.into(), state(Parked)])
}

/// A parked target goes back to the queue through `grant_id`, due `now`; returns
/// `id, not_before, provider` if it was still parked.
pub fn resume_parked(target_id: &str, grant_id: &GrantId, now: Timestamp) -> Statement {
    RESUME_PARKED.bind(vec![
        grant_id.into(),
        now.into(),
        target_id.into(),
        state(Queued),
        state(Parked),
    ])
}

/// Pre-flight marks that the call after their post's batch did not clear (stored before
/// `stored_before`): per grant, the earliest time it must be checked by (`grant_id, check_by`).
pub fn preflights_left(stored_before: Timestamp, limit: i64) -> Statement {
    PREFLIGHTS_LEFT.bind(vec![stored_before.into(), limit.into()])
}

/// Clears the grant's pre-flight marks that a check by `by` satisfies (in the grant object's
/// batch with the grant's write).
pub fn preflight_done(grant_id: &GrantId, by: Timestamp) -> Statement {
    PREFLIGHT_DONE.bind(vec![grant_id.into(), by.into()])
}

/// Unconfirmed targets due a look on the platform (`id`), earliest first.
pub fn due_for_recheck(now: Timestamp, limit: i64) -> Statement {
    DUE_FOR_RECHECK.bind(vec![now.into(), limit.into(), state(Unconfirmed)])
}

/// When an unconfirmed target is looked up next (`None`: no more; a person settles it).
pub fn set_recheck(target_id: &str, at: Option<Timestamp>) -> Statement {
    SET_RECHECK.bind(vec![at.into(), target_id.into(), state(Unconfirmed)])
}

/// A target with what publishing it needs: its post's text and media, its connection.
pub fn load(target_id: &str) -> Statement {
    LOAD.bind(vec![target_id.into()])
}

/// The publish consumer's claim on a queued, due target (due allowing `now + 1 s`).
pub fn claim(target_id: &str, lease_id: &str, lease_until: Timestamp, now: Timestamp) -> Statement {
    CLAIM.bind(vec![
        lease_id.into(),
        lease_until.into(),
        now.into(),
        target_id.into(),
        now.plus_millis(1_000).into(),
        state(Publishing),
        state(Queued),
    ])
}

/// The request is about to go out: counted, and an expiry from now on is unclear.
pub fn mark_sent(target_id: &str, lease_id: &str, now: Timestamp) -> Statement {
    MARK_SENT.bind(vec![
        target_id.into(),
        lease_id.into(),
        now.into(),
        state(Publishing),
    ])
}

/// Stores a step's progress the moment it exists, under the claim.
pub fn save_progress(target_id: &str, lease_id: &str, progress: &str, now: Timestamp) -> Statement {
    SAVE_PROGRESS.bind(vec![
        target_id.into(),
        lease_id.into(),
        progress.into(),
        now.into(),
        state(Publishing),
    ])
}

/// Holds the claim until `until`.
pub fn extend_lease(target_id: &str, lease_id: &str, until: Timestamp) -> Statement {
    EXTEND_LEASE.bind(vec![
        target_id.into(),
        lease_id.into(),
        until.into(),
        state(Publishing),
    ])
}

/// A claimed target back to the queue.
pub struct Requeue<'a> {
    pub target_id: &'a str,
    pub lease_id: &'a str,
    /// When it may be sent again.
    pub at: Timestamp,
    pub reason: &'a str,
    pub note: &'a str,
    /// The progress made (`None`: as stored).
    pub progress: Option<&'a str>,
    /// After a refusal: the platform's status and the attempts made so far.
    pub refused: Option<(u16, u32)>,
    pub now: Timestamp,
}

pub fn requeue_claim(r: &Requeue<'_>) -> Statement {
    REQUEUE_CLAIM.bind(vec![
        r.at.into(),
        r.now.into(),
        r.reason.into(),
        r.note.into(),
        r.progress.into(),
        r.target_id.into(),
        r.lease_id.into(),
        r.refused.map(|(s, _)| i64::from(s)).into(),
        r.refused.map(|(_, a)| i64::from(a)).into(),
        state(Queued),
        state(Publishing),
    ])
}

/// Who settles a target, which decides what it must still be.
#[derive(Clone, Copy, Debug)]
pub enum Settler<'a> {
    /// The claim's holder: its outcome lands even if the reconciler marked the target
    /// unconfirmed meanwhile (what the platform said is better than not knowing).
    Claim(&'a str),
    /// The API or a recheck: the target must be in one of these states (at most 4).
    From(&'a [TargetState]),
}

/// A target's settled state.
pub struct Settled<'a> {
    pub target_id: &'a str,
    pub state: TargetState,
    /// A stable code, or `None`.
    pub reason: Option<&'a str>,
    /// For people; `None` clears it.
    pub message: Option<&'a str>,
    pub platform_post_id: Option<&'a str>,
    pub by: Settler<'a>,
    pub recheck_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// Settles a target if its settler may (`Settler`); `published_at` is set when it is
/// published. An unconfirmed target keeps its claim's lease id, so the claim's holder, if it
/// is only late, can still land what the platform answered.
pub fn settle(s: &Settled<'_>) -> Statement {
    let (lease, from): (Option<&str>, &[TargetState]) = match s.by {
        Settler::Claim(lease_id) => (Some(lease_id), &[]),
        Settler::From(from) => (None, from),
    };
    debug_assert!(
        from.len() <= 4,
        "settle takes at most 4 states to move from"
    );
    let slot = |i: usize| from.get(i).copied().map_or(Param::Null, state);
    SETTLE.bind(vec![
        state(s.state),
        s.reason.into(),
        s.message.into(),
        s.platform_post_id.into(),
        s.now.into(),
        s.target_id.into(),
        lease.into(),
        s.recheck_at.into(),
        state(Published),
        state(Publishing),
        state(Unconfirmed),
        slot(0),
        slot(1),
        slot(2),
        slot(3),
    ])
}
