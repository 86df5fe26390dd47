//! Times across the D1 boundary. D1 stores Unix milliseconds as INTEGER, but JS numbers are
//! f64 and `D1Type::Integer` binds only 32 bits, so times are bound and read as f64.

use crate::core::clock::Timestamp;
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;

/// A time as a D1 bind value.
pub fn bind(t: Timestamp) -> JsValue {
    JsValue::from_f64(t.as_millis() as f64)
}

/// A time read from D1, as RFC 3339 in a JSON answer (`null` when the column is NULL).
pub fn json(millis: Option<f64>) -> Value {
    millis.map_or(Value::Null, |ms| {
        json!(Timestamp::from_millis(ms as i64).to_rfc3339())
    })
}

/// An optional time as a D1 bind value (`NULL` for `None`).
pub fn bind_opt(t: Option<Timestamp>) -> JsValue {
    t.map_or(JsValue::NULL, bind)
}

/// A time read from D1.
pub fn read(millis: f64) -> Timestamp {
    Timestamp::from_millis(millis as i64)
}
