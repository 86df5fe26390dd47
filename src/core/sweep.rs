//! The sweep's plan: how much one invocation takes on, how long a taken grant is leased, and
//! the messages it hands the refresh queue.
//!
//! The sweep pages through due grants (`next_check_at <= now`, through its index). Taking a
//! page is one atomic UPDATE that also moves each taken grant's `next_check_at` a lease into
//! the future, so an overlapping sweep cannot take it again; the grant's own visit then sets
//! the real next check. A visit that never happens (a lost message, a crash before `send`)
//! makes the grant due again when the lease ends: nothing is stranded.
//!
//! One invocation has a subrequest budget (50 on the free plan) and about six concurrent
//! connections. Each page costs two subrequests (the UPDATE and one `sendBatch`), so the sweep
//! takes at most `pages` pages and, when there may be more, hands the rest to the refresh
//! queue as a [`RefreshMessage::SweepMore`], whose consumer continues in a fresh invocation.

use crate::core::settings;
use serde::{Deserialize, Serialize};

/// Grants per page: a queue's `sendBatch` takes at most 100 messages.
pub const PAGE_SIZE: u32 = 100;

/// The sweep's settings (`SWEEP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepBudget {
    /// Pages per invocation.
    pub pages: u32,
    /// How long a taken grant waits before another sweep may take it again.
    pub lease_ms: i64,
}

impl Default for SweepBudget {
    fn default() -> Self {
        Self {
            pages: 20,
            lease_ms: 15 * 60_000,
        }
    }
}

impl SweepBudget {
    /// Parses `pages=20,lease_seconds=900` (any subset; the rest default).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("SWEEP", text)? {
            match key {
                "pages" => out.pages = n,
                "lease_seconds" => out.lease_ms = i64::from(n) * 1_000,
                other => return Err(settings::unknown_key("SWEEP", other)),
            }
        }
        if out.pages == 0 || out.pages > 20 || out.lease_ms < 60_000 {
            return Err("SWEEP: need 1 <= pages <= 20 and lease_seconds >= 60".into());
        }
        Ok(out)
    }

    /// Whether the sweep must hand the rest on: it used all its pages and the last was full.
    pub fn more_may_be_due(self, pages_taken: u32, last_page_len: usize) -> bool {
        pages_taken >= self.pages && last_page_len >= PAGE_SIZE as usize
    }
}

/// A refresh-queue message. Ids only, never tokens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefreshMessage {
    /// Visit one grant (in its Durable Object).
    Visit { grant_id: String },
    /// Continue the sweep where the last invocation's budget ended.
    SweepMore,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_configuration_within_the_platform_limits() {
        assert_eq!(SweepBudget::parse("").unwrap(), SweepBudget::default());
        assert_eq!(
            SweepBudget::parse("pages=2, lease_seconds=120").unwrap(),
            SweepBudget {
                pages: 2,
                lease_ms: 120_000
            }
        );
        for bad in ["pages=0", "pages=21", "lease_seconds=10", "pages", "x=1"] {
            assert!(SweepBudget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rest_is_handed_on_only_when_the_budget_ran_out_on_a_full_page() {
        let budget = SweepBudget {
            pages: 2,
            lease_ms: 60_000,
        };
        assert!(budget.more_may_be_due(2, PAGE_SIZE as usize));
        assert!(!budget.more_may_be_due(2, 99));
        assert!(!budget.more_may_be_due(1, PAGE_SIZE as usize));
    }

    #[test]
    fn messages_carry_ids_in_a_stable_shape() {
        let visit = RefreshMessage::Visit {
            grant_id: "gr_1".into(),
        };
        assert_eq!(
            serde_json::to_value(&visit).unwrap(),
            serde_json::json!({"kind": "visit", "grant_id": "gr_1"})
        );
        assert_eq!(
            serde_json::from_value::<RefreshMessage>(serde_json::json!({"kind": "sweep_more"}))
                .unwrap(),
            RefreshMessage::SweepMore
        );
    }
}
