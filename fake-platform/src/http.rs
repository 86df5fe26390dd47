//! Small helpers over the fake's server (`server.rs`): the parts of a request a dialect needs, and answers.

use crate::server::{Request, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::HashMap;

/// A request read whole: the dialects look at it, then answer through [`Reply`].
pub struct Incoming {
    pub method: String,
    /// Path without the query, e.g. `/api.x.com/2/oauth2/token`.
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<Request> for Incoming {
    fn from(request: Request) -> Self {
        let (path, query) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        Self {
            path: path.to_owned(),
            query: form(query.as_bytes()),
            method: request.method,
            headers: request.headers,
            body: request.body,
        }
    }
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as `application/x-www-form-urlencoded` fields.
    pub fn form(&self) -> HashMap<String, String> {
        form(&self.body)
    }

    /// `Authorization: Basic` credentials, decoded (RFC 6749 §2.3.1 form-encodes both parts).
    pub fn basic_auth(&self) -> Option<(String, String)> {
        let value = self.header("authorization")?;
        let (scheme, encoded) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        let unescape = |s: &str| {
            url::form_urlencoded::parse(format!("v={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Some((unescape(id), unescape(secret)))
    }

    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

fn form(bytes: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// An answer, turned into the server's response by `serve`.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub location: Option<String>,
    pub extra_headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            location: None,
            extra_headers: Vec::new(),
            body: value.to_string(),
        }
    }

    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            location: None,
            extra_headers: Vec::new(),
            body,
        }
    }

    pub fn redirect(location: String) -> Self {
        Self {
            status: 302,
            content_type: "text/plain",
            location: Some(location),
            extra_headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn not_found(path: &str) -> Self {
        Self::json(
            404,
            &serde_json::json!({ "error": "not_found", "path": path }),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.extra_headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Drops a top-level field from a JSON body (no-op for other bodies).
    pub fn remove_json_field(&mut self, name: &str) {
        if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(&self.body) {
            map.remove(name);
            self.body = serde_json::Value::Object(map).to_string();
        }
    }

    pub fn into_response(self) -> Response {
        let mut headers = vec![
            ("Content-Type".to_owned(), self.content_type.to_owned()),
            ("Cache-Control".to_owned(), "no-store".to_owned()),
        ];
        headers.extend(self.location.map(|l| ("Location".to_owned(), l)));
        headers.extend(self.extra_headers);
        Response {
            status: self.status,
            headers,
            body: self.body.into_bytes(),
        }
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// Every field as a hidden form input, so a consent page posts back what it was opened with.
pub fn hidden_inputs(fields: &HashMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape_html(k),
                escape_html(v)
            )
        })
        .collect()
}

/// `base` with `params` appended to its query, form-encoded.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        out.append_pair(k, v);
    }
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{}", out.finish())
}
