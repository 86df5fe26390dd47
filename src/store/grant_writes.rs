//! Every write to `grants`. Each one is a compare-and-set on the token version the writer
//! read (`WHERE id = ? AND version = ?`), so a write based on a stale read changes nothing,
//! and its caller sees 0 changes. States are bound from the core's enums.
//!
//! The grant's Durable Object is the only writer of its row. This file is compiled as a
//! child of the object's module (`edge::grant::grant_object::writes`), and its functions are
//! `pub(super)`: nothing else in the worker can name them. The native tests compile it under
//! `store` to run every statement against SQLite.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::store::{Param, Sql, Statement};

/// A new grant's row.
pub(super) struct NewGrant<'a> {
    pub id: &'a GrantId,
    pub tenant_id: &'a TenantId,
    pub provider: &'a str,
    pub provider_account_id: &'a str,
    pub client_id: &'a str,
    pub end_user_ref: &'a str,
    pub scopes: Option<&'a str>,
    pub token_ciphertext: &'a str,
    pub key_id: &'a str,
    pub version: i64,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    /// `RefreshPolicy::as_str`.
    pub refresh_policy: &'a str,
    pub next_check_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// New tokens for an existing grant, from a reconnect: the grant is alive again, refreshing
/// works, failures and claims are forgotten.
pub(super) struct Restored<'a> {
    pub id: &'a GrantId,
    /// The version read; the row moves to `version + 1`.
    pub version: i64,
    pub token_ciphertext: &'a str,
    pub key_id: &'a str,
    /// `None` keeps the scopes stored.
    pub scopes: Option<&'a str>,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    pub next_check_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// A successful refresh's write.
pub(super) struct Refreshed<'a> {
    pub id: &'a GrantId,
    /// The version read; the row moves to `version + 1`.
    pub version: i64,
    pub token_ciphertext: &'a str,
    pub key_id: &'a str,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    pub state: GrantState,
    pub next_check_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// A failed refresh's write: the failure counts, the retry, and the ledger's verdict.
pub(super) struct RefreshFailed<'a> {
    pub id: &'a GrantId,
    pub version: i64,
    pub refresh: RefreshState,
    pub failure_streak: u32,
    pub failure_days: u32,
    pub message: &'a str,
    pub retry_at: Timestamp,
    /// The outcome is unknown: keep the claim, expired at once, so the next attempt knows.
    pub outcome_unknown: bool,
    pub state: GrantState,
    pub now: Timestamp,
}

/// The sweep's or a reader's verdict without a refresh: the ledger, the next check, and (after
/// a successful identity call) the validation time with the failures cleared.
pub(super) struct Reviewed<'a> {
    pub id: &'a GrantId,
    pub version: i64,
    pub state: GrantState,
    pub refresh: RefreshState,
    pub next_check_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    pub validated_at: Option<Timestamp>,
}

/// `(state, state_reason)` as stored: the reason only for a dead grant.
fn state_params(state: GrantState) -> (Param, Param) {
    match state {
        GrantState::Dead { reason } => (state.as_str().into(), reason.code().into()),
        other => (other.as_str().into(), Param::Null),
    }
}

fn flag(value: bool) -> Param {
    Param::Int(i64::from(value))
}

