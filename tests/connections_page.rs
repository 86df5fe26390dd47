//! The connections page under `wrangler dev`: in real Chromium (driven by playwright-core,
//! `tests/browser/page.mjs`) an end user connects the demo account and sees green, sees red
//! with its reason once the platform revoked it and the sweep ran, reconnects with the
//! keyboard and sees green again, and sends a failed post again; another end user sees none of
//! it. Every browser step leaves a screenshot in `target/browser-artifacts/`.
//!
//! The page's doors are checked without a browser: a link opens one session, a tampered or
//! expired one opens nothing, and no button works without the session's CSRF token, from
//! another origin, or on another end user's connection.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{chromium, Browser};
use common::ledger::{serial, sweep_until};
use common::tenants::{bearer, create_post, Tenant};
use common::x_flow::ClockShift;
use common::Stack;
use evergreen_fake_platform::PublishFault;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Retries in seconds, so a failed post fails quickly.
const PUBLISH: &str =
    "max_attempts=2,retry_first_secs=1,retry_max_secs=1,stagger_secs=1,timeout_secs=3,lease_secs=20";

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("connections-page", |_| {
            vec![("PUBLISH".into(), PUBLISH.into())]
        })
    })
}

fn artifacts() -> PathBuf {
    let dir = common::root().join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("the artifacts directory");
    dir
}

/// One browser, its cookies kept between steps in a file.
struct Chromium {
    state: PathBuf,
}

impl Chromium {
    fn new(name: &str) -> Self {
        let state =
            std::env::temp_dir().join(format!("evergreen-page-{name}-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&state);
        Chromium { state }
    }

    /// Runs one step of `tests/browser/page.mjs`; what the page showed afterwards.
    fn step(&self, screenshot: &str, step: &[&str]) -> Value {
        let png = artifacts().join(format!("{screenshot}.png"));
        let mut args = vec![
            self.state.clone().into_os_string(),
            png.clone().into_os_string(),
        ];
        args.extend(step.iter().map(std::ffi::OsString::from));
        let shown = chromium("page.mjs", args, &format!("the browser step {step:?}"));
        assert!(png.exists(), "a screenshot at {}", png.display());
        assert_eq!(shown["consoleErrors"], json!([]), "{shown}");
        assert_eq!(shown["unlabelled"], json!([]), "{shown}");
        shown
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state);
    }
}

/// A page link for `end_user_ref`, minted through the API.
fn card<'v>(shown: &'v Value, connection: &str) -> &'v Value {
    shown["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == connection)
        .unwrap_or_else(|| panic!("no card for {connection}: {shown}"))
}

fn post_state(tenant: &Tenant<'_>, id: &str) -> Value {
    let shown = tenant.get(&format!("/v1/posts/{id}"));
    assert_eq!(shown.status, 200, "{shown:?}");
    shown.body["targets"][0]["state"].clone()
}

fn wait_post(s: &Stack, tenant: &Tenant<'_>, id: &str, state: &str) {
    s.worker.eventually(
        Duration::from_secs(60),
        &format!("the post {state}"),
        || (post_state(tenant, id) == state).then_some(()),
    );
}

