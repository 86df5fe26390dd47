//! Warnings ahead of a grant's known death: `connection.expiring` fires once per stage, by
//! default 14, 3 and 1 days before the date in the ledger (`EXPIRY_WARNINGS`, in days).
//!
//! The first stage is also the warning window: from it on the connection is yellow. The sweep
//! visits the grant at each stage's moment ([`Warnings::next_moment`]), and each stage's event
//! has its own dedupe key, so a stage is announced once however often the grant is written.

use crate::core::common::clock::Timestamp;
use crate::core::common::settings::SettingError;

const DAY_MS: i64 = 86_400_000;
/// At most this many stages.
pub const MAX_STAGES: usize = 6;

/// The stages, in days before the death, largest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warnings {
    days: [u16; MAX_STAGES],
    len: usize,
}

impl Default for Warnings {
    fn default() -> Self {
        Self::from_days(&[14, 3, 1]).expect("the default stages are valid")
    }
}

impl Warnings {
    /// Stages from a list of days: 1 to 365 each, distinct, at most [`MAX_STAGES`].
    pub fn from_days(days: &[u16]) -> Result<Self, SettingError> {
        if days.is_empty() || days.len() > MAX_STAGES {
            return Err(SettingError::rule(
                "EXPIRY_WARNINGS",
                format!("EXPIRY_WARNINGS needs 1 to {MAX_STAGES} stages, e.g. 14,3,1"),
            ));
        }
        let mut sorted = days.to_vec();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        if sorted.len() != days.len() || sorted.iter().any(|d| !(1..=365).contains(d)) {
            return Err(SettingError::rule(
                "EXPIRY_WARNINGS",
                "EXPIRY_WARNINGS stages are distinct whole days from 1 to 365",
            ));
        }
        let mut out = Self {
            days: [0; MAX_STAGES],
            len: sorted.len(),
        };
        out.days[..sorted.len()].copy_from_slice(&sorted);
        Ok(out)
    }

    /// Parses `14,3,1` (days before the death, any order).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let days: Result<Vec<u16>, _> = text.split(',').map(|d| d.trim().parse::<u16>()).collect();
        let days = days.map_err(|_| {
            SettingError::rule(
                "EXPIRY_WARNINGS",
                "EXPIRY_WARNINGS is a comma-separated list of whole days, e.g. 14,3,1",
            )
        })?;
        Self::from_days(&days)
    }

    fn stages(&self) -> &[u16] {
        &self.days[..self.len]
    }

    /// The warning window: from this long before the death the connection is yellow.
    pub fn window_ms(&self) -> i64 {
        i64::from(self.stages()[0]) * DAY_MS
    }

    /// The stage reached at `now` for a grant dying at `dies_at`: the smallest stage whose
    /// moment has passed (days), or `None` outside the window or past the death.
    pub fn stage_at(&self, dies_at: Timestamp, now: Timestamp) -> Option<u16> {
        if now >= dies_at {
            return None;
        }
        self.stages()
            .iter()
            .rev()
            .copied()
            .find(|d| now >= dies_at.plus_millis(-i64::from(*d) * DAY_MS))
    }

    /// The next moment the grant's standing changes: the next stage, then the death itself.
    pub fn next_moment(&self, dies_at: Timestamp, now: Timestamp) -> Option<Timestamp> {
        self.stages()
            .iter()
            .map(|d| dies_at.plus_millis(-i64::from(*d) * DAY_MS))
            .chain(std::iter::once(dies_at))
            .find(|at| *at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIES: Timestamp = Timestamp::from_millis(1_900_000_000_000);

    fn days_before(d: f64) -> Timestamp {
        DIES.plus_millis(-(d * DAY_MS as f64) as i64)
    }

    #[test]
    fn each_stage_is_reached_at_its_day_and_the_window_is_the_first() {
        let w = Warnings::default();
        assert_eq!(w.window_ms(), 14 * DAY_MS);
        let cases = [
            (20.0, None),
            (14.01, None),
            (14.0, Some(14)),
            (10.0, Some(14)),
            (3.0, Some(3)),
            (2.5, Some(3)),
            (1.0, Some(1)),
            (0.01, Some(1)),
            (0.0, None),
            (-1.0, None),
        ];
        for (before, want) in cases {
            assert_eq!(w.stage_at(DIES, days_before(before)), want, "{before} days");
        }
    }

    #[test]
    fn the_sweep_is_told_each_stage_then_the_death() {
        let w = Warnings::default();
        assert_eq!(
            w.next_moment(DIES, days_before(30.0)),
            Some(days_before(14.0))
        );
        assert_eq!(
            w.next_moment(DIES, days_before(14.0)),
            Some(days_before(3.0))
        );
        assert_eq!(
            w.next_moment(DIES, days_before(2.0)),
            Some(days_before(1.0))
        );
        assert_eq!(w.next_moment(DIES, days_before(0.5)), Some(DIES));
        assert_eq!(w.next_moment(DIES, DIES), None);
    }

    #[test]
    fn stages_parse_in_any_order_and_bad_lists_are_refused() {
        assert_eq!(Warnings::parse("1, 14,3").unwrap(), Warnings::default());
        assert_eq!(Warnings::parse("30").unwrap().window_ms(), 30 * DAY_MS);
        for bad in ["", "14,,3", "0", "400", "3,3", "a", "1,2,3,4,5,6,7"] {
            assert!(Warnings::parse(bad).is_err(), "{bad:?}");
        }
    }
}
