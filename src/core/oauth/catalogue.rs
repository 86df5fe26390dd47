//! The provider catalogue: what Evergreen must know to connect and keep each platform, as data.
//!
//! The built-in entries are `catalogue.json` (beside this file); an operator can declare more
//! standard OAuth 2.0 providers in the `CUSTOM_PROVIDERS` variable, in the same shape (`docs/providers.md`,
//! "Custom providers"). Quirks that do not fit the data (Meta's exchanges, TikTok's
//! `client_key`) stay as small per-provider code keyed by name.

use crate::core::http::query::with_params;
use crate::core::oauth::mastodon::{self, ServerName};
use crate::core::publish::media::MediaRules;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

const BUILTIN: &str = include_str!("catalogue.json");

/// How the client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1's preferred form).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's own key (RFC 7523; Bluesky's confidential clients).
    PrivateKeyJwt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Pkce {
    S256,
    #[serde(rename = "none")]
    None,
}

/// What refreshing does to the refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenKind {
    /// Single use: each refresh returns a new one and the old one dies (persist it first).
    Rotating,
    /// Stays valid; a refresh may return none (keep the stored one).
    Reusable,
    /// The platform gives no refresh token: the grant dies with its access token.
    None,
    /// No refresh token: the access token itself is exchanged for a new one before it expires
    /// (Instagram's `ig_refresh_token`). The grant dies with an access token left to expire.
    AccessToken,
}

/// How a grant is kept alive (see the design's "sweep and refresh policy").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshPolicy {
    /// Refresh ahead of expiry, `lead_secs` before the access token dies.
    Proactive,
    /// Refresh when a token is asked for with less than `threshold_secs` left; the sweep only
    /// keeps the grant itself alive (`keep_alive_days`).
    OnDemand,
    /// Nothing to refresh: validate, and count down to the known death.
    Validate,
}

impl RefreshPolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            RefreshPolicy::Proactive => "proactive",
            RefreshPolicy::OnDemand => "on_demand",
            RefreshPolicy::Validate => "validate",
        }
    }
}

/// Where the consenting account is read, and which JSON pointers name it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    pub url: String,
    /// `profile`, `channel`, `page` or `organization`.
    pub kind: String,
    /// JSON pointer (RFC 6901) to the account's stable id.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFacts {
    /// The documented access-token lifetime: the answer's `expires_in` wins when present.
    #[serde(default)]
    pub access_lifetime_secs: Option<u64>,
    pub refresh_token: RefreshTokenKind,
    /// A scope without which no refresh token is issued (X: `offline.access`).
    #[serde(default)]
    pub refresh_token_needs_scope: Option<String>,
    /// The documented refresh-token lifetime, when the answer does not say.
    #[serde(default)]
    pub refresh_lifetime_secs: Option<u64>,
    /// Refreshing never moves the refresh token's expiry (LinkedIn: 365 days from the
    /// consent): the grant's death date is fixed at the consent.
    #[serde(default)]
    pub refresh_expiry_fixed: bool,
    /// The grant dies after this long unused (Google: 6 months).
    #[serde(default)]
    pub idle_expiry_days: Option<u32>,
    /// The grant dies after this long when the app is in testing mode (Google: 7 days).
    #[serde(default)]
    pub testing_mode_expiry_days: Option<u32>,
    /// The platform lets the app use the person's data for this long after they last
    /// consented (Meta: 90 days); Page tokens outlive the user token, so this, not the access
    /// token, is when the grant dies. Validation replaces it with the platform's own date.
    #[serde(default)]
    pub data_access_lifetime_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSpec {
    pub policy: RefreshPolicy,
    /// On demand: refresh when less than this is left.
    #[serde(default)]
    pub threshold_secs: Option<u64>,
    /// Proactive: refresh this long before the access token expires.
    #[serde(default)]
    pub lead_secs: Option<u64>,
    /// On demand: the sweep refreshes a grant unused for this long, to keep it alive.
    #[serde(default)]
    pub keep_alive_days: Option<u32>,
    /// The scheduled check: every grant is proved alive with its platform this often,
    /// whatever its policy (the identity call while the access token is valid, else a
    /// refresh), and each grant's checks fall in its own slot of the interval so they spread
    /// over it. Daily unless the entry says otherwise; no shorter than the hourly sweep. Also
    /// how a lost Page role is noticed between refreshes. (`validate_every_secs` is its old
    /// name, still read.)
    #[serde(default = "default_check_every_secs", alias = "validate_every_secs")]
    pub check_every_secs: u64,
    /// Why the interval is what it is, for people reading the catalogue.
    #[serde(default)]
    pub check_why: Option<String>,
    /// A token younger than this cannot be refreshed (Instagram: 24 hours).
    #[serde(default)]
    pub min_age_secs: Option<u64>,
}

