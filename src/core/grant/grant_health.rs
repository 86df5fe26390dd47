//! A grant's state and a connection's health: green, yellow or red, always with a reason a
//! person can act on.
//!
//! - The grant state comes from the ledger: alive, expiring (inside the warning window before
//!   its known death), or dead with a reason.
//! - The refresh state says whether refreshing works: ok, backing off after transient
//!   failures, or refused because the platform rejected the app's own client.
//! - Health combines them: red for a dead grant, yellow for an expiring one or a failing
//!   refresh (the token may still be good; nobody is told to reconnect for an outage),
//!   green otherwise.

use crate::core::common::clock::Timestamp;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::refresh_failure::DeadReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantState {
    Alive,
    /// Inside the warning window; the grant dies at the date. `stage_days`: the warning
    /// stage reached (`core::grant::expiry_warnings`), 0 when unknown (read back from storage).
    Expiring {
        dies_at: Timestamp,
        stage_days: u16,
    },
    Dead {
        reason: DeadReason,
    },
}

impl GrantState {
    /// The ledger's verdict at `now`: dead past the known death, expiring inside the window.
    pub fn at(
        grant_expires_at: Option<Timestamp>,
        dead: Option<DeadReason>,
        warnings: Warnings,
        now: Timestamp,
    ) -> Self {
        if let Some(reason) = dead {
            return GrantState::Dead { reason };
        }
        let Some(dies_at) = grant_expires_at else {
            return GrantState::Alive;
        };
        if now >= dies_at {
            return GrantState::Dead {
                reason: DeadReason::GrantExpired,
            };
        }
        match warnings.stage_at(dies_at, now) {
            Some(stage_days) => GrantState::Expiring {
                dies_at,
                stage_days,
            },
            None => GrantState::Alive,
        }
    }

    /// The stored form of a dead grant, whatever the reason (`grants.state`).
    pub const DEAD: &'static str = "dead";

    /// The stored form (`grants.state`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantState::Alive => "alive",
            GrantState::Expiring { .. } => "expiring",
            GrantState::Dead { .. } => Self::DEAD,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshState {
    Ok,
    /// `failures` transient failures in a row (0: held back by the platform's open circuit,
    /// not tried); the next attempt is at `retry_at`.
    BackingOff {
        failures: u32,
        retry_at: Timestamp,
    },
    /// The platform refused the app's client credentials: the operator must fix them.
    ClientRejected,
}

impl RefreshState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RefreshState::Ok => "ok",
            RefreshState::BackingOff { .. } => "backing_off",
            RefreshState::ClientRejected => "client_rejected",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    pub const ALL: [Colour; 3] = [Colour::Green, Colour::Yellow, Colour::Red];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Colour::Green => "green",
            Colour::Yellow => "yellow",
            Colour::Red => "red",
        }
    }
}

/// A grant's standing: the ledger's verdict and how refreshing goes. Events are the changes
/// of this ([`crate::core::grant::grant_events`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub grant: GrantState,
    pub refresh: RefreshState,
}

/// The stored columns a status is read from (`grants`), as plain values.
#[derive(Clone, Copy, Debug)]
pub struct StoredLedger<'a> {
    /// `alive`, `expiring` or `dead`.
    pub state: &'a str,
    pub state_reason: Option<&'a str>,
    /// `ok`, `backing_off` or `client_rejected`.
    pub refresh_state: &'a str,
    pub grant_expires_at: Option<Timestamp>,
    pub failure_streak: u32,
    pub next_check_at: Option<Timestamp>,
}

impl Status {
    /// The status at `now`. The ledger's date is applied even before the sweep has visited:
    /// a grant past its known death reads as dead, inside the window as expiring.
    pub fn of(stored: &StoredLedger<'_>, warnings: Warnings, now: Timestamp) -> Self {
        let dead =
            (stored.state == GrantState::DEAD).then(|| DeadReason::from_code(stored.state_reason));
        let grant = GrantState::at(stored.grant_expires_at, dead, warnings, now);
        Self {
            grant,
            refresh: Self::refresh_of(stored, now),
        }
    }

