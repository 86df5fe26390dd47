//! A visit to one grant inside its Durable Object: what the sweep's refresh-queue message and
//! the manual refresh route ask for.
//!
//! The core says what the visit does ([`visit`]): refresh (a lead time reached, a keep-alive
//! due, a backoff retry due), validate (no refresh exists), or only review (apply the ledger's
//! date: expiring inside the warning window, expired past the known death). Whatever it did,
//! the grant leaves with its next check computed and the sweep's lease released.

use super::d1::{int, text_or_null};
use super::d1_time::{bind as ms, bind_opt, read as time};
use super::grants::{current, open_tokens, spec_of, CurrentGrant, Memory};
use super::platform::{self, IdentityFailure};
use super::refresh::{self, mark_dead, state_columns, Change, Outcome};
use super::respond::{self, Handled};
use super::{bindings, clock};
use crate::core::api_error::{ApiError, ErrorCode};
use crate::core::grant_health::{GrantState, Status};
use crate::core::refresh_failure::{DeadReason, RefreshFailure};
use crate::core::refresh_schedule::{visit, Visit};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Env, Request, State};

/// What the object is asked to do.
#[derive(Serialize, Deserialize)]
pub struct VisitAsk {
    pub grant_id: String,
    /// Refresh now whatever the schedule says (the manual refresh route). Set only by tenant
    /// routes, which check the tenant first.
    #[serde(default)]
    pub force: bool,
    /// The tenant the caller is acting for, when it is a tenant (checked against the grant).
    #[serde(default)]
    pub tenant_id: Option<String>,
}

pub async fn visit_in_object(
    env: &Env,
    state: &State,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    mut req: Request,
) -> Handled {
    let ask: VisitAsk = respond::read_json(&mut req).await?;
    let _turn = turns.lock().await;
    memory.forget();
    let now = clock::now(env).await?;
    let db = bindings::db(env)?;
    let Some(grant) = current(&db, &ask.grant_id)
        .await?
        .filter(|g| ask.tenant_id.as_ref().is_none_or(|t| *t == g.tenant_id))
    else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such grant.").into());
    };
    let done = |did: &str, grant: &CurrentGrant| {
        respond::json(200, &json!({"grant_id": grant.id, "did": did}))
    };
    if grant.state == "dead" {
        if ask.force {
            return Err(ApiError::new(
                ErrorCode::ConnectionDead,
                "The connection is dead; only reconnecting can restore it.",
            )
            .into());
        }
        release(&db, &grant, None).await?;
        return Ok(done("nothing_dead", &grant)?);
    }
    let catalogue = bindings::catalogue(env)?;
    let spec = spec_of(&catalogue, &grant)?;
    let change = Change::new(env, &db, &grant, spec, now);
    let tokens = open_tokens(env, &grant)?;
    let mut times = grant.times(grant.access_expires(), grant.refreshed_at());
    times.retry_at = (grant.refresh_state != "ok")
        .then(|| grant.next_check_at.map(time))
        .flatten();
    let can_refresh = tokens.refresh_token.is_some();
    let what = if ask.force && can_refresh {
        Visit::Refresh
    } else {
        visit(&spec.refresh, &times, can_refresh, now)
    };
    let did = match what {
        Visit::Refresh => match refresh::refresh(&change, state, &tokens).await? {
            Outcome::Refreshed { .. } => "refreshed",
            Outcome::Failed { message } if ask.force => {
                return Err(ApiError::new(ErrorCode::RefreshFailed, message).into())
            }
            Outcome::Failed { .. } => "refresh_failed",
            Outcome::Dead(reason) if ask.force => {
                return Err(ApiError::new(ErrorCode::ConnectionDead, reason.message()).into())
            }
            Outcome::Dead(_) => "dead",
        },
        Visit::Validate => validate(&change, &tokens.access_token).await?,
        Visit::Review => review(&change, &times).await?,
    };
    release(&db, &grant, None).await?;
    Ok(done(did, &grant)?)
}

