//! Mastodon: every server is its own provider.
//!
//! - The end user names their server when they connect. [`ServerName::parse`] takes what they
//!   typed (`mastodon.social`, `https://mastodon.social/`, `@me@mastodon.social`) and refuses
//!   anything that is not a public DNS name Evergreen may call: IP literals (so no loopback, no
//!   private or link-local range can be named), single-label and special-use names
//!   (`localhost`, `.local`, `.internal`, …), ports, user info, paths, non-ASCII.
//! - The server's provider is `mastodon:<server>` ([`instance_name`]): the catalogue's
//!   `mastodon` entry with `{server}` filled in (`Catalogue::resolve`).
//! - Evergreen registers an app on the server the first time a tenant connects an account
//!   there (`POST /api/v1/apps`, [`registration_form`]) and keeps its client id and sealed
//!   secret as that tenant's client for the instance provider.
//!
//! Sources: docs.joinmastodon.org/methods/apps (`POST /api/v1/apps` → `{"id", "name",
//! "website", "redirect_uri", "client_id", "client_secret", …}`), …/spec/oauth, …/methods/oauth.
//! The fake's `fixtures/mastodon.json` quotes them.

use crate::core::http::query::form;
use serde_json::Value;
use std::fmt;

/// The catalogue entry every Mastodon server is an instance of.
pub const TEMPLATE: &str = "mastodon";

/// A server name Evergreen may call: lower-case ASCII, public-looking, no port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerName(String);

/// Why a server name is refused, in words for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerNameError(pub String);

impl fmt::Display for ServerNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names that never reach the public internet (RFC 6761, RFC 6762, RFC 8375, common private
/// zones): a server named so is refused before anything is called.
const SPECIAL_USE: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "localdomain",
    "home.arpa",
    "in-addr.arpa",
    "ip6.arpa",
    "onion",
    "test",
    "invalid",
    "example",
];

