//! JSON responses and JSON errors.

use crate::core::common::ids::RandomUnavailable;
use crate::core::common::log::LogLine;
use crate::core::crypto::CryptoError;
use crate::core::http::api_error::ApiError;
use crate::core::http::pages::{Page, CONTENT_SECURITY_POLICY};
use crate::core::oauth::flow_errors::FlowReply;
use crate::edge::common::logging;
use crate::edge::common::wall_clock;
use serde::Serialize;
use worker::{Response, Result};

/// Why a handler did not produce its answer.
#[derive(Debug)]
pub enum Failure {
    /// The request cannot be served as asked: the caller gets this error.
    Api(ApiError),
    /// The Workers runtime failed (a binding, a fetch, D1's driver): logged, and answered with
    /// the generic internal error.
    Runtime(worker::Error),
    /// Something of our own failed, with its cause: logged, and answered like a runtime failure.
    Internal(Internal),
}

/// Failures of our own, each keeping its cause ([`std::error::Error::source`]).
#[derive(Debug)]
pub enum Internal {
    /// The platform's random source failed.
    Random(RandomUnavailable),
    /// A seal or an open failed (a missing key, a ciphertext bound elsewhere).
    Crypto(CryptoError),
    /// A statement failed, or its rows did not decode.
    Store(crate::store::StoreError),
    /// The deployment's configuration cannot be used (`DATA_KEYS`, `CUSTOM_PROVIDERS`) where no
    /// caller can be answered with it (a queue, a cron).
    Config(ApiError),
    /// The request carries no origin to build links on.
    NoOrigin,
    /// The grant's object answered a command with an unexpected status, and this body (its
    /// error bodies never carry tokens).
    ObjectAnswered {
        command: &'static str,
        status: u16,
        body: String,
    },
    /// A stored row did not hold what the schema promises.
    Row(crate::store::RowError),
    /// An outgoing request could not be built.
    Request(http::Error),
    /// A stored secret does not open with its binding: what it was.
    Unopened(String),
    /// The test clock as stored cannot be used.
    Clock(crate::core::common::clock::OffsetOutOfRange),
    /// Something that always holds did not: what it was.
    Broken(&'static str),
}

impl std::fmt::Display for Internal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Random(_) => f.write_str("no randomness"),
            Self::Crypto(_) => f.write_str("sealing failed"),
            Self::Store(_) => f.write_str("the store failed"),
            Self::Config(e) => write!(f, "the configuration cannot be used: {}", e.message),
            Self::NoOrigin => f.write_str("the request has no usable origin"),
            Self::ObjectAnswered {
                command,
                status,
                body,
            } => write!(
                f,
                "the grant's object answered {command} with {status}: {body}"
            ),
            Self::Row(_) => f.write_str("a stored row is not as the schema says"),
            Self::Request(_) => f.write_str("an outgoing request could not be built"),
            Self::Unopened(what) => write!(f, "{what} does not open"),
            Self::Clock(_) => f.write_str("the test clock cannot be read"),
            Self::Broken(what) => write!(f, "broken promise: {what}"),
        }
    }
}

impl std::error::Error for Internal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Random(e) => Some(e),
            Self::Crypto(e) => Some(e),
            Self::Store(e) => Some(e),
            Self::Clock(e) => Some(e),
            Self::Row(e) => Some(e),
            Self::Request(e) => Some(e),
            Self::Config(_)
            | Self::NoOrigin
            | Self::ObjectAnswered { .. }
            | Self::Unopened(_)
            | Self::Broken(_) => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => write!(f, "{}: {}", e.code.as_str(), e.message),
            Self::Runtime(e) => write!(f, "{e}"),
            Self::Internal(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Failure {
    // A failure only wraps: its text is its error's, so its causes are its error's causes (not
    // the error itself again, which would write its text twice).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Internal(e) => std::error::Error::source(e),
            Self::Api(_) | Self::Runtime(_) => None,
        }
    }
}

