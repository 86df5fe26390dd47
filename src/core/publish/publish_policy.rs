//! What publishing does with each answer, and when: the publish policy.
//!
//! Publishing is not idempotent: an error after the request went out does not prove the post
//! was not made. So an answer is sorted into what it proves ([`classify`]):
//!
//! - a post id: published;
//! - a 4xx (429 included, which the platforms document as not processed): the platform took
//!   nothing, so the target is retried with backoff, counted, up to `max_attempts`;
//! - 401: the token was refused, so the grant's object refreshes (or finds the grant dead)
//!   once and the request is sent once more;
//! - a 5xx, a timeout, a broken connection or a 2xx without an id: *ambiguous*. The post is
//!   looked up on the platform where that is possible; found, it is published; otherwise it is
//!   `unconfirmed`, never retried on its own.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings::SettingError;
use crate::core::common::settings::{unknown_key, whole_numbers};
use crate::core::http::platform_answer::{Answer, AnswerClass};
use crate::core::publish::posts::TargetState;

/// Publishing's knobs (`PUBLISH`, e.g. `max_attempts=5,retry_first_secs=30`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishSettings {
    /// Sends a refused target gets before it fails (the queue's `max_retries` sits above).
    pub max_attempts: u32,
    /// The first retry's delay; it doubles per attempt, with jitter.
    pub retry_first_secs: u32,
    pub retry_max_secs: u32,
    /// Identical text to several accounts of one platform goes out this far apart.
    pub stagger_secs: u32,
    /// A parked target older than this (past its slot) fails on reconnect instead of
    /// publishing late.
    pub stale_after_secs: u32,
    /// How long a claim holds a target; an expired claim is unconfirmed (the reconciler).
    pub lease_secs: u32,
    /// How long the platform has to answer a publish request.
    pub timeout_secs: u32,
}

impl Default for PublishSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_first_secs: 30,
            retry_max_secs: 3_600,
            stagger_secs: 60,
            stale_after_secs: 72 * 3_600,
            lease_secs: 120,
            timeout_secs: 30,
        }
    }
}

impl PublishSettings {
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut s = Self::default();
        for (key, n) in whole_numbers("PUBLISH", text)? {
            let field = match key {
                "max_attempts" => &mut s.max_attempts,
                "retry_first_secs" => &mut s.retry_first_secs,
                "retry_max_secs" => &mut s.retry_max_secs,
                "stagger_secs" => &mut s.stagger_secs,
                "stale_after_secs" => &mut s.stale_after_secs,
                "lease_secs" => &mut s.lease_secs,
                "timeout_secs" => &mut s.timeout_secs,
                other => return Err(unknown_key("PUBLISH", other)),
            };
            *field = n;
        }
        if s.max_attempts == 0 || s.max_attempts > 8 {
            return Err(SettingError::rule(
                "PUBLISH",
                "PUBLISH: max_attempts must be 1 to 8 (the queue retries 10 times)",
            ));
        }
        if s.retry_first_secs == 0 || s.retry_max_secs < s.retry_first_secs {
            return Err(SettingError::rule(
                "PUBLISH",
                "PUBLISH: retry_first_secs must be 1 or more, and at most retry_max_secs",
            ));
        }
        if s.timeout_secs == 0 || s.lease_secs <= s.timeout_secs + 10 {
            return Err(SettingError::rule(
                "PUBLISH",
                "PUBLISH: lease_secs must exceed timeout_secs by more than 10",
            ));
        }
        Ok(s)
    }

    /// The delay before attempt `attempts + 1`, after `attempts` refused sends: doubling from
    /// `retry_first_secs`, capped, never below the platform's `Retry-After`, and jittered to
    /// between half and all of it (`jitter` in `[0, 1)`) so refused posts do not return together.
    pub fn retry_delay_secs(
        self,
        attempts: u32,
        jitter: f64,
        retry_after_secs: Option<u64>,
    ) -> u32 {
        let doubled = u64::from(self.retry_first_secs)
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
            .min(u64::from(self.retry_max_secs));
        let jittered = (doubled as f64 * (0.5 + jitter.clamp(0.0, 1.0) / 2.0)).ceil() as u64;
        let floor = retry_after_secs
            .unwrap_or(0)
            .min(u64::from(self.retry_max_secs));
        jittered.max(floor).max(1) as u32
    }
}

