//! Connecting an X account end to end under `wrangler dev`: connect session, binding cookie,
//! consent at the fake platform, callback, grant written through its Durable Object, token read
//! back; and every way the flow must refuse, with nothing stored.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use common::browser::{query_param, Browser, Visit};
use common::ledger::serial;
use common::tenants::{bearer, Tenant};
use common::x_flow::{self, ClockShift};
use common::{Answer, Stack};
use serde_json::{json, Value};
use std::sync::OnceLock;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| Stack::start("connect-x"))
}

fn admin(method: &str, path: &str, body: &Value) -> Answer {
    let s = stack();
    s.worker.send(method, path, Some(&s.operator()), body)
}

fn open(browser: &Browser, connect_url: &str) -> String {
    x_flow::open(browser, connect_url)
}

fn consent(browser: &Browser, authorize_url: &str, username: &str, decision: &str) -> String {
    x_flow::consent(stack(), browser, authorize_url, username, decision)
}

fn connect(tenant: &Tenant<'_>, end_user_ref: &str, username: &str) -> String {
    x_flow::connect(stack(), tenant, end_user_ref, username)
}

fn row_counts() -> Value {
    let s = stack();
    let counts = s.worker.get("/__test/row-counts", Some(&s.operator()));
    assert_eq!(counts.status, 200, "{counts:?}");
    counts.body
}

/// The forms a secret could take on disk: plain, base64 (both alphabets, padded or not), hex,
/// and JSON-escaped.
fn encodings(secret: &str) -> Vec<String> {
    let bytes = secret.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        secret.to_owned(),
        STANDARD.encode(bytes),
        URL_SAFE.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        hex.clone(),
        hex.to_uppercase(),
        serde_json::to_string(secret)
            .unwrap()
            .trim_matches('"')
            .to_owned(),
        // A JSON string with every character escaped as \uXXXX.
        secret
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect(),
    ];
    forms.sort();
    forms.dedup();
    forms
}

fn assert_redirected_with_error(visit: &Visit, return_url: &str, code: &str) {
    let location = visit.redirect();
    assert!(location.starts_with(return_url), "{location}");
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some(code),
        "{location}"
    );
    assert_eq!(query_param(location, "connection_id"), None);
}

fn assert_page_with_error(visit: &Visit, status: u16, code: &str) {
    assert_eq!(visit.status, status, "{visit:?}");
    assert!(
        visit.location.is_none(),
        "a page, not a redirect: {visit:?}"
    );
    assert!(visit.content_type.starts_with("text/html"), "{visit:?}");
    assert!(visit.body.contains(code), "{}", visit.body);
}

