//! The connections page (`/page…`): its link, its session, and its buttons.
//!
//! The decisions are the core's: link signing and CSRF (`core::links::page_links`), what the page
//! says (`core::links::connections_page`). This file reads the session and the rows, and hands every
//! button to the code the API uses (reconnect links, disconnect, retry, resolve), after
//! checking that what it names belongs to the session's end user. A connection or post of
//! another end user is "gone", exactly like one that does not exist.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids::new_secret;
use crate::core::common::ids::TenantId;
use crate::core::crypto::digest::sha256_hex;
use crate::core::http::api_error::{ApiError, ErrorCode};
use crate::core::http::pages::{content_security_policy_with_form_target, Page};
use crate::core::http::routes::{PageButton, PageRoute};
use crate::core::http::{cursor, query};
use crate::core::links::connections_page::{
    self, account_label, ConnectionView, Outcome, PageView, PostView, TargetView,
};
use crate::core::links::page_links::{self, PageLinkError, COOKIE, PAGE_PATH, SESSION_TTL_MS};
use crate::core::publish::posts::{Resolution, TargetState};
use crate::core::tenancy::api_keys::Scopes;
use crate::edge::common::context::Context;
use crate::edge::common::d1_time::read as time;
use crate::edge::grant::grant_object::disconnect;
use crate::edge::http::public_url;
use crate::edge::http::respond::Internal;
use crate::edge::http::respond::{self, Handled};
use crate::edge::links::reconnect_tokens;
use crate::edge::oauth::flow::finish;
use crate::edge::publish::resolution;
use crate::edge::tenancy::caller::Caller;
use crate::store::{self, Db};
use serde::Deserialize;
use serde_json::json;
use worker::{Request, Response};

/// `POST /v1/page-links` `{"end_user_ref"}`: a link to that end user's page, valid 15 minutes.
pub async fn create_link(
    mut req: Request,
    cx: &Context,
    caller: &Caller,
    now: Timestamp,
) -> Handled {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        end_user_ref: String,
    }
    let ask: Ask = respond::read_json(&mut req).await.map_err(|e| {
        ApiError::invalid_request(format!("{} The body is {{\"end_user_ref\"}}.", e.message))
    })?;
    let claims = page_links::new_claims(&caller.tenant_id, &ask.end_user_ref, now)??;
    let token = page_links::sign(&claims, &*cx.keyring()?);
    let origin = public_url::origin(cx, &req).ok_or(Internal::NoOrigin)?;
    Ok(respond::json(
        201,
        &json!({
            "end_user_ref": claims.end_user_ref,
            "url": page_links::link_url(&origin.to_url(), &token),
            "expires_at": Timestamp::from_millis(claims.expires_at).to_rfc3339(),
        }),
    )?)
}

pub async fn handle(route: PageRoute, mut req: Request, cx: &Context, now: Timestamp) -> Handled {
    if let PageRoute::Open(token) = &route {
        return open(&req, cx, token, now).await;
    }
    let Some(session) = session(&req, cx, now).await? else {
        return Ok(refusal(
            401,
            "This page has expired",
            "For your security the connections page signs you out after a while. Open it \
             again from the app you came from.",
        )?);
    };
    let PageRoute::Button(button) = route else {
        // `Open` was answered above.
        return show(&req, cx, &session, now).await;
    };
    let form = match checked_form(&mut req, cx, &session).await? {
        Ok(form) => form,
        Err(refused) => return Ok(refused),
    };
    press(button, &req, &form, cx, &session, now).await
}

/// Who the page is for, from its cookie.
struct Session {
    id: String,
    tenant_id: TenantId,
    end_user_ref: String,
    csrf: String,
}

impl Session {
    /// The session acting as its tenant's caller, for the API's own code.
    fn caller(&self) -> Caller {
        Caller {
            tenant_id: self.tenant_id.clone(),
            key_id: self.id.clone(),
            scopes: Scopes::from_stored("manage"),
        }
    }
}

