//! Evergreen's fake social platform: the only stand-in in the project.
//!
//! Social platforms cannot be reached from the test machines, so this server speaks their
//! dialects on loopback. Every platform is served under its own host name as the first path
//! segment (`/api.x.com/2/oauth2/token`), which is exactly what the worker's test-build URL
//! rewrite produces. Platforms with quirks (X, Google) have a module each; a standard OAuth 2.0
//! provider is served from its fixture file alone (`fixtures/acme.json`, [`fixtures`]).
//!
//! Tests start it in-process ([`FakePlatform::start`]) and read its per-account call counters,
//! its refusals, and hold a request at a chosen point ([`FakePlatform::hold`]). The run command
//! starts the `fake-platform` binary. `/__fake/…` serves the same read-outs over HTTP.

pub mod bluesky;
mod consent;
pub mod facebook;
mod faults;
pub mod fixtures;
pub mod google;
mod http;
pub mod instagram;
pub mod linkedin;
pub mod mastodon;
pub mod media;
mod meta_tokens;
pub mod pinterest;
pub mod publish;
pub mod reddit;
mod server;
mod standard;
mod state;
pub mod threads;
pub mod tiktok;
mod tokens;
pub mod x;

pub use faults::Fault;
pub use publish::{PublishFault, PublishedPost};
pub use state::{Account, Counters, HoldPoint, RefreshTokenStatus, Rejection};

use http::{Incoming, Reply};
use serde_json::json;
use state::Shared;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// An OAuth client the fake accepts (the worker must be configured with the same pair).
#[derive(Clone, Debug)]
pub struct Client {
    pub id: String,
    pub secret: String,
}

/// A running fake platform. Dropping it stops the server.
pub struct FakePlatform {
    shared: Arc<Shared>,
    server: server::Server,
}

