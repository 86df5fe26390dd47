//! The catalogue at work under `wrangler dev`: YouTube (Google) connects with offline access,
//! declined scopes are refused and named, and malformed token answers store nothing.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{query_pairs, query_param, Browser, Visit};
use common::ledger::serial;
use common::providers::acme_vars;
use common::tenants::Tenant;
use common::Stack;
use evergreen_fake_platform::{fixtures, google, x, Fault};
use serde_json::Value;
use std::sync::OnceLock;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        Stack::start_with("connect-providers", |clients| {
            // Any client the fake knows will do; the YouTube one is free here.
            acme_vars(&clients[1])
        })
    })
}

/// Opens a fresh connect link in a new browser; returns the browser and the platform's
/// authorize URL it was sent to.
fn open(tenant: &Tenant<'_>, provider: &str, end_user_ref: &str) -> (Browser, String) {
    let browser = Browser::new();
    let authorize = browser
        .get(&tenant.connect_url_for(provider, end_user_ref))
        .redirect()
        .to_owned();
    (browser, authorize)
}

/// Consents at the fake platform, granting the scopes at `granted` (indexes into the request's
/// scopes; Google's consent screen lets users untick some). Returns the callback URL.
fn consent(
    browser: &Browser,
    authorize_url: &str,
    action_path: &str,
    username: &str,
    granted: &[usize],
) -> String {
    let page = browser.get(authorize_url);
    assert_eq!(page.status, 200, "the consent page: {page:?}");
    let mut fields = query_pairs(authorize_url);
    fields.push(("username".into(), username.into()));
    fields.push(("decision".into(), "approve".into()));
    let scopes: Vec<String> = query_param(authorize_url, "scope")
        .unwrap()
        .split(' ')
        .map(str::to_owned)
        .collect();
    for i in granted {
        fields.push((format!("grant_{i}"), scopes[*i].clone()));
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{}{action_path}", stack().fake.base_url());
    browser.post_form(&action, &fields).redirect().to_owned()
}

fn counts() -> Value {
    let s = stack();
    s.worker.get("/__test/row-counts", Some(&s.operator())).body
}

fn assert_error(visit: &Visit, tenant: &Tenant<'_>, code: &str) {
    let location = visit.redirect();
    assert!(location.starts_with(&tenant.return_url), "{location}");
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some(code),
        "{location}"
    );
}

#[test]
fn a_youtube_channel_connects_with_offline_access() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "YouTube");
    let (browser, authorize) = open(&tenant, "youtube", "yt-user");
    assert!(authorize.starts_with(&format!("{}{}", s.fake.base_url(), google::AUTHORIZE_PATH)));
    assert_eq!(
        query_param(&authorize, "access_type").as_deref(),
        Some("offline")
    );
    assert_eq!(
        query_param(&authorize, "prompt").as_deref(),
        Some("consent")
    );
    assert_eq!(
        query_param(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );

    let callback = consent(
        &browser,
        &authorize,
        google::AUTHORIZE_PATH,
        "tube_user",
        &[0, 1],
    );
    let back = browser.get(&callback);
    let connection = query_param(back.redirect(), "connection_id").expect("connected");

    let listed = tenant.connections();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["provider"], "youtube");
    assert_eq!(listed[0]["account"]["kind"], "channel");
    assert_eq!(listed[0]["account"]["username"], "@tube_user");
    let account = s.fake.account("tube_user").unwrap();
    assert_eq!(listed[0]["account"]["id"], format!("UC{}", account.id));

    let issued = s.fake.tokens_issued_to("tube_user");
    assert_eq!(
        issued.refresh.len(),
        1,
        "offline access brings a refresh token"
    );
    let read = tenant.token(&connection);
    assert_eq!(
        read.body["access_token"],
        issued.access[0].as_str(),
        "{read:?}"
    );
    assert_eq!(s.fake.counters("tube_user").token_authorization_code, 1);
}

