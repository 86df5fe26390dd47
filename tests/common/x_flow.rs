//! Connecting an X account (or a YouTube channel) through the real flow, and moving the worker's clock: what the
//! connect and refresh tests share.

use super::browser::{query_pairs, query_param, Browser};
use super::tenants::Tenant;
use super::Stack;
use evergreen_fake_platform::x::AUTHORIZE_PATH;
use evergreen_fake_platform::{facebook, google, linkedin};
use serde_json::json;

/// Opens a connect link and returns the platform's authorize URL it redirected to.
pub fn open(browser: &Browser, connect_url: &str) -> String {
    browser.get(connect_url).redirect().to_owned()
}

/// Consents (or not) at the fake X; returns the callback URL it sends the browser to.
pub fn consent(
    s: &Stack,
    browser: &Browser,
    authorize_url: &str,
    username: &str,
    decision: &str,
) -> String {
    let page = browser.get(authorize_url);
    assert_eq!(page.status, 200, "the fake's consent page: {page:?}");
    let mut fields = query_pairs(authorize_url);
    fields.push(("username".into(), username.into()));
    fields.push(("decision".into(), decision.into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{}{AUTHORIZE_PATH}", s.fake.base_url());
    browser.post_form(&action, &fields).redirect().to_owned()
}

/// The whole flow at the fake Google for a YouTube channel, every scope granted; returns the
/// connection id.
pub fn connect_youtube(
    s: &Stack,
    tenant: &Tenant<'_>,
    end_user_ref: &str,
    username: &str,
) -> String {
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url_for("youtube", end_user_ref));
    let page = browser.get(&authorize);
    assert_eq!(page.status, 200, "the fake's consent page: {page:?}");
    let mut fields = query_pairs(&authorize);
    fields.push(("username".into(), username.into()));
    fields.push(("decision".into(), "approve".into()));
    let scopes = query_param(&authorize, "scope").unwrap();
    for (i, scope) in scopes.split(' ').enumerate() {
        fields.push((format!("grant_{i}"), scope.to_owned()));
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{}{}", s.fake.base_url(), google::AUTHORIZE_PATH);
    let callback = browser.post_form(&action, &fields).redirect().to_owned();
    let back = browser.get(&callback);
    let back = back.redirect();
    assert!(back.starts_with(&tenant.return_url), "{back}");
    query_param(back, "connection_id").expect("the return URL gets the connection id")
}

/// The whole flow at a fake platform whose consent page posts back to `authorize_path`
/// (LinkedIn, TikTok): every connection id the return URL received, the account's first.
pub fn connect_at(
    s: &Stack,
    tenant: &Tenant<'_>,
    provider: &str,
    authorize_path: &str,
    end_user_ref: &str,
    username: &str,
) -> Vec<String> {
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url_for(provider, end_user_ref));
    let page = browser.get(&authorize);
    assert_eq!(page.status, 200, "the fake's consent page: {page:?}");
    let mut fields = query_pairs(&authorize);
    fields.push(("username".into(), username.into()));
    fields.push(("decision".into(), "approve".into()));
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let action = format!("{}{authorize_path}", s.fake.base_url());
    let callback = browser.post_form(&action, &fields).redirect().to_owned();
    let back = browser.get(&callback);
    let back = back.redirect();
    assert!(back.starts_with(&tenant.return_url), "{back}");
    let first = query_param(back, "connection_id").expect("the return URL gets the connection id");
    let all: Vec<String> = query_param(back, "connection_ids")
        .expect("the return URL gets every connection id")
        .split(',')
        .map(str::to_owned)
        .collect();
    assert_eq!(all[0], first, "the account's own connection comes first");
    all
}

/// The whole flow in one browser; returns the connection id the return URL received.
pub fn connect(s: &Stack, tenant: &Tenant<'_>, end_user_ref: &str, username: &str) -> String {
    let browser = Browser::new();
    let authorize = open(&browser, &tenant.connect_url(end_user_ref));
    let callback = consent(s, &browser, &authorize, username, "approve");
    let landed = browser.get(&callback);
    let back = landed.redirect();
    assert!(back.starts_with(&tenant.return_url), "{back}");
    query_param(back, "connection_id").expect("the return URL gets the connection id")
}

/// Sets the worker's test clock (`PUT /__test/clock`); answers the clock as the worker reports it.
fn put_clock(s: &Stack, body: &serde_json::Value) -> serde_json::Value {
    let answer = s
        .worker
        .send("PUT", "/__test/clock", Some(&s.operator()), body);
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body
}

/// Sets the worker's test clock `ms` ahead of real time (0 puts it back). It is kept in D1, so
/// it survives a restart; [`ClockShift`] puts it back by itself.
pub fn set_clock_offset(s: &Stack, ms: i64) {
    put_clock(s, &json!({ "offset_ms": ms }));
}

/// Stops the worker's test clock at `at_ms` (milliseconds since the epoch) until it is set
/// again: every handler sees exactly that time, so a test can connect and sweep at exact
/// moments. Answers the clock as the worker reports it.
pub fn freeze_clock_at(s: &Stack, at_ms: i64) -> serde_json::Value {
    let clock = put_clock(s, &json!({ "frozen_at_ms": at_ms }));
    assert_eq!(clock["now_ms"], at_ms, "{clock:?}");
    clock
}

/// The worker's clock as it reports it, in milliseconds since the epoch.
pub fn clock_now_ms(s: &Stack) -> i64 {
    let answer = s.worker.get("/__test/clock", Some(&s.operator()));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["now_ms"].as_i64().expect("now_ms")
}

/// The worker's clock moved ahead; put back when dropped, even when the test fails.
pub struct ClockShift<'a>(&'a Stack);

impl<'a> ClockShift<'a> {
    pub fn by_minutes(s: &'a Stack, minutes: i64) -> Self {
        set_clock_offset(s, minutes * 60_000);
        ClockShift(s)
    }

    pub fn by_days(s: &'a Stack, days: i64) -> Self {
        Self::by_minutes(s, days * 24 * 60)
    }
}

impl Drop for ClockShift<'_> {
    fn drop(&mut self) {
        set_clock_offset(self.0, 0);
    }
}

/// Connects `{prefix}_x`, `{prefix}_li` and a Page of `{prefix}_fb` (named `page`) for one end
/// user: the X, LinkedIn and Facebook connection ids.
pub fn connect_x_linkedin_facebook(
    s: &Stack,
    tenant: &Tenant<'_>,
    end_user_ref: &str,
    prefix: &str,
    page: &str,
) -> [String; 3] {
    let x = connect(s, tenant, end_user_ref, &format!("{prefix}_x"));
    let li = connect_at(
        s,
        tenant,
        "linkedin",
        linkedin::AUTHORIZE_PATH,
        end_user_ref,
        &format!("{prefix}_li"),
    )[0]
    .clone();
    let fb_user = format!("{prefix}_fb");
    s.fake.add_facebook_page(&fb_user, page);
    let fb = connect_at(
        s,
        tenant,
        "facebook",
        facebook::AUTHORIZE_PATH,
        end_user_ref,
        &fb_user,
    )[0]
    .clone();
    [x, li, fb]
}
