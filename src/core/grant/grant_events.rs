//! Events: one per change of a connection's standing, named for the scheduler app.
//!
//! The edge reads the grant's [`Status`] as last written and as it is after each write, and
//! asks [`transitions`] what, if anything, happened. Each transition carries a dedupe key, inserted
//! (`INSERT OR IGNORE`) in the same guarded D1 batch as the state write, so a transition the
//! code reaches twice (a redelivered queue message, two sweeps) yields one event. The key names
//! what happened and to which version or date: a second, later failure streak is a new event;
//! the same one seen again is not.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::common::log::LogLine;
use crate::core::grant::grant_health::{Colour, GrantState, Health, RefreshState, Status};
use crate::core::grant::refresh_failure::DeadReason;

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
    /// A new consent restored the grant in place (reconnect link, or connecting the same
    /// account again): same connection ids.
    Reconnected,
    /// The connection was removed through the API.
    Disconnected,
    /// The account lost its role on this page at the platform (the grant itself is fine).
    AccessLost,
    /// The role came back: the page is usable again.
    AccessRestored,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Expiring,
        EventKind::Expired,
        EventKind::Revoked,
        EventKind::Degraded,
        EventKind::Recovered,
        EventKind::Reconnected,
        EventKind::Disconnected,
        EventKind::AccessLost,
        EventKind::AccessRestored,
    ];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The event type as webhooks and the API name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Expiring => "connection.expiring",
            EventKind::Expired => "connection.expired",
            EventKind::Revoked => "connection.revoked",
            EventKind::Degraded => "connection.degraded",
            EventKind::Recovered => "connection.recovered",
            EventKind::Reconnected => "connection.reconnected",
            EventKind::Disconnected => "connection.disconnected",
            EventKind::AccessLost => "connection.access_lost",
            EventKind::AccessRestored => "connection.access_restored",
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
    /// The connection's colour before it.
    pub from: Colour,
}

impl Transition {
    /// The log line of this transition on one connection: one per event row inserted, so the
    /// log and the events agree. Names and colours only, never a token.
    pub fn log_line(&self, grant_id: &GrantId, connection_id: &str, at: Timestamp) -> LogLine {
        let line = if self.health.colour == Colour::Red {
            LogLine::warn("connection.health_changed", at)
        } else {
            LogLine::info("connection.health_changed", at)
        };
        line.field("connection_id", connection_id)
            .field("grant_id", grant_id)
            .field("transition", self.kind.as_str())
            .field("from", self.from.as_str())
            .field("to", self.health.colour.as_str())
            .field("reason", self.health.reason)
    }
}

/// What changed between `before` (the status as last written: `Status::as_written`) and
/// `after` for a grant whose token version is `version` after the write. Empty when nothing a
/// scheduler app acts on changed. A warning stage is named whenever the grant is inside the
/// window; its dedupe key (death date and stage) makes it one event per stage.
pub fn transitions(before: Status, after: Status, version: i64) -> Vec<Transition> {
    let failing = |s: Status| s.refresh != RefreshState::Ok;
    let event = |kind, key: String| Transition {
        kind,
        dedupe_key: key,
        health: after.health(),
        from: before.health().colour,
    };
    let mut out = Vec::new();
    match (before.grant, after.grant) {
        (GrantState::Dead { .. }, _) => return out,
        (_, GrantState::Dead { reason }) => {
            let kind = if reason == DeadReason::GrantExpired {
                EventKind::Expired
            } else {
                EventKind::Revoked
            };
            out.push(event(kind, format!("dead:{version}")));
            return out;
        }
        (
            _,
            GrantState::Expiring {
                dies_at,
                stage_days,
            },
        ) => out.push(event(
            EventKind::Expiring,
            format!("expiring:{}:{stage_days}", dies_at.as_millis()),
        )),
        _ => {}
    }
    if !failing(before) && failing(after) {
        out.push(event(EventKind::Degraded, format!("degraded:{version}")));
    } else if failing(before) && !failing(after) {
        out.push(event(EventKind::Recovered, format!("recovered:{version}")));
    }
    out
}

/// The event of a consent that restored the grant (version after the write).
pub fn reconnected(before: Status, after: Status, version: i64) -> Transition {
    Transition {
        kind: EventKind::Reconnected,
        dedupe_key: format!("reconnected:{version}"),
        health: after.health(),
        from: before.health().colour,
    }
}

/// The event of one page whose role was lost (`lost`) or came back, detected at `at_ms`, for
/// a grant whose standing is `status`; `why` is the reason shown.
pub fn access_changed(status: Status, lost: bool, why: &str, at_ms: i64) -> Transition {
    let (kind, key) = if lost {
        (EventKind::AccessLost, "access_lost")
    } else {
        (EventKind::AccessRestored, "access_restored")
    };
    Transition {
        kind,
        dedupe_key: format!("{key}:{at_ms}"),
        health: status.connection_health(lost, Some(why)),
        from: status.connection_health(!lost, None).colour,
    }
}