/// An error and its causes, one after another, for a log line.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// What handlers return: `?` works on API errors, runtime errors and our own alike.
pub type Handled<T = Response> = std::result::Result<T, Failure>;

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<worker::Error> for Failure {
    fn from(e: worker::Error) -> Self {
        Failure::Runtime(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Runtime(e.into())
    }
}

impl From<Internal> for Failure {
    fn from(e: Internal) -> Self {
        Failure::Internal(e)
    }
}

impl From<RandomUnavailable> for Failure {
    fn from(e: RandomUnavailable) -> Self {
        Internal::Random(e).into()
    }
}

impl From<CryptoError> for Failure {
    fn from(e: CryptoError) -> Self {
        Internal::Crypto(e).into()
    }
}

/// Where a caller must hand the runtime a `worker::Error` (an entry point, a queue), a
/// failure becomes one, its causes written out.
impl From<Failure> for worker::Error {
    fn from(e: Failure) -> Self {
        match e {
            Failure::Runtime(e) => e,
            other => worker::Error::RustError(with_causes(&other)),
        }
    }
}

/// The response for a handler's outcome; runtime failures are logged under `event`.
pub fn answer(handled: Handled, event: &str) -> Result<Response> {
    match handled {
        Ok(response) => Ok(response),
        Err(Failure::Api(e)) => error(&e),
        Err(Failure::Runtime(e)) => internal(event, &e),
        Err(Failure::Internal(e)) => internal(event, &e),
    }
}

/// A JSON response. API answers are never cached: they describe live state.
pub fn json<T: Serialize>(status: u16, body: &T) -> Result<Response> {
    json_text(status, serde_json::to_string(body)?)
}

/// An API error as `{"error": {"code", "message"}}`, with `Allow` on a 405 and `Retry-After`
/// on a 429.
pub fn error(error: &ApiError) -> Result<Response> {
    let mut response = json_text(error.status(), error.to_json())?;
    if let Some(allow) = error.allow {
        response.headers_mut().set("allow", &allow.join(", "))?;
    }
    if let Some(seconds) = error.retry_after_seconds {
        response
            .headers_mut()
            .set("retry-after", &seconds.to_string())?;
    }
    Ok(response)
}

/// Logs an unexpected failure under `event` and answers with the generic internal error.
/// The log gets the error's text; the caller gets nothing specific.
pub fn internal(event: &str, cause: &dyn std::error::Error) -> Result<Response> {
    logging::emit(
        &LogLine::error(event, wall_clock::real_now()).field("error", with_causes(cause)),
    );
    error(&ApiError::internal())
}

fn json_text(status: u16, text: String) -> Result<Response> {
    json_headers(Response::ok(text)?.with_status(status))
}

/// A `200` JSON response whose body is written as `chunks` come (their concatenation is the
/// document). A failure after the first chunk cuts the body short: the document then lacks
/// whatever end marker the caller writes last.
pub fn json_stream<S>(chunks: S) -> Result<Response>
where
    S: futures_util::TryStream<Ok = String, Error = worker::Error> + 'static,
{
    json_headers(Response::from_stream(chunks)?)
}

fn json_headers(mut response: Response) -> Result<Response> {
    let headers = response.headers_mut();
    headers.set("content-type", "application/json; charset=utf-8")?;
    headers.set("cache-control", "no-store")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(response)
}

/// The request's body as text, read up to `core::http::request_body`'s cap: `payload_too_large`
/// past it (before reading, when the length is declared), `invalid_request` when it cannot be
/// read or is not UTF-8. An absent body is empty. A chunked body that passes the cap is read to
/// its end without being kept (at most the platform's own request limit): locally, a body left
/// half-read stalled `wrangler dev`'s proxy for every request after it.
pub async fn read_body(req: &mut worker::Request) -> std::result::Result<String, ApiError> {
    use crate::core::http::request_body::{check_declared, BodyCount};
    use futures_util::StreamExt;
    let unreadable = || ApiError::invalid_request("The request body could not be read.");
    let declared = req
        .headers()
        .get("content-length")
        .map_err(|_| unreadable())?;
    check_declared(declared.as_deref())?;
    let Ok(mut stream) = req.stream() else {
        return Ok(String::new()); // no body at all
    };
    let mut count = BodyCount::default();
    let mut bytes = Vec::new();
    let mut refused = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if refused.is_some() {
            continue; // drained, not kept: a body left half-read stalls the connection locally
        }
        match count.add(chunk.len()) {
            Ok(()) => bytes.extend_from_slice(&chunk),
            Err(e) => refused = Some(e),
        }
    }
    if let Some(e) = refused {
        return Err(e);
    }
    String::from_utf8(bytes)
        .map_err(|_| ApiError::invalid_request("The request body is not UTF-8."))
}

/// A call's JSON body as `T`, not capped: for the worker's own calls to its Durable Objects
/// (a consent's tokens for a person with hundreds of Pages can pass the public cap) and the
/// operator-only bench seed. Anything a client sends goes through [`read_json`].
pub async fn read_own_json<T: serde::de::DeserializeOwned>(
    req: &mut worker::Request,
) -> std::result::Result<T, ApiError> {
    let text = req
        .text()
        .await
        .map_err(|_| ApiError::invalid_request("The request body could not be read."))?;
    parse_json(&text)
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> std::result::Result<T, ApiError> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::invalid_request(format!("The JSON body is not valid: {e}.")))
}

/// The request's JSON body as `T`, or an `invalid_request` error that says what is wrong
/// (`payload_too_large` past the cap).
pub async fn read_json<T: serde::de::DeserializeOwned>(
    req: &mut worker::Request,
) -> std::result::Result<T, ApiError> {
    parse_json(&read_body(req).await?)
}

/// [`read_json`] for a body that may be left out: an empty body reads as `T::default()`.
pub async fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(
    req: &mut worker::Request,
) -> std::result::Result<T, ApiError> {
    let text = read_body(req).await?;
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    parse_json(&text)
}

/// A page for a browser. Pages carry no script and are never cached or framed.
pub fn page(page: &Page) -> Result<Response> {
    html(page.status, page.to_html())
}

/// An HTML document for a browser, under the same headers as [`page`].
pub fn html(status: u16, html: String) -> Result<Response> {
    let mut response = Response::from_html(html)?.with_status(status);
    browser_headers(response.headers_mut())?;
    Ok(response)
}

/// A `303 See Other` to `location`, optionally setting a cookie.
pub fn redirect(location: &str, set_cookie: Option<&str>) -> Result<Response> {
    let mut response = Response::empty()?.with_status(303);
    let headers = response.headers_mut();
    headers.set("location", location)?;
    if let Some(cookie) = set_cookie {
        headers.set("set-cookie", cookie)?;
    }
    browser_headers(headers)?;
    Ok(response)
}

/// Where a stopped connect flow sends the browser (see `core::oauth::flow_errors`).
pub fn flow_reply(reply: FlowReply) -> Result<Response> {
    match reply {
        FlowReply::Redirect(location) => redirect(&location, None),
        FlowReply::Page(p) => page(&p),
    }
}

fn browser_headers(headers: &mut worker::Headers) -> Result<()> {
    headers.set("cache-control", "no-store")?;
    // The callback's URL carries the code and state: never leak it to the next site.
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("content-security-policy", CONTENT_SECURITY_POLICY)?;
    Ok(())
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Internal::Store(e).into()
    }
}
