//! JSON responses and JSON errors.

use super::{clock, logging};
use crate::core::api_error::ApiError;
use crate::core::log::LogLine;
use serde::Serialize;
use worker::{Response, Result};

/// A JSON response. API answers are never cached: they describe live state.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    json_text(status, serde_json::to_string(body)?)
}

/// An API error as `{"error": {"code", "message"}}`, with `Allow` on a 405.
pub fn error(error: &ApiError) -> Result<Response> {
    let mut response = json_text(error.status(), error.to_json())?;
    if let Some(allow) = error.allow {
        response.headers_mut().set("allow", &allow.join(", "))?;
    }
    Ok(response)
}

/// Logs an unexpected failure under `event` and answers with the generic internal error.
/// The log gets the error's text; the caller gets nothing specific.
pub fn internal(event: &str, cause: &worker::Error) -> Result<Response> {
    logging::emit(&LogLine::error(event, clock::real_now()).field("error", cause.to_string()));
    error(&ApiError::internal())
}

fn json_text(status: u16, text: String) -> Result<Response> {
    let mut response = Response::ok(text)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(response)
}

/// The request's JSON body as `T`, or an `invalid_request` error that says what is wrong.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: &mut worker::Request,
) -> std::result::Result<T, ApiError> {
    let text = req
        .text()
        .await
        .map_err(|_| ApiError::invalid_request("The request body could not be read."))?;
    serde_json::from_str(&text)
        .map_err(|e| ApiError::invalid_request(format!("The JSON body is not valid: {e}.")))
}