impl ServerName {
    /// The server in what a person typed, or why it cannot be used.
    pub fn parse(input: &str) -> Result<Self, ServerNameError> {
        let refuse = |why: &str| Err(ServerNameError(why.to_owned()));
        let mut text = input.trim().to_ascii_lowercase();
        if text.is_empty() {
            return refuse("Type the name of your Mastodon server, such as mastodon.social.");
        }
        if !input.trim().is_ascii() {
            return refuse(
                "Type the server's name in plain letters (its xn-- form for a name with accents).",
            );
        }
        if let Some(rest) = text.strip_prefix("https://") {
            text = rest.to_owned();
        } else if text.contains("://") {
            return refuse("Mastodon servers are reached over https: type only the server's name.");
        }
        // `@me@mastodon.social` and `me@mastodon.social`: the part after the last `@`. A user
        // part before an address with a path (`me@host/…`) is refused below with the path.
        if let Some((user, host)) = text.rsplit_once('@') {
            if user.contains('/') || user.contains(':') {
                return refuse("Type only the server's name, without a user or password.");
            }
            text = host.to_owned();
        }
        let text = text.strip_suffix('/').unwrap_or(&text).to_owned();
        if text.starts_with('[') || text.contains(':') {
            return refuse("Type the server's name without a port or an IP address.");
        }
        if text.contains(['/', '?', '#', '\\', '%', ' ']) {
            return refuse("Type only the server's name, such as mastodon.social, not a link.");
        }
        let text = text.strip_suffix('.').unwrap_or(&text).to_owned();
        if text.len() > 253 {
            return refuse("That server name is too long.");
        }
        let labels: Vec<&str> = text.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return refuse("That is not a server name: type one such as mastodon.social.");
        }
        // A numeric last label is an IP address (`10.0.0.1`, `127.1`, `0x7f.1`), never a name.
        let last = labels[labels.len() - 1];
        if last.bytes().all(|b| b.is_ascii_digit())
            || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return refuse(
                "Type the server's name, not an IP address: Evergreen only calls public servers.",
            );
        }
        let special = SPECIAL_USE
            .iter()
            .any(|zone| text == *zone || text.ends_with(&format!(".{zone}")));
        if special {
            return refuse(
                "That name is for private or test networks: Evergreen only calls public servers.",
            );
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The provider name of a server: `mastodon:<server>`.
pub fn instance_name(server: &ServerName) -> String {
    format!("{TEMPLATE}:{}", server.as_str())
}

/// The server of an instance provider name, if `name` is one and its server is usable.
pub fn server_of(name: &str) -> Option<ServerName> {
    let server = name.strip_prefix(TEMPLATE)?.strip_prefix(':')?;
    let parsed = ServerName::parse(server).ok()?;
    // Only the canonical form names an instance (no `https://`, no capitals).
    (parsed.as_str() == server).then_some(parsed)
}

/// The app registration's form (`POST /api/v1/apps`): Evergreen's name, the callback it
/// redirects to, the scopes it asks for and its website.
pub fn registration_form(redirect_uri: &str, scopes: &str, website: &str) -> String {
    form(&[
        ("client_name", "Evergreen"),
        ("redirect_uris", redirect_uri),
        ("scopes", scopes),
        ("website", website),
    ])
}

/// The registered app's client id and secret, from the registration's answer.
pub fn registered_client(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = |name: &str| {
        v.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some((text("client_id")?, text("client_secret")?))
}

/// A status's text from its HTML `content` (`<p>Hello<br>world &amp; more</p>`): tags dropped,
/// a paragraph or line break as a newline, the five XML entities decoded.
pub fn status_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        if tag.starts_with("br") || (tag.starts_with("/p") && start + end + 1 < rest.len()) {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_people_type_becomes_the_servers_name() {
        for typed in [
            "mastodon.social",
            "  Mastodon.Social ",
            "https://mastodon.social/",
            "@me@mastodon.social",
            "me@mastodon.social",
            "mastodon.social.",
        ] {
            assert_eq!(
                ServerName::parse(typed).map(|s| s.0),
                Ok("mastodon.social".to_owned()),
                "{typed:?}"
            );
        }
        assert_eq!(
            ServerName::parse("xn--mstdn-gra.example.org").map(|s| s.0),
            Ok("xn--mstdn-gra.example.org".to_owned())
        );
    }

    #[test]
    fn hostile_names_are_refused_before_anything_is_called() {
        for hostile in [
            "",
            "127.0.0.1",
            "10.0.0.5",
            "192.168.1.10",
            "169.254.169.254",
            "127.1",
            "0x7f.1",
            "2130706433",
            "[::1]",
            "::1",
            "[fd00::1]",
            "localhost",
            "api.localhost",
            "printer.local",
            "db.internal",
            "router.home.arpa",
            "mastodon.social:8443",
            "user:pass@mastodon.social",
            "http://mastodon.social",
            "ftp://mastodon.social",
            "mastodon.social/@me",
            "mastodon.social?x=1",
            "intranet",
            "-bad.example.org",
            "a..b",
            "mästödon.social",
            "exa mple.org",
            "evil.test",
        ] {
            assert!(ServerName::parse(hostile).is_err(), "{hostile:?} passed");
        }
    }

    #[test]
    fn an_instance_name_is_the_template_and_a_canonical_server() {
        let server = ServerName::parse("fosstodon.org").unwrap();
        assert_eq!(instance_name(&server), "mastodon:fosstodon.org");
        assert_eq!(server_of("mastodon:fosstodon.org"), Some(server));
        assert_eq!(server_of("mastodon"), None);
        assert_eq!(server_of("mastodon:127.0.0.1"), None);
        assert_eq!(server_of("mastodon:Fosstodon.org"), None, "canonical only");
        assert_eq!(server_of("x:fosstodon.org"), None);
    }

    #[test]
    fn registration_is_a_form_and_its_answer_gives_the_client() {
        let body = registration_form(
            "https://evergreen.example.com/oauth/callback",
            "read:accounts write:statuses",
            "https://evergreen.example.com",
        );
        let field = |n| crate::core::http::query::param(&format!("?{body}"), n);
        assert_eq!(field("client_name").as_deref(), Some("Evergreen"));
        assert_eq!(
            field("redirect_uris").as_deref(),
            Some("https://evergreen.example.com/oauth/callback")
        );
        assert_eq!(
            field("scopes").as_deref(),
            Some("read:accounts write:statuses")
        );
        let answer = br#"{"id":"563419","name":"Evergreen","website":null,"redirect_uri":"https://e/cb","client_id":"TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM","client_secret":"ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw","vapid_key":"BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M="}"#;
        assert_eq!(
            registered_client(answer),
            Some((
                "TWhM-tNSuncnqN7DBJmoyeLnk6K3iJJ71KKXxgL1hPM".to_owned(),
                "ZEaFUFmF0umgBX1qKJDjaU99Q31lDkOU8NutzTOoliw".to_owned()
            ))
        );
        assert_eq!(registered_client(br#"{"error":"Validation failed"}"#), None);
    }

    #[test]
    fn a_statuss_html_reads_back_as_its_text() {
        assert_eq!(status_text("<p>Hello &amp; welcome</p>"), "Hello & welcome");
        assert_eq!(
            status_text("<p>Line one<br>Line two</p><p>Second &lt;para&gt;</p>"),
            "Line one\nLine two\nSecond <para>"
        );
        assert_eq!(
            status_text(
                r#"<p>See <a href="https://e.org/x" rel="nofollow"><span class="invisible">https://</span>e.org/x</a></p>"#
            ),
            "See https://e.org/x"
        );
    }
}
