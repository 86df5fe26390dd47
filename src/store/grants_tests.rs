//! Native tests of `store::grants` (reads) and `store::grant_writes` (the object's writes):
//! what each statement returns and what it changes, and that each guard holds: the refresh
//! claim, the compare-and-set on the token version, the reseal's match on the row as read.

use super::grant_writes::{self as writes, NewGrant};
use super::grants::{current, next_row_seq, Grant};
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::core::grant::refresh_failure::DeadReason;
use crate::core::publish::posts::TargetState;
use serde_json::Value;
use std::sync::LazyLock;

/// The ids most scenarios use, as `'static` typed ids.
/// `grants.state` of an expiring grant (any stage).
pub(super) const EXPIRING: &str = GrantState::Expiring {
    dies_at: Timestamp::from_millis(0),
    stage_days: 0,
}
.as_str();
pub(super) static TEN_G: LazyLock<TenantId> = LazyLock::new(|| "ten_g".into());
pub(super) static GR_A: LazyLock<GrantId> = LazyLock::new(|| "gr_a".into());

pub(super) const T0: Timestamp = Timestamp::from_millis(1_764_000_000_000);
const HOUR: i64 = 3_600_000;

pub(super) fn at(hours: i64) -> Timestamp {
    T0.plus_millis(hours * HOUR)
}

pub(super) fn run(db: &Sqlite, statement: Statement) -> usize {
    block_on(db.run(statement)).unwrap().changes
}

fn read(db: &Sqlite, id: &str) -> Grant {
    block_on(current(db, &id.into()))
        .unwrap()
        .expect("the grant exists")
}

/// A tenant and one grant `id` at version 1, checked at `at(24)`.
/// Connection `id` of `gr_a` (tenant `ten_g`, end user `alice`), stored at the grant's version 1.
pub(super) fn connect(db: &Sqlite, id: &str, external_id: &str) {
    let stored = run(
        db,
        super::connections::upsert(&super::connections::NewConnection {
            id,
            grant_id: &GR_A,
            tenant_id: &TEN_G,
            end_user_ref: "alice",
            kind: "profile",
            external_id,
            display_name: None,
            username: None,
            grant_version: 1,
            now: T0,
        }),
    );
    assert_eq!(stored, 1, "connection {id} stored");
}

/// `grant` as expiring (arranged, as its batch's write leaves it), the transition into that
/// standing, and the guard the transition's event insert checks.
pub(super) fn expiring<'a>(
    db: &Sqlite,
    grant: &'a GrantId,
) -> (
    crate::core::grant::grant_events::Transition,
    super::events::Guard<'a>,
) {
    db.arrange(
        "UPDATE grants SET state = ?1 WHERE id = ?2",
        &[EXPIRING, grant],
    );
    let transition = crate::core::grant::grant_events::transitions(
        crate::core::grant::grant_health::Status {
            grant: GrantState::Alive,
            refresh: RefreshState::Ok,
        },
        crate::core::grant::grant_health::Status {
            grant: GrantState::Expiring {
                dies_at: at(240),
                stage_days: 14,
            },
            refresh: RefreshState::Ok,
        },
        1,
    )
    .remove(0);
    let guard = super::events::Guard {
        grant_id: grant,
        version: 1,
        state: "expiring",
        refresh_state: RefreshState::Ok.as_str(),
    };
    (transition, guard)
}

pub(super) fn seeded(db: &Sqlite, id: &str) {
    block_on(tenants::create(db, "ten_g", "G", T0)).ok();
    let new = NewGrant {
        id: &id.into(),
        tenant_id: &TEN_G,
        provider: "x",
        provider_account_id: "acct_1",
        client_id: "client",
        end_user_ref: "alice",
        scopes: Some("tweet.read offline.access"),
        token_ciphertext: "sealed-1",
        key_id: "k1",
        version: 1,
        access_expires_at: Some(at(2)),
        grant_expires_at: None,
        refresh_policy: "on_demand",
        next_check_at: Some(at(24)),
        now: T0,
    };
    assert_eq!(run(db, writes::insert(&new)), 1);
    assert_eq!(
        run(db, writes::insert(&new)),
        0,
        "an existing id is left alone"
    );
}