pub(super) const INSERT: Sql = Sql {
    name: "grant_writes.insert",
    text: "INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
             end_user_ref, scopes, token_ciphertext, key_id, version, access_expires_at, \
             grant_expires_at, refresh_policy, next_check_at, last_refresh_at, created_at, \
             updated_at) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?15, ?14, ?14, ?14) \
           ON CONFLICT (id) DO NOTHING",
};
pub(super) const RESTORE: Sql = Sql {
    name: "grant_writes.restore",
    text: "UPDATE grants SET token_ciphertext = ?1, key_id = ?2, version = ?8 + 1, \
             epoch = epoch + 1, scopes = COALESCE(?3, scopes), access_expires_at = ?4, \
             grant_expires_at = ?5, state = ?10, state_reason = NULL, refresh_state = ?11, \
             failure_streak = 0, failure_days = 0, claim_id = NULL, claim_expires_at = NULL, \
             updated_at = ?6, last_refresh_at = ?6, last_error = NULL, next_check_at = ?9 \
           WHERE id = ?7 AND version = ?8",
};
pub(super) const RESEAL: Sql = Sql {
    name: "grant_writes.reseal",
    text: "UPDATE grants SET token_ciphertext = ?1, key_id = ?2 \
           WHERE id = ?3 AND version = ?4 AND key_id = ?5 AND token_ciphertext = ?6",
};
pub(super) const CLAIM_REFRESH: Sql = Sql {
    name: "grant_writes.claim_refresh",
    text: "UPDATE grants SET claim_id = ?1, claim_expires_at = ?2 \
           WHERE id = ?3 AND version = ?4 AND (claim_id IS NULL OR claim_expires_at <= ?5)",
};
pub(super) const REFRESHED: Sql = Sql {
    name: "grant_writes.refreshed",
    text: "UPDATE grants SET token_ciphertext = ?1, key_id = ?2, version = ?10 + 1, \
             access_expires_at = ?4, last_refresh_at = ?5, claim_id = NULL, \
             claim_expires_at = NULL, refresh_state = ?3, failure_streak = 0, \
             failure_days = 0, last_error = NULL, next_check_at = ?6, updated_at = ?5, \
             state = ?7, state_reason = ?8, grant_expires_at = ?11 \
           WHERE id = ?9 AND version = ?10",
};
pub(super) const REFRESH_FAILED: Sql = Sql {
    name: "grant_writes.refresh_failed",
    text: "UPDATE grants SET refresh_state = ?1, failure_streak = ?2, failure_days = ?3, \
             last_failure_at = ?4, last_error = ?5, next_check_at = ?6, updated_at = ?4, \
             claim_id = CASE WHEN ?7 THEN claim_id ELSE NULL END, \
             claim_expires_at = CASE WHEN ?7 THEN ?4 ELSE NULL END, \
             state = ?8, state_reason = ?9 \
           WHERE id = ?10 AND version = ?11",
};
pub(super) const HELD_BACK: Sql = Sql {
    name: "grant_writes.held_back",
    text: "UPDATE grants SET refresh_state = ?8, last_error = ?1, \
             next_check_at = ?2, updated_at = ?3, state = ?4, state_reason = ?5 \
           WHERE id = ?6 AND version = ?7",
};
pub(super) const MARK_DEAD: Sql = Sql {
    name: "grant_writes.mark_dead",
    text: "UPDATE grants SET state = ?8, state_reason = ?1, last_error = ?2, \
             claim_id = NULL, claim_expires_at = NULL, next_check_at = NULL, \
             failure_streak = ?3, failure_days = ?4, last_failure_at = ?5, updated_at = ?5 \
           WHERE id = ?6 AND version = ?7",
};
pub(super) const VALIDATED: Sql = Sql {
    name: "grant_writes.validated",
    text: "UPDATE grants SET last_validated_at = ?1 WHERE id = ?2 AND version = ?3",
};
pub(super) const REVIEWED: Sql = Sql {
    name: "grant_writes.reviewed",
    text: "UPDATE grants SET state = ?1, state_reason = ?2, next_check_at = ?3, \
             refresh_state = ?4, last_validated_at = COALESCE(?5, last_validated_at), \
             grant_expires_at = ?9, \
             failure_streak = CASE WHEN ?6 THEN 0 ELSE failure_streak END, \
             failure_days = CASE WHEN ?6 THEN 0 ELSE failure_days END, \
             last_error = CASE WHEN ?6 THEN NULL ELSE last_error END \
           WHERE id = ?7 AND version = ?8",
};
pub(super) const DISCONNECT_DELETING_TOKENS: Sql = Sql {
    name: "grant_writes.disconnect_deleting_tokens",
    text: "UPDATE grants SET epoch = epoch + 1, token_ciphertext = NULL, key_id = NULL, \
             next_check_at = NULL, claim_id = NULL, claim_expires_at = NULL, \
             updated_at = ?1 \
           WHERE id = ?2 AND version = ?3",
};
pub(super) const DISCONNECT_KEEPING_TOKENS: Sql = Sql {
    name: "grant_writes.disconnect_keeping_tokens",
    text: "UPDATE grants SET epoch = epoch + 1, updated_at = ?1 WHERE id = ?2 AND version = ?3",
};

