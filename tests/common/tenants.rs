//! A tenant made through the operator API, ready to connect accounts: an allowed return URL (the
//! test build's return page), a `manage` key and a `tokens:read` key.

use super::{Answer, Stack};
use serde_json::{json, Value};

pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A tenant's id and keys, owned ([`Tenant::keys`]).
#[derive(Clone)]
pub struct TenantKeys {
    pub id: String,
    pub manage: String,
    pub tokens: String,
    pub return_url: String,
}

impl TenantKeys {
    /// The same tenant with the same keys, on `stack` borrowed anew.
    pub fn on<'b>(&self, stack: &'b Stack) -> Tenant<'b> {
        Tenant {
            stack,
            id: self.id.clone(),
            manage: self.manage.clone(),
            tokens: self.tokens.clone(),
            return_url: self.return_url.clone(),
        }
    }
}

pub struct Tenant<'a> {
    stack: &'a Stack,
    pub id: String,
    pub manage: String,
    pub tokens: String,
    pub return_url: String,
}

impl<'a> Tenant<'a> {
    pub fn new(stack: &'a Stack, name: &str) -> Self {
        let admin = |method: &str, path: &str, body: &Value| {
            stack
                .worker
                .send(method, path, Some(&stack.operator()), body)
        };
        let created = admin("POST", "/admin/tenants", &json!({ "name": name }));
        assert_eq!(created.status, 201, "{created:?}");
        let id = created.body["id"].as_str().unwrap().to_owned();
        let key = |scopes: &[&str]| {
            let made = admin(
                "POST",
                &format!("/admin/tenants/{id}/api-keys"),
                &json!({ "scopes": scopes }),
            );
            assert_eq!(made.status, 201, "{made:?}");
            made.body["key"].as_str().unwrap().to_owned()
        };
        let return_url = format!("{}/__test/return", stack.worker.base_url);
        let set = admin(
            "PUT",
            &format!("/admin/tenants/{id}/return-urls"),
            &json!({ "urls": [return_url] }),
        );
        assert_eq!(set.status, 200, "{set:?}");
        let (manage, tokens) = (key(&["manage"]), key(&["tokens:read"]));
        Tenant {
            stack,
            id,
            manage,
            tokens,
            return_url,
        }
    }

    /// The tenant's id and keys without the stack: what a test keeps while it lets go of the
    /// stack to kill and restart the worker ([`TenantKeys::on`] carries on as this tenant).
    pub fn keys(&self) -> TenantKeys {
        TenantKeys {
            id: self.id.clone(),
            manage: self.manage.clone(),
            tokens: self.tokens.clone(),
            return_url: self.return_url.clone(),
        }
    }

    /// A new API key of this tenant's with `scopes`, made by the operator.
    pub fn new_key(&self, scopes: &[&str]) -> String {
        let made = self.stack.worker.send(
            "POST",
            &format!("/admin/tenants/{}/api-keys", self.id),
            Some(&self.stack.operator()),
            &json!({ "scopes": scopes }),
        );
        assert_eq!(made.status, 201, "{made:?}");
        made.body["key"].as_str().unwrap().to_owned()
    }

    /// The id of the first delivery endpoint `endpoint`'s log shows, once it shows one (the
    /// webhook queue writes it after the event).
    pub fn first_delivery(&self, endpoint: &str) -> String {
        self.stack.worker.eventually(
            std::time::Duration::from_secs(30),
            "a delivery in the endpoint's log",
            || {
                let listed = self.get(&format!("/v1/webhook-endpoints/{endpoint}/deliveries"));
                listed.body["deliveries"][0]["id"]
                    .as_str()
                    .map(str::to_owned)
            },
        )
    }

