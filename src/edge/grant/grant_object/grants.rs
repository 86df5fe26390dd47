//! A grant's writes and token reads, carried out inside the grant's Durable Object, which is
//! the grant's only writer (`GrantObject` routes `/store` and `/access-token` here).
//!
//! Storing seals the tokens with AES-256-GCM, bound to tenant, grant, key id and the new
//! version, and writes the grant and its connection in one D1 batch: a compare-and-swap on the
//! version for an existing grant, and a connection upsert guarded by `WHERE EXISTS` on the new
//! version, since a batch does not stop when an UPDATE matches nothing.
//!
//! Token reads refresh first when the token is about to expire (`refresh`). Between calls the
//! object remembers its grant and the opened tokens ([`Memory`]): nothing else writes the
//! grant, so what it last read or wrote stays true until it writes again, and every write
//! forgets it. A fresh token is then served without D1 or decryption.

use super::current::{
    binding, current, dead_error, dead_verdict, open_tokens, spec_of, CurrentGrant, LiveConnection,
    Memory, Remembered,
};
use super::protocol::GrantObjectClient;
use super::writes;
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::crypto::Sealed;
use crate::core::grant::consent::{self, Consent, Refusal, StorePlan, StoredGrant};
use crate::core::grant::grant_health::{GrantState, RefreshState};
use crate::core::grant::grant_tokens::{
    can_refresh, check_read, TokenRead, TokenRequest, TokenSet,
};
use crate::core::grant::refresh_failure::DeadReason;
use crate::core::grant::refresh_schedule::needs_refresh;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::links::reconnect_links::{self, LinkError};
use crate::core::oauth::catalogue::{GraphDialect, ProviderSpec};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::grant::grant_object::protocol::{
    AuditOf, CheckByAsk, ReconnectCheck, ResealAsk, StoreGrant, StoreOutcome, Stored, TokenAsk,
};
use crate::edge::grant::grant_object::refresh::{self, Change, Outcome};
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::oauth::platform::{self, IdentityFailure};
use crate::edge::webhooks::events::{self, Written};
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::Response;

/// Stores a consent's grant through the grant's object.
pub async fn store(cx: &Context, input: StoreGrant) -> Handled<StoreOutcome> {
    let grant_id = input.grant_id.clone();
    let mut answer = GrantObjectClient::new(cx, &grant_id).store(input).await?;
    if answer.status_code() != 200 {
        // The object's error bodies never carry tokens.
        let body = answer.text().await.unwrap_or_default();
        return Err(Internal::ObjectAnswered {
            command: "store",
            status: answer.status_code(),
            body,
        }
        .into());
    }
    Ok(answer.json().await?)
}

/// The grant's access token, as the object answers it: `{"access_token", "expires_at"}` or a
/// JSON error (`token_expired`, `not_found`, `connection_dead`, `internal_error`). With a
/// `connection_id`, the object serves it only while that connection is live and may act.
pub async fn access_token(
    cx: &Context,
    grant_id: &GrantId,
    tenant_id: &TenantId,
    connection_id: Option<&str>,
    account: &str,
    request: TokenRequest,
    audit: Option<AuditOf>,
) -> Handled<Response> {
    let ask = TokenAsk {
        grant_id: grant_id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        min_valid_seconds: request.min_valid_seconds,
        validate: request.validate,
        account: Some(account.to_owned()),
        connection_id: connection_id.map(str::to_owned),
        audit,
    };
    Ok(GrantObjectClient::new(cx, grant_id)
        .access_token(ask)
        .await?)
}

/// Inside the object: the grant's next check comes forward to `by` (unless it is earlier or
/// the grant is dead), and the pre-flight marks this satisfies are cleared, in one batch.
pub async fn check_by_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: CheckByAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let db = cx.db()?;
    let by = Timestamp::from_millis(ask.by);
    let results = Db::batch(
        &db,
        vec![
            writes::check_by(&ask.grant_id, by),
            store::targets::preflight_done(&ask.grant_id, by),
        ],
    )
    .await?;
    let moved = results.first().is_some_and(|r| r.changes == 1);
    Ok(respond::json(200, &json!({ "check_moved": moved }))?)
}

