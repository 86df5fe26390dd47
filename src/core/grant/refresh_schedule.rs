//! When a grant needs attention next: the sweep's `next_check_at`, the on-demand refresh
//! decision, and the backoff after a failure.
//!
//! Policies come from the catalogue (design.md, "The sweep and refresh policy"):
//! - *proactive*: refresh `lead_secs` before the access token dies;
//! - *on demand*: refresh when a token is asked for with less than `threshold_secs` left; the
//!   sweep only keeps the grant alive (`keep_alive_days` after the last refresh), since every
//!   extra rotation is another chance to break the chain;
//! - *validate*: nothing to refresh; the scheduled check and the ledger's countdown are all.
//!
//! **Every policy also gets the scheduled check** (`core::grant::scheduled_check`): once per
//! `check_every_secs` (daily by default) on the grant's own slot, the grant is proved alive
//! with its platform: the identity call while the access token is valid, else a refresh. A
//! grant holding no refresh token is validated the same way (LinkedIn apps without
//! programmatic refresh). An on-demand grant whose refresh token has a known death (TikTok's
//! `refresh_expires_in`) is renewed halfway through that life, so a rotation keeps the chain
//! alive without rotating more than needed.
//!
//! A proactive grant whose fresh token would be due again by the next sweep (its tokens live
//! no longer than the lead time plus one sweep period, and no minimum age holds it back: a
//! declared provider's tokens turned out shorter than declared) is not refreshed by the sweep
//! at all: every visit would refresh. Its readers refresh on demand and the scheduled
//! check proves it alive.
//!
//! Whatever the policy, a grant with a known death date is also looked at at each warning
//! stage and when it dies, so its state changes (and its events fire) on time.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings;
use crate::core::common::settings::SettingError;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::scheduled_check::{token_can_carry_a_call, CheckSlot};
use crate::core::oauth::catalogue::{RefreshPolicy, RefreshSpec};

const SECOND: i64 = 1_000;
const DAY: i64 = 86_400 * SECOND;
/// How often the sweep runs: a proactive refresh needs a token that outlives its lead by more.
pub const SWEEP_PERIOD_MS: i64 = 3_600 * SECOND;

/// What the schedule is computed from: one grant, as stored.
#[derive(Clone, Copy, Debug)]
pub struct GrantTimes {
    pub access_expires_at: Option<Timestamp>,
    /// The ledger: when the grant itself dies, if known.
    pub grant_expires_at: Option<Timestamp>,
    /// The last successful refresh (or the connect).
    pub last_refresh_at: Timestamp,
    pub last_validated_at: Option<Timestamp>,
    /// Set while backing off after a failure: the next attempt.
    pub retry_at: Option<Timestamp>,
    pub dead: bool,
    /// The grant holds a refresh token.
    pub refreshable: bool,
    /// The earliest post waiting to go out through this grant: pre-flight checks a day and an
    /// hour before it (`publish_policy::preflight_due`).
    pub next_post_at: Option<Timestamp>,
    /// The grant's slot in the scheduled check's interval.
    pub check_slot: CheckSlot,
}

/// Pre-flight checks of one grant are at least this far apart.
pub const PREFLIGHT_MIN_INTERVAL_MS: i64 = 30 * 60 * SECOND;

impl GrantTimes {
    /// The last time the platform proved the grant alive: an identity call or a refresh.
    fn last_proved(&self) -> Timestamp {
        self.last_validated_at
            .map_or(self.last_refresh_at, |v| v.max(self.last_refresh_at))
    }

    /// When the pre-flight check for the next post is due, if one is.
    fn preflight_due(&self, now: Timestamp) -> Option<Timestamp> {
        crate::core::publish::publish_policy::preflight_due(
            self.next_post_at,
            self.last_proved(),
            PREFLIGHT_MIN_INTERVAL_MS,
            now,
        )
    }

    /// The policy this grant follows: its platform's, or *validate* when it cannot refresh.
    fn policy(&self, refresh: &RefreshSpec) -> RefreshPolicy {
        if self.refreshable {
            refresh.policy
        } else {
            RefreshPolicy::Validate
        }
    }

