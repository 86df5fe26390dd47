//! One generic row decoder: a row is column name → JSON value, as D1 hands it over, and typed
//! values are read from it column by column. One decoder for every statement keeps serde's
//! per-type code out of the bundle.

use crate::core::common::clock::Timestamp;
use serde_json::{Map, Value};
use std::fmt;

/// A row as the database returned it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub Map<String, Value>);

/// A column was missing or held a value of the wrong kind: the schema and the store disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    pub column: String,
    pub expected: &'static str,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {} is not {}", self.column, self.expected)
    }
}

impl std::error::Error for RowError {}

impl Row {
    /// The whole row as a `T` with named fields (for row types that derive `Deserialize`).
    pub fn into_typed<T: serde::de::DeserializeOwned>(
        self,
        statement: &'static str,
    ) -> Result<T, super::StoreError> {
        serde_json::from_value(Value::Object(self.0)).map_err(|e| super::StoreError {
            statement,
            message: format!("row does not decode: {e}"),
        })
    }

    fn value(&self, column: &str) -> &Value {
        self.0.get(column).unwrap_or(&Value::Null)
    }

    fn wrong(column: &str, expected: &'static str) -> RowError {
        RowError {
            column: column.to_owned(),
            expected,
        }
    }

    /// A TEXT column that may be NULL.
    pub fn opt_text(&self, column: &str) -> Result<Option<String>, RowError> {
        match self.value(column) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(Self::wrong(column, "text")),
        }
    }

    /// A TEXT column that is NOT NULL.
    pub fn text(&self, column: &str) -> Result<String, RowError> {
        self.opt_text(column)?
            .ok_or_else(|| Self::wrong(column, "non-null text"))
    }

    /// An INTEGER column that may be NULL. D1 hands integers over as JavaScript numbers, so a
    /// whole-valued float is accepted (and a fractional one refused).
    pub fn opt_int(&self, column: &str) -> Result<Option<i64>, RowError> {
        match self.value(column) {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.3e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| Self::wrong(column, "an integer")),
            _ => Err(Self::wrong(column, "an integer")),
        }
    }

    /// An INTEGER column that is NOT NULL.
    pub fn int(&self, column: &str) -> Result<i64, RowError> {
        self.opt_int(column)?
            .ok_or_else(|| Self::wrong(column, "a non-null integer"))
    }

    /// A time (Unix milliseconds) that may be NULL.
    pub fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, RowError> {
        Ok(self.opt_int(column)?.map(Timestamp::from_millis))
    }

    /// A time (Unix milliseconds) that is NOT NULL.
    pub fn time(&self, column: &str) -> Result<Timestamp, RowError> {
        Ok(Timestamp::from_millis(self.int(column)?))
    }

    /// A TEXT column read as one of the core's enums.
    pub fn parsed<T>(
        &self,
        column: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, RowError> {
        parse(&self.text(column)?).ok_or_else(|| Self::wrong(column, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Value) -> Row {
        Row(value.as_object().cloned().unwrap())
    }

    #[test]
    fn integers_arrive_as_javascript_numbers_and_read_back_whole() {
        let r = row(json!({ "a": 1_764_000_000_000.0, "b": 7, "c": 1.5, "d": null }));
        assert_eq!(r.int("a").unwrap(), 1_764_000_000_000);
        assert_eq!(r.int("b").unwrap(), 7);
        assert_eq!(r.opt_int("c").unwrap_err().column, "c");
        assert_eq!(r.opt_int("d").unwrap(), None);
        assert!(r.int("d").is_err());
        assert_eq!(r.opt_int("missing").unwrap(), None);
    }

    #[test]
    fn text_is_text_and_nothing_else() {
        let r = row(json!({ "a": "x", "b": 3 }));
        assert_eq!(r.text("a").unwrap(), "x");
        assert_eq!(
            r.text("b").unwrap_err(),
            RowError {
                column: "b".into(),
                expected: "text"
            }
        );
        assert_eq!(
            r.parsed("a", "a scope", |s| (s == "x").then_some(1))
                .unwrap(),
            1
        );
        assert!(r.parsed("a", "a scope", |_| None::<u8>).is_err());
    }
}