/// Seals the grant's tokens again under the active data key, through its object (the grant's
/// only writer): `true` when it did, `false` when there was nothing to do.
pub async fn reseal(cx: &Context, grant_id: &GrantId) -> Handled<bool> {
    let ask = ResealAsk {
        grant_id: grant_id.to_owned(),
    };
    let mut answer = GrantObjectClient::new(cx, grant_id).reseal(ask).await?;
    let body: serde_json::Value = answer.json().await?;
    if answer.status_code() != 200 {
        // The object's error bodies never carry tokens.
        return Err(Internal::ObjectAnswered {
            command: "reseal",
            status: answer.status_code(),
            body: body.to_string(),
        }
        .into());
    }
    Ok(body["resealed"] == true)
}

/// Inside the object: the same tokens at the same version, sealed under the active key. The
/// write is conditional on the row being as read, so a refresh that wrote meanwhile (sealing
/// under the active key itself) wins.
pub async fn reseal_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: ResealAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let db = cx.db()?;
    let nothing = || respond::json(200, &json!({ "resealed": false }));
    let Some(grant) = current(&db, &ask.grant_id).await? else {
        return Ok(nothing()?);
    };
    let (Some(blob), Some(key_id)) = (&grant.token_ciphertext, &grant.key_id) else {
        return Ok(nothing()?);
    };
    let sealed = Sealed::new(key_id, blob.clone());
    let resealed = cx
        .keyring()?
        .reseal(&sealed, binding(&grant.tenant_id, &grant.id, grant.version))
        .map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("The grant's tokens could not be resealed: {e}."),
            )
        })?;
    let Some(new) = resealed else {
        return Ok(nothing()?);
    };
    let written = db
        .run(writes::reseal(
            &grant.id,
            grant.version,
            (key_id, blob),
            (new.key_id.as_str(), &new.blob),
        ))
        .await?;
    Ok(respond::json(
        200,
        &json!({ "resealed": written.changes == 1 }),
    )?)
}

/// Inside the object: a consent's grant stored. Reads what is stored, asks the core's
/// [`consent::plan`], writes the plan in one batch, and answers with the connections stored.
pub async fn store_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    input: StoreGrant,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let now = clock::now(cx).await?;
    let db = cx.db()?;
    let existing = current(&db, &input.grant_id).await?;
    if let Some(check) = &input.reconnect {
        let refusal = reconnect_refusal(&db, existing.as_ref(), &input, check).await?;
        if let Some(refusal) = refusal {
            return Ok(respond::json(200, &refusal)?);
        }
    }
    // The scheduled check's slot: the row's sequence number, which a new row takes next (a
    // concurrent insert may take it first; then only this grant's first check is off its slot).
    let check_seq = match &existing {
        Some(found) => found.check_seq as u64,
        None => crate::store::grants::next_row_seq(&db).await? as u64,
    };
    let plan = plan_consent(cx, existing.as_ref(), &input, check_seq, now)?;
    let sealed = cx.keyring()?.seal(
        binding(&input.tenant_id, &input.grant_id, plan.version),
        &plan.tokens.to_bytes(),
    )?;
    let mut batch = vec![head_write(&input, &plan, &sealed, now)];
    batch.extend(connection_writes(&input, plan.version, now)?);
    let mut recorded = events::Recorded::default();
    if let Some(event) = &plan.event {
        // The guard checks what the UPDATE above writes: alive, refreshing ok.
        let written = Written {
            grant_id: &input.grant_id,
            version: plan.version,
            state: GrantState::Alive.as_str(),
            refresh_state: RefreshState::Ok.as_str(),
        };
        recorded.push(&mut batch, &written, event, None, now);
    }
    let results = Db::batch(&db, batch).await?;
    recorded.log(&results, &input.grant_id, now);
    if results.first().map(|r| r.changes) != Some(1) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The grant changed while it was being stored; nothing was written.",
        )
        .into());
    }
    let connection_ids = stored_connection_ids(&db, &input).await?;
    if existing.is_some() {
        // Every live connection hears of it, and posts parked while the grant was dead go out
        // again (or fail as stale).
        crate::edge::webhooks::outbox::hand_off(cx, &db, &input.grant_id, now).await;
        crate::edge::publish::dispatch::resume_parked(cx, &db, &input.grant_id, now).await;
    }
    Ok(respond::json(
        200,
        &StoreOutcome::Stored(Stored {
            connection_id: connection_ids[0].clone(),
            grant_id: input.grant_id,
            connection_ids,
            version: plan.version,
        }),
    )?)
}