    /// When the scheduled check is due: the grant's first slot after it was last proved alive.
    fn check_due(&self, refresh: &RefreshSpec) -> Timestamp {
        self.check_slot
            .next_after(self.last_proved(), refresh.check_interval_ms())
    }

    /// When a refresh is due by the policy (not counting backoff), if ever.
    fn refresh_due(&self, refresh: &RefreshSpec) -> Option<Timestamp> {
        match self.policy(refresh) {
            RefreshPolicy::Proactive => {
                let expires = self.access_expires_at?;
                let lead = secs(refresh.lead_secs.unwrap_or(0));
                let lifetime = expires.as_millis() - self.last_refresh_at.as_millis();
                let min_age = secs(refresh.min_age_secs.unwrap_or(0));
                if (lifetime - lead).max(min_age) <= SWEEP_PERIOD_MS {
                    // Each fresh token would be due again by the next sweep: on demand plus
                    // the scheduled check instead.
                    return None;
                }
                Some(
                    expires
                        .plus_millis(-lead)
                        .max(refresh.refreshable_from(self.last_refresh_at)),
                )
            }
            RefreshPolicy::OnDemand => {
                let keep_alive = refresh
                    .keep_alive_days
                    .map(|days| self.last_refresh_at.plus_millis(i64::from(days) * DAY));
                // Halfway through the refresh token's known life.
                let renew = self.grant_expires_at.map(|dies| {
                    let life = (dies.as_millis() - self.last_refresh_at.as_millis()).max(0);
                    self.last_refresh_at.plus_millis(life / 2)
                });
                keep_alive.into_iter().chain(renew).min()
            }
            RefreshPolicy::Validate => None,
        }
    }

    /// What a check (scheduled or pre-flight) calls at `now`: the identity call while the
    /// access token can carry it, else a refresh where the grant can refresh.
    fn check_visit(&self, refresh: &RefreshSpec, now: Timestamp) -> Visit {
        let can_refresh = self.policy(refresh) != RefreshPolicy::Validate;
        if can_refresh && !token_can_carry_a_call(self.access_expires_at, now) {
            Visit::Refresh
        } else {
            Visit::Validate
        }
    }
}

/// When the sweep should next look at the grant; `None` for never (a dead grant).
pub fn next_check_at(
    refresh: &RefreshSpec,
    times: &GrantTimes,
    warnings: Warnings,
    now: Timestamp,
) -> Option<Timestamp> {
    if times.dead {
        return None;
    }
    if let Some(retry) = times.retry_at {
        return Some(retry.max(now));
    }
    let mut candidates: Vec<Timestamp> = vec![times.check_due(refresh)];
    candidates.extend(times.refresh_due(refresh));
    candidates.extend(times.preflight_due(now));
    if let Some(moment) = times
        .grant_expires_at
        .and_then(|dies| warnings.next_moment(dies, now))
    {
        candidates.push(moment);
    }
    candidates.into_iter().min().map(|at| at.max(now))
}

/// What the sweep's visit to a due grant does (inside the grant's Durable Object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Refresh the grant: its lead time is reached, it must be kept alive, a backoff retry is
    /// due, or a check is due and the access token is spent.
    Refresh,
    /// Check the token with the platform's cheap identity call.
    Validate,
    /// Nothing to ask the platform: apply the ledger's date and schedule the next visit.
    Review,
}

/// The visit a grant gets at `now`.
pub fn visit(refresh: &RefreshSpec, times: &GrantTimes, now: Timestamp) -> Visit {
    // Dead, or past the ledger's date: the date speaks, not the platform (a token refused
    // after its known death is an expiry, not a revocation).
    if times.dead || times.grant_expires_at.is_some_and(|dies| now >= dies) {
        return Visit::Review;
    }
    let attempt = if times.refreshable {
        Visit::Refresh
    } else {
        Visit::Validate
    };
    if let Some(retry) = times.retry_at {
        return if now >= retry { attempt } else { Visit::Review };
    }
    let due = |at: Option<Timestamp>| at.is_some_and(|at| now >= at);
    if due(times.refresh_due(refresh)) {
        Visit::Refresh
    } else if due(Some(times.check_due(refresh))) || due(times.preflight_due(now)) {
        times.check_visit(refresh, now)
    } else {
        Visit::Review
    }
}

