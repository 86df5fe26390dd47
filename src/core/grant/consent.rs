//! Storing a consent: what the grant's object writes when a connect or a reconnect brings new
//! tokens, decided from plain facts. The object reads the facts, asks [`plan`], and carries the
//! plan out (seal, batch, answer); nothing here reads storage or the clock.
//!
//! The rules:
//! - a grant belongs to one tenant: another tenant's consent for it is refused;
//! - a stored refresh token is never overwritten with nothing (a new consent may not return
//!   one);
//! - a grant that cannot refresh is kept alive by validation instead;
//! - the version goes up by one, from 1 for a new grant;
//! - a consent starts the grant's life afresh: alive, refreshing ok, the ledger's date from
//!   this consent alone; a restored grant tells its connections (`connection.reconnected`).

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::grant_events::{self, Transition};
use crate::core::grant::grant_expiry::{grant_expires_at, Lifetimes};
use crate::core::grant::grant_health::{GrantState, RefreshState, Status};
use crate::core::grant::grant_tokens::{access_expiry, can_refresh, SecretText, TokenSet};
use crate::core::grant::refresh_schedule::{next_check_at, GrantTimes};
use crate::core::grant::scheduled_check::CheckSlot;
use crate::core::oauth::catalogue::{ProviderSpec, RefreshPolicy};

/// The grant as stored before the consent, where there is one.
pub struct StoredGrant<'a> {
    pub tenant_id: &'a TenantId,
    pub version: i64,
    pub next_post_at: Option<Timestamp>,
    /// Its standing as written, for the reconnected event's `from`.
    pub status: Status,
}

/// What the consent brought, and what it is judged against.
pub struct Consent<'a> {
    pub tenant_id: &'a TenantId,
    pub spec: &'a ProviderSpec,
    pub tokens: TokenSet,
    pub issued_at: Timestamp,
    pub lifetimes: Lifetimes,
    pub warnings: Warnings,
    /// The grant row's sequence number, stored or the one a new row takes: the scheduled
    /// check's slot.
    pub check_seq: u64,
    pub now: Timestamp,
}

/// Why a consent is not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The grant belongs to another tenant.
    OtherTenant,
}

/// What to write.
#[derive(Debug)]
pub struct StorePlan {
    /// The tokens to seal, the stored refresh token kept where the consent brought none.
    pub tokens: TokenSet,
    /// The version written; the write is a compare-and-swap on `replaces` when it is `Some`.
    pub version: i64,
    pub replaces: Option<i64>,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    pub policy: RefreshPolicy,
    pub next_check_at: Option<Timestamp>,
    /// The standing after the write: alive (by the ledger), refreshing ok.
    pub after: Status,
    /// `connection.reconnected`, for a restored grant.
    pub event: Option<Transition>,
}