impl FakePlatform {
    /// Starts serving on `bind` (e.g. `127.0.0.1:0` for any free port), accepting `clients`.
    pub fn start(bind: &str, clients: &[Client]) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        {
            let mut inner = shared.lock();
            for c in clients {
                inner.clients.insert(c.id.clone(), c.secret.clone());
            }
        }
        // Each connection on a thread of its own, so a held request blocks nothing else.
        let server = {
            let shared = shared.clone();
            server::Server::start(bind, move |request| serve(&shared, request))?
        };
        Ok(Self { shared, server })
    }

    /// Makes every platform answer wait `delay` before it goes out, as a real platform's
    /// latency would (`Duration::ZERO`, the default: at once). Requests are served on threads
    /// of their own, so concurrent calls wait side by side, not in turn.
    pub fn set_answer_delay(&self, delay: Duration) {
        self.shared.lock().answer_delay = delay;
    }

    /// `http://127.0.0.1:PORT`, what the worker's `FAKE_PLATFORM_URL` must be.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// The account with this username, if it ever consented.
    pub fn account(&self, username: &str) -> Option<Account> {
        let inner = self.shared.lock();
        inner
            .accounts
            .values()
            .find(|a| a.username == username)
            .cloned()
    }

    /// The calls this account has made; zero for an account the fake never saw.
    pub fn counters(&self, username: &str) -> Counters {
        self.account(username)
            .map(|a| a.counters)
            .unwrap_or_default()
    }

    /// Every request the fake refused for breaking the platform's rules, oldest first.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.shared.lock().rejections.clone()
    }

    /// What became of a refresh token; `None` if the fake never issued it.
    pub fn refresh_token_status(&self, token: &str) -> Option<RefreshTokenStatus> {
        self.shared
            .lock()
            .refresh_tokens
            .get(token)
            .map(|(_, s)| *s)
    }

    /// Arms a fault for the next answer of any token endpoint (they queue, oldest first).
    pub fn inject_token_fault(&self, fault: Fault) {
        self.shared.lock().token_faults.push_back(fault);
    }

    /// Starts (`Some`) or ends (`None`) an outage: every token answer gets the fault until
    /// then, after any armed with [`Self::inject_token_fault`].
    pub fn set_token_outage(&self, fault: Option<Fault>) {
        self.shared.lock().token_outage = fault;
    }

    /// How many calls the token endpoints have had, from anyone: what an outage cost.
    pub fn token_endpoint_calls(&self) -> u64 {
        self.shared.lock().token_endpoint_calls
    }

    /// Every access token and refresh token the fake issued to `username`, so a test can look
    /// for them where they must not be (logs, storage) and compare what Evergreen hands out.
    pub fn tokens_issued_to(&self, username: &str) -> IssuedTokens {
        let inner = self.shared.lock();
        let Some(account) = inner.accounts.values().find(|a| a.username == username) else {
            return IssuedTokens::default();
        };
        let mine = |grant: usize| inner.grants[grant].account_id == account.id;
        let mut issued = IssuedTokens {
            access: inner
                .access_tokens
                .iter()
                .filter(|(_, t)| mine(t.grant))
                .map(|(token, _)| token.clone())
                .collect(),
            refresh: inner
                .refresh_tokens
                .iter()
                .filter(|(_, (grant, _))| mine(*grant))
                .map(|(token, _)| token.clone())
                .collect(),
        };
        issued.access.sort();
        issued.refresh.sort();
        issued
    }

    /// Seeds a grant as if `username` had consented to `client_id` with `scopes`, without the
    /// browser round trip and without touching the counters. Returns X's token response.
    pub fn seed_x_grant(
        &self,
        username: &str,
        client_id: &str,
        scopes: &[&str],
    ) -> serde_json::Value {
        let mut inner = self.shared.lock();
        let account_id = inner.account_by_username(username).id.clone();
        let grant = inner.add_grant(
            account_id,
            client_id.to_owned(),
            scopes.iter().map(|s| (*s).to_owned()).collect(),
            scopes.contains(&"offline.access"),
        );
        serde_json::from_str(&x::issue(&mut inner, grant).body).unwrap_or_default()
    }

    /// Seeds `n` Google accounts named `{prefix}{i}`, each having consented offline to
    /// `client_id`: an access token and an active refresh token, as the token endpoint would
    /// have issued them, without the browser round trip and without touching the counters.
    /// For benchmarks that need many grants Evergreen can refresh.
    pub fn seed_google_grants(&self, prefix: &str, n: usize, client_id: &str) -> Vec<SeededGrant> {
        let lifetime = Duration::from_secs(fixtures::google().fact_u64("access_lifetime_secs"));
        let mut inner = self.shared.lock();
        (0..n)
            .map(|i| {
                let account_id = inner
                    .account_by_username(&format!("{prefix}{i}"))
                    .id
                    .clone();
                let scopes = vec!["https://www.googleapis.com/auth/youtube.upload".to_owned()];
                let grant = inner.add_grant(account_id.clone(), client_id.to_owned(), scopes, true);
                let access_token = inner.issue_access_token(grant, lifetime);
                let refresh_token = format!("1//{}", tokens::random_token());
                inner
                    .refresh_tokens
                    .insert(refresh_token.clone(), (grant, RefreshTokenStatus::Active));
                SeededGrant {
                    account_id,
                    access_token,
                    refresh_token,
                }
            })
            .collect()
    }

    /// The counters of every account whose username starts with `prefix`, by username.
    pub fn counters_of_prefix(&self, prefix: &str) -> HashMap<String, Counters> {
        let inner = self.shared.lock();
        inner
            .accounts
            .values()
            .filter(|a| a.username.starts_with(prefix))
            .map(|a| (a.username.clone(), a.counters.clone()))
            .collect()
    }

    /// Moves `username`'s clock forward by `by` (creating the account if needed): its access
    /// tokens expire, its refresh tokens age and sit idle, as if that much time had passed
    /// for it alone.
    pub fn advance_clock(&self, username: &str, by: Duration) {
        self.shared
            .lock()
            .account_by_username(username)
            .clock_offset += by;
    }

    /// Puts a client's app in (or out of) "testing" publishing status: Google then lets its
    /// refresh tokens live a week.
    pub fn set_testing_mode(&self, client_id: &str, testing: bool) {
        let mut inner = self.shared.lock();
        if testing {
            inner.testing_mode_clients.insert(client_id.to_owned());
        } else {
            inner.testing_mode_clients.remove(client_id);
        }
    }

    /// Gives `username` (created if needed) a LinkedIn company page they administer; returns
    /// the organization's id.
    pub fn add_linkedin_organization(&self, username: &str, name: &str) -> u64 {
        let mut inner = self.shared.lock();
        inner.next_organization_id += 1;
        let id = 10_000_000 + inner.next_organization_id;
        inner
            .account_by_username(username)
            .organizations
            .push(state::Organization {
                id,
                name: name.to_owned(),
                admin: true,
            });
        id
    }

    /// Takes `username`'s administrator role on a LinkedIn page away (or gives it back).
    pub fn set_linkedin_admin(&self, username: &str, organization_id: u64, admin: bool) {
        let mut inner = self.shared.lock();
        for o in &mut inner.account_by_username(username).organizations {
            if o.id == organization_id {
                o.admin = admin;
            }
        }
    }

    /// Approves (or not) a LinkedIn app for programmatic refresh tokens, as LinkedIn does for
    /// a limited set of partners.
    pub fn set_linkedin_partner(&self, client_id: &str, partner: bool) {
        let mut inner = self.shared.lock();
        if partner {
            inner.linkedin_partner_clients.insert(client_id.to_owned());
        } else {
            inner.linkedin_partner_clients.remove(client_id);
        }
    }

    /// Gives `username` (created if needed) a Facebook Page they may post to; returns the
    /// Page's id.
    pub fn add_facebook_page(&self, username: &str, name: &str) -> String {
        let mut inner = self.shared.lock();
        inner.next_organization_id += 1;
        let id = (200_000_000_000_u64 + inner.next_organization_id).to_string();
        inner
            .account_by_username(username)
            .pages
            .push(state::FacebookPage {
                id: id.clone(),
                name: name.to_owned(),
                role: true,
            });
        id
    }

    /// Registers the public key (a JWK) Bluesky checks client assertions with: the key
    /// Evergreen's `BLUESKY_CLIENT_SECRET` holds.
    pub fn set_bluesky_client_key(&self, jwk: serde_json::Value) {
        self.shared.lock().bluesky.client_jwk = Some(jwk);
    }

    /// Registers the client key from its secret scalar (base64url `d`, as in
    /// `BLUESKY_CLIENT_SECRET`'s `kid:d`): what the run command does with the worker's variable.
    pub fn set_bluesky_client_secret(&self, d: &str) -> bool {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use base64::Engine;
        let Some(key) = B64
            .decode(d.trim())
            .ok()
            .and_then(|bytes| p256::ecdsa::SigningKey::from_slice(&bytes).ok())
        else {
            return false;
        };
        let point = key.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return false;
        };
        self.set_bluesky_client_key(json!({
            "kty": "EC", "crv": "P-256", "x": B64.encode(x), "y": B64.encode(y),
        }));
        true
    }

    /// Creates `username`'s Bluesky account (handle `{username}.bsky.social`); its DID.
    pub fn add_bluesky_account(&self, username: &str) -> String {
        let mut inner = self.shared.lock();
        let id = inner.account_by_username(username).id.clone();
        bluesky::did_of(&id)
    }

    /// Makes the consent's redirect carry this `iss` instead of the issuer (`None`: the truth).
    pub fn set_bluesky_callback_iss(&self, iss: Option<&str>) {
        self.shared.lock().bluesky.lying_iss = iss.map(str::to_owned);
    }

    /// Both Bluesky servers move to new DPoP nonces: a proof with the old one is refused.
    pub fn rotate_bluesky_nonces(&self) {
        let mut inner = self.shared.lock();
        inner.bluesky.as_nonce = crate::tokens::random_token();
        inner.bluesky.pds_nonce = crate::tokens::random_token();
    }

    /// The last DPoP proof a client sent Bluesky's token endpoint (for a replay test).
    pub fn last_bluesky_token_proof(&self) -> Option<String> {
        self.shared.lock().bluesky.last_token_proof.clone()
    }

    /// Makes `host` a Mastodon server (as the worker's test build sends `https://{host}/…` to
    /// `/{host}/…` here).
    pub fn add_mastodon_server(&self, host: &str) {
        self.shared.lock().mastodon_servers.insert(host.to_owned());
    }

    /// How many apps were registered on the Mastodon server `host`.
    pub fn mastodon_apps_on(&self, host: &str) -> usize {
        self.shared
            .lock()
            .mastodon_apps
            .values()
            .filter(|app| app.server == host)
            .count()
    }

    /// Every `Idempotency-Key` Mastodon status requests carried, oldest first.
    pub fn mastodon_idempotency_keys(&self) -> Vec<String> {
        self.shared.lock().mastodon_keys.clone()
    }

    /// Gives `username` (created if needed) a Pinterest board; returns the board's id.
    pub fn add_pinterest_board(&self, username: &str, name: &str) -> String {
        let mut inner = self.shared.lock();
        inner.next_organization_id += 1;
        let id = (549_755_885_000_u64 + inner.next_organization_id).to_string();
        let account_id = inner.account_by_username(username).id.clone();
        inner
            .pinterest_boards
            .entry(account_id)
            .or_default()
            .push((id.clone(), name.to_owned()));
        id
    }

    /// `username` deletes one of their Pinterest boards.
    pub fn delete_pinterest_board(&self, username: &str, board_id: &str) {
        let mut inner = self.shared.lock();
        let account_id = inner.account_by_username(username).id.clone();
        if let Some(boards) = inner.pinterest_boards.get_mut(&account_id) {
            boards.retain(|(id, _)| id != board_id);
        }
    }

    /// Takes `username`'s role on a Facebook Page away (or gives it back): that Page's tokens
    /// fail `debug_token` with 190/492 while it is away.
    pub fn set_facebook_page_role(&self, username: &str, page_id: &str, role: bool) {
        let mut inner = self.shared.lock();
        for p in &mut inner.account_by_username(username).pages {
            if p.id == page_id {
                p.role = role;
            }
        }
    }

    /// What a password change does at Meta: every session of `username`, with every app,
    /// ends (OAuthException 190, subcode 460), Page tokens included.
    pub fn change_meta_password(&self, username: &str) -> usize {
        self.end_meta_grants(username, None, 460)
    }

    /// The person removes `client_id`'s app in their settings (190/458).
    pub fn remove_meta_app(&self, username: &str, client_id: &str) -> usize {
        self.end_meta_grants(username, Some(client_id), 458)
    }

    fn end_meta_grants(&self, username: &str, client_id: Option<&str>, subcode: i64) -> usize {
        let mut inner = self.shared.lock();
        let mut mine = inner.grants_of_username(username);
        mine.retain(|g| !inner.grants[*g].revoked);
        mine.retain(|g| client_id.is_none_or(|c| inner.grants[*g].client_id == c));
        for g in &mine {
            inner.revoke_grant(*g);
            inner.meta_ended.insert(*g, subcode);
        }
        mine.len()
    }

    /// The `signed_request` Meta's deauthorize and data-deletion callbacks carry for
    /// `username`, signed with `client_id`'s secret as Meta signs it (HMAC-SHA256 of the
    /// base64url payload); the form body to POST is `signed_request=<this>`.
    pub fn meta_signed_request(&self, client_id: &str, username: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let mut inner = self.shared.lock();
        let secret = inner.clients.get(client_id).cloned().unwrap_or_default();
        let account_id = inner.account_by_username(username).id.clone();
        let now = state::unix_seconds(inner.now_for(&account_id));
        let payload = json!({
            "algorithm": "HMAC-SHA256",
            "expires": now + 3600,
            "issued_at": now,
            "user_id": account_id,
        });
        let encoded = URL_SAFE_NO_PAD.encode(payload.to_string());
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes any key length");
        mac.update(encoded.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signature}.{encoded}")
    }

    /// TikTok's lifetimes (access, refresh) in seconds for the next answers; `None` goes back
    /// to the fixture's (the newer docs').
    pub fn set_tiktok_lifetimes(&self, lifetimes: Option<(u64, u64)>) {
        self.shared.lock().tiktok_lifetimes = lifetimes;
    }

    /// Ends every access token of `username` now, leaving the grants and refresh tokens alone:
    /// a token the platform stopped accepting before its stated expiry (what `validate` is
    /// for). Returns how many tokens ended.
    pub fn expire_access_tokens_of(&self, username: &str) -> usize {
        let mut inner = self.shared.lock();
        let grants = inner.grants_of_username(username);
        let mut ended = 0;
        for token in inner.access_tokens.values_mut() {
            if grants.contains(&token.grant) {
                token.expires_at = std::time::UNIX_EPOCH;
                ended += 1;
            }
        }
        ended
    }

    /// What a user does in their account settings: removes every app's access. Each grant of
    /// `username` ends; its tokens are refused from now on. Returns how many grants ended.
    pub fn revoke_all_grants_of(&self, username: &str) -> usize {
        let mut inner = self.shared.lock();
        let mut mine = inner.grants_of_username(username);
        mine.retain(|g| !inner.grants[*g].revoked);
        for g in &mine {
            inner.revoke_grant(*g);
        }
        mine.len()
    }

    /// Every post made, oldest first.
    pub fn posts(&self) -> Vec<PublishedPost> {
        self.shared.lock().posts.clone()
    }

    /// The posts made with exactly this text, oldest first.
    pub fn posts_with_text(&self, text: &str) -> Vec<PublishedPost> {
        self.posts()
            .into_iter()
            .filter(|p| p.text == text)
            .collect()
    }

    /// Status reads an Instagram or Threads container stays `IN_PROGRESS` (`u32::MAX`: it never
    /// finishes).
    pub fn set_container_polls(&self, polls: u32) {
        self.shared.lock().media.container_polls = polls;
    }

    /// Posts this Instagram account published through the API in the last 24 hours.
    pub fn set_instagram_usage(&self, account_id: &str, used: u64) {
        self.shared
            .lock()
            .media
            .instagram_usage
            .insert(account_id.to_owned(), used);
    }

    /// Status reads a TikTok post stays `PROCESSING_DOWNLOAD`.
    pub fn set_tiktok_polls(&self, polls: u32) {
        self.shared.lock().media.tiktok_polls = polls;
    }

    /// The TikTok client has not passed TikTok's audit: only private posts.
    pub fn set_tiktok_unaudited(&self, unaudited: bool) {
        self.shared.lock().media.tiktok_unaudited = unaudited;
    }

    /// The next YouTube upload request keeps this many bytes, then fails with `503`.
    pub fn cut_next_upload_after(&self, bytes: usize) {
        self.shared.lock().media.upload_cut_after = Some(bytes);
    }

    /// Bytes YouTube kept over every upload request (a byte sent twice counts twice).
    pub fn upload_bytes_kept(&self) -> u64 {
        self.shared.lock().media.upload_bytes_kept
    }

    /// Reads `videos.list` reports a video still processing.
    pub fn set_processing_polls(&self, polls: u32) {
        self.shared.lock().media.processing_polls = polls;
    }

    /// Reads of the media host's file `name`.
    pub fn media_reads(&self, name: &str) -> u32 {
        self.shared
            .lock()
            .media
            .media_reads
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    /// Arms a fault for the next publish request (they queue, oldest first).
    pub fn inject_publish_fault(&self, fault: PublishFault) {
        self.shared.lock().publish_faults.push_back(fault);
    }

    /// Arms a hold: the next request to reach `point` stops there until the hold is released
    /// (or dropped).
    pub fn hold(&self, point: HoldPoint) -> Hold {
        Hold {
            shared: self.shared.clone(),
            id: self.shared.arm_hold(point),
        }
    }
}

