//! The sweep's plan: how much one invocation takes on, how long a taken grant is leased, and
//! the messages it hands the refresh queue.
//!
//! The sweep pages through due grants (`next_check_at <= now`, through its index). Taking a
//! page is one atomic statement that also leases each taken grant (`store::sweep`, the
//! `sweep_leases` table), so an overlapping sweep cannot take it again; the grant's own visit then sets the real next check
//! and ends the lease. A visit that never happens (a lost message, a crash before `send`) makes
//! the grant due again when the lease ends: nothing is stranded.
//!
//! Pages follow a [`SweepCursor`] (the last grant taken, in `(next_check_at, id)` order), carried
//! from page to page and into [`RefreshMessage::SweepMore`]. Without it every page would walk
//! the index over all the grants the earlier pages leased (they are still due until visited):
//! a run's cost would grow with the square of the due count. With it each page reads its own
//! rows only. A grant made due behind the cursor during a run waits for the next run.
//!
//! One invocation has a subrequest budget (50 on the free plan) and about six concurrent
//! connections. Each page costs two subrequests (the UPDATE and one `sendBatch`), so the sweep
//! takes at most `pages` pages and, when there may be more, hands the rest to the refresh
//! queue as a [`RefreshMessage::SweepMore`], whose consumer continues in a fresh invocation.

use crate::core::common::ids::GrantId;
use crate::core::common::settings;
use crate::core::common::settings::SettingError;
use crate::core::common::tagged;
use serde::{Deserialize, Serialize};

/// Grants per page: a queue's `sendBatch` takes at most 100 messages.
pub const PAGE_SIZE: u32 = 100;

/// The sweep's settings (`SWEEP`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepBudget {
    /// Pages per invocation.
    pub pages: u32,
    /// Grants per page (at most [`PAGE_SIZE`]; smaller only to watch paging in tests).
    pub page_size: u32,
    /// How long a taken grant waits before another sweep may take it again.
    pub lease_ms: i64,
}

impl Default for SweepBudget {
    fn default() -> Self {
        Self {
            pages: 20,
            page_size: PAGE_SIZE,
            lease_ms: 15 * 60_000,
        }
    }
}

impl SweepBudget {
    /// Parses `pages=20,page_size=100,lease_seconds=900` (any subset; the rest default).
    pub fn parse(text: &str) -> Result<Self, SettingError> {
        let mut out = Self::default();
        for (key, n) in settings::whole_numbers("SWEEP", text)? {
            match key {
                "pages" => out.pages = n,
                "page_size" => out.page_size = n,
                "lease_seconds" => out.lease_ms = i64::from(n) * 1_000,
                other => return Err(settings::unknown_key("SWEEP", other)),
            }
        }
        if out.pages == 0
            || out.pages > 20
            || out.page_size == 0
            || out.page_size > PAGE_SIZE
            || out.lease_ms < 60_000
        {
            return Err(SettingError::rule(
                "SWEEP",
                format!(
                    "SWEEP: need 1 <= pages <= 20, 1 <= page_size <= {PAGE_SIZE} and \
                 lease_seconds >= 60"
                ),
            ));
        }
        Ok(out)
    }

    /// Whether the sweep must hand the rest on: it used all its pages and the last was full.
    pub fn more_may_be_due(self, pages_taken: u32, last_page_len: usize) -> bool {
        pages_taken >= self.pages && last_page_len >= self.page_size as usize
    }
}

/// Where a sweep run stands: the last grant it took, in `(next_check_at, id)` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursor {
    /// Unix milliseconds.
    pub next_check_at: i64,
    pub grant_id: GrantId,
}

impl SweepCursor {
    /// The cursor after a page: the page's last grant in `(next_check_at, id)` order, or the
    /// old cursor when the page was empty.
    pub fn after_page(
        old: Option<Self>,
        page: impl IntoIterator<Item = (i64, String)>,
    ) -> Option<Self> {
        page.into_iter()
            .max()
            .map(|(next_check_at, grant_id)| SweepCursor {
                next_check_at,
                grant_id: grant_id.into(),
            })
            .or(old)
    }
}

/// A refresh-queue message. Ids only, never tokens. Tagged by `kind` (read by
/// `core::common::tagged`, written by serde's derive).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefreshMessage {
    /// Visit one grant (in its Durable Object).
    Visit { grant_id: GrantId },
    /// Continue the sweep where the last invocation's budget ended (`after` its cursor; a
    /// message from before cursors starts at the beginning).
    SweepMore {
        #[serde(default)]
        after: Option<SweepCursor>,
    },
}

impl<'de> Deserialize<'de> for RefreshMessage {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        tagged::deserialize(deserializer, "kind", |mut t| {
            Ok(match t.tag.as_str() {
                "visit" => Self::Visit {
                    grant_id: t.field("grant_id")?,
                },
                "sweep_more" => Self::SweepMore {
                    after: t.optional("after")?,
                },
                _ => return t.unknown(&["visit", "sweep_more"]),
            })
        })
    }
}

impl RefreshMessage {
    /// The lane it is worked in (`core::common::lanes`): its grant's, or, for the sweep's own
    /// continuations, the sweep's (`None`).
    pub fn lane(&self) -> Option<GrantId> {
        match self {
            Self::Visit { grant_id } => Some(grant_id.clone()),
            Self::SweepMore { .. } => None,
        }
    }
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
                page_size: PAGE_SIZE,
                lease_ms: 120_000
            }
        );
        assert_eq!(SweepBudget::parse("page_size=1").unwrap().page_size, 1);
        for bad in [
            "pages=0",
            "pages=21",
            "page_size=0",
            "page_size=101",
            "lease_seconds=10",
            "pages",
            "x=1",
        ] {
            assert!(SweepBudget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rest_is_handed_on_only_when_the_budget_ran_out_on_a_full_page() {
        let budget = SweepBudget {
            pages: 2,
            page_size: PAGE_SIZE,
            lease_ms: 60_000,
        };
        assert!(budget.more_may_be_due(2, PAGE_SIZE as usize));
        assert!(!budget.more_may_be_due(2, 99));
        assert!(!budget.more_may_be_due(1, PAGE_SIZE as usize));
        let small = SweepBudget {
            page_size: 1,
            ..budget
        };
        assert!(small.more_may_be_due(2, 1));
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
            RefreshMessage::SweepMore { after: None }
        );
        let more = RefreshMessage::SweepMore {
            after: Some(SweepCursor {
                next_check_at: 5,
                grant_id: "gr_9".into(),
            }),
        };
        let json = serde_json::to_value(&more).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "sweep_more", "after": {"next_check_at": 5, "grant_id": "gr_9"}})
        );
        assert_eq!(
            serde_json::from_value::<RefreshMessage>(json).unwrap(),
            more
        );
    }

    #[test]
    fn the_cursor_moves_to_the_pages_last_grant_in_check_then_id_order() {
        let page = vec![
            (7, "gr_b".to_owned()),
            (9, "gr_a".to_owned()),
            (9, "gr_c".to_owned()),
        ];
        assert_eq!(
            SweepCursor::after_page(None, page),
            Some(SweepCursor {
                next_check_at: 9,
                grant_id: "gr_c".into()
            })
        );
        let old = SweepCursor {
            next_check_at: 3,
            grant_id: "gr_z".into(),
        };
        assert_eq!(
            SweepCursor::after_page(Some(old.clone()), Vec::new()),
            Some(old)
        );
    }
}