async fn session(req: &Request, cx: &Context, now: Timestamp) -> worker::Result<Option<Session>> {
    let Some(origin) = public_url::origin(cx, req) else {
        return Ok(None);
    };
    let Some(secret) = COOKIE.read(req.headers().get("cookie")?.as_deref(), &origin) else {
        return Ok(None);
    };
    #[derive(Deserialize)]
    struct Row {
        id: String,
        tenant_id: TenantId,
        end_user_ref: String,
        csrf: String,
    }
    let row: Option<Row> = cx
        .db()?
        .first(store::sessions::page(&sha256_hex(&secret), now))
        .await?;
    Ok(row.map(|r| Session {
        id: r.id,
        tenant_id: r.tenant_id,
        end_user_ref: r.end_user_ref,
        csrf: r.csrf,
    }))
}

/// `GET /page/open/{token}`: one session per link, then the page without the link in the URL.
async fn open(req: &Request, cx: &Context, token: &str, now: Timestamp) -> Handled {
    let claims = match page_links::verify(token, &*cx.keyring()?, now) {
        Ok(claims) => claims,
        Err(e) => return Ok(link_refusal(e)?),
    };
    let origin = public_url::origin(cx, req).ok_or(Internal::NoOrigin)?;
    let secret = new_secret()?;
    let inserted = cx
        .db()?
        .write(store::sessions::open_page(&store::sessions::NewPage {
            id: &crate::core::common::ids::PageSessionId::mint()?,
            link_nonce: &claims.nonce,
            secret_hash: &sha256_hex(&secret),
            tenant_id: &claims.tenant_id,
            end_user_ref: &claims.end_user_ref,
            csrf: &new_secret()?,
            now,
            expires_at: now.plus_millis(SESSION_TTL_MS),
        }))
        .await?;
    if inserted != 1 {
        return Ok(link_refusal(PageLinkError::Used)?);
    }
    Ok(respond::redirect(
        &format!("{}{PAGE_PATH}", origin.to_url()),
        Some(&COOKIE.set_cookie(&origin, &secret, SESSION_TTL_MS / 1000)),
    )?)
}

fn link_refusal(e: PageLinkError) -> worker::Result<Response> {
    let (status, heading, todo) = match e {
        PageLinkError::Invalid => (
            400,
            "This link is not valid",
            "It may have been cut short when it was copied. Open your connections again from \
             the app you came from.",
        ),
        PageLinkError::Expired => (
            410,
            "This link has expired",
            "Links to this page work for 15 minutes. Open your connections again from the app \
             you came from.",
        ),
        PageLinkError::Used => (
            410,
            "This link was already used",
            "Each link opens the page once. Open your connections again from the app you came \
             from.",
        ),
    };
    refusal(status, heading, todo)
}

fn refusal(status: u16, heading: &str, todo: &str) -> worker::Result<Response> {
    respond::page(&Page::new(status, "Connections", heading).paragraph(todo))
}

