//! A tenant's API (`/v1/…`), authenticated by one of its API keys (`Authorization: Bearer evg_…`).
//!
//! Every query is scoped by the key's tenant, so one tenant can never read another's rows.
//! Connections are listed without any token; reading tokens is a separate, `tokens:read` call.

use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_tokens::TokenRequest;
use crate::core::http::api_error::ApiError;
use crate::core::http::routes::TenantRoute;
use crate::core::tenancy::api_keys::Scope;
use crate::edge::common::context::Context;
use crate::edge::grant::connections;
use crate::edge::grant::grant_object::disconnect;
use crate::edge::http::respond::{self, Handled};
use crate::edge::links::reconnect;
use crate::edge::oauth::connect;
use crate::edge::tenancy::caller::authenticate;
use crate::edge::webhooks::endpoints;
use worker::Request;

pub async fn handle(
    route: TenantRoute,
    needed: Option<Scope>,
    mut req: Request,
    cx: &Context,
    ctx: &worker::Context,
    now: Timestamp,
) -> Handled {
    let db = cx.db()?;
    let caller = authenticate(&req, &db, now).await?;
    crate::edge::http::rate_limit::admit(cx, &caller.tenant_id).await?;
    // The route table names every tenant route's scope; a route without one is refused.
    let needed = needed.ok_or_else(ApiError::internal)?;
    caller.scopes.require(needed)?;
    match route {
        TenantRoute::ListConnections => {
            connections::list_connections(cx, &db, &caller, &req.inner().url(), now).await
        }
        TenantRoute::Connection(id) => {
            connections::show_connection(cx, &db, &caller, &id, now).await
        }
        TenantRoute::RefreshConnection(id) => {
            connections::refresh_connection(cx, &db, &caller, &id, now).await
        }
        TenantRoute::ConnectionEvents(id) => {
            connections::connection_events(cx, &db, &caller, &id, &req.inner().url()).await
        }
        TenantRoute::CreateConnectSession => {
            connect::create_session(req, cx, &db, &caller, now).await
        }
        TenantRoute::Disconnect(id) => disconnect::disconnect(cx, &db, &caller, &id).await,
        TenantRoute::CreatePageLink => {
            crate::edge::links::connections_page::create_link(req, cx, &caller, now).await
        }
        TenantRoute::CreateReconnectLink(id) => {
            reconnect::create_link(&req, cx, &db, &caller, &id, now).await
        }
        TenantRoute::ExportEndUser => {
            crate::edge::tenancy::erasure::export_end_user(
                cx,
                &db,
                &caller,
                &req.inner().url(),
                now,
            )
            .await
        }
        TenantRoute::EraseEndUser => {
            crate::edge::tenancy::erasure::erase_end_user(cx, &db, &caller, &req.inner().url(), now)
                .await
        }
        TenantRoute::ListWebhookEndpoints => endpoints::list(&db, &caller).await,
        TenantRoute::CreateWebhookEndpoint => endpoints::create(req, cx, &db, &caller, now).await,
        TenantRoute::WebhookEndpoint(id) => endpoints::show(&db, &caller, &id).await,
        TenantRoute::DeleteWebhookEndpoint(id) => endpoints::delete(&db, &caller, &id, now).await,
        TenantRoute::RotateWebhookSecret(id) => {
            endpoints::rotate_secret(req, cx, &db, &caller, &id, now).await
        }
        TenantRoute::WebhookDeliveries(id) => {
            endpoints::deliveries(cx, &db, &caller, &id, &req.inner().url()).await
        }
        TenantRoute::Redeliver(id) => endpoints::redeliver(cx, &db, &caller, &id, now).await,
        TenantRoute::CreatePost => {
            crate::edge::publish::posts::create(req, cx, &db, &caller, now).await
        }
        TenantRoute::ListPosts => {
            crate::edge::publish::posts::list(cx, &db, &caller, &req.inner().url()).await
        }
        TenantRoute::Post(id) => crate::edge::publish::posts::show(&db, &caller, &id).await,
        TenantRoute::RetryPost(id) => {
            crate::edge::publish::posts::retry(cx, &db, &caller, &id, now).await
        }
        TenantRoute::CancelPost(id) => {
            crate::edge::publish::posts::cancel(cx, &db, &caller, &id, now).await
        }
        TenantRoute::ResolveTarget(post, target) => {
            crate::edge::publish::posts::resolve(req, cx, &db, &caller, &post, &target, now).await
        }
        TenantRoute::ConnectionToken(id) => {
            let body = respond::read_body(&mut req).await?;
            let ask = TokenRequest::parse(&body).map_err(ApiError::invalid_request)?;
            connections::connection_token(cx, ctx, &db, &caller, &id, ask, now).await
        }
    }
}
