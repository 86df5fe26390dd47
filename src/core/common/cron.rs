//! The two cron triggers and what each one runs.
//!
//! The expressions here must match `[triggers] crons` in `wrangler.toml`; a test in
//! `tests/wrangler_config.rs` checks that they do.

use std::fmt;

/// A job run by a Cron Trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CronJob {
    /// Hourly: keeps grants alive ahead of expiry (selects `next_check_at <= now`).
    Sweep,
    /// Every minute: hands due work (publish targets, outbox rows) to the queues and reconciles
    /// stranded hand-offs.
    Dispatch,
}

impl CronJob {
    pub const ALL: [CronJob; 2] = [CronJob::Sweep, CronJob::Dispatch];

    /// The cron expression that triggers this job.
    pub const fn cron(self) -> &'static str {
        match self {
            CronJob::Sweep => "0 * * * *",
            CronJob::Dispatch => "* * * * *",
        }
    }

    /// The job's stable name, as stored in `cron_heartbeats.job` and shown by `/healthz`.
    pub const fn name(self) -> &'static str {
        match self {
            CronJob::Sweep => "sweep",
            CronJob::Dispatch => "dispatch",
        }
    }

    /// The job a trigger's expression runs. Whitespace is normalised, since the platform
    /// reports the expression as configured.
    pub fn from_cron(expression: &str) -> Result<Self, UnknownCron> {
        let normalised = expression.split_whitespace().collect::<Vec<_>>().join(" ");
        Self::ALL
            .into_iter()
            .find(|job| job.cron() == normalised)
            .ok_or_else(|| UnknownCron(expression.to_owned()))
    }
}

/// A trigger fired with an expression this build has no job for (a stale `wrangler.toml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownCron(pub String);

impl fmt::Display for UnknownCron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no job runs on cron {:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_expression_maps_to_its_job() {
        assert_eq!(CronJob::from_cron("0 * * * *"), Ok(CronJob::Sweep));
        assert_eq!(CronJob::from_cron("* * * * *"), Ok(CronJob::Dispatch));
        assert_eq!(CronJob::from_cron("  0  * * *   * "), Ok(CronJob::Sweep));
    }

    #[test]
    fn unknown_expressions_are_reported_not_guessed() {
        assert_eq!(
            CronJob::from_cron("*/5 * * * *"),
            Err(UnknownCron("*/5 * * * *".into()))
        );
        assert!(CronJob::from_cron("").is_err());
    }

    #[test]
    fn names_are_distinct() {
        assert_ne!(CronJob::Sweep.name(), CronJob::Dispatch.name());
    }
}
