//! Erasure: what deleting a tenant, or one end user of a tenant, removes, and in which order.
//!
//! Both start the same way: the end user's (or tenant's) connect and OAuth sessions go first, so
//! no consent still in flight can store a new grant; then every live connection is disconnected
//! through its grant's Durable Object (the grant's only writer: it deletes the tokens with the
//! last connection and revokes at the platform under `core::disconnect`'s rule). Only then are
//! the rows deleted, table by table in [`STEPS`]'s order: a table is emptied of the scope's
//! rows before the tables it references are touched, since D1 enforces foreign keys.
//!
//! - **An end user** (`DELETE /v1/end-user-data`) loses its grants, connections, events (its
//!   connections' and its posts': a post event names the target in `connection_id`) and
//!   their webhook deliveries, token reads, post targets, its posts once no other end user's
//!   target is left on them, reconnect nonces, and connect, OAuth and page sessions.
//! - **A tenant** (`DELETE /admin/tenants/{id}`) loses all of that for every end user, then its
//!   API keys, return URLs, OAuth clients, webhook endpoints and itself. It runs in the minute
//!   dispatch, [`DISCONNECTS_PER_RUN`] connections and [`ROWS_PER_RUN`] rows a run.
//!
//! Kept: Meta's data-deletion records (a hash of the platform user and counts, the proof a
//! deletion was made), dead letters (ids only, never content), the platform quota ledger and
//! circuits (per platform), and log lines already written.
//!
//! Each step's predicate binds `?1` to the tenant id and `?2` to the end user's reference.

/// One table of the erasure: which of its rows belong to the scope.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub table: &'static str,
    /// The rows of a tenant (`?1`).
    pub tenant: &'static str,
    /// The rows of one end user (`?1` tenant, `?2` end user); `None`: a tenant-level table.
    pub end_user: Option<&'static str>,
}

/// A connection of the end user, as a subquery.
macro_rules! end_user_connections {
    () => {
        "(SELECT id FROM connections WHERE tenant_id = ?1 AND end_user_ref = ?2)"
    };
}

/// The end user's events, as a subquery: connection events name one of their connections;
/// post events name a post target (of one of their connections) in the same column; both name
/// one of their grants.
macro_rules! end_user_events {
    () => {
        concat!(
            "(SELECT id FROM events WHERE tenant_id = ?1 AND (connection_id IN ",
            end_user_connections!(),
            " OR connection_id IN (SELECT id FROM post_targets WHERE tenant_id = ?1 \
               AND connection_id IN ",
            end_user_connections!(),
            ") OR grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)))"
        )
    };
}

/// The end user's events, for the export (`?1` tenant, `?2` end user).
pub const END_USER_EVENTS: &str = end_user_events!();

/// Children before parents: see the foreign keys in `migrations/` (the unit test reads them).
pub const STEPS: &[Step] = &[
    Step {
        table: "oauth_sessions",
        tenant: "connect_session_id IN (SELECT id FROM connect_sessions WHERE tenant_id = ?1)",
        end_user: Some(
            "connect_session_id IN \
             (SELECT id FROM connect_sessions WHERE tenant_id = ?1 AND end_user_ref = ?2)",
        ),
    },
    Step {
        table: "connect_sessions",
        tenant: "tenant_id = ?1",
        end_user: Some("tenant_id = ?1 AND end_user_ref = ?2"),
    },
    Step {
        table: "page_sessions",
        tenant: "tenant_id = ?1",
        end_user: Some("tenant_id = ?1 AND end_user_ref = ?2"),
    },
    Step {
        table: "webhook_deliveries",
        tenant: "tenant_id = ?1",
        end_user: Some(concat!(
            "tenant_id = ?1 AND event_id IN ",
            end_user_events!()
        )),
    },
    Step {
        table: "events",
        tenant: "tenant_id = ?1",
        end_user: Some(concat!("tenant_id = ?1 AND id IN ", end_user_events!())),
    },
    Step {
        table: "token_reads",
        tenant: "tenant_id = ?1",
        end_user: Some(concat!(
            "tenant_id = ?1 AND connection_id IN ",
            end_user_connections!()
        )),
    },
    Step {
        table: "post_targets",
        tenant: "tenant_id = ?1",
        end_user: Some(concat!(
            "tenant_id = ?1 AND connection_id IN ",
            end_user_connections!()
        )),
    },
    Step {
        table: "posts",
        tenant: "tenant_id = ?1",
        // A post that still has another end user's target stays, with its text.
        end_user: Some(
            "tenant_id = ?1 AND end_user_ref = ?2 \
             AND NOT EXISTS (SELECT 1 FROM post_targets t WHERE t.post_id = posts.id)",
        ),
    },
    Step {
        table: "sweep_leases",
        tenant: "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1)",
        end_user: Some(
            "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)",
        ),
    },
    Step {
        table: "reconnect_nonces",
        tenant: "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1)",
        end_user: Some(
            "grant_id IN (SELECT id FROM grants WHERE tenant_id = ?1 AND end_user_ref = ?2)",
        ),
    },
    Step {
        table: "connections",
        tenant: "tenant_id = ?1",
        end_user: Some("tenant_id = ?1 AND end_user_ref = ?2"),
    },
    Step {
        table: "grants",
        tenant: "tenant_id = ?1",
        end_user: Some(
            "tenant_id = ?1 AND end_user_ref = ?2 \
             AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.grant_id = grants.id)",
        ),
    },
    Step {
        table: "api_keys",
        tenant: "tenant_id = ?1",
        end_user: None,
    },
    Step {
        table: "tenant_return_urls",
        tenant: "tenant_id = ?1",
        end_user: None,
    },
    Step {
        table: "tenant_clients",
        tenant: "tenant_id = ?1",
        end_user: None,
    },
    Step {
        table: "webhook_endpoints",
        tenant: "tenant_id = ?1",
        end_user: None,
    },
    Step {
        table: "tenants",
        tenant: "id = ?1",
        end_user: None,
    },
];

