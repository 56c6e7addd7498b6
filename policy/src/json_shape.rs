//! JSON objects only where the API says "object".
//!
//! serde's derived decoders also accept a JSON array as a struct, reading its
//! elements as the fields in declaration order. The decision APIs promise a
//! 400 for any body that is not a request object, so every struct-typed
//! position goes through [`object`] (or its `Option`/`Vec` forms), which asks
//! the decoder for a map and nothing else.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Decodes `T` from a JSON object; an array (or anything else) is an error.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ObjectVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }
    deserializer.deserialize_map(ObjectVisitor(PhantomData))
}

/// A `T` that was a JSON object.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        object(deserializer).map(Object)
    }
}

/// [`object`] for an optional field (`null` or absent is `None`).
pub(crate) fn optional_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Object<T>>::deserialize(deserializer)?.map(|o| o.0))
}

/// [`object`] for every item of an array.
pub(crate) fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Vec::<Object<T>>::deserialize(deserializer)?
        .into_iter()
        .map(|o| o.0)
        .collect())
}

/// [`objects`] for an optional field.
pub(crate) fn optional_objects<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<Object<T>>>::deserialize(deserializer)?
        .map(|v| v.into_iter().map(|o| o.0).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Pair {
        a: u8,
        #[serde(default, deserialize_with = "optional_object")]
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        b: u8,
    }

    fn decode(text: &str) -> Result<Pair, serde_json::Error> {
        let mut d = serde_json::Deserializer::from_str(text);
        let v = object(&mut d)?;
        d.end()?;
        Ok(v)
    }

    #[test]
    fn objects_decode_and_arrays_do_not() {
        assert_eq!(
            decode(r#"{"a":1,"inner":{"b":2}}"#).unwrap(),
            Pair {
                a: 1,
                inner: Some(Inner { b: 2 })
            }
        );
        assert_eq!(decode(r#"{"a":1,"inner":null}"#).unwrap().inner, None);
        assert!(
            serde_json::from_str::<Pair>("[1]").is_ok(),
            "serde's default"
        );
        let e = decode("[1]").unwrap_err().to_string();
        assert!(e.contains("expected a JSON object"), "{e}");
        let e = decode(r#"{"a":1,"inner":[2]}"#).unwrap_err().to_string();
        assert!(e.contains("expected a JSON object"), "{e}");
        assert!(decode(r#"{"a":1} x"#).is_err());
    }
}
