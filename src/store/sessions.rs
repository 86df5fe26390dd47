//! Sessions of the browser flows: connect sessions (a connect link, or a reconnect link's
//! session, opened once), OAuth sessions (one consent round trip, its PKCE verifier sealed,
//! consumed once), and the connections page's sessions (one per page link). Secrets are stored
//! as SHA-256 hashes only.

use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};

pub const CREATE_CONNECT: Sql = Sql {
    name: "sessions.create_connect",
    text: "INSERT INTO connect_sessions (id, token_hash, tenant_id, provider, end_user_ref, \
             return_url, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};
pub const CREATE_RECONNECT: Sql = Sql {
    name: "sessions.create_reconnect",
    text: "INSERT INTO connect_sessions (id, token_hash, tenant_id, provider, end_user_ref, \
             return_url, created_at, expires_at, opened_at, reconnect_grant_id, \
             reconnect_epoch, reconnect_nonce) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?11, ?6, ?7, ?6, ?8, ?9, ?10)",
};
pub const OPEN_CONNECT: Sql = Sql {
    name: "sessions.open_connect",
    text: "UPDATE connect_sessions SET opened_at = ?1 \
           WHERE token_hash = ?2 AND opened_at IS NULL AND expires_at > ?1 \
           RETURNING id, tenant_id, provider, return_url",
};
pub const FIND_CONNECT: Sql = Sql {
    name: "sessions.find_connect",
    text: "SELECT provider, expires_at, opened_at, return_url FROM connect_sessions \
           WHERE token_hash = ?1",
};
pub const CHOOSE_PROVIDER: Sql = Sql {
    name: "sessions.choose_provider",
    text: "UPDATE connect_sessions SET provider = ?1 WHERE id = ?2 AND provider = ?3",
};
pub const CREATE_OAUTH: Sql = Sql {
    name: "sessions.create_oauth",
    text: "INSERT INTO oauth_sessions (state_hash, connect_session_id, binding_hash, \
             verifier_ciphertext, key_id, redirect_uri, created_at, expires_at, \
             context_ciphertext) \
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
};
pub const FIND_OAUTH: Sql = Sql {
    name: "sessions.find_oauth",
    text: "SELECT o.connect_session_id, o.binding_hash, o.verifier_ciphertext, o.key_id, \
             o.redirect_uri, o.expires_at, o.context_ciphertext, c.tenant_id, c.provider, c.end_user_ref, c.return_url, \
             c.reconnect_grant_id, c.reconnect_epoch, c.reconnect_nonce \
           FROM oauth_sessions o JOIN connect_sessions c ON c.id = o.connect_session_id \
           WHERE o.state_hash = ?1",
};
pub const CONSUME_OAUTH: Sql = Sql {
    name: "sessions.consume_oauth",
    text:
        "UPDATE oauth_sessions SET consumed_at = ?1 WHERE state_hash = ?2 AND consumed_at IS NULL",
};
pub const OPEN_PAGE: Sql = Sql {
    name: "sessions.open_page",
    text: "INSERT OR IGNORE INTO page_sessions (id, link_nonce, secret_hash, tenant_id, \
             end_user_ref, csrf, created_at, expires_at) \
           SELECT ?1, ?2, ?3, id, ?4, ?5, ?6, ?7 FROM tenants WHERE id = ?8 AND deleted_at IS NULL",
};
pub const PAGE: Sql = Sql {
    name: "sessions.page",
    text: "SELECT s.id, s.tenant_id, s.end_user_ref, s.csrf FROM page_sessions s \
           JOIN tenants t ON t.id = s.tenant_id \
           WHERE s.secret_hash = ?1 AND s.expires_at > ?2 AND t.deleted_at IS NULL",
};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub const STATEMENTS: &[&Sql] = &[
    &CREATE_CONNECT,
    &CREATE_RECONNECT,
    &OPEN_CONNECT,
    &FIND_CONNECT,
    &CHOOSE_PROVIDER,
    &CREATE_OAUTH,
    &FIND_OAUTH,
    &CONSUME_OAUTH,
    &OPEN_PAGE,
    &PAGE,
];

/// A connect link's session.
pub struct NewConnect<'a> {
    pub id: &'a str,
    /// SHA-256 of the link's secret.
    pub token_hash: &'a str,
    pub tenant_id: &'a TenantId,
    pub provider: &'a str,
    pub end_user_ref: &'a str,
    pub return_url: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

pub fn create_connect(s: &NewConnect<'_>) -> Statement {
    CREATE_CONNECT.bind(vec![
        s.id.into(),
        s.token_hash.into(),
        s.tenant_id.into(),
        s.provider.into(),
        s.end_user_ref.into(),
        s.return_url.into(),
        s.now.into(),
        s.expires_at.into(),
    ])
}

/// A reconnect link's session: opened at once (nobody holds a secret for it), carrying what
/// the callback restores.
pub struct NewReconnect<'a> {
    pub session: NewConnect<'a>,
    pub grant_id: &'a GrantId,
    pub epoch: i64,
    pub nonce: &'a str,
}

