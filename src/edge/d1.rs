//! Small helpers for D1 statements: bind values and write results.

use worker::wasm_bindgen::JsValue;
use worker::D1Result;

/// How many rows a write changed (0 when D1 does not say).
pub fn changes(result: &D1Result) -> usize {
    result
        .meta()
        .ok()
        .flatten()
        .and_then(|m| m.changes)
        .unwrap_or(0)
}

/// An integer bind value. JS numbers are f64, exact up to 2^53: ample for versions and counts.
pub fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// Text or `NULL`.
pub fn text_or_null(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}