    /// The status as last written, without applying the ledger's date: what the events
    /// already announced, so the next write can tell what changed since (a grant written
    /// `alive` that is now inside the window is a change, and its warning is due).
    pub fn as_written(stored: &StoredLedger<'_>, now: Timestamp) -> Self {
        let grant = match (stored.state, stored.grant_expires_at) {
            ("dead", _) => GrantState::Dead {
                reason: DeadReason::from_code(stored.state_reason),
            },
            ("expiring", Some(dies_at)) => GrantState::Expiring {
                dies_at,
                stage_days: 0,
            },
            _ => GrantState::Alive,
        };
        Self {
            grant,
            refresh: Self::refresh_of(stored, now),
        }
    }

    fn refresh_of(stored: &StoredLedger<'_>, now: Timestamp) -> RefreshState {
        match stored.refresh_state {
            "backing_off" => RefreshState::BackingOff {
                failures: stored.failure_streak,
                retry_at: stored.next_check_at.unwrap_or(now),
            },
            "client_rejected" => RefreshState::ClientRejected,
            _ => RefreshState::Ok,
        }
    }

    pub fn health(self) -> Health {
        health(self.grant, self.refresh)
    }

    /// One connection's health under this grant: a connection that lost its access on the
    /// platform (a Page role removed) is red on its own, whatever the grant's standing;
    /// `why` is the platform's reason, when it gave one.
    pub fn connection_health(self, access_lost: bool, why: Option<&str>) -> Health {
        let grant = self.health();
        match access_lost {
            true if grant.colour != Colour::Red => Health {
                colour: Colour::Red,
                reason: "access_lost",
                message: why.map_or_else(
                    || {
                        "The account no longer has access to this page or profile on the \
                         platform. Restore the role, then reconnect."
                            .to_owned()
                    },
                    str::to_owned,
                ),
            },
            _ => grant,
        }
    }
}

/// A connection's health: its colour, a stable reason code and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    pub colour: Colour,
    pub reason: &'static str,
    pub message: String,
}