/// `GET /page`.
// Exception to the 80-line limit: gathers the page's two lists and their buttons; what the page says is already the core's (`core::links::connections_page`).
#[allow(clippy::too_many_lines)]
async fn show(req: &Request, cx: &Context, session: &Session, now: Timestamp) -> Handled {
    let db = cx.db()?;
    let catalogue = cx.catalogue()?;
    let platform = |provider: &str| {
        catalogue
            .resolve(provider)
            .map_or_else(|| provider.to_owned(), |p| p.display_name.clone())
    };
    let rows = crate::edge::grant::connection_reads::connections_of(
        cx,
        &db,
        &session.tenant_id,
        &session.end_user_ref,
        now,
    )
    .await?;
    let mut form_targets: Vec<String> = Vec::new();
    let mut connections = Vec::new();
    for (row, health) in rows {
        let consent =
            reconnect_tokens::consent_origin(cx, catalogue.resolve(&row.provider).as_deref());
        if !consent.is_empty() && !form_targets.contains(&consent) {
            form_targets.push(consent);
        }
        connections.push(ConnectionView {
            platform: platform(&row.provider),
            account: account_label(row.username, row.display_name, &row.external_id),
            id: row.id,
            health,
            access_expires_at: row.access_expires_at.map(time),
            grant_expires_at: row.grant_expires_at.map(time),
            last_refresh_at: row.last_refresh_at.map(time),
            last_validated_at: row.last_validated_at.map(time),
        });
    }
    #[derive(Deserialize)]
    struct TargetRow {
        post_id: String,
        text: String,
        created_at: f64,
        id: String,
        provider: String,
        state: String,
        last_error: Option<String>,
        username: Option<String>,
        display_name: Option<String>,
        external_id: String,
    }
    let url = req.inner().url();
    let scope = cursor::ListScope {
        list: "page_posts",
        tenant_id: session.tenant_id.as_str(),
        filter: cursor::filter_form(&[Some(&session.end_user_ref)]),
    };
    let keyring = cx.keyring()?;
    let before = match query::param(&url, "posts_cursor") {
        None => None,
        Some(given) => match cursor::read(&scope, &given, &keyring) {
            Ok(position) => Some(position),
            Err(_) => {
                return Ok(refusal(
                    400,
                    "That link to older posts is not valid",
                    "Open the page again from the app you came from.",
                )?)
            }
        },
    };
    // One post past the page says whether another page follows.
    let targets: Vec<TargetRow> = db
        .all(store::posts::needing_attention(
            &session.tenant_id,
            &session.end_user_ref,
            before.as_ref().map(|p| (p.key, p.id.as_str())),
            POSTS_SHOWN + 1,
        ))
        .await?;
    let mut posts: Vec<PostView> = Vec::new();
    for t in targets {
        let Some(state) = TargetState::parse(&t.state) else {
            continue;
        };
        let target = TargetView {
            platform: platform(&t.provider),
            account: account_label(t.username, t.display_name, &t.external_id),
            id: t.id,
            state,
            message: t.last_error,
        };
        match posts.last_mut() {
            Some(post) if post.id == t.post_id => post.targets.push(target),
            _ => posts.push(PostView {
                id: t.post_id,
                text: t.text,
                created_at: time(t.created_at),
                targets: vec![target],
            }),
        }
    }
    let older_posts = cursor::cut(&mut posts, POSTS_SHOWN as u32, |last| cursor::Position {
        key: last.created_at.as_millis(),
        id: last.id.clone(),
    })
    .map(|p| {
        let next = cursor::next(&scope, p, &keyring);
        query::with_params(PAGE_PATH, &[("posts_cursor", next.as_str())])
    });
    let view = PageView {
        end_user_ref: session.end_user_ref.clone(),
        now,
        csrf: session.csrf.clone(),
        notice: connections_page::notice(
            query::param(&url, "connection_id").as_deref(),
            query::param(&url, "error").as_deref(),
            query::param(&url, "done").as_deref(),
        ),
        connections,
        posts,
        older_posts,
    };
    let mut response = respond::html(200, connections_page::render(&view))?;
    let headers = response.headers_mut();
    // Reconnect buttons are answered with a redirect to the platform's consent page.
    headers.set(
        "content-security-policy",
        &content_security_policy_with_form_target(&form_targets.join(" ")),
    )?;
    // Under `no-referrer` browsers send `Origin: null` with the page's forms, and the buttons
    // check the origin. The page's URL carries no secret, and nothing leaves for another site.
    headers.set("referrer-policy", "same-origin")?;
    Ok(response)
}

/// The most posts needing a person one page lists (newest first, each with all its targets
/// that need one); a link leads to the older ones.
const POSTS_SHOWN: i64 = 100;

/// A button's form, once its origin and CSRF token check out; otherwise the refusal page.
async fn checked_form(
    req: &mut Request,
    cx: &Context,
    session: &Session,
) -> worker::Result<Result<String, Response>> {
    let own = public_url::origin(cx, req).map(|o| o.to_url());
    let sent_origin = req.headers().get("origin")?;
    let body = match respond::read_body(req).await {
        Ok(body) => body,
        Err(e) => {
            return Ok(Err(refusal(
                e.status(),
                "That form could not be read",
                &e.message,
            )?))
        }
    };
    // The form is `application/x-www-form-urlencoded`: a query string.
    let form = format!("?{body}");
    let csrf = query::param(&form, "csrf");
    let from_here = own
        .as_deref()
        .is_some_and(|own| page_links::same_origin(sent_origin.as_deref(), own));
    if !from_here || !page_links::csrf_matches(&session.csrf, csrf.as_deref()) {
        return Ok(Err(refusal(
            403,
            "That button did not come from your connections page",
            "Nothing was changed. Open the page again and use its buttons.",
        )?));
    }
    Ok(Ok(form))
}

