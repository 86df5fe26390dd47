//! The platforms' documented behaviour as data: `fixtures/<platform>.json`.
//!
//! Each fixture is either a fact (a lifetime, a rotation rule, an authentication method) or a
//! canned answer (status, headers, body), and each names its `source` and carries either a
//! `quote` read at that source or an `assumption` saying what the fake does where the docs
//! are silent, and why. The dialects read lifetimes and error answers from here instead of
//! hard-coding them, and Evergreen's own tests compare the catalogue against the facts, so the
//! docs, the fake and the catalogue cannot drift apart unnoticed.
//!
//! A success answer is a template: a string field `"$name"` is filled in by the dialect, and
//! dropped when the dialect has no value for it (X's `refresh_token` without offline.access).

use crate::http::Reply;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Where a fixture comes from.
#[derive(Clone, Debug, Deserialize)]
pub struct Evidence {
    /// The platform's page (or the RFC) the fixture is pinned to.
    pub source: String,
    /// Text read at `source` (or at `via`, which quotes it).
    #[serde(default)]
    pub quote: Option<String>,
    /// A page that quotes `source`, when the quote was read there.
    #[serde(default)]
    pub via: Option<String>,
    /// What the fake does where the docs say nothing, and why.
    #[serde(default)]
    pub assumption: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Fact {
    pub value: Value,
    #[serde(flatten)]
    pub evidence: Evidence,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Canned {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Value,
    #[serde(flatten)]
    pub evidence: Evidence,
}

/// Where a standard provider's endpoints are on the fake (host first, as the worker's test
/// build rewrites URLs); present only for providers the fake serves from the file alone.
#[derive(Clone, Debug, Deserialize)]
pub struct Dialect {
    pub authorize_path: String,
    pub token_path: String,
    pub revoke_path: String,
    pub userinfo_path: String,
}

/// One platform's fixtures.
#[derive(Clone, Debug, Deserialize)]
pub struct Fixtures {
    pub platform: String,
    #[serde(default)]
    pub dialect: Option<Dialect>,
    pub facts: BTreeMap<String, Fact>,
    pub responses: BTreeMap<String, Canned>,
}

fn load(cell: &'static OnceLock<Fixtures>, text: &'static str) -> &'static Fixtures {
    cell.get_or_init(|| {
        // The files are compiled in; `tests::fixtures_parse_and_cite_their_sources` proves
        // they parse, so this cannot fail in a build whose tests passed.
        serde_json::from_str(text).unwrap_or_else(|e| panic!("a fixture file is malformed: {e}"))
    })
}

/// X's fixtures (`fixtures/x.json`).
pub fn x() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/x.json"))
}

/// Google's fixtures (`fixtures/google.json`).
pub fn google() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/google.json"))
}

/// Acme Social's fixtures (`fixtures/acme.json`): a standard provider the fake serves from
/// the file alone.
pub fn acme() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/acme.json"))
}

/// LinkedIn's fixtures (`fixtures/linkedin.json`).
pub fn linkedin() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/linkedin.json"))
}

/// TikTok's fixtures (`fixtures/tiktok.json`).
pub fn tiktok() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/tiktok.json"))
}

/// Facebook's fixtures (`fixtures/facebook.json`).
pub fn facebook() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/facebook.json"))
}

/// Instagram's fixtures (`fixtures/instagram.json`).
pub fn instagram() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/instagram.json"))
}

/// Reddit's fixtures (`fixtures/reddit.json`).
pub fn reddit() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/reddit.json"))
}

/// Threads' fixtures (`fixtures/threads.json`).
pub fn threads() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/threads.json"))
}

/// Pinterest's fixtures (`fixtures/pinterest.json`).
pub fn pinterest() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/pinterest.json"))
}

/// A Mastodon server's fixtures (`fixtures/mastodon.json`).
pub fn mastodon() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/mastodon.json"))
}

/// Bluesky's fixtures (`fixtures/bluesky.json`).
pub fn bluesky() -> &'static Fixtures {
    static CELL: OnceLock<Fixtures> = OnceLock::new();
    load(&CELL, include_str!("../fixtures/bluesky.json"))
}

