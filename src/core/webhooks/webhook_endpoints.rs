//! A tenant's webhook endpoints: where events go, and which of them.
//!
//! `POST /v1/webhook-endpoints {"url", "event_types"?}`: the URL is absolute `https` (plain
//! `http` only on loopback, for local receivers), at most 2,000 characters, no credentials;
//! `event_types` lists event names (`connection.expiring`, …); missing or empty means all.

use crate::core::grant::grant_events::EventKind;
use crate::core::http::api_error::ApiError;
use crate::core::oauth::return_urls;
use serde::Deserialize;

/// The most endpoints one tenant may have.
pub const MAX_PER_TENANT: usize = 20;

/// The body of `POST /v1/webhook-endpoints`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A request that passed every check: `event_types` is stored as given (space-separated),
/// or `*` for all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidEndpoint {
    pub url: String,
    pub event_types: String,
    pub description: Option<String>,
}

impl EndpointRequest {
    pub fn validate(self) -> Result<ValidEndpoint, ApiError> {
        return_urls::validate_target("url", &self.url)?;
        let mut kinds: Vec<&'static str> = Vec::new();
        for name in &self.event_types {
            let kind = all_event_types()
                .into_iter()
                .find(|k| k == name)
                .ok_or_else(|| {
                    ApiError::invalid_request(format!(
                        "Unknown event type {name:?}; known: {}.",
                        all_event_types().join(", ")
                    ))
                })?;
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
        if let Some(d) = &self.description {
            if d.len() > 200 || d.chars().any(char::is_control) {
                return Err(ApiError::invalid_request(
                    "description is at most 200 characters, without control characters.",
                ));
            }
        }
        Ok(ValidEndpoint {
            event_types: if kinds.is_empty() {
                "*".to_owned()
            } else {
                kinds.join(" ")
            },
            url: self.url,
            description: self.description,
        })
    }
}

/// Every event type: a connection's (`connection.*`) and a post target's (`post.*`).
pub fn all_event_types() -> Vec<&'static str> {
    EventKind::ALL
        .iter()
        .map(|k| k.as_str())
        .chain(crate::core::publish::posts::POST_EVENT_TYPES)
        .collect()
}

/// The stored `event_types` as a list for the API (`*` is every type).
pub fn event_types_list(stored: &str) -> Vec<String> {
    if stored == "*" {
        return all_event_types().into_iter().map(str::to_owned).collect();
    }
    stored.split(' ').map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, types: &[&str]) -> EndpointRequest {
        EndpointRequest {
            url: url.into(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            description: None,
        }
    }

    #[test]
    fn https_or_loopback_endpoints_with_known_event_types() {
        let ok = request("https://app.example.com/hooks", &[])
            .validate()
            .unwrap();
        assert_eq!(ok.event_types, "*");
        assert_eq!(
            event_types_list("*").len(),
            EventKind::ALL.len() + crate::core::publish::posts::POST_EVENT_TYPES.len()
        );
        let some = request(
            "http://127.0.0.1:9000/h",
            &[
                "connection.revoked",
                "connection.expiring",
                "connection.revoked",
            ],
        )
        .validate()
        .unwrap();
        assert_eq!(some.event_types, "connection.revoked connection.expiring");
        assert_eq!(event_types_list(&some.event_types).len(), 2);
        for bad in [
            "http://app.example.com/h",
            "ftp://x/y",
            "/relative",
            "https://user:pw@app.example.com/h",
            "https://app.example.com/h#frag",
        ] {
            assert!(request(bad, &[]).validate().is_err(), "{bad}");
        }
        let unknown = request("https://a.example/h", &["post.nope"]).validate();
        assert!(unknown.unwrap_err().message.contains("connection.expiring"));
    }
}
