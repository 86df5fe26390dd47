//! Outbound HTTP for the `oauth2` crate, over `worker::Fetch`.
//!
//! Redirects are never followed (a token endpoint that redirects is an error, not something to
//! chase with a client secret attached), and every call has a deadline so a hung platform cannot
//! hold a grant's Durable Object forever.

use futures_util::future::{select, Either};
use std::fmt;
use std::time::Duration;
use worker::js_sys::Uint8Array;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
};

/// How long a platform has to answer.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Why a call produced no response. The text names the failure, never the request's body or
/// headers (which carry credentials).
#[derive(Debug)]
pub enum HttpError {
    /// The request could not be built (a bad URL or header).
    Build(String),
    /// The platform could not be reached, or the connection broke.
    Network(String),
    /// No answer within the deadline ([`DEADLINE`] unless the caller set one).
    Timeout,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Build(e) => write!(f, "could not build the request: {e}"),
            HttpError::Network(e) => write!(f, "network error: {e}"),
            HttpError::Timeout => write!(f, "no answer within the deadline"),
        }
    }
}

impl std::error::Error for HttpError {}

/// Sends one request; the `oauth2` crate calls this through `request_async(&send)`.
pub async fn send(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    send_within(request, DEADLINE).await
}

/// Sends one request with its own deadline (publishing's is a setting).
pub async fn send_within(
    request: oauth2::HttpRequest,
    deadline: Duration,
) -> Result<oauth2::HttpResponse, HttpError> {
    let build = |e: worker::Error| HttpError::Build(e.to_string());
    let (parts, body) = request.into_parts();
    let headers = Headers::new();
    for (name, value) in &parts.headers {
        let value = value
            .to_str()
            .map_err(|_| HttpError::Build(format!("header {name} is not text")))?;
        headers.set(name.as_str(), value).map_err(build)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::from(parts.method.as_str().to_owned()))
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !body.is_empty() {
        init.with_body(Some(Uint8Array::from(body.as_slice()).into()));
    }
    let request = Request::new_with_init(&parts.uri.to_string(), &init).map_err(build)?;
    fetch_within(request, deadline).await
}

/// Sends a request and waits for the answer's head within `deadline` (aborting the call when
/// it passes); the body is left unread, to be streamed or read whole. A request without a
/// `User-Agent` gets Evergreen's ([`USER_AGENT`](crate::core::common::build::USER_AGENT)).
pub async fn answer_within(
    mut request: Request,
    deadline: Duration,
) -> Result<Response, HttpError> {
    let build = |e: worker::Error| HttpError::Build(e.to_string());
    let headers = request.headers_mut().map_err(build)?;
    if headers.get("user-agent").map_err(build)?.is_none() {
        headers
            .set("user-agent", crate::core::common::build::USER_AGENT)
            .map_err(build)?;
    }
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = Box::pin(fetch.send_with_signal(&signal));
    let deadline = Box::pin(Delay::from(deadline));
    let answer = match select(call, deadline).await {
        Either::Left((result, _)) => result.map_err(|e| HttpError::Network(e.to_string())),
        Either::Right(_) => {
            controller.abort();
            Err(HttpError::Timeout)
        }
    };
    answer
}

/// Sends a request the caller built (a streamed body) and reads the whole answer, within
/// `deadline`.
pub async fn fetch_within(
    request: Request,
    deadline: Duration,
) -> Result<oauth2::HttpResponse, HttpError> {
    let mut response = answer_within(request, deadline).await?;
    let status = response.status_code();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| HttpError::Network(e.to_string()))?;
    let mut builder = http::Response::builder().status(status);
    for (name, value) in response.headers().entries() {
        builder = builder.header(name, value);
    }
    builder
        .body(bytes)
        .map_err(|e| HttpError::Network(format!("unreadable response: {e}")))
}
