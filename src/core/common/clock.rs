//! Time as the core sees it: a [`Timestamp`] handed in by the edge, never read from a clock.
//!
//! In test builds the edge's clock can be shifted (see [`ClockOffset`]) so an end-to-end test
//! can jump days ahead and watch warnings, expiries and sweeps happen.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This instant moved by `millis` (negative moves back), saturating at the ends of `i64`.
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0.saturating_add(millis))
    }

    /// RFC 3339 with millisecond precision, e.g. `2026-11-22T10:00:00.000Z`.
    /// Instants chrono cannot represent (beyond year ±262,143) print as raw milliseconds.
    pub fn to_rfc3339(self) -> String {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(at) => at.to_rfc3339_opts(SecondsFormat::Millis, true),
            None => format!("{}ms", self.0),
        }
    }
}

impl Timestamp {
    /// Reads RFC 3339 (`2026-11-22T09:00:00Z`, any offset), and Meta's variant without the
    /// colon in the offset (`2026-11-22T09:00:00+0000`).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let text = text.trim();
        DateTime::parse_from_rfc3339(text)
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z"))
            .ok()
            .map(|at| Self(at.timestamp_millis()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// How far a test build's clock is shifted from real time. Always zero in a release build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClockOffset(i64);

/// The largest shift a test may ask for: ten years either way is more than any platform's
/// lifetime, and keeps every shifted instant far inside what dates can represent.
pub const MAX_OFFSET_MILLIS: i64 = 10 * 366 * 24 * 60 * 60 * 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OffsetOutOfRange(pub i64);

impl fmt::Display for OffsetOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offset_ms {} is outside ±{} (ten years)",
            self.0, MAX_OFFSET_MILLIS
        )
    }
}

impl std::error::Error for OffsetOutOfRange {}

impl ClockOffset {
    pub const ZERO: Self = Self(0);

    pub fn from_millis(millis: i64) -> Result<Self, OffsetOutOfRange> {
        if millis.unsigned_abs() > MAX_OFFSET_MILLIS.unsigned_abs() {
            return Err(OffsetOutOfRange(millis));
        }
        Ok(Self(millis))
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// The instant every handler uses: real time moved by this offset.
    pub const fn apply(self, real: Timestamp) -> Timestamp {
        real.plus_millis(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn formats_as_rfc3339_utc_with_millis() {
        let at = Timestamp::from_millis(1_795_348_800_123);
        assert_eq!(at.to_rfc3339(), "2026-11-22T12:00:00.123Z");
        assert_eq!(
            Timestamp::from_millis(0).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn unrepresentable_instants_still_format() {
        assert_eq!(
            Timestamp::from_millis(i64::MAX).to_rfc3339(),
            format!("{}ms", i64::MAX)
        );
    }

    #[test]
    fn offset_moves_time_both_ways() {
        let real = Timestamp::from_millis(1_000_000);
        let fortnight = 14 * 24 * 60 * 60 * 1000;
        let ahead = ClockOffset::from_millis(fortnight).unwrap();
        assert_eq!(ahead.apply(real).as_millis(), 1_000_000 + fortnight);
        let back = ClockOffset::from_millis(-500).unwrap();
        assert_eq!(back.apply(real).as_millis(), 999_500);
        assert_eq!(ClockOffset::ZERO.apply(real), real);
    }

    #[test]
    fn offset_is_bounded_to_ten_years() {
        assert!(ClockOffset::from_millis(MAX_OFFSET_MILLIS).is_ok());
        assert!(ClockOffset::from_millis(-MAX_OFFSET_MILLIS).is_ok());
        assert_eq!(
            ClockOffset::from_millis(MAX_OFFSET_MILLIS + 1),
            Err(OffsetOutOfRange(MAX_OFFSET_MILLIS + 1))
        );
        assert!(ClockOffset::from_millis(i64::MIN).is_err());
    }

    #[test]
    fn plus_saturates_instead_of_overflowing() {
        assert_eq!(
            Timestamp::from_millis(i64::MAX).plus_millis(1).as_millis(),
            i64::MAX
        );
        assert_eq!(
            Timestamp::from_millis(i64::MIN).plus_millis(-1).as_millis(),
            i64::MIN
        );
    }
}
