//! The deployment's settings, read from its variables into one typed [`Settings`], and the
//! reader of the `key=value` lists of whole numbers most of them are (`REFRESH_BACKOFF`,
//! `CIRCUIT_BREAKER`, `SWEEP`, ...), so each setting only says what its keys mean.

use crate::core::common::lanes::OUTGOING_LIMIT;
use crate::core::grant::circuit::BreakerConfig;
use crate::core::grant::expiry_warnings::Warnings;
use crate::core::grant::refresh_schedule::Backoff;
use crate::core::grant::sweep::SweepBudget;
use crate::core::links::reconnect_links::DEFAULT_TTL_DAYS;
use crate::core::publish::publish_policy::PublishSettings;
use crate::core::publish::publish_progress::MediaSettings;
use crate::core::tenancy::retention::Retention;
use crate::core::webhooks::webhook_retry::RetryPolicy;

/// Every tunable setting, each from its variable, its default where the variable is unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `EXPIRY_WARNINGS`: the warning stages before a grant's known death.
    pub warnings: Warnings,
    /// `RECONNECT_LINK_DAYS`: how long a reconnect link stays valid.
    pub reconnect_link_days: u16,
    /// `RETENTION`: how long what piles up is kept.
    pub retention: Retention,
    /// `SWEEP`: how much one sweep takes on.
    pub sweep: SweepBudget,
    /// `REFRESH_BACKOFF`: the waits after failed refreshes.
    pub refresh_backoff: Backoff,
    /// `CIRCUIT_BREAKER`: when a failing platform stops being called.
    pub circuit_breaker: BreakerConfig,
    /// `PUBLISH`: publishing's retries, lease and timeouts.
    pub publish: PublishSettings,
    /// `MEDIA`: following a platform's work on media.
    pub media: MediaSettings,
    /// `WEBHOOK_RETRY`: the waits after failed deliveries.
    pub webhook_retry: RetryPolicy,
    /// `QUEUE_LANES`: how many lanes of a queue batch are worked at once (`core::common::lanes`;
    /// 1 works them one after another).
    pub queue_lanes: u8,
    /// `TOKEN_AUDIT_FLUSH_SECONDS`: how long after a grant's first buffered token read its
    /// object writes its buffer to `token_reads`.
    pub token_audit_flush_seconds: u16,
}

/// A variable that was set but could not be read: its name, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub variable: &'static str,
    pub problem: SettingError,
}

impl Settings {
    /// Reads every setting through `var` (a variable's text, `None` when unset). A variable
    /// that is set but invalid leaves its default, and is named among the problems, so a typo
    /// is seen instead of silently ignored.
    pub fn read(var: impl Fn(&str) -> Option<String>) -> (Self, Vec<Problem>) {
        let mut problems = Vec::new();
        let take = |variable: &'static str| {
            let text = var(variable)?;
            Some((variable, text))
        };
        let d = Self::default();
        let settings = Self {
            warnings: one(
                take("EXPIRY_WARNINGS"),
                Warnings::parse,
                d.warnings,
                &mut problems,
            ),
            reconnect_link_days: one(
                take("RECONNECT_LINK_DAYS"),
                reconnect_link_days,
                d.reconnect_link_days,
                &mut problems,
            ),
            retention: one(
                take("RETENTION"),
                Retention::parse,
                d.retention,
                &mut problems,
            ),
            sweep: one(take("SWEEP"), SweepBudget::parse, d.sweep, &mut problems),
            refresh_backoff: one(
                take("REFRESH_BACKOFF"),
                Backoff::parse,
                d.refresh_backoff,
                &mut problems,
            ),
            circuit_breaker: one(
                take("CIRCUIT_BREAKER"),
                BreakerConfig::parse,
                d.circuit_breaker,
                &mut problems,
            ),
            publish: one(
                take("PUBLISH"),
                PublishSettings::parse,
                d.publish,
                &mut problems,
            ),
            media: one(take("MEDIA"), MediaSettings::parse, d.media, &mut problems),
            webhook_retry: one(
                take("WEBHOOK_RETRY"),
                RetryPolicy::parse,
                d.webhook_retry,
                &mut problems,
            ),
            queue_lanes: one(
                take("QUEUE_LANES"),
                queue_lanes,
                d.queue_lanes,
                &mut problems,
            ),
            token_audit_flush_seconds: one(
                take("TOKEN_AUDIT_FLUSH_SECONDS"),
                token_audit_flush_seconds,
                d.token_audit_flush_seconds,
                &mut problems,
            ),
        };
        (settings, problems)
    }
}

