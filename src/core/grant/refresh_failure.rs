//! Failure classes: what a failed refresh means for the grant.
//!
//! The rule that matters most: a grant is declared dead only when the platform says so, in
//! words the catalogue recognises ([`ProviderSpec::is_dead_grant_error`]). Everything else
//! (an outage, a rate limit, an answer we don't understand, our own client being refused) is
//! retried with backoff and never tells a user to reconnect. Postiz disconnected on any error;
//! Evergreen must not.
//!
//! A dead-grant answer to a *rotating* grant is still ambiguous: another writer may have
//! rotated the token a moment ago. The grant's Durable Object re-reads the grant before acting
//! on [`FailureClass::DeadGrant`] (see [`after_dead_answer`]).

use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_health::RefreshState;
use crate::core::grant::refresh_schedule::Backoff;
use crate::core::http::platform_answer::Answer;
use crate::core::oauth::catalogue::{ProviderSpec, RefreshTokenKind};

/// What went wrong, as the edge saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshFailure {
    /// No HTTP answer: a network error or the deadline passed. The platform may have done the
    /// work.
    NoAnswer,
    /// An HTTP answer that is not a token set: its status, and the OAuth `error` /
    /// `error_description` if the body carried them.
    Refused {
        status: u16,
        error: Option<String>,
        description: Option<String>,
        retry_after_secs: Option<u64>,
    },
    /// A 2xx whose body is not a usable token set (not JSON, an error inside a 200, no
    /// `access_token`).
    Malformed,
    /// The platform said, in its own dialect, that the grant ended and why (Meta's
    /// `OAuthException` 190 and its subcode).
    Ended(DeadReason),
}

/// Why a grant is dead, in words a person can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeadReason {
    /// The platform refused the refresh token. It does not say why (revoked by the user,
    /// expired, password change), so neither do we.
    RevokedOrExpired,
    /// A rotating grant's refresh answer was lost after the platform had rotated the token,
    /// and the stored token no longer works (the lost-outcome rule).
    RefreshResponseLost,
    /// Refreshing failed (outages, limits, an answer we could not read) on so many separate
    /// days that the connection cannot be counted on.
    RefreshKeptFailing,
    /// The grant reached the death date the platform gave it (the ledger's date passed).
    GrantExpired,
    /// Meta: the person changed their password (subcode 460).
    PasswordChanged,
    /// Meta: the person removed the app, or Meta told us so (subcode 458, deauthorize).
    AppRemoved,
    /// Meta: the session expired (subcode 463).
    SessionExpired,
    /// Meta: the account is held at a security checkpoint or unconfirmed (459, 464).
    Checkpoint,
}

impl DeadReason {
    pub const ALL: [DeadReason; 8] = [
        DeadReason::RevokedOrExpired,
        DeadReason::RefreshResponseLost,
        DeadReason::RefreshKeptFailing,
        DeadReason::GrantExpired,
        DeadReason::PasswordChanged,
        DeadReason::AppRemoved,
        DeadReason::SessionExpired,
        DeadReason::Checkpoint,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            DeadReason::RevokedOrExpired => "revoked_or_expired",
            DeadReason::RefreshResponseLost => "refresh_response_lost",
            DeadReason::RefreshKeptFailing => "refresh_kept_failing",
            DeadReason::GrantExpired => "grant_expired",
            DeadReason::PasswordChanged => "password_changed",
            DeadReason::AppRemoved => "app_removed",
            DeadReason::SessionExpired => "session_expired",
            DeadReason::Checkpoint => "checkpoint",
        }
    }

    /// The reason stored as `code`; an unknown code reads as the generic one, never as alive.
    pub fn from_code(code: Option<&str>) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| Some(r.code()) == code)
            .unwrap_or(DeadReason::RevokedOrExpired)
    }

    pub const fn message(self) -> &'static str {
        match self {
            DeadReason::RevokedOrExpired => {
                "The platform refused the connection's refresh token: access was revoked or \
                 expired at the platform. Reconnect the account."
            }
            DeadReason::RefreshResponseLost => {
                "The platform replaced the refresh token but its answer was lost on the way, \
                 so the new token never arrived. Reconnect the account."
            }
            DeadReason::RefreshKeptFailing => {
                "Refreshing the connection has failed on several separate days. Reconnect the \
                 account; if that fails too, the platform or the app's settings need a look."
            }
            DeadReason::GrantExpired => {
                "The platform ends every connection of this kind after a fixed time, and this \
                 one has reached it. Reconnect the account."
            }
            DeadReason::PasswordChanged => {
                "The account's password was changed, which ends every app's access at the \
                 platform. Reconnect the account."
            }
            DeadReason::AppRemoved => {
                "The app was removed from the account's settings at the platform. Reconnect \
                 the account to allow it again."
            }
            DeadReason::SessionExpired => {
                "The platform says the connection's session expired. Reconnect the account."
            }
            DeadReason::Checkpoint => {
                "The platform holds the account at a security check. Log in to the platform \
                 to clear it, then reconnect the account."
            }
        }
    }
}

