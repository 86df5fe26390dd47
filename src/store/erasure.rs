//! Erasure's statements: what deleting a tenant, or one end user of a tenant, removes, table by
//! table, and the export of an end user's data. `core::tenancy::erasure` says who is erased and how
//! much a run may do; the order here is the schema's (children before parents: D1 enforces
//! foreign keys), and a native test reads `migrations/` to hold it.
//!
//! Every step's statement binds `?1` to the tenant id, `?2` to the end user's reference (unused
//! for a tenant) and `?3` to the most rows it may delete. Grants are not deleted here: the
//! grants step lists them, and each grant's object deletes its own row (the grant's only
//! writer), forgetting its opened tokens.

use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::publish::posts::TargetState;
use crate::core::tenancy::erasure::Scope;

/// A connection of the end user, as a subquery.
macro_rules! end_user_connections {
    () => {
        "(SELECT id FROM connections WHERE tenant_id = ?1 AND end_user_ref = ?2)"
    };
}

/// The end user's events, as a subquery: each names one of their connections (post events
/// too: the target's connection) and one of their grants.
///
/// Here and below, an end user's rows are found through their connections (or grants), and
/// the tenant is checked on each row as `+tenant_id`: compared plainly, SQLite looks such rows
/// up by tenant and reads all the tenant's to keep the end user's.
macro_rules! end_user_events {
    () => {
        concat!(
            "(SELECT id FROM events WHERE +tenant_id = ?1 AND (connection_id IN ",
            end_user_connections!(),
            " OR grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)))"
        )
    };
}

/// Deletes at most `?3` of a table's rows matching the predicate.
macro_rules! delete_page {
    ($table:literal, $($predicate:tt)+) => {
        concat!(
            "DELETE FROM ", $table, " WHERE rowid IN (SELECT rowid FROM ", $table, " WHERE ",
            $($predicate)+,
            " LIMIT ?3)"
        )
    };
}

/// One table of the erasure: its statement for a tenant, and for one end user (`None`: a
/// tenant-level table).
#[derive(Debug)]
pub struct Step {
    pub table: &'static str,
    pub tenant: Sql,
    pub end_user: Option<Sql>,
    /// The statement lists row ids (`id`) for the grant's object to delete, instead of
    /// deleting them.
    pub through_grant_object: bool,
}