/// The scheduled check's interval when the catalogue says nothing: daily.
pub const DEFAULT_CHECK_EVERY_SECS: u64 = 86_400;
/// The shortest check interval: the sweep runs hourly, so nothing is checked more often.
pub const MIN_CHECK_EVERY_SECS: u64 = 3_600;

fn default_check_every_secs() -> u64 {
    DEFAULT_CHECK_EVERY_SECS
}

impl RefreshSpec {
    /// The scheduled check's interval, in milliseconds.
    pub fn check_interval_ms(&self) -> i64 {
        i64::try_from(self.check_every_secs.max(MIN_CHECK_EVERY_SECS))
            .unwrap_or(i64::MAX / 1000)
            .saturating_mul(1000)
    }

    /// The earliest a token issued at `issued_at` may be refreshed.
    pub fn refreshable_from(
        &self,
        issued_at: crate::core::common::clock::Timestamp,
    ) -> crate::core::common::clock::Timestamp {
        let min_age = self.min_age_secs.unwrap_or(0).min(i64::MAX as u64 / 1000) as i64;
        issued_at.plus_millis(min_age * 1000)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiVersion {
    pub version: String,
    /// When the platform retires this version (ISO date), where it says.
    #[serde(default)]
    pub sunset: Option<String>,
    /// The header the version is sent in on API calls (LinkedIn: `LinkedIn-Version`).
    #[serde(default)]
    pub version_header: Option<String>,
    /// Other headers every API call carries (LinkedIn: Rest.li 2.0.0).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl ApiVersion {
    /// The headers an API call (identity, managed accounts) carries.
    pub fn call_headers(&self) -> Vec<(String, String)> {
        let version = self
            .version_header
            .iter()
            .map(|name| (name.clone(), self.version.clone()));
        version
            .chain(self.headers.iter().map(|(k, v)| (k.clone(), v.clone())))
            .collect()
    }
}

/// The accounts a consent manages besides the consenting profile (LinkedIn: the company
/// pages the member administers), each a connection of its own under the grant.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedAccounts {
    /// The connections' kind: `organization`, `page` or `board`.
    pub kind: String,
    /// Whether the consenting profile is a connection too (LinkedIn's member is; a Pinterest
    /// profile is not: pins go to boards). Facebook's rule is its dialect's.
    #[serde(default = "yes")]
    pub profile_is_connection: bool,
    /// Lists the accounts the token may act for (an administrator role, approved).
    pub list_url: String,
    /// Looks up their names, when the list gives only ids.
    #[serde(default)]
    pub names_url: Option<String>,
}

/// Which of Meta's Graph dialects a provider speaks (`graph.rs` reads them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphDialect {
    /// Facebook Login for Pages: a long-lived user token (`fb_exchange_token`), the Pages it
    /// manages with a token each, validated with `debug_token`; the user is not a connection.
    Facebook,
    /// Instagram API with Instagram Login: a long-lived token (`ig_exchange_token`) refreshed
    /// with `ig_refresh_token`.
    Instagram,
    /// Threads API: the same shape as Instagram's, its own app and host (`th_exchange_token`,
    /// `th_refresh_token`).
    Threads,
}

impl GraphDialect {
    /// Whether the access token itself is renewed (no refresh token): Instagram and Threads.
    pub const fn renews_access_token(self) -> bool {
        matches!(self, GraphDialect::Instagram | GraphDialect::Threads)
    }
}

/// Meta's calls outside OAuth 2.0: the long-lived exchange after the code exchange, the
/// access-token refresh, and token introspection.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSpec {
    pub dialect: GraphDialect,
    /// Short-lived to long-lived token (a GET, as Meta documents it).
    pub long_lived_url: String,
    /// Instagram: a long-lived token renewed for another 60 days.
    #[serde(default)]
    pub refresh_url: Option<String>,
    /// Facebook: `debug_token`, with the app token.
    #[serde(default)]
    pub debug_token_url: Option<String>,
}

/// A platform where every server is its own provider (Mastodon): the entry is a template
/// whose URLs hold `{server}`, and each server is registered with as an app of its own.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerServer {
    /// Dynamic client registration (`POST /api/v1/apps`).
    pub register_url: String,
}

/// Bluesky's OAuth profile (AT Protocol): each account's authorization server and PDS are
/// discovered from its handle (`core::oauth::atproto`); the entry's own URLs are the main
/// entryway's, for people reading the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtprotoSpec {
    /// Where `did:plc` documents are read.
    pub plc_directory: String,
}