/// The core's plan for the consent over the stored grant; another tenant's grant is a conflict.
fn plan_consent(
    cx: &Context,
    existing: Option<&CurrentGrant>,
    input: &StoreGrant,
    check_seq: u64,
    now: Timestamp,
) -> Handled<StorePlan> {
    let catalogue = cx.catalogue()?;
    let spec = catalogue.resolve(&input.provider).ok_or_else(|| {
        ApiError::new(
            ErrorCode::ProviderNotConfigured,
            format!("The provider {:?} is not in the catalogue.", input.provider),
        )
    })?;
    let keyring = cx.keyring()?;
    let stored = existing.map(|found| StoredGrant {
        tenant_id: &found.tenant_id,
        version: found.version,
        next_post_at: found.next_post_at,
        status: found.written_status(now),
    });
    let consent = Consent {
        tenant_id: &input.tenant_id,
        spec: &spec,
        tokens: input.tokens.clone(),
        issued_at: input.issued_at,
        lifetimes: input.lifetimes,
        warnings: cx.settings().warnings,
        check_seq,
        now,
    };
    let stored_refresh_token = || {
        let found = existing?;
        let sealed = Sealed::new(found.key_id.as_ref()?, found.token_ciphertext.clone()?);
        let bound = binding(&found.tenant_id, &input.grant_id, found.version);
        let bytes = keyring.open(&sealed, bound).ok()?;
        TokenSet::from_bytes(&bytes).ok()?.refresh_token
    };
    match consent::plan(consent, stored.as_ref(), stored_refresh_token) {
        Ok(plan) => Ok(plan),
        Err(Refusal::OtherTenant) => {
            Err(ApiError::new(ErrorCode::Conflict, "The grant belongs to another tenant.").into())
        }
    }
}

/// The grant's row: inserted at version 1, or restored over the version the plan replaces.
fn head_write(
    input: &StoreGrant,
    plan: &StorePlan,
    sealed: &Sealed,
    now: Timestamp,
) -> store::Statement {
    match plan.replaces {
        None => writes::insert(&writes::NewGrant {
            id: &input.grant_id,
            tenant_id: &input.tenant_id,
            provider: &input.provider,
            provider_account_id: &input.provider_account_id,
            client_id: &input.client_id,
            end_user_ref: &input.end_user_ref,
            scopes: input.scopes.as_deref(),
            token_ciphertext: &sealed.blob,
            key_id: sealed.key_id.as_str(),
            version: plan.version,
            access_expires_at: plan.access_expires_at,
            grant_expires_at: plan.grant_expires_at,
            refresh_policy: plan.policy.as_str(),
            next_check_at: plan.next_check_at,
            now,
        }),
        Some(old) => writes::restore(&writes::Restored {
            id: &input.grant_id,
            version: old,
            token_ciphertext: &sealed.blob,
            key_id: sealed.key_id.as_str(),
            scopes: input.scopes.as_deref(),
            access_expires_at: plan.access_expires_at,
            grant_expires_at: plan.grant_expires_at,
            next_check_at: plan.next_check_at,
            now,
        }),
    }
}

/// The consent's connections, upserted at `version`, and a reconnect link's nonce spent.
fn connection_writes(
    input: &StoreGrant,
    version: i64,
    now: Timestamp,
) -> Handled<Vec<store::Statement>> {
    let mut batch = Vec::with_capacity(input.connections.len() + 1);
    for connection in &input.connections {
        let id = crate::core::common::ids::ConnectionId::mint()?;
        batch.push(store::connections::upsert(
            &store::connections::NewConnection {
                id: &id,
                grant_id: &input.grant_id,
                tenant_id: &input.tenant_id,
                end_user_ref: &input.end_user_ref,
                kind: &connection.kind,
                external_id: &connection.external_id,
                display_name: connection.display_name.as_deref(),
                username: connection.username.as_deref(),
                grant_version: version,
                now,
            },
        ));
    }
    if let Some(check) = &input.reconnect {
        let nonce = store::connections::spend_nonce(&check.nonce, &input.grant_id, version, now);
        batch.push(nonce);
    }
    Ok(batch)
}

/// The ids of the consent's connections as stored, in the consent's order (the consenting
/// account first); never empty.
async fn stored_connection_ids(
    db: &worker::D1Database,
    input: &StoreGrant,
) -> Handled<Vec<String>> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
        kind: String,
        external_id: String,
    }
    let rows: Vec<Id> = db
        .all(store::connections::of_grant(&input.grant_id))
        .await?;
    let ids = input
        .connections
        .iter()
        .map(|c| {
            rows.iter()
                .find(|r| r.kind == c.kind && r.external_id == c.external_id)
                .map(|r| r.id.clone())
                .ok_or(Internal::Broken(
                    "a consent's connection row is there after its write",
                ))
        })
        .collect::<Result<Vec<String>, Internal>>()?;
    if ids.is_empty() {
        return Err(Internal::Broken("a consent stores at least one connection").into());
    }
    Ok(ids)
}

