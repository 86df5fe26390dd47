//! The route table: which handler a method and path reach, or which error they get.
//!
//! Test-only routes (under `/__test/`) exist only in builds with the `test-powers` feature, so
//! the release bundle does not even contain their paths (the release-bundle check greps for them).

#[cfg(feature = "test-powers")]
use crate::core::common::queues::WorkQueue;
use crate::core::http::api_error::ApiError;
use crate::core::links::page_links;
use crate::core::links::reconnect_links;
use crate::core::tenancy::api_keys::Scope;

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
    /// `POST /v1/webhook-endpoints/{id}/rotate-secret` `{"overlap_seconds"?}` (`manage`): a new
    /// secret, answered once; the replaced one signs beside it until the overlap ends.
    RotateWebhookSecret(String),
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
    /// `GET /connect/{secret}`: opens a connect link and sends the browser to the platform (or,
    /// for Mastodon, asks which server first).
    OpenConnectLink(String),
    /// `POST /connect/{secret}` `server=…` (Mastodon) or `handle=…` (Bluesky): what the link
    /// asked; opens the link.
    ChooseServer(String),
    /// `GET /oauth/client-metadata.json`: Evergreen's Bluesky client metadata (its client id).
    ClientMetadata,
    /// `GET /oauth/jwks.json`: the Bluesky client's public key.
    ClientJwks,
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
    /// `POST /__test/grants/{id}/audit-flush`: the grant's object flushes the token reads it
    /// has buffered now, as its alarm would; answers `{"flushed": n}`, the reads it held.
    FlushAudit(String),
    /// `POST /__test/tenants/{id}/seeded-connections` `{"batch", "count", "dead_every"?,
    /// "base_ms"?, "end_user_ref"?, "per_grant"?}`: many listed-only connections at once
    /// (`store::seeding`).
    SeedConnections(String),
    /// `POST /__test/tenants/{id}/connections/{connection}/seeded-posts` `{"batch", "count",
    /// "base_ms"?}`: posts of the connection's end user, each with one failed target on it.
    SeedPosts(String, String),
    /// `POST /__test/tenants/{id}/connections/{connection}/access-lost`: a seeded connection
    /// turns red.
    LoseAccess(String, String),
    /// `GET /__test/tenants/{id}/connections-plan[?health=…]`: D1's query plan for the
    /// tenant's first page of connections with that filter.
    ConnectionsPlan(String),
}

/// One method on one path: what it is called, the scope a tenant's key needs for it, and the
/// route it resolves to from the path's parameters (`None`: a parameter is not what it must be).
pub struct Endpoint {
    pub method: &'static str,
    /// The operation's name (the route variant), as the OpenAPI document's `operationId`.
    pub operation: &'static str,
    /// The scope a tenant's API key needs (tenant routes only).
    pub scope: Option<Scope>,
    build: fn(&[String]) -> Option<Route>,
}

/// A path pattern (`{name}` segments are parameters) and every method it takes, in the order
/// a `405` lists them.
pub struct PathRoutes {
    pub path: &'static str,
    pub allow: &'static [&'static str],
    pub endpoints: &'static [Endpoint],
}

const fn at(
    method: &'static str,
    operation: &'static str,
    build: fn(&[String]) -> Option<Route>,
) -> Endpoint {
    Endpoint {
        method,
        operation,
        scope: None,
        build,
    }
}

const fn tenant(
    method: &'static str,
    operation: &'static str,
    scope: Scope,
    build: fn(&[String]) -> Option<Route>,
) -> Endpoint {
    Endpoint {
        method,
        operation,
        scope: Some(scope),
        build,
    }
}

use Scope::{Manage, TokensRead};

/// Documented operations the worker never sees: files in `assets/` that Workers Static Assets
/// serve before the worker runs (`[assets]` in wrangler.toml), as (method, path, operation id).
/// The OpenAPI cross-check counts them as served beside [`TABLE`].
pub const STATIC_ASSETS: &[(&str, &str, &str)] = &[("GET", "/openapi.json", "openapi")];

