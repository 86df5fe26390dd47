//! Meta's push signals that access ended, both verified with `core::oauth::signed_request` against
//! the app secret of every OAuth client this deployment holds for the provider:
//!
//! - `POST /platforms/{provider}/deauthorize`: the person removed the app. Each of their live
//!   grants through that app turns red at once (`app_removed`), through its Durable Object,
//!   with its event.
//! - `POST /platforms/{provider}/data-deletion`: the person asks for their data to go. Each of
//!   their connections through that app is disconnected through its grant's object (the
//!   disconnect rules: the tokens are deleted with the last connection; metadata stays as
//!   history). Meta requires the answer `{"url", "confirmation_code"}`; the URL is
//!   `GET /platforms/{provider}/data-deletion/{code}`, a page saying what was done.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::common::log::LogLine;
use crate::core::crypto::digest::sha256_hex;
use crate::core::grant::grant_health::GrantState;
use crate::core::grant::refresh_failure::DeadReason;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::pages::Page;
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::signed_request::{self, SignedRequest};
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;
use crate::edge::grant::grant_object::current::{current, Memory};
use crate::edge::grant::grant_object::protocol::DisconnectAsk;
use crate::edge::grant::grant_object::protocol::EndedAsk;
use crate::edge::grant::grant_object::protocol::GrantObjectClient;
use crate::edge::grant::grant_object::refresh::{mark_dead, Change};
use crate::edge::http::public_url;
use crate::edge::http::respond::{self, Handled};
use crate::edge::oauth::platform;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::{D1Database, Request};

/// Meta posts a small form; anything larger is not Meta.
const MAX_BODY: usize = 16 * 1024;

/// The provider, if it speaks Meta's dialect (only those get callbacks).
fn meta_provider(cx: &Context, name: &str) -> Handled<ProviderSpec> {
    let catalogue = cx.catalogue()?;
    catalogue
        .get(name)
        .filter(|p| p.graph.is_some())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("{name:?} is not a Meta provider on this deployment."),
            )
            .into()
        })
}

/// The verified request and the client whose secret signed it.
async fn verified(
    req: &mut Request,
    cx: &Context,
    db: &D1Database,
    spec: &ProviderSpec,
) -> Handled<(SignedRequest, String)> {
    let body = respond::read_body(req).await?;
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "Meta's callbacks are small forms; this body is larger than 16 KiB.",
        )
        .into());
    }
    let signed = oauth2::url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "signed_request")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| {
            ApiError::invalid_request("The form has no signed_request field, as Meta sends it.")
        })?;
    let mut refusal = signed_request::SignedRequestError::BadSignature;
    let clients = platform::all_clients(cx, db, spec)
        .await
        .map_err(worker::Error::RustError)?;
    for client in clients {
        match signed_request::verify(&signed, client.client_secret.expose()) {
            Ok(read) => return Ok((read, client.client_id)),
            Err(e) => refusal = e,
        }
    }
    Err(ApiError::new(
        ErrorCode::Unauthorized,
        format!("The signed_request was refused: {refusal}."),
    )
    .into())
}

#[derive(Deserialize)]
struct GrantRow {
    id: GrantId,
}

/// The person's grants through `client_id` that still hold tokens.
async fn grants_of(
    db: &D1Database,
    spec: &ProviderSpec,
    client_id: &str,
    user_id: &str,
) -> worker::Result<Vec<GrantRow>> {
    Ok(db
        .all(store::grants::of_platform_user(
            &spec.name, client_id, user_id,
        ))
        .await?)
}

/// `POST /platforms/{provider}/deauthorize`.
pub async fn deauthorize(mut req: Request, cx: &Context, provider: &str) -> Handled {
    let spec = meta_provider(cx, provider)?;
    let db = cx.db()?;
    let (signed, client_id) = verified(&mut req, cx, &db, &spec).await?;
    let found = grants_of(&db, &spec, &client_id, &signed.user_id).await?;
    let mut ended = 0;
    for grant in &found {
        let ask = EndedAsk {
            grant_id: grant.id.clone(),
            reason: DeadReason::AppRemoved.code().to_owned(),
        };
        let answer = GrantObjectClient::new(cx, &grant.id)
            .platform_ended(ask)
            .await?;
        if answer.status_code() == 200 {
            ended += 1;
        }
    }
    logging::emit(
        &LogLine::info("meta.deauthorized", clock::real_now())
            .field("provider", spec.name.as_str())
            .field("grants", found.len())
            .field("ended", ended),
    );
    Ok(respond::json(200, &json!({ "grants_ended": ended }))?)
}