/// One setting: parsed from its variable's text when set, else `default`; a problem noted.
fn one<T>(
    set: Option<(&'static str, String)>,
    parse: impl Fn(&str) -> Result<T, SettingError>,
    default: T,
    problems: &mut Vec<Problem>,
) -> T {
    let Some((variable, text)) = set else {
        return default;
    };
    parse(&text).unwrap_or_else(|problem| {
        problems.push(Problem { variable, problem });
        default
    })
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            warnings: Warnings::default(),
            reconnect_link_days: DEFAULT_TTL_DAYS,
            retention: Retention::default(),
            sweep: SweepBudget::default(),
            refresh_backoff: Backoff::default(),
            circuit_breaker: BreakerConfig::default(),
            publish: PublishSettings::default(),
            media: MediaSettings::default(),
            webhook_retry: RetryPolicy::default(),
            queue_lanes: OUTGOING_LIMIT as u8,
            token_audit_flush_seconds: 10,
        }
    }
}

/// `RECONNECT_LINK_DAYS`: whole days from 1 to 90.
fn reconnect_link_days(text: &str) -> Result<u16, SettingError> {
    match text.trim().parse::<u16>() {
        Ok(days) if (1..=90).contains(&days) => Ok(days),
        _ => Err(SettingError::rule(
            "RECONNECT_LINK_DAYS",
            "RECONNECT_LINK_DAYS must be a whole number of days from 1 to 90",
        )),
    }
}

/// `QUEUE_LANES`: a whole number from 1 to the platform's limit of outgoing connections.
fn queue_lanes(text: &str) -> Result<u8, SettingError> {
    match text.trim().parse::<u8>() {
        Ok(n) if (1..=OUTGOING_LIMIT as u8).contains(&n) => Ok(n),
        _ => Err(SettingError::rule(
            "QUEUE_LANES",
            format!("QUEUE_LANES must be a whole number from 1 to {OUTGOING_LIMIT}"),
        )),
    }
}

/// `TOKEN_AUDIT_FLUSH_SECONDS`: whole seconds from 1 to 300.
fn token_audit_flush_seconds(text: &str) -> Result<u16, SettingError> {
    match text.trim().parse::<u16>() {
        Ok(n) if (1..=300).contains(&n) => Ok(n),
        _ => Err(SettingError::rule(
            "TOKEN_AUDIT_FLUSH_SECONDS",
            "TOKEN_AUDIT_FLUSH_SECONDS must be a whole number of seconds from 1 to 300",
        )),
    }
}

/// What is wrong with a setting's variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    /// A part of the list that is not `key=value`.
    NotKeyValue { var: &'static str, part: String },
    /// A value that is not a whole number.
    NotWholeNumber { var: &'static str, key: String },
    /// A key the setting does not have.
    UnknownKey { var: &'static str, key: String },
    /// Values that break the setting's rule, which the message states.
    Rule { var: &'static str, message: String },
}

impl SettingError {
    /// The setting's rule is broken; `message` says the rule.
    pub fn rule(var: &'static str, message: impl Into<String>) -> Self {
        Self::Rule {
            var,
            message: message.into(),
        }
    }

    /// The variable the error is about.
    pub fn var(&self) -> &'static str {
        match self {
            Self::NotKeyValue { var, .. }
            | Self::NotWholeNumber { var, .. }
            | Self::UnknownKey { var, .. }
            | Self::Rule { var, .. } => var,
        }
    }
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotKeyValue { var, part } => write!(f, "{var}: {part:?} is not key=value"),
            Self::NotWholeNumber { var, key } => write!(f, "{var}: {key} must be a whole number"),
            Self::UnknownKey { var, key } => write!(f, "{var}: unknown key {key:?}"),
            Self::Rule { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for SettingError {}

/// The `key=value` pairs of `text` (comma-separated, blanks ignored), or what is wrong,
/// naming `var`.
pub fn whole_numbers<'a>(
    var: &'static str,
    text: &'a str,
) -> Result<Vec<(&'a str, u32)>, SettingError> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| SettingError::NotKeyValue {
                    var,
                    part: part.to_owned(),
                })?;
            let n = value
                .trim()
                .parse()
                .map_err(|_| SettingError::NotWholeNumber {
                    var,
                    key: key.trim().to_owned(),
                })?;
            Ok((key.trim(), n))
        })
        .collect()
}

