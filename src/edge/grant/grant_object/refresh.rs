//! One refresh of one grant, inside the grant's Durable Object (its only writer), which holds
//! its refresh lock around this: concurrent callers wait, then find the new token stored.
//!
//! The steps, in order:
//! 1. claim: a write-ahead marker in D1 (`claim_id`), and the same marker in the object's own
//!    storage. The claim is conditional: a live claim (another instance may be mid-call
//!    with the same refresh token) makes this attempt wait; an expired one means an earlier
//!    refresh never finished (its runtime died mid-call, see docs/spike-kill-mid-call.md):
//!    its outcome is unknown;
//! 2. the provider call (`platform::refresh`);
//! 3. the lost-outcome rule: a rotating grant whose answer may have been lost retries once
//!    with the stored token; if the platform then refuses that token, the grant is dead with
//!    "refresh response lost";
//! 4. one guarded write: new tokens and version (compare-and-swap, `changes` checked), or the
//!    dead state, or the backoff, in one D1 batch with the event its change of standing
//!    calls for (`events`). The decisions are the core's (`refresh_failure`,
//!    `refresh_schedule`, `grant_events`, `circuit`); this module only carries them out.
//!
//! Before all this, the platform's circuit (`circuits`) may hold the call back: then nothing
//! is asked, the grant waits for the circuit, and it is not counted as failing.

use super::writes;
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::random_bytes;
use crate::core::common::log::LogLine;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::grant_events::transitions;
use crate::core::grant::grant_expiry::{grant_expires_at, Lifetimes};
use crate::core::grant::grant_health::{GrantState, RefreshState, Status};
use crate::core::grant::grant_tokens::{access_expiry, can_refresh, TokenSet};
use crate::core::grant::refresh_failure::{self, FailedRefresh, FailureRecord, Retry, Settlement};
use crate::core::grant::refresh_failure::{classify, DeadReason, FailureClass, RefreshFailure};
use crate::core::grant::refresh_schedule::{next_check_at, GrantTimes};
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::catalogue::{ProviderSpec, RefreshTokenKind};
use crate::core::oauth::token_response::TokenAnswer;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::circuits;
use crate::edge::grant::grant_object::current::{binding, CurrentGrant};
use crate::edge::http::respond::Handled;
use crate::edge::oauth::platform;
use crate::edge::webhooks::events::{self, Written};
use crate::edge::webhooks::outbox;
use crate::store::Db;
use worker::{D1Database, State};

/// How long a claim holds. Longer than the HTTP deadline (30 s), as the spike showed.
pub(in crate::edge) const CLAIM_TTL_MS: i64 = 60_000;
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

/// One grant being written, with its standing before the write.
pub struct Change<'a> {
    pub cx: &'a Context,
    pub db: &'a D1Database,
    pub grant: &'a CurrentGrant,
    pub spec: &'a ProviderSpec,
    /// As last written: what the events already told.
    pub before: Status,
    pub warnings: Warnings,
    pub now: Timestamp,
    /// A commit released the sweep's lease on the grant (in its own batch): the visit need not.
    pub lease_released: std::cell::Cell<bool>,
}

impl<'a> Change<'a> {
    pub fn new(
        cx: &'a Context,
        db: &'a D1Database,
        grant: &'a CurrentGrant,
        spec: &'a ProviderSpec,
        now: Timestamp,
    ) -> Self {
        Self {
            cx,
            db,
            grant,
            spec,
            before: grant.written_status(now),
            warnings: cx.settings().warnings,
            now,
            lease_released: std::cell::Cell::new(false),
        }
    }

    fn version(&self) -> i64 {
        self.grant.version
    }