/// `POST /platforms/{provider}/data-deletion`.
pub async fn data_deletion(
    mut req: Request,
    cx: &Context,
    provider: &str,
    now: Timestamp,
) -> Handled {
    let spec = meta_provider(cx, provider)?;
    let db = cx.db()?;
    let (signed, client_id) = verified(&mut req, cx, &db, &spec).await?;
    let found = grants_of(&db, &spec, &client_id, &signed.user_id).await?;
    let (mut disconnected, mut failed) = (0_u32, 0_u32);
    for grant in &found {
        #[derive(Deserialize)]
        struct Connection {
            id: String,
            tenant_id: TenantId,
        }
        let live: Vec<Connection> = db.all(store::connections::live_of_grant(&grant.id)).await?;
        for c in live {
            let ask = DisconnectAsk {
                grant_id: grant.id.clone(),
                tenant_id: c.tenant_id,
                connection_id: c.id,
            };
            let answer = GrantObjectClient::new(cx, &grant.id)
                .disconnect(ask)
                .await?;
            if answer.status_code() == 200 {
                disconnected += 1;
            } else {
                failed += 1;
            }
        }
    }
    let code = crate::core::common::ids::DeletionCode::mint()?;
    let status = if failed == 0 { "complete" } else { "partial" };
    db.write(store::operations::record_deletion(
        &store::operations::Deletion {
            code: &code,
            provider: &spec.name,
            user_hash: &sha256_hex(&signed.user_id),
            grants: found.len() as i64,
            connections: disconnected.into(),
            status,
            requested_at: now,
            completed_at: (failed == 0).then_some(now),
        },
    ))
    .await?;
    logging::emit(
        &LogLine::info("meta.data_deletion", clock::real_now())
            .field("provider", spec.name.as_str())
            .field("code", code.as_str())
            .field("connections", disconnected)
            .field("failed", failed),
    );
    let origin = public_url::origin(cx, &req)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "The request has no usable origin."))?;
    let url = format!(
        "{}/platforms/{}/data-deletion/{code}",
        origin.to_url(),
        spec.name
    );
    Ok(respond::json(
        200,
        &json!({ "url": url, "confirmation_code": code }),
    )?)
}

/// `GET /platforms/{provider}/data-deletion/{code}`: the status page Meta links the person to.
pub async fn deletion_status(cx: &Context, provider: &str, code: &str) -> Handled {
    #[derive(Deserialize)]
    struct Row {
        status: String,
        connections: f64,
        requested_at: f64,
    }
    // Codes Evergreen issues are short; anything longer is unknown without a lookup.
    let row: Option<Row> = if code.len() > 100 {
        None
    } else {
        cx.db()?
            .first(store::operations::deletion(code, provider))
            .await?
    };
    let page = match row {
        None => Page::new(
            404,
            "Unknown deletion request",
            "No data-deletion request has this confirmation code.",
        ),
        Some(row) => {
            let when = crate::edge::common::d1_time::read(row.requested_at).to_rfc3339();
            let (title, text) = match row.status.as_str() {
                "complete" => (
                    "Your data was deleted",
                    "Every connection made through this app was removed and its access tokens \
                     deleted.",
                ),
                _ => (
                    "Your data is being deleted",
                    "Some connections could not be removed yet; they are removed as soon as \
                     possible.",
                ),
            };
            Page::new(200, title, text)
                .detail("Confirmation code", code)
                .detail("Requested", &when)
                .detail("Connections removed", &(row.connections as u64).to_string())
        }
    };
    Ok(respond::page(&page)?)
}

/// Inside the object: the grant is dead by the platform's word (its event follows), unless it
/// is already dead or gone.
pub async fn ended_in_object(
    cx: &Context,
    turns: &futures_util::lock::Mutex<()>,
    memory: &Memory,
    ask: EndedAsk,
) -> Handled {
    let _turn = turns.lock().await;
    memory.forget();
    let now = clock::now(cx).await?;
    let db = cx.db()?;
    let Some(grant) = current(&db, &ask.grant_id).await? else {
        return Err(ApiError::new(ErrorCode::NotFound, "No such grant.").into());
    };
    if grant.state == GrantState::DEAD || grant.token_ciphertext.is_none() {
        return Ok(respond::json(
            200,
            &json!({ "grant_id": grant.id, "did": "nothing" }),
        )?);
    }
    let catalogue = cx.catalogue()?;
    let spec = crate::edge::grant::grant_object::current::spec_of(&catalogue, &grant)?;
    let change = Change::new(cx, &db, &grant, &spec, now);
    let reason = DeadReason::from_code(Some(&ask.reason));
    let counts = (grant.failure_streak as u32, grant.failure_days as u32);
    mark_dead(&change, reason, counts).await?;
    Ok(respond::json(
        200,
        &json!({ "grant_id": grant.id, "did": "dead" }),
    )?)
}
