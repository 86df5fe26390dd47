//! When a failed webhook delivery is tried again, and when it stops.
//!
//! Exponential from `first`, capped at `max`, for at least `window` after the first attempt
//! (`WEBHOOK_RETRY`, seconds; default 30 s doubling to 6 h, for 24 h). Attempts are counted in
//! D1; the queue's `max_retries` for the webhook queue must stay above the attempts a window
//! needs, which [`RetryPolicy::parse`] checks against [`QUEUE_MAX_RETRIES`].

use crate::core::common::settings;
use crate::core::common::settings::SettingError;
use crate::core::http::platform_answer::{Answer, AnswerClass};
use serde::{Deserialize, Serialize};

/// A webhook-queue message: which outbox row to deliver (never the body or a secret), and the
/// endpoint it goes to (absent from messages sent before it was carried).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryMessage {
    pub delivery_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
}

impl DeliveryMessage {
    /// The lane it is worked in (`core::common::lanes`): its endpoint's, so one receiver gets
    /// its deliveries one at a time and in order; a message without one gets a lane of its own.
    pub fn lane(&self) -> String {
        self.endpoint_id
            .clone()
            .unwrap_or_else(|| self.delivery_id.clone())
    }
}

/// Where a delivery stands (`webhook_deliveries.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; retried while the window lasts.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// The window ended without a 2xx (it can still be redelivered by hand).
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Webhook receivers' policy: only a 2xx delivers. Every other answer, and none, is tried
/// again on the schedule: a repeated delivery is harmless, since receivers deduplicate by
/// `webhook-id`.
pub fn delivered(answer: Answer) -> bool {
    answer.class() == AnswerClass::Success
}

/// The longest delay a queue retry can carry (Cloudflare Queues: 12 hours).
pub const MAX_QUEUE_DELAY_SECS: u32 = 43_200;

/// A pending delivery whose message seems lost (due this long ago and not re-sent since) is
/// sent again by the reconciler.
pub const OVERDUE_MS: i64 = 5 * 60 * SECOND;

const SECOND: i64 = 1_000;

/// `max_retries` of the webhook queue's consumer in `wrangler.toml` (tests check they agree).
pub const QUEUE_MAX_RETRIES: u32 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_ms: i64,
    pub max_ms: i64,
    /// Retries go on until this long after the first attempt.
    pub window_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_ms: 30 * SECOND,
            max_ms: 6 * 3_600 * SECOND,
            window_ms: 24 * 3_600 * SECOND,
        }
    }
}

/// What follows a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this many milliseconds.
    RetryIn(i64),
    /// The window is over: the delivery is failed (it can still be redelivered by hand).
    GiveUp,
}

impl RetryPolicy {
    /// Parses `first=30,max=21600,window=86400` (seconds; any subset).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("WEBHOOK_RETRY", text)? {
            let ms = i64::from(n) * SECOND;
            match key {
                "first" => out.first_ms = ms,
                "max" => out.max_ms = ms,
                "window" => out.window_ms = ms,
                other => return Err(settings::unknown_key("WEBHOOK_RETRY", other)),
            }
        }
        if out.first_ms <= 0 || out.max_ms < out.first_ms || out.window_ms < out.first_ms {
            return Err(SettingError::rule(
                "WEBHOOK_RETRY",
                "WEBHOOK_RETRY: need 0 < first <= max and first <= window",
            ));
        }
        let needed = out.retries_needed();
        if needed >= QUEUE_MAX_RETRIES {
            return Err(SettingError::rule(
                "WEBHOOK_RETRY",
                format!(
                "WEBHOOK_RETRY: the window needs {needed} retries; the queue allows fewer than \
                 {QUEUE_MAX_RETRIES} (raise first or max)"
            ),
            ));
        }
        Ok(out)
    }

    /// The wait after `attempts` (≥ 1) failed attempts.
    pub fn delay_ms(self, attempts: u32) -> i64 {
        let doublings = attempts.saturating_sub(1).min(40);
        self.first_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.max_ms)
    }

    /// After `attempts` failed attempts, the first of them `since_first_ms` ago.
    pub fn after_failure(self, attempts: u32, since_first_ms: i64) -> AfterFailure {
        if since_first_ms >= self.window_ms {
            AfterFailure::GiveUp
        } else {
            AfterFailure::RetryIn(self.delay_ms(attempts))
        }
    }

    /// How many retries a delivery failing every time gets before giving up.
    pub fn retries_needed(self) -> u32 {
        let (mut elapsed, mut attempts) = (0_i64, 1_u32);
        while let AfterFailure::RetryIn(ms) = self.after_failure(attempts, elapsed) {
            elapsed += ms;
            attempts += 1;
        }
        attempts - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_2xx_delivers_as_before() {
        for status in (100u16..=599).map(Some).chain([None]) {
            let before = status.is_some_and(|s| (200..300).contains(&s));
            let answer = Answer {
                status,
                retry_after_secs: None,
            };
            assert_eq!(delivered(answer), before, "{status:?}");
        }
    }

    #[test]
    fn retries_double_up_to_the_cap_for_at_least_the_window() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_ms(1), 30 * SECOND);
        assert_eq!(p.delay_ms(2), 60 * SECOND);
        assert_eq!(p.delay_ms(30), 6 * 3_600 * SECOND);
        // Every failing delivery is retried for at least 24 hours.
        let (mut elapsed, mut attempts) = (0, 1);
        while let AfterFailure::RetryIn(ms) = p.after_failure(attempts, elapsed) {
            elapsed += ms;
            attempts += 1;
        }
        assert!(elapsed >= 24 * 3_600 * SECOND, "{elapsed}");
        assert!(p.retries_needed() < QUEUE_MAX_RETRIES);
    }

    #[test]
    fn settings_that_outrun_the_queue_are_refused() {
        let quick = RetryPolicy::parse("first=1,max=2,window=20").unwrap();
        assert_eq!(quick.delay_ms(5), 2 * SECOND);
        assert!(RetryPolicy::parse("first=1,max=1,window=86400").is_err());
        assert!(RetryPolicy::parse("first=0").is_err());
        assert!(RetryPolicy::parse("first=10,max=5").is_err());
        assert!(RetryPolicy::parse("every=3").is_err());
    }
}