/// A grant [`FakePlatform::seed_google_grants`] made: the account and the tokens it holds.
#[derive(Clone, Debug)]
pub struct SeededGrant {
    pub account_id: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// Tokens the fake issued to one account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssuedTokens {
    pub access: Vec<String>,
    pub refresh: Vec<String>,
}

/// An armed hold. Released when dropped, so a failing test never leaves a request hanging.
pub struct Hold {
    shared: Arc<Shared>,
    id: u64,
}

impl Hold {
    /// Blocks until a request is held here, or `timeout` passes; true if one is held.
    pub fn wait_until_holding(&self, timeout: Duration) -> bool {
        self.shared.wait_until_holding(self.id, timeout)
    }

    /// Lets the held request (if any) answer.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.shared.release_hold(self.id);
    }
}

fn serve(shared: &Shared, request: server::Request) -> server::Response {
    let incoming = Incoming::from(request);
    let reply = route(shared, &incoming).unwrap_or_else(|| Reply::not_found(&incoming.path));
    // A platform's latency, after the work and before the answer (this request's own thread:
    // the others are not held up). The fake's own control routes answer at once.
    let delay = shared.lock().answer_delay;
    if !delay.is_zero() && !incoming.path.starts_with("/__fake/") {
        thread::sleep(delay);
    }
    reply.into_response()
}