/// How a platform takes a text post (`publish_dialect.rs` builds the requests and reads the
/// answers). Only built-in platforms have one: the dialect is code, the URLs are data.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    pub dialect: PublishDialect,
    /// Where a post is created; `{account}` is the connection's account id.
    pub url: String,
    /// Where the account's recent posts are listed, to settle an ambiguous answer; `None`
    /// where the platform offers no such read to an ordinary app.
    #[serde(default)]
    pub lookup_url: Option<String>,
    /// The longest text the platform takes, in characters.
    pub max_chars: usize,
    /// The other endpoints of the platform's flow, by step (`status`, `publish`, `limit`,
    /// `media_upload`, …); `{account}`, `{container}`, `{video}` are filled in per call.
    #[serde(default)]
    pub endpoints: BTreeMap<String, String>,
    /// What media the platform takes through Evergreen (`core::publish::media`); `None`: text only.
    #[serde(default)]
    pub media: Option<MediaRules>,
}

impl PublishSpec {
    /// The endpoint of a step; the catalogue's check makes sure each dialect has its own.
    pub fn endpoint(&self, step: &str) -> &str {
        self.endpoints.get(step).map_or("", String::as_str)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishDialect {
    /// `POST /2/tweets`.
    X,
    /// `POST /rest/posts` (Posts API, versioned).
    Linkedin,
    /// `POST /{page-id}/feed` (or `/photos`) with the Page's own token.
    Facebook,
    /// A container from a media URL, polled until `FINISHED`, then `media_publish`.
    Instagram,
    /// Creator info, then a `PULL_FROM_URL` video post followed through its status.
    Tiktok,
    /// Instagram's flow on Threads: a container (text, or an image Threads fetches), its
    /// `status` followed, then `threads_publish`.
    Threads,
    /// A resumable upload streamed from the media URL, then processing followed.
    Youtube,
    /// `POST /api/v1/statuses {"status"}` with an `Idempotency-Key`.
    Mastodon,
    /// `com.atproto.repo.putRecord` of an `app.bsky.feed.post` at a record key of its own, on
    /// the account's PDS, with DPoP.
    Bluesky,
    /// `POST /v5/pins` on the connection's board, from an image URL Pinterest fetches.
    Pinterest,
    /// `POST /api/submit`, form-encoded: a self post to the account's own profile
    /// (`u_{username}`), its title the text's first line.
    Reddit,
}

impl PublishDialect {
    /// The endpoints each dialect's flow needs besides `url`.
    pub const fn endpoints(self) -> &'static [&'static str] {
        match self {
            PublishDialect::X => &["media_upload"],
            PublishDialect::Linkedin => &["image_upload"],
            PublishDialect::Facebook => &["photos"],
            PublishDialect::Instagram | PublishDialect::Threads => {
                &["container", "publish", "limit"]
            }
            PublishDialect::Tiktok => &["creator_info", "status"],
            PublishDialect::Youtube => &["status"],
            PublishDialect::Reddit
            | PublishDialect::Pinterest
            | PublishDialect::Mastodon
            | PublishDialect::Bluesky => &[],
        }
    }
}

/// One provider.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub name: String,
    pub display_name: String,
    /// Where the facts come from.
    #[serde(default)]
    pub docs: Vec<String>,
    pub authorize_url: String,
    pub token_url: String,
    #[serde(default)]
    pub revoke_url: Option<String>,
    pub identity: IdentitySpec,
    /// The accounts the consent manages besides the profile, where the platform has them.
    /// How the answers are read is per platform (`managed_accounts.rs`).
    #[serde(default)]
    pub managed_accounts: Option<ManagedAccounts>,
    pub scopes: Vec<String>,
    #[serde(default = "space")]
    pub scope_separator: String,
    pub client_auth: ClientAuth,
    /// The authorize parameter that carries the client id (TikTok: `client_key`).
    #[serde(default = "client_id")]
    pub client_id_param: String,
    pub pkce: Pkce,
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
    pub tokens: TokenFacts,
    pub refresh: RefreshSpec,
    /// Extra form parameters every refresh request carries (Pinterest's `refresh_on`).
    #[serde(default)]
    pub refresh_params: BTreeMap<String, String>,
    /// Token-endpoint refusals of a refresh that mean the grant is dead (once a race with a
    /// rotation has been ruled out).
    #[serde(default)]
    pub dead_grant_errors: Vec<ErrorSignature>,
    /// Refusals a reused (already rotated) refresh token gets, where the platform says so.
    #[serde(default)]
    pub reused_refresh_token_errors: Vec<ErrorSignature>,
    #[serde(default)]
    pub api: Option<ApiVersion>,
    /// Meta's dialect and its extra endpoints, for Facebook Pages and Instagram.
    #[serde(default)]
    pub graph: Option<GraphSpec>,
    /// How a text post is published, where Evergreen can publish to the platform.
    #[serde(default)]
    pub publish: Option<PublishSpec>,
    /// Every server its own provider (Mastodon): this entry is the template.
    #[serde(default)]
    pub per_server: Option<PerServer>,
    /// Bluesky's OAuth profile: discovery, PAR, DPoP and `private_key_jwt`.
    #[serde(default)]
    pub atproto: Option<AtprotoSpec>,
    /// The server of an instance (`mastodon:<server>`), set by [`Catalogue::resolve`].
    #[serde(skip)]
    pub server: Option<ServerName>,
}

