//! A provider declared in configuration, as an operator would: `docs/providers.md`'s `CUSTOM_PROVIDERS`
//! example, which the fake serves from `fake-platform/fixtures/acme.json` alone.

use evergreen_fake_platform::Client;

/// The complete `CUSTOM_PROVIDERS` example of `docs/providers.md`, read from the doc itself so that the
/// example a newcomer copies is the one proven to connect. The fake serves Acme from
/// `fake-platform/fixtures/acme.json` alone (standard OAuth 2.0, rotating refresh tokens, an
/// OpenID Connect userinfo endpoint), with no code of its own.
pub fn acme() -> serde_json::Value {
    let doc = include_str!("../../docs/providers.md");
    let section = &doc[doc.find("## Custom providers").expect("the doc's section")..];
    let start = section.find("```json").expect("a json block") + "```json".len();
    let end = start + section[start..].find("```").expect("the block's end");
    serde_json::from_str(&section[start..end]).expect("the documented example is valid JSON")
}

/// The worker variables that declare Acme with `client` (any client the fake knows).
pub fn acme_vars(client: &Client) -> Vec<(String, String)> {
    vec![
        ("CUSTOM_PROVIDERS".into(), acme().to_string()),
        ("ACME_CLIENT_ID".into(), client.id.clone()),
        ("ACME_CLIENT_SECRET".into(), client.secret.clone()),
    ]
}
