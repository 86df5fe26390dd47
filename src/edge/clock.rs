//! The one clock every handler uses.
//!
//! Release builds read real time. Test builds add the offset stored in D1 (`test_clock`), so a
//! test can shift every handler's clock at once (see `PUT /__test/clock`).

use crate::core::clock::Timestamp;
use worker::{Env, Result};

/// Real time from the JS clock (`SystemTime::now()` panics on wasm32).
pub fn real_now() -> Timestamp {
    Timestamp::from_millis(worker::Date::now().as_millis() as i64)
}

/// The time handlers act on.
#[cfg(not(feature = "test-powers"))]
pub async fn now(_env: &Env) -> Result<Timestamp> {
    Ok(real_now())
}

/// The time handlers act on: real time shifted by the test clock's offset.
#[cfg(feature = "test-powers")]
pub async fn now(env: &Env) -> Result<Timestamp> {
    Ok(offset(env).await?.apply(real_now()))
}

#[cfg(feature = "test-powers")]
pub async fn offset(env: &Env) -> Result<crate::core::clock::ClockOffset> {
    use crate::core::clock::ClockOffset;
    let stored: Option<f64> = super::bindings::db(env)?
        .prepare("SELECT offset_ms FROM test_clock WHERE id = 1")
        .first(Some("offset_ms"))
        .await?;
    let millis = stored.unwrap_or(0.0) as i64;
    ClockOffset::from_millis(millis).map_err(|e| worker::Error::RustError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::real_now;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn real_time_comes_from_the_js_clock() {
        let first = real_now();
        let second = real_now();
        // 2025-01-01T00:00:00Z: the JS clock is wired up (a zero or a panic means it is not).
        assert!(first.as_millis() > 1_735_689_600_000, "{first}");
        assert!(second >= first);
    }
}
