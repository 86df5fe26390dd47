//! Events: one per change of a connection's standing, named for the scheduler app.
//!
//! The edge computes the grant's [`Status`] before and after each write and asks
//! [`transition`] what, if anything, happened. Each transition carries a dedupe key, inserted
//! (`INSERT OR IGNORE`) in the same guarded D1 batch as the state write, so a transition the
//! code reaches twice (a redelivered queue message, two sweeps) yields one event. The key names
//! what happened and to which version or date: a second, later failure streak is a new event;
//! the same one seen again is not.

use crate::core::grant_health::{GrantState, Health, RefreshState, Status};
use crate::core::refresh_failure::DeadReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The grant entered the warning window before its known death.
    Expiring,
    /// The grant reached its known death.
    Expired,
    /// The platform ended the grant (revoked, refused, lost): reconnect needed.
    Revoked,
    /// Refreshing started failing (outage, limits); the connection is kept.
    Degraded,
    /// Refreshing works again after failing.
    Recovered,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::Expiring,
        EventKind::Expired,
        EventKind::Revoked,
        EventKind::Degraded,
        EventKind::Recovered,
    ];

    /// The event type as webhooks and the API name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Expiring => "connection.expiring",
            EventKind::Expired => "connection.expired",
            EventKind::Revoked => "connection.revoked",
            EventKind::Degraded => "connection.degraded",
            EventKind::Recovered => "connection.recovered",
        }
    }
}

/// One change of standing, ready to be recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub kind: EventKind,
    /// Unique per grant and happening; the edge prefixes it with the connection id.
    pub dedupe_key: String,
    /// The connection's health after the change.
    pub health: Health,
}

/// What changed between `before` and `after` for a grant whose token version is `version`
/// after the write. `None` when nothing a scheduler app acts on changed.
pub fn transition(before: Status, after: Status, version: i64) -> Option<Transition> {
    let failing = |s: Status| s.refresh != RefreshState::Ok;
    let (kind, key) = match (before.grant, after.grant) {
        (GrantState::Dead { .. }, _) => return None,
        (_, GrantState::Dead { reason }) => {
            let kind = if reason == DeadReason::GrantExpired {
                EventKind::Expired
            } else {
                EventKind::Revoked
            };
            (kind, format!("dead:{version}"))
        }
        (GrantState::Alive, GrantState::Expiring { dies_at }) => (
            EventKind::Expiring,
            format!("expiring:{}", dies_at.as_millis()),
        ),
        _ if !failing(before) && failing(after) => {
            (EventKind::Degraded, format!("degraded:{version}"))
        }
        _ if failing(before) && !failing(after) => {
            (EventKind::Recovered, format!("recovered:{version}"))
        }
        _ => return None,
    };
    Some(Transition {
        kind,
        dedupe_key: key,
        health: after.health(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::clock::Timestamp;
    use crate::core::grant_health::Colour;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn status(grant: GrantState, refresh: RefreshState) -> Status {
        Status { grant, refresh }
    }

    const OK: RefreshState = RefreshState::Ok;
    const FAILING: RefreshState = RefreshState::BackingOff {
        failures: 1,
        retry_at: T0,
    };
    const ALIVE: GrantState = GrantState::Alive;

    fn dead(reason: DeadReason) -> GrantState {
        GrantState::Dead { reason }
    }

    fn kind(before: Status, after: Status) -> Option<EventKind> {
        transition(before, after, 7).map(|t| t.kind)
    }

    #[test]
    fn every_change_of_standing_is_named_and_nothing_else_is() {
        let expiring = GrantState::Expiring { dies_at: T0 };
        let cases = [
            (ALIVE, OK, ALIVE, OK, None),
            (ALIVE, OK, ALIVE, FAILING, Some(EventKind::Degraded)),
            (ALIVE, FAILING, ALIVE, FAILING, None),
            (ALIVE, FAILING, ALIVE, OK, Some(EventKind::Recovered)),
            (ALIVE, OK, expiring, OK, Some(EventKind::Expiring)),
            (expiring, OK, expiring, OK, None),
            (
                ALIVE,
                OK,
                dead(DeadReason::RevokedOrExpired),
                OK,
                Some(EventKind::Revoked),
            ),
            (
                ALIVE,
                FAILING,
                dead(DeadReason::RefreshKeptFailing),
                FAILING,
                Some(EventKind::Revoked),
            ),
            (
                expiring,
                OK,
                dead(DeadReason::GrantExpired),
                OK,
                Some(EventKind::Expired),
            ),
            // Dead stays dead: a second verdict is not a second event.
            (
                dead(DeadReason::RevokedOrExpired),
                OK,
                dead(DeadReason::RevokedOrExpired),
                OK,
                None,
            ),
        ];
        for (g0, r0, g1, r1, want) in cases {
            assert_eq!(
                kind(status(g0, r0), status(g1, r1)),
                want,
                "{g0:?}/{r0:?} -> {g1:?}/{r1:?}"
            );
        }
    }

    #[test]
    fn the_same_happening_has_the_same_key_and_a_later_one_a_new_key() {
        let before = status(ALIVE, OK);
        let after = status(ALIVE, FAILING);
        let first = transition(before, after, 3).unwrap();
        assert_eq!(first, transition(before, after, 3).unwrap());
        assert_ne!(
            first.dedupe_key,
            transition(before, after, 4).unwrap().dedupe_key,
            "a failure streak after a successful refresh is a new event"
        );
        let revoked = transition(before, status(dead(DeadReason::RevokedOrExpired), OK), 3);
        let revoked = revoked.unwrap();
        assert_eq!(revoked.health.colour, Colour::Red);
        assert_eq!(revoked.health.reason, "revoked_or_expired");
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("connection.")));
    }
}
