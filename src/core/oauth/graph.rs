//! Meta's Graph dialect, for Facebook Pages and Instagram: the calls outside OAuth 2.0 and how
//! their answers are read.
//!
//! - The long-lived exchange right after the code exchange (`fb_exchange_token`,
//!   `ig_exchange_token`) and Instagram's refresh (`ig_refresh_token`): GET requests with the
//!   secrets in the query, as Meta documents them (so their URLs are never logged).
//! - `debug_token`: whether a token still works, when data access ends, and why not.
//! - `me/accounts`: the Pages a person manages, each with its own Page token.
//! - Error bodies (`{"error": {"code": 190, "error_subcode": 460, …}}`), mapped to a named reason
//!   only where Meta names one; anything else is not Meta's word on the grant.
//!
//! Sources: the fixtures in `fake-platform/fixtures/facebook.json` and `instagram.json`, which
//! quote Meta's pages.

use crate::core::grant::grant_tokens::SecretText;
use crate::core::grant::refresh_failure::DeadReason;
use crate::core::http::query::with_params;
use crate::core::oauth::catalogue::{GraphDialect, GraphSpec};
use crate::core::oauth::identity::AccountIdentity;
use serde_json::Value;

/// The connection kind of a Facebook Page (`connections.kind`).
pub const PAGE_KIND: &str = "page";

/// At most this many Pages are taken from one consent.
pub const MAX_PAGES: usize = 100;

/// An error object from the Graph API, at the top level or inside `debug_token`'s `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    pub code: i64,
    pub subcode: Option<i64>,
    /// Meta's message: about the token, never containing it.
    pub message: String,
}

/// What an error says about the token it was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenVerdict {
    /// The grant is over, for this reason.
    Ended(DeadReason),
    /// The person no longer has a role on this Page (subcode 492): that Page only.
    RoleLost,
    /// Not Meta's word on the token (rate limits, outages, our own app).
    Unknown,
}

impl GraphError {
    /// Reads `{"code", "error_subcode" | "subcode", "message"}`.
    fn from_object(object: &Value) -> Option<Self> {
        let code = object.get("code")?.as_i64()?;
        let subcode = object
            .get("error_subcode")
            .or_else(|| object.get("subcode"))
            .and_then(Value::as_i64);
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        Some(Self {
            code,
            subcode,
            message,
        })
    }

    /// The top-level `{"error": {…}}` of an answer body, if it is one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Self::from_object(value.get("error")?)
    }

    /// OAuthException 190 (and the older 102) are about the token; the subcode says why
    /// (https://developers.facebook.com/docs/graph-api/guides/error-handling).
    pub fn verdict(&self) -> TokenVerdict {
        if !matches!(self.code, 190 | 102) {
            return TokenVerdict::Unknown;
        }
        TokenVerdict::Ended(match self.subcode {
            Some(458) => DeadReason::AppRemoved,
            Some(459 | 464) => DeadReason::Checkpoint,
            Some(460) => DeadReason::PasswordChanged,
            Some(463) => DeadReason::SessionExpired,
            Some(492) => return TokenVerdict::RoleLost,
            _ => DeadReason::RevokedOrExpired,
        })
    }
}

/// What `debug_token` said about one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenDebug {
    pub is_valid: bool,
    /// Unix seconds; `None` (or Meta's 0) for a token that does not expire.
    pub expires_at: Option<i64>,
    /// Unix seconds: when the app stops being allowed the person's data.
    pub data_access_expires_at: Option<i64>,
    pub error: Option<GraphError>,
}

impl TokenDebug {
    /// Reads `{"data": {…}}`. `None` for anything else, including a top-level error (that is
    /// the call failing, e.g. our app token refused, not the token being checked).
    pub fn parse(body: &[u8]) -> Option<Self> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let data = value.get("data")?;
        let seconds = |name: &str| data.get(name).and_then(Value::as_i64).filter(|s| *s > 0);
        Some(Self {
            is_valid: data.get("is_valid")?.as_bool()?,
            expires_at: seconds("expires_at"),
            data_access_expires_at: seconds("data_access_expires_at"),
            error: data.get("error").and_then(GraphError::from_object),
        })
    }

    /// The token's standing: fine, or Meta's verdict on it (an invalid token without an
    /// error object reads as revoked).
    pub fn verdict(&self) -> Option<TokenVerdict> {
        if self.is_valid {
            return None;
        }
        Some(match &self.error {
            Some(e) => match e.verdict() {
                TokenVerdict::Unknown => TokenVerdict::Ended(DeadReason::RevokedOrExpired),
                v => v,
            },
            None => TokenVerdict::Ended(DeadReason::RevokedOrExpired),
        })
    }
}

/// One Page from `me/accounts`, with its Page token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedPage {
    pub identity: AccountIdentity,
    pub token: SecretText,
}

