//! Native tests of the statements only test and benchmark builds run: the test powers' grant
//! writes (through the grant's object), the kill-mid-call spike's probe grant, the demo return
//! page, the row counts, the test clock and the benchmark's reads.

use super::connections::{self, NewConnection};
use super::grant_writes::{self, test_powers};
use super::grants::current;
use super::grants_tests::{at, run, seeded, GR_A, T0, TEN_G};
use super::operations;
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db, Row, Statement};
use crate::core::grant::grant_health::GrantState;
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

/// The test powers' writes, the demo page's read, the counts, the clock, the bench's reads.
pub fn test_powers(db: &Sqlite) {
    seeded(db, "gr_a");
    seeded(db, "gr_b");
    db.exec("UPDATE grants SET token_ciphertext = 'sealed-b', key_id = 'k2' WHERE id = 'gr_b'");
    assert_eq!(run(db, test_powers::copy_tokens(&GR_A, &"gr_b".into())), 1);
    let a = block_on(current(db, &GR_A)).unwrap().unwrap();
    assert_eq!(
        (
            a.token_ciphertext.as_deref(),
            a.key_id.as_deref(),
            a.version
        ),
        (Some("sealed-b"), Some("k2"), 1)
    );
    assert_eq!(
        run(db, test_powers::copy_tokens(&GR_A, &"gr_none".into())),
        0
    );
    db.arrange(
        "UPDATE grants SET state = ?1, state_reason = 'revoked', last_error = 'x' WHERE id = 'gr_a'",
        &[GrantState::DEAD],
    );
    assert_eq!(run(db, test_powers::revive(&GR_A)), 1);
    let a = block_on(current(db, &GR_A)).unwrap().unwrap();
    assert_eq!(
        (a.state.as_str(), a.state_reason, a.last_error),
        ("alive", None, None)
    );
    assert_eq!(run(db, test_powers::revive(&"gr_none".into())), 0);

    run(
        db,
        connections::upsert(&NewConnection {
            id: "conn_a",
            grant_id: &GR_A,
            tenant_id: &TEN_G,
            end_user_ref: "alice",
            kind: "profile",
            external_id: "u1",
            display_name: Some("Alice"),
            username: Some("alice"),
            grant_version: 1,
            now: T0,
        }),
    );
    let described = rows(db, connections::describe("conn_a")).remove(0);
    assert_eq!(
        (
            described.text("provider").unwrap(),
            described.text("end_user_ref").unwrap()
        ),
        ("x".into(), "alice".into())
    );
    let counts = rows(db, operations::flow_counts()).remove(0);
    assert_eq!(
        [
            "grants",
            "connections",
            "connect_sessions",
            "oauth_sessions"
        ]
        .map(|c| counts.int(c).unwrap()),
        [2, 1, 0, 0]
    );

    run(db, operations::set_test_clock(3_600_000, None));
    run(db, operations::set_test_clock(7_200_000, Some(at(5))));
    let clock = rows(db, operations::test_clock()).remove(0);
    assert_eq!(
        (
            clock.int("offset_ms").unwrap(),
            clock.opt_int("frozen_at").unwrap()
        ),
        (7_200_000, Some(at(5).as_millis()))
    );
    assert_eq!(
        db.value("SELECT COUNT(*) FROM test_clock"),
        Value::from(1),
        "one row, replaced"
    );

    let versions = rows(db, operations::grant_versions());
    assert_eq!(versions.len(), 1);
    assert_eq!(
        (
            versions[0].int("version").unwrap(),
            versions[0].int("n").unwrap()
        ),
        (1, 2)
    );
    assert_eq!(
        rows(db, operations::round_trip())[0].text("id").unwrap(),
        "gr_a"
    );
}

/// The spike's probe grant: inserted without tokens, claimed, swapped on its version once, a
/// claim released by its holder only.
pub fn spike(db: &Sqlite) {
    block_on(tenants::create(db, "ten_spike", "kill-mid-call spike", T0)).unwrap();
    let probe = test_powers::SpikeGrant {
        id: &"gr_p".into(),
        tenant_id: &"ten_spike".into(),
        provider: "x",
        provider_account_id: "acct",
        client_id: "client",
        end_user_ref: "spike",
        refresh_policy: "on_demand",
        now: T0,
    };
    assert_eq!(run(db, test_powers::spike_insert(&probe)), 1);
    assert!(
        block_on(db.run(test_powers::spike_insert(&probe))).is_err(),
        "one probe per id"
    );
    let row = |db: &Sqlite| {
        rows(
            db,
            test_powers::spike_row(&"gr_p".into(), &"ten_spike".into()),
        )
        .remove(0)
    };
    assert_eq!(
        (
            row(db).int("version").unwrap(),
            row(db).opt_text("claim_id").unwrap()
        ),
        (0, None)
    );
    assert!(rows(
        db,
        test_powers::spike_row(&"gr_p".into(), &"ten_other".into())
    )
    .is_empty());
    assert_eq!(
        run(
            db,
            grant_writes::claim_refresh(&"gr_p".into(), 0, "clm_1", at(1), T0)
        ),
        1
    );
    assert_eq!(
        run(db, test_powers::spike_release(&"gr_p".into(), "clm_other")),
        0
    );
    assert_eq!(
        run(
            db,
            test_powers::spike_swap(&"gr_p".into(), 0, "clm_other", None, at(0))
        ),
        0,
        "not its claim"
    );
    assert_eq!(
        run(
            db,
            test_powers::spike_swap(&"gr_p".into(), 0, "clm_1", Some(at(2)), at(0))
        ),
        1
    );
    assert_eq!(
        run(
            db,
            test_powers::spike_swap(&"gr_p".into(), 0, "clm_1", Some(at(2)), at(0))
        ),
        0,
        "once"
    );
    let after = row(db);
    assert_eq!(
        (
            after.int("version").unwrap(),
            after.opt_text("claim_id").unwrap()
        ),
        (1, None)
    );
    assert_eq!(
        after.opt_int("last_refresh_at").unwrap(),
        Some(at(0).as_millis())
    );
    assert_eq!(
        run(
            db,
            grant_writes::claim_refresh(&"gr_p".into(), 1, "clm_2", at(1), T0)
        ),
        1
    );
    assert_eq!(
        run(db, test_powers::spike_release(&"gr_p".into(), "clm_2")),
        1
    );
    assert_eq!(row(db).opt_text("claim_id").unwrap(), None);
}
