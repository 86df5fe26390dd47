//! Test builds only: the probe behind the kill-mid-call spike (docs/spike-kill-mid-call.md).
//!
//! It refreshes a probe grant from inside the grant's Durable Object with the steps the design
//! prescribes before a provider call: a conditional claim in D1 (the write-ahead marker), then a
//! marker in the object's own storage, then the call, then a compare-and-swap on the version.
//! `tests/spike_kill_mid_call.rs` kills the runtime while the fake platform holds the call and
//! reads back what survived. Probe grants hold no tokens: the new ones are dropped, since
//! encryption at rest arrives with the connect slice.

use super::protocol::GrantObjectClient;
use super::writes::test_powers::{spike_insert, spike_release, spike_row, spike_swap, SpikeGrant};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::oauth::provider_rewrite;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time;
use crate::edge::grant::grant_object::protocol::RefreshProbe;
use crate::edge::http::http_client;
use crate::edge::http::respond::{self, Handled};
use crate::store::{tenants, Db};
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, RefreshToken, RequestTokenError, TokenResponse, TokenUrl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Result, State};

const SPIKE_TENANT: &str = "ten_spike";
const SPIKE_TENANT_NAME: &str = "kill-mid-call spike";
const X_TOKEN_URL: &str = "https://api.x.com/2/oauth2/token";
/// How long a claim keeps other refreshes of the grant out.
/// The object's storage key for the write-ahead marker.
const IN_FLIGHT: &str = "refresh_in_flight";
const LAST_OUTCOME: &str = "last_outcome";

fn rust_error(e: impl ToString) -> worker::Error {
    worker::Error::RustError(e.to_string())
}

#[derive(Deserialize)]
struct NewProbeGrant {
    provider_account_id: String,
}

/// `POST /__test/spike/grants`: a probe grant row at version 0 with no claim.
pub async fn create_grant(mut req: Request, cx: &Context, now: Timestamp) -> Handled {
    let body: NewProbeGrant = respond::read_json(&mut req).await?;
    let grant_id = GrantId::mint()?;
    let client_id = cx.text("X_CLIENT_ID").unwrap_or_default();
    let db = cx.db()?;
    if tenants::find(&db, SPIKE_TENANT).await?.is_none() {
        tenants::create(&db, SPIKE_TENANT, SPIKE_TENANT_NAME, now).await?;
    }
    db.write(spike_insert(&SpikeGrant {
        id: &grant_id,
        tenant_id: &SPIKE_TENANT.into(),
        provider: "x",
        provider_account_id: &body.provider_account_id,
        client_id: &client_id,
        end_user_ref: "spike",
        refresh_policy: "on_demand",
        now,
    }))
    .await?;
    Ok(respond::json(201, &json!({ "grant_id": grant_id }))?)
}

#[derive(Deserialize)]
struct GrantRow {
    version: f64,
    claim_id: Option<String>,
    claim_expires_at: Option<f64>,
    last_refresh_at: Option<f64>,
}

async fn grant_row(cx: &Context, grant_id: &GrantId) -> Result<Option<GrantRow>> {
    Ok(cx
        .db()?
        .first(spike_row(grant_id, &SPIKE_TENANT.into()))
        .await?)
}

/// `GET /__test/spike/grants/{id}`: the D1 row and the object's storage, side by side.
pub async fn inspect(cx: &Context, grant_id: &GrantId) -> Handled {
    let Some(row) = grant_row(cx, grant_id).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such probe grant.").into());
    };
    let mut object_reply = GrantObjectClient::new(cx, grant_id).spike_state().await?;
    let object: serde_json::Value = object_reply.json().await?;
    Ok(respond::json(
        200,
        &json!({
            "d1": {
                "version": row.version as i64,
                "claim_id": row.claim_id,
                "claim_expires_at": d1_time::json(row.claim_expires_at),
                "last_refresh_at": d1_time::json(row.last_refresh_at),
            },
            "object": object,
        }),
    )?)
}

/// `POST /__test/spike/grants/{id}/refresh` `{"refresh_token"}`: forwarded to the grant's object.
pub async fn refresh(mut req: Request, cx: &Context, grant_id: &GrantId) -> Handled {
    #[derive(Deserialize)]
    struct Body {
        refresh_token: String,
    }
    let body: Body = respond::read_json(&mut req).await?;
    let probe = RefreshProbe {
        grant_id: grant_id.to_owned(),
        refresh_token: body.refresh_token,
    };
    Ok(GrantObjectClient::new(cx, grant_id)
        .spike_refresh(probe)
        .await?)
}