/// Children before parents: see the foreign keys in `migrations/` (the native test reads them).
pub const STEPS: &[Step] = &[
    Step {
        table: "oauth_sessions",
        tenant: Sql {
            name: "erasure.tenant.oauth_sessions",
            text: delete_page!(
                "oauth_sessions",
                "connect_session_id IN (SELECT id FROM connect_sessions WHERE tenant_id = ?1)"
            ),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.oauth_sessions",
            text: delete_page!(
                "oauth_sessions",
                "connect_session_id IN \
                 (SELECT id FROM connect_sessions WHERE tenant_id = ?1 AND end_user_ref = ?2)"
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "connect_sessions",
        tenant: Sql {
            name: "erasure.tenant.connect_sessions",
            text: delete_page!("connect_sessions", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.connect_sessions",
            text: delete_page!("connect_sessions", "tenant_id = ?1 AND end_user_ref = ?2"),
        }),
        through_grant_object: false,
    },
    Step {
        table: "page_sessions",
        tenant: Sql {
            name: "erasure.tenant.page_sessions",
            text: delete_page!("page_sessions", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.page_sessions",
            text: delete_page!("page_sessions", "tenant_id = ?1 AND end_user_ref = ?2"),
        }),
        through_grant_object: false,
    },
    Step {
        table: "webhook_deliveries",
        tenant: Sql {
            name: "erasure.tenant.webhook_deliveries",
            text: delete_page!("webhook_deliveries", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.webhook_deliveries",
            text: delete_page!(
                "webhook_deliveries",
                "+tenant_id = ?1 AND event_id IN ",
                end_user_events!()
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "events",
        tenant: Sql {
            name: "erasure.tenant.events",
            text: delete_page!("events", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.events",
            text: delete_page!("events", "+tenant_id = ?1 AND id IN ", end_user_events!()),
        }),
        through_grant_object: false,
    },
    Step {
        table: "token_reads",
        tenant: Sql {
            name: "erasure.tenant.token_reads",
            text: delete_page!("token_reads", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.token_reads",
            text: delete_page!(
                "token_reads",
                "+tenant_id = ?1 AND connection_id IN ",
                end_user_connections!()
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "post_targets",
        tenant: Sql {
            name: "erasure.tenant.post_targets",
            text: delete_page!("post_targets", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.post_targets",
            text: delete_page!(
                "post_targets",
                "+tenant_id = ?1 AND connection_id IN ",
                end_user_connections!()
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "posts",
        tenant: Sql {
            name: "erasure.tenant.posts",
            text: delete_page!("posts", "tenant_id = ?1"),
        },
        // A post that still has another end user's target stays, with its text.
        end_user: Some(Sql {
            name: "erasure.end_user.posts",
            text: delete_page!(
                "posts",
                "tenant_id = ?1 AND end_user_ref = ?2 \
                 AND NOT EXISTS (SELECT 1 FROM post_targets t WHERE t.post_id = posts.id)"
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "sweep_leases",
        tenant: Sql {
            name: "erasure.tenant.sweep_leases",
            text: delete_page!(
                "sweep_leases",
                "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1)"
            ),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.sweep_leases",
            text: delete_page!(
                "sweep_leases",
                "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)"
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "reconnect_nonces",
        tenant: Sql {
            name: "erasure.tenant.reconnect_nonces",
            text: delete_page!(
                "reconnect_nonces",
                "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1)"
            ),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.reconnect_nonces",
            text: delete_page!(
                "reconnect_nonces",
                "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)"
            ),
        }),
        through_grant_object: false,
    },
    Step {
        table: "connections",
        tenant: Sql {
            name: "erasure.tenant.connections",
            text: delete_page!("connections", "tenant_id = ?1"),
        },
        end_user: Some(Sql {
            name: "erasure.end_user.connections",
            text: delete_page!("connections", "tenant_id = ?1 AND end_user_ref = ?2"),
        }),
        through_grant_object: false,
    },
    Step {
        table: "grants",
        tenant: Sql {
            name: "erasure.tenant.grants",
            text: "SELECT id FROM grants WHERE tenant_id = ?1 \
                   AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.grant_id = grants.id) \
                   ORDER BY id LIMIT ?3",
        },
        end_user: Some(Sql {
            name: "erasure.end_user.grants",
            text: "SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2 \
                   AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.grant_id = grants.id) \
                   ORDER BY id LIMIT ?3",
        }),
        through_grant_object: true,
    },
    Step {
        table: "api_keys",
        tenant: Sql {
            name: "erasure.tenant.api_keys",
            text: delete_page!("api_keys", "tenant_id = ?1"),
        },
        end_user: None,
        through_grant_object: false,
    },
    Step {
        table: "tenant_return_urls",
        tenant: Sql {
            name: "erasure.tenant.tenant_return_urls",
            text: delete_page!("tenant_return_urls", "tenant_id = ?1"),
        },
        end_user: None,
        through_grant_object: false,
    },
    Step {
        table: "tenant_clients",
        tenant: Sql {
            name: "erasure.tenant.tenant_clients",
            text: delete_page!("tenant_clients", "tenant_id = ?1"),
        },
        end_user: None,
        through_grant_object: false,
    },
    Step {
        table: "webhook_endpoints",
        tenant: Sql {
            name: "erasure.tenant.webhook_endpoints",
            text: delete_page!("webhook_endpoints", "tenant_id = ?1"),
        },
        end_user: None,
        through_grant_object: false,
    },
    Step {
        table: "tenants",
        tenant: Sql {
            name: "erasure.tenant.tenants",
            text: delete_page!("tenants", "id = ?1"),
        },
        end_user: None,
        through_grant_object: false,
    },
];

/// The tables whose rows can still start a new grant: emptied before anything is disconnected.
pub const SESSION_TABLES: [&str; 3] = ["oauth_sessions", "connect_sessions", "page_sessions"];

impl Step {
    /// This step's statement for the scope (`None`: the scope has no rows here): at most
    /// `limit` rows.
    pub fn statement(
        &'static self,
        scope: Scope,
        tenant_id: &TenantId,
        end_user: &str,
        limit: i64,
    ) -> Option<Statement> {
        let sql = match scope {
            Scope::Tenant => &self.tenant,
            Scope::EndUser => self.end_user.as_ref()?,
        };
        Some(sql.bind(vec![tenant_id.into(), end_user.into(), limit.into()]))
    }
}

pub const LIVE_CONNECTIONS: Sql = Sql {
    name: "erasure.live_connections",
    text: "SELECT id, grant_id FROM connections \
           WHERE tenant_id = ?1 AND (?2 IS NULL OR end_user_ref = ?2) \
             AND disconnected_at IS NULL \
           ORDER BY created_at, id LIMIT ?3",
};
pub const END_USER_CONNECTIONS: Sql = Sql {
    name: "erasure.end_user_connections",
    text: "SELECT id, grant_id FROM connections \
           WHERE tenant_id = ?1 AND end_user_ref = ?2 AND (grant_id, id) > (?4, ?5) \
           ORDER BY grant_id, id LIMIT ?3",
};
pub const TENANT_DELETED_AT: Sql = Sql {
    name: "erasure.tenant_deleted_at",
    text: "SELECT deleted_at FROM tenants WHERE id = ?1",
};
pub const MARK_TENANT_DELETED: Sql = Sql {
    name: "erasure.mark_tenant_deleted",
    text: "UPDATE tenants SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
};
pub const STOP_WEBHOOKS: Sql = Sql {
    name: "erasure.stop_webhooks",
    text:
        "UPDATE webhook_endpoints SET deleted_at = ?2 WHERE tenant_id = ?1 AND deleted_at IS NULL",
};
pub const CANCEL_POSTS: Sql = Sql {
    name: "erasure.cancel_posts",
    text: "UPDATE post_targets SET state = ?3, reason = ?4, updated_at = ?2 \
           WHERE tenant_id = ?1 AND state IN (?5, ?6, ?7)",
};
pub const DELETED_TENANTS: Sql = Sql {
    name: "erasure.deleted_tenants",
    text: "SELECT id FROM tenants WHERE deleted_at IS NOT NULL ORDER BY deleted_at, id LIMIT ?1",
};

/// The end user's data, one list per kind, tokens and secrets excepted, a page at a time:
/// each statement binds `?1` tenant, `?2` end user, `?3` the most rows listed, and `?4`, `?5`
/// the position the page starts after. Each row carries its position (`page_key`, `page_id`:
/// a time the row never changes and its id, or for token reads their sequence number), which
/// is not part of the export.
pub const EXPORT: [(&str, Sql); 8] = [
    (
        "grants",
        Sql {
            name: "erasure.export_grants",
            text: "SELECT id, provider, provider_account_id, scopes, state, state_reason, \
                     access_expires_at, grant_expires_at, last_refresh_at, created_at, updated_at, \
                     created_at AS page_key, id AS page_id \
                   FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2 \
                     AND (created_at, id) > (?4, ?5) \
                   ORDER BY created_at, id LIMIT ?3",
        },
    ),
    (
        "connections",
        Sql {
            name: "erasure.export_connections",
            text: "SELECT id, grant_id, kind, external_id, display_name, username, access, \
                     access_reason, created_at, updated_at, disconnected_at, \
                     created_at AS page_key, id AS page_id \
                   FROM connections WHERE tenant_id = ?1 AND end_user_ref = ?2 \
                     AND (created_at, id) > (?4, ?5) \
                   ORDER BY created_at, id LIMIT ?3",
        },
    ),
    (
        // The end user's posts and the posts of targets on their connections, read by id.
        // `created_at + 0` and `id || ''` keep SQLite off `posts_by_tenant` for the position
        // (it would walk the tenant's posts from there), without changing the comparison.
        "posts",
        Sql {
            name: "erasure.export_posts",
            text: concat!(
                "SELECT id, text, media, publish_at, idempotency_key, created_at, \
                   created_at AS page_key, id AS page_id FROM posts \
                 WHERE +tenant_id = ?1 AND (created_at + 0, id || '') > (?4, ?5) AND id IN \
                   (SELECT id FROM posts WHERE tenant_id = ?1 AND end_user_ref = ?2 \
                    UNION SELECT post_id FROM post_targets WHERE +tenant_id = ?1 \
                    AND connection_id IN ",
                end_user_connections!(),
                ") ORDER BY created_at, id LIMIT ?3"
            ),
        },
    ),
    (
        "post_targets",
        Sql {
            name: "erasure.export_post_targets",
            text: concat!(
                "SELECT id, post_id, connection_id, provider, state, platform_post_id, reason, \
                   published_at, created_at, updated_at, created_at AS page_key, id AS page_id \
                 FROM post_targets WHERE +tenant_id = ?1 AND (created_at, id) > (?4, ?5) \
                   AND connection_id IN ",
                end_user_connections!(),
                " ORDER BY created_at, id LIMIT ?3"
            ),
        },
    ),
    (
        "events",
        Sql {
            name: "erasure.export_events",
            text: concat!(
                "SELECT id, connection_id, target_id, post_id, seq, type, colour, reason, \
                   message, occurred_at, occurred_at AS page_key, id AS page_id \
                 FROM events WHERE (occurred_at, id) > (?4, ?5) AND id IN ",
                end_user_events!(),
                " ORDER BY occurred_at, id LIMIT ?3"
            ),
        },
    ),
    (
        "webhook_deliveries",
        Sql {
            name: "erasure.export_webhook_deliveries",
            text: concat!(
                "SELECT id, event_id, endpoint_id, status, attempts, last_status, \
                   delivered_at, created_at, created_at AS page_key, id AS page_id \
                 FROM webhook_deliveries WHERE +tenant_id = ?1 AND (created_at, id) > (?4, ?5) \
                   AND event_id IN ",
                end_user_events!(),
                " ORDER BY created_at, id LIMIT ?3"
            ),
        },
    ),
    (
        "token_reads",
        Sql {
            name: "erasure.export_token_reads",
            text: concat!(
                "SELECT connection_id, api_key_id, outcome, at, id AS page_key, '' AS page_id \
                 FROM token_reads \
                 WHERE +tenant_id = ?1 AND (id, '') > (?4, ?5) AND connection_id IN ",
                end_user_connections!(),
                " ORDER BY id LIMIT ?3"
            ),
        },
    ),
    (
        "page_sessions",
        Sql {
            name: "erasure.export_page_sessions",
            text: "SELECT id, created_at, expires_at, created_at AS page_key, id AS page_id \
                   FROM page_sessions WHERE tenant_id = ?1 AND end_user_ref = ?2 \
                     AND (created_at, id) > (?4, ?5) ORDER BY created_at, id LIMIT ?3",
        },
    ),
];

/// Every statement of this module (the registry's part).
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn statements() -> Vec<&'static Sql> {
    let mut all: Vec<&'static Sql> = STEPS
        .iter()
        .flat_map(|s| std::iter::once(&s.tenant).chain(s.end_user.as_ref()))
        .collect();
    all.extend(EXPORT.iter().map(|(_, sql)| sql));
    all.extend([
        &LIVE_CONNECTIONS,
        &END_USER_CONNECTIONS,
        &TENANT_DELETED_AT,
        &MARK_TENANT_DELETED,
        &STOP_WEBHOOKS,
        &CANCEL_POSTS,
        &DELETED_TENANTS,
    ]);
    all
}

/// The tenant's (or one end user's) live connections (`id, grant_id`), at most `limit`.
pub fn live_connections(tenant_id: &TenantId, end_user: Option<&str>, limit: i64) -> Statement {
    LIVE_CONNECTIONS.bind(vec![tenant_id.into(), end_user.into(), limit.into()])
}

/// A page of the end user's connections (`id, grant_id`), live or not, by grant (then id),
/// after `after` (the last row's grant and id; `None` for the first page).
pub fn end_user_connections(
    tenant_id: &TenantId,
    end_user: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Statement {
    let (grant_id, id) = after.unwrap_or(("", ""));
    END_USER_CONNECTIONS.bind(vec![
        tenant_id.into(),
        end_user.into(),
        limit.into(),
        grant_id.into(),
        id.into(),
    ])
}

/// When the tenant was deleted (`deleted_at`; no row: no such tenant).
pub fn tenant_deleted_at(tenant_id: &TenantId) -> Statement {
    TENANT_DELETED_AT.bind(vec![tenant_id.into()])
}

/// Why the erasure cancels a target.
pub const TENANT_DELETED: &str = "tenant_deleted";

/// The tenant is deleted now: no more deliveries (the erasure's own disconnects raise events)
/// and no more posts; in one batch.
pub fn mark_tenant_deleted(tenant_id: &TenantId, now: Timestamp) -> Vec<Statement> {
    vec![
        MARK_TENANT_DELETED.bind(vec![tenant_id.into(), now.into()]),
        STOP_WEBHOOKS.bind(vec![tenant_id.into(), now.into()]),
        CANCEL_POSTS.bind(vec![
            tenant_id.into(),
            now.into(),
            TargetState::Cancelled.as_str().into(),
            TENANT_DELETED.into(),
            TargetState::Scheduled.as_str().into(),
            TargetState::Queued.as_str().into(),
            TargetState::Parked.as_str().into(),
        ]),
    ]
}

/// Deleted tenants whose erasure goes on (`id`), the longest deleted first.
pub fn deleted_tenants(limit: i64) -> Statement {
    DELETED_TENANTS.bind(vec![limit.into()])
}

/// The export's first pages, in `EXPORT`'s order.
#[cfg(all(test, not(target_arch = "wasm32")))]
pub fn export(tenant_id: &TenantId, end_user: &str, limit: i64) -> Vec<Statement> {
    (0..EXPORT.len())
        .map(|list| export_page(list, tenant_id, end_user, None, limit))
        .collect()
}

/// A page of export list `list` (its index in [`EXPORT`]), after `after` (the last row's
/// `page_key` and `page_id`; `None` for the first page).
pub fn export_page(
    list: usize,
    tenant_id: &TenantId,
    end_user: &str,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Statement {
    let (key, id) = after.unwrap_or((-1, ""));
    EXPORT[list].1.bind(vec![
        tenant_id.into(),
        end_user.into(),
        limit.into(),
        key.into(),
        id.into(),
    ])
}
