//! Fuzzing every operation from its own description (issues 13 and 33): schemathesis (PyPI)
//! reads `/openapi.json` and sends generated requests to every documented operation (the
//! tenant API with a tenant's key, the admin API as the operator, the browser and platform
//! routes as a stranger), and fails on any 5xx, any status the document does not list, and any
//! answer that breaks its documented schema or content type. Real ids for every path
//! parameter, and values the API accepts for the fields no schema can say (an allow-listed
//! return URL, a connection of the tenant's), let the generated requests past the 404s and
//! into the handlers; what works once (a page link, an OAuth state, a key to rotate, an
//! unconfirmed target) is made fresh for each valid request by `tests/support/fuzz_hooks.py`.
//! The run also fails when an operation served none of its valid requests (schemathesis's
//! missing-auth, missing-test-data and validation-mismatch warnings). Slow, so not in the
//! default run: `scripts/fuzz` installs schemathesis into `target/fuzz-venv` and runs this.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::Browser;
use common::tenants::{create_post, Tenant};
use common::x_flow::connect;
use common::Stack;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// The last path segment of a URL the API answered (a link's secret or token).
fn last_segment(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// `EVERGREEN_FUZZ_ARGS`, split as a shell would split words in single quotes.
fn extra_arguments() -> Vec<String> {
    let text = std::env::var("EVERGREEN_FUZZ_ARGS").unwrap_or_default();
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                word.get_or_insert_with(String::new);
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// A TOML string.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// The ids and values the fuzzing runs against, made through the API as a client would.
struct Fixtures {
    operator: String,
    key: String,
    /// The connections page's session cookie.
    page_cookie: String,
    values: Vec<(&'static str, String)>,
    /// `(operation, [(parameter, value)])`: parameters of one operation only (what it destroys or
    /// spends is made for it, so the rest keep theirs). Schemathesis 4.32 takes plain values
    /// here, not dictionaries: a second disconnect of the same connection is a 404.
    only: Vec<(&'static str, Vec<(&'static str, String)>)>,
    /// `(dictionary, parameter, values)`: body fields no schema can say (an allow-listed URL,
    /// the tenant's connections, the page's CSRF token).
    dictionaries: Vec<(&'static str, &'static str, Vec<String>)>,
    /// What `tests/support/fuzz_hooks.py` reads to make single-use values per request.
    hooks: Value,
}

/// The built-in providers, as the OpenAPI document lists them (`Provider`'s examples).
fn providers() -> Vec<String> {
    let doc: Value = serde_json::from_str(include_str!("../assets/openapi.json")).unwrap();
    let examples = &doc["components"]["schemas"]["Provider"]["examples"];
    serde_json::from_value(examples.clone()).expect("Provider lists its examples")
}

fn fixtures(s: &Stack, tenant: &Tenant<'_>) -> Fixtures {
    let base = &s.worker.base_url;
    let admin = |method: &str, path: &str, body: &Value| {
        let answer = s.worker.send(method, path, Some(&s.operator()), body);
        assert!(answer.status < 300, "{method} {path}: {answer:?}");
        answer.body
    };
    let id_of = |body: Value| body["id"].as_str().unwrap().to_owned();
    // The fuzzed tenant's X accounts: one every id route uses, and more to post to.
    let connection = connect(s, tenant, "fuzz-user", "fuzzed_account");
    let mut postable = vec![connection.clone()];
    for i in 0..9 {
        postable.push(connect(s, tenant, "fuzz-user", &format!("fuzzed_{i}")));
    }
    // Connections to disconnect (listed-only ones, written straight to D1): each once, and
    // each of its own end user, so the erasure of one does not take the other.
    let day_ago = common::x_flow::clock_now_ms(s) - 86_400_000;
    tenant.seed_connections("victim", 1, 0, day_ago, "victim-user");
    tenant.seed_connections("deleted", 1, 0, day_ago, "deleted-user");
    let page_victim = connect(s, tenant, "fuzz-user", "page_victim");
    // One key with both scopes, so scope refusals do not hide the routes behind them.
    let key = tenant.new_key(&["manage", "tokens:read"]);
    // The admin API works on a tenant of its own (its return URLs and clients change), and
    // deletes others.
    let played = id_of(admin(
        "POST",
        "/admin/tenants",
        &json!({ "name": "Administered" }),
    ));
    let keys = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                id_of(admin(
                    "POST",
                    &format!("/admin/tenants/{played}/api-keys"),
                    &json!({ "scopes": ["manage"] }),
                ))
            })
            .collect()
    };
    let (rotated, revoked) = (keys(1).remove(0), keys(1).remove(0));
    let deleted = id_of(admin("POST", "/admin/tenants", &json!({ "name": "Gone" })));
    // Deliveries to a port nobody listens on fail and are retried: the log has rows.
    let hook = format!("http://127.0.0.1:9/{}", tenant.id);
    let (endpoint, _) = tenant.webhook_endpoint(&hook);
    // Deleted by its own operation, so the others keep theirs.
    let (doomed_endpoint, _) = tenant.webhook_endpoint(&hook);
    let post = create_post(
        s,
        tenant,
        "fuzz-fixture",
        &json!({ "text": "A fuzzed post", "connection_ids": [connection] }),
    );
    assert_eq!(post.status, 201, "{post:?}");
    let post_id = post.body["id"].as_str().unwrap().to_owned();
    let target_id = post.body["targets"][0]["id"].as_str().unwrap().to_owned();
    let delivery = tenant.first_delivery(&endpoint);
    admin(
        "POST",
        "/__test/queues/webhooks",
        &json!({ "kind": "probe", "nonce": "fuzz" }),
    );
    let dead_letter = s
        .worker
        .eventually(Duration::from_secs(30), "a dead letter", || {
            let listed = s.worker.get("/admin/dead-letters", Some(&s.operator()));
            listed.body["dead_letters"][0]["id"].as_i64()
        });
    // A data deletion Meta asked for (of an account Evergreen never held), for its status page.
    let signed = s
        .fake
        .meta_signed_request(&s.facebook_client.id, "fuzz_meta_user");
    let deletion = ureq::post(&format!("{base}/platforms/facebook/data-deletion"))
        .send_form(&[("signed_request", signed.as_str())])
        .expect("the deletion callback answers");
    let deletion: Value = deletion.into_json().unwrap();
    let deletion_code = deletion["confirmation_code"]
        .as_str()
        .unwrap_or_else(|| panic!("{deletion}"))
        .to_owned();
    let secret = last_segment(&tenant.connect_url("fuzz-user"));
    // Page links open once: one for the session the page's routes use, more to open.
    let browser = Browser::new();
    let opened = browser.get(&tenant.page_link("fuzz-user"));
    let page = browser.get(opened.redirect());
    assert_eq!(page.status, 200, "{page:?}");
    let csrf = common::browser::page_csrf(&page.body).expect("the page's CSRF token");
    let page_cookie = format!(
        "evergreen_page={}",
        browser
            .cookie(base, "evergreen_page")
            .expect("the page's cookie")
    );
    let page_token = last_segment(&tenant.page_link("fuzz-user"));
    let link = s.worker.send(
        "POST",
        &format!("/v1/connections/{connection}/reconnect-link"),
        Some(&common::tenants::bearer(&key)),
        &Value::Null,
    );
    assert_eq!(link.status, 201, "{link:?}");
    let reconnect_token = last_segment(link.body["url"].as_str().unwrap());
    let event_types: Vec<String> = evergreen::core::webhooks::webhook_endpoints::all_event_types()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let hooks = json!({
        "base_url": base,
        "key": common::tenants::bearer(&key),
        "operator": s.operator(),
        "tenant": tenant.id,
        "admin_tenant": played,
        "connection": connection,
        "end_user_ref": "fuzz-user",
        "return_url": format!("{base}/__test/return"),
        "csrf": csrf,
        "providers": providers(),
    });
    Fixtures {
        hooks,
        operator: s.operator(),
        key: common::tenants::bearer(&key),
        page_cookie,
        values: vec![
            ("path.connection_id", connection),
            ("path.endpoint_id", endpoint),
            ("path.post_id", post_id),
            ("path.target_id", target_id),
            ("path.delivery_id", delivery),
            ("path.dead_letter_id", dead_letter.to_string()),
            ("path.tenant_id", played),
            ("path.provider", "x".to_owned()),
            ("path.secret", secret),
            ("query.end_user_ref", "fuzz-user".to_owned()),
        ],
        only: vec![
            (
                "DELETE /v1/connections/{connection_id}",
                vec![("path.connection_id", "conn_deleted000001".to_owned())],
            ),
            (
                "POST /page/connections/{connection_id}/disconnect",
                vec![("path.connection_id", page_victim)],
            ),
            (
                "DELETE /admin/tenants/{tenant_id}",
                vec![("path.tenant_id", deleted)],
            ),
            (
                "DELETE /v1/webhook-endpoints/{endpoint_id}",
                vec![("path.endpoint_id", doomed_endpoint)],
            ),
            (
                "POST /admin/api-keys/{key_id}/rotate",
                vec![("path.key_id", rotated)],
            ),
            (
                "POST /admin/api-keys/{key_id}/revoke",
                vec![("path.key_id", revoked)],
            ),
            (
                "DELETE /v1/end-user-data",
                vec![("query.end_user_ref", "victim-user".to_owned())],
            ),
            ("GET /page/open/{token}", vec![("path.token", page_token)]),
            (
                "GET /reconnect/{token}",
                vec![("path.token", reconnect_token.clone())],
            ),
            (
                "POST /reconnect/{token}",
                vec![("path.token", reconnect_token)],
            ),
            (
                "POST /platforms/{provider}/data-deletion",
                vec![("path.provider", "facebook".to_owned())],
            ),
            (
                "POST /platforms/{provider}/deauthorize",
                vec![("path.provider", "facebook".to_owned())],
            ),
            (
                "GET /platforms/{provider}/data-deletion/{code}",
                vec![
                    ("path.provider", "facebook".to_owned()),
                    ("path.code", deletion_code),
                ],
            ),
        ],
        dictionaries: vec![
            (
                "return_urls",
                "body.return_url",
                vec![format!("{base}/__test/return")],
            ),
            (
                "allowed_urls",
                "body.urls[*]",
                vec![format!("{base}/__test/return")],
            ),
            ("connections", "body.connection_ids[*]", postable),
            ("hooks", "body.url", vec![hook]),
            ("event_types", "body.event_types[*]", event_types),
            (
                "end_users",
                "body.end_user_ref",
                vec!["fuzz-user".to_owned()],
            ),
            ("providers", "body.provider", vec!["x".to_owned()]),
            ("csrf", "body.csrf", vec![csrf]),
        ],
    }
}