#[test]
fn an_end_user_sees_green_red_and_green_again_and_sends_a_failed_post_again_in_a_real_browser() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Page");
    let page_url = format!("{}/page", s.worker.base_url);
    let chromium = Chromium::new("owner");

    // Connect the demo channel in the browser, then open the page the scheduler links to.
    // (YouTube grants are kept alive by the sweep; X grants are refreshed only when used, so
    // the sweep would not notice a revoked X grant until a token or a post is asked for.)
    let returned = chromium.step(
        "page-01-connected",
        &[
            "connect",
            &tenant.connect_url_for("youtube", "page-user"),
            "page_channel",
        ],
    );
    assert!(
        returned["text"].as_str().unwrap().contains("Connected"),
        "{returned}"
    );
    let channel = tenant.connections()[0]["id"].as_str().unwrap().to_owned();
    let x = common::x_flow::connect(s, &tenant, "page-user", "page_x");
    let shown = chromium.step("page-02-green", &["open", &tenant.page_link("page-user")]);
    assert_eq!(shown["url"], page_url, "the link leaves the address bar");
    let cookie = shown["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "evergreen_page")
        .unwrap_or_else(|| panic!("the session cookie: {shown}"));
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Lax");
    assert!(shown["text"].as_str().unwrap().contains("All 2 working."));
    let green = card(&shown, &channel);
    assert_eq!(green["health"], "green", "{shown}");
    assert_eq!(green["badge"], "Working");
    let text = green["text"].as_str().unwrap();
    assert!(text.contains("on YouTube"), "{text}");
    for label in [
        "Access expires",
        "Connection ends",
        "Last refresh",
        "Last checked with YouTube",
    ] {
        assert!(text.contains(label), "{label}: {text}");
    }
    assert!(
        text.contains("(in 59 minutes)") || text.contains("(in 1 hour)"),
        "a countdown to the access token's end: {text}"
    );
    assert_eq!(card(&shown, &x)["health"], "green");
    chromium.step("page-02-green-phone", &["narrow", &page_url]);

    // The user removes the app's access at Google; the sweep finds out when the channel is due.
    assert_eq!(s.fake.revoke_all_grants_of("page_channel"), 1);
    {
        let _due = ClockShift::by_days(s, 151);
        sweep_until(s, &tenant, &channel, "red");
    }
    // 151 days later the first session is long gone (the sweep deleted it): a new link.
    let shown = chromium.step("page-03-red", &["open", &tenant.page_link("page-user")]);
    let red = card(&shown, &channel);
    assert_eq!(red["health"], "red", "{shown}");
    assert_eq!(red["badge"], "Not working");
    let health = tenant.connection(&channel)["health"].clone();
    assert_eq!(red["reason"], health["reason"]);
    assert!(
        red["text"]
            .as_str()
            .unwrap()
            .contains(health["message"].as_str().unwrap()),
        "the page says why: {shown}"
    );
    assert!(shown["text"]
        .as_str()
        .unwrap()
        .contains("1 of 2 needs attention."));
    let first_card = &shown["connections"][0]["id"];
    assert_eq!(first_card, channel.as_str(), "problems are listed first");

    // Reconnect, by keyboard, through the platform's consent: green, in place.
    let shown = chromium.step(
        "page-04-reconnected",
        &["reconnect", &page_url, &channel, "page_channel"],
    );
    assert!(
        shown["notice"]
            .as_str()
            .unwrap_or("")
            .starts_with("Reconnected."),
        "{shown}"
    );
    assert_eq!(card(&shown, &channel)["health"], "green", "{shown}");
    assert_eq!(tenant.connection(&channel)["health"]["colour"], "green");
    assert_eq!(
        tenant.connections().len(),
        2,
        "restored in place, not added"
    );

    // A post X refuses twice fails; the page lists it and sends it again.
    for _ in 0..2 {
        s.fake.inject_publish_fault(PublishFault::Refuse(403));
    }
    let text = "Refused twice, then sent again from the connections page";
    let made = create_post(
        s,
        &tenant,
        "page-post-1",
        &json!({ "text": text, "connection_ids": [x] }),
    );
    let post = made.body["id"].as_str().unwrap().to_owned();
    wait_post(s, &tenant, &post, "failed");
    let shown = chromium.step("page-05-failed-post", &["open", &page_url]);
    let listed = &shown["posts"][0];
    assert_eq!(listed["id"], post.as_str(), "{shown}");
    assert_eq!(listed["targets"][0]["state"], "failed");
    let shown = chromium.step(
        "page-06-sent-again",
        &[
            "press",
            &page_url,
            &format!("[data-post=\"{post}\"] form[action$=\"/retry\"] button"),
        ],
    );
    assert!(
        shown["notice"]
            .as_str()
            .unwrap_or("")
            .starts_with("Sent again."),
        "{shown}"
    );
    wait_post(s, &tenant, &post, "published");
    assert_eq!(s.fake.posts_with_text(text).len(), 1);
    let shown = chromium.step("page-07-nothing-left", &["open", &page_url]);
    assert_eq!(shown["posts"], json!([]), "{shown}");

    // Another end user of the same tenant sees none of it.
    let other = Chromium::new("other");
    let shown = other.step(
        "page-08-other-user",
        &["open", &tenant.page_link("other-user")],
    );
    assert_eq!(shown["connections"], json!([]), "{shown}");
    let page_text = shown["text"].as_str().unwrap();
    assert!(
        page_text.contains("No accounts are connected yet."),
        "{page_text}"
    );
    for theirs in ["page_channel", "page_x", &channel, &x] {
        assert!(!page_text.contains(theirs), "{theirs}: {page_text}");
    }
}

/// A page session without a browser: the link's redirect, the cookie, the CSRF token scraped
/// from the page like a form would send it.
struct Session {
    browser: Browser,
    page: String,
    csrf: String,
}

