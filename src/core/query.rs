//! Reading a request's query string without a URL parser: `url`'s IDNA tables would more than
//! double the release bundle for the few parameters the API takes.

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
    use super::param;

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
}
