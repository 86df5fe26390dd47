//! Test builds only: every provider URL is sent to the fake platform instead.
//!
//! `https://api.x.com/2/oauth2/token?x=1` becomes `{fake}/api.x.com/2/oauth2/token?x=1`: the
//! platform's host becomes the first path segment, so the fake can speak every platform's
//! dialect on one port and needs no table of ours. This module does not exist in a release
//! build (it is behind the `test-powers` feature): a runtime flag would not be enough, since one
//! bad deploy would send client secrets and refresh tokens to the rewrite target.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAProviderUrl(pub String);

impl fmt::Display for NotAProviderUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not an https:// provider URL", self.0)
    }
}

/// Rewrites an `https://` provider URL to the fake platform at `fake_base` (e.g.
/// `http://127.0.0.1:8790`).
pub fn rewrite(url: &str, fake_base: &str) -> Result<String, NotAProviderUrl> {
    let rest = url
        .strip_prefix("https://")
        .filter(|rest| {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains('@')
        })
        .ok_or_else(|| NotAProviderUrl(url.to_owned()))?;
    Ok(format!("{}/{rest}", fake_base.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_becomes_the_first_path_segment() {
        assert_eq!(
            rewrite("https://api.x.com/2/oauth2/token", "http://127.0.0.1:8790/").unwrap(),
            "http://127.0.0.1:8790/api.x.com/2/oauth2/token"
        );
        assert_eq!(
            rewrite(
                "https://x.com/i/oauth2/authorize?a=1&b=2",
                "http://127.0.0.1:1"
            )
            .unwrap(),
            "http://127.0.0.1:1/x.com/i/oauth2/authorize?a=1&b=2"
        );
    }

    #[test]
    fn only_https_urls_with_a_host_are_rewritten() {
        for bad in [
            "http://api.x.com/x",
            "https:///path",
            "https://user@host/",
            "api.x.com/2",
            "",
        ] {
            assert!(rewrite(bad, "http://127.0.0.1:1").is_err(), "{bad}");
        }
    }
}
