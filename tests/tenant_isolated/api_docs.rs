//! The API reference: `/openapi.json` and `/docs` served as static assets (`assets/`) with their
//! headers, and the page rendered in a real browser (Debian's Chromium driven by
//! playwright-core) with every request beyond loopback refused: it must render every documented
//! operation from this origin alone.
use crate::common::browser::chromium;
use crate::stack;
use serde_json::Value;
use std::collections::BTreeSet;

fn header(answer: &ureq::Response, name: &str) -> String {
    answer
        .header(name)
        .unwrap_or_else(|| panic!("{} has no {name} header", answer.get_url()))
        .to_owned()
}

#[test]
fn the_openapi_document_and_its_reference_page_are_served_with_their_headers() {
    let base = &stack().worker.base_url;
    let document = ureq::get(&format!("{base}/openapi.json"))
        .call()
        .expect("GET /openapi.json");
    assert_eq!(document.status(), 200);
    assert!(header(&document, "content-type").starts_with("application/json"));
    assert_eq!(header(&document, "access-control-allow-origin"), "*");
    assert_eq!(header(&document, "cache-control"), "public, max-age=300");
    assert_eq!(header(&document, "x-content-type-options"), "nosniff");
    let doc: Value = document.into_json().expect("JSON");
    assert_eq!(doc["openapi"], "3.1.0");

    let page = ureq::get(&format!("{base}/docs"))
        .call()
        .expect("GET /docs");
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    let policy = header(&page, "content-security-policy");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.into_string().unwrap();
    assert!(html.contains("/docs-ui/swagger-ui-bundle.js"), "{html}");
}

#[test]
fn the_reference_page_renders_every_operation_offline_in_a_browser() {
    let base = &stack().worker.base_url;
    let doc: Value = ureq::get(&format!("{base}/openapi.json"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let id = operation["operationId"].as_str().expect("an operationId");
            documented.insert((method.clone(), path.clone(), id.to_owned()));
        }
    }
    assert!(documented.len() >= 40, "{documented:?}");

    let seen = chromium("docs.mjs", [base], "the browser run");
    assert_eq!(seen["status"], 200, "{seen}");
    assert_eq!(
        seen["blocked"],
        Value::Array(vec![]),
        "requests beyond loopback: {seen}"
    );
    assert_eq!(
        seen["errors"],
        Value::Array(vec![]),
        "the page's errors: {seen}"
    );
    let rendered: BTreeSet<(String, String, String)> = seen["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap().to_owned(),
                o["path"].as_str().unwrap().to_owned(),
                o["operation_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        rendered, documented,
        "rendered (left) against documented (right)"
    );
}
