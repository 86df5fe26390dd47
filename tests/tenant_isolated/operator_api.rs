//! The operator's API and tenants' API keys, end to end under `wrangler dev`.
use crate::common;
use crate::stack;
use serde_json::{json, Value};

fn admin(method: &str, path: &str, body: &Value) -> common::Answer {
    let s = stack();
    s.worker.send(method, path, Some(&s.operator()), body)
}

fn new_tenant(name: &str) -> String {
    let created = admin("POST", "/admin/tenants", &json!({ "name": name }));
    assert_eq!(created.status, 201, "{created:?}");
    created.body["id"].as_str().unwrap().to_owned()
}

/// Returns (key id, key).
fn new_key(tenant: &str, scopes: &[&str]) -> (String, String) {
    let created = admin(
        "POST",
        &format!("/admin/tenants/{tenant}/api-keys"),
        &json!({ "scopes": scopes }),
    );
    assert_eq!(created.status, 201, "{created:?}");
    (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["key"].as_str().unwrap().to_owned(),
    )
}

fn list_with(key: &str) -> common::Answer {
    stack()
        .worker
        .get("/v1/connections", Some(&format!("Bearer {key}")))
}

#[test]
fn the_admin_api_requires_the_operator_secret() {
    let s = stack();
    for auth in [None, Some("Bearer wrong")] {
        let answer = s
            .worker
            .send("POST", "/admin/tenants", auth, &json!({ "name": "x" }));
        assert_eq!(answer.status, 401);
        assert_eq!(answer.body["error"]["code"], "unauthorized");
    }
}

#[test]
fn keys_are_shown_once_and_stored_only_as_a_hash() {
    let tenant = new_tenant("Acme Scheduler");
    let (key_id, key) = new_key(&tenant, &["manage", "tokens:read"]);
    assert!(key.starts_with("evg_"));
    let shown = admin("GET", &format!("/admin/tenants/{tenant}"), &Value::Null);
    assert_eq!(shown.status, 200);
    assert_eq!(shown.body["name"], "Acme Scheduler");
    assert_eq!(shown.body["api_keys"][0]["id"], key_id.as_str());
    assert_eq!(
        shown.body["api_keys"][0]["scopes"],
        json!(["tokens:read", "manage"])
    );
    let text = shown.body.to_string();
    assert!(!text.contains(&key), "the key was shown again");
    assert!(!text.contains(&key[12..]), "more than the prefix was shown");
    let on_disk = common::files_containing(stack().worker.persist_dir(), &key);
    assert!(
        on_disk.is_empty(),
        "the plaintext key is stored: {on_disk:?}"
    );
}

#[test]
fn a_key_reads_only_within_its_scope_and_lifetime() {
    let tenant = new_tenant("Scoped");
    let (_, manage) = new_key(&tenant, &["manage"]);
    let (_, tokens_only) = new_key(&tenant, &["tokens:read"]);
    let ok = list_with(&manage);
    assert_eq!((ok.status, &ok.body["connections"]), (200, &json!([])));
    let filtered = stack().worker.get(
        "/v1/connections?end_user_ref=user%2042",
        Some(&format!("Bearer {manage}")),
    );
    assert_eq!(
        (filtered.status, &filtered.body["connections"]),
        (200, &json!([]))
    );
    let forbidden = list_with(&tokens_only);
    assert_eq!(
        (forbidden.status, forbidden.body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );

    for bad in [
        "",
        "evg_guess",
        &format!("{}x", &manage[..manage.len() - 1]),
    ] {
        let refused = list_with(bad);
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{bad:?}"
        );
    }
    assert_eq!(stack().worker.get("/v1/connections", None).status, 401);
}

