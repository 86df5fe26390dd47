//! What a platform's HTTP answer is, whoever asked: one classifier for every call Evergreen
//! makes to a platform (token exchanges, refreshes, publishing, uploads, webhook receivers).
//!
//! The class says what the answer proves, nothing more. What to do about it is each caller's
//! policy, and the policies differ on purpose: publishing never retries an answer that may have
//! taken the post (a 5xx, no answer), while a refresh or a webhook delivery, which can be
//! repeated safely, does. The policies are beside their callers:
//! [`crate::core::publish::publish_policy::classify`], [`exchange_failing`] for token
//! endpoints, [`crate::core::grant::refresh_failure::classify`] for the lost-outcome rule,
//! [`crate::core::webhooks::webhook_retry::delivered`], and [`upload_retryable`] for a
//! resumable upload.

/// An answer as it arrived: its status (`None` when none came: a timeout or a connection lost
/// after the request was sent), and its `Retry-After` in seconds, when it gave one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
}

impl Answer {
    /// An answer with this status and no `Retry-After`.
    pub fn status(status: u16) -> Self {
        Self {
            status: Some(status),
            retry_after_secs: None,
        }
    }

    /// No answer: a timeout, or the connection lost after the request was sent.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads `Retry-After` as whole seconds (an HTTP date is not used by the platforms).
    pub fn with_retry_after(mut self, header: Option<&str>) -> Self {
        self.retry_after_secs = header.and_then(|v| v.trim().parse().ok());
        self
    }

    pub fn class(&self) -> AnswerClass {
        classify(*self)
    }
}

/// What an answer proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerClass {
    /// 2xx: the platform did what was asked (its body says what came of it).
    Success,
    /// 401: the token (or the client) was refused.
    Unauthorized,
    /// 429: the platform is limiting us, for `retry_after_secs` when it said.
    Limited { retry_after_secs: Option<u64> },
    /// 408: the platform gave up waiting for the request; nothing was done.
    RequestTimeout,
    /// Any other 4xx: the request was refused, and nothing was done.
    Refused { status: u16 },
    /// 503: the platform is unavailable; by its meaning, it did not take the request on.
    Unavailable,
    /// Any other 5xx: the platform failed, and may or may not have done what was asked.
    Failing { status: u16 },
    /// A 1xx or 3xx where a final answer was due: not understood.
    Unexpected { status: u16 },
    /// No answer at all: whether the platform did anything is unknown.
    NoAnswer,
}

/// The class of `answer`.
pub fn classify(answer: Answer) -> AnswerClass {
    match answer.status {
        None => AnswerClass::NoAnswer,
        Some(200..=299) => AnswerClass::Success,
        Some(401) => AnswerClass::Unauthorized,
        Some(429) => AnswerClass::Limited {
            retry_after_secs: answer.retry_after_secs,
        },
        Some(408) => AnswerClass::RequestTimeout,
        Some(status @ 400..=499) => AnswerClass::Refused { status },
        Some(503) => AnswerClass::Unavailable,
        Some(status @ 500..=599) => AnswerClass::Failing { status },
        Some(status) => AnswerClass::Unexpected { status },
    }
}

impl AnswerClass {
    /// The platform is failing or limiting us (429, 5xx): the request itself may be fine, so
    /// it is worth repeating later.
    pub fn platform_trouble(self) -> bool {
        matches!(
            self,
            Self::Limited { .. } | Self::Unavailable | Self::Failing { .. }
        )
    }

    /// The answer leaves open whether the platform acted: a 5xx other than 503, or none.
    pub fn outcome_unknown(self) -> bool {
        matches!(self, Self::Failing { .. } | Self::NoAnswer)
    }
}

/// Token endpoints' policy (code exchange, Meta's long-lived exchange): a failing or limiting
/// platform is a failure to retry, never taken for a refusal or a malformed answer.
pub fn exchange_failing(answer: Answer) -> bool {
    answer.class().platform_trouble()
}

/// A resumable upload's policy: a 429 or a 408 means the chunk was not taken, so the session
/// is asked where it stands and the upload goes on from there.
pub fn upload_retryable(answer: Answer) -> bool {
    matches!(
        answer.class(),
        AnswerClass::Limited { .. } | AnswerClass::RequestTimeout
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status a platform could send, and no answer.
    pub(crate) fn every_answer() -> impl Iterator<Item = Answer> {
        (100u16..=599)
            .flat_map(|s| {
                [
                    Answer::status(s),
                    Answer {
                        status: Some(s),
                        retry_after_secs: Some(30),
                    },
                ]
            })
            .chain([Answer::none()])
    }

    #[test]
    fn each_range_has_its_class() {
        assert_eq!(Answer::status(204).class(), AnswerClass::Success);
        assert_eq!(Answer::status(401).class(), AnswerClass::Unauthorized);
        assert_eq!(Answer::status(408).class(), AnswerClass::RequestTimeout);
        assert_eq!(
            Answer::status(429).with_retry_after(Some(" 12 ")).class(),
            AnswerClass::Limited {
                retry_after_secs: Some(12)
            }
        );
        assert_eq!(
            Answer::status(403).class(),
            AnswerClass::Refused { status: 403 }
        );
        assert_eq!(Answer::status(503).class(), AnswerClass::Unavailable);
        assert_eq!(
            Answer::status(502).class(),
            AnswerClass::Failing { status: 502 }
        );
        assert_eq!(
            Answer::status(302).class(),
            AnswerClass::Unexpected { status: 302 }
        );
        assert_eq!(Answer::none().class(), AnswerClass::NoAnswer);
        assert_eq!(
            Answer::status(429).with_retry_after(Some("soon")).class(),
            AnswerClass::Limited {
                retry_after_secs: None
            }
        );
    }

    /// Today's rule in `edge/oauth/platform.rs`, before the classifier: 429 or any 5xx.
    fn exchange_failing_before(status: Option<u16>) -> bool {
        status.is_some_and(|s| s == 429 || s >= 500)
    }

    #[test]
    fn the_exchange_policy_is_unchanged_for_every_answer() {
        for answer in every_answer().filter(|a| a.status.is_none_or(|s| s < 600)) {
            assert_eq!(
                exchange_failing(answer),
                exchange_failing_before(answer.status),
                "{answer:?}"
            );
        }
    }

    /// Today's rule in `edge/publish/youtube.rs`, before the classifier.
    fn upload_retryable_before(status: u16) -> bool {
        status == 429 || status == 408
    }

    #[test]
    fn the_upload_policy_is_unchanged_for_every_answer() {
        for answer in every_answer() {
            let Some(status) = answer.status else {
                continue;
            };
            assert_eq!(
                upload_retryable(answer),
                upload_retryable_before(status),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn an_unknown_outcome_is_a_failing_platform_or_silence() {
        for answer in every_answer() {
            let unknown = answer.class().outcome_unknown();
            let expected = match answer.status {
                None => true,
                Some(s) => (500..=599).contains(&s) && s != 503,
            };
            assert_eq!(unknown, expected, "{answer:?}");
        }
    }
}