    /// A webhook endpoint at `url`: its id and its signing secret (shown this once).
    pub fn webhook_endpoint(&self, url: &str) -> (String, String) {
        let made = self.stack.worker.send(
            "POST",
            "/v1/webhook-endpoints",
            Some(&bearer(&self.manage)),
            &json!({ "url": url }),
        );
        assert_eq!(made.status, 201, "{made:?}");
        (
            made.body["id"].as_str().unwrap().to_owned(),
            made.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    pub fn connect_session(&self, end_user_ref: &str) -> Answer {
        self.connect_session_for("x", end_user_ref)
    }

    pub fn connect_session_for(&self, provider: &str, end_user_ref: &str) -> Answer {
        self.stack.worker.send(
            "POST",
            "/v1/connect-sessions",
            Some(&bearer(&self.manage)),
            &json!({ "provider": provider, "end_user_ref": end_user_ref, "return_url": self.return_url }),
        )
    }

    pub fn connect_url(&self, end_user_ref: &str) -> String {
        self.connect_url_for("x", end_user_ref)
    }

    pub fn connect_url_for(&self, provider: &str, end_user_ref: &str) -> String {
        let made = self.connect_session_for(provider, end_user_ref);
        assert_eq!(made.status, 201, "{made:?}");
        made.body["url"].as_str().unwrap().to_owned()
    }

    /// A link to `end_user_ref`'s connections page (`POST /v1/page-links`).
    /// `count` listed-only connections of `end_user_ref`, each of its own grant, written
    /// straight to D1 by a test power: `conn_{batch}{i:06}`, created `base_ms + i` (i from 1),
    /// every `dead_every`-th grant dead (0: none). `batch` must be new to the runtime.
    pub fn seed_connections(
        &self,
        batch: &str,
        count: u32,
        dead_every: u32,
        base_ms: i64,
        end_user_ref: &str,
    ) {
        self.seed_pages(batch, count, 1, dead_every, base_ms, end_user_ref);
    }

    /// [`Tenant::seed_connections`] with `per_grant` connections to a grant (Pages of one
    /// consent), so a few grants' objects hold them all.
    pub fn seed_pages(
        &self,
        batch: &str,
        count: u32,
        per_grant: u32,
        dead_every: u32,
        base_ms: i64,
        end_user_ref: &str,
    ) {
        let seeded = self.stack.worker.send(
            "POST",
            &format!("/__test/tenants/{}/seeded-connections", self.id),
            Some(&self.stack.operator()),
            &json!({
                "batch": batch,
                "count": count,
                "dead_every": dead_every,
                "base_ms": base_ms,
                "end_user_ref": end_user_ref,
                "per_grant": per_grant,
            }),
        );
        assert_eq!(seeded.status, 200, "{seeded:?}");
    }

    pub fn page_link(&self, end_user_ref: &str) -> String {
        let made = self.stack.worker.send(
            "POST",
            "/v1/page-links",
            Some(&bearer(&self.manage)),
            &json!({ "end_user_ref": end_user_ref }),
        );
        assert_eq!(made.status, 201, "{made:?}");
        assert_eq!(made.body["end_user_ref"], end_user_ref);
        made.body["url"].as_str().unwrap().to_owned()
    }

    pub fn connections(&self) -> Vec<Value> {
        let listed = self
            .stack
            .worker
            .get("/v1/connections", Some(&bearer(&self.manage)));
        assert_eq!(listed.status, 200, "{listed:?}");
        listed.body["connections"].as_array().unwrap().clone()
    }

    pub fn token(&self, connection_id: &str) -> Answer {
        self.stack.worker.send(
            "POST",
            &format!("/v1/connections/{connection_id}/token"),
            Some(&bearer(&self.tokens)),
            &Value::Null,
        )
    }

    /// A token read with a request body (`min_valid_seconds`, `validate`).
    pub fn token_with(&self, connection_id: &str, body: &Value) -> Answer {
        self.stack.worker.send(
            "POST",
            &format!("/v1/connections/{connection_id}/token"),
            Some(&bearer(&self.tokens)),
            body,
        )
    }

    /// One connection as the API shows it (health, expiries, last refresh ...).
    pub fn connection(&self, connection_id: &str) -> Value {
        let shown = self.stack.worker.get(
            &format!("/v1/connections/{connection_id}"),
            Some(&bearer(&self.manage)),
        );
        assert_eq!(shown.status, 200, "{shown:?}");
        shown.body
    }

    /// `GET` a tenant route with the manage key.
    pub fn get(&self, path: &str) -> Answer {
        self.stack.worker.get(path, Some(&bearer(&self.manage)))
    }

    /// `POST /v1/connections/{id}/refresh`.
    pub fn refresh(&self, connection_id: &str) -> Answer {
        self.stack.worker.send(
            "POST",
            &format!("/v1/connections/{connection_id}/refresh"),
            Some(&bearer(&self.manage)),
            &Value::Null,
        )
    }

    /// The connection's events, in sequence order.
    pub fn events(&self, connection_id: &str) -> Vec<Value> {
        let listed = self.get(&format!("/v1/connections/{connection_id}/events"));
        assert_eq!(listed.status, 200, "{listed:?}");
        listed.body["events"].as_array().unwrap().clone()
    }
}

/// `POST /v1/posts` with an idempotency key.
pub fn create_post(s: &Stack, tenant: &Tenant<'_>, key: &str, body: &Value) -> Answer {
    let url = format!("{}/v1/posts", s.worker.base_url);
    let answer = match ureq::post(&url)
        .set("Authorization", &bearer(&tenant.manage))
        .set("Idempotency-Key", key)
        .send_json(body.clone())
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("the worker answers: {e}"),
    };
    Answer {
        status: answer.status(),
        content_type: answer.header("content-type").unwrap_or("").to_owned(),
        allow: None,
        retry_after: answer.header("retry-after").map(str::to_owned),
        body: answer.into_json().unwrap_or(Value::Null),
    }
}