pub fn create_reconnect(r: &NewReconnect<'_>) -> Statement {
    let s = &r.session;
    CREATE_RECONNECT.bind(vec![
        s.id.into(),
        s.token_hash.into(),
        s.tenant_id.into(),
        s.provider.into(),
        s.end_user_ref.into(),
        s.now.into(),
        s.expires_at.into(),
        r.grant_id.into(),
        r.epoch.into(),
        r.nonce.into(),
        s.return_url.into(),
    ])
}

/// Opens the session of a link, once, while it is valid (`id, tenant_id, provider,
/// return_url`; no row: unknown, used or expired).
pub fn open_connect(token_hash: &str, now: Timestamp) -> Statement {
    OPEN_CONNECT.bind(vec![now.into(), token_hash.into()])
}

/// A link's session as it stands (`provider, expires_at, opened_at, return_url`): why it did
/// not open, or whether it needs a server named first.
pub fn find_connect(token_hash: &str) -> Statement {
    FIND_CONNECT.bind(vec![token_hash.into()])
}

/// The server the person named: the session's provider goes from the per-server template
/// (`mastodon`) to that server's (`mastodon:<server>`), once.
pub fn choose_provider(id: &str, template: &str, instance: &str) -> Statement {
    CHOOSE_PROVIDER.bind(vec![instance.into(), id.into(), template.into()])
}

/// One OAuth round trip.
pub struct NewOauth<'a> {
    /// SHA-256 of the `state` parameter.
    pub state_hash: &'a str,
    pub connect_session_id: &'a str,
    /// SHA-256 of the browser-binding cookie.
    pub binding_hash: &'a str,
    pub verifier_ciphertext: &'a str,
    pub key_id: &'a str,
    pub redirect_uri: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    /// Bluesky: what discovery found and the grant's DPoP key, sealed under the same key as
    /// the verifier (`key_id`).
    pub context_ciphertext: Option<&'a str>,
}

pub fn create_oauth(o: &NewOauth<'_>) -> Statement {
    CREATE_OAUTH.bind(vec![
        o.state_hash.into(),
        o.connect_session_id.into(),
        o.binding_hash.into(),
        o.verifier_ciphertext.into(),
        o.key_id.into(),
        o.redirect_uri.into(),
        o.now.into(),
        o.expires_at.into(),
        o.context_ciphertext.into(),
    ])
}

/// The OAuth session of a callback's `state`, with its connect session.
pub fn find_oauth(state_hash: &str) -> Statement {
    FIND_OAUTH.bind(vec![state_hash.into()])
}

/// Consumes the OAuth session: 1 row changed the first time only.
pub fn consume_oauth(state_hash: &str, now: Timestamp) -> Statement {
    CONSUME_OAUTH.bind(vec![now.into(), state_hash.into()])
}

/// A connections-page session for one page link.
pub struct NewPage<'a> {
    pub id: &'a str,
    /// The link's nonce: a link opens one session.
    pub link_nonce: &'a str,
    /// SHA-256 of the session cookie's secret.
    pub secret_hash: &'a str,
    pub tenant_id: &'a TenantId,
    pub end_user_ref: &'a str,
    pub csrf: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
}

/// Opens a page session, once per link, for a tenant not deleted (0 rows: used, or gone).
pub fn open_page(p: &NewPage<'_>) -> Statement {
    OPEN_PAGE.bind(vec![
        p.id.into(),
        p.link_nonce.into(),
        p.secret_hash.into(),
        p.end_user_ref.into(),
        p.csrf.into(),
        p.now.into(),
        p.expires_at.into(),
        p.tenant_id.into(),
    ])
}

/// The live page session of a cookie's secret (`id, tenant_id, end_user_ref, csrf`).
pub fn page(secret_hash: &str, now: Timestamp) -> Statement {
    PAGE.bind(vec![secret_hash.into(), now.into()])
}
