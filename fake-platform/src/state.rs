//! What the fake platform remembers: registered clients, accounts with their call counters,
//! authorization codes, grants and their tokens, holds, and the requests it refused.
//!
//! One mutex guards it all (the fake serves tests, not load), and one condition variable tells
//! waiters that a hold changed.

use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Calls an account has made, per endpoint. Tests read these to prove how often Evergreen
/// called the platform (e.g. exactly one refresh for N concurrent callers).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Consents given on the authorize page.
    pub authorize: u64,
    /// Authorization codes exchanged for tokens.
    pub token_authorization_code: u64,
    /// Refresh-token grants served (successful ones; refused ones are in `rejections`).
    pub token_refresh: u64,
    /// Identity calls (`/2/users/me`).
    pub identity: u64,
    /// Successful revocations through the platform's revoke endpoint.
    pub revoke: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Account {
    /// The platform's id for the account (X: a numeric string).
    pub id: String,
    pub username: String,
    pub name: String,
    pub counters: Counters,
    /// How far this account's clock runs ahead of the machine's: what a test moves to make
    /// this account's tokens expire, or its refresh token sit idle, without touching others.
    #[serde(skip)]
    pub clock_offset: Duration,
    /// LinkedIn: the company pages this member has (or had) a role on.
    #[serde(skip)]
    pub organizations: Vec<Organization>,
    /// Facebook: the Pages this person has (or had) a role on.
    #[serde(skip)]
    pub pages: Vec<FacebookPage>,
}

/// A Facebook Page and whether the person still has a role on it that may create content.
#[derive(Clone, Debug)]
pub struct FacebookPage {
    pub id: String,
    pub name: String,
    pub role: bool,
}

/// A LinkedIn organization (company page) and whether the member administers it.
#[derive(Clone, Debug)]
pub struct Organization {
    pub id: u64,
    pub name: String,
    pub admin: bool,
}

/// A request the fake refused because it broke the platform's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub endpoint: String,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct AuthCode {
    pub client_id: String,
    pub account_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub expires_at: SystemTime,
    pub offline: bool,
}

/// One consent: what a refresh token or access token belongs to.
#[derive(Clone, Debug)]
pub struct Grant {
    pub account_id: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Whether the consent asked for offline access (a refresh token).
    pub offline: bool,
    pub revoked: bool,
    /// When the consent was given, on the account's clock.
    pub issued_at: SystemTime,
    /// When a refresh token of this grant was last used (or issued), on the account's clock.
    pub last_used_at: SystemTime,
    /// When the grant's refresh token dies, on the account's clock, where the platform fixes
    /// it (LinkedIn's 365 days, TikTok's `refresh_expires_in`).
    pub refresh_expires_at: Option<SystemTime>,
}

/// What became of a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenStatus {
    /// It can be used (once, on platforms that rotate).
    Active,
    /// It was used and replaced by a new one; using it again is refused.
    Rotated,
    /// Its grant was revoked.
    Revoked,
}

#[derive(Clone, Debug)]
pub struct AccessToken {
    pub grant: usize,
    pub expires_at: SystemTime,
}

/// Where a handler can be made to stop and wait for the test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldPoint {
    /// X's or Google's token endpoint has done its work (at X a refresh token is already
    /// rotated) and holds its answer: what a caller sees when its runtime dies mid-call.
    TokenResponse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    /// Waiting for a request to reach its point.
    Armed,
    /// A request is stopped at the point until the hold is released (removed).
    Holding,
}

#[derive(Debug)]
pub struct HoldSlot {
    pub id: u64,
    pub point: HoldPoint,
    pub state: HoldState,
}

/// A Threads container: the post it becomes once published.
#[derive(Clone, Debug)]
pub struct ThreadsContainer {
    pub user: String,
    pub text: String,
    /// The image's URL; empty for a text post.
    pub image: String,
    /// Status reads it stays `IN_PROGRESS` (the fake's `set_container_polls`).
    pub polls_left: u32,
    pub published: bool,
}

/// A Reddit self post's title and body, by its fullname (`t3_…`).
#[derive(Clone, Debug)]
pub struct RedditPost {
    pub name: String,
    pub title: String,
    pub selftext: String,
}

