//! The catalogue against the fake platform's fixtures, which quote the platforms' docs: if one
//! of them changes, this says which fact no longer agrees. (Here, not in `core/oauth/catalogue.rs`'s
//! unit tests: production modules never import the fake platform.) Native, no worker needed.
#![cfg(not(target_arch = "wasm32"))]

use evergreen::core::http::query::param;
use evergreen::core::oauth::catalogue::*;
use evergreen_fake_platform::fixtures::{self, Fixtures};
use serde_json::{json, Value};

fn spec(name: &str) -> ProviderSpec {
    Catalogue::builtin().get(name).unwrap().clone()
}

fn error_of(f: &Fixtures, response: &str) -> (String, Option<String>) {
    let body = &f.responses[response].body;
    (
        body["error"].as_str().unwrap().to_owned(),
        body["error_description"].as_str().map(str::to_owned),
    )
}

fn rotates(spec: &ProviderSpec) -> Value {
    json!(spec.tokens.refresh_token == RefreshTokenKind::Rotating)
}

fn client_auth(spec: &ProviderSpec) -> Value {
    json!(match spec.client_auth {
        ClientAuth::ClientSecretBasic => "client_secret_basic",
        ClientAuth::ClientSecretPost => "client_secret_post",
        ClientAuth::PrivateKeyJwt => "private_key_jwt",
    })
}

