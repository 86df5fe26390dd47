//! Tenant isolation on every route (issue 13, the security suite): another tenant's key, with
//! both scopes, reaches nothing of this tenant's on any documented `/v1/` route that names an
//! id. Each answer is a 404, exactly as for an id that does not exist; the lists show none of
//! it; and afterwards nothing of this tenant's has changed. The route list comes from
//! `/openapi.json` (which `tests/openapi.rs` holds equal to the router), so a new route is
//! covered the day it is documented.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::openapi::{Body, Contract};
use common::receiver::Receiver;
use common::tenants::{bearer, create_post, Tenant};
use common::x_flow::connect;
use common::Stack;
use evergreen_fake_platform::Fault;
use serde_json::{json, Value};

#[test]
fn another_tenants_key_reaches_nothing_of_this_tenants_on_any_route() {
    let s = Stack::start("isolation");
    let c = Contract::fetch(&s.worker.base_url);
    let owner = Tenant::new(&s, "Owner");
    let other = Tenant::new(&s, "Other");

    // The owner's things: a connection, a post with its target, a webhook endpoint with a
    // delivery (of the event a failed refresh raises).
    let connection = connect(&s, &owner, "owner-user", "isolated_owner");
    let rx = Receiver::start();
    let (endpoint, _) = owner.webhook_endpoint(&rx.url("owner"));
    let post = create_post(
        &s,
        &owner,
        "isolation-1",
        &json!({ "text": "mine", "connection_ids": [connection], "publish_at": "2099-01-01T00:00:00Z" }),
    );
    assert_eq!(post.status, 201, "{post:?}");
    let post_id = post.body["id"].as_str().unwrap().to_owned();
    let target = post.body["targets"][0]["id"].as_str().unwrap().to_owned();
    s.fake.set_token_outage(Some(Fault::ServiceUnavailable));
    assert_eq!(owner.refresh(&connection).status, 502);
    s.fake.set_token_outage(None);
    let delivery = owner.first_delivery(&endpoint);
    let before = snapshot(&owner, &connection, &post_id, &endpoint);

    // The other tenant's key, with both scopes.
    let key = bearer(&other.new_key(&["manage", "tokens:read"]));
    let as_other = [("authorization", key.as_str())];

    let owned = |name: &str| -> &str {
        match name {
            "connection_id" => &connection,
            "post_id" => &post_id,
            "target_id" => &target,
            "endpoint_id" => &endpoint,
            "delivery_id" => &delivery,
            other => panic!("no owned id for {{{other}}}: add it to this test"),
        }
    };
    let mut tried = 0;
    for (method, template) in c.operations() {
        if !template.starts_with("/v1/") || !template.contains('{') {
            continue;
        }
        let names: Vec<&str> = template
            .split('{')
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap())
            .collect();
        let params: Vec<&str> = names.iter().map(|n| owned(n)).collect();
        // A body that would be valid for the owner, so only ownership can refuse it.
        let body = if template.ends_with("/resolve") {
            Body::Json(json!({ "outcome": "published", "platform_post_id": "123" }))
        } else if method == "post" && template.ends_with("/token") {
            Body::Json(json!({}))
        } else {
            Body::None
        };
        let answer = c.call(
            &method.to_uppercase(),
            &template,
            &params,
            "",
            &as_other,
            body,
        );
        assert_eq!(answer.status, 404, "{method} {template}: {answer:?}");
        assert_eq!(answer.json["error"]["code"], "not_found", "{answer:?}");
        tried += 1;
    }
    assert!(
        tried >= 14,
        "every /v1/ route with an id was tried: {tried}"
    );

    // The other tenant's lists show none of it.
    for path in ["/v1/connections", "/v1/posts", "/v1/webhook-endpoints"] {
        let listed = c.call("GET", path, &[], "", &as_other, Body::None);
        assert_eq!(listed.status, 200, "{path}: {listed:?}");
        for id in [&connection, &post_id, &endpoint] {
            assert!(!listed.text.contains(id.as_str()), "{path} shows {id}");
        }
    }

    // And nothing of the owner's changed.
    assert_eq!(snapshot(&owner, &connection, &post_id, &endpoint), before);
    assert_eq!(owner.token(&connection).status, 200);
}

/// What the owner sees of its connection, post, endpoint and deliveries (without the
/// deliveries' changing attempt fields).
fn snapshot(owner: &Tenant<'_>, connection: &str, post: &str, endpoint: &str) -> Value {
    let deliveries = owner.get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"));
    let ids: Vec<Value> = deliveries.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    let connection = owner.connection(connection);
    json!({
        "connection": connection["id"],
        "connection_health": connection["health"]["colour"],
        "post": owner.get(&format!("/v1/posts/{post}")).body,
        "endpoint": owner.get(&format!("/v1/webhook-endpoints/{endpoint}")).body,
        "deliveries": ids,
    })
}