/// Every platform's fixtures.
pub fn all() -> [&'static Fixtures; 12] {
    [
        x(),
        google(),
        acme(),
        linkedin(),
        tiktok(),
        facebook(),
        instagram(),
        reddit(),
        threads(),
        pinterest(),
        mastodon(),
        bluesky(),
    ]
}

impl Fixtures {
    /// A fact's value; `Value::Null` for a name the file lacks (a test lists the names used).
    pub fn fact(&self, name: &str) -> &Value {
        self.facts.get(name).map_or(&Value::Null, |f| &f.value)
    }

    pub fn fact_u64(&self, name: &str) -> u64 {
        self.fact(name).as_u64().unwrap_or(0)
    }

    pub fn fact_bool(&self, name: &str) -> bool {
        self.fact(name).as_bool().unwrap_or(false)
    }

    /// A canned answer, as the file has it.
    pub fn reply(&self, name: &str) -> Reply {
        self.render(name, &[])
    }

    /// A canned answer with its `"$name"` fields filled from `values`; a placeholder without a
    /// value drops its field.
    pub fn render(&self, name: &str, values: &[(&str, Value)]) -> Reply {
        let Some(canned) = self.responses.get(name) else {
            return Reply::json(
                500,
                &serde_json::json!({ "error": "fake_platform_fixture_missing", "fixture": name }),
            );
        };
        let body = fill(&canned.body, values);
        canned
            .headers
            .iter()
            .fold(Reply::json(canned.status, &body), |reply, (k, v)| {
                reply.with_header(k, v)
            })
    }

    /// What is wrong with the file: entries without an https source, or with neither (or
    /// both) a quote and an assumption.
    pub fn problems(&self) -> Vec<String> {
        let evidence = self
            .facts
            .iter()
            .map(|(n, f)| (format!("fact {n}"), &f.evidence))
            .chain(
                self.responses
                    .iter()
                    .map(|(n, r)| (format!("response {n}"), &r.evidence)),
            );
        let mut problems = Vec::new();
        for (name, e) in evidence {
            if !e.source.starts_with("https://") {
                problems.push(format!("{}: {name} has no https source", self.platform));
            }
            let quoted = e.quote.as_deref().is_some_and(|q| !q.trim().is_empty());
            let assumed = e
                .assumption
                .as_deref()
                .is_some_and(|a| !a.trim().is_empty());
            if quoted == assumed {
                problems.push(format!(
                    "{}: {name} needs exactly one of quote and assumption",
                    self.platform
                ));
            }
        }
        problems
    }
}

