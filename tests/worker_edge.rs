//! The worker's edge under `wrangler dev`: health, JSON errors, crons, the test clock, queues.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::Stack;
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

/// One worker for this whole binary; tests keep out of each other's way.
fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start("worker-edge"))
}

#[test]
fn healthz_reports_the_test_build_and_a_reachable_d1() {
    let answer = stack().worker.get("/healthz", None);
    assert_eq!(answer.status, 200);
    assert!(answer.content_type.starts_with("application/json"));
    assert_eq!(answer.body["status"], "ok");
    assert_eq!(answer.body["build"], "test");
    assert_eq!(answer.body["checks"]["d1"], "ok");
}

#[test]
fn unknown_routes_and_wrong_methods_get_json_errors_with_stable_codes() {
    let worker = &stack().worker;
    let missing = worker.get("/v0/nothing-here", None);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "not_found");
    assert!(missing.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v0/nothing-here"));

    let wrong = worker.send("POST", "/healthz", None, &json!({}));
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.body["error"]["code"], "method_not_allowed");
    assert_eq!(wrong.allow.as_deref(), Some("GET"));
}

#[test]
fn test_powers_require_the_operator_secret() {
    let s = stack();
    for auth in [None, Some("Bearer not-the-secret"), Some("Basic abc")] {
        let answer = s.worker.get("/__test/clock", auth);
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
    let ok = s.worker.get("/__test/clock", Some(&s.operator()));
    assert_eq!(ok.status, 200);
    // The bench probes the test build carries: the two bare baselines are open, the rest not.
    assert_eq!(s.worker.get("/__bench/noop", None).status, 200);
    for path in ["/__bench/grant-versions", "/__bench/d1?n=1"] {
        let answer = s.worker.get(path, None);
        assert_eq!(answer.status, 401, "{path}: {answer:?}");
    }
    let seed = s.worker.send("POST", "/__bench/seed", None, &json!({}));
    assert_eq!(seed.status, 401, "{seed:?}");
}

#[test]
fn oversized_bodies_are_refused_whether_or_not_they_declare_their_length() {
    use std::io::Read;
    let s = stack();
    let url = format!("{}/admin/tenants", s.worker.base_url);
    let huge = format!(r#"{{"name":"{}"}}"#, "n".repeat(70 * 1024));
    let answer = |result: Result<ureq::Response, ureq::Error>| -> (u16, Value) {
        let r = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        (r.status(), r.into_json().unwrap_or(Value::Null))
    };
    // A fresh connection for each request.
    let post = || {
        ureq::AgentBuilder::new()
            .build()
            .post(&url)
            .set("Authorization", &s.operator())
            .set("Content-Type", "application/json")
    };
    // Not UTF-8: a clear 400.
    let (status, body) = answer(post().send_bytes(&[b'{', 0xff, 0xfe, b'}']));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    // With Content-Length: refused before it is read.
    let (status, body) = answer(post().send_string(&huge));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("64 KiB"));
    // Just under the cap is read (and answered for what it says: the name is too long).
    let fits = format!(r#"{{"name":"{}"}}"#, "n".repeat(60 * 1024));
    let (status, body) = answer(post().send_string(&fits));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1 to 100 characters"));
    // Chunked, no length: refused once the bytes read pass the cap.
    let (status, body) = answer(post().send(huge.as_bytes().chain(&b""[..])));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    // The refused body was drained, not left half-read: the worker answers the next request.
    assert_eq!(s.worker.get("/healthz", None).status, 200);
}

#[test]
fn bad_bodies_are_refused_with_invalid_request() {
    let s = stack();
    let answer = s.worker.send(
        "PUT",
        "/__test/clock",
        Some(&s.operator()),
        &json!({ "offset": 5 }),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.body["error"]["code"], "invalid_request");
    let too_far = s.worker.send(
        "PUT",
        "/__test/clock",
        Some(&s.operator()),
        &json!({ "offset_ms": 400_i64 * 366 * 24 * 3600 * 1000 }),
    );
    assert_eq!(too_far.status, 400);
    assert!(too_far.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ten years"));
}

#[test]
fn each_cron_runs_its_job_and_leaves_a_heartbeat() {
    let worker = &stack().worker;
    let runs = |job: &str| -> i64 {
        worker.get("/healthz", None).body["crons"][job]["runs"]
            .as_i64()
            .unwrap_or(0)
    };
    let (sweeps, dispatches) = (runs("sweep"), runs("dispatch"));
    worker.run_cron("* * * * *");
    worker.run_cron("* * * * *");
    worker.run_cron("0 * * * *");
    let health = worker.get("/healthz", None).body;
    assert_eq!(
        health["crons"]["dispatch"]["runs"].as_i64().unwrap(),
        dispatches + 2
    );
    assert_eq!(
        health["crons"]["sweep"]["runs"].as_i64().unwrap(),
        sweeps + 1
    );
    assert_eq!(health["crons"]["sweep"]["failures"], 0);
    // The sweep's query over next_check_at ran and took nothing on a fresh database.
    let outcome: Value =
        serde_json::from_str(health["crons"]["sweep"]["last_outcome"].as_str().unwrap()).unwrap();
    assert_eq!(outcome["taken"], 0, "{outcome}");
    assert_eq!(outcome["handed_on"], false, "{outcome}");
}

#[test]
fn the_test_clock_shifts_what_every_handler_sees() {
    let s = stack();
    let fortnight: i64 = 14 * 24 * 3600 * 1000;
    let real = |body: &Value| chrono_ms(body["now"].as_str().unwrap());
    let before = real(&s.worker.get("/healthz", None).body);
    let set = s.worker.send(
        "PUT",
        "/__test/clock",
        Some(&s.operator()),
        &json!({ "offset_ms": fortnight }),
    );
    assert_eq!(set.status, 200);
    let shifted = real(&s.worker.get("/healthz", None).body);
    let reset = s.worker.send(
        "PUT",
        "/__test/clock",
        Some(&s.operator()),
        &json!({ "offset_ms": 0 }),
    );
    assert_eq!(reset.status, 200);
    let after = real(&s.worker.get("/healthz", None).body);
    // Shifted by the fortnight (plus the few milliseconds between calls), then back.
    assert!(shifted - before >= fortnight && shifted - before < fortnight + 60_000);
    assert!(after - before < 60_000);
}

/// Milliseconds of an RFC 3339 UTC time as the worker prints it (`2026-11-22T12:00:00.123Z`).
fn chrono_ms(text: &str) -> i64 {
    let (date, time) = text.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, millis) = time.split_once('.').unwrap();
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + t[0]) * 60 + t[1]) * 60_000 + t[2] * 1000 + millis.parse::<i64>().unwrap()
}

