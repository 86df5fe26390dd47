//! Posts as the API sees them: one row per post (idempotent by the tenant's key), its targets
//! (one per connection), and the API's own moves of targets no consumer holds. The publish
//! pipeline's moves are in `store::targets`.

use super::statement::{Param, Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::publish::posts::TargetState;

use TargetState::{Cancelled, Failed, Parked, Queued, Scheduled, Unconfirmed};

/// The columns a post answers with.
macro_rules! post_columns {
    () => {
        "SELECT id, end_user_ref, text, publish_at, idempotency_key, created_at, media "
    };
}

pub const FIND: Sql = Sql {
    name: "posts.find",
    text: concat!(
        post_columns!(),
        "FROM posts WHERE id = ?1 AND tenant_id = ?2"
    ),
};
pub const TARGETS: Sql = Sql {
    name: "posts.targets",
    text: "SELECT post_id, id, connection_id, provider, state, not_before, attempts, \
             platform_post_id, reason, last_error, last_status, published_at, updated_at, progress \
           FROM post_targets WHERE post_id = ?1 ORDER BY not_before, id",
};
/// The targets of a page of the tenant's posts (?2, a JSON array of ids), by post, each
/// post's in the order they go out: one read for the list instead of one per post. The
/// tenant is checked on each row, not looked up (`+tenant_id`): found by tenant, SQLite read
/// all the tenant's targets to keep a page's.
pub const TARGETS_OF_POSTS: Sql = Sql {
    name: "posts.targets_of_posts",
    text: "SELECT post_id, id, connection_id, provider, state, not_before, attempts, \
             platform_post_id, reason, last_error, last_status, published_at, updated_at, progress \
           FROM post_targets \
           WHERE post_id IN (SELECT value FROM json_each(?2)) AND +tenant_id = ?1 \
           ORDER BY post_id, not_before, id",
};
pub const BY_KEY: Sql = Sql {
    name: "posts.by_key",
    text: "SELECT id, request_digest FROM posts WHERE tenant_id = ?1 AND idempotency_key = ?2",
};
/// A page of the tenant's posts, newest first (ties by id), before (?5 `created_at`, ?6 id),
/// with a target in state ?3 if asked.
pub const LIST: Sql = Sql {
    name: "posts.list",
    text: concat!(
        post_columns!(),
        "FROM posts p WHERE tenant_id = ?1 AND (created_at, id) < (?5, ?6) \
             AND (?3 IS NULL OR EXISTS \
                   (SELECT 1 FROM post_targets t WHERE t.post_id = p.id AND +t.state = ?3)) \
           ORDER BY created_at DESC, id DESC LIMIT ?4"
    ),
};
/// [`LIST`] of one end user (?2), through that end user's index.
pub const LIST_OF_END_USER: Sql = Sql {
    name: "posts.list_of_end_user",
    text: concat!(
        post_columns!(),
        "FROM posts p WHERE tenant_id = ?1 AND end_user_ref = ?2 AND (created_at, id) < (?5, ?6) \
             AND (?3 IS NULL OR EXISTS \
                   (SELECT 1 FROM post_targets t WHERE t.post_id = p.id AND +t.state = ?3)) \
           ORDER BY created_at DESC, id DESC LIMIT ?4"
    ),
};
pub const TARGET_CONNECTION: Sql = Sql {
    name: "posts.target_connection",
    text: "SELECT c.id, c.grant_id, c.end_user_ref, g.provider FROM connections c \
           JOIN grants g ON g.id = c.grant_id \
           WHERE c.id = ?1 AND c.tenant_id = ?2 AND c.disconnected_at IS NULL",
};
pub const INSERT: Sql = Sql {
    name: "posts.insert",
    text: "INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
             request_digest, created_at, media) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
           ON CONFLICT (tenant_id, idempotency_key) DO NOTHING",
};
pub const BUSY_SLOTS: Sql = Sql {
    name: "posts.busy_slots",
    text: "SELECT not_before FROM post_targets WHERE tenant_id = ?1 AND provider = ?2 \
             AND content_hash = ?3 AND not_before BETWEEN ?4 AND ?5 \
             AND state NOT IN (?6, ?7)",
};
pub const INSERT_TARGET: Sql = Sql {
    name: "posts.insert_target",
    text: "INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, \
             provider, content_hash, state, not_before, enqueued_at, created_at, updated_at, \
             preflight_due) \
           SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12 \
           WHERE EXISTS (SELECT 1 FROM posts WHERE id = ?2)",
};
pub const RETRY: Sql = Sql {
    name: "posts.retry",
    text: "UPDATE post_targets SET state = ?3, not_before = ?1, enqueued_at = ?1, \
             attempts = 0, reason = NULL, last_error = NULL, updated_at = ?1, \
             progress = CASE WHEN state = ?4 THEN NULL ELSE progress END \
           WHERE post_id = ?2 AND state IN (?4, ?5) RETURNING id, not_before, provider",
};
pub const RETRY_UNCONFIRMED: Sql = Sql {
    name: "posts.retry_unconfirmed",
    text: "UPDATE post_targets SET state = ?3, not_before = ?1, enqueued_at = ?1, \
             reason = NULL, last_error = NULL, updated_at = ?1, progress = NULL, \
             recheck_at = NULL \
           WHERE id = ?2 AND state = ?4 RETURNING id, not_before, provider",
};

