//! Data-key rotation (issue 13, the security suite). A new key goes first in `DATA_KEYS` and
//! the old one stays after it; the re-encryption sweep (part of the minute dispatch) seals every
//! stored secret again under the new key; `/admin/metrics` says when nothing needs the old key
//! any more; and then the old key leaves `DATA_KEYS` and everything still works: the grants'
//! tokens, a tenant's own OAuth client secret, a webhook endpoint's signing secret and the one
//! a rotation replaced (still signing in its overlap).
//!
//! The control: with the old key removed before the sweep, the same token read fails, and the
//! metrics name the missing key.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::receiver::Receiver;
use common::tenants::{bearer, Tenant};
use common::x_flow::{connect, connect_youtube};
use common::Stack;
use serde_json::{json, Value};
use std::time::Duration;

fn metrics_keys(s: &Stack) -> Value {
    let m = s.worker.get("/admin/metrics", Some(&s.operator()));
    assert_eq!(m.status, 200, "{m:?}");
    m.body["data_keys"].clone()
}

/// Rows sealed under `key`, over every table that holds sealed secrets.
fn sealed_under(keys: &Value, key: &str) -> u64 {
    keys["sealed"][key]
        .as_object()
        .map(|tables| tables.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0)
}

#[test]
fn the_reencryption_sweep_moves_every_secret_to_the_new_key_and_the_old_one_can_go() {
    let mut s = Stack::start("key_rotation");
    let old_keys = s.worker.var("DATA_KEYS").expect("the stack sets DATA_KEYS");
    assert!(old_keys.starts_with("k1:"), "{old_keys}");
    let new_key = format!("k2:{}", common::data_key());
    let rx = Receiver::start();

    // Everything that holds a sealed secret, sealed under k1: a tenant's own OAuth client (for
    // YouTube), a webhook endpoint's signing secret, and two grants (X, and YouTube through the
    // tenant's client).
    let (tenant, x, youtube, x_token) = {
        let t = Tenant::new(&s, "Rotation");
        let own = s.worker.send(
            "PUT",
            &format!("/admin/tenants/{}/clients/youtube", t.id),
            Some(&s.operator()),
            &json!({ "client_id": s.google_client.id, "client_secret": s.google_client.secret }),
        );
        assert_eq!(own.status, 200, "{own:?}");
        let (endpoint, old_secret) = t.webhook_endpoint(&rx.url("rotation"));
        // Rotated, so the endpoint also holds the secret it replaced (sealed on its own).
        let rotated = s.worker.send(
            "POST",
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            Some(&bearer(&t.manage)),
            &json!({ "overlap_seconds": 604_800 }),
        );
        assert_eq!(rotated.status, 200, "{rotated:?}");
        let secret = rotated.body["secret"].as_str().unwrap().to_owned();
        rx.set_secrets("rotation", &[secret.as_str(), old_secret.as_str()]);
        let x = connect(&s, &t, "rot-user", "rotation_x");
        let youtube = connect_youtube(&s, &t, "rot-user", "rotation_yt");
        let read = t.token(&x);
        assert_eq!(read.status, 200, "{read:?}");
        let token = read.body["access_token"].as_str().unwrap().to_owned();
        (t.keys(), x, youtube, token)
    };
    let before = metrics_keys(&s);
    assert_eq!(before["active"], "k1", "{before}");
    assert_eq!(before["sealed"]["k1"]["grants"], 2, "{before}");
    assert_eq!(before["sealed"]["k1"]["tenant_clients"], 1, "{before}");
    assert_eq!(before["sealed"]["k1"]["webhook_endpoints"], 1, "{before}");
    assert_eq!(
        before["sealed"]["k1"]["webhook_previous_secrets"], 1,
        "{before}"
    );

    // The control: k1 removed too early. The grant's tokens no longer open (a clear error,
    // never a token), and the metrics name the key that is missing.
    s.worker.set_var("DATA_KEYS", &new_key);
    s.worker.restart();
    {
        let t = tenant.on(&s);
        let read = t.token(&x);
        assert!(read.status >= 500, "{read:?}");
        assert!(read.body["error"]["code"].is_string(), "{read:?}");
        let keys = metrics_keys(&s);
        assert_eq!(keys["missing"], json!(["k1"]), "{keys}");
    }

    // The rotation: k2 first, k1 kept to open what it sealed.
    s.worker
        .set_var("DATA_KEYS", &format!("{new_key},{old_keys}"));
    s.worker.restart();
    let t = tenant.on(&s);
    let read = t.token(&x);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["access_token"], x_token.as_str());
    let rotating = metrics_keys(&s);
    assert_eq!(rotating["active"], "k2", "{rotating}");
    assert_eq!(rotating["still_needed"], json!(["k1"]), "{rotating}");

    // The sweep: one dispatch moves everything (a handful of rows; it pages through more).
    s.worker.run_cron("* * * * *");
    let summary = s.worker.last_cron_summary("dispatch");
    assert_eq!(summary["rekeyed"], 5, "{summary}");
    let after = metrics_keys(&s);
    assert_eq!(sealed_under(&after, "k1"), 0, "{after}");
    assert_eq!(after["sealed"]["k2"]["grants"], 2, "{after}");
    assert_eq!(after["still_needed"], json!([]), "{after}");
    // A second pass finds nothing to do.
    s.worker.run_cron("* * * * *");
    let again = s.worker.last_cron_summary("dispatch");
    assert_eq!(again["rekeyed"], 0, "{again}");
    drop(t);

    // k1 leaves DATA_KEYS. Nothing needed it.
    s.worker.set_var("DATA_KEYS", &new_key);
    s.worker.restart();
    let t = tenant.on(&s);
    let read = t.token(&x);
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        read.body["access_token"],
        x_token.as_str(),
        "the same token"
    );
    // The tenant's own client secret opens: the YouTube refresh authenticates with it.
    let refreshed = t.refresh(&youtube);
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    // The endpoint's signing secret opens, and so does the one it replaced: an event is
    // delivered signed by both, and each verifies it.
    assert_eq!(s.fake.revoke_all_grants_of("rotation_x"), 1);
    let refused = t.refresh(&x);
    assert_eq!(refused.status, 409, "{refused:?}");
    let delivered = s
        .worker
        .eventually(Duration::from_secs(30), "a verified delivery", || {
            rx.received()
                .into_iter()
                .find(|r| r.name == "rotation" && r.delivered())
        });
    assert_eq!(delivered.verified_by, [true, true], "{delivered:?}");
    let last = metrics_keys(&s);
    assert_eq!(last["configured"], json!(["k2"]), "{last}");
    assert_eq!(last["missing"], json!([]), "{last}");
    assert_eq!(
        t.connection(&x)["health"]["reason"],
        "revoked_or_expired",
        "the revocation is recorded with the new key in place"
    );
}