/// The Pages in a `me/accounts` answer that the person may post to (`tasks` has
/// `CREATE_CONTENT`; an answer without `tasks` is taken as allowed). Pages without a token
/// are left out: there is nothing to post with.
pub fn parse_pages(body: &[u8]) -> Result<Vec<ManagedPage>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("no data list")?;
    let pages = data
        .iter()
        .filter(|p| {
            p.get("tasks")
                .and_then(Value::as_array)
                .is_none_or(|tasks| tasks.iter().any(|t| t == "CREATE_CONTENT"))
        })
        .filter_map(|p| {
            let id = p.get("id").and_then(Value::as_str)?.to_owned();
            let token = p.get("access_token").and_then(Value::as_str)?;
            Some(ManagedPage {
                identity: AccountIdentity {
                    kind: PAGE_KIND.to_owned(),
                    external_id: id,
                    display_name: p.get("name").and_then(Value::as_str).map(str::to_owned),
                    username: None,
                },
                token: SecretText::new(token),
            })
        })
        .take(MAX_PAGES)
        .collect();
    Ok(pages)
}

/// The long-lived exchange for a short-lived token (a URL carrying secrets: never log it).
pub fn long_lived_url(
    graph: &GraphSpec,
    client_id: &str,
    client_secret: &str,
    short_lived: &str,
) -> String {
    match graph.dialect {
        GraphDialect::Facebook => with_params(
            &graph.long_lived_url,
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("fb_exchange_token", short_lived),
            ],
        ),
        GraphDialect::Instagram | GraphDialect::Threads => with_params(
            &graph.long_lived_url,
            &[
                ("grant_type", exchange_grant(graph.dialect)),
                ("client_secret", client_secret),
                ("access_token", short_lived),
            ],
        ),
    }
}

fn exchange_grant(dialect: GraphDialect) -> &'static str {
    match dialect {
        GraphDialect::Facebook => "fb_exchange_token",
        GraphDialect::Instagram => "ig_exchange_token",
        GraphDialect::Threads => "th_exchange_token",
    }
}

/// Instagram's (`ig_refresh_token`) or Threads' (`th_refresh_token`) refresh of a long-lived
/// token (carries the token: never log it).
pub fn refresh_url(graph: &GraphSpec, access_token: &str) -> Option<String> {
    let url = graph.refresh_url.as_deref()?;
    let grant_type = match graph.dialect {
        GraphDialect::Threads => "th_refresh_token",
        GraphDialect::Instagram | GraphDialect::Facebook => "ig_refresh_token",
    };
    Some(with_params(
        url,
        &[("grant_type", grant_type), ("access_token", access_token)],
    ))
}