#[derive(Debug, Default)]
pub struct Inner {
    /// client_id → client_secret.
    pub clients: HashMap<String, String>,
    /// By account id.
    pub accounts: HashMap<String, Account>,
    pub codes: HashMap<String, AuthCode>,
    pub grants: Vec<Grant>,
    pub refresh_tokens: HashMap<String, (usize, RefreshTokenStatus)>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub holds: Vec<HoldSlot>,
    pub next_hold_id: u64,
    pub rejections: Vec<Rejection>,
    /// Faults armed for the next token answers, oldest first.
    pub token_faults: std::collections::VecDeque<crate::faults::Fault>,
    /// A fault every token answer gets while it is set (an outage), after the armed ones.
    pub token_outage: Option<crate::faults::Fault>,
    /// Calls to any token endpoint, from any client, for any account.
    pub token_endpoint_calls: u64,
    /// Clients whose app is in "testing" publishing status (Google: refresh tokens die after
    /// a week).
    pub testing_mode_clients: std::collections::HashSet<String>,
    /// LinkedIn clients approved for programmatic refresh tokens (partners).
    pub linkedin_partner_clients: std::collections::HashSet<String>,
    /// TikTok's lifetimes (access, refresh) in seconds, when a test picks the older docs'
    /// figures instead of the fixture's.
    pub tiktok_lifetimes: Option<(u64, u64)>,
    /// The next LinkedIn organization id.
    pub next_organization_id: u64,
    /// Facebook Page tokens: token → (grant, page id). They do not expire.
    pub page_tokens: HashMap<String, (usize, String)>,
    /// Meta's reason (OAuthException 190's subcode) a grant ended: 458 app removed, 460
    /// password changed. Set with the grant's `revoked`.
    pub meta_ended: HashMap<usize, i64>,
    /// Every post made, oldest first.
    pub posts: Vec<crate::publish::PublishedPost>,
    /// Bluesky's servers' state: nonces, proofs seen, pushed requests, records.
    pub bluesky: crate::bluesky::State,
    /// The hosts that are Mastodon servers.
    pub mastodon_servers: std::collections::HashSet<String>,
    /// Apps registered on Mastodon servers, by client id.
    pub mastodon_apps: HashMap<String, crate::mastodon::App>,
    /// Every `Idempotency-Key` a Mastodon status request carried, oldest first.
    pub mastodon_keys: Vec<String>,
    /// The status each (account, idempotency key) made.
    pub mastodon_idempotent: HashMap<(String, String), String>,
    /// Each account's Pinterest boards (id, name), by account id.
    pub pinterest_boards: HashMap<String, Vec<(String, String)>>,
    /// Threads' media containers, by id.
    pub threads_containers: HashMap<String, ThreadsContainer>,
    /// Posts each Threads profile published through the API (its publishing limit's usage).
    pub threads_usage: HashMap<String, u64>,
    /// Reddit's posts as it keeps them: a title and a body (`posts` has them joined).
    pub reddit_posts: Vec<RedditPost>,
    pub next_post_id: u64,
    /// Faults armed for the next publish requests, oldest first.
    pub publish_faults: std::collections::VecDeque<crate::publish::PublishFault>,
    /// Media uploads, containers, TikTok posts and YouTube sessions.
    pub media: crate::media::MediaState,
    /// How long every platform answer waits before it goes out (a real platform answers in
    /// 100–500 ms; the fake, at once, unless told otherwise).
    pub answer_delay: std::time::Duration,
}

