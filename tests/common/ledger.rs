//! What the lifecycle tests share: taking turns on one stack, the sweep run until a connection
//! shows a colour, the types of its events, and days between the API's times.

use super::tenants::Tenant;
use super::Stack;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The tests of one binary move the worker's clock and arm the shared fake: one at a time.
/// (Each test binary compiles its own copy of this lock.)
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `type` of each event, in order.
pub fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// Runs the hourly sweep and waits until `connection` shows `colour`.
pub fn sweep_until(s: &Stack, tenant: &Tenant<'_>, connection: &str, colour: &str) -> Value {
    s.worker.run_cron("0 * * * *");
    s.worker.eventually(Duration::from_secs(30), colour, || {
        let shown = tenant.connection(connection);
        (shown["health"]["colour"] == colour).then_some(shown)
    })
}

/// An RFC 3339 time the API answered.
pub fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Days (fractional) from one API time to another.
pub fn days_between(from: &Value, to: &Value) -> f64 {
    (time(to) - time(from)).num_seconds() as f64 / 86_400.0
}