/// A grant is inserted and read back typed; rowids give the check slot.
pub fn insert_and_read(db: &Sqlite) {
    assert_eq!(block_on(next_row_seq(db)).unwrap(), 1);
    seeded(db, "gr_a");
    assert_eq!(block_on(next_row_seq(db)).unwrap(), 2);
    let g = read(db, "gr_a");
    assert_eq!(
        (g.version, g.epoch, g.check_seq, g.failure_streak),
        (1, 0, 1, 0)
    );
    assert_eq!(g.state, GrantState::Alive.as_str());
    assert_eq!(g.refresh_state, RefreshState::Ok.as_str());
    assert_eq!(g.access_expires_at, Some(at(2)));
    assert_eq!(g.next_check_at, Some(at(24)));
    assert_eq!((g.created_at, g.last_refresh_at), (T0, Some(T0)));
    assert_eq!(g.token_ciphertext.as_deref(), Some("sealed-1"));
    assert_eq!(g.next_post_at, None);
    assert!(block_on(current(db, &"gr_none".into())).unwrap().is_none());

    // The earliest scheduled or queued post through the grant; later and finished ones do not
    // count.
    db.exec(
        "INSERT INTO connections (id, grant_id, tenant_id, end_user_ref, kind, external_id, \
           created_at, updated_at) VALUES ('conn_a', 'gr_a', 'ten_g', 'alice', 'profile', 'e', 0, 0);
         INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
           request_digest, created_at) VALUES ('post_1', 'ten_g', 'alice', 't', 0, 'k', 'd', 0);
         INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
           request_digest, created_at) VALUES ('post_2', 'ten_g', 'alice', 't', 0, 'k2', 'd', 0);
         INSERT INTO posts (id, tenant_id, end_user_ref, text, publish_at, idempotency_key, \
           request_digest, created_at) VALUES ('post_3', 'ten_g', 'alice', 't', 0, 'k3', 'd', 0);",
    );
    for (id, post, state, hour) in [
        ("tgt_1", "post_1", TargetState::Queued, 5),
        ("tgt_2", "post_2", TargetState::Scheduled, 3),
        ("tgt_3", "post_3", TargetState::Published, 1),
    ] {
        db.arrange(
            "INSERT INTO post_targets (id, post_id, tenant_id, connection_id, grant_id, provider, \
               content_hash, state, not_before, created_at, updated_at) \
             VALUES (?1, ?2, 'ten_g', 'conn_a', 'gr_a', 'x', 'h', ?3, ?4, 0, 0)",
            &[id, post, state.as_str(), &at(hour).as_millis().to_string()],
        );
    }
    assert_eq!(read(db, "gr_a").next_post_at, Some(at(3)));
}

/// The refresh claim: one holder at a time, taken over once expired, never on a stale version.
pub fn claim(db: &Sqlite) {
    seeded(db, "gr_c");
    let claim = |id: &str, version, expires: i64, now: i64| {
        run(
            db,
            writes::claim_refresh(&"gr_c".into(), version, id, at(expires), at(now)),
        )
    };
    assert_eq!(claim("clm_1", 1, 1, 0), 1, "a free grant is claimed");
    assert_eq!(claim("clm_2", 1, 1, 0), 0, "a live claim holds");
    assert_eq!(read(db, "gr_c").claim_id.as_deref(), Some("clm_1"));
    assert_eq!(claim("clm_3", 2, 2, 1), 0, "a stale version claims nothing");
    assert_eq!(claim("clm_4", 1, 2, 1), 1, "an expired claim is taken over");
    assert_eq!(read(db, "gr_c").claim_id.as_deref(), Some("clm_4"));
}

/// A refresh's write lands once, on the version read, and moves the version on.
pub fn refresh_compare_and_set(db: &Sqlite) {
    seeded(db, "gr_r");
    assert_eq!(
        run(
            db,
            writes::claim_refresh(&"gr_r".into(), 1, "clm_r", at(1), T0)
        ),
        1
    );
    let id_r: GrantId = "gr_r".into();
    let write = |version| writes::Refreshed {
        id: &id_r,
        version,
        token_ciphertext: "sealed-2",
        key_id: "k2",
        access_expires_at: Some(at(4)),
        grant_expires_at: Some(at(24 * 90)),
        state: GrantState::Alive,
        next_check_at: Some(at(3)),
        now: at(1),
    };
    assert_eq!(run(db, writes::refreshed(&write(0))), 0, "stale: nothing");
    assert_eq!(read(db, "gr_r").version, 1);
    assert_eq!(run(db, writes::refreshed(&write(1))), 1);
    let g = read(db, "gr_r");
    assert_eq!(g.version, 2);
    assert_eq!(g.token_ciphertext.as_deref(), Some("sealed-2"));
    assert_eq!(g.key_id.as_deref(), Some("k2"));
    assert_eq!(g.claim_id, None, "the claim is released");
    assert_eq!(
        (g.access_expires_at, g.grant_expires_at, g.next_check_at),
        (Some(at(4)), Some(at(24 * 90)), Some(at(3)))
    );
    assert_eq!(g.last_refresh_at, Some(at(1)));
    assert_eq!(
        run(db, writes::refreshed(&write(1))),
        0,
        "a replay lands nowhere"
    );
    assert_eq!(read(db, "gr_r").version, 2);
}

