//! The sweep: takes due grants a page at a time and hands each to the refresh queue, whose
//! consumer visits the grant in its Durable Object (`grant_visit`).
//!
//! Taking a page is one INSERT … SELECT … RETURNING over the `next_check_at` index that also
//! leases the taken grants (`store::sweep`, the `sweep_leases` table), so overlapping sweeps
//! never take the same grant twice; a lease that is never released (a lost message, a crash before `send`) ends by
//! itself and the grant is taken again. Each page starts after the last grant the run took
//! (`SweepCursor`), so it never walks over the grants earlier pages leased. The budget and the
//! hand-on of what is left are the core's (`core::grant::sweep`).

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::common::log::LogLine;
use crate::core::common::queues::WorkQueue;
use crate::core::grant::sweep::{RefreshMessage, SweepCursor};
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::http::respond::{self, Failure};
use crate::store;
use serde_json::{json, Value};
use worker::Result;

/// One invocation's share of the sweep, from the start (`None`) or after `cursor`.
pub async fn sweep(cx: &Context, now: Timestamp, mut cursor: Option<SweepCursor>) -> Result<Value> {
    let budget = cx.settings().sweep;
    let db = cx.db()?;
    let queue = cx.env().queue(WorkQueue::Refresh.binding())?;
    let (mut taken, mut pages, mut last_len) = (0usize, 0u32, 0usize);
    let lease_until = now.plus_millis(budget.lease_ms);
    while pages < budget.pages {
        let page = store::sweep::take_due(&db, now, lease_until, budget.page_size, cursor.as_ref())
            .await?;
        pages += 1;
        last_len = page.len();
        if page.is_empty() {
            break;
        }
        cursor = SweepCursor::after_page(cursor, page.iter().cloned());
        let messages: Vec<RefreshMessage> = page
            .into_iter()
            .map(|(_, grant_id)| RefreshMessage::Visit {
                grant_id: grant_id.into(),
            })
            .collect();
        queue.send_batch(messages).await?;
        taken += last_len;
        if last_len < budget.page_size as usize {
            break;
        }
    }
    let handed_on = budget.more_may_be_due(pages, last_len);
    if handed_on {
        queue
            .send(RefreshMessage::SweepMore { after: cursor })
            .await?;
    }
    Ok(json!({ "taken": taken, "pages": pages, "handed_on": handed_on }))
}

/// How a refresh-queue message went: done (ack) or worth another try (retry).
pub enum Delivery {
    Done,
    Retry(String),
}

/// Carries out one refresh-queue message.
pub async fn handle(cx: &Context, message: RefreshMessage, now: Timestamp) -> Delivery {
    match message {
        RefreshMessage::SweepMore { after } => match sweep(cx, now, after).await {
            Ok(summary) => {
                logging::emit(&LogLine::info("sweep.continued", now).field("summary", summary));
                Delivery::Done
            }
            Err(e) => Delivery::Retry(crate::edge::http::respond::with_causes(&e)),
        },
        RefreshMessage::Visit { grant_id } => match visit(cx, &grant_id).await {
            Ok(status) if status < 500 => Delivery::Done,
            Ok(status) => Delivery::Retry(format!("the grant's object answered {status}")),
            Err(Failure::Api(e)) => Delivery::Retry(e.message),
            Err(e) => Delivery::Retry(respond::with_causes(&e)),
        },
    }
}

/// Asks the grant's object to visit it. 4xx answers (a grant gone, a provider no longer
/// configured) are final for this message; the grant's own schedule decides what comes next.
async fn visit(cx: &Context, grant_id: &GrantId) -> std::result::Result<u16, Failure> {
    let ask = crate::edge::grant::grant_object::protocol::VisitAsk {
        grant_id: grant_id.to_owned(),
        force: false,
        tenant_id: None,
    };
    let answer = crate::edge::grant::grant_object::protocol::GrantObjectClient::new(cx, grant_id)
        .visit(ask)
        .await?;
    Ok(answer.status_code())
}
