//! The connect flow in a real browser (Debian's Chromium driven by playwright-core): the binding
//! cookie must survive the cross-site round trip through the platform, which only a browser's
//! own cookie rules can show.
use crate::common::browser::{chromium, query_param};
use crate::common::tenants::Tenant;
use crate::stack;

#[test]
fn a_browser_connects_the_demo_x_account_and_sees_it_on_the_return_page() {
    let stack = stack();
    let tenant = Tenant::new(stack, "Browser");
    let connect_url = tenant.connect_url("browser-user");

    let ended = chromium(
        "connect.mjs",
        [connect_url.as_str(), "browser_user"],
        "the browser run",
    );

    let url = ended["url"].as_str().unwrap();
    assert!(url.starts_with(&tenant.return_url), "{url}");
    let connection_id = query_param(url, "connection_id").expect("a connection id");
    let text = ended["text"].as_str().unwrap();
    assert!(text.contains("Connected"), "{text}");
    assert!(text.contains("browser_user"), "{text}");
    assert!(text.contains(&connection_id), "{text}");

    let cookie = ended["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "evergreen_binding")
        .unwrap_or_else(|| panic!("the binding cookie: {ended}"));
    assert_eq!(cookie["httpOnly"], true);
    assert_eq!(cookie["sameSite"], "Lax");

    let listed = tenant.connections();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], connection_id.as_str());
    assert_eq!(listed[0]["account"]["username"], "browser_user");
}
