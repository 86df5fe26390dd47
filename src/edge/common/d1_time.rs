//! Times read back from D1 rows: Unix milliseconds, as the JS numbers (f64) D1 hands over.
//! Times are bound by the store (`store::Param`).

use crate::core::common::clock::Timestamp;
use serde_json::{json, Value};

/// A time read from D1, as RFC 3339 in a JSON answer (`null` when the column is NULL).
pub fn json(millis: Option<f64>) -> Value {
    millis.map_or(Value::Null, |ms| {
        json!(Timestamp::from_millis(ms as i64).to_rfc3339())
    })
}

/// A time read from D1.
pub fn read(millis: f64) -> Timestamp {
    Timestamp::from_millis(millis as i64)
}