pub(super) const CHECK_BY: Sql = Sql {
    name: "grant_writes.check_by",
    text: "UPDATE grants SET next_check_at = MIN(COALESCE(next_check_at, ?1), ?1) \
           WHERE id = ?2 AND state != ?3",
};

pub(super) const ERASE: Sql = Sql {
    name: "grant_writes.erase",
    text: "DELETE FROM grants WHERE id = ?1 \
           AND NOT EXISTS (SELECT 1 FROM connections WHERE grant_id = ?1)",
};

/// Test builds only: the test powers' writes (each through the grant's object, which forgets
/// what it remembers), and the kill-mid-call spike's probe grant.
#[cfg(any(all(test, not(target_arch = "wasm32")), feature = "test-powers"))]
pub(super) mod test_powers {
    use crate::core::common::clock::Timestamp;
    use crate::core::common::ids::{GrantId, TenantId};
    use crate::core::grant::grant_health::GrantState;
    use crate::store::{Sql, Statement};

    pub(super) const COPY_TOKENS: Sql = Sql {
        name: "grant_writes.test_copy_tokens",
        text: "UPDATE grants SET (token_ciphertext, key_id) = \
                 (SELECT token_ciphertext, key_id FROM grants WHERE id = ?2) \
               WHERE id = ?1 AND EXISTS (SELECT 1 FROM grants WHERE id = ?2)",
    };
    pub(super) const REVIVE: Sql = Sql {
        name: "grant_writes.test_revive",
        text: "UPDATE grants SET state = ?2, state_reason = NULL, last_error = NULL WHERE id = ?1",
    };
    pub(super) const SPIKE_INSERT: Sql = Sql {
        name: "grant_writes.spike_insert",
        text: "INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
                 end_user_ref, refresh_policy, created_at, updated_at) \
               VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    };
    pub(super) const SPIKE_ROW: Sql = Sql {
        name: "grant_writes.spike_row",
        text: "SELECT version, claim_id, claim_expires_at, last_refresh_at FROM grants \
               WHERE id = ?1 AND tenant_id = ?2",
    };
    pub(super) const SPIKE_SWAP: Sql = Sql {
        name: "grant_writes.spike_swap",
        text: "UPDATE grants SET version = version + 1, claim_id = NULL, claim_expires_at = NULL, \
                 last_refresh_at = ?1, access_expires_at = ?2, updated_at = ?1 \
               WHERE id = ?3 AND version = ?4 AND claim_id = ?5",
    };
    pub(super) const SPIKE_RELEASE: Sql = Sql {
        name: "grant_writes.spike_release",
        text: "UPDATE grants SET claim_id = NULL, claim_expires_at = NULL \
               WHERE id = ?1 AND claim_id = ?2",
    };

    /// The grant gets another grant's sealed tokens (1 row changed: both exist).
    pub(in super::super) fn copy_tokens(id: &GrantId, from: &GrantId) -> Statement {
        COPY_TOKENS.bind(vec![id.into(), from.into()])
    }

    /// A dead grant is alive again.
    pub(in super::super) fn revive(id: &GrantId) -> Statement {
        REVIVE.bind(vec![id.into(), GrantState::Alive.as_str().into()])
    }

    /// The spike's probe grant: no tokens, version 0, no claim.
    pub(in super::super) struct SpikeGrant<'a> {
        pub id: &'a GrantId,
        pub tenant_id: &'a TenantId,
        pub provider: &'a str,
        pub provider_account_id: &'a str,
        pub client_id: &'a str,
        pub end_user_ref: &'a str,
        pub refresh_policy: &'a str,
        pub now: Timestamp,
    }

    pub(in super::super) fn spike_insert(g: &SpikeGrant<'_>) -> Statement {
        SPIKE_INSERT.bind(vec![
            g.id.into(),
            g.tenant_id.into(),
            g.provider.into(),
            g.provider_account_id.into(),
            g.client_id.into(),
            g.end_user_ref.into(),
            g.refresh_policy.into(),
            g.now.into(),
        ])
    }

    /// The probe grant's row (`version, claim_id, claim_expires_at, last_refresh_at`).
    pub(in super::super) fn spike_row(id: &GrantId, tenant_id: &TenantId) -> Statement {
        SPIKE_ROW.bind(vec![id.into(), tenant_id.into()])
    }

    /// The probe's compare-and-swap on the version, releasing its claim.
    pub(in super::super) fn spike_swap(
        id: &GrantId,
        version: i64,
        claim_id: &str,
        access_expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Statement {
        SPIKE_SWAP.bind(vec![
            now.into(),
            access_expires_at.into(),
            id.into(),
            version.into(),
            claim_id.into(),
        ])
    }

    /// The probe's claim released after a failed call.
    pub(in super::super) fn spike_release(id: &GrantId, claim_id: &str) -> Statement {
        SPIKE_RELEASE.bind(vec![id.into(), claim_id.into()])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(super) const STATEMENTS: &[&Sql] = &[
    &test_powers::COPY_TOKENS,
    &test_powers::REVIVE,
    &test_powers::SPIKE_INSERT,
    &test_powers::SPIKE_ROW,
    &test_powers::SPIKE_SWAP,
    &test_powers::SPIKE_RELEASE,
    &CHECK_BY,
    &ERASE,
    &INSERT,
    &RESTORE,
    &RESEAL,
    &CLAIM_REFRESH,
    &REFRESHED,
    &REFRESH_FAILED,
    &HELD_BACK,
    &MARK_DEAD,
    &VALIDATED,
    &REVIEWED,
    &DISCONNECT_DELETING_TOKENS,
    &DISCONNECT_KEEPING_TOKENS,
];

/// A new grant (nothing if the id exists: 0 changes).
pub(super) fn insert(g: &NewGrant<'_>) -> Statement {
    INSERT.bind(vec![
        g.id.into(),
        g.tenant_id.into(),
        g.provider.into(),
        g.provider_account_id.into(),
        g.client_id.into(),
        g.end_user_ref.into(),
        g.scopes.into(),
        g.token_ciphertext.into(),
        g.key_id.into(),
        g.version.into(),
        g.access_expires_at.into(),
        g.grant_expires_at.into(),
        g.refresh_policy.into(),
        g.now.into(),
        g.next_check_at.into(),
    ])
}

/// New tokens from a reconnect, at `version + 1`.
pub(super) fn restore(g: &Restored<'_>) -> Statement {
    RESTORE.bind(vec![
        g.token_ciphertext.into(),
        g.key_id.into(),
        g.scopes.into(),
        g.access_expires_at.into(),
        g.grant_expires_at.into(),
        g.now.into(),
        g.id.into(),
        g.version.into(),
        g.next_check_at.into(),
        GrantState::Alive.as_str().into(),
        RefreshState::Ok.as_str().into(),
    ])
}

/// The same tokens sealed under another key, if the row is still exactly as read.
pub(super) fn reseal(
    id: &GrantId,
    version: i64,
    (old_key, old_blob): (&str, &str),
    (new_key, new_blob): (&str, &str),
) -> Statement {
    RESEAL.bind(vec![
        new_blob.into(),
        new_key.into(),
        id.into(),
        version.into(),
        old_key.into(),
        old_blob.into(),
    ])
}

/// Takes the refresh claim unless another live claim holds it (1 change: taken).
pub(super) fn claim_refresh(
    id: &GrantId,
    version: i64,
    claim_id: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Statement {
    CLAIM_REFRESH.bind(vec![
        claim_id.into(),
        expires_at.into(),
        id.into(),
        version.into(),
        now.into(),
    ])
}

/// A refresh's new tokens at `version + 1`, the claim released.
pub(super) fn refreshed(g: &Refreshed<'_>) -> Statement {
    let (state, reason) = state_params(g.state);
    REFRESHED.bind(vec![
        g.token_ciphertext.into(),
        g.key_id.into(),
        RefreshState::Ok.as_str().into(),
        g.access_expires_at.into(),
        g.now.into(),
        g.next_check_at.into(),
        state,
        reason,
        g.id.into(),
        g.version.into(),
        g.grant_expires_at.into(),
    ])
}

/// A refresh that failed (not fatally).
pub(super) fn refresh_failed(g: &RefreshFailed<'_>) -> Statement {
    let (state, reason) = state_params(g.state);
    REFRESH_FAILED.bind(vec![
        g.refresh.as_str().into(),
        i64::from(g.failure_streak).into(),
        i64::from(g.failure_days).into(),
        g.now.into(),
        g.message.into(),
        g.retry_at.into(),
        flag(g.outcome_unknown),
        state,
        reason,
        g.id.into(),
        g.version.into(),
    ])
}

/// Held back by the platform's open circuit: backing off until `retry_at`, not counted.
pub(super) fn held_back(
    id: &GrantId,
    version: i64,
    message: &str,
    retry_at: Timestamp,
    state: GrantState,
    now: Timestamp,
) -> Statement {
    let (state, reason) = state_params(state);
    let backing_off = RefreshState::BackingOff {
        failures: 0,
        retry_at,
    };
    HELD_BACK.bind(vec![
        message.into(),
        retry_at.into(),
        now.into(),
        state,
        reason,
        id.into(),
        version.into(),
        backing_off.as_str().into(),
    ])
}

/// Ends the grant: dead, nothing more to check, the claim released.
pub(super) fn mark_dead(
    id: &GrantId,
    version: i64,
    reason: crate::core::grant::refresh_failure::DeadReason,
    (streak, days): (u32, u32),
    now: Timestamp,
) -> Statement {
    MARK_DEAD.bind(vec![
        reason.code().into(),
        reason.message().into(),
        i64::from(streak).into(),
        i64::from(days).into(),
        now.into(),
        id.into(),
        version.into(),
        GrantState::Dead { reason }.as_str().into(),
    ])
}

/// The identity call confirmed the token at `now`.
pub(super) fn validated(id: &GrantId, version: i64, now: Timestamp) -> Statement {
    VALIDATED.bind(vec![now.into(), id.into(), version.into()])
}

/// The ledger's verdict and the next check, without a refresh.
pub(super) fn reviewed(g: &Reviewed<'_>) -> Statement {
    let (state, reason) = state_params(g.state);
    REVIEWED.bind(vec![
        state,
        reason,
        g.next_check_at.into(),
        g.refresh.as_str().into(),
        g.validated_at.into(),
        flag(g.validated_at.is_some()),
        g.id.into(),
        g.version.into(),
        g.grant_expires_at.into(),
    ])
}

/// A connection leaves the grant: the epoch moves on, and when it was the last one the tokens
/// go and nothing more is checked.
pub(super) fn disconnect(
    id: &GrantId,
    version: i64,
    delete_tokens: bool,
    now: Timestamp,
) -> Statement {
    let sql = if delete_tokens {
        &DISCONNECT_DELETING_TOKENS
    } else {
        &DISCONNECT_KEEPING_TOKENS
    };
    sql.bind(vec![now.into(), id.into(), version.into()])
}

/// The pre-flight: the grant is checked by `by` at the latest (a day before a post's slot),
/// unless it is dead. Idempotent: an earlier check stays.
pub(super) fn check_by(id: &GrantId, by: Timestamp) -> Statement {
    CHECK_BY.bind(vec![by.into(), id.into(), GrantState::DEAD.into()])
}

/// Erasure: the grant's row goes, once none of its connections is left (1 row changed).
pub(super) fn erase(id: &GrantId) -> Statement {
    ERASE.bind(vec![id.into()])
}
