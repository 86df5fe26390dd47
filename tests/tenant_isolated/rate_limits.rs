//! Per-tenant rate limits hold (issue 13, the security suite): a tenant that keeps calling the
//! API is refused with `429 rate_limited` and `Retry-After` once it has spent the budget set in
//! `wrangler.toml`, whichever of its keys it uses, while another tenant, at the same moment, is
//! served. The budget is read from the configuration `wrangler dev` runs with: `wrangler.toml`
//! with this binary's smaller budget ([`smaller_budget`]).
use crate::common::tenants::{bearer, Tenant};
use crate::common::{Answer, Stack};
use crate::stack;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// A tenant's budget for this binary's runtime: a tenth of `wrangler.toml`'s, the same period.
/// Spending 6,000 calls in a minute (or in two windows of the fixed-window counter) needs
/// 100 calls a second from this machine, which a loaded run (three test binaries at once, two
/// browsers in this one) did not reach; 600 needs 10. The tests here make far fewer calls
/// per tenant than that, and each makes its own tenants.
pub fn smaller_budget(config: &str) -> String {
    const PRODUCTION: &str = "simple = { limit = 6000, period = 60 }";
    assert!(
        config.contains(PRODUCTION),
        "wrangler.toml's TENANT_RATE_LIMIT is no longer {PRODUCTION}"
    );
    config.replace(PRODUCTION, "simple = { limit = 600, period = 60 }")
}

/// `limit` and `period` of the `TENANT_RATE_LIMIT` binding in the runtime's configuration.
fn configured_budget() -> (usize, u64) {
    let text = std::fs::read_to_string(stack().worker.config_path()).unwrap();
    let config: toml::Value = text.parse().unwrap();
    let binding = config["ratelimits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"].as_str() == Some("TENANT_RATE_LIMIT"))
        .expect("the TENANT_RATE_LIMIT binding");
    let limit = binding["simple"]["limit"].as_integer().unwrap();
    let period = binding["simple"]["period"].as_integer().unwrap();
    (limit as usize, period as u64)
}

const CLIENTS: usize = 8;

/// Calls `GET /v1/webhook-endpoints` with `key` from `CLIENTS` threads until the first refusal
/// or `cap` calls. Answers the number of 200s and the first non-200 answer.
fn spend(s: &Stack, key: &str, cap: usize) -> (usize, Option<Answer>) {
    let calls = AtomicUsize::new(0);
    let served = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let refusal: Mutex<Option<Answer>> = Mutex::new(None);
    let auth = bearer(key);
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) && calls.fetch_add(1, Ordering::SeqCst) < cap {
                    let answer = s
                        .worker
                        .call("GET", "/v1/webhook-endpoints", Some(&auth), None)
                        .expect("the worker answers");
                    if answer.status == 200 {
                        served.fetch_add(1, Ordering::SeqCst);
                    } else {
                        stop.store(true, Ordering::SeqCst);
                        refusal.lock().unwrap().get_or_insert(answer);
                    }
                }
            });
        }
    });
    (served.into_inner(), refusal.into_inner().unwrap())
}

#[test]
fn a_tenant_that_spends_its_budget_is_refused_and_the_others_are_not() {
    let (limit, period) = configured_budget();
    let s = stack();
    let busy = Tenant::new(s, "Busy");
    let quiet = Tenant::new(s, "Quiet");
    let second_key = busy.new_key(&["manage"]);

    // The whole burst fits in one period, or spans two windows of the fixed-window counter:
    // either way it is refused within two budgets.
    let (served, refusal) = spend(s, &busy.manage, 2 * limit + CLIENTS);
    let refusal = refusal.unwrap_or_else(|| {
        panic!("{served} calls served and none refused; the budget is {limit} per {period} s")
    });
    assert_eq!(refusal.status, 429, "{refusal:?}");
    assert_eq!(refusal.body["error"]["code"], "rate_limited", "{refusal:?}");
    assert_eq!(
        refusal.retry_after.as_deref(),
        Some(period.to_string().as_str())
    );
    // Not refused before the budget was spent: the tenant's own set-up calls (`Tenant::new`
    // and `new_key` go through the admin API, which does not count) are the only others.
    assert!(
        served >= limit && served <= 2 * limit,
        "{served} calls served before the refusal; the budget is {limit} per {period} s"
    );

    // The budget is the tenant's, not the key's: its other key is refused too, right away.
    let other_key = s
        .worker
        .get("/v1/webhook-endpoints", Some(&bearer(&second_key)));
    assert_eq!(other_key.status, 429, "{other_key:?}");

    // Another tenant, at the same moment, is served, token reads and all.
    let other = quiet.get("/v1/webhook-endpoints");
    assert_eq!(other.status, 200, "{other:?}");
    assert_eq!(quiet.get("/v1/connections").status, 200);

    // Writes are refused alike.
    let create = s.worker.send(
        "POST",
        "/v1/webhook-endpoints",
        Some(&bearer(&busy.manage)),
        &serde_json::json!({"url": "https://example.com/hook"}),
    );
    assert_eq!(create.status, 429, "{create:?}");

    // The log says nothing about the limiter failing: the binding was there and answered.
    assert!(
        !s.worker.log_text().contains("rate_limit.unavailable"),
        "{}",
        s.worker.log_tail()
    );
}
