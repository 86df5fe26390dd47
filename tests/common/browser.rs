//! A browser as far as the connect flow cares: follows nothing on its own (each redirect is a
//! step the test looks at), keeps cookies per origin, submits forms.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// One response: status, `Location`, the `Set-Cookie` headers, the body.
#[derive(Debug)]
pub struct Visit {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: String,
    pub body: String,
}

impl Visit {
    /// The `Location`, or a failure that shows what came back instead.
    pub fn redirect(&self) -> &str {
        assert!(
            matches!(self.status, 302 | 303),
            "expected a redirect, got {self:?}"
        );
        self.location.as_deref().expect("a Location header")
    }
}

#[derive(Default)]
pub struct Browser {
    /// origin → cookie name → value.
    cookies: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
}

fn origin(url: &str) -> String {
    let parsed = url::Url::parse(url).expect("an absolute URL");
    parsed.origin().ascii_serialization()
}

/// The CSRF token the connections page's forms carry, if the page has a form.
pub fn page_csrf(html: &str) -> Option<String> {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

/// The first value of `name` in `url`'s query.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Every query parameter of `url`, in order.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url)
        .expect("an absolute URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

impl Browser {
    pub fn new() -> Self {
        Self::default()
    }

    fn agent() -> ureq::Agent {
        ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(std::time::Duration::from_secs(60))
            .build()
    }

    pub fn get(&self, url: &str) -> Visit {
        let request = Self::agent().get(url);
        self.send(url, request, None)
    }

    pub fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Visit {
        let request = Self::agent().post(url);
        self.send(url, request, Some(fields))
    }

    /// The cookies this browser holds for `url`'s origin.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.borrow().get(&origin(url))?.get(name).cloned()
    }

    /// Sends `request`, again when wrangler's dev proxy lost it before the worker saw it (as
    /// `Worker::call` does: `super::lost_by_proxy`).
    fn send(&self, url: &str, mut request: ureq::Request, form: Option<&[(&str, &str)]>) -> Visit {
        let jar = self.cookies.borrow().get(&origin(url)).cloned();
        if let Some(jar) = jar.filter(|j| !j.is_empty()) {
            let header: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.set("Cookie", &header.join("; "));
        }
        let mut attempt = 0;
        let (response, body) = loop {
            attempt += 1;
            let result = match form {
                Some(fields) => request.clone().send_form(fields),
                None => request.clone().call(),
            };
            let response = match result {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{url} did not answer: {e}"),
            };
            let status = response.status();
            let head = (
                status,
                response.header("location").map(str::to_owned),
                response.header("content-type").unwrap_or("").to_owned(),
                response
                    .all("set-cookie")
                    .into_iter()
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
            );
            let body = response.into_string().unwrap_or_default();
            if super::lost_by_proxy(url, attempt, status, &body) {
                continue;
            }
            break (head, body);
        };
        let (status, location, content_type, set_cookies) = response;
        for header in &set_cookies {
            let pair = header.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies
                    .borrow_mut()
                    .entry(origin(url))
                    .or_default()
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
        Visit {
            status,
            location,
            content_type,
            set_cookies,
            body,
        }
    }
}

/// Runs `tests/browser/SCRIPT` (Debian's Chromium driven by playwright-core) with `args`, and
/// returns the JSON it prints. Fails with the script's output, headed by `what`, when it fails.
pub fn chromium<I, A>(script: &str, args: I, what: &str) -> serde_json::Value
where
    I: IntoIterator<Item = A>,
    A: AsRef<std::ffi::OsStr>,
{
    let output = std::process::Command::new("node")
        .arg(super::root().join("tests/browser").join(script))
        .args(args)
        .current_dir(super::root())
        .output()
        .expect("node runs");
    assert!(
        output.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
