//! A circuit breaker per platform: when a platform keeps failing, stop calling it for a while.
//!
//! Each grant already backs off on its own; the breaker bounds the calls a platform outage
//! costs across all grants. After `failures` transient failures in a row (any grants of the
//! platform), the circuit opens for `open_ms`: refreshes are not attempted, and the grants wait
//! (they are not counted as failing: nothing was asked). When the time is up, one caller takes
//! the probe (the edge claims it with a conditional update); its success closes the circuit,
//! its failure opens it again. Answers that prove the platform is up (a token, a refusal of
//! one grant, a rejected client) count as successes.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings;
use crate::core::common::settings::SettingError;

/// The breaker's settings (`CIRCUIT_BREAKER`; seconds in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    pub failures: u32,
    pub open_ms: i64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            open_ms: 300_000,
        }
    }
}

impl BreakerConfig {
    /// Parses `failures=5,open_seconds=300` (any subset; the rest default).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("CIRCUIT_BREAKER", text)? {
            match key {
                "failures" => out.failures = n,
                "open_seconds" => out.open_ms = i64::from(n) * 1_000,
                other => return Err(settings::unknown_key("CIRCUIT_BREAKER", other)),
            }
        }
        if out.failures == 0 || out.open_ms <= 0 {
            return Err(SettingError::rule(
                "CIRCUIT_BREAKER",
                "CIRCUIT_BREAKER: need failures >= 1 and open_seconds >= 1",
            ));
        }
        Ok(out)
    }
}

/// One platform's circuit, as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Circuit {
    pub consecutive_failures: u32,
    pub open_until: Option<Timestamp>,
}

/// Whether a call to the platform may go out now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Closed: call.
    Call,
    /// Open until then: don't call.
    Wait { until: Timestamp },
    /// The open time is over: one caller may probe, after claiming the probe (which pushes
    /// `open_until` to `reopen_until` so that the others wait).
    Probe { reopen_until: Timestamp },
}

impl Circuit {
    pub fn admission(self, config: BreakerConfig, now: Timestamp) -> Admission {
        if self.consecutive_failures < config.failures {
            return Admission::Call;
        }
        match self.open_until {
            Some(until) if now < until => Admission::Wait { until },
            _ => Admission::Probe {
                reopen_until: now.plus_millis(config.open_ms),
            },
        }
    }

    /// The circuit after one more transient failure at `now`.
    pub fn after_failure(self, config: BreakerConfig, now: Timestamp) -> Self {
        let failures = self.consecutive_failures.saturating_add(1);
        Self {
            consecutive_failures: failures,
            open_until: if failures >= config.failures {
                Some(now.plus_millis(config.open_ms))
            } else {
                self.open_until
            },
        }
    }

    /// The circuit after an answer that proves the platform is up.
    pub fn after_success(self) -> Self {
        Self::default()
    }

    /// What a caller that lost the probe claim finds when it reads the circuit again, the probe
    /// having held it open until `probing_until`. Callers working a queue batch side by side
    /// arrive together; rather than all but one holding back for another open period, they
    /// wait for the probe's answer (`core::common::lanes`).
    pub fn after_probe(self, config: BreakerConfig, probing_until: Timestamp) -> AfterProbe {
        if self.consecutive_failures < config.failures {
            return AfterProbe::Go; // the probe's success closed it
        }
        match self.open_until {
            Some(until) if until == probing_until => AfterProbe::Probing,
            // The probe failed and opened it again (or an operator reset it open).
            Some(until) => AfterProbe::Wait { until },
            None => AfterProbe::Probing,
        }
    }
}

/// See [`Circuit::after_probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterProbe {
    /// Closed: call.
    Go,
    /// The probe failed: open again until then.
    Wait { until: Timestamp },
    /// The probe has not answered yet: look again shortly (or hold back once tired of it).
    Probing,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn it_opens_after_the_threshold_and_lets_one_probe_through_later() {
        let config = BreakerConfig::parse("failures=3,open_seconds=60").unwrap();
        let mut c = Circuit::default();
        for _ in 0..2 {
            c = c.after_failure(config, T0);
            assert_eq!(c.admission(config, T0), Admission::Call);
        }
        c = c.after_failure(config, T0);
        let reopens = T0.plus_millis(60_000);
        assert_eq!(c.admission(config, T0), Admission::Wait { until: reopens });
        assert_eq!(
            c.admission(config, reopens),
            Admission::Probe {
                reopen_until: reopens.plus_millis(60_000)
            }
        );
        // A failed probe opens it again from then; a success closes it.
        let failed = c.after_failure(config, reopens);
        assert_eq!(
            failed.admission(config, reopens),
            Admission::Wait {
                until: reopens.plus_millis(60_000)
            }
        );
        assert_eq!(
            failed.after_success().admission(config, reopens),
            Admission::Call
        );
    }

    #[test]
    fn a_caller_that_lost_the_probe_follows_its_answer() {
        let config = BreakerConfig::parse("failures=3,open_seconds=60").unwrap();
        let probing_until = T0.plus_millis(60_000);
        let open = Circuit {
            consecutive_failures: 3,
            open_until: Some(probing_until),
        };
        assert_eq!(open.after_probe(config, probing_until), AfterProbe::Probing);
        assert_eq!(
            open.after_success().after_probe(config, probing_until),
            AfterProbe::Go
        );
        let reopened = open.after_failure(config, T0.plus_millis(1_000));
        assert_eq!(
            reopened.after_probe(config, probing_until),
            AfterProbe::Wait {
                until: T0.plus_millis(61_000)
            }
        );
    }

    #[test]
    fn the_configuration_is_checked() {
        assert_eq!(BreakerConfig::parse("").unwrap(), BreakerConfig::default());
        for bad in [
            "failures=0",
            "open_seconds=0",
            "failures=x",
            "nope=1",
            "failures",
        ] {
            assert!(BreakerConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
