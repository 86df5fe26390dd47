//! Integers in request bodies as JSON Schema counts them. The OpenAPI document types these
//! fields `integer`, and JSON Schema's integer is any number with no fractional part: `351.0`
//! is one, as `351` is, and a client (or a JavaScript `JSON.stringify` of a computed number)
//! may send either. serde reads `351.0` as a float and refuses it for an integer field, so
//! such fields read through here: `#[serde(deserialize_with = "json_integer::exact")]`, or
//! `optional` for an `Option` (absent or `null` is `None`).

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Past this a float no longer holds every integer exactly (2^53), so a float this large is
/// refused rather than read as a neighbouring integer.
const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0;

struct Exact<T>(PhantomData<T>);

impl<T: TryFrom<i128>> Exact<T> {
    fn fit<E: de::Error>(value: i128) -> Result<T, E> {
        T::try_from(value).map_err(|_| {
            E::invalid_value(
                de::Unexpected::Other(&value.to_string()),
                &"an integer in the field's range",
            )
        })
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for Exact<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::fit(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.fract() != 0.0 || !v.is_finite() || v.abs() > EXACT_FLOAT_LIMIT {
            return Err(E::invalid_type(de::Unexpected::Float(v), &self));
        }
        // Whole and within ±2^53: the conversion is exact.
        Self::fit(v as i128)
    }
}

/// An integer field: `7` or `7.0`, refused when fractional or out of `T`'s range.
pub fn exact<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Exact(PhantomData))
}

struct Optional<T>(PhantomData<T>);

impl<'de, T: TryFrom<i128>> Visitor<'de> for Optional<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        exact(d).map(Some)
    }
}

/// An optional integer field; use with `#[serde(default)]` so an absent field is `None`.
pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(Optional(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(deserialize_with = "exact")]
        size: u32,
        #[serde(default, deserialize_with = "optional")]
        overlap: Option<i64>,
    }

    fn read(text: &str) -> Result<Body, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_float_is_the_integer_it_equals() {
        assert_eq!(
            read(r#"{"size":351.0,"overlap":-2.0}"#),
            Ok(Body {
                size: 351,
                overlap: Some(-2)
            })
        );
        assert_eq!(read(r#"{"size":7}"#).unwrap().overlap, None);
        assert_eq!(read(r#"{"size":7,"overlap":null}"#).unwrap().overlap, None);
        assert_eq!(read(r#"{"size":1e3}"#).unwrap().size, 1000);
    }

    #[test]
    fn fractions_other_types_and_out_of_range_values_are_refused() {
        for (body, says) in [
            (r#"{"size":351.5}"#, "floating point `351.5`"),
            (r#"{"size":"351"}"#, "an integer"),
            (r#"{"size":-1}"#, "an integer in the field's range"),
            (r#"{"size":4294967296}"#, "an integer in the field's range"),
            (r#"{"size":1e300}"#, "an integer"),
            (r#"{"size":9007199254740994.0}"#, "an integer"),
            (r#"{"size":1,"overlap":0.5}"#, "floating point `0.5`"),
        ] {
            let refused = read(body).expect_err(body);
            assert!(refused.contains(says), "{body}: {refused}");
        }
    }
}
