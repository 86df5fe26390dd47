//! Benchmark probes (`/__bench/…`), only in builds with the `bench` feature: the bench build
//! `scripts/bench` measures (the release build plus these routes) and the test build. Never in
//! a release build (`scripts/check-release-bundle` looks for [`OBJECT_PATH`]).
//!
//! The two baselines are open; the other probes need the operator secret.
//!
//! - `GET /__bench/noop`: answers at once; the floor of any route.
//! - `GET /__bench/object/{name}`: one round trip to a Durable Object of the grants' class that
//!   reads its storage; the one hop a token read cannot avoid.
//! - `POST /__bench/seed`: stores grants with the tokens it is given, through the grants' real
//!   store path (their objects), so the bench has sealed grants to read and refresh.
//! - `GET /__bench/grant-versions`: how many grants stand at each version and state (a
//!   refresh moves a grant one version on: the bench's lost and double refreshes).
//! - `GET /__bench/fetch?url=…&n=…&concurrency=…`: `n` plain GETs of `url` from the worker,
//!   `concurrency` at a time, timed: the loopback fetch rate a refresh is compared with.
//! - `GET /__bench/d1?n=…`: `n` D1 round trips one after the other (a one-row read), timed:
//!   what each of a refresh's D1 calls costs.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::{GrantId, TenantId};
use crate::core::grant::grant_expiry::Lifetimes;
use crate::core::grant::grant_tokens::{SecretText, TokenSet};
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::tenancy::auth::authorize_operator;
use crate::edge::common::context::Context;
use crate::edge::grant::grant_object::grants::{self};
use crate::edge::grant::grant_object::protocol::{NewConnection, StoreGrant, StoreOutcome};
use crate::edge::http::respond::{self, Handled};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response, State};

/// The object's path for the bare read; also the release-bundle check's marker for this code.
pub const OBJECT_PATH: &str = "/evergreen-bench-object/read";

/// At most this many grants per seed request (each is one object call).
const SEED_BATCH: usize = 200;

pub async fn handle(mut req: Request, cx: &Context, path: &str, now: Timestamp) -> Handled {
    let method = req.method().to_string();
    let probe = path.trim_start_matches("/__bench/");
    // The baselines stay bare; everything that writes, reaches out or reads rows needs the
    // operator secret, as the test routes do.
    if probe != "noop" && !probe.starts_with("object/") {
        let authorization = req.headers().get("authorization")?;
        let secret = cx.text(crate::edge::common::bindings::OPERATOR_SECRET);
        authorize_operator(authorization.as_deref(), secret.as_deref())?;
    }
    match (method.as_str(), probe) {
        ("GET", "noop") => Ok(respond::json(200, &json!({ "ok": true }))?),
        ("GET", name) if name.starts_with("object/") => {
            let stub = cx
                .env()
                .durable_object(crate::edge::common::bindings::GRANT_OBJECTS)?
                .id_from_name(&format!("bench-{}", &name["object/".len()..]))?
                .get_stub()?;
            let answer = stub
                .fetch_with_str(&format!("https://grant-object{OBJECT_PATH}"))
                .await?;
            Ok(answer)
        }
        ("POST", "seed") => {
            let body: Seed = respond::read_own_json(&mut req).await?;
            seed(cx, body, now).await
        }
        ("GET", "grant-versions") => grant_versions(cx).await,
        ("GET", "fetch") => fetch_rate(&req.url()?).await,
        ("GET", "d1") => d1_rate(cx, &req.url()?).await,
        _ => Err(ApiError::not_found(path).into()),
    }
}

/// Inside the object: one storage read, nothing else.
pub async fn read_in_object(state: &State) -> worker::Result<Response> {
    let reads: Option<u64> = state.storage().get("bench-reads").await?;
    respond::json(200, &json!({ "reads": reads.unwrap_or(0) }))
}

#[derive(Deserialize)]
struct Seed {
    tenant_id: TenantId,
    provider: String,
    client_id: String,
    end_user_ref: String,
    kind: String,
    /// The access tokens' lifetime, from now.
    expires_in: u64,
    grants: Vec<SeedGrant>,
}

