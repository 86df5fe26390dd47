//! The route table: which handler a method and path reach, or which error they get.
//!
//! Test-only routes (under `/__test/`) exist only in builds with the `test-powers` feature, so
//! the release bundle does not even contain their paths (the release-bundle check greps for them).

use crate::core::api_error::ApiError;
#[cfg(feature = "test-powers")]
use crate::core::queues::WorkQueue;
use crate::core::{page_links, reconnect_links};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: liveness, D1 reachability, build flavour, cron heartbeats.
    Healthz,
    /// The operator's API (`/admin/…`), authenticated by the operator secret.
    Admin(AdminRoute),
    /// A tenant's API (`/v1/…`), authenticated by one of its API keys.
    Tenant(TenantRoute),
    /// Pages a person's browser opens: they answer with pages and redirects, not JSON.
    Browser(BrowserRoute),
    /// Calls from the platforms themselves (Meta's signed callbacks).
    Platform(PlatformRoute),
    /// An end user's connections page (`/page…`), behind its session cookie.
    Page(PageRoute),
    /// `GET /openapi.json`: the API's OpenAPI 3.1 description.
    OpenApi,
    #[cfg(feature = "test-powers")]
    Test(TestRoute),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /admin/tenants` `{"name"}`.
    CreateTenant,
    /// `GET /admin/tenants/{id}`: the tenant with its keys, return URLs and clients.
    Tenant(String),
    /// `DELETE /admin/tenants/{id}`: the keys stop now; the minute dispatch erases the rest.
    DeleteTenant(String),
    /// `POST /admin/tenants/{id}/api-keys` `{"scopes": [...]}`.
    CreateApiKey(String),
    /// `POST /admin/api-keys/{id}/rotate` `{"overlap_seconds"?}`.
    RotateApiKey(String),
    /// `POST /admin/api-keys/{id}/revoke`.
    RevokeApiKey(String),
    /// `GET /admin/dead-letters[?queue=…]`: messages the consumers could not process.
    DeadLetters,
    /// `GET /admin/metrics`: per-platform standing and outcomes, sweep backlog, outbox lag,
    /// publish backlog, dead-letter depth.
    Metrics,
    /// `POST /admin/dead-letters/{id}/replay`: sends the message to its work queue again.
    ReplayDeadLetter(String),
    /// `PUT /admin/tenants/{id}/return-urls` `{"urls": [...]}`.
    SetReturnUrls(String),
    /// `PUT /admin/tenants/{id}/clients/{provider}` `{"client_id", "client_secret"}`.
    SetClient(String, String),
    /// `DELETE /admin/tenants/{id}/clients/{provider}`.
    DeleteClient(String, String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TenantRoute {
    /// `GET /v1/connections[?end_user_ref=…][&health=green|yellow|red]`.
    ListConnections,
    /// `GET /v1/connections/{id}`.
    Connection(String),
    /// `POST /v1/connect-sessions` `{"provider", "end_user_ref", "return_url"}` (`manage`).
    CreateConnectSession,
    /// `POST /v1/connections/{id}/token` (`tokens:read`): the stored access token.
    ConnectionToken(String),
    /// `POST /v1/connections/{id}/refresh` (`manage`): refresh the grant now.
    RefreshConnection(String),
    /// `GET /v1/connections/{id}/events`: the connection's events, in sequence order.
    ConnectionEvents(String),
    /// `DELETE /v1/connections/{id}` (`manage`): disconnect, through the grant's object.
    Disconnect(String),
    /// `POST /v1/connections/{id}/reconnect-link` (`manage`): a signed one-click link.
    CreateReconnectLink(String),
    /// `GET /v1/webhook-endpoints`: the tenant's endpoints (never their secrets).
    ListWebhookEndpoints,
    /// `POST /v1/webhook-endpoints` `{"url", "event_types"?}` (`manage`): answers the secret once.
    CreateWebhookEndpoint,
    /// `GET /v1/webhook-endpoints/{id}`.
    WebhookEndpoint(String),
    /// `DELETE /v1/webhook-endpoints/{id}` (`manage`).
    DeleteWebhookEndpoint(String),
    /// `GET /v1/webhook-endpoints/{id}/deliveries[?status=…]`: the delivery log.
    WebhookDeliveries(String),
    /// `POST /v1/webhook-deliveries/{id}/redeliver` (`manage`): send it again, same body.
    Redeliver(String),
    /// `POST /v1/posts` `{"text", "connection_ids", "publish_at"?}` with `Idempotency-Key`.
    CreatePost,
    /// `GET /v1/posts[?state=…][&end_user_ref=…]`: newest first.
    ListPosts,
    /// `GET /v1/posts/{id}`: the post and each target's state.
    Post(String),
    /// `POST /v1/posts/{id}/retry`: sends the failed and parked targets again.
    RetryPost(String),
    /// `POST /v1/posts/{id}/cancel`: cancels the targets not yet sent.
    CancelPost(String),
    /// `POST /v1/posts/{id}/targets/{target}/resolve` `{"outcome", "platform_post_id"?}`:
    /// settles an unconfirmed target.
    ResolveTarget(String, String),
    /// `POST /v1/page-links` `{"end_user_ref"}` (`manage`): a short-lived link to that end
    /// user's connections page.
    CreatePageLink,
    /// `GET /v1/end-user-data?end_user_ref=…` (`manage`): everything kept about the end user.
    ExportEndUser,
    /// `DELETE /v1/end-user-data?end_user_ref=…` (`manage`): disconnects and erases the end user.
    EraseEndUser,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrowserRoute {
    /// `GET /connect/{secret}`: opens a connect link and sends the browser to the platform.
    OpenConnectLink(String),
    /// `GET /oauth/callback`: where platforms send the browser back.
    OAuthCallback,
    /// `GET /reconnect/{token}`: the reconnect page, with its button (scanners that fetch the
    /// link use nothing up).
    ReconnectPage(String),
    /// `POST /reconnect/{token}`: the button: starts the consent at the platform.
    StartReconnect(String),
}

/// What platforms call (`/platforms/{provider}/…`), each verifying its own signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformRoute {
    /// `POST /platforms/{provider}/deauthorize`: Meta's deauthorize callback.
    Deauthorize(String),
    /// `POST /platforms/{provider}/data-deletion`: Meta's data-deletion callback.
    DataDeletion(String),
    /// `GET /platforms/{provider}/data-deletion/{code}`: the deletion's status page.
    DeletionStatus(String, String),
}

/// The connections page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageRoute {
    /// `GET /page/open/{token}`: exchanges a page link for the session cookie.
    Open(String),
    /// `GET /page`: the page.
    Show,
    /// A button on the page: a `POST` that changes something.
    Button(PageButton),
}

/// The page's buttons. Each is answered only with the session's cookie and CSRF token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageButton {
    /// `POST /page/connections/{id}/reconnect`: the platform's consent, back to the page.
    Reconnect(String),
    /// `POST /page/connections/{id}/disconnect`.
    Disconnect(String),
    /// `POST /page/posts/{id}/retry`: sends the failed and parked targets again.
    RetryPost(String),
    /// `POST /page/posts/{id}/targets/{target}/resolve` (form: `outcome`, `platform_post_id`).
    ResolveTarget(String, String),
}

/// Routes that exist only in test builds. All of them require the operator secret.
#[cfg(feature = "test-powers")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestRoute {
    /// `GET /__test/clock`: the clock offset and the shifted time.
    GetClock,
    /// `PUT /__test/clock` `{"offset_ms": n}`: shifts every handler's clock.
    SetClock,
    /// `POST /__test/queues/{refresh|publish|webhooks}`: sends a probe message to a work queue.
    EnqueueProbe(WorkQueue),
    /// `GET /__test/dead-letters`: what the consumers recorded as unprocessable.
    DeadLetters,
    /// `POST /__test/spike/grants`: a probe grant row for the kill-mid-call spike.
    CreateSpikeGrant,
    /// `GET /__test/spike/grants/{id}`: the probe grant's D1 row and its Durable Object's storage.
    SpikeGrant(String),
    /// `POST /__test/spike/grants/{id}/refresh`: a refresh made from inside the grant's DO.
    SpikeRefresh(String),
    /// `GET /__test/return`: the demo tenant's return page, showing what the flow handed back.
    /// The one test route without the operator secret: a browser lands on it.
    ReturnPage,
    /// `GET /__test/row-counts`: how many rows the connect flow's tables hold.
    RowCounts,
    /// `PUT /__test/grants/{id}/ciphertext` `{"from_grant"}`: copies another grant's sealed
    /// tokens into this one, to prove the copy cannot be opened.
    CopyCiphertext(String),
    /// `POST /__test/grants/{id}/revive`: writes a dead grant's standing back to alive, as a
    /// stale instance that missed the verdict would see it, so the verdict can be reached
    /// twice (one event, by its dedupe key).
    ReviveGrant(String),
}

/// Resolves a request to a route. Unknown paths are `not_found`; known paths with another
/// method are `method_not_allowed` with the methods they take.
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => only(method, &["GET"], Route::Healthz),
        ["openapi.json"] => only(method, &["GET"], Route::OpenApi),
        ["page", rest @ ..] => resolve_page(method, rest)
            .map(Route::Page)
            .map_err(|e| e.unwrap_or_else(|| ApiError::not_found(loggable_path(path)))),
        ["admin", rest @ ..] => resolve_admin(method, rest)
            .map(Route::Admin)
            .map_err(|e| e.unwrap_or_else(|| ApiError::not_found(path))),
        ["v1", rest @ ..] => resolve_tenant(method, rest)
            .map(Route::Tenant)
            .map_err(|e| e.unwrap_or_else(|| ApiError::not_found(path))),
        ["connect", secret] => {
            let secret = id(secret).ok_or_else(|| ApiError::not_found(path))?;
            only(
                method,
                &["GET"],
                Route::Browser(BrowserRoute::OpenConnectLink(secret)),
            )
        }
        ["platforms", p, "deauthorize"] => only(
            method,
            &["POST"],
            Route::Platform(PlatformRoute::Deauthorize(
                id(p).ok_or_else(|| ApiError::not_found(path))?,
            )),
        ),
        ["platforms", p, "data-deletion"] => only(
            method,
            &["POST"],
            Route::Platform(PlatformRoute::DataDeletion(
                id(p).ok_or_else(|| ApiError::not_found(path))?,
            )),
        ),
        ["platforms", p, "data-deletion", code] => {
            let (p, code) = id(p)
                .zip(id(code))
                .ok_or_else(|| ApiError::not_found(path))?;
            only(
                method,
                &["GET"],
                Route::Platform(PlatformRoute::DeletionStatus(p, code)),
            )
        }
        ["oauth", "callback"] => only(
            method,
            &["GET"],
            Route::Browser(BrowserRoute::OAuthCallback),
        ),
        ["reconnect", token] => {
            if !reconnect_links::looks_like_token(token) {
                return Err(ApiError::not_found(loggable_path(path)));
            }
            let token = (*token).to_owned();
            match method {
                "GET" => Ok(Route::Browser(BrowserRoute::ReconnectPage(token))),
                "POST" => Ok(Route::Browser(BrowserRoute::StartReconnect(token))),
                _ => Err(ApiError::method_not_allowed(method, &["GET", "POST"])),
            }
        }
        #[cfg(feature = "test-powers")]
        ["__test", rest @ ..] => resolve_test(method, rest)
            .map(Route::Test)
            .map_err(|e| e.unwrap_or_else(|| ApiError::not_found(path))),
        _ => Err(ApiError::not_found(path)),
    }
}

/// The path as it may be logged: connect and reconnect links are capabilities, so their
/// secret part is redacted.
pub fn loggable_path(path: &str) -> &str {
    if path.starts_with("/connect/") {
        "/connect/[redacted]"
    } else if path.starts_with("/reconnect/") {
        "/reconnect/[redacted]"
    } else if path.starts_with(page_links::OPEN_PATH) {
        "/page/open/[redacted]"
    } else {
        path
    }
}

fn only<T>(method: &str, allow: &'static [&'static str], route: T) -> Result<T, ApiError> {
    if allow.contains(&method) {
        Ok(route)
    } else {
        Err(ApiError::method_not_allowed(method, allow))
    }
}

/// A path segment that can be an id: non-empty, at most 100 characters, URL-safe characters.
fn id(segment: &str) -> Option<String> {
    let ok = !segment.is_empty()
        && segment.len() <= 100
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| segment.to_owned())
}

/// `Err(None)` is "no such path" (the caller knows the full path for the message).
fn resolve_admin(method: &str, rest: &[&str]) -> Result<AdminRoute, Option<ApiError>> {
    let route = match rest {
        ["tenants"] => only(method, &["POST"], AdminRoute::CreateTenant),
        ["tenants", t] => {
            let t = id(t).ok_or(None)?;
            match method {
                "GET" => Ok(AdminRoute::Tenant(t)),
                "DELETE" => Ok(AdminRoute::DeleteTenant(t)),
                _ => Err(ApiError::method_not_allowed(method, &["GET", "DELETE"])),
            }
        }
        ["tenants", t, "api-keys"] => only(
            method,
            &["POST"],
            AdminRoute::CreateApiKey(id(t).ok_or(None)?),
        ),
        ["tenants", t, "return-urls"] => only(
            method,
            &["PUT"],
            AdminRoute::SetReturnUrls(id(t).ok_or(None)?),
        ),
        ["tenants", t, "clients", p] => {
            let (t, p) = (id(t).ok_or(None)?, id(p).ok_or(None)?);
            match method {
                "PUT" => Ok(AdminRoute::SetClient(t, p)),
                "DELETE" => Ok(AdminRoute::DeleteClient(t, p)),
                _ => Err(ApiError::method_not_allowed(method, &["PUT", "DELETE"])),
            }
        }
        ["api-keys", k, "rotate"] => only(
            method,
            &["POST"],
            AdminRoute::RotateApiKey(id(k).ok_or(None)?),
        ),
        ["api-keys", k, "revoke"] => only(
            method,
            &["POST"],
            AdminRoute::RevokeApiKey(id(k).ok_or(None)?),
        ),
        ["dead-letters"] => only(method, &["GET"], AdminRoute::DeadLetters),
        ["metrics"] => only(method, &["GET"], AdminRoute::Metrics),
        ["dead-letters", d, "replay"] => only(
            method,
            &["POST"],
            AdminRoute::ReplayDeadLetter(id(d).ok_or(None)?),
        ),
        _ => return Err(None),
    };
    route.map_err(Some)
}

fn resolve_tenant(method: &str, rest: &[&str]) -> Result<TenantRoute, Option<ApiError>> {
    let route = match rest {
        ["connections"] => only(method, &["GET"], TenantRoute::ListConnections),
        ["connections", c] => {
            let c = id(c).ok_or(None)?;
            match method {
                "GET" => Ok(TenantRoute::Connection(c)),
                "DELETE" => Ok(TenantRoute::Disconnect(c)),
                _ => Err(ApiError::method_not_allowed(method, &["GET", "DELETE"])),
            }
        }
        ["connections", c, "reconnect-link"] => only(
            method,
            &["POST"],
            TenantRoute::CreateReconnectLink(id(c).ok_or(None)?),
        ),
        ["webhook-endpoints"] => match method {
            "GET" => Ok(TenantRoute::ListWebhookEndpoints),
            "POST" => Ok(TenantRoute::CreateWebhookEndpoint),
            _ => Err(ApiError::method_not_allowed(method, &["GET", "POST"])),
        },
        ["webhook-endpoints", w] => {
            let w = id(w).ok_or(None)?;
            match method {
                "GET" => Ok(TenantRoute::WebhookEndpoint(w)),
                "DELETE" => Ok(TenantRoute::DeleteWebhookEndpoint(w)),
                _ => Err(ApiError::method_not_allowed(method, &["GET", "DELETE"])),
            }
        }
        ["webhook-endpoints", w, "deliveries"] => only(
            method,
            &["GET"],
            TenantRoute::WebhookDeliveries(id(w).ok_or(None)?),
        ),
        ["webhook-deliveries", d, "redeliver"] => only(
            method,
            &["POST"],
            TenantRoute::Redeliver(id(d).ok_or(None)?),
        ),
        ["connections", c, "token"] => only(
            method,
            &["POST"],
            TenantRoute::ConnectionToken(id(c).ok_or(None)?),
        ),
        ["connections", c, "refresh"] => only(
            method,
            &["POST"],
            TenantRoute::RefreshConnection(id(c).ok_or(None)?),
        ),
        ["connections", c, "events"] => only(
            method,
            &["GET"],
            TenantRoute::ConnectionEvents(id(c).ok_or(None)?),
        ),
        ["connect-sessions"] => only(method, &["POST"], TenantRoute::CreateConnectSession),
        ["page-links"] => only(method, &["POST"], TenantRoute::CreatePageLink),
        ["end-user-data"] => match method {
            "GET" => Ok(TenantRoute::ExportEndUser),
            "DELETE" => Ok(TenantRoute::EraseEndUser),
            _ => Err(ApiError::method_not_allowed(method, &["GET", "DELETE"])),
        },
        ["posts"] => match method {
            "GET" => Ok(TenantRoute::ListPosts),
            "POST" => Ok(TenantRoute::CreatePost),
            _ => Err(ApiError::method_not_allowed(method, &["GET", "POST"])),
        },
        ["posts", p] => only(method, &["GET"], TenantRoute::Post(id(p).ok_or(None)?)),
        ["posts", p, "retry"] => only(
            method,
            &["POST"],
            TenantRoute::RetryPost(id(p).ok_or(None)?),
        ),
        ["posts", p, "cancel"] => only(
            method,
            &["POST"],
            TenantRoute::CancelPost(id(p).ok_or(None)?),
        ),
        ["posts", p, "targets", t, "resolve"] => only(
            method,
            &["POST"],
            TenantRoute::ResolveTarget(id(p).ok_or(None)?, id(t).ok_or(None)?),
        ),
        _ => return Err(None),
    };
    route.map_err(Some)
}

fn resolve_page(method: &str, rest: &[&str]) -> Result<PageRoute, Option<ApiError>> {
    let route = match rest {
        [] => only(method, &["GET"], PageRoute::Show),
        ["open", token] if page_links::looks_like_token(token) => {
            only(method, &["GET"], PageRoute::Open((*token).to_owned()))
        }
        ["connections", c, "reconnect"] => only(
            method,
            &["POST"],
            PageRoute::Button(PageButton::Reconnect(id(c).ok_or(None)?)),
        ),
        ["connections", c, "disconnect"] => only(
            method,
            &["POST"],
            PageRoute::Button(PageButton::Disconnect(id(c).ok_or(None)?)),
        ),
        ["posts", p, "retry"] => only(
            method,
            &["POST"],
            PageRoute::Button(PageButton::RetryPost(id(p).ok_or(None)?)),
        ),
        ["posts", p, "targets", t, "resolve"] => only(
            method,
            &["POST"],
            PageRoute::Button(PageButton::ResolveTarget(
                id(p).ok_or(None)?,
                id(t).ok_or(None)?,
            )),
        ),
        _ => return Err(None),
    };
    route.map_err(Some)
}

/// `Err(None)` is "no such path" (the caller knows the full path for the message).
#[cfg(feature = "test-powers")]
fn resolve_test(method: &str, rest: &[&str]) -> Result<TestRoute, Option<ApiError>> {
    let route = match rest {
        ["clock"] => match method {
            "GET" => TestRoute::GetClock,
            "PUT" => TestRoute::SetClock,
            _ => return Err(Some(ApiError::method_not_allowed(method, &["GET", "PUT"]))),
        },
        ["queues", slug] => {
            let queue = WorkQueue::from_slug(slug).ok_or(None)?;
            only(method, &["POST"], TestRoute::EnqueueProbe(queue)).map_err(Some)?
        }
        ["dead-letters"] => only(method, &["GET"], TestRoute::DeadLetters).map_err(Some)?,
        ["spike", "grants"] => {
            only(method, &["POST"], TestRoute::CreateSpikeGrant).map_err(Some)?
        }
        ["spike", "grants", id] if !id.is_empty() => {
            only(method, &["GET"], TestRoute::SpikeGrant((*id).to_owned())).map_err(Some)?
        }
        ["spike", "grants", id, "refresh"] if !id.is_empty() => {
            only(method, &["POST"], TestRoute::SpikeRefresh((*id).to_owned())).map_err(Some)?
        }
        ["return"] => only(method, &["GET"], TestRoute::ReturnPage).map_err(Some)?,
        ["row-counts"] => only(method, &["GET"], TestRoute::RowCounts).map_err(Some)?,
        ["grants", g, "ciphertext"] => only(
            method,
            &["PUT"],
            TestRoute::CopyCiphertext(id(g).ok_or(None)?),
        )
        .map_err(Some)?,
        ["grants", g, "revive"] => only(
            method,
            &["POST"],
            TestRoute::ReviveGrant(id(g).ok_or(None)?),
        )
        .map_err(Some)?,
        _ => return Err(None),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api_error::ErrorCode;

    #[test]
    fn healthz_takes_get_only() {
        assert_eq!(resolve("GET", "/healthz"), Ok(Route::Healthz));
        let err = resolve("POST", "/healthz").unwrap_err();
        assert_eq!(err.code, ErrorCode::MethodNotAllowed);
        assert_eq!(err.allow, Some(&["GET"][..]));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["/", "/healthz/", "/nope", "/healthz/extra", ""] {
            let err = resolve("GET", path).unwrap_err();
            assert_eq!(err.code, ErrorCode::NotFound, "{path}");
        }
    }

    #[test]
    fn operator_and_tenant_routes_resolve() {
        assert_eq!(
            resolve("POST", "/admin/tenants"),
            Ok(Route::Admin(AdminRoute::CreateTenant))
        );
        assert_eq!(
            resolve("DELETE", "/admin/tenants/ten_1/clients/x"),
            Ok(Route::Admin(AdminRoute::DeleteClient(
                "ten_1".into(),
                "x".into()
            )))
        );
        assert_eq!(
            resolve("POST", "/admin/api-keys/key_1/rotate"),
            Ok(Route::Admin(AdminRoute::RotateApiKey("key_1".into())))
        );
        assert_eq!(
            resolve("GET", "/v1/connections/conn_1"),
            Ok(Route::Tenant(TenantRoute::Connection("conn_1".into())))
        );
        assert_eq!(
            resolve("POST", "/v1/connections/conn_1/token"),
            Ok(Route::Tenant(TenantRoute::ConnectionToken("conn_1".into())))
        );
        assert_eq!(
            resolve("POST", "/v1/connections/conn_1/refresh"),
            Ok(Route::Tenant(TenantRoute::RefreshConnection(
                "conn_1".into()
            )))
        );
        assert_eq!(
            resolve("GET", "/v1/connections/conn_1/events"),
            Ok(Route::Tenant(TenantRoute::ConnectionEvents(
                "conn_1".into()
            )))
        );
        assert_eq!(
            resolve("POST", "/v1/connections/conn_1/token"),
            Ok(Route::Tenant(TenantRoute::ConnectionToken("conn_1".into())))
        );
        assert_eq!(
            resolve("POST", "/v1/connect-sessions"),
            Ok(Route::Tenant(TenantRoute::CreateConnectSession))
        );
        assert_eq!(
            resolve("GET", "/admin/tenants").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        for odd in [
            "/admin/tenants/a%20b",
            "/v1/connections/",
            "/admin/nothing",
            "/v1",
        ] {
            assert_eq!(
                resolve("GET", odd).unwrap_err().code,
                ErrorCode::NotFound,
                "{odd}"
            );
        }
    }

    #[test]
    fn page_routes_resolve_and_the_link_is_never_logged() {
        assert_eq!(resolve("GET", "/page"), Ok(Route::Page(PageRoute::Show)));
        assert_eq!(
            resolve("GET", "/page/open/k1.abc.def"),
            Ok(Route::Page(PageRoute::Open("k1.abc.def".into())))
        );
        assert_eq!(
            resolve("POST", "/page/posts/post_1/targets/tgt_1/resolve"),
            Ok(Route::Page(PageRoute::Button(PageButton::ResolveTarget(
                "post_1".into(),
                "tgt_1".into()
            ))))
        );
        assert_eq!(
            resolve("GET", "/page/connections/conn_1/disconnect")
                .unwrap_err()
                .code,
            ErrorCode::MethodNotAllowed
        );
        let err = resolve("GET", "/page/open/a%20b").unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(!err.message.contains("a%20b"), "{}", err.message);
        assert_eq!(
            loggable_path("/page/open/k1.abc.def"),
            "/page/open/[redacted]"
        );
        assert_eq!(
            resolve("POST", "/v1/page-links"),
            Ok(Route::Tenant(TenantRoute::CreatePageLink))
        );
        assert_eq!(resolve("GET", "/openapi.json"), Ok(Route::OpenApi));
    }

    #[test]
    fn browser_routes_resolve() {
        assert_eq!(
            resolve("GET", "/connect/abc_DEF-1"),
            Ok(Route::Browser(BrowserRoute::OpenConnectLink(
                "abc_DEF-1".into()
            )))
        );
        assert_eq!(
            resolve("GET", "/oauth/callback"),
            Ok(Route::Browser(BrowserRoute::OAuthCallback))
        );
        assert_eq!(
            resolve("POST", "/oauth/callback").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        for odd in [
            "/connect/",
            "/connect/a.b",
            "/connect/a/b",
            "/oauth/callback/x",
        ] {
            assert_eq!(
                resolve("GET", odd).unwrap_err().code,
                ErrorCode::NotFound,
                "{odd}"
            );
        }
    }

    #[test]
    fn reconnect_and_disconnect_and_webhook_routes_resolve() {
        assert_eq!(
            resolve("GET", "/reconnect/k1.abc.def"),
            Ok(Route::Browser(BrowserRoute::ReconnectPage(
                "k1.abc.def".into()
            )))
        );
        assert_eq!(
            resolve("POST", "/reconnect/k1.abc.def"),
            Ok(Route::Browser(BrowserRoute::StartReconnect(
                "k1.abc.def".into()
            )))
        );
        assert_eq!(
            resolve("GET", "/reconnect/<script>").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            loggable_path("/reconnect/k1.abc.def"),
            "/reconnect/[redacted]"
        );
        assert_eq!(
            resolve("DELETE", "/v1/connections/conn_1"),
            Ok(Route::Tenant(TenantRoute::Disconnect("conn_1".into())))
        );
        assert_eq!(
            resolve("POST", "/v1/webhook-deliveries/dlv_1/redeliver"),
            Ok(Route::Tenant(TenantRoute::Redeliver("dlv_1".into())))
        );
        assert_eq!(
            resolve("PUT", "/v1/webhook-endpoints").unwrap_err().allow,
            Some(&["GET", "POST"][..])
        );
    }

    #[test]
    fn connect_link_secrets_are_not_logged() {
        assert_eq!(loggable_path("/connect/s3cr3t"), "/connect/[redacted]");
        assert_eq!(loggable_path("/v1/connections"), "/v1/connections");
    }

    #[cfg(not(feature = "test-powers"))]
    #[test]
    fn release_builds_have_no_test_routes() {
        for path in [
            "/__test/clock",
            "/__test/spike/grants",
            "/__test/dead-letters",
            "/__test/return",
        ] {
            assert_eq!(resolve("GET", path).unwrap_err().code, ErrorCode::NotFound);
        }
    }

    #[cfg(feature = "test-powers")]
    #[test]
    fn test_routes_resolve_in_test_builds() {
        assert_eq!(
            resolve("PUT", "/__test/clock"),
            Ok(Route::Test(TestRoute::SetClock))
        );
        assert_eq!(
            resolve("POST", "/__test/queues/publish"),
            Ok(Route::Test(TestRoute::EnqueueProbe(WorkQueue::Publish)))
        );
        assert_eq!(
            resolve("POST", "/__test/spike/grants/gr_1/refresh"),
            Ok(Route::Test(TestRoute::SpikeRefresh("gr_1".into())))
        );
        assert_eq!(
            resolve("GET", "/__test/queues/nope").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            resolve("DELETE", "/__test/clock").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            resolve("GET", "/__test/spike/grants//refresh")
                .unwrap_err()
                .code,
            ErrorCode::NotFound
        );
    }

    #[test]
    fn posts_and_dead_letters_have_their_routes() {
        assert_eq!(
            resolve("POST", "/v1/posts"),
            Ok(Route::Tenant(TenantRoute::CreatePost))
        );
        assert_eq!(
            resolve("GET", "/v1/posts"),
            Ok(Route::Tenant(TenantRoute::ListPosts))
        );
        assert_eq!(
            resolve("POST", "/v1/posts/post_1/targets/tgt_1/resolve"),
            Ok(Route::Tenant(TenantRoute::ResolveTarget(
                "post_1".into(),
                "tgt_1".into()
            )))
        );
        assert_eq!(resolve("DELETE", "/v1/posts").unwrap_err().status(), 405);
        assert_eq!(
            resolve("GET", "/v1/posts/post_1/retry")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(
            resolve("POST", "/admin/dead-letters/7/replay"),
            Ok(Route::Admin(AdminRoute::ReplayDeadLetter("7".into())))
        );
        assert_eq!(
            resolve("GET", "/admin/metrics"),
            Ok(Route::Admin(AdminRoute::Metrics))
        );
        assert_eq!(resolve("POST", "/admin/metrics").unwrap_err().status(), 405);
    }
}