/// Releases the sweep's lease (and, when given, moves the next check).
async fn release(
    db: &worker::D1Database,
    grant: &CurrentGrant,
    next: Option<crate::core::clock::Timestamp>,
) -> worker::Result<()> {
    db.prepare(
        "UPDATE grants SET sweep_lease_until = NULL, next_check_at = COALESCE(?1, next_check_at) \
         WHERE id = ?2",
    )
    .bind(&[bind_opt(next), grant.id.as_str().into()])?
    .run()
    .await?;
    Ok(())
}

/// Nothing to ask the platform: apply the ledger's date and schedule the next visit.
async fn review(
    change: &Change<'_>,
    times: &crate::core::refresh_schedule::GrantTimes,
) -> Handled<&'static str> {
    let grant = change.grant;
    let ledger = GrantState::at(
        grant.grant_expires_at.map(time),
        None,
        change.warn_window_ms,
        change.now,
    );
    if let GrantState::Dead { reason } = ledger {
        let counts = (grant.failure_streak as u32, grant.failure_days as u32);
        mark_dead(change, reason, counts).await?;
        return Ok("expired");
    }
    let after = Status {
        grant: ledger,
        refresh: change.before.refresh,
    };
    let (state, reason) = state_columns(after.grant);
    let update = change
        .db
        .prepare(
            "UPDATE grants SET state = ?1, state_reason = ?2, next_check_at = ?3 \
             WHERE id = ?4 AND version = ?5",
        )
        .bind(&[
            state.into(),
            text_or_null(reason),
            bind_opt(change.next_check(times)),
            grant.id.as_str().into(),
            int(grant.version as i64),
        ])?;
    change.commit(update, after, grant.version as i64).await?;
    Ok("reviewed")
}

/// A grant without a refresh token: the identity call says whether its token still works.
async fn validate(
    change: &Change<'_>,
    access_token: &crate::core::grant_tokens::SecretText,
) -> Handled<&'static str> {
    let grant = change.grant;
    match platform::fetch_identity(change.env, change.spec, access_token).await {
        Ok(_) => {
            let mut times = grant.times(grant.access_expires(), grant.refreshed_at());
            times.last_validated_at = Some(change.now);
            let after = Status {
                grant: GrantState::at(
                    grant.grant_expires_at.map(time),
                    None,
                    change.warn_window_ms,
                    change.now,
                ),
                refresh: crate::core::grant_health::RefreshState::Ok,
            };
            if let GrantState::Dead { reason } = after.grant {
                let counts = (grant.failure_streak as u32, grant.failure_days as u32);
                mark_dead(change, reason, counts).await?;
                return Ok("expired");
            }
            let (state, reason) = state_columns(after.grant);
            let update = change
                .db
                .prepare(
                    "UPDATE grants SET state = ?1, state_reason = ?2, refresh_state = 'ok', \
                       failure_streak = 0, failure_days = 0, last_error = NULL, \
                       last_validated_at = ?3, next_check_at = ?4 \
                     WHERE id = ?5 AND version = ?6",
                )
                .bind(&[
                    state.into(),
                    text_or_null(reason),
                    ms(change.now),
                    bind_opt(change.next_check(&times)),
                    grant.id.as_str().into(),
                    int(grant.version as i64),
                ])?;
            change.commit(update, after, grant.version as i64).await?;
            Ok("validated")
        }
        Err(IdentityFailure::TokenRefused(_)) => {
            let counts = (grant.failure_streak as u32, grant.failure_days as u32);
            mark_dead(change, DeadReason::RevokedOrExpired, counts).await?;
            Ok("dead")
        }
        Err(IdentityFailure::Failed(why)) => {
            // Not the platform's word on the grant: back off like any transient failure.
            let failure = RefreshFailure::Refused {
                status: 503,
                error: None,
                description: Some(why),
                retry_after_secs: None,
            };
            refresh::settle_failure(change, &failure, false).await?;
            Ok("validation_failed")
        }
    }
}
