//! The route table: which handler a method and path reach, or which error they get.
//!
//! Test-only routes (under `/__test/`) exist only in builds with the `test-powers` feature, so
//! the release bundle does not even contain their paths (the release-bundle check greps for them).

use crate::core::api_error::ApiError;
#[cfg(feature = "test-powers")]
use crate::core::queues::WorkQueue;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`: liveness, D1 reachability, build flavour, cron heartbeats.
    Healthz,
    #[cfg(feature = "test-powers")]
    Test(TestRoute),
}

/// Routes that exist only in test builds. All of them require the operator secret.
#[cfg(feature = "test-powers")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestRoute {
    /// `GET /__test/clock`: the clock offset and the shifted time.
    GetClock,
    /// `PUT /__test/clock` `{"offset_ms": n}`: shifts every handler's clock.
    SetClock,
    /// `POST /__test/queues/{refresh|publish|webhooks}`: sends a probe message to a work queue.
    EnqueueProbe(WorkQueue),
    /// `GET /__test/dead-letters`: what the consumers recorded as unprocessable.
    DeadLetters,
    /// `POST /__test/spike/grants`: a probe grant row for the kill-mid-call spike.
    CreateSpikeGrant,
    /// `GET /__test/spike/grants/{id}`: the probe grant's D1 row and its Durable Object's storage.
    SpikeGrant(String),
    /// `POST /__test/spike/grants/{id}/refresh`: a refresh made from inside the grant's DO.
    SpikeRefresh(String),
}

/// Resolves a request to a route. Unknown paths are `not_found`; known paths with another
/// method are `method_not_allowed` with the methods they take.
pub fn resolve(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["healthz"] => only(method, &["GET"], Route::Healthz),
        #[cfg(feature = "test-powers")]
        ["__test", rest @ ..] => resolve_test(method, rest)
            .map(Route::Test)
            .map_err(|e| e.unwrap_or_else(|| ApiError::not_found(path))),
        _ => Err(ApiError::not_found(path)),
    }
}

fn only<T>(method: &str, allow: &'static [&'static str], route: T) -> Result<T, ApiError> {
    if allow.contains(&method) {
        Ok(route)
    } else {
        Err(ApiError::method_not_allowed(method, allow))
    }
}

/// `Err(None)` is "no such path" (the caller knows the full path for the message).
#[cfg(feature = "test-powers")]
fn resolve_test(method: &str, rest: &[&str]) -> Result<TestRoute, Option<ApiError>> {
    let route = match rest {
        ["clock"] => match method {
            "GET" => TestRoute::GetClock,
            "PUT" => TestRoute::SetClock,
            _ => return Err(Some(ApiError::method_not_allowed(method, &["GET", "PUT"]))),
        },
        ["queues", slug] => {
            let queue = WorkQueue::from_slug(slug).ok_or(None)?;
            only(method, &["POST"], TestRoute::EnqueueProbe(queue)).map_err(Some)?
        }
        ["dead-letters"] => only(method, &["GET"], TestRoute::DeadLetters).map_err(Some)?,
        ["spike", "grants"] => {
            only(method, &["POST"], TestRoute::CreateSpikeGrant).map_err(Some)?
        }
        ["spike", "grants", id] if !id.is_empty() => {
            only(method, &["GET"], TestRoute::SpikeGrant((*id).to_owned())).map_err(Some)?
        }
        ["spike", "grants", id, "refresh"] if !id.is_empty() => {
            only(method, &["POST"], TestRoute::SpikeRefresh((*id).to_owned())).map_err(Some)?
        }
        _ => return Err(None),
    };
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api_error::ErrorCode;

    #[test]
    fn healthz_takes_get_only() {
        assert_eq!(resolve("GET", "/healthz"), Ok(Route::Healthz));
        let err = resolve("POST", "/healthz").unwrap_err();
        assert_eq!(err.code, ErrorCode::MethodNotAllowed);
        assert_eq!(err.allow, Some(&["GET"][..]));
    }

    #[test]
    fn unknown_paths_are_not_found() {
        for path in ["/", "/healthz/", "/nope", "/healthz/extra", ""] {
            let err = resolve("GET", path).unwrap_err();
            assert_eq!(err.code, ErrorCode::NotFound, "{path}");
        }
    }

    #[cfg(not(feature = "test-powers"))]
    #[test]
    fn release_builds_have_no_test_routes() {
        for path in [
            "/__test/clock",
            "/__test/spike/grants",
            "/__test/dead-letters",
        ] {
            assert_eq!(resolve("GET", path).unwrap_err().code, ErrorCode::NotFound);
        }
    }

    #[cfg(feature = "test-powers")]
    #[test]
    fn test_routes_resolve_in_test_builds() {
        assert_eq!(
            resolve("PUT", "/__test/clock"),
            Ok(Route::Test(TestRoute::SetClock))
        );
        assert_eq!(
            resolve("POST", "/__test/queues/publish"),
            Ok(Route::Test(TestRoute::EnqueueProbe(WorkQueue::Publish)))
        );
        assert_eq!(
            resolve("POST", "/__test/spike/grants/gr_1/refresh"),
            Ok(Route::Test(TestRoute::SpikeRefresh("gr_1".into())))
        );
        assert_eq!(
            resolve("GET", "/__test/queues/nope").unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            resolve("DELETE", "/__test/clock").unwrap_err().code,
            ErrorCode::MethodNotAllowed
        );
        assert_eq!(
            resolve("GET", "/__test/spike/grants//refresh")
                .unwrap_err()
                .code,
            ErrorCode::NotFound
        );
    }
}