/// The plan for `consent` over `stored`. `stored_refresh_token`: opens the stored tokens'
/// refresh token; called only when the consent brought none.
pub fn plan(
    consent: Consent<'_>,
    stored: Option<&StoredGrant<'_>>,
    stored_refresh_token: impl FnOnce() -> Option<SecretText>,
) -> Result<StorePlan, Refusal> {
    let Consent {
        tenant_id,
        spec,
        mut tokens,
        issued_at,
        lifetimes,
        warnings,
        check_seq,
        now,
    } = consent;
    if let Some(found) = stored {
        if found.tenant_id != tenant_id {
            return Err(Refusal::OtherTenant);
        }
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = stored_refresh_token();
        }
    }
    let access_expires_at = access_expiry(issued_at, lifetimes.expires_in);
    let refreshable = can_refresh(&spec.tokens, &tokens, access_expires_at, now);
    let grant_expires_at = grant_expires_at(
        &spec.tokens,
        lifetimes,
        tokens.refresh_token.is_some(),
        None,
        issued_at,
    );
    let policy = if refreshable {
        spec.refresh.policy
    } else {
        RefreshPolicy::Validate
    };
    let replaces = stored.map(|found| found.version);
    let version = replaces.map_or(1, |v| v + 1);
    // The sweep's first look at the grant, from its policy and the consent's expiries.
    let times = GrantTimes {
        access_expires_at,
        grant_expires_at,
        last_refresh_at: now,
        last_validated_at: None,
        retry_at: None,
        dead: false,
        refreshable,
        next_post_at: stored.and_then(|found| found.next_post_at),
        check_slot: CheckSlot::of_seq(check_seq),
    };
    let next_check_at = next_check_at(&spec.refresh, &times, warnings, now);
    let after = Status {
        grant: GrantState::at(grant_expires_at, None, warnings, now),
        refresh: RefreshState::Ok,
    };
    let event = stored.map(|found| grant_events::reconnected(found.status, after, version));
    Ok(StorePlan {
        tokens,
        version,
        replaces,
        access_expires_at,
        grant_expires_at,
        policy,
        next_check_at,
        after,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::grant::grant_events::EventKind;
    use crate::core::grant::grant_health::Colour;
    use crate::core::oauth::catalogue::Catalogue;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn tokens(refresh: Option<&str>) -> TokenSet {
        TokenSet {
            access_token: SecretText::new("at-new"),
            refresh_token: refresh.map(SecretText::new),
            account_tokens: Default::default(),
            dpop: None,
        }
    }

    fn consent<'a>(spec: &'a ProviderSpec, tenant: &'a TenantId, t: TokenSet) -> Consent<'a> {
        Consent {
            tenant_id: tenant,
            spec,
            tokens: t,
            issued_at: NOW,
            lifetimes: Lifetimes {
                expires_in: Some(7_200),
                refresh_expires_in: None,
            },
            warnings: Warnings::default(),
            check_seq: 17,
            now: NOW,
        }
    }

    fn stored(tenant: &TenantId) -> StoredGrant<'_> {
        StoredGrant {
            tenant_id: tenant,
            version: 4,
            next_post_at: None,
            status: Status {
                grant: GrantState::Dead {
                    reason: crate::core::grant::refresh_failure::DeadReason::RevokedOrExpired,
                },
                refresh: RefreshState::Ok,
            },
        }
    }

    fn x() -> ProviderSpec {
        Catalogue::builtin().get("x").unwrap().clone()
    }

    #[test]
    fn a_new_grant_starts_at_version_one_with_no_event() {
        let spec = x();
        let tenant = TenantId::from("ten_a");
        let plan = plan(consent(&spec, &tenant, tokens(Some("rt"))), None, || {
            panic!("nothing stored to open")
        })
        .unwrap();
        assert_eq!((plan.version, plan.replaces), (1, None));
        assert!(plan.event.is_none());
        assert_eq!(plan.policy, spec.refresh.policy);
        assert_eq!(plan.after.refresh, RefreshState::Ok);
        assert_eq!(plan.access_expires_at, Some(NOW.plus_millis(7_200_000)));
        assert!(plan.next_check_at.is_some());
    }

    #[test]
    fn another_tenants_grant_is_refused() {
        let spec = x();
        let (mine, theirs) = (TenantId::from("ten_a"), TenantId::from("ten_b"));
        let found = stored(&theirs);
        let refused = plan(
            consent(&spec, &mine, tokens(Some("rt"))),
            Some(&found),
            || None,
        );
        assert_eq!(refused.unwrap_err(), Refusal::OtherTenant);
    }

    #[test]
    fn a_stored_refresh_token_is_never_overwritten_with_nothing() {
        let spec = x();
        let tenant = TenantId::from("ten_a");
        let found = stored(&tenant);
        let kept = plan(consent(&spec, &tenant, tokens(None)), Some(&found), || {
            Some(SecretText::new("rt-stored"))
        })
        .unwrap();
        assert_eq!(
            kept.tokens.refresh_token.as_ref().map(SecretText::expose),
            Some("rt-stored")
        );
        // A consent that brings one replaces it, and the stored one is not even opened.
        let replaced = plan(
            consent(&spec, &tenant, tokens(Some("rt-new"))),
            Some(&found),
            || panic!("opened for nothing"),
        )
        .unwrap();
        assert_eq!(
            replaced
                .tokens
                .refresh_token
                .as_ref()
                .map(SecretText::expose),
            Some("rt-new")
        );
    }

    #[test]
    fn a_restored_grant_moves_up_one_version_and_is_reconnected() {
        let spec = x();
        let tenant = TenantId::from("ten_a");
        let found = stored(&tenant);
        let plan = plan(
            consent(&spec, &tenant, tokens(Some("rt"))),
            Some(&found),
            || None,
        )
        .unwrap();
        assert_eq!((plan.version, plan.replaces), (5, Some(4)));
        let event = plan.event.expect("a restored grant is reconnected");
        assert_eq!(event.kind, EventKind::Reconnected);
        assert_eq!(event.from, Colour::Red);
        assert_eq!(event.health.colour, Colour::Green);
    }

    #[test]
    fn a_grant_that_cannot_refresh_is_kept_by_validation() {
        let spec = x();
        let tenant = TenantId::from("ten_a");
        // X without a refresh token (no `offline.access`) cannot refresh.
        let plan = plan(consent(&spec, &tenant, tokens(None)), None, || None).unwrap();
        assert_eq!(plan.policy, RefreshPolicy::Validate);
    }
}