/// Why a reconnect must not store, if it must not: the grant gone or moved past the link's
/// epoch, the nonce consumed, or a consent for another account.
async fn reconnect_refusal(
    db: &worker::D1Database,
    existing: Option<&CurrentGrant>,
    input: &StoreGrant,
    check: &ReconnectCheck,
) -> Handled<Option<StoreOutcome>> {
    #[derive(Deserialize)]
    struct Used {
        used: f64,
    }
    let used: Option<Used> = db
        .first(store::connections::nonce_spent(&check.nonce))
        .await?;
    let consumed = used.is_some_and(|u| u.used == 1.0);
    // A grant whose tokens were deleted (disconnected) has nothing to restore.
    let live_epoch = existing
        .filter(|g| g.token_ciphertext.is_some())
        .map(|g| g.epoch);
    Ok(
        match (
            reconnect_links::check_use(check.epoch, live_epoch, consumed),
            existing,
        ) {
            (Err(LinkError::Used), _) => Some(StoreOutcome::LinkUsed),
            (Err(_), _) => Some(StoreOutcome::LinkStale),
            (Ok(()), Some(found))
                if found.provider_account_id != input.provider_account_id
                    || found.tenant_id != input.tenant_id =>
            {
                Some(StoreOutcome::WrongAccount)
            }
            _ => None,
        },
    )
}

/// Inside the object: the access token, refreshed first when it has less than the platform's
/// threshold (or the caller's `min_valid_seconds`) left, and checked with the platform first
/// when the caller asks to `validate`. `turns` makes the object's callers take turns: of N
/// concurrent callers on an expiring grant, the first refreshes and the others, re-reading
/// after it, find the new token: one provider call for all of them.
pub async fn access_token_in_object(
    cx: &Context,
    state: &worker::State,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: &TokenAsk,
) -> Handled {
    let refreshes_before = memory.refreshes();
    let _turn = turns.lock().await;
    // A refresh attempted while this reader waited for its turn is its refresh too: its
    // outcome (a new token, a backoff, a dead grant) is what the reader gets.
    let waited_on_refresh = memory.refreshes() != refreshes_before;
    let now = clock::now(cx).await?;
    let db = cx.db()?;
    let remembered = match memory.take().filter(|r| r.grant.id == ask.grant_id) {
        Some(remembered) => remembered,
        None => {
            let grant = current(&db, &ask.grant_id).await?.ok_or_else(|| {
                ApiError::new(ErrorCode::NotFound, "The connection has no stored grant.")
            })?;
            let tokens = match grant.state.as_str() {
                "dead" => None,
                _ => Some(open_tokens(cx, &grant)?),
            };
            let connections: Vec<LiveConnection> = db
                .all(store::connections::live_of_grant(&ask.grant_id))
                .await?;
            std::rc::Rc::new(Remembered {
                grant,
                tokens,
                connections,
            })
        }
    };
    let wrote = std::cell::Cell::new(false);
    let reader = Reader {
        ask,
        now,
        waited_on_refresh,
        memory,
        wrote: &wrote,
    };
    let served = serve_token(cx, state, &db, &remembered, &reader).await;
    // Kept unless the read may have written the grant (a refresh, a validation, a verdict).
    if !wrote.get() {
        memory.keep(remembered);
    }
    served
}

/// One reader's turn in the object.
struct Reader<'a> {
    ask: &'a TokenAsk,
    now: Timestamp,
    /// A refresh was attempted while this reader waited: it refreshes no more.
    waited_on_refresh: bool,
    memory: &'a Memory,
    /// Set before anything that may write the grant.
    wrote: &'a std::cell::Cell<bool>,
}

