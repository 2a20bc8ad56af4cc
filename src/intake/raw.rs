//! Reading [`Raw`] values with serde (JSON lines, and the HTTP API's bodies),
//! borrowing strings from the input and refusing deep nesting.

use super::{Entry, Raw};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// How deep lists and tables may nest in input; deeper is an error, not a
/// stack overflow.
pub const MAX_DEPTH: usize = 64;

pub(super) fn too_deep() -> String {
    format!("values are nested more than {MAX_DEPTH} deep")
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw<'de>, D::Error> {
        RawSeed { depth: 0 }.deserialize(d)
    }
}

/// A value `depth` containers deep.
#[derive(Clone, Copy)]
struct RawSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for RawSeed {
    type Value = Raw<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Raw<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RawSeed {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }

    fn visit_unit<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw<'de>, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw<'de>, D::Error> {
        self.deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Raw<'de>, E> {
        Ok(Raw::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Raw<'de>, E> {
        Ok(Raw::Int(i))
    }
    /// Beyond i64: kept as a float, which the schema's `int` refuses by name.
    fn visit_u64<E>(self, u: u64) -> Result<Raw<'de>, E> {
        Ok(i64::try_from(u).map_or(Raw::Float(u as f64), Raw::Int))
    }
    fn visit_i128<E>(self, i: i128) -> Result<Raw<'de>, E> {
        Ok(i64::try_from(i).map_or(Raw::Float(i as f64), Raw::Int))
    }
    fn visit_u128<E>(self, u: u128) -> Result<Raw<'de>, E> {
        Ok(i64::try_from(u).map_or(Raw::Float(u as f64), Raw::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Raw<'de>, E> {
        Ok(Raw::Float(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(s.to_string())))
    }
    fn visit_string<E>(self, s: String) -> Result<Raw<'de>, E> {
        Ok(Raw::Str(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(too_deep()));
        }
        let inner = RawSeed {
            depth: self.depth + 1,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(inner)? {
            items.push(v);
        }
        Ok(Raw::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        if self.depth >= MAX_DEPTH {
            return Err(de::Error::custom(too_deep()));
        }
        let inner = RawSeed {
            depth: self.depth + 1,
        };
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value_seed(inner)?;
            entries.push(Entry {
                key,
                value,
                span: None,
            });
        }
        Ok(Raw::Table(entries))
    }
}

/// A map key, borrowed when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_borrow_from_the_line_unless_escaped() {
        let line = r#"{"a": "plain", "b\u0041": "esc\n", "n": [1, -2, 18446744073709551615, 1.5, null, true]}"#;
        let Raw::Table(entries) = serde_json::from_str::<Raw>(line).unwrap() else {
            panic!()
        };
        assert!(matches!(entries[0].key, Cow::Borrowed("a")));
        assert!(matches!(entries[0].value, Raw::Str(Cow::Borrowed("plain"))));
        assert_eq!(entries[1].key, "bA");
        assert!(matches!(entries[1].value, Raw::Str(Cow::Owned(_))));
        assert_eq!(
            entries[2].value,
            Raw::List(vec![
                Raw::Int(1),
                Raw::Int(-2),
                Raw::Float(u64::MAX as f64),
                Raw::Float(1.5),
                Raw::Null,
                Raw::Bool(true)
            ])
        );
    }

    #[test]
    fn nesting_deeper_than_the_cap_is_an_error() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(serde_json::from_str::<Raw>(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        let e = serde_json::from_str::<Raw>(&deep).unwrap_err();
        assert!(e.to_string().contains("nested more than 64 deep"), "{e}");
        // Far beyond serde_json's own limit: still an error, not a crash.
        let very = "[".repeat(100_000);
        assert!(serde_json::from_str::<Raw>(&very).is_err());
    }
}
