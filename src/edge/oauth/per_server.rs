//! The question a connect link asks before the consent, on platforms where Evergreen cannot
//! know where the account is:
//!
//! - **Mastodon** (every server its own provider): which server the account is on.
//!   `POST /connect/{secret}` `server=…` checks the name (`core::oauth::mastodon`), opens the
//!   link, registers Evergreen as an app on that server the first time this tenant connects an
//!   account there (kept as the tenant's client for `mastodon:<server>`, its secret sealed),
//!   and goes on to the server's consent page like any other connect.
//! - **Bluesky**: the account's handle. `POST /connect/{secret}` `handle=…` finds the account's
//!   authorization server (`edge::oauth::atproto_client::discover`), opens the link, and
//!   pushes the consent there (PAR, DPoP, `private_key_jwt`) before sending the browser.
//!
//! A name that cannot be used gets the form again, saying why, and leaves the link unopened.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::TenantId;
use crate::core::crypto::digest::sha256_hex;
use crate::core::crypto::Binding;
use crate::core::http::pages::{content_security_policy_with_form_target, Input, Page};
use crate::core::http::query;
use crate::core::oauth::catalogue::ProviderSpec;
use crate::core::oauth::connect_sessions::check_open;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::oauth::mastodon::{self, ServerName};
use crate::edge::common::context::Context;
use crate::edge::http::http_client;
use crate::edge::http::public_url;
use crate::edge::http::respond;
use crate::edge::oauth::flow::{finish, Stop};
use crate::edge::oauth::oauth_start::start_oauth;
use crate::edge::oauth::platform;
use crate::store::{self, Db};
use worker::{D1Database, Request, Response};

/// What a link asks before the consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Mastodon: the server (form field `server`).
    Server,
    /// Bluesky: the handle (form field `handle`).
    Handle,
}

impl Ask {
    const fn field(self) -> &'static str {
        match self {
            Ask::Server => "server",
            Ask::Handle => "handle",
        }
    }
}

/// What a link for `provider` asks first, if anything: a per-server template's server, or
/// Bluesky's handle.
pub fn asks_first(cx: &Context, provider: &str) -> Option<Ask> {
    let catalogue = cx.catalogue().ok()?;
    let spec = catalogue.get(provider)?;
    if spec.per_server.is_some() {
        Some(Ask::Server)
    } else if spec.atproto.is_some() {
        Some(Ask::Handle)
    } else {
        None
    }
}

/// The page asking the question, with why the last answer was refused (`refused`), posting
/// back to the link itself.
pub fn server_form(
    cx: &Context,
    ask: Ask,
    secret: &str,
    typed: &str,
    refused: Option<&str>,
) -> worker::Result<Response> {
    let status = if refused.is_some() { 400 } else { 200 };
    let mut page = match ask {
        Ask::Server => Page::new(
            status,
            "Your Mastodon server",
            "Which Mastodon server is your account on?",
        )
        .paragraph(
            "Every Mastodon server is its own site. Type the name of yours, as in your \
             address (@you@mastodon.social is on mastodon.social).",
        ),
        Ask::Handle => Page::new(
            status,
            "Your Bluesky handle",
            "What is your Bluesky handle?",
        )
        .paragraph(
            "Type your handle, such as alice.bsky.social or your own domain: Evergreen \
                 finds the server your account is on from it.",
        ),
    };
    if let Some(why) = refused {
        page = page.paragraph(why);
    }
    let (label, placeholder) = match ask {
        Ask::Server => ("Server", "mastodon.social"),
        Ask::Handle => ("Handle", "alice.bsky.social"),
    };
    let page = page
        .input(Input {
            name: ask.field().into(),
            label: label.into(),
            value: typed.to_owned(),
            placeholder: placeholder.into(),
        })
        .button(&format!("/connect/{secret}"), "Continue");
    let mut response = respond::page(&page)?;
    // The answer to the form is a redirect to the server's consent page, which browsers hold
    // to `form-action` too: any https server (and the fake platform in test builds).
    let target = format!("https: {}", consent_origin_of_any_server(cx));
    response.headers_mut().set(
        "content-security-policy",
        &content_security_policy_with_form_target(target.trim()),
    )?;
    Ok(response)
}

/// Where a server's consent page is, as the browser will be sent there: `https://<server>` in
/// a release build (covered by `https:`), the fake platform in a test build.
fn consent_origin_of_any_server(cx: &Context) -> String {
    let template = cx
        .catalogue()
        .ok()
        .and_then(|c| c.get(mastodon::TEMPLATE).cloned());
    let probe = ServerName::parse("mastodon.social").ok();
    match (template, probe) {
        (Some(t), Some(server)) => {
            crate::edge::links::reconnect_tokens::consent_origin(cx, Some(&t.instance(&server)))
        }
        _ => String::new(),
    }
}