async fn press(
    button: PageButton,
    req: &Request,
    form: &str,
    cx: &Context,
    session: &Session,
    now: Timestamp,
) -> Handled {
    let db = cx.db()?;
    let outcome = match button {
        PageButton::Reconnect(id) => return start_reconnect(req, cx, &db, session, &id, now).await,
        PageButton::Disconnect(id) => {
            if !owns_connection(&db, session, &id).await? {
                Outcome::Gone
            } else {
                match disconnect::disconnect(cx, &db, &session.caller(), &id).await {
                    Ok(_) => Outcome::Disconnected,
                    Err(respond::Failure::Api(e)) if e.code == ErrorCode::NotFound => Outcome::Gone,
                    Err(e) => return Err(e),
                }
            }
        }
        PageButton::RetryPost(id) => {
            if !owns_post(&db, session, &id).await? {
                Outcome::Gone
            } else if resolution::retry_targets(cx, &db, &id, now)
                .await?
                .is_empty()
            {
                Outcome::NothingToRetry
            } else {
                Outcome::Retried
            }
        }
        PageButton::ResolveTarget(post, target) => {
            let resolution = match query::param(form, "outcome").as_deref() {
                Some("retry") => Resolution::Retry,
                Some("published") => {
                    let id = query::param(form, "platform_post_id").unwrap_or_default();
                    let Some(published) = Resolution::published(&id) else {
                        return Ok(refusal(
                            400,
                            "Give the post's id or link",
                            "To mark a post as published, paste its id or link on the platform \
                             (at most 200 characters). Go back and try again.",
                        )?);
                    };
                    published
                }
                _ => {
                    return Ok(refusal(
                        400,
                        "That button sent something unexpected",
                        "Nothing was changed. Open the page again and use its buttons.",
                    )?)
                }
            };
            if !owns_target(&db, session, &post, &target).await? {
                Outcome::Gone
            } else if !resolution::settle_unconfirmed(cx, &db, &target, &resolution, now).await? {
                Outcome::AlreadySettled
            } else if resolution == Resolution::Retry {
                Outcome::Resent
            } else {
                Outcome::MarkedPublished
            }
        }
    };
    Ok(respond::redirect(
        &query::with_params(PAGE_PATH, &[("done", outcome.code())]),
        None,
    )?)
}

/// The consent at the platform through a fresh reconnect link, back to the page afterwards.
async fn start_reconnect(
    req: &Request,
    cx: &Context,
    db: &worker::D1Database,
    session: &Session,
    connection_id: &str,
    now: Timestamp,
) -> Handled {
    let minted = reconnect_tokens::mint(
        cx,
        db,
        &session.tenant_id,
        Some(&session.end_user_ref),
        connection_id,
        1,
        now,
    )
    .await?;
    let Some((token, _)) = minted else {
        return Ok(respond::redirect(
            &query::with_params(PAGE_PATH, &[("done", Outcome::Gone.code())]),
            None,
        )?);
    };
    let origin = public_url::origin(cx, req).ok_or(Internal::NoOrigin)?;
    let page_url = format!("{}{PAGE_PATH}", origin.to_url());
    let outcome = reconnect_tokens::begin(req, cx, &token, &page_url, now).await;
    Ok(finish(outcome, Some(&page_url), "page.reconnect_refused")?)
}

async fn owns_connection(
    db: &worker::D1Database,
    session: &Session,
    id: &str,
) -> worker::Result<bool> {
    exists(
        db,
        store::connections::owned_by_end_user(id, &session.tenant_id, &session.end_user_ref),
    )
    .await
}

async fn owns_post(db: &worker::D1Database, session: &Session, id: &str) -> worker::Result<bool> {
    exists(
        db,
        store::posts::owned_by_end_user(id, &session.tenant_id, &session.end_user_ref),
    )
    .await
}

async fn owns_target(
    db: &worker::D1Database,
    session: &Session,
    post: &str,
    target: &str,
) -> worker::Result<bool> {
    exists(
        db,
        store::posts::target_owned_by_end_user(
            target,
            post,
            &session.tenant_id,
            &session.end_user_ref,
        ),
    )
    .await
}

async fn exists(db: &worker::D1Database, query: store::Statement) -> worker::Result<bool> {
    let found = db.run(query).await?.first();
    Ok(found.is_some())
}
