//! Who is calling the tenant API: the tenant behind a live API key, and this isolate's short
//! memory of keys it looked up.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::common::isolate_cache::IsolateCache;
use crate::core::http::api_error::ApiError;
use crate::core::tenancy::api_keys::{hash_presented, Scopes};
use crate::core::tenancy::auth::bearer_credential;
use crate::edge::common::clock;
use crate::edge::http::respond::Handled;
use std::cell::RefCell;
use worker::{D1Database, Request};

/// Who is calling: the tenant behind a live API key.
#[derive(Clone)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub key_id: String,
    pub scopes: Scopes,
}

/// A live key as this isolate last read it: whose it is, and until when it works.
#[derive(Clone)]
struct KnownKey {
    caller: Caller,
    expires_at: Option<Timestamp>,
}

/// How long an isolate trusts a key it looked up. Safe because a key's lookup is the only
/// fact cached: its expiry is still checked on every request against the stored date, and a
/// revocation or rotation through this isolate forgets the key at once ([`forget_key`]). A key
/// revoked through another isolate keeps working here for at most this long; a deleted tenant
/// likewise.
const KEY_TTL_MS: i64 = 30_000;

thread_local! {
    /// Live keys by their secret's hash (never the secret), for [`KEY_TTL_MS`].
    static KNOWN_KEYS: RefCell<IsolateCache<KnownKey>> =
        RefCell::new(IsolateCache::new(KEY_TTL_MS, 1_000));
}

/// Makes this isolate forget every key of `tenant_id` (the tenant was deleted).
pub fn forget_tenant(tenant_id: &TenantId) {
    KNOWN_KEYS.with(|keys| {
        keys.borrow_mut()
            .forget_where(|k| k.caller.tenant_id == tenant_id)
    });
}

/// Makes this isolate forget key `key_id` (it was revoked, or its expiry moved).
pub fn forget_key(key_id: &str) {
    KNOWN_KEYS.with(|keys| {
        keys.borrow_mut()
            .forget_where(|k| k.caller.key_id == key_id)
    });
}

/// The caller behind the request's API key, or `unauthorized`. The same answer for a missing,
/// malformed, unknown, revoked or expired key, so a prober learns nothing.
pub async fn authenticate(req: &Request, db: &D1Database, now: Timestamp) -> Handled<Caller> {
    let refused = || {
        ApiError::unauthorized(
            "Send a live API key as `Authorization: Bearer evg_…` (the operator creates them).",
        )
    };
    let header = req.headers().get("authorization")?;
    let Some(hash) = bearer_credential(header.as_deref()).and_then(hash_presented) else {
        return Err(refused().into());
    };
    let real_now = clock::real_now().as_millis();
    let known = KNOWN_KEYS.with(|keys| keys.borrow().get(&hash, real_now));
    if let Some(known) = known {
        if known.expires_at.is_some_and(|at| at <= now) {
            return Err(refused().into());
        }
        return Ok(known.caller);
    }
    let found = crate::store::tenants::live_key_by_hash(db, &hash, now).await?;
    let key = found.ok_or_else(refused)?;
    let caller = Caller {
        key_id: key.id,
        tenant_id: key.tenant_id,
        scopes: Scopes::from_stored(&key.scopes),
    };
    let known = KnownKey {
        caller: caller.clone(),
        expires_at: key.expires_at,
    };
    KNOWN_KEYS.with(|keys| keys.borrow_mut().put(&hash, known, real_now));
    Ok(caller)
}