/// `debug_token` for `input_token`, asked with the app token `{app-id}|{app-secret}`.
pub fn debug_token_url(
    graph: &GraphSpec,
    client_id: &str,
    client_secret: &str,
    input_token: &str,
) -> Option<String> {
    let url = graph.debug_token_url.as_deref()?;
    let app_token = format!("{client_id}|{client_secret}");
    Some(with_params(
        url,
        &[("input_token", input_token), ("access_token", &app_token)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::query::param;
    use crate::core::oauth::catalogue::Catalogue;

    fn graph(name: &str) -> GraphSpec {
        Catalogue::builtin()
            .get(name)
            .unwrap()
            .graph
            .clone()
            .unwrap()
    }

    #[test]
    fn subcodes_of_190_are_named_and_492_is_one_page() {
        let err = |code, subcode| GraphError {
            code,
            subcode,
            message: String::new(),
        };
        let ended = |r| TokenVerdict::Ended(r);
        assert_eq!(
            err(190, Some(460)).verdict(),
            ended(DeadReason::PasswordChanged)
        );
        assert_eq!(err(190, Some(458)).verdict(), ended(DeadReason::AppRemoved));
        assert_eq!(
            err(190, Some(463)).verdict(),
            ended(DeadReason::SessionExpired)
        );
        assert_eq!(err(190, Some(459)).verdict(), ended(DeadReason::Checkpoint));
        assert_eq!(err(190, Some(464)).verdict(), ended(DeadReason::Checkpoint));
        assert_eq!(err(190, Some(492)).verdict(), TokenVerdict::RoleLost);
        assert_eq!(
            err(190, None).verdict(),
            ended(DeadReason::RevokedOrExpired)
        );
        // Rate limits and outages are not the platform's word on the grant.
        assert_eq!(err(4, None).verdict(), TokenVerdict::Unknown);
        assert_eq!(err(2, None).verdict(), TokenVerdict::Unknown);
    }

    #[test]
    fn error_bodies_are_read_as_meta_documents_them() {
        let body = br#"{"error":{"message":"Error validating access token: The session has been invalidated because the user changed their password.","type":"OAuthException","code":190,"error_subcode":460,"fbtrace_id":"A1b2"}}"#;
        let e = GraphError::parse(body).unwrap();
        assert_eq!((e.code, e.subcode), (190, Some(460)));
        assert!(e.message.contains("changed their password"));
        assert_eq!(GraphError::parse(b"{\"data\":[]}"), None);
        assert_eq!(GraphError::parse(b"<html>"), None);
    }

    #[test]
    fn debug_token_reads_validity_data_access_and_the_nested_error() {
        let ok = br#"{"data":{"app_id":"1","type":"PAGE","application":"A","data_access_expires_at":1576687825,"expires_at":0,"is_valid":true,"profile_id":"42","scopes":["pages_manage_posts"],"user_id":"7"}}"#;
        let d = TokenDebug::parse(ok).unwrap();
        assert!(d.is_valid);
        assert_eq!(d.expires_at, None, "0 means the Page token does not expire");
        assert_eq!(d.data_access_expires_at, Some(1_576_687_825));
        assert_eq!(d.verdict(), None);
        let bad = br#"{"data":{"app_id":"1","type":"PAGE","is_valid":false,"error":{"code":190,"message":"Error validating access token: The user is not an admin of the page.","subcode":492},"scopes":[]}}"#;
        let d = TokenDebug::parse(bad).unwrap();
        assert_eq!(d.verdict(), Some(TokenVerdict::RoleLost));
        let silent = br#"{"data":{"is_valid":false}}"#;
        assert_eq!(
            TokenDebug::parse(silent).unwrap().verdict(),
            Some(TokenVerdict::Ended(DeadReason::RevokedOrExpired))
        );
        // The call failing is not a verdict on the token.
        let call_failed = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#;
        assert_eq!(TokenDebug::parse(call_failed), None);
    }

    #[test]
    fn pages_are_those_the_person_may_post_to_each_with_its_token() {
        let body = br#"{"data":[
            {"id":"101","name":"Bakery","access_token":"PAGE1","tasks":["ANALYZE","CREATE_CONTENT","MANAGE"]},
            {"id":"102","name":"Analyst only","access_token":"PAGE2","tasks":["ANALYZE"]},
            {"id":"103","name":"No token"}
        ],"paging":{"cursors":{"before":"a","after":"b"}}}"#;
        let pages = parse_pages(body).unwrap();
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].identity.external_id, "101");
        assert_eq!(pages[0].identity.kind, "page");
        assert_eq!(pages[0].identity.display_name.as_deref(), Some("Bakery"));
        assert_eq!(pages[0].token.expose(), "PAGE1");
        assert!(parse_pages(b"{}").is_err());
    }

    #[test]
    fn exchanges_refresh_and_debug_are_the_documented_gets_on_the_catalogue_version() {
        let fb = graph("facebook");
        let url = long_lived_url(&fb, "app", "sec", "short");
        assert!(url.starts_with("https://graph.facebook.com/v25.0/oauth/access_token?"));
        assert_eq!(
            param(&url, "grant_type").as_deref(),
            Some("fb_exchange_token")
        );
        assert_eq!(param(&url, "fb_exchange_token").as_deref(), Some("short"));
        assert_eq!(param(&url, "client_id").as_deref(), Some("app"));
        let debug = debug_token_url(&fb, "app", "sec", "PAGE1").unwrap();
        assert!(debug.starts_with("https://graph.facebook.com/v25.0/debug_token?"));
        assert_eq!(param(&debug, "access_token").as_deref(), Some("app|sec"));
        assert_eq!(param(&debug, "input_token").as_deref(), Some("PAGE1"));
        assert_eq!(refresh_url(&fb, "t"), None);

        let ig = graph("instagram");
        let url = long_lived_url(&ig, "app", "sec", "short");
        assert_eq!(
            param(&url, "grant_type").as_deref(),
            Some("ig_exchange_token")
        );
        assert_eq!(param(&url, "access_token").as_deref(), Some("short"));
        assert_eq!(param(&url, "client_id"), None);
        let refresh = refresh_url(&ig, "long").unwrap();
        assert!(refresh.starts_with("https://graph.instagram.com/refresh_access_token?"));
        assert_eq!(
            param(&refresh, "grant_type").as_deref(),
            Some("ig_refresh_token")
        );

        let th = graph("threads");
        let url = long_lived_url(&th, "app", "sec", "short");
        assert!(url.starts_with("https://graph.threads.net/access_token?"));
        assert_eq!(
            param(&url, "grant_type").as_deref(),
            Some("th_exchange_token")
        );
        assert_eq!(param(&url, "client_secret").as_deref(), Some("sec"));
        let refresh = refresh_url(&th, "long").unwrap();
        assert!(refresh.starts_with("https://graph.threads.net/refresh_access_token?"));
        assert_eq!(
            param(&refresh, "grant_type").as_deref(),
            Some("th_refresh_token")
        );
    }
}