#[derive(Debug, Default)]
pub struct Shared {
    inner: Mutex<Inner>,
    hold_changed: Condvar,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A handler that panicked while holding the lock leaves consistent-enough state for a
        // test double; keep serving rather than poisoning every later request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a handler at `point`: if a hold is armed there, take it, tell the test, and
    /// wait until the test releases it.
    pub fn pause_at(&self, point: HoldPoint) {
        let mut inner = self.lock();
        let Some(id) = inner
            .holds
            .iter_mut()
            .find(|h| h.point == point && h.state == HoldState::Armed)
            .map(|h| {
                h.state = HoldState::Holding;
                h.id
            })
        else {
            return;
        };
        self.hold_changed.notify_all();
        while inner.holds.iter().any(|h| h.id == id) {
            inner = self
                .hold_changed
                .wait(inner)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    pub fn arm_hold(&self, point: HoldPoint) -> u64 {
        let mut inner = self.lock();
        inner.next_hold_id += 1;
        let id = inner.next_hold_id;
        inner.holds.push(HoldSlot {
            id,
            point,
            state: HoldState::Armed,
        });
        id
    }

    /// Waits until hold `id` is holding a request, or `timeout` passes. True if it is holding.
    pub fn wait_until_holding(&self, id: u64, timeout: Duration) -> bool {
        let inner = self.lock();
        let (inner, _) = self
            .hold_changed
            .wait_timeout_while(inner, timeout, |inner| {
                inner
                    .holds
                    .iter()
                    .any(|h| h.id == id && h.state == HoldState::Armed)
            })
            .unwrap_or_else(|e| e.into_inner());
        inner
            .holds
            .iter()
            .any(|h| h.id == id && h.state == HoldState::Holding)
    }

    pub fn release_hold(&self, id: u64) {
        self.lock().holds.retain(|h| h.id != id);
        self.hold_changed.notify_all();
    }
}

/// How a dialect's token endpoint treats an authorization code beyond RFC 6749 §4.1.3.
#[derive(Clone, Copy, Debug)]
pub struct CodeRules {
    /// The fixture reply for a `redirect_uri` that differs from the authorize request's.
    pub redirect_mismatch_reply: &'static str,
    /// The fixture reply for a missing `code_verifier`; `None`: checked like a wrong one.
    pub missing_verifier_reply: Option<&'static str>,
}

/// Why a grant's refresh token no longer works at the account's time, if it doesn't.
pub type DeathRule = fn(&Inner, usize, SystemTime) -> Option<&'static str>;

/// How a dialect's token endpoint treats a refresh token.
#[derive(Clone, Copy)]
pub struct RefreshRules {
    /// Each use replaces the refresh token (the presented one stops working).
    pub rotates: bool,
    /// Why the grant's refresh token no longer works at the account's time, if it doesn't
    /// (Google's idle and testing-mode rules); such a grant is revoked.
    pub dies: Option<DeathRule>,
}

impl Inner {
    /// Redeems the form's authorization code for `client_id` (single use, fresh, the client's,
    /// the same `redirect_uri`, and a `code_verifier` matching an S256 challenge when the
    /// authorize request had one). A refusal is recorded; `Err` is the fixture reply to send.
    pub fn redeem_code(
        &mut self,
        form: &HashMap<String, String>,
        client_id: &str,
        rules: CodeRules,
    ) -> Result<AuthCode, &'static str> {
        let code = form.get("code").cloned().unwrap_or_default();
        let Some(issued) = self.codes.remove(&code) else {
            return Err(self.refuse(
                "unknown or used authorization code",
                "authorization_code_invalid",
            ));
        };
        if issued.expires_at < self.now_for(&issued.account_id) || issued.client_id != client_id {
            return Err(self.refuse(
                "expired code or code of another client",
                "authorization_code_invalid",
            ));
        }
        if form.get("redirect_uri") != Some(&issued.redirect_uri) {
            return Err(self.refuse(
                "redirect_uri does not match the authorize request",
                rules.redirect_mismatch_reply,
            ));
        }
        if !issued.code_challenge.is_empty() {
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if let (true, Some(reply)) = (verifier.is_empty(), rules.missing_verifier_reply) {
                return Err(self.refuse("missing code_verifier", reply));
            }
            if crate::x::s256(&verifier) != issued.code_challenge {
                return Err(self.refuse(
                    "code_verifier does not match the code_challenge",
                    "code_verifier_mismatch",
                ));
            }
        }
        if let Some(c) = self.counters_mut(&issued.account_id) {
            c.token_authorization_code += 1;
        }
        Ok(issued)
    }

    /// Uses the form's refresh token for `client_id`: active, the client's, its grant not
    /// revoked nor dead by the dialect's rules. Marks the grant used and, for a rotating
    /// dialect, the token rotated. A refusal is recorded; `Err` is the fixture reply to send.
    pub fn use_refresh_token(
        &mut self,
        form: &HashMap<String, String>,
        client_id: &str,
        rules: RefreshRules,
    ) -> Result<usize, &'static str> {
        let presented = form.get("refresh_token").cloned().unwrap_or_default();
        let found = self.refresh_tokens.get(&presented).copied();
        let Some((grant, RefreshTokenStatus::Active)) = found else {
            return Err(self.refuse(
                "refresh token already used, revoked or unknown",
                "refresh_token_invalid",
            ));
        };
        if self.grants[grant].client_id != client_id || self.grants[grant].revoked {
            return Err(self.refuse(
                "refresh token of another client, or revoked",
                "refresh_token_invalid",
            ));
        }
        let account_id = self.grants[grant].account_id.clone();
        let now = self.now_for(&account_id);
        if let Some(reason) = rules.dies.and_then(|dies| dies(self, grant, now)) {
            self.revoke_grant(grant);
            return Err(self.refuse(reason, "refresh_token_invalid"));
        }
        if self.grants[grant]
            .refresh_expires_at
            .is_some_and(|dies| now >= dies)
        {
            return Err(self.refuse("refresh token past its lifetime", "refresh_token_invalid"));
        }
        if rules.rotates {
            self.refresh_tokens
                .insert(presented, (grant, RefreshTokenStatus::Rotated));
        }
        self.grants[grant].last_used_at = now;
        if let Some(c) = self.counters_mut(&account_id) {
            c.token_refresh += 1;
        }
        Ok(grant)
    }