#[derive(Deserialize)]
struct SeedGrant {
    account_id: String,
    access_token: String,
    refresh_token: String,
}

async fn seed(cx: &Context, body: Seed, now: Timestamp) -> Handled {
    if body.grants.len() > SEED_BATCH {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("At most {SEED_BATCH} grants per seed request."),
        )
        .into());
    }
    let mut inputs = Vec::with_capacity(body.grants.len());
    for g in &body.grants {
        inputs.push(StoreGrant {
            grant_id: GrantId::mint()?,
            tenant_id: body.tenant_id.clone(),
            provider: body.provider.clone(),
            provider_account_id: g.account_id.clone(),
            client_id: body.client_id.clone(),
            end_user_ref: body.end_user_ref.clone(),
            scopes: None,
            tokens: TokenSet {
                access_token: SecretText::new(g.access_token.as_str()),
                refresh_token: Some(SecretText::new(g.refresh_token.as_str())),
                account_tokens: Default::default(),
                dpop: None,
            },
            issued_at: now,
            lifetimes: Lifetimes {
                expires_in: Some(body.expires_in),
                refresh_expires_in: None,
            },
            connections: vec![NewConnection {
                kind: body.kind.clone(),
                external_id: g.account_id.clone(),
                display_name: None,
                username: None,
            }],
            reconnect: None,
        });
    }
    let stored =
        futures_util::future::join_all(inputs.into_iter().map(|i| grants::store(cx, i))).await;
    let mut connection_ids = Vec::with_capacity(stored.len());
    for outcome in stored {
        match outcome? {
            StoreOutcome::Stored(s) => connection_ids.push(s.connection_id),
            _ => return Err(ApiError::internal().into()),
        }
    }
    Ok(respond::json(
        200,
        &json!({ "connection_ids": connection_ids }),
    )?)
}

async fn grant_versions(cx: &Context) -> Handled {
    #[derive(Deserialize, serde::Serialize)]
    struct Count {
        version: f64,
        state: String,
        n: f64,
    }
    let counts: Vec<Count> =
        crate::store::Db::all(&cx.db()?, crate::store::operations::grant_versions()).await?;
    Ok(respond::json(200, &json!({ "counts": counts }))?)
}

async fn fetch_rate(url: &worker::Url) -> Handled {
    let query: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let target = query.get("url").cloned().unwrap_or_default();
    let number = |name: &str| query.get(name).and_then(|n| n.parse::<usize>().ok());
    let (Some(n), Some(concurrency), Ok(target)) = (
        number("n"),
        number("concurrency"),
        worker::Url::parse(&target),
    ) else {
        return Err(
            ApiError::new(ErrorCode::InvalidRequest, "Give url, n and concurrency.").into(),
        );
    };
    let started = crate::edge::common::clock::real_now();
    let mut failed = 0;
    let mut left = n;
    while left > 0 {
        let round = left.min(concurrency.max(1));
        left -= round;
        let calls = (0..round).map(|_| get(&target));
        for outcome in futures_util::future::join_all(calls).await {
            if !matches!(outcome, Ok(200)) {
                failed += 1;
            }
        }
    }
    let took_ms = crate::edge::common::clock::real_now().as_millis() - started.as_millis();
    Ok(respond::json(
        200,
        &json!({ "n": n, "failed": failed, "took_ms": took_ms }),
    )?)
}

async fn get(url: &worker::Url) -> worker::Result<u16> {
    let mut answer = worker::Fetch::Url(url.clone()).send().await?;
    answer.text().await?;
    Ok(answer.status_code())
}

async fn d1_rate(cx: &Context, url: &worker::Url) -> Handled {
    let n = url
        .query_pairs()
        .find(|(k, _)| k == "n")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(100);
    let db = cx.db()?;
    let started = crate::edge::common::clock::real_now();
    for _ in 0..n {
        crate::store::Db::run(&db, crate::store::operations::round_trip()).await?;
    }
    let took_ms = crate::edge::common::clock::real_now().as_millis() - started.as_millis();
    Ok(respond::json(200, &json!({ "n": n, "took_ms": took_ms }))?)
}