/// The error for a key `var` does not have.
pub fn unknown_key(var: &'static str, key: &str) -> SettingError {
    SettingError::UnknownKey {
        var,
        key: key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_variables_leave_the_defaults() {
        let (settings, problems) = Settings::read(|_| None);
        assert_eq!(settings, Settings::default());
        assert!(problems.is_empty());
        assert_eq!(settings.reconnect_link_days, DEFAULT_TTL_DAYS);
    }

    #[test]
    fn each_variable_sets_its_own_setting_and_a_bad_one_is_named() {
        let vars = |name: &str| match name {
            "REFRESH_BACKOFF" => Some("first=5,max=10".to_owned()),
            "RECONNECT_LINK_DAYS" => Some("7".to_owned()),
            "PUBLISH" => Some("max_attempts=oops".to_owned()),
            "SWEEP" => Some("nonsense".to_owned()),
            _ => None,
        };
        let (settings, problems) = Settings::read(vars);
        assert_eq!(settings.refresh_backoff.first_ms, 5_000);
        assert_eq!(settings.refresh_backoff.max_ms, 10_000);
        assert_eq!(settings.reconnect_link_days, 7);
        // The invalid ones keep their defaults, and are named.
        assert_eq!(settings.publish, PublishSettings::default());
        assert_eq!(settings.sweep, SweepBudget::default());
        let named: Vec<_> = problems.iter().map(|p| p.variable).collect();
        assert_eq!(named, ["SWEEP", "PUBLISH"]);
        let (_, problems) = Settings::read(|n| (n == "RECONNECT_LINK_DAYS").then(|| "91".into()));
        assert!(
            problems[0].problem.to_string().contains("from 1 to 90"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_token_audit_flush_is_between_a_second_and_five_minutes() {
        let read = |text: &'static str| {
            Settings::read(move |n| (n == "TOKEN_AUDIT_FLUSH_SECONDS").then(|| text.to_owned()))
        };
        assert_eq!(Settings::default().token_audit_flush_seconds, 10);
        assert_eq!(read("1").0.token_audit_flush_seconds, 1);
        assert_eq!(read(" 300 ").0.token_audit_flush_seconds, 300);
        for bad in ["0", "301", "ten", ""] {
            let (settings, problems) = read(bad);
            assert_eq!(
                settings.token_audit_flush_seconds, 10,
                "{bad} leaves the default"
            );
            assert_eq!(problems.len(), 1, "{bad}");
            assert_eq!(problems[0].variable, "TOKEN_AUDIT_FLUSH_SECONDS");
        }
    }

    #[test]
    fn queue_lanes_are_bounded_by_the_outgoing_limit() {
        let read = |text: &'static str| {
            Settings::read(move |n| (n == "QUEUE_LANES").then(|| text.to_owned()))
        };
        assert_eq!(Settings::default().queue_lanes, 6);
        assert_eq!(read("1").0.queue_lanes, 1);
        assert_eq!(read(" 6 ").0.queue_lanes, 6);
        for bad in ["0", "7", "many", "-1"] {
            let (settings, problems) = read(bad);
            assert_eq!(settings.queue_lanes, 6, "{bad} leaves the default");
            assert_eq!(problems.len(), 1, "{bad} is named");
            assert_eq!(
                problems[0].problem.to_string(),
                "QUEUE_LANES must be a whole number from 1 to 6"
            );
        }
    }

    #[test]
    fn pairs_are_read_and_mistakes_named() {
        assert_eq!(
            whole_numbers("X", " a=1, b = 2 ,").unwrap(),
            [("a", 1), ("b", 2)]
        );
        assert_eq!(whole_numbers("X", "").unwrap(), []);
        assert_eq!(
            whole_numbers("X", "a").unwrap_err().to_string(),
            "X: \"a\" is not key=value"
        );
        assert_eq!(
            whole_numbers("X", "a=-1").unwrap_err().to_string(),
            "X: a must be a whole number"
        );
        assert_eq!(whole_numbers("X", "a=-1").unwrap_err().var(), "X");
    }
}
