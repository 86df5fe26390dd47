//! The edge: wasm-only glue between the Workers runtime and the pure core.
//!
//! Handlers here read the request, the clock and storage, call the core for every decision,
//! and write back. They never panic on bad input: every failure becomes a JSON error with a
//! stable code (see `core::http::api_error`) and a structured log line.
#![warn(clippy::too_many_lines)]

#[cfg(feature = "bench")]
mod bench;
mod common;
mod cron;
mod grant;
mod http;
mod links;
mod oauth;
mod publish;
mod queues;
mod tenancy;
#[cfg(feature = "test-powers")]
mod test_powers;
mod webhooks;

pub use grant::grant_object::GrantObject;

use common::context::Context;
use common::{clock, logging};
use http::{healthz, respond};
use links::{connections_page, reconnect};
use oauth::{callback, connect, meta_callbacks};
use tenancy::{admin, tenant_api};

use crate::core::common::log::LogLine;
use crate::core::http::routes::{self, BrowserRoute, PlatformRoute, Route};
use worker::{event, Env, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: worker::Context) -> Result<Response> {
    let cx = Context::new(env);
    let started = clock::real_now();
    let method = req.method().to_string();
    // The path only: query strings can carry OAuth codes and state, which are never logged.
    let path = req.path();
    let now = clock::now(&cx).await;
    let response = match (routes::resolve_endpoint(&method, &path), now) {
        #[cfg(feature = "bench")]
        (Err(_), Ok(now)) if path.starts_with("/__bench/") => {
            respond::answer(bench::handle(req, &cx, &path, now).await, "bench.failed")
        }
        (Err(api_error), _) => respond::error(&api_error),
        (Ok(_), Err(e)) => respond::internal("clock.read_failed", &e),
        (Ok((route, endpoint)), Ok(now)) => respond::answer(
            handle(route, endpoint, req, &cx, &ctx, now).await,
            "http.handler_failed",
        ),
    };
    let response = response.or_else(|_| Response::error("internal_error", 500))?;
    logging::emit(
        &LogLine::info("http.request", started)
            .field("method", method)
            .field("path", routes::loggable_path(&path))
            .field("status", response.status_code())
            .field(
                "duration_ms",
                clock::real_now().as_millis() - started.as_millis(),
            ),
    );
    Ok(response)
}

async fn handle(
    route: Route,
    endpoint: &routes::Endpoint,
    req: Request,
    cx: &Context,
    ctx: &worker::Context,
    now: crate::core::common::clock::Timestamp,
) -> respond::Handled {
    match route {
        Route::Healthz => Ok(healthz::handle(cx, now).await?),
        Route::Page(page_route) => connections_page::handle(page_route, req, cx, now).await,
        Route::Admin(admin_route) => admin::handle(admin_route, req, cx, now).await,
        Route::Tenant(tenant_route) => {
            tenant_api::handle(tenant_route, endpoint.scope, req, cx, ctx, now).await
        }
        Route::Browser(BrowserRoute::OpenConnectLink(secret)) => {
            Ok(connect::open_link(req, cx, &secret, now).await?)
        }
        Route::Browser(BrowserRoute::ChooseServer(secret)) => {
            Ok(crate::edge::oauth::per_server::choose_server(req, cx, &secret, now).await?)
        }
        Route::Browser(BrowserRoute::OAuthCallback) => Ok(callback::handle(req, cx, now).await?),
        Route::Browser(BrowserRoute::ClientMetadata) => {
            Ok(crate::edge::oauth::atproto_client::client_metadata(&req, cx).await?)
        }
        Route::Browser(BrowserRoute::ClientJwks) => {
            Ok(crate::edge::oauth::atproto_client::jwks(cx).await?)
        }
        Route::Browser(BrowserRoute::ReconnectPage(token)) => {
            Ok(reconnect::page(cx, &token, now).await?)
        }
        Route::Browser(BrowserRoute::StartReconnect(token)) => {
            Ok(reconnect::start(req, cx, &token, now).await?)
        }
        Route::Platform(PlatformRoute::Deauthorize(provider)) => {
            meta_callbacks::deauthorize(req, cx, &provider).await
        }
        Route::Platform(PlatformRoute::DataDeletion(provider)) => {
            meta_callbacks::data_deletion(req, cx, &provider, now).await
        }
        Route::Platform(PlatformRoute::DeletionStatus(provider, code)) => {
            meta_callbacks::deletion_status(cx, &provider, &code).await
        }
        #[cfg(feature = "test-powers")]
        Route::Test(test_route) => test_powers::handle(test_route, req, cx, now).await,
    }
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    cron::run(event, Context::new(env)).await;
}

#[event(queue)]
async fn queue(
    batch: worker::MessageBatch<serde_json::Value>,
    env: Env,
    _ctx: worker::Context,
) -> Result<()> {
    // Never return Err: in workers-rs 0.8 an Err from a queue handler is a panic (an instance
    // restart). Each message is acked or retried on its own instead.
    queues::consume(batch, Context::new(env)).await;
    Ok(())
}
