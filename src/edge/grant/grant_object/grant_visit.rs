//! A visit to one grant inside its Durable Object: what the sweep's refresh-queue message and
//! the manual refresh route ask for.
//!
//! The core says what the visit does ([`visit`]): refresh (a lead time reached, a keep-alive
//! due, a backoff retry due), validate (no refresh exists), or only review (apply the ledger's
//! date: expiring inside the warning window, expired past the known death). Whatever it did,
//! the grant leaves with its next check computed and the sweep's lease released.

use super::writes;
use crate::core::grant::grant_health::{GrantState, RefreshState, Status};
use crate::core::grant::grant_tokens::{can_refresh, TokenSet};
use crate::core::grant::refresh_failure::{DeadReason, RefreshFailure};
use crate::core::grant::refresh_schedule::{visit, GrantTimes, Visit};
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::catalogue::GraphDialect;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::grant::grant_object::current::{
    current, dead_error, dead_verdict, open_tokens, spec_of, CurrentGrant, Memory,
};
use crate::edge::grant::grant_object::protocol::VisitAsk;
use crate::edge::grant::grant_object::refresh::{self, mark_dead, Change, Outcome};
use crate::edge::http::respond::{self, Handled};
use crate::edge::oauth::platform::{self, IdentityFailure};
use crate::store::StoreError;
use serde_json::json;
use worker::State;

pub async fn visit_in_object(
    cx: &Context,
    state: &State,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: VisitAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let now = clock::now(cx).await?;
    let db = cx.db()?;
    let Some(grant) = current(&db, &ask.grant_id)
        .await?
        .filter(|g| ask.tenant_id.as_ref().is_none_or(|t| *t == g.tenant_id))
    else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such grant.").into());
    };
    let done = |did: &str, grant: &CurrentGrant| {
        respond::json(200, &json!({"grant_id": grant.id, "did": did}))
    };
    if grant.state == GrantState::DEAD {
        if ask.force {
            return Err(dead_error(&grant).into());
        }
        release(&db, &grant).await?;
        return Ok(done("nothing_dead", &grant)?);
    }
    let catalogue = cx.catalogue()?;
    let spec = spec_of(&catalogue, &grant)?;
    let change = Change::new(cx, &db, &grant, &spec, now);
    let tokens = open_tokens(cx, &grant)?;
    let can_refresh = can_refresh(&spec.tokens, &tokens, grant.access_expires(), now);
    let mut times = grant.times(grant.access_expires(), grant.refreshed_at(), can_refresh);
    times.retry_at = (grant.refresh_state != RefreshState::Ok.as_str())
        .then_some(grant.next_check_at)
        .flatten();
    // Instagram refreshes a token only once it is a day old: asked earlier, nothing is sent.
    let too_young = now < spec.refresh.refreshable_from(grant.refreshed_at());
    if ask.force && can_refresh && too_young {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "{} renews a token only once it is {} hours old; this one was issued at {}.",
                spec.display_name,
                spec.refresh.min_age_secs.unwrap_or(0) / 3600,
                grant.refreshed_at().to_rfc3339()
            ),
        )
        .into());
    }
    let what = if ask.force && can_refresh {
        Visit::Refresh
    } else {
        visit(&spec.refresh, &times, now)
    };
    let did = match what {
        Visit::Refresh => refresh_visit(&change, state, memory, &tokens, ask.force).await?,
        // A refused token on a grant that can refresh is refreshed, not declared dead: only
        // the refresh's answer is the platform's word on the grant.
        Visit::Validate if spec.dialect() == Some(GraphDialect::Facebook) => {
            validate_pages(&change, &tokens).await?
        }
        Visit::Validate => match validate(&change, &tokens, can_refresh).await? {
            Some(did) => did,
            None => refresh_visit(&change, state, memory, &tokens, ask.force).await?,
        },
        Visit::Review => review(&change, &times).await?,
    };
    if !change.lease_released.get() {
        release(&db, &grant).await?;
    }
    Ok(done(did, &grant)?)
}

/// A refresh as a visit; `force` (the manual route) answers failures as errors.
async fn refresh_visit(
    change: &Change<'_>,
    state: &State,
    memory: &Memory,
    tokens: &TokenSet,
    force: bool,
) -> Handled<&'static str> {
    memory.note_refresh();
    Ok(match refresh::refresh(change, state, tokens).await? {
        Outcome::Refreshed { .. } => "refreshed",
        Outcome::Failed { message } if force => {
            return Err(ApiError::new(ErrorCode::RefreshFailed, message).into())
        }
        Outcome::Failed { .. } => "refresh_failed",
        Outcome::Dead(reason) if force => return Err(dead_verdict(reason).into()),
        Outcome::Dead(_) => "dead",
    })
}

/// Releases the sweep's lease.
async fn release(db: &worker::D1Database, grant: &CurrentGrant) -> Result<(), StoreError> {
    crate::store::sweep::release(db, &grant.id).await
}

