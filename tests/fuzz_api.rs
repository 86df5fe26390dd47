//! Fuzzing the tenant API from its own description (issue 13): schemathesis (PyPI) reads
//! `/openapi.json` and sends generated requests, authenticated as a tenant with a connected
//! account, and fails on any 5xx, any status the document does not list, and any answer that
//! breaks its documented schema or content type. Slow, so not in the default run:
//! `scripts/fuzz` installs schemathesis into `target/fuzz-venv` and runs this.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::tenants::{bearer, Tenant};
use common::x_flow::connect;
use common::Stack;
use std::process::Command;

#[test]
#[ignore = "slow: scripts/fuzz runs it"]
fn the_tenant_api_holds_against_schemathesis() {
    let st = std::env::var("EVERGREEN_SCHEMATHESIS").unwrap_or_else(|_| {
        common::root()
            .join("target/fuzz-venv/bin/st")
            .display()
            .to_string()
    });
    let s = Stack::start("fuzz-api");
    let tenant = Tenant::new(&s, "Fuzzed");
    let connection = connect(&s, &tenant, "fuzz-user", "fuzzed_account");
    // One key with both scopes, so scope refusals do not hide the routes behind them.
    let key = tenant.new_key(&["manage", "tokens:read"]);
    let seed = std::env::var("EVERGREEN_FUZZ_SEED").unwrap_or_else(|_| "1".to_owned());
    let examples = std::env::var("EVERGREEN_FUZZ_EXAMPLES").unwrap_or_else(|_| "200".to_owned());
    let base = &s.worker.base_url;
    let report = common::root().join("target/fuzz-report");
    // A real connection id for every `{connection_id}`, so the fuzzing gets past the 404s into
    // the token, refresh, events and post paths. (Its disconnect is fuzzed too, and allowed.)
    std::fs::create_dir_all(&report).unwrap();
    let config = report.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!("[parameters]\n\"path.connection_id\" = \"{connection}\"\n"),
    )
    .unwrap();
    let status = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/openapi.json"), "--url", base])
        .args(["-H", &format!("Authorization: {}", bearer(&key))])
        .args(["-H", &format!("Idempotency-Key: fuzz-{seed}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        // The tenant API; operator, browser and platform routes have their own tests.
        .args(["--include-path-regex", "^/v1/"])
        .args(["--max-examples", &examples, "--seed", &seed, "--workers", "1"])
        .args(["--request-timeout", "30", "--max-failures", "20"])
        .arg("--report-dir")
        .arg(&report)
        .args(["--report", "junit"])
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (`.schemathesis/`) goes with the report, not into the checkout.
        .current_dir(&report)
        .status()
        .unwrap_or_else(|e| panic!("{st} runs (scripts/fuzz installs it): {e}"));
    // A 4xx the worker answered cleanly is fine; anything it logged as an error is not, even
    // when the status it sent looked right.
    let log = s.worker.log_text();
    assert!(
        !log.contains("\"level\":\"error\""),
        "the worker logged errors while fuzzed:\n{}",
        log.lines()
            .filter(|l| l.contains("\"level\":\"error\""))
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        status.success(),
        "schemathesis found failures (report in {})",
        report.display()
    );
}