#[test]
fn x_agrees_with_its_fixtures() {
    let (x, f) = (spec("x"), fixtures::x());
    assert_eq!(
        json!(x.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(rotates(&x), *f.fact("refresh_token_rotates"));
    assert_eq!(
        json!(x.tokens.refresh_token_needs_scope),
        *f.fact("refresh_token_scope")
    );
    assert_eq!(client_auth(&x), *f.fact("client_auth"));
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(x.is_dead_grant_error(&error, description.as_deref()));
    assert!(x
        .reused_refresh_token_errors
        .iter()
        .any(|s| s.matches(&error, description.as_deref())));
    // The same code for Evergreen's own mistakes must not read as a dead grant.
    for ours in [
        "code_verifier_missing",
        "authorization_code_invalid",
        "redirect_uri_mismatch",
    ] {
        let (error, description) = error_of(f, ours);
        assert!(
            !x.is_dead_grant_error(&error, description.as_deref()),
            "{ours}"
        );
    }
}

#[test]
fn youtube_agrees_with_googles_fixtures() {
    let (yt, f) = (spec("youtube"), fixtures::google());
    assert_eq!(
        json!(yt.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(rotates(&yt), *f.fact("refresh_token_rotates"));
    assert_eq!(
        json!(yt.tokens.idle_expiry_days),
        *f.fact("idle_expiry_days")
    );
    assert_eq!(
        json!(yt.tokens.testing_mode_expiry_days),
        *f.fact("testing_mode_expiry_days")
    );
    assert!(f
        .fact("client_auth")
        .as_array()
        .unwrap()
        .contains(&client_auth(&yt)));
    assert_eq!(
        yt.authorize_params.get("access_type").map(String::as_str),
        f.fact("refresh_token_needs")
            .as_str()
            .and_then(|n| n.strip_prefix("access_type="))
    );
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(yt.is_dead_grant_error(&error, description.as_deref()));
    // The keep-alive refresh comes well inside the idle limit.
    let keep_alive = yt.refresh.keep_alive_days.unwrap();
    assert!(u64::from(keep_alive) < f.fact_u64("idle_expiry_days"));
}

#[test]
fn linkedin_agrees_with_its_fixtures() {
    let (li, f) = (spec("linkedin"), fixtures::linkedin());
    assert_eq!(
        json!(li.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(
        json!(li.tokens.refresh_lifetime_secs),
        *f.fact("refresh_lifetime_secs")
    );
    assert_eq!(
        li.tokens.refresh_expiry_fixed,
        !f.fact_bool("refresh_extends_lifetime")
    );
    assert_eq!(rotates(&li), json!(false));
    assert!(f
        .fact("client_auth")
        .as_array()
        .unwrap()
        .contains(&client_auth(&li)));
    assert_eq!(li.pkce, Pkce::None, "web apps: no PKCE");
    let api = li.api.as_ref().unwrap();
    assert_eq!(
        api.version_header.as_ref().map(|h| json!(h)),
        Some(f.fact("api_version_header").clone())
    );
    assert!(api.version.len() == 6 && api.version.bytes().all(|b| b.is_ascii_digit()));
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(li.is_dead_grant_error(&error, description.as_deref()));
    let (error, description) = error_of(f, "authorization_code_invalid");
    assert!(!li.is_dead_grant_error(&error, description.as_deref()));
    // The proactive lead comes well before the access token dies, and a daily check
    // notices a lost page role.
    assert!(li.refresh.lead_secs.unwrap() < f.fact_u64("access_lifetime_secs"));
    assert_eq!(li.refresh.check_every_secs, 86_400);
}

#[test]
fn tiktok_agrees_with_its_fixtures_and_keeps_no_lifetime_of_its_own() {
    let (tt, f) = (spec("tiktok"), fixtures::tiktok());
    assert_eq!(json!(tt.client_id_param), *f.fact("client_id_param"));
    assert_eq!(json!(tt.scope_separator), *f.fact("scope_separator"));
    assert_eq!(rotates(&tt), *f.fact("refresh_token_rotates"));
    assert_eq!(tt.pkce == Pkce::S256, f.fact_bool("pkce_for_web"));
    // The docs disagree (24 h / 365 d against 2 h / 180 d): both come from the answer.
    assert_eq!(tt.tokens.access_lifetime_secs, None);
    assert_eq!(tt.tokens.refresh_lifetime_secs, None);
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(tt.is_dead_grant_error(&error, description.as_deref()));
    assert!(tt
        .reused_refresh_token_errors
        .iter()
        .any(|s| s.matches(&error, description.as_deref())));
    let url = tt.authorize_url("key 1", "https://e/cb", "st", None);
    assert_eq!(param(&url, "client_key").as_deref(), Some("key 1"));
    assert_eq!(param(&url, "client_id"), None);
    assert_eq!(
        param(&url, "scope").as_deref(),
        Some("user.info.basic,user.info.profile,video.publish,video.upload")
    );
}

#[test]
fn meta_agrees_with_its_fixtures_on_one_graph_version() {
    let (fb, f) = (spec("facebook"), fixtures::facebook());
    let version = f.fact("graph_version").as_str().unwrap();
    assert_eq!(fb.api.as_ref().unwrap().version, version);
    for url in [&fb.authorize_url, &fb.token_url, &fb.identity.url] {
        assert!(url.contains(&format!("/{version}/")), "{url}");
    }
    assert_eq!(
        json!(fb.tokens.data_access_lifetime_secs),
        *f.fact("data_access_secs")
    );
    assert_eq!(fb.tokens.refresh_token, RefreshTokenKind::None);
    assert_eq!(fb.refresh.policy, RefreshPolicy::Validate);
    assert!(!fb.profile_is_connection());
    let ig = spec("instagram");
    let f = fixtures::instagram();
    assert_eq!(ig.tokens.refresh_token, RefreshTokenKind::AccessToken);
    assert_eq!(
        json!(ig.refresh.min_age_secs),
        *f.fact("refresh_min_age_secs")
    );
    // The lead time leaves the 24-hour minimum age far behind.
    assert!(
        f.fact_u64("long_lived_secs") - ig.refresh.lead_secs.unwrap()
            > f.fact_u64("refresh_min_age_secs")
    );
    assert!(ig.identity.url.contains(&format!("/{version}/")));
}

#[test]
fn publishing_is_built_in_and_its_urls_resolve() {
    let catalogue = Catalogue::builtin();
    let facebook = catalogue.get("facebook").unwrap().publish.as_ref().unwrap();
    assert_eq!(facebook.dialect, PublishDialect::Facebook);
    assert_eq!(
        facebook.url,
        "https://graph.facebook.com/v25.0/{account}/feed"
    );
    assert!(catalogue
        .get("linkedin")
        .unwrap()
        .publish
        .as_ref()
        .unwrap()
        .lookup_url
        .is_none());
    let mut declared: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(include_str!("../src/core/oauth/catalogue.json"))
            .unwrap()["providers"][0]
            .clone();
    declared["name"] = json!("custom");
    let err = Catalogue::builtin()
        .with_declared(&json!([declared]).to_string())
        .unwrap_err();
    assert!(err.0.contains("publish is built in"), "{err}");
}

#[test]
fn a_url_placeholder_other_than_the_version_is_refused() {
    let mut declared: serde_json::Value =
        serde_json::from_str::<serde_json::Value>(include_str!("../src/core/oauth/catalogue.json"))
            .unwrap()["providers"][0]
            .clone();
    declared["name"] = json!("custom");
    declared.as_object_mut().unwrap().remove("publish");
    declared["token_url"] = json!("https://t.example/{tenant}/token");
    let err = Catalogue::builtin()
        .with_declared(&json!([declared]).to_string())
        .unwrap_err();
    assert!(err.0.contains("placeholder"), "{err}");
}

/// `docs/providers.md`'s custom-provider example against the standard provider the fake serves
/// from `fixtures/acme.json` (the integration tests connect it end to end).
#[test]
fn the_documented_example_agrees_with_acmes_fixtures() {
    let doc = include_str!("../docs/providers.md");
    let section = &doc[doc.find("## Custom providers").unwrap()..];
    let start = section.find("```json").unwrap() + "```json".len();
    let end = start + section[start..].find("```").unwrap();
    let catalogue = Catalogue::builtin()
        .with_declared(&section[start..end])
        .unwrap();
    let (acme, f) = (catalogue.get("acme").unwrap(), fixtures::acme());
    assert_eq!(
        json!(acme.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(rotates(acme), *f.fact("refresh_token_rotates"));
    assert!(f
        .fact("client_auth")
        .as_array()
        .unwrap()
        .contains(&client_auth(acme)));
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(acme.is_dead_grant_error(&error, description.as_deref()));
    let dialect = f.dialect.as_ref().unwrap();
    for (url, path) in [
        (&acme.authorize_url, &dialect.authorize_path),
        (&acme.token_url, &dialect.token_path),
        (acme.revoke_url.as_ref().unwrap(), &dialect.revoke_path),
        (&acme.identity.url, &dialect.userinfo_path),
    ] {
        assert_eq!(url.strip_prefix("https:/"), Some(path.as_str()));
    }
}

#[test]
fn reddit_agrees_with_its_fixtures() {
    let (rd, f) = (spec("reddit"), fixtures::reddit());
    assert_eq!(
        json!(rd.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(rotates(&rd), *f.fact("refresh_token_rotates"));
    assert_eq!(rd.tokens.refresh_token, RefreshTokenKind::Reusable);
    assert_eq!(json!([client_auth(&rd)]), *f.fact("client_auth"));
    assert_eq!(json!(rd.scope_separator), *f.fact("scope_separator"));
    assert_eq!(rd.pkce, Pkce::None);
    assert_eq!(
        rd.authorize_params.get("duration").map(|d| json!(d)),
        Some(f.fact("permanent_duration").clone())
    );
    let (error, description) = error_of(f, "refresh_token_invalid");
    assert!(rd.is_dead_grant_error(&error, description.as_deref()));
    for (url, path) in [
        (
            &rd.authorize_url,
            evergreen_fake_platform::reddit::AUTHORIZE_PATH,
        ),
        (&rd.token_url, evergreen_fake_platform::reddit::TOKEN_PATH),
        (
            rd.revoke_url.as_ref().unwrap(),
            evergreen_fake_platform::reddit::REVOKE_PATH,
        ),
        (&rd.identity.url, evergreen_fake_platform::reddit::ME_PATH),
    ] {
        assert_eq!(url.strip_prefix("https:/"), Some(path));
    }
    // Every call Evergreen makes carries an agent Reddit accepts.
    assert!(evergreen_fake_platform::reddit::descriptive(Some(
        evergreen::core::common::build::USER_AGENT
    )));
    let publish = rd.publish.as_ref().unwrap();
    assert_eq!(publish.dialect, PublishDialect::Reddit);
    assert_eq!(
        publish.url.strip_prefix("https:/"),
        Some(evergreen_fake_platform::reddit::SUBMIT_PATH)
    );
}

/// The OpenAPI document names every built-in provider, in the catalogue's order.
#[test]
fn the_openapi_document_lists_every_built_in_provider() {
    let doc: Value = serde_json::from_str(include_str!("../assets/openapi.json")).unwrap();
    let listed = &doc["components"]["schemas"]["Provider"]["examples"];
    assert_eq!(*listed, json!(Catalogue::builtin().names()));
}

#[test]
fn threads_agrees_with_its_fixtures() {
    use evergreen_fake_platform::threads as fake;
    let (th, f) = (spec("threads"), fixtures::threads());
    assert_eq!(th.dialect(), Some(GraphDialect::Threads));
    assert_eq!(th.tokens.refresh_token, RefreshTokenKind::AccessToken);
    // The documented 60 days, which the answer's expires_in (5,183,944 s) rounds to.
    let days = |secs: u64| (secs as f64 / 86_400.0).round();
    assert_eq!(
        days(th.tokens.access_lifetime_secs.unwrap()),
        days(f.fact_u64("long_lived_secs"))
    );
    assert_eq!(
        json!(th.refresh.min_age_secs),
        *f.fact("refresh_min_age_secs")
    );
    assert!(
        f.fact_u64("long_lived_secs") - th.refresh.lead_secs.unwrap()
            > f.fact_u64("refresh_min_age_secs")
    );
    assert_eq!(json!(th.scope_separator), *f.fact("scope_separator"));
    let graph = th.graph.as_ref().unwrap();
    for (url, path) in [
        (&th.authorize_url, fake::AUTHORIZE_PATH),
        (&th.token_url, fake::TOKEN_PATH),
        (&graph.long_lived_url, fake::EXCHANGE_PATH),
        (graph.refresh_url.as_ref().unwrap(), fake::REFRESH_PATH),
    ] {
        assert_eq!(url.strip_prefix("https:/"), Some(path));
    }
    assert!(th
        .identity
        .url
        .strip_prefix("https:/")
        .unwrap()
        .starts_with(&format!("{}?", fake::ME_PATH)));
    let publish = th.publish.as_ref().unwrap();
    assert_eq!(publish.dialect, PublishDialect::Threads);
    assert!(!publish.media.as_ref().unwrap().required, "text alone");
}

#[test]
fn pinterest_agrees_with_its_fixtures() {
    use evergreen_fake_platform::pinterest as fake;
    let (pin, f) = (spec("pinterest"), fixtures::pinterest());
    assert_eq!(
        json!(pin.tokens.access_lifetime_secs),
        *f.fact("access_lifetime_secs")
    );
    assert_eq!(
        json!(pin.tokens.refresh_lifetime_secs),
        *f.fact("refresh_lifetime_secs")
    );
    assert_eq!(rotates(&pin), *f.fact("refresh_token_rotates"));
    assert_eq!(json!([client_auth(&pin)]), *f.fact("client_auth"));
    assert_eq!(json!(pin.scope_separator), *f.fact("scope_separator"));
    // Continuous refresh is asked for on every refresh.
    let refresh_on = f.fact("refresh_on").as_str().unwrap();
    assert_eq!(
        pin.refresh_params.get(refresh_on).map(String::as_str),
        Some("true")
    );
    // Pinterest's own refusal of a dead grant reads as one.
    let body = &f.responses["grant_invalid"].body;
    assert!(pin.is_dead_grant_error(&body["code"].to_string(), body["message"].as_str()));
    for (url, path) in [
        (&pin.authorize_url, fake::AUTHORIZE_PATH),
        (&pin.token_url, fake::TOKEN_PATH),
        (&pin.identity.url, fake::USER_ACCOUNT_PATH),
    ] {
        assert_eq!(url.strip_prefix("https:/"), Some(path));
    }
    let boards = pin.managed_accounts.as_ref().unwrap();
    assert!(boards
        .list_url
        .strip_prefix("https:/")
        .unwrap()
        .starts_with(fake::BOARDS_PATH));
    assert!(!pin.profile_is_connection());
    let publish = pin.publish.as_ref().unwrap();
    assert_eq!(publish.dialect, PublishDialect::Pinterest);
    assert_eq!(publish.url.strip_prefix("https:/"), Some(fake::PINS_PATH));
    assert!(
        publish.media.as_ref().unwrap().required,
        "a pin needs an image"
    );
}

#[test]
fn mastodon_is_a_template_each_server_resolves_from() {
    use evergreen::core::oauth::mastodon::ServerName;
    let catalogue = Catalogue::builtin();
    let template = catalogue.get("mastodon").unwrap();
    assert!(template.per_server.is_some() && template.server.is_none());
    assert_eq!(template.tokens.refresh_token, RefreshTokenKind::None);
    assert_eq!(template.refresh.policy, RefreshPolicy::Validate);
    let server = catalogue.resolve("mastodon:fosstodon.org").unwrap();
    assert_eq!(server.name, "mastodon:fosstodon.org");
    assert_eq!(server.server, ServerName::parse("fosstodon.org").ok());
    for url in [
        &server.authorize_url,
        &server.token_url,
        server.revoke_url.as_ref().unwrap(),
        &server.identity.url,
        &server.per_server.as_ref().unwrap().register_url,
        &server.publish.as_ref().unwrap().url,
    ] {
        assert!(url.starts_with("https://fosstodon.org/"), "{url}");
        assert!(!url.contains('{'), "{url}");
    }
    // Only a public, canonical server name is a provider.
    for name in [
        "mastodon:127.0.0.1",
        "mastodon:localhost",
        "mastodon:Fosstodon.org",
        "mastodon",
    ] {
        assert!(
            catalogue.resolve(name).is_none_or(|s| s.server.is_none()),
            "{name}"
        );
    }
    assert!(catalogue.resolve("x:fosstodon.org").is_none());
    // The fake's answers agree with what the catalogue expects.
    let f = fixtures::mastodon();
    assert!(f.responses["token_issued"]
        .body
        .get("refresh_token")
        .is_none());
    assert!(f.responses["token_issued"].body.get("expires_in").is_none());
    let (error, description) = error_of(f, "grant_invalid");
    assert_eq!(error, "invalid_grant", "{description:?}");
}

#[test]
fn bluesky_discovers_its_servers_and_agrees_with_its_fixtures() {
    let (bsky, f) = (spec("bluesky"), fixtures::bluesky());
    assert!(bsky.atproto.is_some());
    assert_eq!(bsky.client_auth, ClientAuth::PrivateKeyJwt);
    assert_eq!(bsky.pkce, Pkce::S256);
    assert_eq!(rotates(&bsky), *f.fact("refresh_token_rotates"));
    assert_eq!(bsky.scope_param(), evergreen::core::oauth::atproto::SCOPE);
    let (error, description) = error_of(f, "grant_invalid");
    assert!(bsky.is_dead_grant_error(&error, description.as_deref()));
    assert_eq!(
        f.responses["token_issued"].body["token_type"], "DPoP",
        "the tokens are DPoP-bound"
    );
    assert_eq!(
        f.responses["use_dpop_nonce"].body["error"], "use_dpop_nonce",
        "what core::oauth::atproto::wants_nonce reads"
    );
    assert_eq!(
        bsky.publish.as_ref().unwrap().dialect,
        PublishDialect::Bluesky
    );
}