/// Tables that hold something of a tenant or an end user and are kept on purpose (see above).
pub const KEPT: &[&str] = &[
    "data_deletions",
    "dead_letters",
    "quota_usage",
    "platform_circuits",
    "cron_heartbeats",
    "test_clock",
];

/// Connections a tenant's erasure disconnects per dispatch run (one object call each).
pub const DISCONNECTS_PER_RUN: usize = 100;
/// Rows a tenant's erasure deletes per dispatch run, across its tables.
pub const ROWS_PER_RUN: u32 = 5_000;
/// Rows one `DELETE /v1/end-user-data` call deletes at most; a bigger end user is finished by
/// calling it again (the answer says `"complete": false`).
pub const ROWS_PER_CALL: u32 = 20_000;
/// Deleted tenants one dispatch run works on.
pub const TENANTS_PER_RUN: u32 = 3;

/// Who is erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Tenant,
    EndUser,
}

impl Scope {
    /// The steps of this scope, in order, with their predicates.
    pub fn steps(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        STEPS.iter().filter_map(move |s| match self {
            Scope::Tenant => Some((s.table, s.tenant)),
            Scope::EndUser => s.end_user.map(|p| (s.table, p)),
        })
    }
}

/// The statement that deletes at most `?3` of the step's rows.
pub fn delete_statement(table: &str, predicate: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {predicate} LIMIT ?3)"
    )
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Every table in `migrations/`, with its columns and the tables it references.
    fn schema() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        let mut tables: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for file in files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut current: Option<String> = None;
            for line in text.lines() {
                let line = line.split("--").next().unwrap().trim();
                let words: Vec<&str> = line.split_whitespace().collect();
                match words.as_slice() {
                    ["CREATE", "TABLE", name, ..] => {
                        current = Some(name.trim_end_matches('(').to_owned());
                        tables.entry(current.clone().unwrap()).or_default();
                    }
                    ["ALTER", "TABLE", name, "ADD", "COLUMN", column, ..] => {
                        tables
                            .get_mut(*name)
                            .unwrap()
                            .0
                            .insert((*column).to_owned());
                    }
                    [")", ..] | [");"] => current = None,
                    [column, ..] if current.is_some() => {
                        let (columns, parents) = tables.get_mut(current.as_ref().unwrap()).unwrap();
                        if !matches!(*column, "PRIMARY" | "UNIQUE" | "FOREIGN") {
                            columns.insert((*column).to_owned());
                        }
                        if let Some(i) = words.iter().position(|w| *w == "REFERENCES") {
                            parents.insert(words[i + 1].to_owned());
                        }
                    }
                    _ => {}
                }
            }
        }
        tables
    }

    const OWNED_BY: &[&str] = &[
        "tenant_id",
        "end_user_ref",
        "grant_id",
        "connection_id",
        "post_id",
        "event_id",
        "connect_session_id",
    ];

    #[test]
    fn every_table_holding_a_tenants_data_is_erased_or_kept_on_purpose() {
        let schema = schema();
        assert!(schema.len() > 20, "the migrations were read: {schema:?}");
        for (table, (columns, _)) in &schema {
            let owned = table == "tenants" || OWNED_BY.iter().any(|c| columns.contains(*c));
            let erased = STEPS.iter().any(|s| s.table == table);
            assert!(
                erased || KEPT.contains(&table.as_str()) || !owned,
                "{table} holds a tenant's data but no erasure step deletes it"
            );
            assert!(!(erased && KEPT.contains(&table.as_str())), "{table}");
        }
        for step in STEPS {
            assert!(
                schema.contains_key(step.table),
                "{} is no table",
                step.table
            );
        }
    }

    #[test]
    fn every_table_is_emptied_before_the_tables_it_references() {
        let schema = schema();
        let position = |t: &str| STEPS.iter().position(|s| s.table == t);
        for (table, (_, parents)) in &schema {
            let Some(child) = position(table) else {
                continue;
            };
            for parent in parents {
                let parent_at = position(parent)
                    .unwrap_or_else(|| panic!("{table} references {parent}, never erased"));
                assert!(child < parent_at, "{table} must be erased before {parent}");
            }
        }
    }

    #[test]
    fn an_end_users_erasure_touches_only_that_end_users_rows() {
        for (table, predicate) in Scope::EndUser.steps() {
            assert!(
                predicate.contains("?1") && predicate.contains("?2"),
                "{table}: {predicate}"
            );
        }
        let tenant_level: Vec<&str> = STEPS
            .iter()
            .filter(|s| s.end_user.is_none())
            .map(|s| s.table)
            .collect();
        assert_eq!(
            tenant_level,
            [
                "api_keys",
                "tenant_return_urls",
                "tenant_clients",
                "webhook_endpoints",
                "tenants"
            ]
        );
        for (table, predicate) in Scope::Tenant.steps() {
            assert!(
                predicate.contains("?1") && !predicate.contains("?2"),
                "{table}"
            );
        }
    }

    #[test]
    fn the_statement_deletes_a_bounded_page_of_the_steps_rows() {
        assert_eq!(
            delete_statement("events", "tenant_id = ?1"),
            "DELETE FROM events WHERE rowid IN \
             (SELECT rowid FROM events WHERE tenant_id = ?1 LIMIT ?3)"
        );
    }
}
