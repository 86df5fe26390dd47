//! `DELETE /v1/connections/{id}`: disconnect, carried out in the grant's Durable Object.
//!
//! The object marks the connection disconnected (with its `connection.disconnected` event)
//! and bumps the grant's epoch, so no reconnect link made before brings it back. When the
//! grant's last connection goes, the ciphertext is deleted (history keeps metadata), and the
//! grant is revoked at the platform only under `core::grant::disconnect`'s rule: no other live grant,
//! in any tenant or for any end user, shares the client credentials and the provider account.

use super::protocol::GrantObjectClient;
use super::writes;
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::grant::disconnect::{decide, Revoke};
use crate::core::grant::grant_events;
use crate::core::grant::grant_events::Transition;
use crate::core::grant::grant_health::GrantState;
use crate::core::grant::grant_tokens::TokenSet;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::catalogue::ProviderSpec;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::current::CurrentGrant;
use crate::edge::grant::grant_object::current::{current, Memory};
use crate::edge::grant::grant_object::protocol::{DisconnectAsk, EraseAsk};
use crate::edge::http::respond::{self, Handled, Internal};
use crate::edge::oauth::platform;
use crate::edge::tenancy::caller::Caller;
use crate::edge::webhooks::events::{self, Written};
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::D1Database;

/// The API route: finds the connection in the caller's tenant, then asks its grant's object.
pub async fn disconnect(cx: &Context, db: &D1Database, caller: &Caller, id: &str) -> Handled {
    let grant_id = crate::edge::grant::connection_reads::live_grant_of(db, caller, id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("No connection {id}.")))?;
    let ask = DisconnectAsk {
        grant_id: grant_id.clone(),
        tenant_id: caller.tenant_id.clone(),
        connection_id: id.to_owned(),
    };
    Ok(GrantObjectClient::new(cx, &grant_id)
        .disconnect(ask)
        .await?)
}

/// What disconnecting one connection through its grant's object came to.
pub(in crate::edge) enum Disconnected {
    /// Disconnected now; whether the platform revoked the grant.
    Now { revoked_at_platform: bool },
    /// It was not live any more (or not this tenant's): nothing to do.
    Already,
}

/// Disconnects a connection through its grant's object, as `DELETE /v1/connections/{id}` does
/// (erasure uses it). An answer other than done or not-found is an error.
pub(in crate::edge) async fn through_object(
    cx: &Context,
    tenant_id: &TenantId,
    grant_id: &GrantId,
    connection_id: &str,
) -> Handled<Disconnected> {
    let ask = DisconnectAsk {
        grant_id: grant_id.to_owned(),
        tenant_id: tenant_id.to_owned(),
        connection_id: connection_id.to_owned(),
    };
    let mut answer = GrantObjectClient::new(cx, grant_id).disconnect(ask).await?;
    match answer.status_code() {
        200 => {
            let body: serde_json::Value = answer.json().await?;
            Ok(Disconnected::Now {
                revoked_at_platform: body["revoked_at_platform"] == json!(true),
            })
        }
        404 => Ok(Disconnected::Already),
        status => Err(Internal::ObjectAnswered {
            command: "disconnect",
            status,
            body: answer.text().await.unwrap_or_default(),
        }
        .into()),
    }
}

/// Inside the object.
pub async fn disconnect_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: DisconnectAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let now = clock::now(cx).await?;
    let db = cx.db()?;
    let not_found = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("No connection {}.", ask.connection_id),
        )
    };
    let grant = current(&db, &ask.grant_id)
        .await?
        .filter(|g| g.tenant_id == ask.tenant_id)
        .ok_or_else(not_found)?;
    let counts = live_counts(&db, &ask.connection_id, &grant)
        .await?
        .ok_or_else(not_found)?;
    let catalogue = cx.catalogue()?;
    let spec = catalogue.resolve(&grant.provider);
    let holds_tokens = grant.token_ciphertext.is_some() && grant.state != GrantState::DEAD;
    let plan = decide(
        counts.others_live as u32,
        counts.other_grants as u32,
        // Bluesky's revocation endpoint is the account's authorization server's, found at
        // the consent.
        spec.as_deref()
            .is_some_and(|s| s.revoke_url.is_some() || s.atproto.is_some()),
        holds_tokens,
    );
    // Opened before the ciphertext goes, for the revocation after the write.
    let tokens = match plan.revoke {
        Revoke::AtPlatform => {
            crate::edge::grant::grant_object::current::open_tokens(cx, &grant).ok()
        }
        Revoke::Skipped(_) => None,
    };
    let event = grant_events::disconnected(grant.written_status(now), grant.epoch + 1);
    let (batch, recorded) =
        disconnect_batch(&grant, &event, &ask.connection_id, plan.delete_tokens, now);
    let results = Db::batch(&db, batch).await?;
    recorded.log(&results, &grant.id, now);
    if results.last().map(|r| r.changes) != Some(1) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "The grant changed while disconnecting; nothing was written. Try again.",
        )
        .into());
    }
    crate::edge::webhooks::outbox::hand_off(cx, &db, &grant.id, now).await;
    // Whether the platform revoked it; else which field says why not.
    let (revoked, why_not) =
        revoke(cx, &db, &grant, plan.revoke, tokens, spec.as_deref(), now).await;
    logging::emit(
        &LogLine::info("connection.disconnected", now)
            .field("grant_id", grant.id.as_str())
            .field("connection_id", ask.connection_id.as_str())
            .field("tokens_deleted", plan.delete_tokens)
            .field("revoked_at_platform", revoked),
    );
    let mut answer = json!({
        "connection_id": ask.connection_id,
        "disconnected": true,
        "grant_deleted": plan.delete_tokens,
        "revoked_at_platform": revoked,
    });
    if let Some((field, text)) = why_not {
        answer[field] = json!(text);
    }
    Ok(respond::json(200, &answer)?)
}

