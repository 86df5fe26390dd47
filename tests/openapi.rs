//! The API contract: `/openapi.json` (written by hand in `assets/openapi.json`, served as a static asset) against the
//! worker under `wrangler dev`. Every documented operation is requested, and each answer must
//! have a documented status and match its documented schema (errors included). Every route
//! the router serves (`core::http::routes::TABLE`: method, path, operation id) must be documented
//! under its operation id, and nothing is documented that the router does not serve.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::browser::{query_param, Browser};
use common::openapi::{violation, Body, Contract};
use common::Stack;
use serde_json::{json, Value};

const FAR_FUTURE: &str = "2099-01-01T09:00:00Z";

/// A list's paging: a page of one, the next page through its cursor (documented parameters
/// and answers), and `400` for a limit out of `1..=cap` or a cursor the list did not give.
fn pages(c: &Contract, template: &str, params: &[&str], headers: &[(&str, &str)], cap: u32) {
    let first = c.call("GET", template, params, "?limit=1", headers, Body::None);
    assert_eq!(first.status, 200, "{template}: {first:?}");
    if let Some(cursor) = first.json["next_cursor"].as_str() {
        let next = c.call(
            "GET",
            template,
            params,
            &format!("?limit=1&cursor={cursor}"),
            headers,
            Body::None,
        );
        assert_eq!(next.status, 200, "{template}: {next:?}");
    }
    let over = format!("?limit={}", cap + 1);
    for query in ["?limit=0", over.as_str(), "?cursor=not-a-cursor"] {
        assert_eq!(
            c.call("GET", template, params, query, headers, Body::None)
                .status,
            400,
            "{template}{query}"
        );
    }
}