fn open_session(link: &str) -> Session {
    let browser = Browser::new();
    let opened = browser.get(link);
    assert_eq!(opened.status, 303, "{opened:?}");
    let page = opened.redirect().to_owned();
    let shown = browser.get(&page);
    assert_eq!(shown.status, 200, "{shown:?}");
    let csrf = common::browser::page_csrf(&shown.body).unwrap_or_default();
    Session {
        browser,
        page,
        csrf,
    }
}

#[test]
fn a_link_opens_one_session_and_no_button_works_without_its_token_or_for_another_end_user() {
    let _turn = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Page doors");
    let connection = common::x_flow::connect(s, &tenant, "door-user", "door_user");
    let base = &s.worker.base_url;

    // The API: a clear error for a bad end_user_ref, and the link names no API key.
    let bad = s.worker.send(
        "POST",
        "/v1/page-links",
        Some(&bearer(&tenant.manage)),
        &json!({ "end_user_ref": " padded" }),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.body["error"]["code"], "invalid_request");
    let link = tenant.page_link("door-user");
    assert!(!link.contains(&tenant.manage) && !link.contains("evg_"));

    // No cookie: the page says it expired, and shows nothing.
    let stranger = Browser::new();
    let refused = stranger.get(&format!("{base}/page"));
    assert_eq!(refused.status, 401);
    assert!(!refused.body.contains(&connection));

    // The link opens one session; opening it again (a copied link) is refused.
    let owner = open_session(&link);
    assert!(owner.csrf.len() >= 40, "the page's forms carry a token");
    let cookie = owner
        .browser
        .cookie(&owner.page, "evergreen_page")
        .expect("the session cookie");
    let replayed = Browser::new().get(&link);
    assert_eq!(replayed.status, 410, "{replayed:?}");
    assert!(replayed.body.contains("already used"));

    // Tampered: a payload changed under the same signature.
    let mut tampered = link.clone();
    let at = tampered.rfind('.').unwrap() - 3;
    tampered.replace_range(
        at..at + 1,
        if &tampered[at..at + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    assert_eq!(Browser::new().get(&tampered).status, 400);

    // Expired after 15 minutes.
    let late = tenant.page_link("door-user");
    {
        let _later = ClockShift::by_minutes(s, 16);
        let expired = Browser::new().get(&late);
        assert_eq!(expired.status, 410, "{expired:?}");
        assert!(expired.body.contains("expired"));
    }

    // Buttons: without the token, with a wrong one, or from another origin, nothing changes.
    let disconnect = format!("{base}/page/connections/{connection}/disconnect");
    for fields in [vec![], vec![("csrf", "forged")]] {
        let refused = owner.browser.post_form(&disconnect, &fields);
        assert_eq!(refused.status, 403, "{refused:?}");
    }
    let cross_site = ureq::post(&disconnect)
        .set("cookie", &format!("evergreen_page={cookie}"))
        .set("origin", "https://evil.example")
        .send_form(&[("csrf", owner.csrf.as_str())]);
    assert_eq!(
        cross_site.map(|r| r.status()).unwrap_or_else(|e| match e {
            ureq::Error::Status(code, _) => code,
            other => panic!("{other}"),
        }),
        403
    );
    assert_eq!(tenant.connection(&connection)["health"]["colour"], "green");

    // Another end user's session, with its own valid token, cannot touch this connection.
    common::x_flow::connect(s, &tenant, "door-other", "door_other");
    let other = open_session(&tenant.page_link("door-other"));
    let gone = other
        .browser
        .post_form(&disconnect, &[("csrf", other.csrf.as_str())]);
    assert_eq!(gone.status, 303, "{gone:?}");
    assert!(gone.redirect().ends_with("/page?done=gone"), "{gone:?}");
    let reconnect = other.browser.post_form(
        &format!("{base}/page/connections/{connection}/reconnect"),
        &[("csrf", other.csrf.as_str())],
    );
    assert!(
        reconnect.redirect().ends_with("/page?done=gone"),
        "{reconnect:?}"
    );
    assert!(
        tenant
            .connections()
            .iter()
            .any(|c| c["id"] == connection.as_str()),
        "still connected"
    );

    // The owner's token works: disconnected, and the page says so.
    let done = owner
        .browser
        .post_form(&disconnect, &[("csrf", owner.csrf.as_str())]);
    assert!(
        done.redirect().ends_with("/page?done=disconnected"),
        "{done:?}"
    );
    let after = owner.browser.get(&format!("{base}{}", done.redirect()));
    assert!(after.body.contains("Disconnected."), "{}", after.body);
    assert!(tenant
        .connections()
        .iter()
        .all(|c| c["id"] != connection.as_str()));
}