/// `POST /connect/{secret}` `server=…`.
pub async fn choose_server(
    mut req: Request,
    cx: &Context,
    secret: &str,
    now: Timestamp,
) -> worker::Result<Response> {
    let form = req.text().await.unwrap_or_default();
    let token_hash = sha256_hex(secret);
    let db = cx.db()?;
    #[derive(serde::Deserialize)]
    struct Found {
        provider: String,
        expires_at: f64,
        opened_at: Option<f64>,
        return_url: String,
    }
    let found: Option<Found> = db.first(store::sessions::find_connect(&token_hash)).await?;
    let Some(found) = found else {
        return finish(
            Err(Stop::new(FlowError::UnknownConnectLink)),
            None,
            "connect.server_refused",
        );
    };
    let read = crate::edge::common::d1_time::read;
    if let Err(why) = check_open(read(found.expires_at), found.opened_at.map(read), now) {
        // Used (its server named already) or expired: as a GET of the link would say.
        return finish(
            Err(Stop::new(why)),
            Some(&found.return_url),
            "connect.open_refused",
        );
    }
    let Some(ask) = asks_first(cx, &found.provider) else {
        // Only a link that asks something takes a form; any other is opened with a GET.
        return finish(
            Err(Stop::because(
                FlowError::UnknownConnectLink,
                "a form was posted to a link that asks nothing",
            )),
            None,
            "connect.server_refused",
        );
    };
    let typed = query::param(&format!("?{form}"), ask.field()).unwrap_or_default();
    let return_url = found.return_url;
    let outcome = match ask {
        Ask::Server => {
            let server = match ServerName::parse(&typed) {
                Ok(server) => server,
                // Nothing was opened or called: the person corrects the name on the same link.
                Err(why) => return server_form(cx, ask, secret, &typed, Some(&why.0)),
            };
            open_with_server(&req, cx, &db, &token_hash, &found.provider, &server, now).await
        }
        Ask::Handle => {
            let spec = crate::edge::oauth::flow::provider_spec(cx, &found.provider);
            let discovered = match spec {
                Ok(spec) => crate::edge::oauth::atproto_client::discover(cx, &spec, &typed).await,
                Err(stop) => return finish(Err(stop), Some(&return_url), "connect.open_refused"),
            };
            let account = match discovered {
                Ok(account) => account,
                // Not found (or not a name Evergreen calls): the form again, the link unopened.
                Err(why) => return server_form(cx, ask, secret, &typed, Some(&why.0)),
            };
            open_for_account(&req, cx, &db, &token_hash, &account, now).await
        }
    };
    finish(outcome, Some(&return_url), "connect.open_refused")
}

/// Opens a Bluesky link for the account discovery found, and pushes its consent.
async fn open_for_account(
    req: &Request,
    cx: &Context,
    db: &D1Database,
    token_hash: &str,
    account: &crate::edge::oauth::atproto_client::Discovered,
    now: Timestamp,
) -> Result<Response, Stop> {
    let session = open_session(db, token_hash, now).await?;
    start_oauth(req, cx, session, Some(account), now).await
}

async fn open_with_server(
    req: &Request,
    cx: &Context,
    db: &D1Database,
    token_hash: &str,
    template: &str,
    server: &ServerName,
    now: Timestamp,
) -> Result<Response, Stop> {
    let mut session = open_session(db, token_hash, now).await?;
    let instance = crate::edge::oauth::flow::provider_spec(cx, &mastodon::instance_name(server))?;
    let origin = public_url::origin(cx, req)
        .ok_or_else(|| Stop::because(FlowError::Internal, "the request has no usable origin"))?;
    ensure_app(cx, db, &session.tenant_id, &instance, &origin, now).await?;
    db.write(store::sessions::choose_provider(
        &session.id,
        template,
        &instance.name,
    ))
    .await?;
    session.provider = instance.name.clone();
    start_oauth(req, cx, session, None, now).await
}

/// The tenant's app on the server: the one registered before, or a new registration
/// (`POST /api/v1/apps`), its secret sealed as the tenant's client for the instance.
async fn ensure_app(
    cx: &Context,
    db: &D1Database,
    tenant_id: &TenantId,
    instance: &ProviderSpec,
    origin: &crate::core::http::origin::Origin,
    now: Timestamp,
) -> Result<(), Stop> {
    let known = platform::client_credentials(cx, db, tenant_id, instance)
        .await
        .map_err(|e| Stop::because(FlowError::Internal, e))?;
    if known.is_some() {
        return Ok(());
    }
    let register_url = instance
        .per_server
        .as_ref()
        .map(|p| p.register_url.clone())
        .ok_or_else(|| Stop::because(FlowError::Internal, "no registration URL"))?;
    let body = mastodon::registration_form(
        &public_url::callback_url(origin),
        &instance.scope_param(),
        &origin.to_url(),
    );
    let request = http::Request::builder()
        .method("POST")
        .uri(platform::platform_url(cx, &register_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body.into_bytes())
        .map_err(|e| Stop::because(FlowError::Internal, e.to_string()))?;
    let failed = |why: String| Stop::because(FlowError::RegistrationFailed, why);
    let answer = http_client::send(request)
        .await
        .map_err(|e| failed(format!("the server did not answer: {e}")))?;
    let status = answer.status().as_u16();
    if status != 200 {
        return Err(failed(format!("the server answered HTTP {status}")));
    }
    let (client_id, client_secret) = mastodon::registered_client(answer.body())
        .ok_or_else(|| failed("the answer named no client".to_owned()))?;
    let sealed = cx.keyring()?.seal(
        Binding {
            purpose: "tenant_client_secret",
            tenant_id,
            row_id: &instance.name,
            version: 0,
        },
        client_secret.as_bytes(),
    )?;
    // A registration racing this one may have stored its app first: the first one stays.
    store::tenants::add_client(
        db,
        &store::tenants::Client {
            tenant_id: tenant_id.clone(),
            provider: instance.name.clone(),
            client_id,
            secret_ciphertext: sealed.blob,
            key_id: sealed.key_id.as_str().to_owned(),
            updated_at: now,
        },
    )
    .await
    .map_err(|e| Stop::because(FlowError::Internal, e.to_string()))?;
    Ok(())
}

/// Marks the link's session opened (once); `connect_link_used` when it already was.
async fn open_session(
    db: &D1Database,
    token_hash: &str,
    now: Timestamp,
) -> Result<crate::edge::oauth::oauth_start::OpenedSession, Stop> {
    db.first(store::sessions::open_connect(token_hash, now))
        .await?
        .ok_or_else(|| Stop::new(FlowError::ConnectLinkUsed))
}
