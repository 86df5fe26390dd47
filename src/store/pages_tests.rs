//! Native tests of the lists' pages (issue 33): the connections' health colour computed in SQL
//! agrees with the core's derivation over a generated table of cases, pages walk a list once
//! in order, and the unhealthy filter reads indexes, not the tenant.

use super::connections::{self, PageAsk};
use super::grants_tests::{at, EXPIRING, T0, TEN_G};
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db};
use crate::core::common::clock::Timestamp;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::grant_health::{Colour, GrantState, RefreshState, Status, StoredLedger};
use crate::core::oauth::managed_accounts::Access;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// One generated case: a grant's stored standing and its one connection's access.
struct Case {
    connection_id: String,
    end_user_ref: &'static str,
    state: &'static str,
    refresh_state: &'static str,
    grant_expires_at: Option<i64>,
    access: Access,
}

fn grant_row(db: &Sqlite, id: &str, case: &Case, created_at: i64) {
    let expires = case.grant_expires_at.map(|t| t.to_string());
    let created = created_at.to_string();
    let reason = if case.state == GrantState::DEAD {
        "revoked"
    } else {
        ""
    };
    // '' stands for NULL (`NULLIF`): the values are bound as text.
    db.arrange(
        "INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
           end_user_ref, refresh_policy, state, state_reason, refresh_state, failure_streak, \
           grant_expires_at, next_check_at, created_at, updated_at) \
         VALUES (?1, 'ten_g', 'x', ?1, 'client', ?2, 'on_demand', ?3, NULLIF(?7, ''), ?4, 2, \
           NULLIF(?5, ''), ?6, ?6, ?6)",
        &[
            id,
            case.end_user_ref,
            case.state,
            case.refresh_state,
            expires.as_deref().unwrap_or(""),
            &created,
            reason,
        ],
    );
    db.arrange(
        "INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
           access, created_at, updated_at) \
         VALUES (?1, ?2, 'ten_g', ?3, 'profile', ?1, ?4, ?5, ?5)",
        &[
            &case.connection_id,
            id,
            case.end_user_ref,
            case.access.as_str(),
            &created,
        ],
    );
}

/// What the core says of a case at `now` (as `edge::grant::connection_reads` derives it).
fn core_colour(case: &Case, warnings: Warnings, now: Timestamp) -> Colour {
    let status = Status::of(
        &StoredLedger {
            state: case.state,
            state_reason: (case.state == GrantState::DEAD).then_some("revoked"),
            refresh_state: case.refresh_state,
            grant_expires_at: case.grant_expires_at.map(Timestamp::from_millis),
            failure_streak: 2,
            next_check_at: Some(now),
        },
        warnings,
        now,
    );
    status
        .connection_health(case.access != Access::Ok, None)
        .colour
}

/// Every page of one list, walked `limit` rows at a time from the last row's position.
fn walk(db: &Sqlite, ask: &PageAsk<'_>) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let rows = block_on(db.run(connections::page(&PageAsk {
            after: after.as_ref().map(|(t, id)| (*t, id.as_str())),
            ..*ask
        })))
        .unwrap()
        .rows;
        assert!(
            rows.len() <= ask.limit as usize,
            "a page holds at most the limit"
        );
        for row in &rows {
            seen.push(row.text("id").unwrap());
        }
        match rows.last() {
            Some(last) if rows.len() == ask.limit as usize => {
                after = Some((last.int("created_at").unwrap(), last.text("id").unwrap()));
            }
            _ => return seen,
        }
    }
}