/// What a failure means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// The platform says the grant is dead (to be confirmed by a re-read when it rotates).
    DeadGrant,
    /// Retry later. `outcome_unknown`: the platform may have rotated the refresh token
    /// (a rotating grant with no answer, or a 5xx that may come from a gateway after the
    /// work was done).
    Transient {
        retry_after_secs: Option<u64>,
        outcome_unknown: bool,
    },
    /// The platform refused our client credentials, not the user's grant: an operator must fix
    /// the configuration. The grant is kept and retried.
    ClientRejected,
}

/// The class of `failure` for a grant of `spec`.
pub fn classify(spec: &ProviderSpec, failure: &RefreshFailure) -> FailureClass {
    let rotating = spec.tokens.refresh_token == RefreshTokenKind::Rotating;
    match failure {
        RefreshFailure::NoAnswer => FailureClass::Transient {
            retry_after_secs: None,
            outcome_unknown: rotating,
        },
        RefreshFailure::Ended(_) => FailureClass::DeadGrant,
        RefreshFailure::Malformed => FailureClass::Transient {
            retry_after_secs: None,
            // A 200 with garbage may still have been a rotation.
            outcome_unknown: rotating,
        },
        RefreshFailure::Refused {
            status,
            error,
            description,
            retry_after_secs,
        } => {
            if let Some(error) = error {
                if spec.is_dead_grant_error(error, description.as_deref()) {
                    return FailureClass::DeadGrant;
                }
                if matches!(error.as_str(), "invalid_client" | "unauthorized_client") {
                    return FailureClass::ClientRejected;
                }
            }
            FailureClass::Transient {
                retry_after_secs: *retry_after_secs,
                // A failing platform (a 5xx but 503) may have rotated the token before failing.
                outcome_unknown: rotating && Answer::status(*status).class().outcome_unknown(),
            }
        }
    }
}

/// What the grant's Durable Object does after a dead-grant answer, having re-read the grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterDeadAnswer {
    /// The stored token changed since we read it: someone else refreshed. Use the stored
    /// tokens; the grant is fine.
    RaceLost,
    /// The stored token is the one refused, and it was refused right after an unknown
    /// outcome: the lost-outcome rule says the grant is dead with "refresh response lost".
    DeadResponseLost,
    /// The stored token is the one refused: the grant is dead.
    Dead,
}

/// The re-read's verdict. `stored_version_changed`: the grant's token version moved since the
/// refresh read it. `after_unknown_outcome`: this refresh was the single retry the lost-outcome
/// rule allows after a rotating refresh whose answer never arrived.
pub fn after_dead_answer(
    stored_version_changed: bool,
    after_unknown_outcome: bool,
) -> AfterDeadAnswer {
    match (stored_version_changed, after_unknown_outcome) {
        (true, _) => AfterDeadAnswer::RaceLost,
        (false, true) => AfterDeadAnswer::DeadResponseLost,
        (false, false) => AfterDeadAnswer::Dead,
    }
}

impl AfterDeadAnswer {
    pub const fn dead_reason(self) -> Option<DeadReason> {
        match self {
            AfterDeadAnswer::RaceLost => None,
            AfterDeadAnswer::DeadResponseLost => Some(DeadReason::RefreshResponseLost),
            AfterDeadAnswer::Dead => Some(DeadReason::RevokedOrExpired),
        }
    }
}

/// What the grant's record says of its failures before this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureRecord {
    /// Failed refreshes in a row.
    pub streak: u32,
    /// Separate UTC days with a failure.
    pub days: u32,
    pub last_failure_at: Option<Timestamp>,
}

/// How a failed refresh settles the grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// The grant is dead for `reason`; the streak and day count are recorded as given.
    Dead {
        reason: DeadReason,
        streak: u32,
        days: u32,
    },
    /// Another refresh finished first: nothing is written, the caller tries again.
    RaceLost,
    /// Kept, and tried again.
    Retry(Retry),
}

/// A failed refresh the grant survives: tried again at `retry_at`, with `refresh` as its
/// refresh state, the counts recorded, and `message` for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub refresh: RefreshState,
    pub streak: u32,
    pub days: u32,
    pub retry_at: Timestamp,
    pub message: &'static str,
}

