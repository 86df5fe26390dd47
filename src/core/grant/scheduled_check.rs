//! The scheduled check: every grant is proved alive with its platform once per interval
//! (`check_every_secs` in the catalogue, daily by default), whatever its refresh policy, so a
//! grant revoked in the platform's settings turns red within one interval instead of when a
//! post fails.
//!
//! **Spread.** Each grant owns one slot of the interval, and its checks fall on that slot:
//! `phase + k × interval`. The phase comes from the grant's sequence number in the table (its
//! SQLite rowid) by Fibonacci hashing: the fractional parts of `n × φ` for consecutive `n` are
//! as evenly spread as a sequence can be (the three-distance theorem), so any run of N grants,
//! however they were connected (fifty in one minute, say), puts at most about twice N/24 checks
//! into any hour of a daily interval. A hash of the random grant id would not: 50 uniform draws
//! into 24 hours crowd five or more into some hour three times in four.
//!
//! **One check per interval.** The next check is the grant's first slot strictly after the
//! last time the platform proved the grant alive (an identity call, or a refresh), so an
//! untouched grant is checked exactly once per interval, and a grant whose token was refreshed
//! by a reader since its last check counts that refresh as its check.
//!
//! **What a check calls.** The cheapest call that proves the grant works: the identity call
//! while the access token is valid for at least [`CHECK_MIN_TOKEN_MS`] more; otherwise, when
//! the grant can refresh, a refresh through the grant's object (which proves it too). An
//! identity call with an expired token would only be refused and then refreshed: two calls
//! where one does.

use crate::core::common::clock::Timestamp;

/// An access token with less than this left is not used for an identity call: the check
/// refreshes instead.
pub const CHECK_MIN_TOKEN_MS: i64 = 5 * 60 * 1000;

/// φ − 1 in 64-bit fixed point (Knuth's multiplicative hashing constant).
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A grant's place in any check interval, as a fraction of it (64-bit fixed point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckSlot(u64);

impl CheckSlot {
    /// The slot of the grant with sequence number `seq` (its rowid; new grants take the next
    /// one).
    pub fn of_seq(seq: u64) -> Self {
        CheckSlot(seq.wrapping_mul(GOLDEN))
    }

    /// The slot that puts a check at `at` (and every `interval_ms` from it): for tests that
    /// want checks on round times.
    pub fn through(at: Timestamp, interval_ms: i64) -> Self {
        let interval = interval_ms.max(1);
        let offset = at.as_millis().rem_euclid(interval) as u128;
        // The smallest fraction whose phase is at least `offset`.
        let fraction = (offset << 64).div_ceil(interval as u128);
        CheckSlot(fraction.min(u128::from(u64::MAX)) as u64)
    }

    /// Where in `[0, interval_ms)` this slot lies.
    pub fn phase_ms(self, interval_ms: i64) -> i64 {
        let interval = interval_ms.max(1) as u128;
        ((u128::from(self.0) * interval) >> 64) as i64
    }

    /// The first of this slot's times strictly after `after`.
    pub fn next_after(self, after: Timestamp, interval_ms: i64) -> Timestamp {
        let interval = interval_ms.max(1);
        let phase = self.phase_ms(interval);
        let t = after.as_millis();
        // The slot time at or before `t`, then one interval on.
        let base = t - (t - phase).rem_euclid(interval);
        Timestamp::from_millis(base + interval)
    }
}

/// Whether the access token can carry an identity call at `now`: valid for a while yet, or of
/// unknown lifetime (the platform said nothing, so only a call tells).
pub fn token_can_carry_a_call(access_expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    access_expires_at.is_none_or(|at| at.as_millis() - now.as_millis() >= CHECK_MIN_TOKEN_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    #[test]
    fn an_untouched_grant_is_checked_once_in_every_interval_on_its_own_slot() {
        let slot = CheckSlot::of_seq(7);
        let first = slot.next_after(T0, DAY);
        assert!(first > T0 && first <= T0.plus_millis(DAY), "{first}");
        // Checked an hour late (the sweep is hourly): the next one is still on the slot.
        let second = slot.next_after(first.plus_millis(HOUR - 1), DAY);
        assert_eq!(second, first.plus_millis(DAY));
        // Exactly three slots in any 72 hours that start at the connect.
        let mut at = T0;
        let mut n = 0;
        loop {
            at = slot.next_after(at, DAY);
            if at > T0.plus_millis(3 * DAY) {
                break;
            }
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn any_run_of_grants_spreads_over_the_hours_of_the_day() {
        for n in [24u64, 50, 100, 1000] {
            for start in [1u64, 2, 17, 999, 123_456] {
                let mut hours = [0u64; 24];
                for seq in start..start + n {
                    let phase = CheckSlot::of_seq(seq).phase_ms(DAY);
                    hours[(phase / HOUR) as usize] += 1;
                }
                let most = *hours.iter().max().unwrap();
                assert!(
                    most * 24 <= 2 * n + 24,
                    "{n} grants from {start}: {most} in one hour ({hours:?})"
                );
            }
        }
    }

    #[test]
    fn a_slot_can_be_put_through_a_given_time() {
        let slot = CheckSlot::through(T0, DAY);
        assert_eq!(slot.next_after(T0, DAY), T0.plus_millis(DAY));
        assert_eq!(
            slot.next_after(T0.plus_millis(-1), DAY),
            T0,
            "the slot itself is a check time"
        );
        for interval in [HOUR, 6 * HOUR, DAY, 7 * DAY] {
            let slot = CheckSlot::of_seq(42);
            assert!((0..interval).contains(&slot.phase_ms(interval)));
        }
    }

    #[test]
    fn an_identity_call_needs_a_token_with_time_left() {
        assert!(token_can_carry_a_call(None, T0));
        assert!(token_can_carry_a_call(Some(T0.plus_millis(HOUR)), T0));
        assert!(!token_can_carry_a_call(Some(T0.plus_millis(60_000)), T0));
        assert!(!token_can_carry_a_call(Some(T0.plus_millis(-1)), T0));
    }
}
