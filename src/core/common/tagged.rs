//! Internally tagged JSON (`{"command": "store", …the variant's fields}`) read without
//! serde's `#[serde(tag = …)]` deserializer.
//!
//! That deserializer buffers every field of the object into serde's private `Content`, then
//! decodes the variant from the buffer, so each variant's decoder is compiled once more for it,
//! with the buffer's own visitors besides. For Evergreen's six tagged enums that was 130 KiB of
//! the wasm before `wasm-opt`; reading them here instead took 19.6 KB off the release wasm's
//! gzip (docs/benchmarks.md, "Size"). The object is parsed as a JSON [`Value`] (a parser the
//! bundle has anyway), the tag is read from it, and the variant is decoded from the same value.
//! Serializing keeps serde's derive, so the wire form is the same either way; each enum's tests
//! hold the two to each other.

use serde::de::{DeserializeOwned, Error as _};
use serde_json::{Error, Map, Value};

/// An internally tagged object, its tag taken out.
pub struct Tagged {
    pub tag: String,
    object: Map<String, Value>,
}

impl Tagged {
    /// Reads `object`'s tag, the string in its `field`.
    pub fn read(object: Value, field: &'static str) -> Result<Self, Error> {
        let Value::Object(mut object) = object else {
            return Err(Error::custom("expected a JSON object"));
        };
        match object.remove(field) {
            Some(Value::String(tag)) => Ok(Self { tag, object }),
            Some(_) => Err(Error::custom(format!("`{field}` is not a string"))),
            None => Err(Error::missing_field(field)),
        }
    }

    /// The rest of the object as the variant's own struct.
    pub fn fields<T: DeserializeOwned>(self) -> Result<T, Error> {
        serde_json::from_value(Value::Object(self.object))
    }

    /// One field of an inline variant (`Visit { grant_id }`), which must be there.
    pub fn field<T: DeserializeOwned>(&mut self, name: &'static str) -> Result<T, Error> {
        match self.object.remove(name) {
            Some(value) => serde_json::from_value(value),
            None => Err(Error::missing_field(name)),
        }
    }

    /// One field of an inline variant that may be left out (or null): `None` then, as serde's
    /// derive reads an `Option` field.
    pub fn optional<T: DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, Error> {
        match self.object.remove(name) {
            Some(value) => serde_json::from_value(value),
            None => Ok(None),
        }
    }

    /// The error for a tag that names no variant.
    pub fn unknown<T>(&self, variants: &'static [&'static str]) -> Result<T, Error> {
        Err(Error::unknown_variant(&self.tag, variants))
    }
}

/// `T` read from an internally tagged object by `read`, as a serde `Deserialize` impl calls it:
/// the object parsed by `deserializer` into a [`Value`], the tag taken from `field`.
pub fn deserialize<'de, D, T>(
    deserializer: D,
    field: &'static str,
    read: fn(Tagged) -> Result<T, Error>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = <Value as serde::Deserialize>::deserialize(deserializer)?;
    Tagged::read(value, field)
        .and_then(read)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tag_is_read_and_taken_out_of_the_fields() {
        let mut t = Tagged::read(json!({"kind": "visit", "grant_id": "gr_1"}), "kind").unwrap();
        assert_eq!(t.tag, "visit");
        assert_eq!(t.field::<String>("grant_id").unwrap(), "gr_1");
        assert_eq!(t.optional::<String>("after").unwrap(), None);
        let rest: Map<String, Value> = t.fields().unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }

    #[test]
    fn a_missing_or_wrong_tag_or_field_is_an_error_that_names_it() {
        let no_tag = Tagged::read(json!({"grant_id": "gr_1"}), "kind")
            .err()
            .unwrap();
        assert!(
            no_tag.to_string().contains("missing field `kind`"),
            "{no_tag}"
        );
        let not_text = Tagged::read(json!({"kind": 3}), "kind").err().unwrap();
        assert!(
            not_text.to_string().contains("`kind` is not a string"),
            "{not_text}"
        );
        let not_object = Tagged::read(json!(["visit"]), "kind").err().unwrap();
        assert!(not_object.to_string().contains("object"), "{not_object}");
        let mut t = Tagged::read(json!({"kind": "visit"}), "kind").unwrap();
        let missing = t.field::<String>("grant_id").unwrap_err();
        assert!(
            missing.to_string().contains("missing field `grant_id`"),
            "{missing}"
        );
        let unknown = t.unknown::<()>(&["visit", "sweep_more"]).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown variant `visit`"),
            "{unknown}"
        );
    }

    #[test]
    fn a_null_optional_field_is_none_and_a_wrong_one_an_error() {
        let mut t = Tagged::read(json!({"kind": "x", "after": null, "n": "7"}), "kind").unwrap();
        assert_eq!(t.optional::<u32>("after").unwrap(), None);
        assert!(t.optional::<u32>("n").is_err());
    }
}