/// An OAuth error answer, as the catalogue names it: `"invalid_grant"` (the `error` code) or
/// `"invalid_request: Value passed for the token was invalid"` (the code, and the start of
/// `error_description`), for platforms that use one code for several causes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ErrorSignature {
    pub error: String,
    pub description_starts_with: Option<String>,
}

impl TryFrom<String> for ErrorSignature {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (error, description) = match text.split_once(':') {
            Some((e, d)) => (e.trim(), Some(d.trim())),
            None => (text.trim(), None),
        };
        let code_ok = !error.is_empty()
            && error
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !code_ok || description.is_some_and(str::is_empty) {
            return Err(format!(
                "{text:?} is not an error signature (\"code\" or \"code: description start\")"
            ));
        }
        Ok(Self {
            error: error.to_owned(),
            description_starts_with: description.map(str::to_owned),
        })
    }
}

impl ErrorSignature {
    pub fn matches(&self, error: &str, description: Option<&str>) -> bool {
        self.error == error
            && match &self.description_starts_with {
                None => true,
                Some(start) => description.is_some_and(|d| d.starts_with(start.as_str())),
            }
    }
}

impl ProviderSpec {
    /// Meta's dialect, if the provider speaks one.
    pub fn dialect(&self) -> Option<GraphDialect> {
        self.graph.as_ref().map(|g| g.dialect)
    }

    /// Whether the consenting account is itself a connection: not on Facebook, where only the
    /// Pages it manages can be posted to.
    pub fn profile_is_connection(&self) -> bool {
        self.dialect() != Some(GraphDialect::Facebook)
            && self
                .managed_accounts
                .as_ref()
                .is_none_or(|m| m.profile_is_connection)
    }

    /// `{version}` in every URL becomes the catalogue's API version (Meta's `vNN.0`), so one
    /// field moves the whole provider to a new Graph version.
    fn resolve_version(&mut self) {
        if let Some(version) = self.api.as_ref().map(|a| a.version.clone()) {
            self.fill("{version}", &version);
        }
    }

    /// The provider of one server of a per-server template: `{server}` filled in everywhere,
    /// named `mastodon:<server>`.
    pub fn instance(&self, server: &ServerName) -> ProviderSpec {
        let mut spec = self.clone();
        spec.name = mastodon::instance_name(server);
        spec.display_name = format!("{} ({})", self.display_name, server.as_str());
        spec.fill("{server}", server.as_str());
        spec.server = Some(server.clone());
        spec
    }

    /// `placeholder` replaced by `value` in every URL of the entry.
    fn fill(&mut self, placeholder: &str, value: &str) {
        let mut urls: Vec<&mut String> = vec![
            &mut self.authorize_url,
            &mut self.token_url,
            &mut self.identity.url,
        ];
        urls.extend(self.revoke_url.as_mut());
        if let Some(m) = self.managed_accounts.as_mut() {
            urls.push(&mut m.list_url);
            urls.extend(m.names_url.as_mut());
        }
        if let Some(g) = self.graph.as_mut() {
            urls.push(&mut g.long_lived_url);
            urls.extend(g.refresh_url.as_mut());
            urls.extend(g.debug_token_url.as_mut());
        }
        if let Some(p) = self.publish.as_mut() {
            urls.push(&mut p.url);
            urls.extend(p.lookup_url.as_mut());
            urls.extend(p.endpoints.values_mut());
        }
        if let Some(p) = self.per_server.as_mut() {
            urls.push(&mut p.register_url);
        }
        for url in urls {
            *url = url.replace(placeholder, value);
        }
    }

    /// Whether a refused refresh (`error`, `error_description`) means the grant is dead.
    pub fn is_dead_grant_error(&self, error: &str, description: Option<&str>) -> bool {
        self.dead_grant_errors
            .iter()
            .any(|s| s.matches(error, description))
    }
}

fn yes() -> bool {
    true
}

fn space() -> String {
    " ".to_owned()
}

fn client_id() -> String {
    "client_id".to_owned()
}

/// A catalogue entry that cannot be used, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueError(pub String);

impl fmt::Display for CatalogueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The sweep runs hourly; a proactive lead time must outlast one missed run and some slack.
pub const MIN_LEAD_SECS: u64 = 2 * 3600;

impl ProviderSpec {
    /// The deployment's client id variable: `X_CLIENT_ID`, `YOUTUBE_CLIENT_ID`, …
    pub fn client_id_var(&self) -> String {
        format!("{}_CLIENT_ID", self.env_prefix())
    }

    pub fn client_secret_var(&self) -> String {
        format!("{}_CLIENT_SECRET", self.env_prefix())
    }

    fn env_prefix(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }

    /// The scopes as the authorize request sends them.
    pub fn scope_param(&self) -> String {
        self.scopes.join(&self.scope_separator)
    }

