//! Faults a test can arm for the next token answer: what real platforms do on bad days.

use crate::http::Reply;
use crate::state::Shared;
use serde_json::json;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A 200 whose body is not JSON (a proxy's HTML page). Nothing is issued.
    NonJsonBody,
    /// A 200 carrying an OAuth error object. Nothing is issued.
    ErrorInside200,
    /// A 200 without `access_token`. Nothing is issued.
    MissingAccessToken,
    /// `503` with an HTML body. Nothing is issued.
    ServiceUnavailable,
    /// `429` with `Retry-After: 30`. Nothing is issued.
    TooManyRequests,
    /// The tokens are issued (a refresh token is rotated), but the answer omits `expires_in`,
    /// which RFC 6749 allows.
    OmitExpiresIn,
    /// The endpoint does its work and answers normally, but only after this long: a platform
    /// having a slow day, or one slower than the caller's deadline.
    Slow(Duration),
    /// The endpoint does its work (a rotating platform has already replaced the refresh
    /// token), then the answer is lost on the way: the caller gets `502` from the gateway in
    /// between and never sees the new tokens.
    LostAfterIssue,
}

impl Fault {
    /// The reply that replaces the endpoint's work entirely, for faults that issue nothing.
    pub fn replace_before(self) -> Option<Reply> {
        Some(match self {
            Fault::NonJsonBody => {
                Reply::html(200, "<html><body>Gateway says hello</body></html>".to_owned())
            }
            Fault::ErrorInside200 => Reply::json(
                200,
                &json!({ "error": "server_error", "error_description": "Try again later." }),
            ),
            Fault::MissingAccessToken => {
                Reply::json(200, &json!({ "token_type": "bearer", "expires_in": 7200 }))
            }
            Fault::ServiceUnavailable => {
                Reply::html(503, "<html><body>Service Unavailable</body></html>".to_owned())
            }
            Fault::TooManyRequests => Reply::json(
                429,
                &json!({ "title": "Too Many Requests", "detail": "Too Many Requests", "status": 429 }),
            )
            .with_header("retry-after", "30"),
            Fault::OmitExpiresIn | Fault::Slow(_) | Fault::LostAfterIssue => return None,
        })
    }

    /// The endpoint's real reply, altered, for faults that let the work happen.
    pub fn alter(self, mut reply: Reply) -> Reply {
        match self {
            Fault::OmitExpiresIn => reply.remove_json_field("expires_in"),
            Fault::LostAfterIssue => {
                return Reply::html(
                    502,
                    "<html><body>502 Bad Gateway: the upstream connection closed</body></html>"
                        .to_owned(),
                )
            }
            _ => {}
        }
        reply
    }
}

/// A token endpoint's answer with the next armed fault applied: `work` does the endpoint's
/// real work, and is skipped for faults that issue nothing.
pub fn serve_token(shared: &Shared, work: impl FnOnce() -> Reply) -> Reply {
    let fault = {
        let mut inner = shared.lock();
        inner.token_endpoint_calls += 1;
        inner.token_faults.pop_front().or(inner.token_outage)
    };
    if let Some(Fault::Slow(delay)) = fault {
        std::thread::sleep(delay);
    }
    match fault {
        None => work(),
        Some(fault) => fault
            .replace_before()
            .unwrap_or_else(|| fault.alter(work())),
    }
}