/// The token read proper, on the remembered grant.
async fn serve_token(
    cx: &Context,
    state: &worker::State,
    db: &worker::D1Database,
    remembered: &Remembered,
    reader: &Reader<'_>,
) -> Handled {
    let (ask, now, wrote) = (reader.ask, reader.now, reader.wrote);
    let grant = &remembered.grant;
    if grant.tenant_id != ask.tenant_id {
        return Err(
            ApiError::new(ErrorCode::NotFound, "The connection has no stored grant.").into(),
        );
    }
    if let Some(id) = &ask.connection_id {
        remembered.check_connection(id)?;
    }
    let Some(mut tokens) = remembered
        .tokens
        .clone()
        .filter(|_| grant.state != GrantState::DEAD)
    else {
        return Err(dead_error(grant).into());
    };
    let mut expires_at = grant.access_expires();
    let catalogue = cx.catalogue()?;
    let spec = spec_of(&catalogue, grant)?;
    let change = Change::new(cx, db, grant, &spec, now);
    let min_valid_ms = i64::from(ask.min_valid_seconds) * 1_000;
    let waiting = backing_off(grant, now);
    let mut failed = waiting.clone();
    let mut refreshed = false;
    let mut issued_at = grant.refreshed_at();
    if waiting.is_none()
        && !reader.waited_on_refresh
        && can_refresh(&spec.tokens, &tokens, expires_at, now)
        && needs_refresh(&spec.refresh, expires_at, issued_at, min_valid_ms, now)
    {
        refreshed = true;
        wrote.set(true);
        reader.memory.note_refresh();
        match refresh::refresh(&change, state, &tokens).await? {
            Outcome::Refreshed {
                tokens: renewed,
                access_expires_at,
            } => {
                tokens = renewed;
                expires_at = access_expires_at;
                issued_at = now;
            }
            Outcome::Failed { message } => failed = Some(message),
            Outcome::Dead(reason) => return Err(dead_verdict(reason).into()),
        }
    }
    let mut validation = None;
    if ask.validate {
        wrote.set(true);
        let (checked, renewed) = validate(
            &change,
            state,
            &tokens,
            ask.account.as_deref(),
            refreshed || reader.waited_on_refresh,
        )
        .await?;
        if let Some((renewed, access_expires_at)) = renewed {
            reader.memory.note_refresh();
            tokens = renewed;
            expires_at = access_expires_at;
            issued_at = now;
        }
        validation = Some(checked);
    }
    let served = Served {
        tokens,
        expires_at,
        issued_at,
        failed,
        validation,
    };
    token_answer(&spec, ask, served, min_valid_ms, now)
}

/// While backing off, the next attempt waits for its time (`next_check_at`): a platform having
/// a bad day gets one call per grant per backoff step, not one per reader. The last failure's
/// message while it waits.
fn backing_off(grant: &CurrentGrant, now: Timestamp) -> Option<String> {
    let waiting = grant.refresh_state != RefreshState::Ok.as_str()
        && grant.next_check_at.is_some_and(|retry| now < retry);
    waiting.then(|| {
        grant
            .last_error
            .clone()
            .unwrap_or_else(|| "Refreshing is backing off.".to_owned())
    })
}

/// What a read ends with: the tokens and their expiry, when they were issued, why a refresh
/// failed, and the validation's verdict.
struct Served {
    tokens: TokenSet,
    expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    failed: Option<String>,
    validation: Option<std::result::Result<(), String>>,
}

/// The token endpoint's answer: the connection's token (a Facebook Page's own, which does not
/// expire), refused as expired when it cannot last as long as asked.
fn token_answer(
    spec: &ProviderSpec,
    ask: &TokenAsk,
    served: Served,
    min_valid_ms: i64,
    now: Timestamp,
) -> Handled {
    let Served {
        mut tokens,
        mut expires_at,
        issued_at,
        failed,
        validation,
    } = served;
    // A Facebook Page's own token: it does not expire (Meta ends it, and validation says so).
    if let Some(token) = ask
        .account
        .as_ref()
        .and_then(|a| tokens.account_tokens.get(a))
    {
        tokens.access_token = token.clone();
        expires_at = None;
    } else if spec.dialect() == Some(GraphDialect::Facebook) {
        return Err(ApiError::new(
            ErrorCode::ConnectionDead,
            "No Page token is stored for this connection. Reconnect the account.",
        )
        .into());
    }
    let read = check_read(expires_at, issued_at, min_valid_ms, now);
    if read == TokenRead::Expired {
        let when = expires_at.map_or_else(String::new, |t| format!(" at {}", t.to_rfc3339()));
        let why = failed.unwrap_or_else(|| "Reconnect the account.".to_owned());
        return Err(ApiError::new(
            ErrorCode::TokenExpired,
            format!("The access token expires{when}, sooner than asked. {why}"),
        )
        .into());
    }
    let mut answer = json!({
        "access_token": tokens.access_token.expose(),
        "token_type": "bearer",
        "expires_at": expires_at.map(Timestamp::to_rfc3339),
    });
    if read == TokenRead::ShorterThanAsked {
        // The platform issues shorter tokens than asked: this is the freshest there is.
        answer["shorter_than_asked"] = json!(true);
    }
    // A DPoP-bound token (Bluesky) is no use without the key each request's proof is signed
    // with: it comes with the token, as secret as the token itself.
    if let Some(binding) = &tokens.dpop {
        answer["token_type"] = json!("DPoP");
        let mut jwk = crate::core::crypto::es256::Es256Key::from_secret(binding.key.expose())
            .map(|k| k.public_jwk())
            .unwrap_or_default();
        jwk["d"] = json!(binding.key.expose());
        answer["dpop"] = json!({ "jwk": jwk, "did": binding.did, "pds": binding.pds });
    }
    if let Some(checked) = validation {
        answer["validated"] = json!(checked.is_ok());
        if let Err(why) = checked {
            answer["validation_error"] = json!(why);
        }
    }
    Ok(respond::json(200, &answer)?)
}