fn route(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let host = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if let Some(reply) = media::handle(shared, req) {
        return Some(reply);
    }
    if let Some(reply) = publish::handle(shared, req) {
        return Some(reply);
    }
    match host {
        "x.com" | "api.x.com" => x::handle(shared, req),
        "accounts.google.com" | "oauth2.googleapis.com" | "www.googleapis.com" => {
            google::handle(shared, req)
        }
        "www.linkedin.com" | "api.linkedin.com" => linkedin::handle(shared, req),
        "www.tiktok.com" | "open.tiktokapis.com" => tiktok::handle(shared, req),
        "www.facebook.com" | "graph.facebook.com" => facebook::handle(shared, req),
        "www.instagram.com" | "api.instagram.com" | "graph.instagram.com" => {
            instagram::handle(shared, req)
        }
        "www.reddit.com" | "oauth.reddit.com" => reddit::handle(shared, req),
        "threads.net" | "graph.threads.net" => threads::handle(shared, req),
        "www.pinterest.com" | "api.pinterest.com" => pinterest::handle(shared, req),
        "__fake" => control(shared, req),
        bluesky::AS_HOST | bluesky::PDS_HOST | bluesky::PLC_HOST => bluesky::handle(shared, req),
        h if h.ends_with(".bsky.social") => bluesky::handle(shared, req),
        host if shared.lock().mastodon_servers.contains(host) => {
            mastodon::handle(shared, host, req)
        }
        host => fixtures::all()
            .into_iter()
            .filter(|f| standard::serves_host(f, host))
            .find_map(|f| standard::handle(shared, f, req)),
    }
}

/// `/__fake/…`: read-outs for people and scripts (tests use the methods above).
fn control(shared: &Shared, req: &Incoming) -> Option<Reply> {
    let inner = shared.lock();
    Some(match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/__fake/health") => Reply::json(200, &json!({ "ok": true })),
        ("GET", "/__fake/accounts") => {
            let mut accounts: Vec<&Account> = inner.accounts.values().collect();
            accounts.sort_by(|a, b| a.id.cmp(&b.id));
            Reply::json(200, &json!({ "accounts": accounts }))
        }
        ("GET", "/__fake/posts") => Reply::json(200, &json!({ "posts": inner.posts })),
        ("GET", "/__fake/rejections") => {
            Reply::json(200, &json!({ "rejections": inner.rejections }))
        }
        _ => return None,
    })
}
