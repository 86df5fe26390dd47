//! `GET /openapi.json`: the API's OpenAPI 3.1 description, written by hand in
//! `src/openapi.json` (not generated from the router, so `tests/openapi.rs` can hold one
//! against the other).

use worker::{Response, Result};

const DOCUMENT: &str = include_str!("../../openapi.json");

pub fn handle() -> Result<Response> {
    let mut response = Response::ok(DOCUMENT)?;
    let headers = response.headers_mut();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "public, max-age=300")?;
    headers.set("access-control-allow-origin", "*")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(response)
}