#[test]
fn an_x_account_connects_end_to_end_and_its_token_round_trips_encrypted() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(stack(), "Round trip");
    let rejections_before = s.fake.rejections().len();

    let session = tenant.connect_session("user-1");
    assert_eq!(session.status, 201, "{session:?}");
    let connect_url = session.body["url"].as_str().unwrap().to_owned();
    assert!(connect_url.starts_with(&format!("{}/connect/", s.worker.base_url)));
    let link_secret = connect_url.rsplit('/').next().unwrap();
    assert!(link_secret.len() >= 43, "the link carries 256 random bits");

    // Opening: a binding cookie and a redirect to X's consent page with state and S256 PKCE.
    let browser = Browser::new();
    let opened = browser.get(&connect_url);
    let authorize = opened.redirect().to_owned();
    let cookie = opened
        .set_cookies
        .iter()
        .find(|c| c.starts_with("evergreen_binding="))
        .unwrap_or_else(|| panic!("a binding cookie: {opened:?}"));
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "loopback http cannot keep a Secure cookie: {cookie}"
    );
    assert!(
        authorize.starts_with(&format!("{}/x.com/i/oauth2/authorize?", s.fake.base_url())),
        "{authorize}"
    );
    let state = query_param(&authorize, "state").unwrap();
    assert!(
        state.len() >= 22,
        "state has at least 128 random bits: {state}"
    );
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&authorize, "redirect_uri"),
        Some(format!("{}/oauth/callback", s.worker.base_url))
    );
    assert!(query_param(&authorize, "scope")
        .unwrap()
        .contains("offline.access"));

    // Consent, then the callback: redirected to the return URL with the connection id.
    let callback = consent(&browser, &authorize, "round_trip", "approve");
    let landed = browser.get(&callback);
    let back = landed.redirect();
    let connection_id = query_param(back, "connection_id").unwrap();
    assert!(back.starts_with(&tenant.return_url), "{back}");
    assert!(connection_id.starts_with("conn_"));

    // The fake never had to refuse anything: Evergreen sent HTTP Basic and S256, and the
    // fake refuses body auth and plain PKCE (fake-platform/tests/x_oauth.rs proves that).
    assert_eq!(
        s.fake.rejections()[rejections_before..],
        [],
        "the fake refused a request"
    );
    let counters = s.fake.counters("round_trip");
    assert_eq!(counters.token_authorization_code, 1);
    assert_eq!(counters.identity, 1);

    // Read back: the account, its expiries and end_user_ref, and never a token.
    let account = s.fake.account("round_trip").unwrap();
    let listed = tenant.connections();
    assert_eq!(listed.len(), 1);
    let c = &listed[0];
    assert_eq!(c["id"], connection_id.as_str());
    assert_eq!(c["provider"], "x");
    assert_eq!(c["end_user_ref"], "user-1");
    assert_eq!(c["account"]["id"], account.id.as_str());
    assert_eq!(c["account"]["username"], "round_trip");
    assert_eq!(c["grant_state"], "alive");
    assert!(c["access_expires_at"].is_string(), "{c}");
    let shown = stack().worker.get(
        &format!("/v1/connections/{connection_id}"),
        Some(&bearer(&tenant.manage)),
    );
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["id"], connection_id.as_str());

    // The token endpoint hands back exactly what the fake issued.
    let issued = s.fake.tokens_issued_to("round_trip");
    assert_eq!(issued.access.len(), 1);
    assert_eq!(
        issued.refresh.len(),
        1,
        "offline.access gives a refresh token"
    );
    let read = tenant.token(&connection_id);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["access_token"], issued.access[0].as_str());
    assert!(read.body["expires_at"].is_string());
    // The grant's object buffers the read and its alarm writes it to D1 (a second on, in
    // tests; the other tests here read tokens too, so this looks for this connection's row).
    s.worker.eventually(
        std::time::Duration::from_secs(10),
        "the read is audited",
        || {
            common::d1_cells_containing(s.worker.persist_dir(), &connection_id)
                .contains(&"token_reads.connection_id=1".to_owned())
                .then_some(())
        },
    );

    // No token is anywhere in the listings, on disk or in the log, in any encoding. (The scan
    // does see D1's files: the connection id is found there.)
    assert!(!common::files_containing(s.worker.persist_dir(), &connection_id).is_empty());
    let listings = format!("{listed:?}{:?}", shown.body);
    // The log reaches its file asynchronously: scan it once the token read's line is there.
    let token_path = format!("/v1/connections/{connection_id}/token");
    let log = s.worker.eventually(
        std::time::Duration::from_secs(10),
        "the token read's log line",
        || {
            let log = s.worker.log_text();
            log.lines()
                .any(|l| l.starts_with('{') && l.contains(&token_path))
                .then_some(log)
        },
    );
    for token in issued.access.iter().chain(&issued.refresh) {
        for form in encodings(token) {
            assert!(!listings.contains(&form), "a token in an API listing");
            assert!(!log.contains(&form), "a token in the log");
            let files = common::files_containing(s.worker.persist_dir(), &form);
            assert!(
                files.is_empty(),
                "a token stored unencrypted ({form:?}): {files:?}"
            );
        }
    }

    // Evergreen's own log lines never name the connect link's secret (wrangler dev's request
    // lines do; they are the local runtime's, not Evergreen's).
    let ours: Vec<&str> = log.lines().filter(|l| l.starts_with('{')).collect();
    assert!(ours.iter().any(|l| l.contains("/connect/[redacted]")));
    assert!(!ours.iter().any(|l| l.contains(link_secret)));

    // The demo return page shows the connection it received.
    let page = browser.get(back);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("round_trip"), "{}", page.body);
}

#[test]
fn ciphertext_copied_from_another_grant_does_not_open() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(stack(), "Swap");
    let alice = connect(&tenant, "user-a", "swap_alice");
    let bob = connect(&tenant, "user-b", "swap_bob");
    let grant_of = |id: &str| {
        let shown = s.worker.get(
            &format!("/v1/connections/{id}"),
            Some(&bearer(&tenant.manage)),
        );
        shown.body["grant_id"].as_str().unwrap().to_owned()
    };
    let (alice_grant, bob_grant) = (grant_of(&alice), grant_of(&bob));
    assert_ne!(alice_grant, bob_grant);
    assert_eq!(tenant.token(&alice).status, 200);

    let copied = admin(
        "PUT",
        &format!("/__test/grants/{alice_grant}/ciphertext"),
        &json!({ "from_grant": bob_grant }),
    );
    assert_eq!(copied.status, 200, "{copied:?}");

    let read = tenant.token(&alice);
    assert_eq!(read.status, 500, "{read:?}");
    assert_eq!(read.body["error"]["code"], "internal_error");
    let bob_token = &s.fake.tokens_issued_to("swap_bob").access[0];
    assert!(!read.body.to_string().contains(bob_token.as_str()));
    // The runtime's output reaches the log file asynchronously.
    s.worker.eventually(
        std::time::Duration::from_secs(10),
        "the grant.unreadable log line",
        || {
            s.worker
                .log_text()
                .contains("grant.unreadable")
                .then_some(())
        },
    );
    // Bob's own row still opens.
    assert_eq!(tenant.token(&bob).body["access_token"], bob_token.as_str());
}