/// What the platform's answer to a publish request proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It took the post: its id.
    Published(String),
    /// It refused the post and took nothing: retry later (counted).
    Refused {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// 401: the token was refused.
    TokenRefused,
    /// It may or may not have taken it: look it up, else unconfirmed.
    Ambiguous(String),
}

/// An answer (`Some(status)` and the post id read from it), or none at all (`None`: a
/// timeout or a broken connection after the request was sent).
pub fn classify(
    status: Option<u16>,
    post_id: Option<String>,
    retry_after_secs: Option<u64>,
) -> Verdict {
    let answer = Answer {
        status,
        retry_after_secs,
    };
    match answer.class() {
        AnswerClass::NoAnswer => {
            Verdict::Ambiguous("no answer (timeout or connection lost) after sending".into())
        }
        AnswerClass::Success => match post_id {
            Some(id) => Verdict::Published(id),
            None => Verdict::Ambiguous(format!(
                "the platform answered {} without a post id",
                status.unwrap_or_default()
            )),
        },
        AnswerClass::Unauthorized => Verdict::TokenRefused,
        // Refused outright (429 and 408 included): nothing was taken, so a retry is safe.
        AnswerClass::Limited { .. } | AnswerClass::RequestTimeout | AnswerClass::Refused { .. } => {
            Verdict::Refused {
                status: status.unwrap_or_default(),
                retry_after_secs,
            }
        }
        // A failing platform may have taken the post: never retried blindly.
        AnswerClass::Unavailable | AnswerClass::Failing { .. } | AnswerClass::Unexpected { .. } => {
            Verdict::Ambiguous(format!(
                "the platform answered {}",
                status.unwrap_or_default()
            ))
        }
    }
}

/// After a refusal: try again in so many seconds, or give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRefusal {
    RetryIn(u32),
    Fail,
}

/// `attempts`: sends made so far, this one included.
pub fn after_refusal(
    settings: PublishSettings,
    attempts: u32,
    jitter: f64,
    retry_after_secs: Option<u64>,
) -> AfterRefusal {
    if attempts >= settings.max_attempts {
        AfterRefusal::Fail
    } else {
        AfterRefusal::RetryIn(settings.retry_delay_secs(attempts, jitter, retry_after_secs))
    }
}

/// The earliest time at or after `wanted` that is at least `gap_ms` from every time in `busy`
/// (other sends of the same text to the same platform): platforms flag identical posts made at
/// once from several accounts, and revoke tokens for it.
pub fn stagger(wanted: Timestamp, busy: &[Timestamp], gap_ms: i64) -> Timestamp {
    let mut busy = busy.to_vec();
    busy.sort();
    let mut at = wanted;
    for b in busy {
        if (b.as_millis() - at.as_millis()).abs() < gap_ms {
            at = b.plus_millis(gap_ms);
        }
    }
    at
}

/// A new target due this soon is handed to the publish queue at once; a later one waits for
/// the minute dispatch.
pub const QUEUE_HORIZON_MS: i64 = 60_000;

/// A new target's start: its state, and when its grant must be checked by (the pre-flight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewTarget {
    pub state: TargetState,
    pub check_by: Timestamp,
}

/// The start of a target whose slot is `not_before`: queued when due within
/// [`QUEUE_HORIZON_MS`], else scheduled; its grant checked by the pre-flight's first stage
/// before the slot, never earlier than `now`.
pub fn new_target(not_before: Timestamp, now: Timestamp) -> NewTarget {
    let state = if not_before <= now.plus_millis(QUEUE_HORIZON_MS) {
        TargetState::Queued
    } else {
        TargetState::Scheduled
    };
    let check_by = not_before.plus_millis(-PREFLIGHT_BEFORE_MS[0]).max(now);
    NewTarget { state, check_by }
}

/// The earliest check per grant of `checks` (`(grant, check_by)`), in first-seen order: one
/// pre-flight per grant, however many of a post's targets it holds.
pub fn earliest_checks<G: PartialEq>(
    checks: impl IntoIterator<Item = (G, Timestamp)>,
) -> Vec<(G, Timestamp)> {
    let mut out: Vec<(G, Timestamp)> = Vec::new();
    for (grant, by) in checks {
        match out.iter_mut().find(|(g, _)| *g == grant) {
            Some((_, earliest)) => *earliest = (*earliest).min(by),
            None => out.push((grant, by)),
        }
    }
    out
}

