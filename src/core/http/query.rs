//! Reading and writing query strings without a URL parser: `url`'s IDNA tables would more than
//! double the release bundle for the few parameters Evergreen reads and writes.

/// The first value of `name` in `url`'s query, form-decoded (`+` is a space, `%XX` a byte).
/// Malformed escapes are kept as written; invalid UTF-8 is replaced.
pub fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == name).then(|| decode(value))
    })
}

/// `url` with `params` appended to its query (after `?`, or `&` if it already has one),
/// each name and value percent-encoded. A fragment, if any, stays at the end.
pub fn with_params(url: &str, params: &[(&str, &str)]) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    for (i, (name, value)) in params.iter().enumerate() {
        let separator = match (i, base.contains('?'), base.ends_with(['?', '&'])) {
            (0, false, _) => "?",
            (0, true, true) => "",
            _ => "&",
        };
        out.push_str(separator);
        out.push_str(&encode(name));
        out.push('=');
        out.push_str(&encode(value));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// An `application/x-www-form-urlencoded` body of `params`, each name and value
/// percent-encoded.
pub fn form(params: &[(&str, &str)]) -> String {
    let query = with_params("", params);
    query.strip_prefix('?').unwrap_or(&query).to_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, param, with_params};

    #[test]
    fn reads_form_encoded_parameters() {
        let url = "https://h/v1/connections?end_user_ref=user%2042&x=1&end_user_ref=second";
        assert_eq!(param(url, "end_user_ref").as_deref(), Some("user 42"));
        assert_eq!(param(url, "x").as_deref(), Some("1"));
        assert_eq!(
            param("https://h/p?a=b+c%C3%A9#frag", "a").as_deref(),
            Some("b cé")
        );
        assert_eq!(param("https://h/p?flag", "flag").as_deref(), Some(""));
    }

    #[test]
    fn missing_and_malformed_input_is_handled() {
        assert_eq!(param("https://h/p", "a"), None);
        assert_eq!(param("https://h/p?b=1", "a"), None);
        assert_eq!(param("https://h/p?a=%zz%4", "a").as_deref(), Some("%zz%4"));
        assert_eq!(param("https://h/p?a=%", "a").as_deref(), Some("%"));
    }

    #[test]
    fn appends_encoded_parameters() {
        assert_eq!(
            with_params(
                "https://app/done",
                &[("connection_id", "conn_1"), ("x", "a b&c")]
            ),
            "https://app/done?connection_id=conn_1&x=a%20b%26c"
        );
        assert_eq!(
            with_params("https://app/done?tab=2", &[("error", "access_denied")]),
            "https://app/done?tab=2&error=access_denied"
        );
        assert_eq!(
            with_params("https://app/done?", &[("a", "1")]),
            "https://app/done?a=1"
        );
        assert_eq!(
            with_params("https://app/done#top", &[("a", "1")]),
            "https://app/done?a=1#top"
        );
    }

    #[test]
    fn encoding_round_trips_through_param() {
        let value = "tweet.read users.read/é?&=+%";
        let url = with_params("https://h/p", &[("v", value)]);
        assert_eq!(encode("~a-Z_0."), "~a-Z_0.");
        assert_eq!(param(&url, "v").as_deref(), Some(value));
    }
}