/// The platform's identity call with the token. A refused token is refreshed once (unless the
/// read just did), then checked again; a refused token that cannot be refreshed means the
/// grant is dead. Answers whether the token checked out (or why it could not be told), and
/// the renewed tokens if a refresh happened.
async fn validate(
    change: &Change<'_>,
    state: &worker::State,
    tokens: &TokenSet,
    account: Option<&str>,
    refreshed: bool,
) -> Handled<(
    std::result::Result<(), String>,
    Option<(TokenSet, Option<Timestamp>)>,
)> {
    if change.spec.dialect() == Some(GraphDialect::Facebook) {
        let token = account
            .and_then(|a| tokens.account_tokens.get(a))
            .unwrap_or(&tokens.access_token);
        return Ok((validate_page_token(change, token).await?, None));
    }
    let checked = match &tokens.dpop {
        Some(binding) => {
            crate::edge::oauth::atproto_client::session(change.cx, binding, &tokens.access_token)
                .await
        }
        None => platform::fetch_identity(change.cx, change.spec, &tokens.access_token).await,
    };
    match checked {
        Ok(_) => {
            let grant = change.grant;
            change
                .db
                .run(writes::validated(&grant.id, grant.version, change.now))
                .await?;
            Ok((Ok(()), None))
        }
        Err(IdentityFailure::Failed(why)) => Ok((Err(why), None)),
        Err(IdentityFailure::TokenRefused(_)) if tokens.refresh_token.is_none() => {
            let counts = (change.grant.failure_streak as u32, 0);
            refresh::mark_dead(change, DeadReason::RevokedOrExpired, counts).await?;
            Err(dead_verdict(DeadReason::RevokedOrExpired).into())
        }
        Err(IdentityFailure::TokenRefused(status)) if refreshed => Ok((
            Err(format!(
                "The platform refused the token ({status}) right after a refresh."
            )),
            None,
        )),
        Err(IdentityFailure::TokenRefused(_)) => {
            match refresh::refresh(change, state, tokens).await? {
                Outcome::Refreshed {
                    tokens: renewed,
                    access_expires_at,
                } => {
                    let again =
                        platform::fetch_identity(change.cx, change.spec, &renewed.access_token)
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string());
                    Ok((again, Some((renewed, access_expires_at))))
                }
                Outcome::Failed { message } => Ok((Err(message), None)),
                Outcome::Dead(reason) => Err(dead_verdict(reason).into()),
            }
        }
    }
}

/// Facebook: `debug_token` on the Page's token. Meta's word that the grant ended is written
/// (dead, with its reason); a lost Page role is answered, and left for the sweep's
/// validation to write on that connection.
async fn validate_page_token(
    change: &Change<'_>,
    token: &crate::core::grant::grant_tokens::SecretText,
) -> Handled<std::result::Result<(), String>> {
    use crate::core::oauth::graph::TokenVerdict;
    let client = change.client().await?;
    let debug = match platform::debug_token(change.cx, change.spec, &client, token).await {
        Ok(debug) => debug,
        Err(why) => return Ok(Err(why)),
    };
    match debug.verdict() {
        None => Ok(Ok(())),
        Some(TokenVerdict::Ended(reason)) => {
            let counts = (change.grant.failure_streak as u32, 0);
            refresh::mark_dead(change, reason, counts).await?;
            Err(dead_verdict(reason).into())
        }
        Some(TokenVerdict::RoleLost) => Ok(Err(
            crate::core::oauth::managed_accounts::lost_message(change.spec),
        )),
        Some(TokenVerdict::Unknown) => Ok(Err("Meta did not say whether the token works.".into())),
    }
}