#[derive(Serialize, Deserialize)]
struct InFlight {
    claim_id: crate::core::common::ids::ClaimId,
    version: i64,
    started_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Outcome {
    result: String,
    version: i64,
    at: Timestamp,
}

/// Inside the grant's object: claim, mark, call, compare-and-swap.
pub async fn refresh_in_object(state: &State, cx: &Context, probe: RefreshProbe) -> Handled {
    let now = clock::now(cx).await?;
    let Some(row) = grant_row(cx, &probe.grant_id).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such probe grant.").into());
    };
    let version = row.version as i64;
    let db = cx.db()?;

    // 1. The write-ahead marker in D1: a conditional claim on the current version.
    let claim_id = crate::core::common::ids::ClaimId::mint()?;
    let claimed = db
        .write(super::writes::claim_refresh(
            &probe.grant_id,
            version,
            &claim_id,
            now.plus_millis(super::refresh::CLAIM_TTL_MS),
            now,
        ))
        .await?;
    if claimed != 1 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "Another refresh holds this grant's claim, or its version moved.",
        )
        .into());
    }

    // 2. The object's own marker: a superseded instance would fail here, before the call.
    let storage = state.storage();
    storage
        .put(
            IN_FLIGHT,
            InFlight {
                claim_id: claim_id.clone(),
                version,
                started_at: now,
            },
        )
        .await?;

    // 3. The provider call.
    let outcome = call_token_endpoint(cx, probe.refresh_token).await?;
    let finished = clock::now(cx).await?;
    let (result, status, new_version) = match outcome {
        Ok(expires_in) => {
            // 4. Compare-and-swap on the version, releasing the claim.
            let swapped = db
                .write(spike_swap(
                    &probe.grant_id,
                    version,
                    &claim_id,
                    expires_in.map(|s| finished.plus_millis(s as i64 * 1000)),
                    finished,
                ))
                .await?;
            if swapped != 1 {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "The grant's version moved during the call.",
                )
                .into());
            }
            ("refreshed".to_owned(), 200, version + 1)
        }
        Err(reason) => {
            db.write(spike_release(&probe.grant_id, &claim_id)).await?;
            (reason, 502, version)
        }
    };
    storage.delete(IN_FLIGHT).await?;
    storage
        .put(
            LAST_OUTCOME,
            Outcome {
                result: result.clone(),
                version: new_version,
                at: finished,
            },
        )
        .await?;
    Ok(respond::json(
        status,
        &json!({ "outcome": result, "version": new_version }),
    )?)
}

/// `Ok(Ok(expires_in))` on success; `Ok(Err(reason))` when the platform refused or failed.
async fn call_token_endpoint(
    cx: &Context,
    refresh_token: String,
) -> Result<std::result::Result<Option<u64>, String>> {
    let fake = cx
        .text("FAKE_PLATFORM_URL")
        .ok_or_else(|| rust_error("FAKE_PLATFORM_URL is not set"))?;
    let client_id = cx
        .text("X_CLIENT_ID")
        .ok_or_else(|| rust_error("X_CLIENT_ID is not set"))?;
    let client_secret = cx
        .text("X_CLIENT_SECRET")
        .ok_or_else(|| rust_error("X_CLIENT_SECRET is not set"))?;
    let token_url = provider_rewrite::rewrite(X_TOKEN_URL, &fake).map_err(rust_error)?;
    let client = BasicClient::new(ClientId::new(client_id))
        .set_client_secret(ClientSecret::new(client_secret))
        .set_token_uri(TokenUrl::new(token_url).map_err(rust_error)?);
    let result = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token))
        .request_async(&http_client::send)
        .await;
    Ok(match result {
        Ok(tokens) => Ok(tokens.expires_in().map(|d| d.as_secs())),
        Err(RequestTokenError::ServerResponse(e)) => Err(format!("rejected: {}", e.error())),
        Err(RequestTokenError::Request(e)) => Err(format!("request failed: {e}")),
        Err(RequestTokenError::Parse(_, _)) => Err("unparseable token response".to_owned()),
        Err(RequestTokenError::Other(e)) => Err(format!("failed: {e}")),
    })
}

/// Inside the grant's object: what its storage holds.
pub async fn object_state(state: &State) -> Handled {
    let storage = state.storage();
    let in_flight: Option<InFlight> = storage.get(IN_FLIGHT).await?;
    let last_outcome: Option<Outcome> = storage.get(LAST_OUTCOME).await?;
    Ok(respond::json(
        200,
        &json!({ "refresh_in_flight": in_flight, "last_outcome": last_outcome }),
    )?)
}
