//! Where a connect or reconnect flow may send the browser back to: only URLs on the tenant's
//! allow-list, compared exactly, so the callback can never become an open redirect.

use crate::core::http::api_error::ApiError;
use crate::core::http::origin::Origin;

/// The most URLs one tenant may allow (D1 binds at most 100 parameters per statement).
pub const MAX_PER_TENANT: usize = 50;

/// Checks a URL before it goes on an allow-list: absolute, `https` (plain `http` only on
/// loopback, for local development), no credentials, no fragment, at most 2,000 characters.
pub fn validate(url: &str) -> Result<(), ApiError> {
    validate_target("Return URL", url)
}

/// The same checks for any URL Evergreen sends a browser or a request to (`what` names it in
/// the error: a return URL, a webhook endpoint's `url`).
pub fn validate_target(what: &str, url: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::invalid_request(format!("{what} {url:?} {why}.")));
    if url.len() > 2000 {
        return bad("is longer than 2,000 characters");
    }
    let Some(origin) = Origin::of(url) else {
        return bad("must be absolute (https://…) with a host");
    };
    if origin.authority().contains('@') {
        return bad("must not carry credentials");
    }
    if url.contains('#') {
        return bad("must not have a fragment");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    match origin.scheme() {
        "https" => Ok(()),
        "http" if origin.is_loopback() => Ok(()),
        "http" => bad("must use https (plain http is allowed only on localhost)"),
        _ => bad("must use https"),
    }
}

/// Whether `url` is allowed: an exact match with one of the tenant's URLs.
pub fn is_allowed(url: &str, allow_list: &[String]) -> bool {
    allow_list.iter().any(|allowed| allowed == url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        for ok in [
            "https://app.example.com/connected",
            "https://app.example.com:8443/cb?x=1",
            "http://127.0.0.1:3000/back",
            "http://localhost/back",
        ] {
            assert!(validate(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_could_mislead_or_leak() {
        for bad in [
            "app.example.com/cb",
            "http://app.example.com/cb",
            "javascript://alert(1)",
            "https://user:pw@app.example.com/",
            "https://app.example.com/cb#frag",
            "https:///cb",
            "https://app.example.com/a b",
            "http://localhost.evil.com/cb",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact() {
        let list = vec!["https://app.example.com/cb".to_owned()];
        assert!(is_allowed("https://app.example.com/cb", &list));
        for near in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x",
            "https://APP.example.com/cb",
        ] {
            assert!(!is_allowed(near, &list), "{near}");
        }
    }
}
