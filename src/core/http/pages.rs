//! Small HTML pages for browsers (errors in a connect flow, the test build's return page).
//!
//! Every value is HTML-escaped; pages carry no script and no external resource, so the
//! response can be served with a `default-src 'none'` content security policy.

/// One page: a title, a heading, paragraphs and labelled details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub status: u16,
    pub title: String,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub details: Vec<(String, String)>,
    /// A button that POSTs to this same-origin path: `(action, label)`.
    pub button: Option<(String, String)>,
    /// A text field sent with the button's form.
    pub input: Option<Box<Input>>,
}

/// A labelled text field in a page's form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub label: String,
    pub value: String,
    pub placeholder: String,
}

impl Page {
    pub fn new(status: u16, title: &str, heading: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            heading: heading.to_owned(),
            paragraphs: Vec::new(),
            details: Vec::new(),
            button: None,
            input: None,
        }
    }

    /// A text field sent with the button's form (the button must be set too).
    pub fn input(mut self, input: Input) -> Self {
        self.input = Some(Box::new(input));
        self
    }

    /// A button that POSTs to `action` (a path on Evergreen's origin).
    pub fn button(mut self, action: &str, label: &str) -> Self {
        self.button = Some((action.to_owned(), label.to_owned()));
        self
    }

    pub fn paragraph(mut self, text: &str) -> Self {
        self.paragraphs.push(text.to_owned());
        self
    }

    pub fn detail(mut self, label: &str, value: &str) -> Self {
        self.details.push((label.to_owned(), value.to_owned()));
        self
    }

    pub fn to_html(&self) -> String {
        let mut body = format!("<h1>{}</h1>\n", escape(&self.heading));
        for p in &self.paragraphs {
            body.push_str(&format!("<p>{}</p>\n", escape(p)));
        }
        if !self.details.is_empty() {
            body.push_str("<dl>\n");
            for (label, value) in &self.details {
                body.push_str(&format!(
                    "<dt>{}</dt><dd><code>{}</code></dd>\n",
                    escape(label),
                    escape(value)
                ));
            }
            body.push_str("</dl>\n");
        }
        if let Some((action, label)) = &self.button {
            let field = self.input.as_ref().map_or_else(String::new, |i| {
                format!(
                    "<p><label for=\"{name}\">{label}</label><br><input id=\"{name}\" \
                     name=\"{name}\" value=\"{value}\" placeholder=\"{placeholder}\" \
                     autocapitalize=\"none\" spellcheck=\"false\" required></p>",
                    name = escape(&i.name),
                    label = escape(&i.label),
                    value = escape(&i.value),
                    placeholder = escape(&i.placeholder),
                )
            });
            body.push_str(&format!(
                "<form method=\"post\" action=\"{}\">{field}<button type=\"submit\">{}</button></form>\n",
                escape(action),
                escape(label)
            ));
        }
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title} · Evergreen</title><style>{STYLE}</style></head>\n<body><main>\n{body}</main></body></html>\n",
            title = escape(&self.title)
        )
    }
}

/// The content security policy pages are served with: no script, no external resource.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// The policy for a page whose button is answered with a redirect to `target` (an origin):
/// browsers apply `form-action` to a form's redirects too.
pub fn content_security_policy_with_form_target(target: &str) -> String {
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {target}"),
    )
}

const STYLE: &str =
    "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f7f5;color:#1d2b1f}\
main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:8px;\
box-shadow:0 1px 4px #0002}h1{font-size:1.4rem;margin-top:0}dt{font-weight:600}\
dd{margin:0 0 .5rem}code{word-break:break-all}";

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let html = Page::new(400, "<t>", "a & b")
            .paragraph("<script>alert(1)</script>")
            .detail("k\"", "v'")
            .to_html();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<title>&lt;t&gt; · Evergreen</title>"));
        assert!(html.contains("<h1>a &amp; b</h1>"));
        assert!(html.contains("k&quot;") && html.contains("v&#39;"));
        let with_button = Page::new(200, "t", "h")
            .button("/go?a=1&b=\"", "Go <now>")
            .to_html();
        assert!(with_button.contains(
            "<form method=\"post\" action=\"/go?a=1&amp;b=&quot;\"><button type=\"submit\">Go &lt;now&gt;</button></form>"
        ));
        let with_field = Page::new(200, "t", "h")
            .input(Input {
                name: "server".into(),
                label: "Server <name>".into(),
                value: "\"><script>".into(),
                placeholder: "mastodon.social".into(),
            })
            .button("/connect/s", "Continue")
            .to_html();
        assert!(with_field.contains("<label for=\"server\">Server &lt;name&gt;</label>"));
        assert!(with_field.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(!with_field.contains("<script>"));
        assert!(with_field.contains("<form method=\"post\" action=\"/connect/s\"><p>"));
        assert!(content_security_policy_with_form_target("https://x.com")
            .contains("form-action 'self' https://x.com;"));
    }
}