#[test]
fn messages_no_consumer_can_handle_are_recorded_not_lost() {
    let s = stack();
    for (slug, queue) in [
        ("refresh", "evergreen-refresh"),
        ("publish", "evergreen-publish"),
        ("webhooks", "evergreen-webhooks"),
    ] {
        let nonce = format!("probe-{slug}-{}", std::process::id());
        let sent = s.worker.send(
            "POST",
            &format!("/__test/queues/{slug}"),
            Some(&s.operator()),
            &json!({ "kind": "probe", "nonce": nonce }),
        );
        assert_eq!(sent.status, 202, "{sent:?}");
        let recorded = s
            .worker
            .eventually(Duration::from_secs(30), "the dead letter", || {
                let list = s
                    .worker
                    .get("/__test/dead-letters", Some(&s.operator()))
                    .body;
                list["dead_letters"]
                    .as_array()?
                    .iter()
                    .find(|d| d["body"]["nonce"] == nonce.as_str())
                    .cloned()
            });
        assert_eq!(recorded["queue"], queue);
        // Every work queue has a consumer, which does not know this message kind.
        assert_eq!(recorded["reason"], "unknown_message");
        assert_eq!(recorded["body"]["kind"], "probe");
    }
}

#[test]
fn chrono_ms_reads_the_workers_format() {
    assert_eq!(chrono_ms("1970-01-01T00:00:00.000Z"), 0);
    assert_eq!(chrono_ms("2026-11-22T12:00:00.123Z"), 1_795_348_800_123);
}