/// The schemathesis configuration: the tenant's key on `/v1/`, the operator's secret on
/// `/admin/`, the page session's cookie on `/page/`, nothing elsewhere; the fixtures as
/// parameters and dictionaries.
fn config(f: &Fixtures) -> String {
    // The run fails on these, not only on failed checks: an operation whose every valid
    // request was refused (for want of a real id, for a schema looser than the handler, or
    // for its credentials) was not fuzzed past its refusal.
    let mut toml = String::from(
        "[warnings]\nfail-on = [\"missing_auth\", \"missing_test_data\", \"validation_mismatch\"]\n\n",
    );
    toml.push_str("[parameters]\n");
    for (name, value) in &f.values {
        writeln!(toml, "{} = {}", quoted(name), quoted(value)).unwrap();
    }
    for (name, parameter, _) in &f.dictionaries {
        writeln!(
            toml,
            "{} = {{ dictionary = {} }}",
            quoted(parameter),
            quoted(name)
        )
        .unwrap();
    }
    for (name, _, values) in &f.dictionaries {
        let list: Vec<String> = values.iter().map(|v| quoted(v)).collect();
        writeln!(
            toml,
            "\n[dictionaries.{name}]\nvalues = [{}]",
            list.join(", ")
        )
        .unwrap();
    }
    let headers = |path: &str| -> String {
        let (name, value) = if path.starts_with("/v1/") {
            ("Authorization", &f.key)
        } else if path.starts_with("/admin/") {
            ("Authorization", &f.operator)
        } else if path.starts_with("/page") {
            ("Cookie", &f.page_cookie)
        } else {
            return "{}".to_owned();
        };
        format!("{{ {name} = {} }}", quoted(value))
    };
    // One block per operation with a parameter of its own (listed first: the first block an
    // operation matches is the one it takes), then one per API.
    for (operation, parameters) in &f.only {
        let path = operation.split_once(' ').unwrap().1;
        let parameters: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{} = {}", quoted(name), quoted(value)))
            .collect();
        writeln!(
            toml,
            "\n[[operations]]\ninclude-name = {}\nheaders = {}\nparameters = {{ {} }}",
            quoted(operation),
            headers(path),
            parameters.join(", ")
        )
        .unwrap();
    }
    for (regex, path) in [
        ("^/v1/", "/v1/"),
        ("^/admin/", "/admin/"),
        ("^/page", "/page"),
    ] {
        writeln!(
            toml,
            "\n[[operations]]\ninclude-path-regex = {}\nheaders = {}",
            quoted(regex),
            headers(path)
        )
        .unwrap();
    }
    toml
}