/// The SQL colour and the core's agree on every combination of the facts health is made of,
/// under two warning windows, and every filter's pages list exactly its rows, oldest first.
pub fn colour_in_sql_is_the_cores(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    let now = at(1_000);
    let states = [GrantState::Alive.as_str(), EXPIRING, GrantState::DEAD];
    let refresh_states = [
        RefreshState::Ok.as_str(),
        RefreshState::BackingOff {
            failures: 1,
            retry_at: now,
        }
        .as_str(),
        RefreshState::ClientRejected.as_str(),
    ];
    let n = now.as_millis();
    let expiries = [
        None,
        Some(n - HOUR),
        Some(n),
        Some(n + 1),
        Some(n + 3 * DAY),
        Some(n + 14 * DAY),
        Some(n + 14 * DAY + 1),
        Some(n + 30 * DAY),
        Some(n + 30 * DAY + 1),
        Some(n + 60 * DAY),
    ];
    let mut cases = Vec::new();
    for state in states {
        for refresh_state in refresh_states {
            for grant_expires_at in expiries {
                for access in [Access::Ok, Access::Lost] {
                    let i = cases.len();
                    let case = Case {
                        connection_id: format!("conn_{i:04}"),
                        end_user_ref: if i % 3 == 0 { "alice" } else { "bob" },
                        state,
                        refresh_state,
                        grant_expires_at,
                        access,
                    };
                    // Every third case shares its creation time with the one before: ties are
                    // broken by id.
                    let created = T0.as_millis() + (i as i64 / 3) * 2 + (i as i64 % 3).min(1);
                    grant_row(db, &format!("gr_{i:04}"), &case, created);
                    cases.push(case);
                }
            }
        }
    }
    let ids = |pick: &dyn Fn(&Case) -> bool| -> Vec<String> {
        cases
            .iter()
            .filter(|c| pick(c))
            .map(|c| c.connection_id.clone())
            .collect()
    };
    for warnings in [Warnings::default(), Warnings::from_days(&[30, 7]).unwrap()] {
        let mut seen_colours = Vec::new();
        for colour in [
            None,
            Some(Colour::Red),
            Some(Colour::Yellow),
            Some(Colour::Green),
        ] {
            for end_user in [None, Some("alice")] {
                let expected = ids(&|c| {
                    colour.is_none_or(|k| core_colour(c, warnings, now) == k)
                        && end_user.is_none_or(|u| c.end_user_ref == u)
                });
                let listed = walk(
                    db,
                    &PageAsk {
                        tenant_id: &TEN_G,
                        end_user_ref: end_user,
                        colour,
                        after: None,
                        limit: 7,
                        now,
                        window_ms: warnings.window_ms(),
                    },
                );
                assert_eq!(listed, expected, "colour {colour:?}, end user {end_user:?}");
                seen_colours.push((colour, expected.len()));
            }
        }
        // The table holds every colour, so each filter was tried on rows it keeps and drops.
        for (colour, count) in seen_colours {
            assert!(count > 0, "{colour:?} has cases");
        }
    }
    // Another tenant's rows are not listed.
    block_on(tenants::create(db, "ten_other", "O", T0)).unwrap();
    let other = walk(
        db,
        &PageAsk {
            tenant_id: &"ten_other".into(),
            end_user_ref: None,
            colour: None,
            after: None,
            limit: 7,
            now,
            window_ms: DAY,
        },
    );
    assert!(other.is_empty());
}

/// 10,000 connections of which 50 are red: the red filter finds exactly those, pages through
/// them, and its plan reads indexes only (no table scan), with a sort of the few candidates; a
/// green page reads the tenant's index in order, with no sort.
pub fn the_red_filter_reads_indexes_not_the_tenant(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    block_on(tenants::create(db, "ten_other", "O", T0)).unwrap();
    let t0 = T0.as_millis();
    // Every 200th grant is dead (50 of 10,000), and 20 more connections lost their access on
    // grants that are alive; another tenant has dead grants too.
    db.arrange(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 10049) \
         INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
           end_user_ref, refresh_policy, state, refresh_state, created_at, updated_at) \
         SELECT printf('gr_%05d', i), CASE WHEN i < 10000 THEN 'ten_g' ELSE 'ten_other' END, \
           'x', 'acct' || i, 'client', 'alice', 'on_demand', \
           CASE WHEN i % 200 = 7 OR i >= 10000 THEN ?1 ELSE ?2 END, ?3, ?4 + i, ?4 + i FROM n",
        &[
            GrantState::DEAD,
            GrantState::Alive.as_str(),
            RefreshState::Ok.as_str(),
            &t0.to_string(),
        ],
    );
    db.arrange(
        "INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
           access, created_at, updated_at) \
         SELECT 'conn_' || substr(id, 4), id, tenant_id, 'alice', 'profile', id, \
           CASE WHEN CAST(substr(id, 4) AS INTEGER) % 500 = 11 THEN ?1 ELSE ?2 END, \
           created_at, created_at FROM grants",
        &[Access::Lost.as_str(), Access::Ok.as_str()],
    );
    let ask = PageAsk {
        tenant_id: &TEN_G,
        end_user_ref: None,
        colour: Some(Colour::Red),
        after: None,
        limit: 20,
        now: T0.plus_millis(20_000),
        window_ms: Warnings::default().window_ms(),
    };
    let red = walk(db, &ask);
    let expected: Vec<String> = (0..10_000)
        .filter(|i| i % 200 == 7 || i % 500 == 11)
        .map(|i| format!("conn_{i:05}"))
        .collect();
    assert_eq!(expected.len(), 70);
    assert_eq!(red, expected);

    let plan = db.plan(&connections::page(&ask));
    let steps = plan.join("\n");
    assert!(
        !plan
            .iter()
            .any(|step| step.starts_with("SCAN") && !step.starts_with("SCAN r")),
        "no table is scanned:\n{steps}"
    );
    for index in [
        "grants_by_tenant_state",
        "grants_by_tenant_refresh",
        "grants_by_tenant_expiry",
        "connections_by_tenant_access",
    ] {
        assert!(steps.contains(index), "{index} is used:\n{steps}");
    }

    let green = PageAsk {
        colour: Some(Colour::Green),
        limit: 500,
        ..ask
    };
    let first = block_on(db.run(connections::page(&green))).unwrap().rows;
    assert_eq!(first.len(), 500);
    let plan = db.plan(&connections::page(&green)).join("\n");
    assert!(
        plan.contains("USING INDEX connections_by_tenant (tenant_id=? AND"),
        "a green page starts at its position in the tenant's index:\n{plan}"
    );
    assert!(!plan.contains("TEMP B-TREE"), "and needs no sort:\n{plan}");
}