/// `{name}` placeholders, whatever their names: `/v1/posts/{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for ch in path.chars() {
        match ch {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            c if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every (method, path, operation id) a release build serves: the router's table
/// (`core::http::routes::TABLE`: the same table the worker matches requests with) and the
/// static assets served before it (`core::http::routes::STATIC_ASSETS`).
fn router_routes() -> Vec<(String, String, String)> {
    evergreen::core::http::routes::TABLE
        .iter()
        .flat_map(|routes| {
            routes.endpoints.iter().map(move |e| {
                (
                    e.method.to_ascii_lowercase(),
                    routes.path.to_owned(),
                    e.operation.to_owned(),
                )
            })
        })
        .chain(evergreen::core::http::routes::STATIC_ASSETS.iter().map(
            |(method, path, operation)| {
                (
                    method.to_ascii_lowercase(),
                    (*path).to_owned(),
                    (*operation).to_owned(),
                )
            },
        ))
        .collect()
}

#[test]
fn every_route_is_documented_and_every_documented_operation_answers_in_its_documented_shapes() {
    let s = Stack::start("openapi");
    let c = Contract::fetch(&s.worker.base_url);
    let op = s.operator();
    let as_op = [("authorization", op.as_str())];
    let base = s.worker.base_url.clone();
    let return_url = format!("{base}/__test/return");

    // Both directions between the router and the document.
    let documented: Vec<(String, String)> = c
        .operations()
        .into_iter()
        .map(|(m, p)| (m, shape(&p)))
        .collect();
    let table = router_routes();
    let served: Vec<(String, String)> = table
        .iter()
        .map(|(m, p, _)| (m.clone(), shape(p)))
        .collect();
    assert!(served.len() >= 40, "the route table was read: {served:?}");
    // Each served operation carries the document's operationId.
    for (method, path, operation) in &table {
        let documented = c.doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(p, _)| shape(p) == shape(path))
            .and_then(|(_, item)| item[method.as_str()]["operationId"].as_str());
        assert_eq!(
            documented,
            Some(operation.as_str()),
            "{method} {path}: the table's operation id and the document's differ"
        );
    }
    for route in &served {
        assert!(
            documented.contains(route),
            "served, not documented: {route:?}"
        );
    }
    for operation in &documented {
        assert!(
            served.contains(operation),
            "documented, not served: {operation:?}"
        );
    }

    // Operations.
    c.call("GET", "/healthz", &[], "", &[], Body::None);
    let wrong_method = ureq::delete(&format!("{base}/v1/posts")).call();
    let Err(ureq::Error::Status(405, answer)) = wrong_method else {
        panic!("DELETE /v1/posts: {wrong_method:?}");
    };
    assert!(answer.header("allow").is_some());
    let body: Value = answer.into_json().unwrap();
    let error = json!({ "$ref": "#/components/schemas/Error" });
    assert_eq!(violation(&c.doc, &error, &body, "405"), None);

    // The operator API.
    let tenant = c.call(
        "POST",
        "/admin/tenants",
        &[],
        "",
        &as_op,
        Body::Json(json!({ "name": "Contract" })),
    );
    assert_eq!(tenant.status, 201);
    let tid = tenant.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call(
            "POST",
            "/admin/tenants",
            &[],
            "",
            &as_op,
            Body::Json(json!({}))
        )
        .status,
        400
    );
    assert_eq!(
        c.call(
            "GET",
            "/admin/tenants/{tenant_id}",
            &[&tid],
            "",
            &as_op,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/admin/tenants/{tenant_id}",
            &["ten_nope"],
            "",
            &as_op,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        c.call(
            "GET",
            "/admin/tenants/{tenant_id}",
            &[&tid],
            "",
            &[],
            Body::None
        )
        .status,
        401
    );
    let key = |scopes: Value| {
        let made = c.call(
            "POST",
            "/admin/tenants/{tenant_id}/api-keys",
            &[&tid],
            "",
            &as_op,
            Body::Json(json!({ "scopes": scopes })),
        );
        assert_eq!(made.status, 201, "{made:?}");
        (
            made.json["id"].as_str().unwrap().to_owned(),
            made.json["key"].as_str().unwrap().to_owned(),
        )
    };
    let manage = format!("Bearer {}", key(json!(["manage"])).1);
    let tokens = format!("Bearer {}", key(json!(["tokens:read"])).1);
    let (spare, _) = key(json!(["manage"]));
    assert_eq!(
        c.call(
            "POST",
            "/admin/tenants/{tenant_id}/api-keys",
            &[&tid],
            "",
            &as_op,
            Body::Json(json!({ "scopes": ["nope"] }))
        )
        .status,
        400
    );
    let rotated = c.call(
        "POST",
        "/admin/api-keys/{key_id}/rotate",
        &[&spare],
        "",
        &as_op,
        Body::Json(json!({ "overlap_seconds": 0 })),
    );
    assert_eq!(rotated.status, 201, "{rotated:?}");
    assert_eq!(
        c.call(
            "POST",
            "/admin/api-keys/{key_id}/revoke",
            &[&spare],
            "",
            &as_op,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "POST",
            "/admin/api-keys/{key_id}/revoke",
            &["key_nope"],
            "",
            &as_op,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        c.call(
            "PUT",
            "/admin/tenants/{tenant_id}/return-urls",
            &[&tid],
            "",
            &as_op,
            Body::Json(json!({ "urls": [return_url] }))
        )
        .status,
        200
    );
    let client = json!({ "client_id": "contract-client", "client_secret": "contract-secret" });
    assert_eq!(
        c.call(
            "PUT",
            "/admin/tenants/{tenant_id}/clients/{provider}",
            &[&tid, "tiktok"],
            "",
            &as_op,
            Body::Json(client)
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "DELETE",
            "/admin/tenants/{tenant_id}/clients/{provider}",
            &[&tid, "tiktok"],
            "",
            &as_op,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "DELETE",
            "/admin/tenants/{tenant_id}/clients/{provider}",
            &[&tid, "tiktok"],
            "",
            &as_op,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        c.call("GET", "/admin/dead-letters", &[], "", &as_op, Body::None)
            .status,
        200
    );
    pages(&c, "/admin/dead-letters", &[], &as_op, 200);
    assert_eq!(
        c.call("GET", "/admin/metrics", &[], "", &as_op, Body::None)
            .status,
        200
    );
    assert_eq!(
        c.call("GET", "/admin/metrics", &[], "", &[], Body::None)
            .status,
        401
    );
    assert_eq!(
        c.call(
            "POST",
            "/admin/dead-letters/{dead_letter_id}/replay",
            &["999999"],
            "",
            &as_op,
            Body::None
        )
        .status,
        404
    );

    // Connecting, in a browser, from a session the API made.
    let as_manage = [("authorization", manage.as_str())];
    let session = c.call(
        "POST",
        "/v1/connect-sessions",
        &[],
        "",
        &as_manage,
        Body::Json(
            json!({ "provider": "x", "end_user_ref": "contract-user", "return_url": return_url }),
        ),
    );
    assert_eq!(session.status, 201, "{session:?}");
    assert_eq!(c.call("POST", "/v1/connect-sessions", &[], "", &as_manage,
        Body::Json(json!({ "provider": "x", "end_user_ref": "u", "return_url": "https://evil.example/" }))).status, 400);
    let browser = Browser::new();
    let authorize = common::x_flow::open(&browser, session.json["url"].as_str().unwrap());
    let callback = common::x_flow::consent(&s, &browser, &authorize, "contract_user", "approve");
    let landed = browser.get(&callback);
    let conn = query_param(landed.redirect(), "connection_id").unwrap();
    assert_eq!(
        c.call("GET", "/connect/{secret}", &["nope"], "", &[], Body::None)
            .status,
        404
    );
    // A Mastodon link asks for the server first; a name Evergreen will not call gets the form
    // again, a real one opens the link.
    s.fake.add_mastodon_server("contract.social");
    let mastodon = c.call(
        "POST",
        "/v1/connect-sessions",
        &[],
        "",
        &as_manage,
        Body::Json(
            json!({ "provider": "mastodon", "end_user_ref": "contract-md", "return_url": return_url }),
        ),
    );
    assert_eq!(mastodon.status, 201, "{mastodon:?}");
    let md_secret = mastodon.json["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        c.call(
            "GET",
            "/connect/{secret}",
            &[&md_secret],
            "",
            &[],
            Body::None
        )
        .status,
        200
    );
    for (secret, server, status) in [
        (md_secret.as_str(), "127.0.0.1", 400),
        ("nope", "contract.social", 404),
        (md_secret.as_str(), "contract.social", 303),
    ] {
        let named = c.call(
            "POST",
            "/connect/{secret}",
            &[secret],
            "",
            &[],
            Body::Form(&[("server", server)]),
        );
        assert_eq!(named.status, status, "{server}: {named:?}");
    }
    assert_eq!(
        c.call("GET", "/oauth/callback", &[], "", &[], Body::None)
            .status,
        400
    );
    // Bluesky's client metadata and key, at public URLs.
    for path in ["/oauth/client-metadata.json", "/oauth/jwks.json"] {
        assert_eq!(
            c.call("GET", path, &[], "", &[], Body::None).status,
            200,
            "{path}"
        );
    }

    // Connections.
    assert_eq!(
        c.call("GET", "/v1/connections", &[], "", &as_manage, Body::None)
            .status,
        200
    );
    pages(&c, "/v1/connections", &[], &as_manage, 500);
    assert_eq!(
        c.call(
            "GET",
            "/v1/connections",
            &[],
            "?health=purple",
            &as_manage,
            Body::None
        )
        .status,
        400
    );
    assert_eq!(
        c.call("GET", "/v1/connections", &[], "", &[], Body::None)
            .status,
        401
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/connections",
            &[],
            "",
            &[("authorization", tokens.as_str())],
            Body::None
        )
        .status,
        403
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/connections/{connection_id}",
            &[&conn],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/connections/{connection_id}",
            &["conn_nope"],
            "",
            &as_manage,
            Body::None
        )
        .status,
        404
    );
    let as_tokens = [("authorization", tokens.as_str())];
    assert_eq!(
        c.call(
            "POST",
            "/v1/connections/{connection_id}/token",
            &[&conn],
            "",
            &as_tokens,
            Body::Json(json!({}))
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/connections/{connection_id}/token",
            &[&conn],
            "",
            &as_tokens,
            Body::Json(json!({ "bogus": 1 }))
        )
        .status,
        400
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/connections/{connection_id}/refresh",
            &[&conn],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/connections/{connection_id}/events",
            &[&conn],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    for query in ["?limit=0", "?limit=1001", "?cursor=not-a-cursor"] {
        assert_eq!(
            c.call(
                "GET",
                "/v1/connections/{connection_id}/events",
                &[&conn],
                query,
                &as_manage,
                Body::None
            )
            .status,
            400,
            "{query}"
        );
    }
    let link = c.call(
        "POST",
        "/v1/connections/{connection_id}/reconnect-link",
        &[&conn],
        "",
        &as_manage,
        Body::None,
    );
    assert_eq!(link.status, 201);
    let token = link.json["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        c.call("GET", "/reconnect/{token}", &[&token], "", &[], Body::None)
            .status,
        200
    );
    assert_eq!(
        c.call("POST", "/reconnect/{token}", &[&token], "", &[], Body::None)
            .status,
        303
    );
    assert_eq!(
        c.call(
            "GET",
            "/reconnect/{token}",
            &["k1.a.b"],
            "",
            &[],
            Body::None
        )
        .status,
        404
    );

    // Webhook endpoints.
    let endpoint = c.call(
        "POST",
        "/v1/webhook-endpoints",
        &[],
        "",
        &as_manage,
        Body::Json(
            json!({ "url": "https://hooks.example.com/evergreen", "description": "contract" }),
        ),
    );
    assert_eq!(endpoint.status, 201, "{endpoint:?}");
    let eid = endpoint.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call(
            "POST",
            "/v1/webhook-endpoints",
            &[],
            "",
            &as_manage,
            Body::Json(json!({ "url": "ftp://x" }))
        )
        .status,
        400
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/webhook-endpoints",
            &[],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/webhook-endpoints/{endpoint_id}",
            &[&eid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/webhook-endpoints/{endpoint_id}/deliveries",
            &[&eid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    pages(
        &c,
        "/v1/webhook-endpoints/{endpoint_id}/deliveries",
        &[&eid],
        &as_manage,
        200,
    );
    let rotate = |body| {
        c.call(
            "POST",
            "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
            &[&eid],
            "",
            &as_manage,
            body,
        )
        .status
    };
    assert_eq!(rotate(Body::None), 200);
    assert_eq!(rotate(Body::Json(json!({ "overlap_seconds": 0 }))), 200);
    assert_eq!(
        rotate(Body::Json(json!({ "overlap_seconds": 604_801 }))),
        400
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/webhook-deliveries/{delivery_id}/redeliver",
            &["dlv_nope"],
            "",
            &as_manage,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        c.call(
            "DELETE",
            "/v1/webhook-endpoints/{endpoint_id}",
            &[&eid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/webhook-endpoints/{endpoint_id}",
            &[&eid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        rotate(Body::None),
        404,
        "a deleted endpoint does not rotate"
    );

    // Posts, scheduled far ahead so nothing is published.
    let post_body = json!({ "text": "The contract's post", "connection_ids": [conn], "publish_at": FAR_FUTURE });
    let with_key = [
        ("authorization", manage.as_str()),
        ("idempotency-key", "contract-1"),
    ];
    let made = c.call(
        "POST",
        "/v1/posts",
        &[],
        "",
        &with_key,
        Body::Json(post_body.clone()),
    );
    assert_eq!(made.status, 201, "{made:?}");
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts",
            &[],
            "",
            &with_key,
            Body::Json(post_body)
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts",
            &[],
            "",
            &with_key,
            Body::Json(json!({ "text": "another", "connection_ids": [conn] }))
        )
        .status,
        409
    );
    let other_key = [
        ("authorization", manage.as_str()),
        ("idempotency-key", "contract-2"),
    ];
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts",
            &[],
            "",
            &other_key,
            Body::Json(json!({ "text": "x" }))
        )
        .status,
        400
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts",
            &[],
            "",
            &other_key,
            Body::Json(json!({ "text": "y".repeat(300), "connection_ids": [conn] }))
        )
        .status,
        422
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts",
            &[],
            "",
            &other_key,
            Body::Json(json!({ "text": "z", "connection_ids": ["conn_nope"] }))
        )
        .status,
        404
    );
    // A body over the 64 KiB cap is refused before anything is read into a post.
    let huge = c.call(
        "POST",
        "/v1/posts",
        &[],
        "",
        &other_key,
        Body::Json(json!({ "text": "w".repeat(70 * 1024), "connection_ids": [conn] })),
    );
    assert_eq!(huge.status, 413, "{huge:?}");
    assert_eq!(huge.json["error"]["code"], "payload_too_large");
    let pid = made.json["id"].as_str().unwrap().to_owned();
    let tgt = made.json["targets"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.call("GET", "/v1/posts", &[], "", &as_manage, Body::None)
            .status,
        200
    );
    pages(&c, "/v1/posts", &[], &as_manage, 100);
    assert_eq!(
        c.call(
            "GET",
            "/v1/posts",
            &[],
            "?state=bogus",
            &as_manage,
            Body::None
        )
        .status,
        400
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/posts/{post_id}",
            &[&pid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "GET",
            "/v1/posts/{post_id}",
            &["post_nope"],
            "",
            &as_manage,
            Body::None
        )
        .status,
        404
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts/{post_id}/retry",
            &[&pid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    let resolve = "/v1/posts/{post_id}/targets/{target_id}/resolve";
    assert_eq!(
        c.call(
            "POST",
            resolve,
            &[&pid, &tgt],
            "",
            &as_manage,
            Body::Json(json!({ "outcome": "retry" }))
        )
        .status,
        409
    );
    assert_eq!(
        c.call(
            "POST",
            resolve,
            &[&pid, &tgt],
            "",
            &as_manage,
            Body::Json(json!({ "outcome": "maybe" }))
        )
        .status,
        400
    );

    // The connections page: the link, the session, the buttons.
    let page_link = c.call(
        "POST",
        "/v1/page-links",
        &[],
        "",
        &as_manage,
        Body::Json(json!({ "end_user_ref": "contract-user" })),
    );
    assert_eq!(page_link.status, 201);
    assert_eq!(
        c.call(
            "POST",
            "/v1/page-links",
            &[],
            "",
            &as_manage,
            Body::Json(json!({ "end_user_ref": "" }))
        )
        .status,
        400
    );
    let page_token = page_link.json["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let opened = c.call(
        "GET",
        "/page/open/{token}",
        &[&page_token],
        "",
        &[],
        Body::None,
    );
    assert_eq!(opened.status, 303);
    assert_eq!(
        c.call(
            "GET",
            "/page/open/{token}",
            &[&page_token],
            "",
            &[],
            Body::None
        )
        .status,
        410
    );
    assert_eq!(
        c.call(
            "GET",
            "/page/open/{token}",
            &["k1.a.b"],
            "",
            &[],
            Body::None
        )
        .status,
        400
    );
    let cookie = opened
        .set_cookie
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = [("cookie", cookie.as_str())];
    let page = c.call("GET", "/page", &[], "", &with_cookie, Body::None);
    assert_eq!(page.status, 200);
    assert_eq!(c.call("GET", "/page", &[], "", &[], Body::None).status, 401);
    let csrf = common::browser::page_csrf(&page.text).unwrap();
    let form = [("csrf", csrf.as_str())];
    let page_retry = "/page/posts/{post_id}/retry";
    assert_eq!(
        c.call(
            "POST",
            page_retry,
            &[&pid],
            "",
            &with_cookie,
            Body::Form(&form)
        )
        .status,
        303
    );
    assert_eq!(
        c.call("POST", page_retry, &[&pid], "", &[], Body::Form(&form))
            .status,
        401
    );
    let page_resolve = "/page/posts/{post_id}/targets/{target_id}/resolve";
    let resend = [("csrf", csrf.as_str()), ("outcome", "retry")];
    assert_eq!(
        c.call(
            "POST",
            page_resolve,
            &[&pid, &tgt],
            "",
            &with_cookie,
            Body::Form(&resend)
        )
        .status,
        303
    );
    assert_eq!(
        c.call(
            "POST",
            page_resolve,
            &[&pid, &tgt],
            "",
            &with_cookie,
            Body::Form(&form)
        )
        .status,
        400
    );
    let page_reconnect = "/page/connections/{connection_id}/reconnect";
    assert_eq!(
        c.call(
            "POST",
            page_reconnect,
            &[&conn],
            "",
            &with_cookie,
            Body::Form(&form)
        )
        .status,
        303
    );
    let page_disconnect = "/page/connections/{connection_id}/disconnect";
    assert_eq!(
        c.call(
            "POST",
            page_disconnect,
            &[&conn],
            "",
            &with_cookie,
            Body::Form(&[("csrf", "forged")])
        )
        .status,
        403
    );
    assert_eq!(
        c.call(
            "POST",
            "/v1/posts/{post_id}/cancel",
            &[&pid],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );

    // Meta's callbacks refuse what Meta did not sign.
    let unsigned = [("signed_request", "not.signed")];
    assert_eq!(
        c.call(
            "POST",
            "/platforms/{provider}/deauthorize",
            &["facebook"],
            "",
            &[],
            Body::Form(&unsigned)
        )
        .status,
        401
    );
    assert_eq!(
        c.call(
            "POST",
            "/platforms/{provider}/data-deletion",
            &["facebook"],
            "",
            &[],
            Body::Form(&unsigned)
        )
        .status,
        401
    );
    assert_eq!(
        c.call(
            "GET",
            "/platforms/{provider}/data-deletion/{code}",
            &["facebook", "nope"],
            "",
            &[],
            Body::None
        )
        .status,
        404
    );

    // An end user's data: exported, erased (one with nothing stored), and a missing name.
    for (method, query, status) in [
        ("GET", "?end_user_ref=contract-user", 200),
        ("GET", "", 400),
        ("DELETE", "?end_user_ref=nobody-here", 200),
        ("DELETE", "?end_user_ref=", 400),
    ] {
        assert_eq!(
            c.call(
                method,
                "/v1/end-user-data",
                &[],
                query,
                &as_manage,
                Body::None
            )
            .status,
            status,
            "{method} {query}"
        );
    }
    // A tenant deleted, and one that does not exist.
    let leaving = c.call(
        "POST",
        "/admin/tenants",
        &[],
        "",
        &as_op,
        Body::Json(json!({"name": "Leaving"})),
    );
    let leaving = leaving.json["id"].as_str().unwrap().to_owned();
    for (id, status) in [(leaving.as_str(), 202), ("ten_nope", 404)] {
        assert_eq!(
            c.call(
                "DELETE",
                "/admin/tenants/{tenant_id}",
                &[id],
                "",
                &as_op,
                Body::None
            )
            .status,
            status
        );
    }

    // Last, disconnecting.
    assert_eq!(
        c.call(
            "DELETE",
            "/v1/connections/{connection_id}",
            &[&conn],
            "",
            &as_manage,
            Body::None
        )
        .status,
        200
    );
    assert_eq!(
        c.call(
            "DELETE",
            "/v1/connections/{connection_id}",
            &[&conn],
            "",
            &as_manage,
            Body::None
        )
        .status,
        404
    );

    let missed: Vec<_> = c.operations().difference(&c.exercised()).cloned().collect();
    assert!(
        missed.is_empty(),
        "documented operations never requested: {missed:?}"
    );
}
