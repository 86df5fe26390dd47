//! The origin of a URL (scheme and authority) and whether it is loopback, read without a URL
//! parser (see `query`). Used to build Evergreen's own URLs from the request it is serving and
//! to decide where plain `http` and non-`Secure` cookies are acceptable: loopback only.

/// `scheme://authority` of an absolute URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    authority: String,
    host_len: usize,
}

impl Origin {
    /// The origin of `url`, or `None` if it is not absolute or has no host.
    pub fn of(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => authority,
        };
        if host.is_empty() {
            return None;
        }
        Some(Self {
            scheme: scheme.to_ascii_lowercase(),
            authority: authority.to_ascii_lowercase(),
            host_len: host.len(),
        })
    }

    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// `host[:port]`, lower-cased.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The host without the port.
    pub fn host(&self) -> &str {
        &self.authority[..self.host_len]
    }

    /// Whether the host is this machine: where plain `http` is tolerated, for development.
    pub fn is_loopback(&self) -> bool {
        matches!(self.host(), "localhost" | "127.0.0.1" | "[::1]")
    }

    /// Whether browsers treat this origin as secure (`https`, or loopback).
    pub fn is_https(&self) -> bool {
        self.scheme == "https"
    }

    /// `scheme://authority`, with no trailing slash.
    pub fn to_url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn reads_scheme_authority_and_host() {
        let o = Origin::of("https://Evergreen.Example:8443/connect/abc?x=1").unwrap();
        assert_eq!(o.scheme(), "https");
        assert_eq!(o.authority(), "evergreen.example:8443");
        assert_eq!(o.host(), "evergreen.example");
        assert_eq!(o.to_url(), "https://evergreen.example:8443");
        assert!(!o.is_loopback());
        assert!(o.is_https());
    }

    #[test]
    fn recognises_loopback() {
        for url in [
            "http://127.0.0.1:8787/",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(Origin::of(url).unwrap().is_loopback(), "{url}");
        }
        assert!(!Origin::of("http://127.0.0.1.evil.example/")
            .unwrap()
            .is_loopback());
    }

    #[test]
    fn rejects_relative_and_hostless_urls() {
        for url in [
            "/connect/x",
            "https://",
            "https:///path",
            "://host",
            "1a://h",
        ] {
            assert_eq!(Origin::of(url), None, "{url}");
        }
    }
}