#[test]
fn reconnecting_the_same_account_updates_its_grant_in_place() {
    let _serial = serial();
    let fake = &stack().fake;
    let tenant = Tenant::new(stack(), "Twice");
    let before = row_counts();
    let first = connect(&tenant, "user-t", "twice_user");
    let first_tokens = fake.tokens_issued_to("twice_user").access;
    let second = connect(&tenant, "user-t", "twice_user");
    assert_eq!(first, second, "the same account keeps its connection");
    assert_eq!(tenant.connections().len(), 1);
    let after = row_counts();
    assert_eq!(
        after["grants"].as_f64().unwrap() - before["grants"].as_f64().unwrap(),
        1.0,
        "one grant for one account of one end user"
    );
    let newest: Vec<String> = fake
        .tokens_issued_to("twice_user")
        .access
        .into_iter()
        .filter(|t| !first_tokens.contains(t))
        .collect();
    assert_eq!(newest.len(), 1);
    let read = tenant.token(&first);
    assert_eq!(
        read.body["access_token"],
        newest[0].as_str(),
        "the newer token is served"
    );
}

#[test]
fn refused_browser_steps_store_nothing_and_never_redirect_without_a_session() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(stack(), "Refusals");
    let before = row_counts();
    let unchanged = |what: &str| {
        let after = row_counts();
        assert_eq!(
            after["grants"], before["grants"],
            "{what}: a grant was stored"
        );
        assert_eq!(
            after["connections"], before["connections"],
            "{what}: a connection was stored"
        );
    };

    // An unknown connect link: a page.
    let unknown = Browser::new().get(&format!("{}/connect/{}", s.worker.base_url, "A".repeat(43)));
    assert_page_with_error(&unknown, 404, "unknown_connect_link");

    // Callbacks with no state, or a state we never issued, even carrying a code: a page, never
    // a redirect (there is no checked return URL to go to).
    for path in [
        "/oauth/callback",
        "/oauth/callback?code=abc",
        "/oauth/callback?state=forged&code=abc",
        "/oauth/callback?state=forged&error=access_denied&redirect_uri=https://evil.example",
    ] {
        let visit = Browser::new().get(&format!("{}{path}", s.worker.base_url));
        assert_page_with_error(&visit, 400, "invalid_state");
    }
    unchanged("unknown links and states");

    // A connect link opens once.
    let browser = Browser::new();
    let url = tenant.connect_url("user-r");
    open(&browser, &url);
    assert_redirected_with_error(&browser.get(&url), &tenant.return_url, "connect_link_used");

    // Denied consent.
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url("user-r"));
    let callback = consent(&browser, &authorize, "refusing_user", "deny");
    assert_redirected_with_error(&browser.get(&callback), &tenant.return_url, "access_denied");
    unchanged("denied consent");

    // The callback in another browser (no binding cookie): refused before any exchange.
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url("user-r"));
    let callback = consent(&browser, &authorize, "carried_user", "approve");
    let elsewhere = Browser::new().get(&callback);
    assert_redirected_with_error(&elsewhere, &tenant.return_url, "browser_mismatch");
    assert_eq!(s.fake.counters("carried_user").token_authorization_code, 0);
    // The state is spent: the right browser cannot use it afterwards either.
    assert_redirected_with_error(&browser.get(&callback), &tenant.return_url, "state_reused");
    unchanged("another browser");

    // A reused state: the first callback connects, the replay changes nothing.
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url("user-r"));
    let callback = consent(&browser, &authorize, "replayed_user", "approve");
    browser.get(&callback).redirect();
    let after_first = row_counts();
    assert_redirected_with_error(&browser.get(&callback), &tenant.return_url, "state_reused");
    assert_eq!(row_counts()["grants"], after_first["grants"]);
    assert_eq!(s.fake.counters("replayed_user").token_authorization_code, 1);
}

