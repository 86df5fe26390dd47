//! What the fake platform's own tests share: a fake with one client, an agent that shows
//! redirects instead of following them, and answers read whole whatever their status.
#![allow(dead_code)] // each test file uses its own part

use evergreen_fake_platform::{Client, FakePlatform};

/// A fake on a free port that accepts the client `id` / `secret`.
pub fn start(id: &str, secret: &str) -> FakePlatform {
    FakePlatform::start(
        "127.0.0.1:0",
        &[Client {
            id: id.into(),
            secret: secret.into(),
        }],
    )
    .unwrap()
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

/// Status and body of any answer, error statuses included.
pub fn answer(result: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap()),
        Err(e) => panic!("transport error: {e}"),
    }
}

/// [`answer`], with the body read as JSON.
pub fn answer_json(result: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let (status, body) = answer(result);
    (status, serde_json::from_str(&body).unwrap())
}
