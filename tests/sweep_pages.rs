//! The sweep across invocations: with one grant per page and one page per invocation, each
//! sweep hands the rest on through the refresh queue after the last grant it took, and every
//! due grant is visited exactly once, none skipped and none taken twice.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tenants::Tenant;
use common::x_flow::{connect_youtube, ClockShift};
use common::Stack;
use std::time::Duration;

#[test]
fn a_sweep_run_hands_on_page_after_page_and_visits_every_due_grant_once() {
    let s = Stack::start_with("sweep-pages", |_| {
        vec![("SWEEP".into(), "pages=1,page_size=1".into())]
    });
    let tenant = Tenant::new(&s, "Pages");
    let channels: Vec<String> = (0..4).map(|i| format!("paged_channel_{i}")).collect();
    for (i, channel) in channels.iter().enumerate() {
        connect_youtube(&s, &tenant, &format!("paged-{i}"), channel);
    }

    // YouTube grants are kept alive 150 days after their last refresh: all four are due.
    let _later = ClockShift::by_days(&s, 151);
    s.worker.run_cron("0 * * * *");
    let first = s.worker.last_cron_summary("sweep");
    assert_eq!(first["taken"], 1, "{first}");
    assert_eq!(first["handed_on"], true, "{first}");

    s.worker
        .eventually(Duration::from_secs(60), "every channel refreshed", || {
            channels
                .iter()
                .all(|c| s.fake.counters(c).token_refresh >= 1)
                .then_some(())
        });
    // The continued sweeps ran (in the refresh queue's consumer) and nothing was taken twice.
    s.worker
        .eventually(Duration::from_secs(30), "the last continuation", || {
            (s.worker
                .log_text()
                .matches("\"event\":\"sweep.continued\"")
                .count()
                >= 3)
                .then_some(())
        });
    for channel in &channels {
        assert_eq!(s.fake.counters(channel).token_refresh, 1, "{channel}");
    }
}
