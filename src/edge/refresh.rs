//! One refresh of one grant, inside the grant's Durable Object (its only writer), which holds
//! its refresh lock around this: concurrent callers wait, then find the new token stored.
//!
//! The steps, in order:
//! 1. claim: a write-ahead marker in D1 (`claim_id`), and the same marker in the object's own
//!    storage. A claim already there means an earlier refresh never finished (its runtime
//!    died mid-call, see docs/spike-kill-mid-call.md): its outcome is unknown;
//! 2. the provider call (`platform::refresh`);
//! 3. the lost-outcome rule: a rotating grant whose answer may have been lost retries once
//!    with the stored token; if the platform then refuses that token, the grant is dead with
//!    "refresh response lost";
//! 4. one guarded write: new tokens and version (compare-and-swap, `changes` checked), or the
//!    dead state, or the backoff. The decisions are the core's (`refresh_failure`,
//!    `refresh_schedule`); this module only carries them out.

use super::d1::{changes, int};
use super::d1_time::{bind as ms, bind_opt};
use super::grants::{binding, CurrentGrant};
use super::respond::Handled;
use super::{bindings, logging, platform};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::catalogue::{ProviderSpec, RefreshTokenKind};
use crate::core::clock::Timestamp;
use crate::core::grant_tokens::{access_expiry, TokenSet};
use crate::core::ids::{new_id, random_bytes};
use crate::core::log::LogLine;
use crate::core::refresh_failure::{
    after_dead_answer, classify, DeadReason, FailureClass, RefreshFailure,
};
use crate::core::refresh_schedule::{next_check_at, Backoff, GrantTimes, DEFAULT_WARN_WINDOW_MS};
use worker::{D1Database, Env, State};

/// How long a claim holds. Longer than the HTTP deadline (30 s), as the spike showed.
const CLAIM_TTL_MS: i64 = 60_000;
/// The object's own record of a refresh in flight.
const IN_FLIGHT_KEY: &str = "refresh_in_flight";

/// What a refresh left behind.
pub enum Outcome {
    /// New tokens, stored.
    Refreshed {
        tokens: TokenSet,
        access_expires_at: Option<Timestamp>,
    },
    /// The refresh failed for now (backing off); the stored tokens stand.
    Failed { message: String },
    /// The platform ended the grant.
    Dead(DeadReason),
}

/// The backoff schedule (`REFRESH_BACKOFF`; seconds in tests).
fn backoff(env: &Env) -> Backoff {
    bindings::text(env, "REFRESH_BACKOFF")
        .and_then(|text| Backoff::parse(&text).ok())
        .unwrap_or_default()
}

fn jitter() -> f64 {
    random_bytes::<2>().map_or(0.5, |b| f64::from(u16::from_le_bytes(b)) / 65_536.0)
}

fn times(grant: &CurrentGrant, access_expires_at: Option<Timestamp>, now: Timestamp) -> GrantTimes {
    GrantTimes {
        access_expires_at,
        grant_expires_at: grant.grant_expires_at.map(super::d1_time::read),
        last_refresh_at: now,
        last_validated_at: None,
        retry_at: None,
        dead: false,
    }
}

pub async fn refresh(
    env: &Env,
    state: &State,
    db: &D1Database,
    grant: &CurrentGrant,
    spec: &ProviderSpec,
    tokens: &TokenSet,
    now: Timestamp,
) -> Handled<Outcome> {
    let Some(refresh_token) = tokens.refresh_token.clone() else {
        return Ok(Outcome::Failed {
            message: "The platform gave this connection no refresh token.".to_owned(),
        });
    };
    let client = platform::client_credentials(env, db, &grant.tenant_id, spec)
        .await
        .map_err(worker::Error::RustError)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ProviderNotConfigured,
                format!("No OAuth client is configured for {}.", spec.display_name),
            )
        })?;
    let rotating = spec.tokens.refresh_token == RefreshTokenKind::Rotating;
    let version = grant.version as i64;

    // 1. Claim. A claim left by an earlier, unfinished refresh makes the outcome unknown.
    let mut outcome_unknown = rotating && grant.claim_id.is_some();
    let claim = new_id("clm_")?;
    let claimed = db
        .prepare(
            "UPDATE grants SET claim_id = ?1, claim_expires_at = ?2 WHERE id = ?3 AND version = ?4",
        )
        .bind(&[
            claim.as_str().into(),
            ms(now.plus_millis(CLAIM_TTL_MS)),
            grant.id.as_str().into(),
            int(version),
        ])?
        .run()
        .await?;
    if changes(&claimed) != 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The grant changed while a refresh was starting; try again.",
        )
        .into());
    }
    state.storage().put(IN_FLIGHT_KEY, claim.as_str()).await?;

    // 2 and 3. The call, and the single retry of the lost-outcome rule.
    let mut result = platform::refresh(env, spec, &client, &refresh_token).await;
    if let Err(failure) = &result {
        if let FailureClass::Transient {
            outcome_unknown: true,
            ..
        } = classify(spec, failure)
        {
            outcome_unknown = true;
            result = platform::refresh(env, spec, &client, &refresh_token).await;
        }
    }

    // 4. One write.
    let outcome = match result {
        Ok(answer) => {
            let renewed = TokenSet {
                access_token: answer.access_token,
                refresh_token: answer.refresh_token.or(Some(refresh_token)),
            };
            let access_expires_at = access_expiry(now, answer.expires_in);
            store_refreshed(env, db, grant, spec, &renewed, access_expires_at, now).await?;
            Outcome::Refreshed {
                tokens: renewed,
                access_expires_at,
            }
        }
        Err(failure) => {
            settle_failure(env, db, grant, spec, &failure, outcome_unknown, now).await?
        }
    };
    state.storage().delete(IN_FLIGHT_KEY).await?;
    Ok(outcome)
}