/// Nothing to ask the platform: apply the ledger's date and schedule the next visit.
async fn review(change: &Change<'_>, times: &GrantTimes) -> Handled<&'static str> {
    let written = write_ledger(change, *times, change.before.refresh, false).await?;
    Ok(if written.is_none() {
        "expired"
    } else {
        "reviewed"
    })
}

/// Writes the ledger's verdict at `now` (dead past the known death) and the next check, with
/// `refresh` as the refresh state. `validated`: the identity call just confirmed the token,
/// which records the time and clears the failures. Answers the standing written, or `None`
/// when the grant expired.
async fn write_ledger(
    change: &Change<'_>,
    mut times: GrantTimes,
    refresh: RefreshState,
    validated: bool,
) -> Handled<Option<Status>> {
    let grant = change.grant;
    let counts = (grant.failure_streak as u32, grant.failure_days as u32);
    let ledger = GrantState::at(times.grant_expires_at, None, change.warnings, change.now);
    if let GrantState::Dead { reason } = ledger {
        mark_dead(change, reason, counts).await?;
        return Ok(None);
    }
    if validated {
        times.last_validated_at = Some(change.now);
    }
    let after = Status {
        grant: ledger,
        refresh,
    };
    let update = writes::reviewed(&writes::Reviewed {
        id: &grant.id,
        version: grant.version,
        state: after.grant,
        refresh: after.refresh,
        next_check_at: change.next_check(&times),
        grant_expires_at: times.grant_expires_at,
        validated_at: validated.then_some(change.now),
    });
    change.commit(update, after, grant.version).await?;
    Ok(Some(after))
}

/// A grant without a refresh token, or one due its regular check: the identity call says
/// whether its token still works, and the managed-accounts list which pages it still
/// administers. `None`: the platform refused the token of a grant that can refresh, which a
/// refresh must settle.
async fn validate(
    change: &Change<'_>,
    tokens: &TokenSet,
    refreshable: bool,
) -> Handled<Option<&'static str>> {
    let grant = change.grant;
    let access_token = &tokens.access_token;
    let checked = match &tokens.dpop {
        // Bluesky: getSession on the account's PDS, with the DPoP-bound token.
        Some(binding) => {
            crate::edge::oauth::atproto_client::session(change.cx, binding, access_token)
                .await
                .map(|_| Vec::new())
        }
        None => match platform::fetch_identity(change.cx, change.spec, access_token).await {
            Ok(_) => platform::fetch_managed_accounts(change.cx, change.spec, access_token).await,
            Err(e) => Err(e),
        },
    };
    match checked {
        Ok(managed) => {
            let times = grant.times(grant.access_expires(), grant.refreshed_at(), refreshable);
            let Some(written) = write_ledger(change, times, RefreshState::Ok, true).await? else {
                return Ok(Some("expired"));
            };
            let ids: Vec<String> = managed.into_iter().map(|a| a.external_id).collect();
            crate::edge::grant::connection_access::apply(change, written, &ids).await?;
            Ok(Some("validated"))
        }
        Err(IdentityFailure::TokenRefused(_)) if refreshable => Ok(None),
        Err(IdentityFailure::TokenRefused(_)) => {
            let counts = (grant.failure_streak as u32, grant.failure_days as u32);
            mark_dead(change, DeadReason::RevokedOrExpired, counts).await?;
            Ok(Some("dead"))
        }
        Err(IdentityFailure::Failed(why)) => told_nothing(change, why).await.map(Some),
    }
}

/// Facebook: `debug_token` on each Page's token. Meta naming the grant's end (password
/// changed, app removed, …) on any of them ends the grant; a lost role (492) turns that Page's
/// connection red only; the data-access date Meta reports becomes the ledger's date.
async fn validate_pages(change: &Change<'_>, tokens: &TokenSet) -> Handled<&'static str> {
    use crate::core::oauth::graph::TokenVerdict;
    let grant = change.grant;
    let client = change.client().await?;
    #[derive(serde::Deserialize)]
    struct Page {
        external_id: String,
    }
    let pages: Vec<Page> = crate::store::Db::all(
        change.db,
        crate::store::connections::live_external_ids(
            &grant.id,
            crate::core::oauth::graph::PAGE_KIND,
        ),
    )
    .await?;
    let (mut working, mut data_access_ends) = (Vec::new(), None::<i64>);
    for page in pages {
        let Some(token) = tokens.account_tokens.get(&page.external_id) else {
            continue;
        };
        let debug = match platform::debug_token(change.cx, change.spec, &client, token).await {
            Ok(debug) => debug,
            Err(why) => return told_nothing(change, why).await,
        };
        match debug.verdict() {
            None => {
                working.push(page.external_id);
                if let Some(at) = debug.data_access_expires_at {
                    data_access_ends = Some(data_access_ends.map_or(at, |d| d.max(at)));
                }
            }
            Some(TokenVerdict::Ended(reason)) => {
                let counts = (grant.failure_streak as u32, grant.failure_days as u32);
                mark_dead(change, reason, counts).await?;
                return Ok("dead");
            }
            Some(TokenVerdict::RoleLost | TokenVerdict::Unknown) => {}
        }
    }
    let mut times = grant.times(grant.access_expires(), grant.refreshed_at(), false);
    if let Some(secs) = data_access_ends {
        times.grant_expires_at = Some(crate::core::common::clock::Timestamp::from_millis(
            secs * 1000,
        ));
    }
    let Some(written) = write_ledger(change, times, RefreshState::Ok, true).await? else {
        return Ok("expired");
    };
    crate::edge::grant::connection_access::apply(change, written, &working).await?;
    Ok("validated")
}

/// A check that could not tell whether the token works is not the platform's word on the
/// grant: it backs off like any transient failure.
async fn told_nothing(change: &Change<'_>, why: String) -> Handled<&'static str> {
    let failure = RefreshFailure::Refused {
        status: 503,
        error: None,
        description: Some(why),
        retry_after_secs: None,
    };
    refresh::settle_failure(change, &failure, false).await?;
    Ok("validation_failed")
}