    /// Records a token-endpoint refusal; answers the fixture reply's name.
    fn refuse(&mut self, reason: &str, reply: &'static str) -> &'static str {
        self.reject("token", reason);
        reply
    }

    /// The account with this username, created on first use with the next numeric id.
    /// The grants (indexes) of `username`'s account; none for an account the fake never saw.
    pub fn grants_of_username(&self, username: &str) -> Vec<usize> {
        let Some(account) = self.accounts.values().find(|a| a.username == username) else {
            return Vec::new();
        };
        (0..self.grants.len())
            .filter(|g| self.grants[*g].account_id == account.id)
            .collect()
    }

    pub fn account_by_username(&mut self, username: &str) -> &mut Account {
        let existing = self
            .accounts
            .values()
            .find(|a| a.username == username)
            .map(|a| a.id.clone());
        let id = existing.unwrap_or_else(|| {
            let id = (1_000_000_001 + self.accounts.len() as u64).to_string();
            self.accounts.insert(
                id.clone(),
                Account {
                    id: id.clone(),
                    username: username.to_owned(),
                    name: display_name(username),
                    counters: Counters::default(),
                    clock_offset: Duration::ZERO,
                    organizations: Vec::new(),
                    pages: Vec::new(),
                },
            );
            id
        });
        self.accounts.get_mut(&id).expect("inserted above")
    }

    /// The time on `account_id`'s clock (the machine's, moved by the account's offset).
    pub fn now_for(&self, account_id: &str) -> SystemTime {
        let offset = self
            .accounts
            .get(account_id)
            .map_or(Duration::ZERO, |a| a.clock_offset);
        SystemTime::now() + offset
    }

    /// Records a new consent and returns its index.
    pub fn add_grant(
        &mut self,
        account_id: String,
        client_id: String,
        scopes: Vec<String>,
        offline: bool,
    ) -> usize {
        let now = self.now_for(&account_id);
        self.grants.push(Grant {
            account_id,
            client_id,
            scopes,
            offline,
            revoked: false,
            issued_at: now,
            last_used_at: now,
            refresh_expires_at: None,
        });
        self.grants.len() - 1
    }

    /// A new access token for `grant`, living `lifetime` on its account's clock.
    pub fn issue_access_token(&mut self, grant: usize, lifetime: Duration) -> String {
        let access = crate::tokens::random_token();
        let expires_at = self.now_for(&self.grants[grant].account_id.clone()) + lifetime;
        self.access_tokens
            .insert(access.clone(), AccessToken { grant, expires_at });
        access
    }

    /// Ends a grant: its refresh tokens are refused and its access tokens stop working.
    pub fn revoke_grant(&mut self, grant: usize) {
        self.grants[grant].revoked = true;
        for (g, status) in self.refresh_tokens.values_mut() {
            if *g == grant {
                *status = RefreshTokenStatus::Revoked;
            }
        }
    }

    /// The token endpoint's answer for `grant` (`token_issued` in `fixtures`): a new access
    /// token living the platform's `access_lifetime_secs`, and, when `refresh_prefix` is
    /// given, a new active refresh token starting with it.
    pub fn answer_tokens(
        &mut self,
        grant: usize,
        fixtures: &crate::fixtures::Fixtures,
        refresh_prefix: Option<&str>,
    ) -> crate::http::Reply {
        let lifetime = fixtures.fact_u64("access_lifetime_secs");
        let access = self.issue_access_token(grant, Duration::from_secs(lifetime));
        let mut values = vec![
            ("access_token", serde_json::json!(access)),
            ("expires_in", serde_json::json!(lifetime)),
            (
                "scope",
                serde_json::json!(self.grants[grant].scopes.join(" ")),
            ),
        ];
        if let Some(prefix) = refresh_prefix {
            let refresh = format!("{prefix}{}", crate::tokens::random_token());
            self.refresh_tokens
                .insert(refresh.clone(), (grant, RefreshTokenStatus::Active));
            values.push(("refresh_token", serde_json::json!(refresh)));
        }
        fixtures.render("token_issued", &values)
    }

    /// A revoke endpoint's work: ends the grant `token` belongs to, if it is `client_id`'s
    /// (any client's when `None`), and counts the revocation. Whether a grant ended.
    pub fn revoke_by_client(&mut self, token: &str, client_id: Option<&str>) -> bool {
        let Some(grant) = self
            .grant_of_token(token)
            .filter(|g| client_id.is_none_or(|c| self.grants[*g].client_id == c))
        else {
            return false;
        };
        self.revoke_grant(grant);
        let account_id = self.grants[grant].account_id.clone();
        if let Some(c) = self.counters_mut(&account_id) {
            c.revoke += 1;
        }
        true
    }

    /// The grant a refresh or access token belongs to.
    pub fn grant_of_token(&self, token: &str) -> Option<usize> {
        self.refresh_tokens
            .get(token)
            .map(|(g, _)| *g)
            .or_else(|| self.access_tokens.get(token).map(|t| t.grant))
    }

    /// The account behind a live bearer token (unexpired, its grant not revoked), with its
    /// identity call counted; `None` for anything else.
    pub fn account_for_bearer(&mut self, bearer: Option<&str>) -> Option<&mut Account> {
        let token = self.access_tokens.get(bearer?)?.clone();
        let grant = self.grants[token.grant].clone();
        if token.expires_at < self.now_for(&grant.account_id) || grant.revoked {
            return None;
        }
        let account = self.accounts.get_mut(&grant.account_id)?;
        account.counters.identity += 1;
        Some(account)
    }

    /// Meta: the grant of a working user or Instagram token, or the OAuthException 190
    /// subcode saying why it does not work (`None`: an unknown token).
    pub fn meta_token_grant(&self, token: &str) -> Result<usize, Option<i64>> {
        let found = self.access_tokens.get(token).ok_or(None)?;
        let grant = found.grant;
        if let Some(subcode) = self.meta_ended.get(&grant) {
            return Err(Some(*subcode));
        }
        if self.grants[grant].revoked {
            return Err(Some(458));
        }
        if found.expires_at < self.now_for(&self.grants[grant].account_id) {
            return Err(Some(463));
        }
        Ok(grant)
    }

    pub fn counters_mut(&mut self, account_id: &str) -> Option<&mut Counters> {
        self.accounts.get_mut(account_id).map(|a| &mut a.counters)
    }

    pub fn reject(&mut self, endpoint: &str, reason: &str) {
        self.rejections.push(Rejection {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        });
    }
}

fn display_name(username: &str) -> String {
    let mut chars = username.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