#[test]
fn a_provider_declared_in_configuration_connects_end_to_end() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Acme");
    let rejections = s.fake.rejections().len();
    let (browser, authorize) = open(&tenant, "acme", "acme-user");
    let dialect = fixtures::acme().dialect.as_ref().unwrap();
    assert!(
        authorize.starts_with(&format!("{}{}?", s.fake.base_url(), dialect.authorize_path)),
        "{authorize}"
    );
    assert_eq!(
        query_param(&authorize, "scope").as_deref(),
        Some("openid profile posts.write offline_access")
    );
    assert_eq!(
        query_param(&authorize, "prompt").as_deref(),
        Some("consent")
    );
    let callback = consent(
        &browser,
        &authorize,
        &dialect.authorize_path,
        "acme_user",
        &[],
    );
    let connection =
        query_param(browser.get(&callback).redirect(), "connection_id").expect("connected");
    assert_eq!(s.fake.rejections()[rejections..], []);
    let listed = tenant.connections();
    assert_eq!(listed[0]["provider"], "acme");
    assert_eq!(listed[0]["account"]["kind"], "profile");
    let account = s.fake.account("acme_user").unwrap();
    assert_eq!(listed[0]["account"]["id"], account.id, "read at /sub");
    assert_eq!(listed[0]["account"]["username"], "acme_user");
    let issued = s.fake.tokens_issued_to("acme_user");
    assert_eq!(issued.refresh.len(), 1, "a refresh token is kept");
    assert_eq!(
        tenant.token(&connection).body["access_token"],
        issued.access[0].as_str()
    );
}

#[test]
fn declined_scopes_are_named_and_nothing_is_stored() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Declined");
    let before = counts();
    let (browser, authorize) = open(&tenant, "youtube", "yt-user");
    // Only the first scope (youtube.upload) is left ticked.
    let callback = consent(
        &browser,
        &authorize,
        google::AUTHORIZE_PATH,
        "partial_user",
        &[0],
    );
    let back = browser.get(&callback);
    assert_error(&back, &tenant, "scopes_declined");
    assert_eq!(
        query_param(back.redirect(), "declined").as_deref(),
        Some("https://www.googleapis.com/auth/youtube.readonly")
    );
    assert!(
        tenant.connections().is_empty(),
        "a partial grant is never shown"
    );
    assert_eq!(counts()["grants"], before["grants"]);
}

#[test]
fn malformed_token_answers_store_nothing_and_say_why() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "Malformed");
    let before = counts();
    for (fault, code) in [
        (Fault::NonJsonBody, "invalid_token_response"),
        (Fault::ErrorInside200, "invalid_token_response"),
        (Fault::MissingAccessToken, "invalid_token_response"),
        (Fault::ServiceUnavailable, "exchange_failed"),
        (Fault::TooManyRequests, "exchange_failed"),
    ] {
        let (browser, authorize) = open(&tenant, "x", "m-user");
        let callback = consent(
            &browser,
            &authorize,
            x::AUTHORIZE_PATH,
            "malformed_user",
            &[],
        );
        s.fake.inject_token_fault(fault);
        let back = browser.get(&callback);
        assert_error(&back, &tenant, code);
    }
    assert!(tenant.connections().is_empty());
    assert_eq!(counts()["grants"], before["grants"]);
}

#[test]
fn a_missing_expires_in_is_recorded_as_unknown() {
    let _serial = serial();
    let s = stack();
    let tenant = Tenant::new(s, "No expiry");
    let (browser, authorize) = open(&tenant, "x", "e-user");
    let callback = consent(
        &browser,
        &authorize,
        x::AUTHORIZE_PATH,
        "no_expiry_user",
        &[],
    );
    s.fake.inject_token_fault(Fault::OmitExpiresIn);
    let connection = query_param(browser.get(&callback).redirect(), "connection_id")
        .expect("a missing expires_in is legal");
    let listed = tenant.connections();
    assert_eq!(listed[0]["access_expires_at"], Value::Null);
    let read = tenant.token(&connection);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["expires_at"], Value::Null);
}