/// The event of one connection removed through the API (at the grant's epoch after it).
pub fn disconnected(after: Status, epoch: i64) -> Transition {
    Transition {
        kind: EventKind::Disconnected,
        dedupe_key: format!("disconnected:{epoch}"),
        health: crate::core::grant::grant_health::Health {
            colour: after.health().colour,
            reason: "disconnected",
            message: "The connection was removed; nothing is kept for it but its history."
                .to_owned(),
        },
        from: after.health().colour,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::common::clock::Timestamp;
    use crate::core::grant::grant_health::Colour;

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

    fn kinds(before: Status, after: Status) -> Vec<EventKind> {
        transitions(before, after, 7)
            .iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn a_transition_logs_its_connection_colours_and_reason_and_nothing_secret() {
        let revoked = transitions(
            status(ALIVE, OK),
            status(dead(DeadReason::RevokedOrExpired), OK),
            7,
        );
        let line = revoked[0].log_line(&"gr_1".into(), "conn_1", T0);
        let fields: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(fields["event"], "connection.health_changed");
        assert_eq!(fields["level"], "warn");
        assert_eq!(fields["transition"], "connection.revoked");
        assert_eq!(fields["connection_id"], "conn_1");
        assert_eq!(fields["grant_id"], "gr_1");
        assert_eq!(fields["from"], "green");
        assert_eq!(fields["to"], "red");
        assert_eq!(fields["reason"], DeadReason::RevokedOrExpired.code());
        assert!(fields
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !crate::core::common::log::is_secret_field(k)));
        let back = reconnected(
            status(dead(DeadReason::RevokedOrExpired), OK),
            status(ALIVE, OK),
            8,
        );
        assert_eq!(
            (back.from, back.health.colour),
            (Colour::Red, Colour::Green)
        );
    }

    #[test]
    fn every_change_of_standing_is_named_and_nothing_else_is() {
        let expiring = GrantState::Expiring {
            dies_at: T0,
            stage_days: 14,
        };
        use EventKind::*;
        let cases = [
            (ALIVE, OK, ALIVE, OK, vec![]),
            (ALIVE, OK, ALIVE, FAILING, vec![Degraded]),
            (ALIVE, FAILING, ALIVE, FAILING, vec![]),
            (ALIVE, FAILING, ALIVE, OK, vec![Recovered]),
            (ALIVE, OK, expiring, OK, vec![Expiring]),
            // Named again (its dedupe key keeps it one event per stage).
            (expiring, OK, expiring, OK, vec![Expiring]),
            (expiring, OK, expiring, FAILING, vec![Expiring, Degraded]),
            (
                ALIVE,
                OK,
                dead(DeadReason::RevokedOrExpired),
                OK,
                vec![Revoked],
            ),
            (
                ALIVE,
                FAILING,
                dead(DeadReason::RefreshKeptFailing),
                FAILING,
                vec![Revoked],
            ),
            (
                expiring,
                OK,
                dead(DeadReason::GrantExpired),
                OK,
                vec![Expired],
            ),
            // Dead stays dead: a second verdict is not a second event.
            (
                dead(DeadReason::RevokedOrExpired),
                OK,
                dead(DeadReason::RevokedOrExpired),
                OK,
                vec![],
            ),
        ];
        for (g0, r0, g1, r1, want) in cases {
            assert_eq!(
                kinds(status(g0, r0), status(g1, r1)),
                want,
                "{g0:?}/{r0:?} -> {g1:?}/{r1:?}"
            );
        }
    }

    #[test]
    fn the_same_happening_has_the_same_key_and_a_later_one_a_new_key() {
        let before = status(ALIVE, OK);
        let after = status(ALIVE, FAILING);
        let first = transitions(before, after, 3);
        assert_eq!(first, transitions(before, after, 3));
        assert_ne!(
            first[0].dedupe_key,
            transitions(before, after, 4)[0].dedupe_key,
            "a failure streak after a successful refresh is a new event"
        );
        let stage = |days| {
            let s = status(
                GrantState::Expiring {
                    dies_at: T0,
                    stage_days: days,
                },
                OK,
            );
            transitions(before, s, 3)[0].dedupe_key.clone()
        };
        assert_eq!(stage(14), stage(14));
        assert_ne!(stage(14), stage(3), "each warning stage is its own event");
        let revoked = transitions(before, status(dead(DeadReason::RevokedOrExpired), OK), 3);
        let revoked = &revoked[0];
        assert_eq!(revoked.health.colour, Colour::Red);
        assert_eq!(revoked.health.reason, "revoked_or_expired");
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert!(names.iter().all(|n| n.starts_with("connection.")));
        assert!(EventKind::ALL
            .iter()
            .all(|k| EventKind::parse(k.as_str()) == Some(*k)));
    }
}