/// A failed refresh counts, schedules the retry and keeps the claim only when the outcome is
/// unknown; an open circuit backs off without counting; death ends the checks.
pub fn failures_and_death(db: &Sqlite) {
    seeded(db, "gr_f");
    run(
        db,
        writes::claim_refresh(&"gr_f".into(), 1, "clm_f", at(1), T0),
    );
    let id_f: GrantId = "gr_f".into();
    let failed = |unknown, version| writes::RefreshFailed {
        id: &id_f,
        version,
        refresh: RefreshState::BackingOff {
            failures: 1,
            retry_at: at(2),
        },
        failure_streak: 1,
        failure_days: 1,
        message: "the platform failed",
        retry_at: at(2),
        outcome_unknown: unknown,
        state: GrantState::Alive,
        now: at(1),
    };
    assert_eq!(run(db, writes::refresh_failed(&failed(true, 7))), 0);
    assert_eq!(run(db, writes::refresh_failed(&failed(true, 1))), 1);
    let g = read(db, "gr_f");
    assert_eq!(g.refresh_state, "backing_off");
    assert_eq!((g.failure_streak, g.failure_days), (1, 1));
    assert_eq!(
        g.claim_id.as_deref(),
        Some("clm_f"),
        "unknown outcome: kept"
    );
    assert_eq!(
        db.value("SELECT claim_expires_at FROM grants WHERE id = 'gr_f'"),
        Value::from(at(1).as_millis()),
        "…and expired at once"
    );
    assert_eq!(
        (g.last_error.as_deref(), g.next_check_at),
        (Some("the platform failed"), Some(at(2)))
    );
    assert_eq!(run(db, writes::refresh_failed(&failed(false, 1))), 1);
    assert_eq!(read(db, "gr_f").claim_id, None, "known outcome: released");

    let expiring = GrantState::Expiring {
        dies_at: at(100),
        stage_days: 7,
    };
    assert_eq!(
        run(
            db,
            writes::held_back(&"gr_f".into(), 1, "paused", at(5), expiring, at(2))
        ),
        1
    );
    let g = read(db, "gr_f");
    assert_eq!(
        (g.refresh_state.as_str(), g.state.as_str()),
        ("backing_off", "expiring")
    );
    assert_eq!((g.failure_streak, g.next_check_at), (1, Some(at(5))));
    assert_eq!(
        run(
            db,
            writes::held_back(&"gr_f".into(), 0, "paused", at(5), expiring, at(2))
        ),
        0
    );

    let reason = DeadReason::RevokedOrExpired;
    assert_eq!(
        run(
            db,
            writes::mark_dead(&"gr_f".into(), 0, reason, (2, 2), at(3))
        ),
        0
    );
    assert_eq!(
        run(
            db,
            writes::mark_dead(&"gr_f".into(), 1, reason, (2, 2), at(3))
        ),
        1
    );
    let g = read(db, "gr_f");
    assert_eq!(g.state, "dead");
    assert_eq!(g.state_reason.as_deref(), Some(reason.code()));
    assert_eq!(g.last_error.as_deref(), Some(reason.message()));
    assert_eq!((g.next_check_at, g.claim_id), (None, None));
    assert_eq!((g.failure_streak, g.failure_days), (2, 2));
}