/// The targets needing a person (states ?4 to ?6) of a page of the end user's posts that have
/// one: at most ?3 posts, newest first (ties by id), before (?7 `created_at`, ?8 id).
pub const NEEDING_ATTENTION: Sql = Sql {
    name: "posts.needing_attention",
    text: "SELECT p.id AS post_id, p.text, p.created_at, t.id, t.provider, t.state, \
             t.last_error, c.username, c.display_name, c.external_id \
           FROM (SELECT id, text, created_at FROM posts q \
                 WHERE tenant_id = ?1 AND end_user_ref = ?2 AND (created_at, id) < (?7, ?8) \
                   AND EXISTS (SELECT 1 FROM post_targets u \
                               WHERE u.post_id = q.id AND +u.state IN (?4, ?5, ?6)) \
                 ORDER BY created_at DESC, id DESC LIMIT ?3) AS p \
           JOIN post_targets t ON t.post_id = p.id \
           JOIN connections c ON c.id = t.connection_id \
           WHERE +t.state IN (?4, ?5, ?6) \
           ORDER BY p.created_at DESC, p.id DESC, t.id",
};
pub const OWNED_BY_END_USER: Sql = Sql {
    name: "posts.owned_by_end_user",
    text: "SELECT 1 AS found FROM posts WHERE id = ?1 AND tenant_id = ?2 AND end_user_ref = ?3",
};
pub const TARGET_OWNED_BY_END_USER: Sql = Sql {
    name: "posts.target_owned_by_end_user",
    text: "SELECT 1 AS found FROM post_targets t JOIN posts p ON p.id = t.post_id \
           WHERE t.id = ?1 AND p.id = ?2 AND p.tenant_id = ?3 AND p.end_user_ref = ?4",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &NEEDING_ATTENTION,
    &OWNED_BY_END_USER,
    &TARGET_OWNED_BY_END_USER,
    &FIND,
    &TARGETS,
    &TARGETS_OF_POSTS,
    &BY_KEY,
    &LIST,
    &LIST_OF_END_USER,
    &TARGET_CONNECTION,
    &INSERT,
    &BUSY_SLOTS,
    &INSERT_TARGET,
    &RETRY,
    &RETRY_UNCONFIRMED,
];

fn state(s: TargetState) -> Param {
    s.as_str().into()
}

/// The tenant's post (`post_columns!`).
pub fn find(post_id: &str, tenant_id: &TenantId) -> Statement {
    FIND.bind(vec![post_id.into(), tenant_id.into()])
}

/// A post's targets, in the order they go out.
pub fn targets(post_id: &str) -> Statement {
    TARGETS.bind(vec![post_id.into()])
}

/// The targets of the tenant's posts `post_ids`, grouped by post (`TARGETS_OF_POSTS`).
pub fn targets_of_posts(tenant_id: &TenantId, post_ids: &[&str]) -> Statement {
    let ids = serde_json::Value::from(post_ids).to_string();
    TARGETS_OF_POSTS.bind(vec![tenant_id.into(), ids.into()])
}

/// The tenant's post stored under an idempotency key (`id, request_digest`).
pub fn by_key(tenant_id: &TenantId, key: &str) -> Statement {
    BY_KEY.bind(vec![tenant_id.into(), key.into()])
}

/// A page of the tenant's posts, newest first, of one end user and with a target in one
/// state if asked, before `before` (the last row of the page before: `created_at`, id).
pub fn list(
    tenant_id: &TenantId,
    end_user_ref: Option<&str>,
    with_target: Option<TargetState>,
    before: Option<(i64, &str)>,
    limit: i64,
) -> Statement {
    let sql = match end_user_ref {
        Some(_) => &LIST_OF_END_USER,
        None => &LIST,
    };
    let (before_created, before_id) = before.unwrap_or((super::NEWEST, ""));
    sql.bind(vec![
        tenant_id.into(),
        end_user_ref.into(),
        with_target.map(TargetState::as_str).into(),
        limit.into(),
        before_created.into(),
        before_id.into(),
    ])
}

/// A live connection of the tenant a post may go to (`id, grant_id, end_user_ref, provider`).
pub fn target_connection(connection_id: &str, tenant_id: &TenantId) -> Statement {
    TARGET_CONNECTION.bind(vec![connection_id.into(), tenant_id.into()])
}

