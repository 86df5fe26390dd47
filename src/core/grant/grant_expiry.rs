//! The ledger's date: when a grant dies, from what the platform said at the consent and at
//! each refresh.
//!
//! - A grant holding no refresh token dies with its access token (LinkedIn apps without
//!   programmatic refresh: 60 days).
//! - Otherwise it dies when its refresh token does: `refresh_token_expires_in` /
//!   `refresh_expires_in` from the answer (never a constant: TikTok changed its figures), or
//!   the catalogue's documented lifetime when a consent's answer is silent.
//! - Where refreshing never moves that date (LinkedIn's `refresh_expiry_fixed`), a refresh can
//!   only bring it closer, never push it out.
//! - A refresh whose answer is silent keeps the date it had; unknown stays unknown.
//! - Where the platform limits data access rather than tokens (Meta: 90 days from the last
//!   consent; Page tokens themselves do not expire), the grant dies when data access ends.

use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_tokens::access_expiry;
use crate::core::oauth::catalogue::TokenFacts;
use serde::{Deserialize, Serialize};

/// Platforms answer lifetimes in whole seconds, counted when they answer: a fixed date re-read
/// from "seconds left" drifts by this much without having moved.
const ROUNDING_MS: i64 = 60_000;

/// What a token answer said about lifetimes, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifetimes {
    pub expires_in: Option<u64>,
    pub refresh_expires_in: Option<u64>,
}

/// When a grant dies, after an answer issued at `now`. `holds_refresh_token`: the grant has a
/// refresh token once this answer is stored; `previous`: the date before a refresh (`None` at
/// a consent, which starts the grant's life afresh).
pub fn grant_expires_at(
    facts: &TokenFacts,
    answer: Lifetimes,
    holds_refresh_token: bool,
    previous: Option<Timestamp>,
    now: Timestamp,
) -> Option<Timestamp> {
    if let Some(window) = facts.data_access_lifetime_secs {
        // A consent opens a new window; a later answer (none on Meta) keeps the date.
        return previous.or_else(|| access_expiry(now, Some(window)));
    }
    if !holds_refresh_token {
        return access_expiry(now, answer.expires_in);
    }
    let refreshing = previous.is_some();
    let said = access_expiry(now, answer.refresh_expires_in);
    let documented = (!refreshing)
        .then(|| access_expiry(now, facts.refresh_lifetime_secs))
        .flatten();
    match (said.or(documented), previous) {
        // Fixed: the date can come closer (the platform cut the grant short), never move
        // out, and a refresh answering its remaining seconds leaves it exactly where it was.
        (Some(new), Some(old)) if facts.refresh_expiry_fixed => {
            Some(if new.as_millis() < old.as_millis() - ROUNDING_MS {
                new
            } else {
                old
            })
        }
        (Some(new), _) => Some(new),
        (None, old) => old,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::oauth::catalogue::Catalogue;

    const T0: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const DAY_SECS: u64 = 86_400;
    const DAY: i64 = 86_400_000;

    fn facts(provider: &str) -> TokenFacts {
        Catalogue::builtin().get(provider).unwrap().tokens.clone()
    }

    #[test]
    fn a_grant_without_a_refresh_token_dies_with_its_access_token() {
        let answer = Lifetimes {
            expires_in: Some(60 * DAY_SECS),
            refresh_expires_in: None,
        };
        assert_eq!(
            grant_expires_at(&facts("linkedin"), answer, false, None, T0),
            Some(T0.plus_millis(60 * DAY))
        );
        let silent = Lifetimes {
            expires_in: None,
            refresh_expires_in: None,
        };
        assert_eq!(
            grant_expires_at(&facts("linkedin"), silent, false, None, T0),
            None
        );
    }

    #[test]
    fn a_meta_grant_dies_when_data_access_ends_not_with_its_user_token() {
        let fb = facts("facebook");
        let answer = Lifetimes {
            expires_in: Some(60 * DAY_SECS),
            refresh_expires_in: None,
        };
        assert_eq!(
            grant_expires_at(&fb, answer, false, None, T0),
            Some(T0.plus_millis(90 * DAY)),
            "a consent opens Meta's 90-day data-access window"
        );
        let known = Some(T0.plus_millis(80 * DAY));
        assert_eq!(grant_expires_at(&fb, answer, false, known, T0), known);
        let ig = facts("instagram");
        assert_eq!(
            grant_expires_at(&ig, answer, false, known, T0),
            Some(T0.plus_millis(60 * DAY)),
            "Instagram's grant lives as long as its latest token"
        );
    }

    #[test]
    fn a_fixed_death_never_moves_out_however_the_refresh_answers() {
        let li = facts("linkedin");
        let consent = Lifetimes {
            expires_in: Some(60 * DAY_SECS),
            refresh_expires_in: Some(365 * DAY_SECS),
        };
        let dies = grant_expires_at(&li, consent, true, None, T0);
        assert_eq!(dies, Some(T0.plus_millis(365 * DAY)));
        // Day 30, a little after the hour: LinkedIn answers the whole seconds left (a date a
        // fraction earlier), or (wrongly) a fresh 365 days.
        let day_30 = T0.plus_millis(30 * DAY + 400);
        for left_secs in [335 * DAY_SECS - 1, 365 * DAY_SECS] {
            let refreshed = Lifetimes {
                expires_in: Some(60 * DAY_SECS),
                refresh_expires_in: Some(left_secs),
            };
            assert_eq!(grant_expires_at(&li, refreshed, true, dies, day_30), dies);
        }
        // Cut short by the platform: the nearer date is taken.
        let cut = Lifetimes {
            expires_in: Some(60 * DAY_SECS),
            refresh_expires_in: Some(10 * DAY_SECS),
        };
        assert_eq!(
            grant_expires_at(&li, cut, true, dies, day_30),
            Some(day_30.plus_millis(10 * DAY))
        );
        // A silent consent answer falls back to the documented lifetime.
        let silent = Lifetimes {
            expires_in: Some(60 * DAY_SECS),
            refresh_expires_in: None,
        };
        assert_eq!(grant_expires_at(&li, silent, true, None, T0), dies);
    }

    #[test]
    fn a_rotating_grant_takes_each_answers_lifetime_and_keeps_it_when_silent() {
        let tt = facts("tiktok");
        assert_eq!(
            tt.refresh_lifetime_secs, None,
            "from the answer, never a constant"
        );
        let consent = Lifetimes {
            expires_in: Some(86_400),
            refresh_expires_in: Some(365 * DAY_SECS),
        };
        let dies = grant_expires_at(&tt, consent, true, None, T0);
        assert_eq!(dies, Some(T0.plus_millis(365 * DAY)));
        let later = T0.plus_millis(100 * DAY);
        let newer_docs = Lifetimes {
            expires_in: Some(7_200),
            refresh_expires_in: Some(180 * DAY_SECS),
        };
        assert_eq!(
            grant_expires_at(&tt, newer_docs, true, dies, later),
            Some(later.plus_millis(180 * DAY)),
            "a rotation moves the date, even closer"
        );
        let silent = Lifetimes {
            expires_in: Some(7_200),
            refresh_expires_in: None,
        };
        assert_eq!(grant_expires_at(&tt, silent, true, dies, later), dies);
        assert_eq!(
            grant_expires_at(&tt, silent, true, None, T0),
            None,
            "unknown"
        );
    }
}