/// The facts a failed refresh is settled from.
pub struct FailedRefresh<'a> {
    pub class: FailureClass,
    pub failure: &'a RefreshFailure,
    /// For a dead-grant answer only: the stored grant moved on since the refresh read it (or
    /// is gone). The re-read is needed for nothing else.
    pub stored_changed: bool,
    /// This refresh was the one retry allowed after a rotating refresh's lost answer.
    pub after_unknown_outcome: bool,
    pub record: FailureRecord,
}

/// Settles a failed refresh: dead (only on the platform's word, or after failing on
/// `schedule.red_after_days` separate days), a lost race, or a retry with backoff. `jitter` is
/// in [0, 1).
pub fn settle(
    facts: &FailedRefresh<'_>,
    schedule: Backoff,
    jitter: f64,
    now: Timestamp,
) -> Settlement {
    let record = facts.record;
    if facts.class == FailureClass::DeadGrant {
        let verdict = after_dead_answer(facts.stored_changed, facts.after_unknown_outcome);
        let Some(reason) = verdict.dead_reason() else {
            return Settlement::RaceLost;
        };
        // The platform's own reason, where it named one.
        let reason = match (reason, facts.failure) {
            (DeadReason::RevokedOrExpired, RefreshFailure::Ended(named)) => *named,
            _ => reason,
        };
        return Settlement::Dead {
            reason,
            streak: record.streak,
            days: record.days,
        };
    }
    let streak = record.streak + 1;
    let days = schedule.failure_days_after(record.days, record.last_failure_at, now);
    if schedule.gives_up(days) {
        return Settlement::Dead {
            reason: DeadReason::RefreshKeptFailing,
            streak,
            days,
        };
    }
    let (retry_after, client_rejected, message) = match &facts.class {
        FailureClass::Transient {
            retry_after_secs, ..
        } => (
            *retry_after_secs,
            false,
            "The platform did not refresh the token (it is failing or limiting us); \
             retrying with backoff.",
        ),
        _ => (
            None,
            true,
            "The platform rejected this deployment's app credentials; the operator must fix them.",
        ),
    };
    let retry_at = now.plus_millis(schedule.delay_ms(streak, jitter, retry_after));
    let refresh = if client_rejected {
        RefreshState::ClientRejected
    } else {
        RefreshState::BackingOff {
            failures: streak,
            retry_at,
        }
    };
    Settlement::Retry(Retry {
        refresh,
        streak,
        days,
        retry_at,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn failed(class: FailureClass, failure: &RefreshFailure) -> FailedRefresh<'_> {
        FailedRefresh {
            class,
            failure,
            stored_changed: false,
            after_unknown_outcome: false,
            record: FailureRecord {
                streak: 2,
                days: 1,
                last_failure_at: Some(NOW.plus_millis(-60_000)),
            },
        }
    }

    #[test]
    fn a_dead_answer_kills_with_the_platforms_reason_unless_the_race_was_lost() {
        let ended = RefreshFailure::Ended(DeadReason::AppRemoved);
        let mut facts = failed(FailureClass::DeadGrant, &ended);
        assert_eq!(
            settle(&facts, Backoff::default(), 0.5, NOW),
            Settlement::Dead {
                reason: DeadReason::AppRemoved,
                streak: 2,
                days: 1
            }
        );
        facts.after_unknown_outcome = true;
        assert_eq!(
            settle(&facts, Backoff::default(), 0.5, NOW),
            Settlement::Dead {
                reason: DeadReason::RefreshResponseLost,
                streak: 2,
                days: 1
            }
        );
        facts.stored_changed = true;
        assert_eq!(
            settle(&facts, Backoff::default(), 0.5, NOW),
            Settlement::RaceLost
        );
    }

    #[test]
    fn a_transient_failure_backs_off_and_counts() {
        let failure = RefreshFailure::NoAnswer;
        let class = FailureClass::Transient {
            retry_after_secs: Some(3_600),
            outcome_unknown: false,
        };
        let Settlement::Retry(Retry {
            refresh,
            streak,
            days,
            retry_at,
            ..
        }) = settle(&failed(class, &failure), Backoff::default(), 0.0, NOW)
        else {
            panic!("a transient failure is retried");
        };
        assert_eq!((streak, days), (3, 1), "same UTC day: the day count stays");
        // Never sooner than the platform's Retry-After.
        assert_eq!(retry_at, NOW.plus_millis(3_600_000));
        assert_eq!(
            refresh,
            RefreshState::BackingOff {
                failures: 3,
                retry_at
            }
        );
    }

    #[test]
    fn client_credentials_refused_are_for_the_operator_and_keep_the_grant() {
        let failure = RefreshFailure::Refused {
            status: 401,
            error: Some("invalid_client".into()),
            description: None,
            retry_after_secs: None,
        };
        match settle(
            &failed(FailureClass::ClientRejected, &failure),
            Backoff::default(),
            0.0,
            NOW,
        ) {
            Settlement::Retry(Retry {
                refresh, message, ..
            }) => {
                assert_eq!(refresh, RefreshState::ClientRejected);
                assert!(message.contains("operator"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failing_on_enough_separate_days_ends_the_grant() {
        let failure = RefreshFailure::NoAnswer;
        let class = FailureClass::Transient {
            retry_after_secs: None,
            outcome_unknown: false,
        };
        let mut facts = failed(class, &failure);
        facts.record = FailureRecord {
            streak: 9,
            days: 2,
            last_failure_at: Some(NOW.plus_millis(-2 * 86_400_000)),
        };
        assert_eq!(
            settle(&facts, Backoff::default(), 0.0, NOW),
            Settlement::Dead {
                reason: DeadReason::RefreshKeptFailing,
                streak: 10,
                days: 3
            }
        );
    }
    use crate::core::oauth::catalogue::Catalogue;

    fn spec(name: &str) -> ProviderSpec {
        Catalogue::builtin().get(name).unwrap().clone()
    }

    fn refused(status: u16, error: &str, description: &str) -> RefreshFailure {
        RefreshFailure::Refused {
            status,
            error: Some(error.to_owned()),
            description: Some(description.to_owned()),
            retry_after_secs: None,
        }
    }

    #[test]
    fn only_the_platforms_own_dead_grant_answers_kill_a_grant() {
        let (x, yt) = (spec("x"), spec("youtube"));
        assert_eq!(
            classify(
                &x,
                &refused(
                    400,
                    "invalid_request",
                    "Value passed for the token was invalid."
                )
            ),
            FailureClass::DeadGrant
        );
        assert_eq!(
            classify(
                &yt,
                &refused(400, "invalid_grant", "Token has been expired or revoked.")
            ),
            FailureClass::DeadGrant
        );
        // X's invalid_request for a malformed request of ours is not a dead grant.
        assert!(matches!(
            classify(
                &x,
                &refused(
                    400,
                    "invalid_request",
                    "Missing required parameter [code_verifier]."
                )
            ),
            FailureClass::Transient { .. }
        ));
        // An error nobody catalogued is retried, never a reason to reconnect.
        assert!(matches!(
            classify(&yt, &refused(400, "temporarily_unavailable", "")),
            FailureClass::Transient { .. }
        ));
    }

    #[test]
    fn a_refused_client_is_an_operator_problem_not_a_dead_grant() {
        for error in ["invalid_client", "unauthorized_client"] {
            assert_eq!(
                classify(&spec("x"), &refused(401, error, "")),
                FailureClass::ClientRejected
            );
        }
    }

    #[test]
    fn outages_are_transient_and_rotating_grants_remember_the_outcome_is_unknown() {
        let (x, yt) = (spec("x"), spec("youtube"));
        let limited = RefreshFailure::Refused {
            status: 429,
            error: None,
            description: None,
            retry_after_secs: Some(30),
        };
        assert_eq!(
            classify(&x, &limited),
            FailureClass::Transient {
                retry_after_secs: Some(30),
                outcome_unknown: false
            }
        );
        let gateway = RefreshFailure::Refused {
            status: 502,
            error: None,
            description: None,
            retry_after_secs: None,
        };
        for (failure, rotating_unknown) in [
            (RefreshFailure::NoAnswer, true),
            (RefreshFailure::Malformed, true),
            (gateway, true),
            (
                RefreshFailure::Refused {
                    status: 503,
                    error: None,
                    description: None,
                    retry_after_secs: None,
                },
                false,
            ),
        ] {
            assert_eq!(
                classify(&x, &failure),
                FailureClass::Transient {
                    retry_after_secs: None,
                    outcome_unknown: rotating_unknown
                },
                "{failure:?}"
            );
            assert_eq!(
                classify(&yt, &failure),
                FailureClass::Transient {
                    retry_after_secs: None,
                    outcome_unknown: false
                },
                "a reusable refresh token is never lost: {failure:?}"
            );
        }
    }

    #[test]
    fn a_dead_answer_is_confirmed_by_re_reading_the_grant() {
        assert_eq!(after_dead_answer(true, false), AfterDeadAnswer::RaceLost);
        assert_eq!(after_dead_answer(true, true), AfterDeadAnswer::RaceLost);
        assert_eq!(
            after_dead_answer(false, true).dead_reason(),
            Some(DeadReason::RefreshResponseLost)
        );
        assert_eq!(
            after_dead_answer(false, false).dead_reason(),
            Some(DeadReason::RevokedOrExpired)
        );
        assert_eq!(AfterDeadAnswer::RaceLost.dead_reason(), None);
    }
}