/// A post to store.
pub struct NewPost<'a> {
    pub id: &'a str,
    pub tenant_id: &'a TenantId,
    pub end_user_ref: &'a str,
    pub text: &'a str,
    pub publish_at: Timestamp,
    pub idempotency_key: &'a str,
    pub request_digest: &'a str,
    /// The media list as JSON, if any.
    pub media: Option<&'a str>,
    pub now: Timestamp,
}

/// Stores a post, unless the key is taken (0 rows changed: another request won).
pub fn insert(p: &NewPost<'_>) -> Statement {
    INSERT.bind(vec![
        p.id.into(),
        p.tenant_id.into(),
        p.end_user_ref.into(),
        p.text.into(),
        p.publish_at.into(),
        p.idempotency_key.into(),
        p.request_digest.into(),
        p.now.into(),
        p.media.into(),
    ])
}

/// The slots (`not_before`) of live sends of the same content to the same platform between
/// `from` and `to`: identical sends are staggered.
pub fn busy_slots(
    tenant_id: &TenantId,
    provider: &str,
    content_hash: &str,
    from: Timestamp,
    to: Timestamp,
) -> Statement {
    BUSY_SLOTS.bind(vec![
        tenant_id.into(),
        provider.into(),
        content_hash.into(),
        from.into(),
        to.into(),
        state(Cancelled),
        state(Failed),
    ])
}

/// A target to store, in the post's batch.
pub struct NewTarget<'a> {
    pub id: &'a str,
    pub post_id: &'a str,
    pub tenant_id: &'a TenantId,
    pub connection_id: &'a str,
    pub grant_id: &'a GrantId,
    pub provider: &'a str,
    pub content_hash: &'a str,
    /// `Queued` (sent to the queue now) or `Scheduled` (the minute dispatch sends it).
    pub state: TargetState,
    pub not_before: Timestamp,
    /// The pre-flight: when its grant must be checked by (the grant's object clears it).
    pub check_by: Timestamp,
    pub now: Timestamp,
}

/// Stores a target if its post was stored (the batch's insert may have lost the key race).
pub fn insert_target(t: &NewTarget<'_>) -> Statement {
    let enqueued_at = (t.state == Queued).then_some(t.now);
    debug_assert!(matches!(t.state, Queued | Scheduled));
    INSERT_TARGET.bind(vec![
        t.id.into(),
        t.post_id.into(),
        t.tenant_id.into(),
        t.connection_id.into(),
        t.grant_id.into(),
        t.provider.into(),
        t.content_hash.into(),
        state(t.state),
        t.not_before.into(),
        enqueued_at.into(),
        t.now.into(),
        t.check_by.into(),
    ])
}

/// The post's failed and parked targets back to the queue, due `now`, their count started
/// over (a failed one's progress dropped); returns `id, not_before, provider` of each moved.
pub fn retry(post_id: &str, now: Timestamp) -> Statement {
    RETRY.bind(vec![
        now.into(),
        post_id.into(),
        state(Queued),
        state(Failed),
        state(Parked),
    ])
}

/// An unconfirmed target sent again, due `now`; returns `id, not_before, provider` if it moved.
pub fn retry_unconfirmed(target_id: &str, now: Timestamp) -> Statement {
    RETRY_UNCONFIRMED.bind(vec![
        now.into(),
        target_id.into(),
        state(Queued),
        state(Unconfirmed),
    ])
}

/// The end user's targets a person should look at (failed, parked, unconfirmed), with their
/// post's text and their connection's names: those of at most `posts` posts, newest first,
/// before `before` (the last post of the page before: `created_at`, id).
pub fn needing_attention(
    tenant_id: &TenantId,
    end_user_ref: &str,
    before: Option<(i64, &str)>,
    posts: i64,
) -> Statement {
    let (before_created, before_id) = before.unwrap_or((super::NEWEST, ""));
    NEEDING_ATTENTION.bind(vec![
        tenant_id.into(),
        end_user_ref.into(),
        posts.into(),
        state(Failed),
        state(Parked),
        state(Unconfirmed),
        before_created.into(),
        before_id.into(),
    ])
}

/// Whether the post is the end user's (`found`, or no row).
pub fn owned_by_end_user(post_id: &str, tenant_id: &TenantId, end_user_ref: &str) -> Statement {
    OWNED_BY_END_USER.bind(vec![post_id.into(), tenant_id.into(), end_user_ref.into()])
}

/// Whether the target is of the end user's post (`found`, or no row).
pub fn target_owned_by_end_user(
    target_id: &str,
    post_id: &str,
    tenant_id: &TenantId,
    end_user_ref: &str,
) -> Statement {
    TARGET_OWNED_BY_END_USER.bind(vec![
        target_id.into(),
        post_id.into(),
        tenant_id.into(),
        end_user_ref.into(),
    ])
}