async fn store_refreshed(
    env: &Env,
    db: &D1Database,
    grant: &CurrentGrant,
    spec: &ProviderSpec,
    tokens: &TokenSet,
    access_expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Handled<()> {
    let old = grant.version as i64;
    let sealed = bindings::keyring(env)?.seal(
        binding(&grant.tenant_id, &grant.id, old + 1),
        &tokens.to_bytes(),
    )?;
    let next = next_check_at(
        &spec.refresh,
        &times(grant, access_expires_at, now),
        DEFAULT_WARN_WINDOW_MS,
        now,
    );
    let written = db
        .prepare(
            "UPDATE grants SET token_ciphertext = ?1, key_id = ?2, version = ?3, \
               access_expires_at = ?4, last_refresh_at = ?5, claim_id = NULL, \
               claim_expires_at = NULL, refresh_state = 'ok', failure_streak = 0, \
               failure_days = 0, last_error = NULL, next_check_at = ?6, updated_at = ?5 \
             WHERE id = ?7 AND version = ?8",
        )
        .bind(&[
            sealed.blob.as_str().into(),
            sealed.key_id.as_str().into(),
            int(old + 1),
            bind_opt(access_expires_at),
            ms(now),
            bind_opt(next),
            grant.id.as_str().into(),
            int(old),
        ])?
        .run()
        .await?;
    if changes(&written) != 1 {
        // Nothing else writes this grant; a lost compare-and-swap is a bug worth a loud log.
        logging::emit(
            &LogLine::error("grant.refresh_cas_lost", now).field("grant_id", grant.id.as_str()),
        );
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The grant changed while it was being refreshed; try again.",
        )
        .into());
    }
    Ok(())
}

async fn settle_failure(
    env: &Env,
    db: &D1Database,
    grant: &CurrentGrant,
    spec: &ProviderSpec,
    failure: &RefreshFailure,
    outcome_unknown: bool,
    now: Timestamp,
) -> Handled<Outcome> {
    let class = classify(spec, failure);
    let log = LogLine::warn("grant.refresh_failed", now)
        .field("grant_id", grant.id.as_str())
        .field("provider", spec.name.as_str())
        .field("failure", format!("{failure:?}"))
        .field("class", format!("{class:?}"));
    logging::emit(&log);
    if class == FailureClass::DeadGrant {
        let stored = super::grants::current(db, &grant.id).await?;
        let changed = stored.is_none_or(|g| g.version != grant.version);
        if let Some(reason) = after_dead_answer(changed, outcome_unknown).dead_reason() {
            let counts = (grant.failure_streak as u32, grant.failure_days as u32);
            return mark_dead(db, grant, reason, counts, now).await;
        }
        return Ok(Outcome::Failed {
            message: "Another refresh finished first; try again.".to_owned(),
        });
    }
    let schedule = backoff(env);
    let streak = grant.failure_streak as u32 + 1;
    let days = schedule.failure_days_after(
        grant.failure_days as u32,
        grant.last_failure_at.map(super::d1_time::read),
        now,
    );
    let (retry_after, refresh_state, message) = match &class {
        FailureClass::Transient {
            retry_after_secs, ..
        } => (
            *retry_after_secs,
            "backing_off",
            "The platform did not refresh the token (it is failing or limiting us); \
             retrying with backoff.",
        ),
        _ => (
            None,
            "client_rejected",
            "The platform rejected this deployment's app credentials; the operator must fix them.",
        ),
    };
    if schedule.gives_up(days) {
        return mark_dead(
            db,
            grant,
            DeadReason::RefreshKeptFailing,
            (streak, days),
            now,
        )
        .await;
    }
    let retry_at = now.plus_millis(schedule.delay_ms(streak, jitter(), retry_after));
    // An unknown outcome keeps the claim, so the next attempt knows it.
    db.prepare(
        "UPDATE grants SET refresh_state = ?1, failure_streak = ?2, failure_days = ?3, \
           last_failure_at = ?4, last_error = ?5, next_check_at = ?6, updated_at = ?4, \
           claim_id = CASE WHEN ?7 THEN claim_id ELSE NULL END, \
           claim_expires_at = CASE WHEN ?7 THEN claim_expires_at ELSE NULL END \
         WHERE id = ?8 AND version = ?9",
    )
    .bind(&[
        refresh_state.into(),
        int(streak.into()),
        int(days.into()),
        ms(now),
        message.into(),
        ms(retry_at),
        int(i64::from(outcome_unknown)),
        grant.id.as_str().into(),
        int(grant.version as i64),
    ])?
    .run()
    .await?;
    Ok(Outcome::Failed {
        message: message.to_owned(),
    })
}

/// Ends the grant: dead with `reason` (its message is what readers are told), nothing more to
/// check, the claim released. `failures`: the streak and the count of failure days to record.
async fn mark_dead(
    db: &D1Database,
    grant: &CurrentGrant,
    reason: DeadReason,
    (streak, days): (u32, u32),
    now: Timestamp,
) -> Handled<Outcome> {
    db.prepare(
        "UPDATE grants SET state = 'dead', state_reason = ?1, last_error = ?2, claim_id = NULL, \
           claim_expires_at = NULL, next_check_at = NULL, failure_streak = ?3, \
           failure_days = ?4, last_failure_at = ?5, updated_at = ?5 \
         WHERE id = ?6 AND version = ?7",
    )
    .bind(&[
        reason.code().into(),
        reason.message().into(),
        int(streak.into()),
        int(days.into()),
        ms(now),
        grant.id.as_str().into(),
        int(grant.version as i64),
    ])?
    .run()
    .await?;
    Ok(Outcome::Dead(reason))
}
