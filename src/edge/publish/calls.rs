//! The calls a multi-step publish makes: JSON calls to the platform with the connection's
//! token, and reads of the scheduler's media (checked against what was declared before any
//! byte goes to a platform).

use super::claim::Claim;
use crate::core::grant::grant_tokens::SecretText;
use crate::core::publish::media::{self, Media};
use crate::core::publish::publish_progress::Next;
use crate::edge::common::context::Context;
use crate::edge::http::http_client::{self, HttpError};
use crate::edge::oauth::platform;
use std::time::Duration;
use worker::{Headers, Method, Request, RequestInit, RequestRedirect, Response};

/// A platform's answer, read whole.
pub type Answer = http::Response<Vec<u8>>;

pub fn header(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Claim<'_> {
    /// One call to the platform: `body` is JSON (none for a read), `headers` anything extra.
    pub(crate) async fn call(
        &self,
        method: &str,
        url: &str,
        token: &SecretText,
        body: Option<String>,
        headers: &[(String, String)],
    ) -> Result<Answer, HttpError> {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(platform::platform_url(self.cx, url))
            .header("authorization", format!("Bearer {}", token.expose()))
            .header("accept", "application/json");
        if body.is_some() {
            builder = builder.header("content-type", "application/json; charset=UTF-8");
        }
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder
            .body(body.unwrap_or_default().into_bytes())
            .map_err(|e| HttpError::Build(e.to_string()))?;
        let deadline = Duration::from_secs(u64::from(self.settings.timeout_secs));
        http_client::send_within(request, deadline).await
    }
}

/// Opens the media for reading from byte `from` (a ranged read when resuming), after checking
/// the file is what was declared. The body is left unread, to be streamed or read whole.
pub async fn open_media(
    cx: &Context,
    media: &Media,
    from: u64,
    deadline: Duration,
) -> Result<Response, String> {
    let headers = Headers::new();
    if from > 0 {
        headers
            .set("range", &format!("bytes={from}-"))
            .map_err(|e| e.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Follow);
    let url = platform::platform_url(cx, &media.url);
    let request = Request::new_with_init(&url, &init).map_err(|e| e.to_string())?;
    let response = http_client::answer_within(request, deadline)
        .await
        .map_err(|e| format!("The media at {} could not be read: {e}.", media.url))?;
    let status = response.status_code();
    let served = |name: &str| response.headers().get(name).ok().flatten();
    match (from, status) {
        (0, 200) => {}
        (_, 206) if from > 0 => {
            let total = served("content-range").and_then(|r| {
                r.rsplit('/')
                    .next()
                    .and_then(|t| t.trim().parse::<u64>().ok())
            });
            if total != Some(media.size_bytes) {
                return Err(format!(
                    "The media at {} changed size since it was declared.",
                    media.url
                ));
            }
        }
        (_, 200) => {
            return Err(format!(
                "The media host of {} does not serve byte ranges, so the upload cannot resume.",
                media.url
            ))
        }
        (_, status) => {
            return Err(format!(
                "The media at {} could not be read (the host answered {status}).",
                media.url
            ))
        }
    }
    let length = served("content-length").and_then(|l| l.trim().parse::<u64>().ok());
    let whole = length.map(|l| l + from);
    media::matches_file(media, served("content-type").as_deref(), whole)?;
    Ok(response)
}

/// For platforms that fetch the media themselves: the file is read far enough to see that it
/// is there and is what was declared (its type and length), so a wrong URL fails here with a
/// clear message instead of at the platform.
pub(crate) async fn check_media_served(
    claim: &Claim<'_>,
    item: &Media,
) -> std::result::Result<(), Next> {
    let deadline = Duration::from_secs(u64::from(claim.settings.timeout_secs));
    match open_media(claim.cx, item, 0, deadline).await {
        // Dropping the answer cancels the rest of the download.
        Ok(_) => Ok(()),
        Err(why) => Err(Next::Fail {
            reason: "media_unavailable",
            message: format!("{why} Fix the media, then retry the post."),
        }),
    }
}