/// The disconnect's one batch: the `connection.disconnected` event first (its insert reads the
/// connection as live), the connection, then the grant, guarded on its version.
fn disconnect_batch<'t>(
    grant: &CurrentGrant,
    event: &'t Transition,
    connection_id: &str,
    delete_tokens: bool,
    now: Timestamp,
) -> (Vec<store::Statement>, events::Recorded<'t>) {
    let version = grant.version;
    let written = Written {
        grant_id: &grant.id,
        version,
        state: &grant.state,
        refresh_state: &grant.refresh_state,
    };
    let mut batch = Vec::new();
    let mut recorded = events::Recorded::default();
    recorded.push(&mut batch, &written, event, Some(connection_id), now);
    batch.push(store::connections::disconnect(
        connection_id,
        &grant.id,
        version,
        now,
    ));
    batch.push(writes::disconnect(&grant.id, version, delete_tokens, now));
    (batch, recorded)
}

/// How many connections the disconnect leaves: `None` when the connection is not live (gone,
/// or already disconnected).
async fn live_counts(
    db: &worker::D1Database,
    connection_id: &str,
    grant: &CurrentGrant,
) -> Handled<Option<Counts>> {
    let counts: Option<Counts> = db
        .first(store::connections::disconnect_counts(
            &store::connections::DisconnectAsk {
                connection_id,
                grant_id: &grant.id,
                provider: &grant.provider,
                provider_account_id: &grant.provider_account_id,
                client_id: &grant.client_id,
            },
        ))
        .await?;
    Ok(counts.filter(|c| c.this_live >= 1.0))
}

/// The connections around a disconnect: this one live, the grant's other live ones, and the
/// end user's other grants for the same account.
#[derive(Deserialize)]
struct Counts {
    this_live: f64,
    others_live: f64,
    other_grants: f64,
}

/// The revocation the plan asks for, after the write: whether the platform revoked the
/// tokens, else the answer's field that says why not (`revoke_error`, `revoke_skipped`).
async fn revoke(
    cx: &Context,
    db: &worker::D1Database,
    grant: &CurrentGrant,
    plan: Revoke,
    tokens: Option<TokenSet>,
    spec: Option<&ProviderSpec>,
    now: Timestamp,
) -> (bool, Option<(&'static str, String)>) {
    match (plan, tokens, spec) {
        (Revoke::AtPlatform, Some(tokens), Some(spec)) => {
            match revoke_at_platform(cx, db, &grant.tenant_id, spec, &tokens).await {
                Ok(()) => (true, None),
                Err(why) => {
                    logging::emit(
                        &LogLine::warn("grant.revoke_failed", now)
                            .field("grant_id", grant.id.as_str())
                            .field("error", why.as_str()),
                    );
                    (false, Some(("revoke_error", why)))
                }
            }
        }
        (Revoke::Skipped(why), _, _) => (false, Some(("revoke_skipped", why.to_owned()))),
        _ => (
            false,
            Some(("revoke_error", "the tokens could not be opened".to_owned())),
        ),
    }
}

/// Revokes the grant's refresh token (else its access token) with the tenant's client.
async fn revoke_at_platform(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    spec: &ProviderSpec,
    tokens: &TokenSet,
) -> Result<(), String> {
    let client = platform::client_credentials(cx, db, tenant_id, spec)
        .await?
        .ok_or_else(|| "no OAuth client is configured any more".to_owned())?;
    if let Some(binding) = &tokens.dpop {
        let token = tokens
            .refresh_token
            .as_ref()
            .unwrap_or(&tokens.access_token);
        return crate::edge::oauth::atproto_client::revoke(cx, &client, binding, token).await;
    }
    match &tokens.refresh_token {
        Some(refresh) => platform::revoke(cx, spec, &client, refresh, true).await,
        None => platform::revoke(cx, spec, &client, &tokens.access_token, false).await,
    }
}

/// Erasure deletes a grant through its object (the grant's only writer), which forgets what it
/// remembers of it, opened tokens included. `true` when the row went now.
pub(in crate::edge) async fn erase_through_object(
    cx: &Context,
    grant_id: &GrantId,
) -> Handled<bool> {
    let ask = EraseAsk {
        grant_id: grant_id.to_owned(),
    };
    let mut answer = GrantObjectClient::new(cx, grant_id).erase(ask).await?;
    match answer.status_code() {
        200 => {
            let body: serde_json::Value = answer.json().await?;
            Ok(body["erased"] == json!(true))
        }
        status => Err(Internal::ObjectAnswered {
            command: "erase",
            status,
            body: answer.text().await.unwrap_or_default(),
        }
        .into()),
    }
}

/// Inside the object: the row goes if no connection of it is left.
pub async fn erase_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: EraseAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let db = cx.db()?;
    let erased = db.write(writes::erase(&ask.grant_id)).await?;
    Ok(respond::json(200, &json!({ "erased": erased == 1 }))?)
}