    /// The OAuth client the grant's tenant uses on its platform, or `provider_not_configured`.
    pub async fn client(&self) -> Handled<platform::ClientCredentials> {
        let spec = self.spec;
        Ok(
            platform::client_credentials(self.cx, self.db, &self.grant.tenant_id, spec)
                .await
                .map_err(worker::Error::RustError)?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::ProviderNotConfigured,
                        format!("No OAuth client is configured for {}.", spec.display_name),
                    )
                })?,
        )
    }

    /// The ledger's verdict at `now` for a grant that is not dead by the platform's word.
    pub fn ledger(&self) -> GrantState {
        GrantState::at(self.grant.grant_expires_at, None, self.warnings, self.now)
    }

    /// Runs `update` (which must set the grant's standing columns to `after` and match only
    /// the expected version) and the event `after` calls for, in one batch. Whether the write
    /// landed: the compare-and-swap's `changes`.
    ///
    /// The batch ends by releasing the sweep's lease on the grant: the write has set its next
    /// check (or lost to one that did), so the sweep may take it again, and the visit saves a
    /// round trip of its own. (Outside a visit there is no lease, and the release is a no-op.)
    pub async fn commit(
        &self,
        update: crate::store::Statement,
        after: Status,
        version_after: i64,
    ) -> Handled<bool> {
        let mut batch = vec![update];
        let happened = transitions(self.before, after, version_after);
        let written = Written {
            grant_id: &self.grant.id,
            version: version_after,
            state: after.grant.as_str(),
            refresh_state: after.refresh.as_str(),
        };
        let mut recorded = events::Recorded::default();
        for t in &happened {
            recorded.push(&mut batch, &written, t, None, self.now);
        }
        batch.push(crate::store::sweep::release_lease(&self.grant.id));
        let results = crate::store::Db::batch(self.db, batch).await?;
        self.lease_released.set(true);
        recorded.log(&results, &self.grant.id, self.now);
        let landed = results.first().map(|r| r.changes) == Some(1);
        if landed && !happened.is_empty() {
            outbox::hand_off(self.cx, self.db, &self.grant.id, self.now).await;
        }
        Ok(landed)
    }

    /// When the sweep looks at the grant next, after this write.
    pub fn next_check(&self, times: &GrantTimes) -> Option<Timestamp> {
        next_check_at(&self.spec.refresh, times, self.warnings, self.now)
    }
}

/// `grants.state` and `grants.state_reason` for a grant state.
pub fn state_columns(grant: GrantState) -> (&'static str, Option<&'static str>) {
    match grant {
        GrantState::Dead { reason } => ("dead", Some(reason.code())),
        other => (other.as_str(), None),
    }
}

pub(in crate::edge) fn jitter() -> f64 {
    random_bytes::<2>().map_or(0.5, |b| f64::from(u16::from_le_bytes(b)) / 65_536.0)
}

pub async fn refresh(change: &Change<'_>, state: &State, tokens: &TokenSet) -> Handled<Outcome> {
    let Change {
        cx,
        db,
        grant,
        spec,
        now,
        ..
    } = *change;
    // Instagram renews the access token itself; everyone else needs a refresh token.
    let renews_access_token = spec.tokens.refresh_token == RefreshTokenKind::AccessToken;
    let refresh_token = match (&tokens.refresh_token, renews_access_token) {
        (Some(token), false) => token.clone(),
        (_, true) => tokens.access_token.clone(),
        (None, false) => {
            return Ok(Outcome::Failed {
                message: "The platform gave this connection no refresh token.".to_owned(),
            })
        }
    };
    let client = change.client().await?;
    let breaker = cx.settings().circuit_breaker;
    let circuit = match circuits::admit(db, &spec.name, breaker, now).await? {
        circuits::Gate::Go(circuit) => circuit,
        circuits::Gate::Wait { until } => return hold_back(change, until).await,
    };
    let rotating = spec.tokens.refresh_token == RefreshTokenKind::Rotating;

    // 1. Claim, unless another instance holds a live claim (it may be mid-call with the same
    // refresh token). A claim left behind and expired means an earlier refresh never finished:
    // its outcome is unknown.
    let mut outcome_unknown = rotating && grant.claim_id.is_some();
    if !take_claim(change, state).await? {
        return Ok(Outcome::Failed {
            message: "Another refresh of this connection is in flight; try again in a minute."
                .to_owned(),
        });
    }

    // 2 and 3. The call, and the single retry of the lost-outcome rule.
    let call = || async {
        if let Some(binding) = &tokens.dpop {
            crate::edge::oauth::atproto_client::refresh(cx, &client, binding, &refresh_token).await
        } else if renews_access_token {
            platform::refresh_access_token(cx, spec, &refresh_token).await
        } else {
            platform::refresh(cx, spec, &client, &refresh_token).await
        }
    };
    let mut result = call().await;
    if let Err(failure) = &result {
        if let FailureClass::Transient {
            outcome_unknown: true,
            ..
        } = classify(spec, failure)
        {
            outcome_unknown = true;
            result = call().await;
        }
    }
    let platform_failing = matches!(
        result.as_ref().map_err(|f| classify(spec, f)),
        Err(FailureClass::Transient { .. })
    );
    circuits::record(db, &spec.name, circuit, platform_failing, breaker, now).await?;

    // 4. One write.
    let outcome = match result {
        Ok(answer) => {
            let access_expires_at = access_expiry(now, answer.expires_in);
            let lifetimes = Lifetimes {
                expires_in: answer.expires_in,
                refresh_expires_in: answer.refresh_expires_in,
            };
            let renewed = renewed(tokens, answer);
            store_refreshed(change, &renewed, lifetimes).await?;
            Outcome::Refreshed {
                tokens: renewed,
                access_expires_at,
            }
        }
        Err(failure) => settle_failure(change, &failure, outcome_unknown).await?,
    };
    state.storage().delete(IN_FLIGHT_KEY).await?;
    Ok(outcome)
}