/// A parked target when its grant is restored: sent now, or failed as too late for its slot.
pub fn resumes(settings: PublishSettings, slot: Timestamp, now: Timestamp) -> bool {
    now.as_millis() - slot.as_millis() <= i64::from(settings.stale_after_secs) * 1_000
}

/// The pre-flight stages before a post's slot: a day, then an hour.
pub const PREFLIGHT_BEFORE_MS: [i64; 2] = [24 * 3_600_000, 3_600_000];

/// When a grant with a post due at `next_post_at` should next be checked for it: at the first
/// stage not yet covered by a check (`last_checked`, a validation or refresh), and never
/// sooner than `min_interval_ms` after that check. `None`: no post ahead, or every stage is
/// covered.
pub fn preflight_due(
    next_post_at: Option<Timestamp>,
    last_checked: Timestamp,
    min_interval_ms: i64,
    now: Timestamp,
) -> Option<Timestamp> {
    let post = next_post_at.filter(|p| *p > now)?;
    PREFLIGHT_BEFORE_MS
        .iter()
        .map(|before| post.plus_millis(-before))
        .find(|stage| last_checked < *stage)
        .map(|stage| stage.max(last_checked.plus_millis(min_interval_ms)))
        .filter(|due| *due < post)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_target_is_queued_only_when_due_now_and_checked_a_day_ahead() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let soon = new_target(now.plus_millis(QUEUE_HORIZON_MS), now);
        assert_eq!(soon.state, TargetState::Queued);
        assert_eq!(soon.check_by, now, "never before now");
        let later = now.plus_millis(3 * 86_400_000);
        let planned = new_target(later, now);
        assert_eq!(planned.state, TargetState::Scheduled);
        assert_eq!(planned.check_by, later.plus_millis(-86_400_000));
    }

    #[test]
    fn one_preflight_per_grant_at_its_earliest() {
        let t = Timestamp::from_millis;
        let checks = earliest_checks([("g1", t(30)), ("g2", t(20)), ("g1", t(10))]);
        assert_eq!(checks, [("g1", t(10)), ("g2", t(20))]);
    }

    /// The publish policy before the one classifier, kept to prove the switch changed nothing.
    fn classify_before(
        status: Option<u16>,
        post_id: Option<String>,
        retry_after_secs: Option<u64>,
    ) -> Verdict {
        match status {
            None => {
                Verdict::Ambiguous("no answer (timeout or connection lost) after sending".into())
            }
            Some(200..=299) => match post_id {
                Some(id) => Verdict::Published(id),
                None => Verdict::Ambiguous(format!(
                    "the platform answered {} without a post id",
                    status.unwrap_or_default()
                )),
            },
            Some(401) => Verdict::TokenRefused,
            Some(status @ 400..=499) => Verdict::Refused {
                status,
                retry_after_secs,
            },
            Some(status) => Verdict::Ambiguous(format!("the platform answered {status}")),
        }
    }

    #[test]
    fn the_policy_is_unchanged_for_every_answer() {
        let statuses = (100u16..=599).map(Some).chain([None]);
        for status in statuses {
            for post_id in [None, Some("p1".to_owned())] {
                for retry_after in [None, Some(30)] {
                    assert_eq!(
                        classify(status, post_id.clone(), retry_after),
                        classify_before(status, post_id.clone(), retry_after),
                        "{status:?} {post_id:?} {retry_after:?}"
                    );
                }
            }
        }
    }

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn settings_are_read_and_bad_ones_named() {
        let s = PublishSettings::parse("max_attempts=3, stagger_secs=2").unwrap();
        assert_eq!((s.max_attempts, s.stagger_secs), (3, 2));
        assert_eq!(s.lease_secs, PublishSettings::default().lease_secs);
        assert!(PublishSettings::parse("max_attempts=0").is_err());
        assert!(PublishSettings::parse("max_attempts=11").is_err());
        assert!(PublishSettings::parse("lease_secs=20,timeout_secs=15").is_err());
        assert!(PublishSettings::parse("attempts=3")
            .unwrap_err()
            .to_string()
            .contains("unknown key"));
    }

    #[test]
    fn only_an_id_is_published_and_only_a_refusal_is_retried() {
        assert_eq!(
            classify(Some(201), Some("1".into()), None),
            Verdict::Published("1".into())
        );
        assert!(matches!(
            classify(Some(200), None, None),
            Verdict::Ambiguous(_)
        ));
        assert_eq!(classify(Some(401), None, None), Verdict::TokenRefused);
        assert_eq!(
            classify(Some(429), None, Some(30)),
            Verdict::Refused {
                status: 429,
                retry_after_secs: Some(30)
            }
        );
        assert!(matches!(
            classify(Some(403), None, None),
            Verdict::Refused { .. }
        ));
        for status in [500, 502, 503, 504, 302] {
            assert!(matches!(
                classify(Some(status), None, None),
                Verdict::Ambiguous(_)
            ));
        }
        assert!(matches!(classify(None, None, None), Verdict::Ambiguous(_)));
    }

    #[test]
    fn refusals_back_off_with_jitter_and_fail_at_the_limit() {
        let s = PublishSettings::default();
        assert_eq!(s.retry_delay_secs(1, 0.999_999, None), 30);
        assert_eq!(s.retry_delay_secs(1, 0.0, None), 15);
        assert_eq!(s.retry_delay_secs(3, 0.999_999, None), 120);
        assert_eq!(s.retry_delay_secs(30, 0.999_999, None), 3_600, "capped");
        assert_eq!(
            s.retry_delay_secs(1, 0.0, Some(900)),
            900,
            "Retry-After is a floor"
        );
        assert_eq!(
            after_refusal(s, 4, 0.5, None),
            AfterRefusal::RetryIn(s.retry_delay_secs(4, 0.5, None))
        );
        assert_eq!(after_refusal(s, 5, 0.5, None), AfterRefusal::Fail);
    }

    #[test]
    fn identical_sends_are_spaced_by_the_gap() {
        assert_eq!(stagger(at(0), &[], MIN), at(0));
        assert_eq!(stagger(at(0), &[at(0)], MIN), at(MIN));
        assert_eq!(stagger(at(0), &[at(MIN), at(0)], MIN), at(2 * MIN));
        assert_eq!(
            stagger(at(0), &[at(5 * MIN)], MIN),
            at(0),
            "far enough already"
        );
        assert_eq!(stagger(at(10 * MIN), &[at(0), at(MIN)], MIN), at(10 * MIN));
    }

    #[test]
    fn a_parked_post_resumes_unless_stale() {
        let s = PublishSettings::default();
        assert!(resumes(s, at(0), at(72 * HOUR)));
        assert!(!resumes(s, at(0), at(72 * HOUR + 1)));
        assert!(
            resumes(s, at(10 * HOUR), at(0)),
            "a future slot is never stale"
        );
    }

    #[test]
    fn preflight_checks_a_day_and_an_hour_ahead_at_most_so_often() {
        let post = at(100 * HOUR);
        let long_ago = at(0);
        let min = 30 * MIN;
        // A post two days ahead: the day-before stage first.
        assert_eq!(
            preflight_due(Some(post), long_ago, min, at(50 * HOUR)),
            Some(at(76 * HOUR))
        );
        // Checked at that stage: the hour-before stage next.
        assert_eq!(
            preflight_due(Some(post), at(76 * HOUR), min, at(76 * HOUR)),
            Some(at(99 * HOUR))
        );
        // Checked inside the last hour: nothing more.
        assert_eq!(
            preflight_due(Some(post), at(99 * HOUR + MIN), min, at(99 * HOUR + MIN)),
            None
        );
        // Scheduled 50 minutes ahead, checked 20 minutes ago: once, after the minimum interval.
        let soon = at(10 * HOUR);
        let checked = at(10 * HOUR - 70 * MIN);
        assert_eq!(
            preflight_due(Some(soon), checked, min, at(10 * HOUR - 50 * MIN)),
            Some(at(10 * HOUR - 40 * MIN))
        );
        // The interval would land past the slot: no check (the publish itself checks).
        assert_eq!(
            preflight_due(
                Some(soon),
                at(10 * HOUR - 61 * MIN),
                2 * HOUR,
                at(10 * HOUR - 40 * MIN)
            ),
            None
        );
        assert_eq!(preflight_due(None, long_ago, min, at(0)), None);
        assert_eq!(
            preflight_due(Some(at(5)), long_ago, min, at(10)),
            None,
            "past posts"
        );
    }
}
