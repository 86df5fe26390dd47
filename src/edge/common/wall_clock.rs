//! Real time from the JS clock, for what must not follow the test clock: durations, log lines'
//! own times, and the caches' expiry. Handlers act on [`super::clock::now`] instead.

use crate::core::common::clock::Timestamp;

/// Real time from the JS clock (`SystemTime::now()` panics on wasm32).
pub fn real_now() -> Timestamp {
    Timestamp::from_millis(worker::Date::now().as_millis() as i64)
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
