//! The browser-binding cookie (and the [`Cookie`] shape every Evergreen cookie shares): ties
//! an OAuth callback to the browser that opened the connect link, so a callback URL carried to
//! another browser (login CSRF) is refused.
//!
//! `HttpOnly`, `SameSite=Lax` (`Strict` would be dropped on the cross-site redirect back from
//! the platform), and `Secure` with the `__Host-` prefix everywhere but loopback `http`, where
//! browsers would drop a `Secure` cookie. One value per browser: a browser that already has
//! one keeps it, so two connect flows in two tabs do not undo each other.

use crate::core::http::origin::Origin;

/// A cookie Evergreen sets: `HttpOnly`, `SameSite=Lax`, path `/`, and on `https` origins
/// `Secure` under a `__Host-` name (pinned to this host); on loopback `http` a plain name,
/// since browsers drop `Secure` cookies there. Its value is always an `ids::new_secret`.
pub struct Cookie {
    /// The name on `https` origins (with the `__Host-` prefix).
    pub secure_name: &'static str,
    /// The name on loopback `http`, for local development.
    pub loopback_name: &'static str,
}

/// The browser-binding cookie.
pub const BINDING: Cookie = Cookie {
    secure_name: "__Host-evergreen_binding",
    loopback_name: "evergreen_binding",
};

impl Cookie {
    /// The name the cookie has on `origin`.
    pub fn name_for(&self, origin: &Origin) -> &'static str {
        if origin.is_https() {
            self.secure_name
        } else {
            self.loopback_name
        }
    }

    /// The `Set-Cookie` value for `value` on `origin`, living `max_age_secs` (0 deletes it).
    pub fn set_cookie(&self, origin: &Origin, value: &str, max_age_secs: i64) -> String {
        let secure = if origin.is_https() { "; Secure" } else { "" };
        format!(
            "{}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}",
            self.name_for(origin)
        )
    }

    /// The value the browser presented in its `Cookie` header, if it is well formed.
    pub fn read(&self, cookie_header: Option<&str>, origin: &Origin) -> Option<String> {
        let name = self.name_for(origin);
        cookie_header?
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| is_well_formed(v))
    }
}

/// The binding cookie's `Set-Cookie` value.
pub fn set_cookie(origin: &Origin, value: &str, max_age_secs: i64) -> String {
    BINDING.set_cookie(origin, value, max_age_secs)
}

/// The binding value the browser presented, if it is well formed.
pub fn read(cookie_header: Option<&str>, origin: &Origin) -> Option<String> {
    BINDING.read(cookie_header, origin)
}

/// What `ids::new_secret` makes: 43 base64url characters.
fn is_well_formed(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";

    #[test]
    fn secure_with_host_prefix_outside_loopback() {
        let origin = Origin::of("https://evergreen.example").unwrap();
        let header = set_cookie(&origin, VALUE, 900);
        assert_eq!(
            header,
            format!("__Host-evergreen_binding={VALUE}; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure")
        );
    }

    #[test]
    fn not_secure_on_loopback_http() {
        let origin = Origin::of("http://127.0.0.1:8787").unwrap();
        let header = set_cookie(&origin, VALUE, 900);
        assert!(header.starts_with("evergreen_binding="));
        assert!(header.contains("HttpOnly") && header.contains("SameSite=Lax"));
        assert!(!header.contains("Secure"));
    }

    #[test]
    fn reads_only_its_own_well_formed_cookie() {
        let https = Origin::of("https://e.example").unwrap();
        let loopback = Origin::of("http://localhost:8787").unwrap();
        let header = format!("a=1; __Host-evergreen_binding={VALUE}; evergreen_binding=short");
        assert_eq!(read(Some(&header), &https).as_deref(), Some(VALUE));
        assert_eq!(read(Some(&header), &loopback), None);
        assert_eq!(read(None, &https), None);
        let tampered = format!("__Host-evergreen_binding={}!", &VALUE[..42]);
        assert_eq!(read(Some(&tampered), &https), None);
    }
}