    /// The URL the browser is sent to for consent. `code_challenge` is `None` only for a
    /// provider without PKCE.
    pub fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        code_challenge: Option<&str>,
    ) -> String {
        let scope = self.scope_param();
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            (&self.client_id_param, client_id),
            ("redirect_uri", redirect_uri),
            ("scope", &scope),
            ("state", state),
        ];
        if let (Pkce::S256, Some(challenge)) = (self.pkce, code_challenge) {
            params.push(("code_challenge", challenge));
            params.push(("code_challenge_method", "S256"));
        }
        for (k, v) in &self.authorize_params {
            params.push((k, v));
        }
        with_params(&self.authorize_url, &params)
    }

    /// The requested scopes the answer's `scope` lacks. A missing `scope` means "as requested"
    /// (RFC 6749 §5.1). Google adds scopes it grants anyway (`openid`); extra ones are fine.
    pub fn declined_scopes(&self, granted: Option<&str>) -> Vec<String> {
        let Some(granted) = granted else {
            return Vec::new();
        };
        let granted: Vec<&str> = granted
            .split([' ', ',', '+'])
            .filter(|s| !s.is_empty())
            .collect();
        self.scopes
            .iter()
            .filter(|s| !granted.contains(&s.as_str()))
            .cloned()
            .collect()
    }

    fn validate(&self) -> Result<(), CatalogueError> {
        let bad = |why: String| Err(CatalogueError(format!("provider {:?}: {why}", self.name)));
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return bad("the name must be 1 to 32 of a-z, 0-9, - and _".into());
        }
        let mut urls = vec![
            ("authorize_url", self.authorize_url.as_str()),
            ("token_url", &self.token_url),
            ("identity.url", &self.identity.url),
        ];
        if let Some(revoke) = &self.revoke_url {
            urls.push(("revoke_url", revoke));
        }
        if let Some(managed) = &self.managed_accounts {
            if !crate::core::oauth::managed_accounts::readable(
                &self.name,
                self.dialect(),
                &managed.kind,
            ) {
                return bad("managed_accounts are read for built-in platforms only".into());
            }
            urls.push(("managed_accounts.list_url", &managed.list_url));
            if let Some(names) = &managed.names_url {
                urls.push(("managed_accounts.names_url", names));
            }
        }
        if let Some(atproto) = &self.atproto {
            if self.name != "bluesky" {
                return bad("atproto is built in for bluesky only".into());
            }
            urls.push(("atproto.plc_directory", &atproto.plc_directory));
        }
        if (self.client_auth == ClientAuth::PrivateKeyJwt) != self.atproto.is_some() {
            return bad("private_key_jwt is Bluesky's client authentication only".into());
        }
        if let Some(per_server) = &self.per_server {
            if self.name != mastodon::TEMPLATE {
                return bad("per_server is built in for mastodon only".into());
            }
            urls.push(("per_server.register_url", &per_server.register_url));
        }
        if let Some(graph) = &self.graph {
            urls.push(("graph.long_lived_url", &graph.long_lived_url));
            if let Some(url) = &graph.refresh_url {
                urls.push(("graph.refresh_url", url));
            }
            if let Some(url) = &graph.debug_token_url {
                urls.push(("graph.debug_token_url", url));
            }
            let needs = match graph.dialect {
                GraphDialect::Facebook => graph.debug_token_url.is_some(),
                GraphDialect::Instagram | GraphDialect::Threads => graph.refresh_url.is_some(),
            };
            if !needs {
                return bad(
                    "graph: facebook needs debug_token_url, instagram and threads refresh_url"
                        .into(),
                );
            }
        }
        let publish_urls: Vec<(&str, String)> = self
            .publish
            .iter()
            .flat_map(|p| {
                std::iter::once(("publish.url", &p.url))
                    .chain(p.lookup_url.iter().map(|u| ("publish.lookup_url", u)))
                    .chain(p.endpoints.values().map(|u| ("publish.endpoints", u)))
            })
            .map(|(field, url)| {
                let mut url = url.clone();
                for placeholder in ["{account}", "{username}", "{container}", "{video}"] {
                    url = url.replace(placeholder, "id");
                }
                (field, url)
            })
            .collect();
        if let Some(p) = &self.publish {
            let built_in = [
                ("x", PublishDialect::X),
                ("linkedin", PublishDialect::Linkedin),
                ("facebook", PublishDialect::Facebook),
                ("instagram", PublishDialect::Instagram),
                ("tiktok", PublishDialect::Tiktok),
                ("youtube", PublishDialect::Youtube),
                ("reddit", PublishDialect::Reddit),
                ("threads", PublishDialect::Threads),
                ("pinterest", PublishDialect::Pinterest),
                (mastodon::TEMPLATE, PublishDialect::Mastodon),
                ("bluesky", PublishDialect::Bluesky),
            ];
            if !built_in.contains(&(self.name.as_str(), p.dialect)) {
                return bad(
                    "publish is built in for x, linkedin, facebook, instagram, tiktok, \
                     youtube, reddit, threads, pinterest, mastodon and bluesky only, each in \
                     its own dialect"
                        .into(),
                );
            }
            if let Some(step) = p
                .dialect
                .endpoints()
                .iter()
                .find(|step| !p.endpoints.contains_key(**step))
            {
                return bad(format!("publish.endpoints needs {step:?}"));
            }
        }
        urls.extend(publish_urls.iter().map(|(f, u)| (*f, u.as_str())));
        if (self.tokens.refresh_token == RefreshTokenKind::AccessToken)
            != self
                .dialect()
                .is_some_and(GraphDialect::renews_access_token)
        {
            return bad(
                "refresh_token \"access_token\" is Instagram's and Threads' dialect only".into(),
            );
        }
        for (field, url) in urls {
            // A template's URLs are checked as a server's would be.
            let url = match self.per_server {
                Some(_) => Cow::Owned(url.replace("{server}", "server.example.org")),
                None => Cow::Borrowed(url),
            };
            if url.contains('{') {
                return bad(format!(
                    "{field} has a placeholder other than {{version}}: {url:?}"
                ));
            }
            let host_ok = url
                .strip_prefix("https://")
                .and_then(|rest| rest.split(['/', '?', '#']).next())
                .is_some_and(|host| !host.is_empty() && !host.contains('@'));
            if !host_ok {
                return bad(format!("{field} must be an https:// URL, not {url:?}"));
            }
        }
        if self.scopes.is_empty() || self.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
            return bad("scopes must be a non-empty list of non-empty scopes".into());
        }
        if ![" ", ","].contains(&self.scope_separator.as_str()) {
            return bad("scope_separator must be \" \" or \",\"".into());
        }
        if !self.identity.id.starts_with('/') {
            return bad("identity.id must be a JSON pointer such as /sub".into());
        }
        if !["profile", "channel", "page", "organization"].contains(&self.identity.kind.as_str()) {
            return bad("identity.kind must be profile, channel, page or organization".into());
        }
        if self.refresh.check_every_secs < MIN_CHECK_EVERY_SECS {
            return bad(format!(
                "check_every_secs {} is shorter than the hourly sweep: use at least \
                 {MIN_CHECK_EVERY_SECS}",
                self.refresh.check_every_secs
            ));
        }
        match self.refresh.policy {
            RefreshPolicy::Proactive
                if self
                    .tokens
                    .access_lifetime_secs
                    .is_some_and(|lifetime| lifetime <= self.refresh.lead_secs.unwrap_or(0)) =>
            {
                bad(format!(
                    "access tokens that live {} s cannot be refreshed proactively {} s ahead: \
                     every sweep visit would refresh. Declare \"policy\": \"on_demand\" with \
                     threshold_secs instead; the scheduled check (check_every_secs) keeps the \
                     grant verified between token reads",
                    self.tokens.access_lifetime_secs.unwrap_or(0),
                    self.refresh.lead_secs.unwrap_or(0)
                ))
            }
            RefreshPolicy::Proactive if self.refresh.lead_secs.unwrap_or(0) < MIN_LEAD_SECS => {
                bad(format!(
                    "a proactive lead_secs shorter than {MIN_LEAD_SECS} lets tokens die between sweeps"
                ))
            }
            RefreshPolicy::OnDemand if self.refresh.threshold_secs.is_none() => {
                bad("an on_demand policy needs threshold_secs".into())
            }
            RefreshPolicy::OnDemand
                if self
                    .tokens
                    .access_lifetime_secs
                    .zip(self.refresh.threshold_secs)
                    .is_some_and(|(lifetime, threshold)| threshold >= lifetime) =>
            {
                bad("threshold_secs must be shorter than access_lifetime_secs, or every read \
                     refreshes"
                    .into())
            }
            _ => Ok(()),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    providers: Vec<ProviderSpec>,
}