/// A review writes the ledger; a validated one also clears the failures.
pub fn review_and_validation(db: &Sqlite) {
    seeded(db, "gr_v");
    db.exec("UPDATE grants SET failure_streak = 3, failure_days = 2, last_error = 'x' WHERE id = 'gr_v'");
    let id_v: GrantId = "gr_v".into();
    let reviewed = |validated_at, version| writes::Reviewed {
        id: &id_v,
        version,
        state: GrantState::Expiring {
            dies_at: at(200),
            stage_days: 14,
        },
        refresh: RefreshState::Ok,
        next_check_at: Some(at(30)),
        grant_expires_at: Some(at(200)),
        validated_at,
    };
    assert_eq!(run(db, writes::reviewed(&reviewed(None, 2))), 0);
    assert_eq!(run(db, writes::reviewed(&reviewed(None, 1))), 1);
    let g = read(db, "gr_v");
    assert_eq!(g.state, "expiring");
    assert_eq!(
        (g.grant_expires_at, g.next_check_at),
        (Some(at(200)), Some(at(30)))
    );
    assert_eq!(
        (g.failure_streak, g.last_validated_at),
        (3, None),
        "not validated: kept"
    );
    assert_eq!(run(db, writes::reviewed(&reviewed(Some(at(29)), 1))), 1);
    let g = read(db, "gr_v");
    assert_eq!((g.failure_streak, g.failure_days), (0, 0));
    assert_eq!((g.last_error, g.last_validated_at), (None, Some(at(29))));
    // A second review without validation keeps the validation time.
    assert_eq!(run(db, writes::reviewed(&reviewed(None, 1))), 1);
    assert_eq!(read(db, "gr_v").last_validated_at, Some(at(29)));

    assert_eq!(run(db, writes::validated(&"gr_v".into(), 0, at(31))), 0);
    assert_eq!(run(db, writes::validated(&"gr_v".into(), 1, at(31))), 1);
    assert_eq!(read(db, "gr_v").last_validated_at, Some(at(31)));
}

/// A reconnect restores the grant in place; a reseal lands only on the row as read; a
/// disconnect moves the epoch on and, for the last connection, deletes the tokens.
pub fn restore_reseal_disconnect(db: &Sqlite) {
    seeded(db, "gr_d");
    run(
        db,
        writes::mark_dead(
            &"gr_d".into(),
            1,
            DeadReason::RevokedOrExpired,
            (1, 1),
            at(1),
        ),
    );
    run(
        db,
        writes::claim_refresh(&"gr_d".into(), 1, "clm_d", at(9), at(1)),
    );
    let id_d: GrantId = "gr_d".into();
    let restored = |version, scopes| writes::Restored {
        id: &id_d,
        version,
        token_ciphertext: "sealed-3",
        key_id: "k3",
        scopes,
        access_expires_at: Some(at(4)),
        grant_expires_at: None,
        next_check_at: Some(at(26)),
        now: at(2),
    };
    assert_eq!(run(db, writes::restore(&restored(0, None))), 0);
    assert_eq!(run(db, writes::restore(&restored(1, None))), 1);
    let g = read(db, "gr_d");
    assert_eq!((g.version, g.epoch), (2, 1));
    assert_eq!((g.state.as_str(), g.state_reason), ("alive", None));
    assert_eq!((g.refresh_state.as_str(), g.failure_streak), ("ok", 0));
    assert_eq!((g.claim_id, g.last_error), (None, None));
    assert_eq!(g.next_check_at, Some(at(26)));
    assert_eq!(
        db.value("SELECT scopes FROM grants WHERE id = 'gr_d'"),
        Value::from("tweet.read offline.access"),
        "no scopes in the answer: the stored ones stay"
    );
    assert_eq!(run(db, writes::restore(&restored(2, Some("a b")))), 1);
    assert_eq!(
        db.value("SELECT scopes FROM grants WHERE id = 'gr_d'"),
        Value::from("a b")
    );

    let old = ("k3", "sealed-3");
    let new = ("k4", "sealed-4");
    assert_eq!(
        run(
            db,
            writes::reseal(&"gr_d".into(), 3, ("k0", "sealed-3"), new)
        ),
        0
    );
    assert_eq!(
        run(db, writes::reseal(&"gr_d".into(), 3, ("k3", "other"), new)),
        0
    );
    assert_eq!(run(db, writes::reseal(&"gr_d".into(), 2, old, new)), 0);
    assert_eq!(run(db, writes::reseal(&"gr_d".into(), 3, old, new)), 1);
    let g = read(db, "gr_d");
    assert_eq!(
        (
            g.key_id.as_deref(),
            g.token_ciphertext.as_deref(),
            g.version
        ),
        (Some("k4"), Some("sealed-4"), 3),
        "a reseal keeps the version"
    );

    assert_eq!(
        run(db, writes::disconnect(&"gr_d".into(), 2, false, at(3))),
        0
    );
    assert_eq!(
        run(db, writes::disconnect(&"gr_d".into(), 3, false, at(3))),
        1
    );
    let g = read(db, "gr_d");
    assert_eq!((g.epoch, g.token_ciphertext.is_some()), (3, true));
    assert_eq!(
        run(db, writes::disconnect(&"gr_d".into(), 3, true, at(4))),
        1
    );
    let g = read(db, "gr_d");
    assert_eq!(g.epoch, 4);
    assert_eq!(
        (g.token_ciphertext, g.key_id, g.next_check_at),
        (None, None, None)
    );
}
