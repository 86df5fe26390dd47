//! How long Evergreen keeps what piles up with use, and when the hourly sweep deletes it.
//!
//! `RETENTION` sets `events_days`, `deliveries_days` and `token_reads_days` (any subset):
//!
//! - **Webhook deliveries** that are settled (delivered or given up) go `deliveries_days` after
//!   they were made. Pending ones stay until they settle.
//! - **Events** go `events_days` after they happened, except each connection's latest event,
//!   which stays so the connection's `seq` keeps counting from where it was, and any event a
//!   delivery still points at.
//! - **Token reads** (the audit) go `token_reads_days` after the read.
//! - **Reconnect nonces** go [`NONCE_KEEP_DAYS`] after their link was used: no link lives longer
//!   (`RECONNECT_LINK_DAYS` is at most 90), so an older nonce can no longer be presented.
//!
//! Each run deletes at most [`PURGE_BATCH`] rows per table, so a backlog drains over a few
//! hours instead of making one sweep run long.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings;
use crate::core::common::settings::SettingError;

pub const NONCE_KEEP_DAYS: i64 = 91;
// RECONNECT_LINK_DAYS is at most 90: a nonce is kept longer than any link lives.
const _: () = assert!(NONCE_KEEP_DAYS > 90);
pub const PURGE_BATCH: u32 = 5_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    pub events_days: u32,
    pub deliveries_days: u32,
    pub token_reads_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            events_days: 180,
            deliveries_days: 30,
            token_reads_days: 90,
        }
    }
}

/// The times before which each kind of row goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoffs {
    pub events: Timestamp,
    pub deliveries: Timestamp,
    pub token_reads: Timestamp,
    pub reconnect_nonces: Timestamp,
}

impl Retention {
    /// Parses `events_days=180,deliveries_days=30,token_reads_days=90` (any subset).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("RETENTION", text)? {
            match key {
                "events_days" => out.events_days = n,
                "deliveries_days" => out.deliveries_days = n,
                "token_reads_days" => out.token_reads_days = n,
                other => return Err(settings::unknown_key("RETENTION", other)),
            }
        }
        let days = [out.events_days, out.deliveries_days, out.token_reads_days];
        if days.iter().any(|d| !(1..=3650).contains(d)) {
            return Err(SettingError::rule(
                "RETENTION",
                "RETENTION: every period is 1 to 3650 days",
            ));
        }
        if out.events_days < out.deliveries_days {
            return Err(SettingError::rule("RETENTION", 
                "RETENTION: events_days must be at least deliveries_days (a delivery shows its event)"
                    .to_owned(),
            ));
        }
        Ok(out)
    }

    pub fn cutoffs(self, now: Timestamp) -> Cutoffs {
        let ago = |days: i64| now.plus_millis(-days * DAY_MS);
        Cutoffs {
            events: ago(self.events_days.into()),
            deliveries: ago(self.deliveries_days.into()),
            token_reads: ago(self.token_reads_days.into()),
            reconnect_nonces: ago(NONCE_KEEP_DAYS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_and_any_subset_parse() {
        assert_eq!(Retention::parse("").unwrap(), Retention::default());
        let set = Retention::parse("deliveries_days=7, token_reads_days=365").unwrap();
        assert_eq!(
            set,
            Retention {
                events_days: 180,
                deliveries_days: 7,
                token_reads_days: 365
            }
        );
    }

    #[test]
    fn mistakes_are_named() {
        assert!(Retention::parse("events=5")
            .unwrap_err()
            .to_string()
            .contains("events"));
        assert!(Retention::parse("events_days=0")
            .unwrap_err()
            .to_string()
            .contains("1 to 3650"));
        assert!(Retention::parse("token_reads_days=4000").is_err());
        assert!(Retention::parse("events_days=10,deliveries_days=20")
            .unwrap_err()
            .to_string()
            .contains("at least deliveries_days"));
    }

    #[test]
    fn cutoffs_lie_the_periods_back_and_nonces_outlive_any_link() {
        let now = Timestamp::from_millis(1_000 * DAY_MS);
        let c = Retention::default().cutoffs(now);
        assert_eq!(c.events, Timestamp::from_millis(820 * DAY_MS));
        assert_eq!(c.deliveries, Timestamp::from_millis(970 * DAY_MS));
        assert_eq!(c.token_reads, Timestamp::from_millis(910 * DAY_MS));
        assert_eq!(c.reconnect_nonces, Timestamp::from_millis(909 * DAY_MS));
    }
}