/// Every route a release build serves: matching, the scope check and the OpenAPI cross-check
/// all read this one table.
pub const TABLE: &[PathRoutes] = &[
    PathRoutes {
        path: "/healthz",
        allow: &["GET"],
        endpoints: &[at("GET", "healthz", |_| Some(Route::Healthz))],
    },
    PathRoutes {
        path: "/page",
        allow: &["GET"],
        endpoints: &[at("GET", "showPage", |_| {
            Some(Route::Page(PageRoute::Show))
        })],
    },
    PathRoutes {
        path: "/page/open/{page_token}",
        allow: &["GET"],
        endpoints: &[at("GET", "openPage", |p| {
            Some(Route::Page(PageRoute::Open(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/page/connections/{id}/reconnect",
        allow: &["POST"],
        endpoints: &[at("POST", "pageReconnect", |p| {
            Some(Route::Page(PageRoute::Button(PageButton::Reconnect(
                p[0].clone(),
            ))))
        })],
    },
    PathRoutes {
        path: "/page/connections/{id}/disconnect",
        allow: &["POST"],
        endpoints: &[at("POST", "pageDisconnect", |p| {
            Some(Route::Page(PageRoute::Button(PageButton::Disconnect(
                p[0].clone(),
            ))))
        })],
    },
    PathRoutes {
        path: "/page/posts/{id}/retry",
        allow: &["POST"],
        endpoints: &[at("POST", "pageRetryPost", |p| {
            Some(Route::Page(PageRoute::Button(PageButton::RetryPost(
                p[0].clone(),
            ))))
        })],
    },
    PathRoutes {
        path: "/page/posts/{id}/targets/{target}/resolve",
        allow: &["POST"],
        endpoints: &[at("POST", "pageResolveTarget", |p| {
            Some(Route::Page(PageRoute::Button(PageButton::ResolveTarget(
                p[0].clone(),
                p[1].clone(),
            ))))
        })],
    },
    PathRoutes {
        path: "/admin/tenants",
        allow: &["POST"],
        endpoints: &[at("POST", "createTenant", |_| {
            Some(Route::Admin(AdminRoute::CreateTenant))
        })],
    },
    PathRoutes {
        path: "/admin/tenants/{id}",
        allow: &["GET", "DELETE"],
        endpoints: &[
            at("GET", "getTenant", |p| {
                Some(Route::Admin(AdminRoute::Tenant(p[0].clone())))
            }),
            at("DELETE", "deleteTenant", |p| {
                Some(Route::Admin(AdminRoute::DeleteTenant(p[0].clone())))
            }),
        ],
    },
    PathRoutes {
        path: "/admin/tenants/{id}/api-keys",
        allow: &["POST"],
        endpoints: &[at("POST", "createApiKey", |p| {
            Some(Route::Admin(AdminRoute::CreateApiKey(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/admin/tenants/{id}/return-urls",
        allow: &["PUT"],
        endpoints: &[at("PUT", "setReturnUrls", |p| {
            Some(Route::Admin(AdminRoute::SetReturnUrls(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/admin/tenants/{id}/clients/{provider}",
        allow: &["PUT", "DELETE"],
        endpoints: &[
            at("PUT", "setClient", |p| {
                Some(Route::Admin(AdminRoute::SetClient(
                    p[0].clone(),
                    p[1].clone(),
                )))
            }),
            at("DELETE", "deleteClient", |p| {
                Some(Route::Admin(AdminRoute::DeleteClient(
                    p[0].clone(),
                    p[1].clone(),
                )))
            }),
        ],
    },
    PathRoutes {
        path: "/admin/api-keys/{id}/rotate",
        allow: &["POST"],
        endpoints: &[at("POST", "rotateApiKey", |p| {
            Some(Route::Admin(AdminRoute::RotateApiKey(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/admin/api-keys/{id}/revoke",
        allow: &["POST"],
        endpoints: &[at("POST", "revokeApiKey", |p| {
            Some(Route::Admin(AdminRoute::RevokeApiKey(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/admin/dead-letters",
        allow: &["GET"],
        endpoints: &[at("GET", "listDeadLetters", |_| {
            Some(Route::Admin(AdminRoute::DeadLetters))
        })],
    },
    PathRoutes {
        path: "/admin/metrics",
        allow: &["GET"],
        endpoints: &[at("GET", "metrics", |_| {
            Some(Route::Admin(AdminRoute::Metrics))
        })],
    },
    PathRoutes {
        path: "/admin/dead-letters/{id}/replay",
        allow: &["POST"],
        endpoints: &[at("POST", "replayDeadLetter", |p| {
            Some(Route::Admin(AdminRoute::ReplayDeadLetter(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/connections",
        allow: &["GET"],
        endpoints: &[tenant("GET", "listConnections", Manage, |_| {
            Some(Route::Tenant(TenantRoute::ListConnections))
        })],
    },
    PathRoutes {
        path: "/v1/connections/{id}",
        allow: &["GET", "DELETE"],
        endpoints: &[
            tenant("GET", "getConnection", Manage, |p| {
                Some(Route::Tenant(TenantRoute::Connection(p[0].clone())))
            }),
            tenant("DELETE", "disconnect", Manage, |p| {
                Some(Route::Tenant(TenantRoute::Disconnect(p[0].clone())))
            }),
        ],
    },
    PathRoutes {
        path: "/v1/connections/{id}/reconnect-link",
        allow: &["POST"],
        endpoints: &[tenant("POST", "createReconnectLink", Manage, |p| {
            Some(Route::Tenant(TenantRoute::CreateReconnectLink(
                p[0].clone(),
            )))
        })],
    },
    PathRoutes {
        path: "/v1/connections/{id}/token",
        allow: &["POST"],
        endpoints: &[tenant("POST", "getToken", TokensRead, |p| {
            Some(Route::Tenant(TenantRoute::ConnectionToken(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/connections/{id}/refresh",
        allow: &["POST"],
        endpoints: &[tenant("POST", "refreshConnection", Manage, |p| {
            Some(Route::Tenant(TenantRoute::RefreshConnection(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/connections/{id}/events",
        allow: &["GET"],
        endpoints: &[tenant("GET", "listEvents", Manage, |p| {
            Some(Route::Tenant(TenantRoute::ConnectionEvents(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/webhook-endpoints",
        allow: &["GET", "POST"],
        endpoints: &[
            tenant("GET", "listWebhookEndpoints", Manage, |_| {
                Some(Route::Tenant(TenantRoute::ListWebhookEndpoints))
            }),
            tenant("POST", "createWebhookEndpoint", Manage, |_| {
                Some(Route::Tenant(TenantRoute::CreateWebhookEndpoint))
            }),
        ],
    },
    PathRoutes {
        path: "/v1/webhook-endpoints/{id}",
        allow: &["GET", "DELETE"],
        endpoints: &[
            tenant("GET", "getWebhookEndpoint", Manage, |p| {
                Some(Route::Tenant(TenantRoute::WebhookEndpoint(p[0].clone())))
            }),
            tenant("DELETE", "deleteWebhookEndpoint", Manage, |p| {
                Some(Route::Tenant(TenantRoute::DeleteWebhookEndpoint(
                    p[0].clone(),
                )))
            }),
        ],
    },
    PathRoutes {
        path: "/v1/webhook-endpoints/{id}/rotate-secret",
        allow: &["POST"],
        endpoints: &[tenant("POST", "rotateWebhookSecret", Manage, |p| {
            Some(Route::Tenant(TenantRoute::RotateWebhookSecret(
                p[0].clone(),
            )))
        })],
    },
    PathRoutes {
        path: "/v1/webhook-endpoints/{id}/deliveries",
        allow: &["GET"],
        endpoints: &[tenant("GET", "listDeliveries", Manage, |p| {
            Some(Route::Tenant(TenantRoute::WebhookDeliveries(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/webhook-deliveries/{id}/redeliver",
        allow: &["POST"],
        endpoints: &[tenant("POST", "redeliver", Manage, |p| {
            Some(Route::Tenant(TenantRoute::Redeliver(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/connect-sessions",
        allow: &["POST"],
        endpoints: &[tenant("POST", "createConnectSession", Manage, |_| {
            Some(Route::Tenant(TenantRoute::CreateConnectSession))
        })],
    },
    PathRoutes {
        path: "/v1/page-links",
        allow: &["POST"],
        endpoints: &[tenant("POST", "createPageLink", Manage, |_| {
            Some(Route::Tenant(TenantRoute::CreatePageLink))
        })],
    },
    PathRoutes {
        path: "/v1/end-user-data",
        allow: &["GET", "DELETE"],
        endpoints: &[
            tenant("GET", "exportEndUser", Manage, |_| {
                Some(Route::Tenant(TenantRoute::ExportEndUser))
            }),
            tenant("DELETE", "eraseEndUser", Manage, |_| {
                Some(Route::Tenant(TenantRoute::EraseEndUser))
            }),
        ],
    },
    PathRoutes {
        path: "/v1/posts",
        allow: &["GET", "POST"],
        endpoints: &[
            tenant("GET", "listPosts", Manage, |_| {
                Some(Route::Tenant(TenantRoute::ListPosts))
            }),
            tenant("POST", "createPost", Manage, |_| {
                Some(Route::Tenant(TenantRoute::CreatePost))
            }),
        ],
    },
    PathRoutes {
        path: "/v1/posts/{id}",
        allow: &["GET"],
        endpoints: &[tenant("GET", "getPost", Manage, |p| {
            Some(Route::Tenant(TenantRoute::Post(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/posts/{id}/retry",
        allow: &["POST"],
        endpoints: &[tenant("POST", "retryPost", Manage, |p| {
            Some(Route::Tenant(TenantRoute::RetryPost(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/posts/{id}/cancel",
        allow: &["POST"],
        endpoints: &[tenant("POST", "cancelPost", Manage, |p| {
            Some(Route::Tenant(TenantRoute::CancelPost(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/v1/posts/{id}/targets/{target}/resolve",
        allow: &["POST"],
        endpoints: &[tenant("POST", "resolveTarget", Manage, |p| {
            Some(Route::Tenant(TenantRoute::ResolveTarget(
                p[0].clone(),
                p[1].clone(),
            )))
        })],
    },
    PathRoutes {
        path: "/connect/{secret}",
        allow: &["GET", "POST"],
        endpoints: &[
            at("GET", "openConnectLink", |p| {
                Some(Route::Browser(BrowserRoute::OpenConnectLink(p[0].clone())))
            }),
            at("POST", "chooseServer", |p| {
                Some(Route::Browser(BrowserRoute::ChooseServer(p[0].clone())))
            }),
        ],
    },
    PathRoutes {
        path: "/oauth/client-metadata.json",
        allow: &["GET"],
        endpoints: &[at("GET", "clientMetadata", |_| {
            Some(Route::Browser(BrowserRoute::ClientMetadata))
        })],
    },
    PathRoutes {
        path: "/oauth/jwks.json",
        allow: &["GET"],
        endpoints: &[at("GET", "clientJwks", |_| {
            Some(Route::Browser(BrowserRoute::ClientJwks))
        })],
    },
    PathRoutes {
        path: "/oauth/callback",
        allow: &["GET"],
        endpoints: &[at("GET", "oauthCallback", |_| {
            Some(Route::Browser(BrowserRoute::OAuthCallback))
        })],
    },
    PathRoutes {
        path: "/reconnect/{reconnect_token}",
        allow: &["GET", "POST"],
        endpoints: &[
            at("GET", "reconnectPage", |p| {
                Some(Route::Browser(BrowserRoute::ReconnectPage(p[0].clone())))
            }),
            at("POST", "startReconnect", |p| {
                Some(Route::Browser(BrowserRoute::StartReconnect(p[0].clone())))
            }),
        ],
    },
    PathRoutes {
        path: "/platforms/{provider}/deauthorize",
        allow: &["POST"],
        endpoints: &[at("POST", "metaDeauthorize", |p| {
            Some(Route::Platform(PlatformRoute::Deauthorize(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/platforms/{provider}/data-deletion",
        allow: &["POST"],
        endpoints: &[at("POST", "metaDataDeletion", |p| {
            Some(Route::Platform(PlatformRoute::DataDeletion(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/platforms/{provider}/data-deletion/{code}",
        allow: &["GET"],
        endpoints: &[at("GET", "metaDeletionStatus", |p| {
            Some(Route::Platform(PlatformRoute::DeletionStatus(
                p[0].clone(),
                p[1].clone(),
            )))
        })],
    },
];

/// The routes only test builds serve (all but the return page need the operator secret).
#[cfg(feature = "test-powers")]
pub const TEST_TABLE: &[PathRoutes] = &[
    PathRoutes {
        path: "/__test/clock",
        allow: &["GET", "PUT"],
        endpoints: &[
            at("GET", "GetClock", |_| {
                Some(Route::Test(TestRoute::GetClock))
            }),
            at("PUT", "SetClock", |_| {
                Some(Route::Test(TestRoute::SetClock))
            }),
        ],
    },
    PathRoutes {
        path: "/__test/queues/{queue}",
        allow: &["POST"],
        endpoints: &[at("POST", "EnqueueProbe", |p| {
            WorkQueue::from_slug(&p[0]).map(|q| Route::Test(TestRoute::EnqueueProbe(q)))
        })],
    },
    PathRoutes {
        path: "/__test/dead-letters",
        allow: &["GET"],
        endpoints: &[at("GET", "TestDeadLetters", |_| {
            Some(Route::Test(TestRoute::DeadLetters))
        })],
    },
    PathRoutes {
        path: "/__test/spike/grants",
        allow: &["POST"],
        endpoints: &[at("POST", "CreateSpikeGrant", |_| {
            Some(Route::Test(TestRoute::CreateSpikeGrant))
        })],
    },
    PathRoutes {
        path: "/__test/spike/grants/{probe}",
        allow: &["GET"],
        endpoints: &[at("GET", "SpikeGrant", |p| {
            Some(Route::Test(TestRoute::SpikeGrant(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/spike/grants/{probe}/refresh",
        allow: &["POST"],
        endpoints: &[at("POST", "SpikeRefresh", |p| {
            Some(Route::Test(TestRoute::SpikeRefresh(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/return",
        allow: &["GET"],
        endpoints: &[at("GET", "ReturnPage", |_| {
            Some(Route::Test(TestRoute::ReturnPage))
        })],
    },
    PathRoutes {
        path: "/__test/row-counts",
        allow: &["GET"],
        endpoints: &[at("GET", "RowCounts", |_| {
            Some(Route::Test(TestRoute::RowCounts))
        })],
    },
    PathRoutes {
        path: "/__test/grants/{id}/ciphertext",
        allow: &["PUT"],
        endpoints: &[at("PUT", "CopyCiphertext", |p| {
            Some(Route::Test(TestRoute::CopyCiphertext(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/grants/{id}/revive",
        allow: &["POST"],
        endpoints: &[at("POST", "ReviveGrant", |p| {
            Some(Route::Test(TestRoute::ReviveGrant(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/tenants/{id}/seeded-connections",
        allow: &["POST"],
        endpoints: &[at("POST", "SeedConnections", |p| {
            Some(Route::Test(TestRoute::SeedConnections(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/tenants/{id}/connections/{connection}/access-lost",
        allow: &["POST"],
        endpoints: &[at("POST", "LoseAccess", |p| {
            Some(Route::Test(TestRoute::LoseAccess(
                p[0].clone(),
                p[1].clone(),
            )))
        })],
    },
    PathRoutes {
        path: "/__test/tenants/{id}/connections/{connection}/seeded-posts",
        allow: &["POST"],
        endpoints: &[at("POST", "SeedPosts", |p| {
            Some(Route::Test(TestRoute::SeedPosts(
                p[0].clone(),
                p[1].clone(),
            )))
        })],
    },
    PathRoutes {
        path: "/__test/tenants/{id}/connections-plan",
        allow: &["GET"],
        endpoints: &[at("GET", "ConnectionsPlan", |p| {
            Some(Route::Test(TestRoute::ConnectionsPlan(p[0].clone())))
        })],
    },
    PathRoutes {
        path: "/__test/grants/{id}/audit-flush",
        allow: &["POST"],
        endpoints: &[at("POST", "FlushAudit", |p| {
            Some(Route::Test(TestRoute::FlushAudit(p[0].clone())))
        })],
    },
];

/// Every table this build serves.
fn tables() -> impl Iterator<Item = &'static PathRoutes> {
    let test: &'static [PathRoutes] = {
        #[cfg(feature = "test-powers")]
        {
            TEST_TABLE
        }
        #[cfg(not(feature = "test-powers"))]
        {
            &[]
        }
    };
    TABLE.iter().chain(test)
}

/// Whether a request segment fills a `{name}` parameter: connect secrets and ids are URL-safe
/// text; reconnect and page links must look like their tokens; a probe is any non-empty text.
fn fills(parameter: &str, segment: &str) -> bool {
    match parameter {
        "reconnect_token" => reconnect_links::looks_like_token(segment),
        "page_token" => page_links::looks_like_token(segment),
        "probe" => !segment.is_empty(),
        // A deletion's status page answers any code, known or not, with a page.
        "code" => !segment.is_empty(),
        #[cfg(feature = "test-powers")]
        "queue" => WorkQueue::from_slug(segment).is_some(),
        _ => id(segment).is_some(),
    }
}

/// The parameters of `path` if it matches `pattern`.
fn matches(pattern: &str, path: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = pattern.trim_start_matches('/').split('/').collect();
    if parts.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(path) {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(parameter) if fills(parameter, segment) => params.push((*segment).to_owned()),
            Some(_) => return None,
            None if part == segment => {}
            None => return None,
        }
    }
    Some(params)
}

/// Resolves a request to a route and the table's endpoint for it. Unknown paths are
/// `not_found`; known paths with another method are `method_not_allowed` with the methods
/// they take.
pub fn resolve_endpoint(method: &str, path: &str) -> Result<(Route, &'static Endpoint), ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || ApiError::not_found(loggable_path(path));
    for routes in tables() {
        let Some(params) = matches(routes.path, &segments) else {
            continue;
        };
        let Some(endpoint) = routes.endpoints.iter().find(|e| e.method == method) else {
            return Err(ApiError::method_not_allowed(method, routes.allow));
        };
        return (endpoint.build)(&params)
            .map(|route| (route, endpoint))
            .ok_or_else(not_found);
    }
    Err(not_found())
}

/// Resolves a request to a route (see [`resolve_endpoint`]).
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    resolve_endpoint(method, path).map(|(route, _)| route)
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

/// A path segment that can be an id: non-empty, at most 100 characters, URL-safe characters.
fn id(segment: &str) -> Option<String> {
    let ok = !segment.is_empty()
        && segment.len() <= 100
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| segment.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::api_error::ErrorCode;

    #[test]
    fn the_table_is_consistent_with_itself() {
        let mut operations = std::collections::BTreeSet::new();
        let mut paths = std::collections::BTreeSet::new();
        for routes in tables() {
            assert!(paths.insert(routes.path), "{} twice", routes.path);
            let methods: Vec<&str> = routes.endpoints.iter().map(|e| e.method).collect();
            assert_eq!(
                methods, routes.allow,
                "{}: allow lists its methods",
                routes.path
            );
            for e in routes.endpoints {
                assert!(operations.insert(e.operation), "{} twice", e.operation);
                assert_eq!(
                    e.scope.is_some(),
                    routes.path.starts_with("/v1/"),
                    "{} {}: a scope exactly for tenant routes",
                    e.method,
                    routes.path
                );
            }
        }
        let token = resolve_endpoint("POST", "/v1/connections/conn_1/token")
            .unwrap()
            .1;
        assert_eq!(token.scope, Some(Scope::TokensRead));
        let list = resolve_endpoint("GET", "/v1/connections").unwrap().1;
        assert_eq!(list.scope, Some(Scope::Manage));
    }

    #[test]
    fn a_deletion_status_page_takes_any_code_so_it_answers_with_a_page() {
        for code in ["del_abc", "%C2%B9", &"x".repeat(500)] {
            assert_eq!(
                resolve("GET", &format!("/platforms/facebook/data-deletion/{code}")),
                Ok(Route::Platform(PlatformRoute::DeletionStatus(
                    "facebook".into(),
                    code.to_owned()
                ))),
                "{code}"
            );
        }
    }

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
        // Served as a static asset, before the worker (STATIC_ASSETS).
        assert!(resolve("GET", "/openapi.json").is_err());
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