fn fill(template: &Value, values: &[(&str, Value)]) -> Value {
    match template {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (k, v) in fields {
                match v.as_str().and_then(|s| s.strip_prefix('$')) {
                    Some(placeholder) => {
                        if let Some((_, value)) = values.iter().find(|(n, _)| *n == placeholder) {
                            out.insert(k.clone(), value.clone());
                        }
                    }
                    None => {
                        out.insert(k.clone(), fill(v, values));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| fill(v, values)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The names the dialects read; a missing one would make the fake answer 500.
    const USED: &[(&str, &[&str], &[&str])] = &[
        (
            "facebook",
            &[
                "short_lived_secs",
                "long_lived_secs",
                "data_access_secs",
                "code_lifetime_secs",
            ],
            &[
                "token_issued",
                "oauth_error",
                "debug_token",
                "me",
                "accounts",
            ],
        ),
        (
            "instagram",
            &[
                "short_lived_secs",
                "long_lived_secs",
                "refresh_min_age_secs",
                "code_lifetime_secs",
            ],
            &[
                "code_exchanged",
                "token_issued",
                "oauth_error",
                "exchange_error",
                "me",
            ],
        ),
        (
            "linkedin",
            &[
                "access_lifetime_secs",
                "refresh_lifetime_secs",
                "code_lifetime_secs",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "refresh_not_allowed",
                "authorization_code_invalid",
                "client_invalid",
                "grant_type_unsupported",
                "identity_unauthorized",
                "version_missing",
                "userinfo",
                "organization_acls",
                "organizations",
            ],
        ),
        (
            "tiktok",
            &[
                "access_lifetime_secs",
                "refresh_lifetime_secs",
                "code_lifetime_secs",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "authorization_code_invalid",
                "client_invalid",
                "invalid_request",
                "revoked",
                "identity_unauthorized",
                "user_info",
            ],
        ),
        (
            "x",
            &[
                "access_lifetime_secs",
                "code_lifetime_secs",
                "refresh_token_scope",
                "refresh_token_rotates",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "authorization_code_invalid",
                "redirect_uri_mismatch",
                "code_verifier_missing",
                "code_verifier_mismatch",
                "client_auth_missing",
                "client_invalid",
                "grant_type_unsupported",
                "revoked",
                "identity_unauthorized",
            ],
        ),
        (
            "bluesky",
            &["access_lifetime_secs"],
            &[
                "token_issued",
                "use_dpop_nonce",
                "use_dpop_nonce_resource",
                "dpop_invalid",
                "client_invalid",
                "request_invalid",
                "grant_invalid",
                "token_invalid",
            ],
        ),
        (
            "mastodon",
            &["code_lifetime_secs", "token_lifetime_secs"],
            &[
                "app_registered",
                "app_invalid",
                "token_issued",
                "grant_invalid",
                "client_invalid",
                "revoked",
                "token_invalid",
                "account",
            ],
        ),
        (
            "pinterest",
            &[
                "access_lifetime_secs",
                "refresh_lifetime_secs",
                "code_lifetime_secs",
            ],
            &[
                "token_issued",
                "grant_invalid",
                "authentication_failed",
                "user_account",
            ],
        ),
        (
            "threads",
            &[
                "short_lived_secs",
                "long_lived_secs",
                "refresh_min_age_secs",
                "code_lifetime_secs",
                "publishing_limit",
            ],
            &["code_exchanged", "token_issued", "oauth_error", "me"],
        ),
        (
            "reddit",
            &[
                "access_lifetime_secs",
                "code_lifetime_secs",
                "permanent_duration",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "authorization_code_invalid",
                "client_invalid",
                "grant_type_unsupported",
                "revoked",
                "identity_unauthorized",
                "me",
                "user_agent_refused",
            ],
        ),
        (
            "acme",
            &[
                "access_lifetime_secs",
                "code_lifetime_secs",
                "refresh_token_rotates",
                "client_auth",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "authorization_code_invalid",
                "code_verifier_mismatch",
                "client_auth_missing",
                "client_invalid",
                "grant_type_unsupported",
                "revoked",
                "identity_unauthorized",
                "userinfo",
            ],
        ),
        (
            "google",
            &[
                "access_lifetime_secs",
                "code_lifetime_secs",
                "refresh_token_rotates",
                "idle_expiry_days",
                "testing_mode_expiry_days",
            ],
            &[
                "token_issued",
                "refresh_token_invalid",
                "authorization_code_invalid",
                "code_verifier_mismatch",
                "client_auth_missing",
                "client_invalid",
                "grant_type_unsupported",
                "revoked",
                "revoke_refused",
                "identity_unauthorized",
            ],
        ),
    ];

    #[test]
    fn fixtures_parse_and_cite_their_sources() {
        for f in all() {
            assert_eq!(f.problems(), Vec::<String>::new());
        }
    }

    #[test]
    fn every_name_the_dialects_use_exists() {
        for (platform, facts, responses) in USED {
            let f = all().into_iter().find(|f| f.platform == *platform).unwrap();
            for name in *facts {
                assert!(f.facts.contains_key(*name), "{platform}: fact {name}");
            }
            for name in *responses {
                assert!(f.responses.contains_key(*name), "{platform}: {name}");
            }
        }
    }

    #[test]
    fn a_problem_is_reported_for_an_entry_without_evidence() {
        let mut f = x().clone();
        f.facts
            .get_mut("access_lifetime_secs")
            .unwrap()
            .evidence
            .quote = None;
        assert_eq!(
            f.problems(),
            vec!["x: fact access_lifetime_secs needs exactly one of quote and assumption"]
        );
    }

    #[test]
    fn templates_fill_placeholders_and_drop_the_ones_without_a_value() {
        let body = fill(
            &json!({ "a": "$a", "b": "$b", "fixed": "bearer", "nested": { "c": "$a" } }),
            &[("a", json!(7))],
        );
        assert_eq!(
            body,
            json!({ "a": 7, "fixed": "bearer", "nested": { "c": 7 } })
        );
    }
}