#[test]
fn expired_links_and_sessions_are_refused() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(stack(), "Expiry");
    let before = row_counts();

    // A connect link lives 10 minutes.
    let url = tenant.connect_url("user-e");
    {
        let _later = ClockShift::by_minutes(stack(), 11);
        let browser = Browser::new();
        assert_redirected_with_error(
            &browser.get(&url),
            &tenant.return_url,
            "connect_link_expired",
        );
    }

    // The OAuth round trip lives 15 minutes after opening.
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url("user-e"));
    let callback = consent(&browser, &authorize, "slow_user", "approve");
    {
        let _later = ClockShift::by_minutes(stack(), 16);
        assert_redirected_with_error(
            &browser.get(&callback),
            &tenant.return_url,
            "session_expired",
        );
    }
    assert_eq!(s.fake.counters("slow_user").token_authorization_code, 0);
    let after = row_counts();
    assert_eq!(after["grants"], before["grants"]);
    assert_eq!(after["connections"], before["connections"]);
}

#[test]
fn the_tenant_api_answers_json_errors_with_stable_codes() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(stack(), "Errors");
    let other = Tenant::new(stack(), "Other tenant");
    let connection = connect(&tenant, "user-x", "api_errors_user");
    let post = |key: Option<&str>, body: &Value| {
        s.worker.send(
            "POST",
            "/v1/connect-sessions",
            key.map(bearer).as_deref(),
            body,
        )
    };
    let good = json!({ "provider": "x", "end_user_ref": "u", "return_url": tenant.return_url });
    let cases: Vec<(Answer, u16, &str)> = vec![
        (post(None, &good), 401, "unauthorized"),
        (post(Some("evg_not_a_key"), &good), 401, "unauthorized"),
        (post(Some(&tenant.tokens), &good), 403, "forbidden"),
        (
            post(
                Some(&tenant.manage),
                &json!({ "provider": "myspace", "end_user_ref": "u", "return_url": tenant.return_url }),
            ),
            400,
            "invalid_request",
        ),
        (
            post(
                Some(&tenant.manage),
                &json!({ "provider": "x", "end_user_ref": "u", "return_url": "https://evil.example/" }),
            ),
            400,
            "invalid_request",
        ),
        (
            // Another tenant's allowed URL is not this tenant's.
            post(
                Some(&other.manage),
                &json!({ "provider": "x", "end_user_ref": "u", "return_url": format!("{}?x", tenant.return_url) }),
            ),
            400,
            "invalid_request",
        ),
        (
            post(Some(&tenant.manage), &json!({ "provider": "x" })),
            400,
            "invalid_request",
        ),
        // The token endpoint: tokens:read only, and only the tenant's own connections.
        (
            s.worker.send(
                "POST",
                &format!("/v1/connections/{connection}/token"),
                Some(&bearer(&tenant.manage)),
                &Value::Null,
            ),
            403,
            "forbidden",
        ),
        (other.token(&connection), 404, "not_found"),
        (
            s.worker.get(
                &format!("/v1/connections/{connection}"),
                Some(&bearer(&other.manage)),
            ),
            404,
            "not_found",
        ),
        (tenant.token("conn_nope"), 404, "not_found"),
    ];
    for (i, (answer, status, code)) in cases.iter().enumerate() {
        assert_eq!(answer.status, *status, "case {i}: {answer:?}");
        assert_eq!(answer.body["error"]["code"], *code, "case {i}: {answer:?}");
        assert!(
            answer.content_type.starts_with("application/json"),
            "case {i}"
        );
        assert!(answer.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    assert!(other.connections().is_empty());
}

#[test]
fn the_sweep_deletes_sessions_a_day_after_they_expire() {
    let _serial = serial();
    let tenant = Tenant::new(stack(), "Purge");
    let browser = Browser::new();
    open(&browser, &tenant.connect_url("user-p"));
    tenant.connect_url("user-p");
    let page_link = stack().worker.send(
        "POST",
        "/v1/page-links",
        Some(&bearer(&tenant.manage)),
        &json!({ "end_user_ref": "user-p" }),
    );
    assert_eq!(
        browser.get(page_link.body["url"].as_str().unwrap()).status,
        303
    );
    let before = row_counts();
    assert!(before["page_sessions"].as_f64().unwrap() >= 1.0);
    assert!(before["oauth_sessions"].as_f64().unwrap() >= 1.0);
    assert!(before["connect_sessions"].as_f64().unwrap() >= 2.0);

    // Within the day after expiry, nothing goes.
    {
        let _later = ClockShift::by_minutes(stack(), 20);
        stack().worker.run_cron("0 * * * *");
    }
    assert_eq!(row_counts()["connect_sessions"], before["connect_sessions"]);

    // Two days on, every session made so far is gone.
    {
        let _later = ClockShift::by_minutes(stack(), 2 * 24 * 60);
        stack().worker.run_cron("0 * * * *");
    }
    let after = row_counts();
    assert_eq!(after["oauth_sessions"].as_f64(), Some(0.0));
    assert_eq!(after["connect_sessions"].as_f64(), Some(0.0));
    assert_eq!(after["grants"], before["grants"], "grants are not sessions");
    assert_eq!(after["page_sessions"].as_f64(), Some(0.0));
}