pub fn health(grant: GrantState, refresh: RefreshState) -> Health {
    match (grant, refresh) {
        (GrantState::Dead { reason }, _) => Health {
            colour: Colour::Red,
            reason: reason.code(),
            message: reason.message().to_owned(),
        },
        (_, RefreshState::ClientRejected) => Health {
            colour: Colour::Yellow,
            reason: "client_rejected",
            message: "The platform rejected this deployment's app credentials; the operator must \
                      fix them. The connection itself is kept."
                .to_owned(),
        },
        (
            _,
            RefreshState::BackingOff {
                failures: 0,
                retry_at,
            },
        ) => Health {
            colour: Colour::Yellow,
            reason: "refresh_failing",
            message: format!(
                "Refreshing is paused while the platform is failing for many connections; the \
                 next attempt is at {}. The connection is kept; nothing to do yet.",
                retry_at.to_rfc3339()
            ),
        },
        (_, RefreshState::BackingOff { failures, retry_at }) => Health {
            colour: Colour::Yellow,
            reason: "refresh_failing",
            message: format!(
                "Refreshing has failed {failures} time(s) in a row (the platform is unavailable \
                 or limiting us); the next attempt is at {}. The connection is kept; nothing to \
                 do yet.",
                retry_at.to_rfc3339()
            ),
        },
        (GrantState::Expiring { dies_at, .. }, RefreshState::Ok) => Health {
            colour: Colour::Yellow,
            reason: "grant_expiring",
            message: format!(
                "The platform ends this connection at {}; reconnect before then to keep it.",
                dies_at.to_rfc3339()
            ),
        },
        (GrantState::Alive, RefreshState::Ok) => Health {
            colour: Colour::Green,
            reason: "ok",
            message: "Connected.".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const DAY: i64 = 86_400_000;

    #[test]
    fn the_ledger_counts_down_to_the_known_death() {
        let dies = Some(T0.plus_millis(30 * DAY));
        let window = Warnings::default();
        assert_eq!(GrantState::at(dies, None, window, T0), GrantState::Alive);
        assert_eq!(
            GrantState::at(dies, None, window, T0.plus_millis(16 * DAY)),
            GrantState::Expiring {
                dies_at: T0.plus_millis(30 * DAY),
                stage_days: 14
            }
        );
        assert_eq!(
            GrantState::at(dies, None, window, T0.plus_millis(28 * DAY)),
            GrantState::Expiring {
                dies_at: T0.plus_millis(30 * DAY),
                stage_days: 3
            }
        );
        assert_eq!(
            GrantState::at(dies, None, window, T0.plus_millis(30 * DAY)).as_str(),
            "dead"
        );
        assert_eq!(GrantState::at(None, None, window, T0), GrantState::Alive);
        assert_eq!(
            GrantState::at(None, Some(DeadReason::RefreshResponseLost), window, T0),
            GrantState::Dead {
                reason: DeadReason::RefreshResponseLost
            }
        );
    }

    #[test]
    fn only_a_dead_grant_is_red_and_every_colour_has_a_reason() {
        let dead = GrantState::Dead {
            reason: DeadReason::RevokedOrExpired,
        };
        let backing_off = RefreshState::BackingOff {
            failures: 2,
            retry_at: T0.plus_millis(60_000),
        };
        let cases = [
            (GrantState::Alive, RefreshState::Ok, Colour::Green, "ok"),
            (dead, RefreshState::Ok, Colour::Red, "revoked_or_expired"),
            (dead, backing_off, Colour::Red, "revoked_or_expired"),
            (
                GrantState::Alive,
                backing_off,
                Colour::Yellow,
                "refresh_failing",
            ),
            (
                GrantState::Alive,
                RefreshState::ClientRejected,
                Colour::Yellow,
                "client_rejected",
            ),
            (
                GrantState::Expiring {
                    dies_at: T0,
                    stage_days: 14,
                },
                RefreshState::Ok,
                Colour::Yellow,
                "grant_expiring",
            ),
        ];
        for (grant, refresh, colour, reason) in cases {
            let h = health(grant, refresh);
            assert_eq!(
                (h.colour, h.reason),
                (colour, reason),
                "{grant:?} {refresh:?}"
            );
            assert!(!h.message.is_empty());
        }
    }

    #[test]
    fn the_stored_columns_read_as_a_status_with_the_ledger_applied() {
        let stored = StoredLedger {
            state: "alive",
            state_reason: None,
            refresh_state: "backing_off",
            grant_expires_at: Some(T0.plus_millis(10 * DAY)),
            failure_streak: 3,
            next_check_at: Some(T0.plus_millis(60_000)),
        };
        let status = Status::of(&stored, Warnings::default(), T0);
        assert_eq!(
            status.grant,
            GrantState::Expiring {
                dies_at: T0.plus_millis(10 * DAY),
                stage_days: 14
            },
            "inside the window before the sweep has written it"
        );
        assert_eq!(
            Status::as_written(&stored, T0).grant,
            GrantState::Alive,
            "as written, it is still alive: the warning is yet to be announced"
        );
        assert_eq!(
            status.refresh,
            RefreshState::BackingOff {
                failures: 3,
                retry_at: T0.plus_millis(60_000)
            }
        );
        let dead = StoredLedger {
            state: "dead",
            state_reason: Some("refresh_response_lost"),
            ..stored
        };
        assert_eq!(
            Status::of(&dead, Warnings::default(), T0).health().reason,
            "refresh_response_lost"
        );
        let unknown = StoredLedger {
            state: "dead",
            state_reason: Some("something_new"),
            ..stored
        };
        assert_eq!(
            Status::of(&unknown, Warnings::default(), T0)
                .health()
                .reason,
            "revoked_or_expired",
            "an unknown reason is the generic one, never alive"
        );
        let green = Status {
            grant: GrantState::Alive,
            refresh: RefreshState::Ok,
        };
        assert_eq!(green.connection_health(false, None).colour, Colour::Green);
        let paused = Status {
            grant: GrantState::Alive,
            refresh: RefreshState::BackingOff {
                failures: 0,
                retry_at: T0,
            },
        };
        assert!(paused.health().message.starts_with("Refreshing is paused"));
        let lost = green.connection_health(true, Some("Page role removed"));
        assert_eq!((lost.colour, lost.reason), (Colour::Red, "access_lost"));
        assert_eq!(lost.message, "Page role removed");
        assert_eq!(Colour::parse("yellow"), Some(Colour::Yellow));
        assert_eq!(Colour::parse("blue"), None);
    }
}
