//! Operations (issue 13): the operator's metrics, and pruning. The hourly sweep deletes settled
//! webhook deliveries, events and token reads past `RETENTION`, keeps each connection's latest
//! event (its `seq` goes on counting), and leaves everything younger alone.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::ledger::kinds;
use common::receiver::Receiver;
use common::tenants::Tenant;
use common::x_flow::{connect, ClockShift};
use common::Stack;
use evergreen_fake_platform::Fault;
use serde_json::{json, Value};
use std::time::Duration;

fn last_sweep(s: &Stack) -> Value {
    s.worker.last_cron_summary("sweep")
}

#[test]
fn the_sweep_prunes_what_retention_no_longer_keeps_and_nothing_else() {
    let s = Stack::start_with("retention", |_| {
        vec![(
            "RETENTION".into(),
            "events_days=7,deliveries_days=2,token_reads_days=3".into(),
        )]
    });
    let tenant = Tenant::new(&s, "Pruned");
    let rx = Receiver::start();
    let (endpoint, webhook_secret) = tenant.webhook_endpoint(&rx.url("pruned"));
    rx.set_secret("pruned", &webhook_secret);
    let connection = connect(&s, &tenant, "user-p", "pruned_user");
    assert_eq!(tenant.token(&connection).status, 200);
    // The read reaches `token_reads` when its grant's object flushes (a second on, here).
    s.worker
        .eventually(Duration::from_secs(10), "the token read flushed", || {
            let counts = s.worker.get("/__test/row-counts", Some(&s.operator()));
            (counts.body["token_reads"].as_f64() == Some(1.0)).then_some(())
        });

    // Two events: refreshing fails (degraded), then works (recovered).
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(tenant.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    let recovered = s
        .worker
        .eventually(Duration::from_secs(30), "the recovery", || {
            let answer = tenant.refresh(&connection);
            (answer.status == 200).then_some(answer)
        });
    assert_eq!(recovered.status, 200);
    let events = tenant.events(&connection);
    assert_eq!(
        kinds(&events),
        ["connection.degraded", "connection.recovered"]
    );
    let deliveries = |status: &str| -> usize {
        let listed = tenant.get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"));
        assert_eq!(listed.status, 200, "{listed:?}");
        listed.body["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == status)
            .count()
    };
    s.worker
        .eventually(Duration::from_secs(30), "both deliveries", || {
            (deliveries("delivered") == 2).then_some(())
        });

    // The operator's metrics see the same: one X grant working, refreshed and failed within the
    // day, both events, nothing pending.
    let metrics = s.worker.get("/admin/metrics", Some(&s.operator()));
    assert_eq!(metrics.status, 200, "{metrics:?}");
    let x = &metrics.body["platforms"]["x"];
    assert_eq!(x["grants"], json!({ "working": 1 }), "{metrics:?}");
    assert_eq!(x["refreshed_24h"], 1, "{metrics:?}");
    assert_eq!(x["failed_24h"], 1, "{metrics:?}");
    assert_eq!(
        x["events_24h"],
        json!({ "connection.degraded": 1, "connection.recovered": 1 })
    );
    assert_eq!(
        metrics.body["outbox"],
        json!({ "pending": 0, "oldest_pending_seconds": null })
    );
    assert_eq!(metrics.body["dead_letters"]["unreplayed"], 0);
    assert_eq!(metrics.body["sweep_backlog"]["due"], 0, "{metrics:?}");

    // A day on: nothing is old enough yet.
    {
        let _later = ClockShift::by_days(&s, 1);
        s.worker.run_cron("0 * * * *");
        let swept = last_sweep(&s);
        for kind in ["deliveries", "events", "token_reads", "reconnect_nonces"] {
            assert_eq!(swept[format!("pruned_{kind}")], 0, "{swept}");
        }
    }

    // Four days on: the deliveries (2 days) and the token read (3 days) go; events stay.
    {
        let _later = ClockShift::by_days(&s, 4);
        s.worker.run_cron("0 * * * *");
        let swept = last_sweep(&s);
        assert_eq!(swept["pruned_deliveries"], 2, "{swept}");
        assert_eq!(swept["pruned_token_reads"], 1, "{swept}");
        assert_eq!(swept["pruned_events"], 0, "{swept}");
        assert_eq!(deliveries("delivered"), 0);
        assert_eq!(tenant.events(&connection).len(), 2);
    }

    // Eight days on: the older event goes; the latest stays, and the next one follows it.
    let _later = ClockShift::by_days(&s, 8);
    s.worker.run_cron("0 * * * *");
    let swept = last_sweep(&s);
    assert_eq!(swept["pruned_events"], 1, "{swept}");
    let kept = tenant.events(&connection);
    assert_eq!(kinds(&kept), ["connection.recovered"]);
    assert_eq!(kept[0]["seq"], events[1]["seq"]);
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(tenant.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    let after = tenant.events(&connection);
    assert_eq!(
        kinds(&after),
        ["connection.recovered", "connection.degraded"]
    );
    assert_eq!(
        after[1]["seq"].as_i64().unwrap(),
        events[1]["seq"].as_i64().unwrap() + 1,
        "seq goes on counting: {after:?}"
    );

    // After refreshes, webhooks and pruning, no secret is in plaintext anywhere the runtime
    // keeps things (D1, object storage, queue state) or in its whole log output.
    let issued = s.fake.tokens_issued_to("pruned_user");
    assert!(
        issued.access.len() >= 2 && !issued.refresh.is_empty(),
        "{issued:?}"
    );
    let operator = s.operator_secret.clone();
    let secrets = issued
        .access
        .iter()
        .chain(&issued.refresh)
        .chain([&webhook_secret, &operator]);
    let log = s.worker.log_text();
    // The scan does read D1's files: the connection id is there.
    assert!(!common::files_containing(s.worker.persist_dir(), &connection).is_empty());
    for secret in secrets {
        let files = common::files_containing(s.worker.persist_dir(), secret);
        assert!(files.is_empty(), "a secret in plaintext at rest: {files:?}");
        assert!(!log.contains(secret.as_str()), "a secret in the log");
    }
}