/// Every provider this deployment can connect.
#[derive(Clone, Debug)]
pub struct Catalogue {
    providers: Vec<ProviderSpec>,
}

impl Catalogue {
    /// The built-in catalogue (tested to parse and validate, so this cannot fail at run time).
    pub fn builtin() -> Self {
        let parsed = Self::parse(BUILTIN);
        debug_assert!(parsed.is_ok(), "catalogue.json: {parsed:?}");
        parsed.unwrap_or(Catalogue {
            providers: Vec::new(),
        })
    }

    fn parse(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = serde_json::from_str(text)
            .map_err(|e| CatalogueError(format!("not a catalogue: {e}")))?;
        let mut catalogue = Catalogue {
            providers: Vec::new(),
        };
        for spec in file.providers {
            catalogue.add(spec)?;
        }
        Ok(catalogue)
    }

    fn add(&mut self, mut spec: ProviderSpec) -> Result<(), CatalogueError> {
        spec.resolve_version();
        spec.validate()?;
        if self.get(&spec.name).is_some() {
            return Err(CatalogueError(format!(
                "provider {:?} is declared twice (or shadows a built-in one)",
                spec.name
            )));
        }
        self.providers.push(spec);
        Ok(())
    }

    /// The built-in catalogue plus the operator's declared providers (`CUSTOM_PROVIDERS`: a
    /// JSON list of entries in the built-in shape). Empty text declares nothing.
    pub fn with_declared(mut self, declared: &str) -> Result<Self, CatalogueError> {
        if declared.trim().is_empty() {
            return Ok(self);
        }
        let specs: Vec<ProviderSpec> = serde_json::from_str(declared).map_err(|e| {
            CatalogueError(format!("CUSTOM_PROVIDERS is not a list of providers: {e}"))
        })?;
        for spec in specs {
            self.add(spec)?;
        }
        Ok(self)
    }

