//! Structured JSON log lines that never carry a secret.
//!
//! Every line is one JSON object with `level`, `event`, `at` and the fields the caller adds.
//! Secrets are kept out twice over: callers pass ids and outcomes, never token values, and any
//! field whose *name* says it holds a secret is replaced by `"[redacted]"` whatever its value.

use crate::core::common::clock::Timestamp;
use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// What a redacted field's value becomes.
pub const REDACTED: &str = "[redacted]";

/// Parts of a field name that mark it as secret. Matched case-insensitively anywhere in the
/// name, so `refresh_token`, `clientSecret` and `Authorization` are all caught.
const SECRET_NAME_PARTS: &[&str] = &[
    "token",
    "secret",
    "password",
    "authorization",
    "cookie",
    "verifier",
    "signature",
    "credential",
    "api_key",
    "apikey",
];

/// Field names that are secret when they stand alone (an OAuth `code`, a `state` value, a
/// `key`), but harmless as part of another name (`status_code`, `grant_state`, `key_id`).
const SECRET_NAMES: &[&str] = &["code", "state", "key", "nonce"];

/// Whether a field with this name would be redacted.
pub fn is_secret_field(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_NAMES.contains(&lower.as_str())
        || SECRET_NAME_PARTS.iter().any(|part| lower.contains(part))
}

/// One log line under construction.
#[derive(Clone, Debug)]
pub struct LogLine {
    level: Level,
    fields: Map<String, Value>,
}

impl LogLine {
    pub fn new(level: Level, event: &str, at: Timestamp) -> Self {
        let mut fields = Map::new();
        fields.insert("level".into(), serde_json::json!(level));
        fields.insert("event".into(), Value::String(event.to_owned()));
        fields.insert("at".into(), Value::String(at.to_rfc3339()));
        Self { level, fields }
    }

    pub fn info(event: &str, at: Timestamp) -> Self {
        Self::new(Level::Info, event, at)
    }

    pub fn warn(event: &str, at: Timestamp) -> Self {
        Self::new(Level::Warn, event, at)
    }

    pub fn error(event: &str, at: Timestamp) -> Self {
        Self::new(Level::Error, event, at)
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// Adds a field. The reserved names (`level`, `event`, `at`) cannot be overwritten, and a
    /// secret-looking name gets [`REDACTED`] instead of its value.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        if matches!(name, "level" | "event" | "at") {
            return self;
        }
        let value = if is_secret_field(name) {
            Value::String(REDACTED.into())
        } else {
            value.into()
        };
        self.fields.insert(name.to_owned(), value);
        self
    }

    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(line: &LogLine) -> Value {
        serde_json::from_str(&line.to_json()).unwrap()
    }

    #[test]
    fn a_line_is_one_json_object_with_level_event_and_time() {
        let line = LogLine::info("http.request", Timestamp::from_millis(0))
            .field("status", 200)
            .field("path", "/healthz");
        let v = parsed(&line);
        assert_eq!(v["level"], "info");
        assert_eq!(v["event"], "http.request");
        assert_eq!(v["at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["status"], 200);
        assert_eq!(v["path"], "/healthz");
        assert!(!line.to_json().contains('\n'));
    }

    #[test]
    fn secret_named_fields_are_redacted_whatever_their_value() {
        for name in [
            "access_token",
            "refresh_token",
            "client_secret",
            "Authorization",
            "set-cookie",
            "code_verifier",
            "code",
            "state",
            "webhook_signature",
            "api_key",
            "operatorSecret",
        ] {
            let line = LogLine::warn("x", Timestamp::from_millis(0)).field(name, "s3cr3t-value");
            assert!(!line.to_json().contains("s3cr3t-value"), "{name} leaked");
            assert_eq!(parsed(&line)[name], REDACTED, "{name}");
        }
    }

    #[test]
    fn ordinary_fields_are_kept() {
        for name in [
            "status_code",
            "grant_state",
            "key_id",
            "grant_id",
            "path",
            "duration_ms",
        ] {
            assert!(!is_secret_field(name), "{name} should not be redacted");
        }
    }

    #[test]
    fn reserved_fields_cannot_be_overwritten() {
        let line = LogLine::error("boom", Timestamp::from_millis(0))
            .field("level", "info")
            .field("event", "other");
        let v = parsed(&line);
        assert_eq!(v["level"], "error");
        assert_eq!(v["event"], "boom");
        assert_eq!(line.level(), Level::Error);
    }
}