#[test]
fn revoked_keys_stop_at_once_and_rotated_keys_after_their_overlap() {
    let tenant = new_tenant("Rotating");
    let (id, key) = new_key(&tenant, &["manage"]);

    let rotated = admin(
        "POST",
        &format!("/admin/api-keys/{id}/rotate"),
        &json!({ "overlap_seconds": 600 }),
    );
    assert_eq!(rotated.status, 201, "{rotated:?}");
    assert_eq!(rotated.body["replaces"], id.as_str());
    assert_eq!(rotated.body["scopes"], json!(["manage"]));
    let new_key = rotated.body["key"].as_str().unwrap().to_owned();
    assert_eq!(
        list_with(&key).status,
        200,
        "the old key works during the overlap"
    );
    assert_eq!(list_with(&new_key).status, 200);

    let new_id = rotated.body["id"].as_str().unwrap().to_owned();
    let immediate = admin(
        "POST",
        &format!("/admin/api-keys/{new_id}/rotate"),
        &json!({ "overlap_seconds": 0 }),
    );
    assert_eq!(immediate.status, 201);
    assert_eq!(
        list_with(&new_key).status,
        401,
        "no overlap: the replaced key stops at once"
    );

    let revoked = admin(
        "POST",
        &format!("/admin/api-keys/{id}/revoke"),
        &Value::Null,
    );
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    assert_eq!(list_with(&key).status, 401);
    let again = admin("POST", &format!("/admin/api-keys/{id}/rotate"), &json!({}));
    assert_eq!(again.status, 404, "a revoked key cannot be rotated");
}

/// Isolation between tenants' real connections is tested once the connect flow creates them;
/// until then this pins the answer for an id the caller does not own.
#[test]
fn an_unknown_connection_id_is_not_found() {
    let b = new_tenant("B");
    let (_, key_b) = new_key(&b, &["manage"]);
    let missing = stack().worker.get(
        "/v1/connections/conn_of_someone_else",
        Some(&format!("Bearer {key_b}")),
    );
    assert_eq!(
        (missing.status, missing.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[test]
fn return_urls_are_validated_and_replaced_as_a_set() {
    let tenant = new_tenant("Urls");
    let path = format!("/admin/tenants/{tenant}/return-urls");
    let bad = admin(
        "PUT",
        &path,
        &json!({ "urls": ["http://app.example.com/cb"] }),
    );
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (400, Some("invalid_request"))
    );
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("https"));
    let set = admin(
        "PUT",
        &path,
        &json!({ "urls": ["https://b.example.com/cb", "https://a.example.com/cb", "https://a.example.com/cb"] }),
    );
    assert_eq!(set.status, 200);
    assert_eq!(
        set.body["return_urls"],
        json!(["https://a.example.com/cb", "https://b.example.com/cb"])
    );
    admin(
        "PUT",
        &path,
        &json!({ "urls": ["http://127.0.0.1:3000/back"] }),
    );
    let shown = admin("GET", &format!("/admin/tenants/{tenant}"), &Value::Null);
    assert_eq!(
        shown.body["return_urls"],
        json!(["http://127.0.0.1:3000/back"])
    );
    let unknown = admin(
        "PUT",
        "/admin/tenants/ten_nope/return-urls",
        &json!({ "urls": [] }),
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn tenant_client_secrets_are_sealed_at_rest_and_never_returned() {
    let tenant = new_tenant("Own client");
    let secret = "tenant-client-secret-0f3e9a7c5b1d";
    let path = format!("/admin/tenants/{tenant}/clients/x");
    let set = admin(
        "PUT",
        &path,
        &json!({ "client_id": "their-x-app", "client_secret": secret }),
    );
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(set.body["key_id"], "k1");
    let shown = admin("GET", &format!("/admin/tenants/{tenant}"), &Value::Null);
    assert_eq!(shown.body["clients"][0]["client_id"], "their-x-app");
    assert!(!shown.body.to_string().contains(secret) && !set.body.to_string().contains(secret));
    assert!(common::files_containing(stack().worker.persist_dir(), secret).is_empty());

    let unknown_provider = admin(
        "PUT",
        &format!("/admin/tenants/{tenant}/clients/myspace"),
        &json!({ "client_id": "a", "client_secret": "b" }),
    );
    assert_eq!(unknown_provider.status, 404);
    assert_eq!(admin("DELETE", &path, &Value::Null).status, 200);
    assert_eq!(admin("DELETE", &path, &Value::Null).status, 404);
}