    pub fn get(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The provider a stored name stands for: a catalogue entry, or one server of a per-server
    /// template (`mastodon:<server>`).
    pub fn resolve(&self, name: &str) -> Option<Cow<'_, ProviderSpec>> {
        if let Some(spec) = self.get(name) {
            return Some(Cow::Borrowed(spec));
        }
        let server = mastodon::server_of(name)?;
        let template = self
            .get(mastodon::TEMPLATE)
            .filter(|t| t.per_server.is_some())?;
        Some(Cow::Owned(template.instance(&server)))
    }

    pub fn names(&self) -> Vec<&str> {
        self.providers.iter().map(|p| p.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::query::param;

    fn x() -> ProviderSpec {
        Catalogue::builtin().get("x").unwrap().clone()
    }

    #[test]
    fn the_builtin_catalogue_parses_and_validates() {
        let parsed = Catalogue::parse(BUILTIN).unwrap();
        assert_eq!(
            parsed.names(),
            vec![
                "x",
                "youtube",
                "linkedin",
                "tiktok",
                "facebook",
                "instagram",
                "reddit",
                "threads",
                "pinterest",
                "mastodon",
                "bluesky"
            ]
        );
        for spec in &parsed.providers {
            assert!(!spec.docs.is_empty(), "{} cites its sources", spec.name);
        }
    }

    #[test]
    fn x_asks_for_a_code_with_s256_and_offline_access() {
        let url = x().authorize_url(
            "client 1",
            "https://e.example/oauth/callback",
            "st",
            Some("ch"),
        );
        assert!(url.starts_with("https://x.com/i/oauth2/authorize?"));
        let get = |name| param(&url, name);
        assert_eq!(get("response_type").as_deref(), Some("code"));
        assert_eq!(get("client_id").as_deref(), Some("client 1"));
        assert_eq!(
            get("redirect_uri").as_deref(),
            Some("https://e.example/oauth/callback")
        );
        assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
        assert_eq!(get("code_challenge").as_deref(), Some("ch"));
        assert_eq!(get("state").as_deref(), Some("st"));
        assert!(get("scope")
            .unwrap()
            .split(' ')
            .any(|s| s == "offline.access"));
        assert_eq!(x().client_auth, ClientAuth::ClientSecretBasic);
        assert_eq!(x().client_id_var(), "X_CLIENT_ID");
    }

    #[test]
    fn youtube_forces_offline_consent_and_records_google_lifetimes() {
        let yt = Catalogue::builtin().get("youtube").unwrap().clone();
        let url = yt.authorize_url("c", "https://e/cb", "s", Some("ch"));
        assert_eq!(param(&url, "access_type").as_deref(), Some("offline"));
        assert_eq!(param(&url, "prompt").as_deref(), Some("consent"));
        assert_eq!(yt.tokens.refresh_token, RefreshTokenKind::Reusable);
        assert_eq!(yt.tokens.idle_expiry_days, Some(180));
        assert_eq!(yt.tokens.testing_mode_expiry_days, Some(7));
        assert!(yt.is_dead_grant_error("invalid_grant", None));
        assert_eq!(yt.client_secret_var(), "YOUTUBE_CLIENT_SECRET");
    }

    #[test]
    fn declined_scopes_are_named_and_a_missing_scope_means_as_requested() {
        let spec = x();
        assert!(spec.declined_scopes(None).is_empty());
        assert!(spec
            .declined_scopes(Some(
                "users.read tweet.read offline.access tweet.write extra"
            ))
            .is_empty());
        assert_eq!(
            spec.declined_scopes(Some("tweet.read users.read")),
            vec!["tweet.write", "offline.access"]
        );
    }

    fn custom(overrides: &str) -> String {
        let mut entry: serde_json::Value = serde_json::json!({
            "name": "acme",
            "display_name": "Acme Social",
            "authorize_url": "https://auth.acme.example/authorize",
            "token_url": "https://auth.acme.example/token",
            "identity": { "url": "https://api.acme.example/userinfo", "kind": "profile", "id": "/sub", "name": "/name" },
            "scopes": ["openid", "post"],
            "client_auth": "client_secret_post",
            "pkce": "S256",
            "tokens": { "refresh_token": "reusable" },
            "refresh": { "policy": "on_demand", "threshold_secs": 600 }
        });
        let patch: serde_json::Value = serde_json::from_str(overrides).unwrap();
        for (k, v) in patch.as_object().unwrap() {
            entry[k] = v.clone();
        }
        format!("[{entry}]")
    }

    #[test]
    fn operators_declare_standard_providers() {
        let catalogue = Catalogue::builtin().with_declared(&custom("{}")).unwrap();
        let acme = catalogue.get("acme").unwrap();
        assert_eq!(acme.client_auth, ClientAuth::ClientSecretPost);
        assert_eq!(acme.client_id_param, "client_id");
        assert_eq!(acme.client_id_var(), "ACME_CLIENT_ID");
        assert!(Catalogue::builtin().with_declared("  ").is_ok());
    }

    #[test]
    fn a_declared_provider_is_checked_daily_unless_it_says_otherwise() {
        let daily = Catalogue::builtin().with_declared(&custom("{}")).unwrap();
        assert_eq!(daily.get("acme").unwrap().refresh.check_every_secs, 86_400);
        for name in ["check_every_secs", "validate_every_secs"] {
            let patch = format!(
                r#"{{"refresh":{{"policy":"on_demand","threshold_secs":600,"{name}":21600}}}}"#
            );
            let declared = Catalogue::builtin().with_declared(&custom(&patch)).unwrap();
            let acme = &declared.get("acme").unwrap().refresh;
            assert_eq!(acme.check_every_secs, 21_600, "{name}");
            assert_eq!(acme.check_interval_ms(), 21_600_000);
        }
    }

    #[test]
    fn every_built_in_provider_says_why_its_check_interval_is_what_it_is() {
        for spec in &Catalogue::builtin().providers {
            assert!(
                spec.refresh
                    .check_why
                    .as_deref()
                    .is_some_and(|w| w.len() > 40),
                "{} has no check_why",
                spec.name
            );
            assert!(spec.refresh.check_every_secs >= MIN_CHECK_EVERY_SECS);
        }
    }

    #[test]
    fn unusable_declarations_are_refused_with_a_reason() {
        for (patch, why) in [
            (r#"{"name":"x"}"#, "declared twice"),
            (r#"{"name":"Acme!"}"#, "the name"),
            (
                r#"{"token_url":"http://auth.acme.example/token"}"#,
                "https://",
            ),
            (r#"{"scopes":[]}"#, "scopes"),
            (
                r#"{"identity":{"url":"https://a.example/u","kind":"profile","id":"sub"}}"#,
                "JSON pointer",
            ),
            (
                r#"{"refresh":{"policy":"proactive","lead_secs":600}}"#,
                "lead_secs",
            ),
            (r#"{"refresh":{"policy":"on_demand"}}"#, "threshold_secs"),
            (
                r#"{"tokens":{"refresh_token":"reusable","access_lifetime_secs":5400},
                    "refresh":{"policy":"proactive","lead_secs":7200}}"#,
                "every sweep visit would refresh",
            ),
            (
                r#"{"refresh":{"policy":"on_demand","threshold_secs":600,"check_every_secs":600}}"#,
                "shorter than the hourly sweep",
            ),
            (
                r#"{"tokens":{"refresh_token":"reusable","access_lifetime_secs":600}}"#,
                "every read refreshes",
            ),
            (r#"{"colour":"green"}"#, "unknown field"),
            (
                r#"{"dead_grant_errors":["invalid grant"]}"#,
                "not an error signature",
            ),
        ] {
            let err = Catalogue::builtin()
                .with_declared(&custom(patch))
                .unwrap_err();
            assert!(err.0.contains(why), "{patch}: {err}");
        }
    }

    #[test]
    fn error_signatures_match_a_code_or_a_code_and_its_description() {
        let any: ErrorSignature = "invalid_grant".to_owned().try_into().unwrap();
        assert!(any.matches("invalid_grant", None));
        assert!(any.matches("invalid_grant", Some("whatever")));
        assert!(!any.matches("invalid_request", None));
        let precise: ErrorSignature = "invalid_request: Value passed for the token"
            .to_owned()
            .try_into()
            .unwrap();
        assert!(precise.matches(
            "invalid_request",
            Some("Value passed for the token was invalid.")
        ));
        assert!(!precise.matches("invalid_request", Some("Missing required parameter")));
        assert!(!precise.matches("invalid_request", None));
        for bad in ["", ": x", "invalid_grant:", "two words"] {
            assert!(ErrorSignature::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