/// The tokens after a refresh: the answer's, the stored refresh token kept when the answer
/// brought none, and the accounts' own tokens unchanged.
fn renewed(tokens: &TokenSet, answer: TokenAnswer) -> TokenSet {
    TokenSet {
        access_token: answer.access_token,
        refresh_token: answer
            .refresh_token
            .or_else(|| tokens.refresh_token.clone()),
        account_tokens: tokens.account_tokens.clone(),
        dpop: tokens.dpop.clone(),
    }
}

/// Claims the grant's refresh, unless another instance holds a live claim (it may be mid-call
/// with the same refresh token); the claim is also kept in the object's storage, so a
/// superseded instance of this object fails there, before it can rotate anything.
async fn take_claim(change: &Change<'_>, state: &State) -> Handled<bool> {
    let claim = crate::core::common::ids::ClaimId::mint()?;
    let claimed = change
        .db
        .run(writes::claim_refresh(
            &change.grant.id,
            change.version(),
            &claim,
            change.now.plus_millis(CLAIM_TTL_MS),
            change.now,
        ))
        .await?;
    if claimed.changes != 1 {
        return Ok(false);
    }
    state.storage().put(IN_FLIGHT_KEY, claim.as_str()).await?;
    Ok(true)
}

/// Stores a refresh's tokens (before anything else is done with them: a rotated refresh token
/// is the only one that works now), with the access token's expiry and the ledger's date as
/// the answer gives them.
async fn store_refreshed(
    change: &Change<'_>,
    tokens: &TokenSet,
    lifetimes: Lifetimes,
) -> Handled<()> {
    let Change { cx, grant, now, .. } = *change;
    let old = change.version();
    let sealed = cx.keyring()?.seal(
        binding(&grant.tenant_id, &grant.id, old + 1),
        &tokens.to_bytes(),
    )?;
    let access_expires_at = access_expiry(now, lifetimes.expires_in);
    let refreshable = can_refresh(&change.spec.tokens, tokens, access_expires_at, now);
    let dies_at = grant_expires_at(
        &change.spec.tokens,
        lifetimes,
        tokens.refresh_token.is_some(),
        grant.grant_expires_at,
        now,
    );
    let after = Status {
        grant: GrantState::at(dies_at, None, change.warnings, now),
        refresh: RefreshState::Ok,
    };
    let mut times = grant.times(access_expires_at, now, refreshable);
    times.grant_expires_at = dies_at;
    let next = change.next_check(&times);
    let update = writes::refreshed(&writes::Refreshed {
        id: &grant.id,
        version: old,
        token_ciphertext: &sealed.blob,
        key_id: sealed.key_id.as_str(),
        access_expires_at,
        grant_expires_at: dies_at,
        state: after.grant,
        next_check_at: next,
        now,
    });
    if !change.commit(update, after, old + 1).await? {
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

pub async fn settle_failure(
    change: &Change<'_>,
    failure: &RefreshFailure,
    outcome_unknown: bool,
) -> Handled<Outcome> {
    let Change {
        cx,
        db,
        grant,
        spec,
        now,
        ..
    } = *change;
    let class = classify(spec, failure);
    let log = LogLine::warn("grant.refresh_failed", now)
        .field("grant_id", grant.id.as_str())
        .field("provider", spec.name.as_str())
        .field("failure", format!("{failure:?}"))
        .field("class", format!("{class:?}"));
    logging::emit(&log);
    // Only a dead-grant answer needs the stored grant re-read: did another refresh win?
    let stored_changed = match class {
        FailureClass::DeadGrant => {
            let stored = crate::edge::grant::grant_object::current::current(db, &grant.id).await?;
            stored.is_none_or(|g| g.version != grant.version)
        }
        _ => false,
    };
    let facts = FailedRefresh {
        class,
        failure,
        stored_changed,
        after_unknown_outcome: outcome_unknown,
        record: FailureRecord {
            streak: grant.failure_streak as u32,
            days: grant.failure_days as u32,
            last_failure_at: grant.last_failure_at,
        },
    };
    let Retry {
        refresh,
        streak,
        days,
        retry_at,
        message,
    } = match refresh_failure::settle(&facts, cx.settings().refresh_backoff, jitter(), now) {
        Settlement::Retry(retry) => retry,
        Settlement::Dead {
            reason,
            streak,
            days,
        } => return mark_dead(change, reason, (streak, days)).await,
        Settlement::RaceLost => {
            return Ok(Outcome::Failed {
                message: "Another refresh finished first; try again.".to_owned(),
            })
        }
    };
    let after = Status {
        grant: change.ledger(),
        refresh,
    };
    // An unknown outcome keeps the claim, expired at once (nobody is in flight any more), so
    // the next attempt may take it over and knows the outcome is unknown.
    let update = writes::refresh_failed(&writes::RefreshFailed {
        id: &grant.id,
        version: change.version(),
        refresh: after.refresh,
        failure_streak: streak,
        failure_days: days,
        message,
        retry_at,
        outcome_unknown,
        state: after.grant,
        now,
    });
    change.commit(update, after, change.version()).await?;
    Ok(Outcome::Failed {
        message: message.to_owned(),
    })
}

/// The platform's circuit is open: nothing is asked. The grant waits until the circuit may
/// let a call through, and is not counted as failing (it was not tried).
async fn hold_back(change: &Change<'_>, until: Timestamp) -> Handled<Outcome> {
    let Change {
        grant, spec, now, ..
    } = *change;
    // Spread the waiting grants over a minute past the reopening, not all at the same instant.
    let retry_at = until.plus_millis((jitter() * 60_000.0) as i64);
    let message = format!(
        "{} is failing for many connections, so calls are paused until {}; the connection is \
         kept and retried then.",
        spec.display_name,
        until.to_rfc3339()
    );
    let after = Status {
        grant: change.ledger(),
        refresh: RefreshState::BackingOff {
            failures: grant.failure_streak as u32,
            retry_at,
        },
    };
    let update = writes::held_back(
        &grant.id,
        change.version(),
        &message,
        retry_at,
        after.grant,
        now,
    );
    change.commit(update, after, change.version()).await?;
    Ok(Outcome::Failed { message })
}

/// Ends the grant: dead with `reason` (its message is what readers are told), nothing more to
/// check, the claim released. `failures`: the streak and the count of failure days to record.
pub async fn mark_dead(
    change: &Change<'_>,
    reason: DeadReason,
    (streak, days): (u32, u32),
) -> Handled<Outcome> {
    let Change { grant, now, .. } = *change;
    let after = Status {
        grant: GrantState::Dead { reason },
        refresh: change.before.refresh,
    };
    let update = writes::mark_dead(&grant.id, change.version(), reason, (streak, days), now);
    change.commit(update, after, change.version()).await?;
    Ok(Outcome::Dead(reason))
}