#[test]
#[ignore = "slow: scripts/fuzz runs it"]
fn every_operation_holds_against_schemathesis() {
    let st = std::env::var("EVERGREEN_SCHEMATHESIS").unwrap_or_else(|_| {
        common::root()
            .join("target/fuzz-venv/bin/st")
            .display()
            .to_string()
    });
    let s = Stack::start("fuzz-api");
    let tenant = Tenant::new(&s, "Fuzzed");
    let fixtures = fixtures(&s, &tenant);
    let seed = std::env::var("EVERGREEN_FUZZ_SEED").unwrap_or_else(|_| "1".to_owned());
    let examples = std::env::var("EVERGREEN_FUZZ_EXAMPLES").unwrap_or_else(|_| "200".to_owned());
    let base = &s.worker.base_url;
    let report = common::root().join("target/fuzz-report");
    std::fs::create_dir_all(&report).unwrap();
    let config_file = report.join("schemathesis.toml");
    std::fs::write(&config_file, config(&fixtures)).unwrap();
    let hooks_file = report.join("fuzz-fixtures.json");
    let summary_file = report.join("last-run.json");
    let _ = std::fs::remove_file(&summary_file);
    std::fs::write(&hooks_file, fixtures.hooks.to_string()).unwrap();
    let status = Command::new(&st)
        .arg("--config-file")
        .arg(&config_file)
        .args(["run", &format!("{base}/openapi.json"), "--url", base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples, "--seed", &seed, "--workers", "1"])
        .args(["--request-timeout", "30", "--max-failures", "20"])
        .arg("--report-dir")
        .arg(&report)
        .args(["--report", "junit,ndjson,json"])
        .arg("--report-json-path")
        .arg(&summary_file)
        // More of schemathesis's own arguments, to narrow or record a run:
        // `EVERGREEN_FUZZ_ARGS="--include-name 'POST /v1/posts' --report vcr"`.
        .args(extra_arguments())
        .env("SCHEMATHESIS_HOOKS", "fuzz_hooks")
        .env("PYTHONPATH", common::root().join("tests/support"))
        .env("EVERGREEN_FUZZ_FIXTURES", &hooks_file)
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
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(&summary_file)
            .unwrap_or_else(|e| panic!("{}: {e}", summary_file.display())),
    )
    .unwrap();
    let warned: Vec<String> = ["missing_auth", "missing_test_data", "validation_mismatch"]
        .iter()
        .filter(|kind| {
            summary["warnings"][**kind]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .map(|kind| format!("{kind}: {}", summary["warnings"][*kind]))
        .collect();
    println!(
        "fuzz: {} cases over {} operations; warnings {}",
        summary["test_cases"]["generated"], summary["operations"]["tested"], summary["warnings"]
    );
    assert!(
        warned.is_empty(),
        "operations no valid request got past: {warned:?}"
    );
    assert!(
        status.success(),
        "schemathesis found failures (report in {})",
        report.display()
    );
}