/// Whether a token request must refresh first: when less than the platform's threshold, or
/// the caller's `min_valid_ms`, is left. The threshold is never more than half the token's
/// life (issued at `issued_at`): TikTok's 12 hours against its newer 2-hour tokens would
/// otherwise rotate on every read. A caller asking more than the platform issues (a
/// `min_valid_ms` beyond the token's whole life) cannot be satisfied by any refresh: its ask
/// counts as half the life, so a burst of such readers refreshes at most once and each gets
/// the freshest token there is. An unknown expiry is served as is: the platform said nothing
/// (RFC 6749 allows it), and `validate` exists to check such a token.
pub fn needs_refresh(
    refresh: &RefreshSpec,
    access_expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    min_valid_ms: i64,
    now: Timestamp,
) -> bool {
    let Some(expires) = access_expires_at else {
        return false;
    };
    if now < refresh.refreshable_from(issued_at) {
        return false;
    }
    let threshold = match refresh.policy {
        RefreshPolicy::OnDemand => secs(refresh.threshold_secs.unwrap_or(0)),
        RefreshPolicy::Proactive => secs(refresh.lead_secs.unwrap_or(0)),
        RefreshPolicy::Validate => 0,
    };
    let lifetime = (expires.as_millis() - issued_at.as_millis()).max(0);
    let half_life = lifetime / 2;
    let ask = if min_valid_ms > lifetime {
        half_life
    } else {
        min_valid_ms
    };
    expires.as_millis() - now.as_millis() < threshold.min(half_life).max(ask)
}

/// Backoff after transient failures, and when they make a grant red. Configuration
/// (`REFRESH_BACKOFF`), so tests run it in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub first_ms: i64,
    pub max_ms: i64,
    /// A grant still failing on this many separate (UTC) days turns red.
    pub red_after_days: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first_ms: 60 * SECOND,
            max_ms: 6 * 3_600 * SECOND,
            red_after_days: 3,
        }
    }
}

impl Backoff {
    /// Parses `first=60,max=21600,red_after_days=3` (seconds; any subset, the rest default).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("REFRESH_BACKOFF", text)? {
            match key {
                "first" => out.first_ms = i64::from(n) * SECOND,
                "max" => out.max_ms = i64::from(n) * SECOND,
                "red_after_days" => out.red_after_days = n,
                other => return Err(settings::unknown_key("REFRESH_BACKOFF", other)),
            }
        }
        if out.first_ms <= 0 || out.max_ms < out.first_ms || out.red_after_days == 0 {
            return Err(SettingError::rule(
                "REFRESH_BACKOFF",
                "REFRESH_BACKOFF: need 0 < first <= max and red_after_days >= 1",
            ));
        }
        Ok(out)
    }

    /// The wait before attempt `failures + 1`, after `failures` (≥ 1) failures in a row:
    /// exponential, capped, with "equal jitter" (half fixed, half random from `jitter` in
    /// [0, 1)), and never shorter than the platform's `Retry-After`.
    pub fn delay_ms(self, failures: u32, jitter: f64, retry_after_secs: Option<u64>) -> i64 {
        let exp = failures.saturating_sub(1).min(30);
        let base = self.first_ms.saturating_mul(1 << exp).min(self.max_ms);
        let jittered = base / 2 + ((base / 2) as f64 * jitter.clamp(0.0, 1.0)) as i64;
        jittered.max(secs(retry_after_secs.unwrap_or(0)))
    }

    /// The count of separate UTC days with a failure, after one more failure at `now`.
    pub fn failure_days_after(
        self,
        failure_days: u32,
        last_failure_at: Option<Timestamp>,
        now: Timestamp,
    ) -> u32 {
        let same_day = last_failure_at.is_some_and(|last| {
            last.as_millis().div_euclid(DAY) == now.as_millis().div_euclid(DAY)
        });
        if same_day {
            failure_days.max(1)
        } else {
            failure_days + 1
        }
    }

    /// Whether failures on `failure_days` separate days make the grant red.
    pub fn gives_up(self, failure_days: u32) -> bool {
        failure_days >= self.red_after_days
    }
}

fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / SECOND) * SECOND
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const HOUR: i64 = 3_600 * SECOND;
    /// The policy tests' check interval: far enough that only the policy speaks.
    const DECADE: i64 = 3_650 * DAY;

    /// A policy on its own: its scheduled check ten years away (see `daily`).
    fn spec(policy: &str) -> RefreshSpec {
        let mut spec: RefreshSpec = serde_json::from_value(match policy {
            "proactive" => serde_json::json!({"policy": "proactive", "lead_secs": 15 * 86_400}),
            "keep_alive" => {
                serde_json::json!({"policy": "on_demand", "threshold_secs": 3900, "keep_alive_days": 150})
            }
            "on_demand" => serde_json::json!({"policy": "on_demand", "threshold_secs": 1800}),
            _ => serde_json::json!({"policy": "validate"}),
        })
        .unwrap();
        spec.check_every_secs = (DECADE / SECOND) as u64;
        spec
    }

    /// The same policy with the default daily check, and times whose slot falls on T0's time
    /// of day.
    fn daily(policy: &str) -> (RefreshSpec, GrantTimes) {
        let mut spec = spec(policy);
        spec.check_every_secs = 86_400;
        let times = GrantTimes {
            check_slot: CheckSlot::through(T0, DAY),
            ..times()
        };
        (spec, times)
    }

    fn times() -> GrantTimes {
        GrantTimes {
            access_expires_at: Some(T0.plus_millis(2 * HOUR)),
            grant_expires_at: None,
            last_refresh_at: T0,
            last_validated_at: None,
            retry_at: None,
            dead: false,
            next_post_at: None,
            refreshable: true,
            check_slot: CheckSlot::through(T0, DECADE),
        }
    }

    #[test]
    fn on_demand_grants_are_checked_on_their_slot_and_otherwise_left_alone() {
        let (x, t) = daily("on_demand");
        assert_eq!(
            next_check_at(&x, &t, Warnings::default(), T0),
            Some(T0.plus_millis(DAY)),
            "X: one check a day, no hourly rotation"
        );
        assert_eq!(
            visit(&x, &t, T0.plus_millis(DAY)),
            Visit::Refresh,
            "its 2-hour token is spent by then: the check is a refresh"
        );
        let read_lately = GrantTimes {
            access_expires_at: Some(T0.plus_millis(DAY + HOUR)),
            ..t
        };
        assert_eq!(
            visit(&x, &read_lately, T0.plus_millis(DAY)),
            Visit::Validate,
            "a token still valid carries the identity call instead"
        );
        assert_eq!(
            next_check_at(&spec("keep_alive"), &times(), Warnings::default(), T0),
            Some(T0.plus_millis(150 * DAY)),
            "Google: refreshed inside the six-month idle rule where no check comes sooner"
        );
    }

    #[test]
    fn instagram_is_checked_daily_refreshes_at_its_lead_time_and_never_before_a_day_old() {
        let ig = crate::core::oauth::catalogue::Catalogue::builtin()
            .get("instagram")
            .unwrap()
            .refresh
            .clone();
        let long_lived = GrantTimes {
            access_expires_at: Some(T0.plus_millis(60 * DAY)),
            check_slot: CheckSlot::through(T0, DAY),
            ..times()
        };
        assert_eq!(
            next_check_at(&ig, &long_lived, Warnings::default(), T0),
            Some(T0.plus_millis(DAY)),
            "the daily check, long before the lead time"
        );
        assert_eq!(
            visit(&ig, &long_lived, T0.plus_millis(DAY)),
            Visit::Validate,
            "the 60-day token is valid: the identity call"
        );
        let day_44 = T0.plus_millis(44 * DAY);
        let checked = GrantTimes {
            last_validated_at: Some(day_44),
            ..long_lived
        };
        assert_eq!(
            next_check_at(&ig, &checked, Warnings::default(), day_44),
            Some(T0.plus_millis(45 * DAY)),
            "15 days before the 60-day token expires"
        );
        assert_eq!(
            visit(&ig, &checked, day_44.plus_millis(HOUR)),
            Visit::Review
        );
        assert_eq!(
            visit(&ig, &checked, T0.plus_millis(45 * DAY)),
            Visit::Refresh
        );
        // A token that lives less than its lead time still waits out its first 24 hours.
        let short = GrantTimes {
            access_expires_at: Some(T0.plus_millis(10 * DAY)),
            ..long_lived
        };
        assert_eq!(
            next_check_at(&ig, &short, Warnings::default(), T0),
            Some(T0.plus_millis(DAY))
        );
        assert_eq!(visit(&ig, &short, T0.plus_millis(DAY - 1)), Visit::Review);
        assert_eq!(visit(&ig, &short, T0.plus_millis(DAY)), Visit::Refresh);
        assert!(!needs_refresh(
            &ig,
            short.access_expires_at,
            T0,
            0,
            T0.plus_millis(DAY - 1)
        ));
        assert!(needs_refresh(
            &ig,
            short.access_expires_at,
            T0,
            0,
            T0.plus_millis(6 * DAY)
        ));
    }

    #[test]
    fn a_proactive_grant_whose_tokens_cannot_outlive_its_lead_is_not_refreshed_by_the_sweep() {
        // A declared provider with 90-minute tokens and a 2-hour lead: every hourly sweep
        // would refresh it. On demand plus the scheduled check instead.
        let mut short: RefreshSpec =
            serde_json::from_value(serde_json::json!({"policy": "proactive", "lead_secs": 7200}))
                .unwrap();
        short.check_every_secs = 86_400;
        let t = GrantTimes {
            access_expires_at: Some(T0.plus_millis(90 * 60 * SECOND)),
            check_slot: CheckSlot::through(T0, DAY),
            ..times()
        };
        for hour in 0..24 {
            assert_eq!(
                visit(&short, &t, T0.plus_millis(hour * HOUR)),
                Visit::Review,
                "hour {hour}"
            );
        }
        assert_eq!(
            next_check_at(&short, &t, Warnings::default(), T0),
            Some(T0.plus_millis(DAY)),
            "only the daily check"
        );
        assert_eq!(visit(&short, &t, T0.plus_millis(DAY)), Visit::Refresh);
        // Its readers still refresh on demand, at half the token's life.
        assert!(!needs_refresh(
            &short,
            t.access_expires_at,
            T0,
            60_000,
            T0.plus_millis(44 * 60 * SECOND)
        ));
        assert!(needs_refresh(
            &short,
            t.access_expires_at,
            T0,
            60_000,
            T0.plus_millis(46 * 60 * SECOND)
        ));
    }

    #[test]
    fn proactive_grants_are_due_a_lead_time_before_expiry() {
        let t = GrantTimes {
            access_expires_at: Some(T0.plus_millis(60 * DAY)),
            ..times()
        };
        assert_eq!(
            next_check_at(&spec("proactive"), &t, Warnings::default(), T0),
            Some(T0.plus_millis(45 * DAY))
        );
        // Already inside the lead time: due now, not in the past.
        let late = T0.plus_millis(50 * DAY);
        assert_eq!(
            next_check_at(&spec("proactive"), &t, Warnings::default(), late),
            Some(late)
        );
    }

    #[test]
    fn a_known_death_is_visited_at_each_warning_stage_and_at_the_death() {
        let t = GrantTimes {
            grant_expires_at: Some(T0.plus_millis(60 * DAY)),
            ..times()
        };
        let (validate, checked) = daily("validate");
        // The daily check comes first.
        assert_eq!(
            next_check_at(
                &validate,
                &GrantTimes {
                    check_slot: checked.check_slot,
                    ..t
                },
                Warnings::default(),
                T0
            ),
            Some(T0.plus_millis(DAY))
        );
        // A proactive grant whose next refresh comes after the death: only the stages remain.
        let on_demand = spec("proactive");
        let t = GrantTimes {
            access_expires_at: Some(T0.plus_millis(100 * DAY)),
            ..t
        };
        assert_eq!(
            next_check_at(&on_demand, &t, Warnings::default(), T0),
            Some(T0.plus_millis(46 * DAY))
        );
        let warned = T0.plus_millis(47 * DAY);
        assert_eq!(
            next_check_at(&on_demand, &t, Warnings::default(), warned),
            Some(T0.plus_millis(57 * DAY)),
            "the 3-day stage"
        );
        assert_eq!(
            next_check_at(
                &on_demand,
                &t,
                Warnings::default(),
                T0.plus_millis(59 * DAY + 1)
            ),
            Some(T0.plus_millis(60 * DAY)),
            "past the last stage: the death"
        );
    }

    #[test]
    fn dead_grants_are_never_due_and_backing_off_ones_wait_for_their_retry() {
        let dead = GrantTimes {
            dead: true,
            ..times()
        };
        assert_eq!(
            next_check_at(&spec("keep_alive"), &dead, Warnings::default(), T0),
            None
        );
        let backing_off = GrantTimes {
            retry_at: Some(T0.plus_millis(90 * SECOND)),
            ..times()
        };
        assert_eq!(
            next_check_at(&spec("on_demand"), &backing_off, Warnings::default(), T0),
            Some(T0.plus_millis(90 * SECOND))
        );
    }

    #[test]
    fn a_token_is_refreshed_inside_the_threshold_or_the_callers_minimum() {
        let x = spec("on_demand");
        let expires = Some(T0.plus_millis(2 * HOUR));
        assert!(!needs_refresh(&x, expires, T0, 60_000, T0));
        assert!(needs_refresh(
            &x,
            expires,
            T0,
            60_000,
            T0.plus_millis(91 * 60 * SECOND)
        ));
        assert!(
            needs_refresh(&x, expires, T0, 90 * 60 * SECOND, T0.plus_millis(HOUR)),
            "min_valid_seconds the platform can meet"
        );
        // More than the platform issues: no refresh can meet it, so it counts as half the
        // token's life, and a token just refreshed is never refreshed again for it.
        assert!(!needs_refresh(&x, expires, T0, 3 * HOUR, T0));
        assert!(!needs_refresh(
            &x,
            expires,
            T0,
            3 * HOUR,
            T0.plus_millis(59 * 60 * SECOND)
        ));
        assert!(needs_refresh(
            &x,
            expires,
            T0,
            3 * HOUR,
            T0.plus_millis(61 * 60 * SECOND)
        ));
        assert!(!needs_refresh(&x, None, T0, 3 * HOUR, T0), "unknown expiry");
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_and_honours_retry_after() {
        let b = Backoff::default();
        assert_eq!(b.delay_ms(1, 0.0, None), 30 * SECOND);
        assert_eq!(b.delay_ms(1, 1.0, None), 60 * SECOND);
        assert_eq!(b.delay_ms(3, 1.0, None), 240 * SECOND);
        assert_eq!(b.delay_ms(40, 1.0, None), 6 * HOUR);
        assert_eq!(b.delay_ms(1, 0.0, Some(600)), 600 * SECOND);
        let jittered: Vec<i64> = [0.1, 0.5, 0.9]
            .iter()
            .map(|j| b.delay_ms(2, *j, None))
            .collect();
        assert!(jittered.windows(2).all(|w| w[0] < w[1]), "{jittered:?}");
    }

    #[test]
    fn failures_count_separate_days_and_turn_red_after_the_configured_number() {
        let b = Backoff::parse("first=1,max=4,red_after_days=2").unwrap();
        assert_eq!(b.first_ms, SECOND);
        let d1 = b.failure_days_after(0, None, T0);
        let same_day = b.failure_days_after(d1, Some(T0), T0.plus_millis(HOUR));
        assert_eq!((d1, same_day), (1, 1));
        assert!(!b.gives_up(same_day));
        let next_day = b.failure_days_after(same_day, Some(T0), T0.plus_millis(DAY));
        assert_eq!(next_day, 2);
        assert!(b.gives_up(next_day));
    }

    #[test]
    fn backoff_configuration_is_checked() {
        assert_eq!(Backoff::parse("").unwrap(), Backoff::default());
        for bad in [
            "first",
            "first=-1",
            "first=10,max=5",
            "red_after_days=0",
            "speed=3",
        ] {
            assert!(Backoff::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_visit_refreshes_only_what_its_policy_says_is_due() {
        let keep_alive = spec("keep_alive");
        let t = times();
        assert_eq!(visit(&keep_alive, &t, T0), Visit::Review);
        let day_150 = T0.plus_millis(150 * DAY);
        assert_eq!(visit(&keep_alive, &t, day_150), Visit::Refresh);
        let (keep_alive_daily, checked) = daily("keep_alive");
        assert_eq!(
            visit(
                &keep_alive_daily,
                &GrantTimes {
                    refreshable: false,
                    ..checked
                },
                day_150
            ),
            Visit::Validate,
            "without a refresh token, checking is all there is"
        );
        assert_eq!(visit(&spec("on_demand"), &t, day_150), Visit::Review);

        let proactive = spec("proactive");
        let long = GrantTimes {
            access_expires_at: Some(T0.plus_millis(60 * DAY)),
            ..t
        };
        assert_eq!(visit(&proactive, &long, T0), Visit::Review);
        assert_eq!(
            visit(&proactive, &long, T0.plus_millis(45 * DAY)),
            Visit::Refresh
        );

        let (validate, checked) = daily("validate");
        assert_eq!(visit(&validate, &checked, T0), Visit::Review);
        assert_eq!(
            visit(&validate, &checked, T0.plus_millis(DAY)),
            Visit::Validate
        );

        // Backing off: the retry is the visit, when its time comes.
        let retrying = GrantTimes {
            retry_at: Some(T0.plus_millis(60_000)),
            ..t
        };
        assert_eq!(visit(&spec("on_demand"), &retrying, T0), Visit::Review);
        assert_eq!(
            visit(&spec("on_demand"), &retrying, T0.plus_millis(60_000)),
            Visit::Refresh
        );
        let dead = GrantTimes { dead: true, ..t };
        assert_eq!(visit(&keep_alive, &dead, day_150), Visit::Review);
    }
}

#[cfg(test)]
mod grant_kinds {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const HOUR: i64 = 3_600 * SECOND;

    fn refresh_of(provider: &str) -> RefreshSpec {
        Catalogue::builtin().get(provider).unwrap().refresh.clone()
    }

    fn times(access_days: i64, dies_days: i64, refreshable: bool) -> GrantTimes {
        GrantTimes {
            access_expires_at: Some(T0.plus_millis(access_days * DAY)),
            grant_expires_at: Some(T0.plus_millis(dies_days * DAY)),
            last_refresh_at: T0,
            last_validated_at: None,
            retry_at: None,
            dead: false,
            next_post_at: None,
            refreshable,
            check_slot: CheckSlot::through(T0, DAY),
        }
    }

    #[test]
    fn a_grant_without_a_refresh_token_is_validated_daily_whatever_its_platform_does() {
        let li = refresh_of("linkedin");
        let no_refresh = times(60, 60, false);
        assert_eq!(
            next_check_at(&li, &no_refresh, Warnings::default(), T0),
            Some(T0.plus_millis(DAY))
        );
        assert_eq!(
            visit(&li, &no_refresh, T0.plus_millis(DAY)),
            Visit::Validate
        );
        assert_eq!(
            visit(&li, &no_refresh, T0.plus_millis(60 * DAY)),
            Visit::Review,
            "its death is the ledger's to apply"
        );
        // Past its lead time it still cannot refresh: never due on every sweep.
        let day_40 = T0.plus_millis(40 * DAY);
        let validated = GrantTimes {
            last_validated_at: Some(day_40),
            ..no_refresh
        };
        assert_eq!(
            next_check_at(&li, &validated, Warnings::default(), day_40),
            Some(T0.plus_millis(41 * DAY))
        );
        assert_eq!(visit(&li, &validated, day_40), Visit::Review);
    }

    #[test]
    fn a_linkedin_partner_grant_refreshes_30_days_ahead_and_is_checked_daily_for_roles() {
        let li = refresh_of("linkedin");
        let partner = times(60, 365, true);
        assert_eq!(
            next_check_at(&li, &partner, Warnings::default(), T0),
            Some(T0.plus_millis(DAY)),
            "the daily role check"
        );
        assert_eq!(visit(&li, &partner, T0.plus_millis(DAY)), Visit::Validate);
        assert_eq!(
            visit(&li, &partner, T0.plus_millis(30 * DAY)),
            Visit::Refresh
        );
    }

    #[test]
    fn a_rotating_grant_with_a_known_death_is_renewed_halfway_through_it() {
        let tt = refresh_of("tiktok");
        let t = GrantTimes {
            access_expires_at: Some(T0.plus_millis(2 * HOUR)),
            ..times(0, 180, true)
        };
        assert_eq!(
            next_check_at(&tt, &t, Warnings::default(), T0),
            Some(T0.plus_millis(DAY)),
            "the daily check first"
        );
        let checked = GrantTimes {
            last_validated_at: Some(T0.plus_millis(89 * DAY + 12 * HOUR)),
            ..t
        };
        assert_eq!(
            next_check_at(
                &tt,
                &checked,
                Warnings::default(),
                T0.plus_millis(89 * DAY + 12 * HOUR)
            ),
            Some(T0.plus_millis(90 * DAY))
        );
        assert_eq!(
            visit(&tt, &checked, T0.plus_millis(89 * DAY + 13 * HOUR)),
            Visit::Review
        );
        assert_eq!(
            visit(&tt, &checked, T0.plus_millis(90 * DAY)),
            Visit::Refresh
        );
        // Unknown death: nothing to keep alive, only the daily check (X).
        let unknown = GrantTimes {
            grant_expires_at: None,
            ..t
        };
        assert_eq!(
            next_check_at(&tt, &unknown, Warnings::default(), T0),
            Some(T0.plus_millis(DAY))
        );
    }

    #[test]
    fn the_threshold_is_at_most_half_the_tokens_life() {
        let tt = refresh_of("tiktok");
        // Newer docs: 2-hour tokens. 12 h would refresh on every read; half is one hour.
        let two_hours = Some(T0.plus_millis(2 * HOUR));
        assert!(!needs_refresh(
            &tt,
            two_hours,
            T0,
            60_000,
            T0.plus_millis(59 * 60 * SECOND)
        ));
        assert!(needs_refresh(
            &tt,
            two_hours,
            T0,
            60_000,
            T0.plus_millis(61 * 60 * SECOND)
        ));
        // Older docs: 24-hour tokens, refreshed with 12 hours left.
        let a_day = Some(T0.plus_millis(24 * HOUR));
        assert!(!needs_refresh(
            &tt,
            a_day,
            T0,
            60_000,
            T0.plus_millis(11 * HOUR)
        ));
        assert!(needs_refresh(
            &tt,
            a_day,
            T0,
            60_000,
            T0.plus_millis(13 * HOUR)
        ));
    }

    #[test]
    fn a_post_ahead_brings_the_check_forward_and_the_visit_checks() {
        let refresh = refresh_of("x");
        let connected = Timestamp::from_millis(0);
        // The grant's daily slot is at 23:00; it was last checked at 09:00 on day 9.
        let checked_at = connected.plus_millis(9 * DAY + 9 * HOUR);
        let post = checked_at.plus_millis(10 * HOUR);
        let quiet = GrantTimes {
            access_expires_at: Some(checked_at.plus_millis(2 * HOUR)),
            grant_expires_at: None,
            last_refresh_at: checked_at,
            last_validated_at: None,
            retry_at: None,
            dead: false,
            refreshable: true,
            next_post_at: None,
            check_slot: CheckSlot::through(connected.plus_millis(23 * HOUR), DAY),
        };
        let warnings = Warnings::default();
        let slot = connected.plus_millis(9 * DAY + 23 * HOUR);
        assert_eq!(
            next_check_at(&refresh, &quiet, warnings, checked_at),
            Some(slot)
        );
        let with_post = GrantTimes {
            next_post_at: Some(post),
            ..quiet
        };
        // The day-before stage is covered by the check at 09:00; the hour before is not.
        let hour_before = post.plus_millis(-HOUR);
        assert!(hour_before < slot);
        assert_eq!(
            next_check_at(&refresh, &with_post, warnings, checked_at),
            Some(hour_before)
        );
        assert_eq!(
            visit(&refresh, &with_post, hour_before.plus_millis(-1)),
            Visit::Review
        );
        assert_eq!(
            visit(&refresh, &with_post, hour_before),
            Visit::Refresh,
            "X's token is spent by then"
        );
        let read_lately = GrantTimes {
            access_expires_at: Some(post.plus_millis(HOUR)),
            ..with_post
        };
        assert_eq!(visit(&refresh, &read_lately, hour_before), Visit::Validate);
    }
}
