//! The fast path for JSON lines: a well-formed line read straight into
//! values by the schema, with no intermediate tree. Anything it does not take
//! plainly (any mistake, an offset-less time, `data` before `name`, an
//! escaped key) gives `None`, and the line is read again the general way
//! (`convert.rs`), which says exactly what is wrong. So both ways accept the
//! same lines and give the same values; this one is only quicker.

use super::convert::{parse_date, parse_offset_datetime, Kind, Parsed, Rec, Ty};
use super::{Customer, Envelope, Event, Schema, MAX_DEPTH};
use crate::value::{Fields, Sym, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A customer line: `id` and attributes.
pub(super) fn customer(line: &str, schema: &Schema) -> Option<Customer> {
    let mut de = serde_json::Deserializer::from_str(line);
    let c = CustomerSeed(&schema.plan.customer)
        .deserialize(&mut de)
        .ok()?;
    de.end().ok()?;
    Some(c)
}

/// An event line in the envelope.
pub(super) fn event(line: &str, schema: &Schema) -> Option<Envelope> {
    let mut de = serde_json::Deserializer::from_str(line);
    let e = EventSeed(schema).deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(e)
}

/// Any refusal: the general way will say what it is.
fn no<E: de::Error, T>() -> Result<T, E> {
    Err(E::custom(""))
}

/// A key, borrowed from the line (an escaped key goes the general way).
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = &'de str;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<&'de str, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = &'de str;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<&'de str, E> {
        Ok(s)
    }
}

/// A text value, borrowed where the line allows.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = std::borrow::Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = std::borrow::Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("text")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.to_string().into())
    }
}

/// An id: a non-empty string or a whole number.
struct Id;

impl<'de> DeserializeSeed<'de> for Id {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Id {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        // The slow path says what is wrong.
        if s.is_empty() || !super::convert::id_fits(s) {
            return no();
        }
        Ok(s.to_string())
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<String, E> {
        Ok(i.to_string())
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<String, E> {
        if i64::try_from(u).is_err() {
            return no();
        }
        Ok(u.to_string())
    }
}

/// A record by its schema; `complete` demands every required field (a field
/// that is a record may be absent as a whole).
#[derive(Clone, Copy)]
struct RecSeed<'s> {
    rec: &'s Rec,
    complete: bool,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for RecSeed<'_> {
    type Value = Fields;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fields, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecSeed<'_> {
    type Value = Fields;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut out: Vec<(usize, Value)> = Vec::with_capacity(self.rec.fields.len());
        while let Some(key) = map.next_key_seed(Key)? {
            let Some((i, f)) = self.rec.find(key) else {
                return no();
            };
            let seed = ValueSeed {
                ty: &f.ty,
                optional: f.optional,
                depth: self.depth + 1,
            };
            if let Some(v) = map.next_value_seed(seed)? {
                out.push((i, v));
            }
        }
        finish(self.rec, out, self.complete).ok_or_else(|| de::Error::custom(""))
    }
}

/// The fields in schema order, or `None` for a field given twice or a required one missing.
fn finish(rec: &Rec, mut out: Vec<(usize, Value)>, complete: bool) -> Option<Fields> {
    out.sort_unstable_by_key(|(i, _)| *i);
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    if complete {
        let mut given = out.iter().map(|(i, _)| *i).peekable();
        for (i, f) in rec.fields.iter().enumerate() {
            if given.next_if_eq(&i).is_none()
                && !f.optional
                && !matches!(f.ty.kind, Kind::Record(_))
            {
                return None;
            }
        }
    }
    Some(Fields::from_sorted(
        out.into_iter()
            .map(|(i, v)| (rec.fields[i].name, v))
            .collect(),
    ))
}

/// One value by its type; `None` for a null where the field is optional.
#[derive(Clone, Copy)]
struct ValueSeed<'s> {
    ty: &'s Ty,
    optional: bool,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        if self.depth > MAX_DEPTH {
            return no();
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Option<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        if self.optional {
            Ok(None)
        } else {
            no()
        }
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Option<Value>, E> {
        match self.ty.kind {
            Kind::Bool => Ok(Some(Value::Bool(b))),
            _ => no(),
        }
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Option<Value>, E> {
        match self.ty.kind {
            Kind::Int => Ok(Some(Value::Int(i))),
            Kind::Float => Ok(Some(Value::Float(i as f64))),
            _ => no(),
        }
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Option<Value>, E> {
        match i64::try_from(u) {
            Ok(i) => self.visit_i64(i),
            Err(_) => no(),
        }
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Option<Value>, E> {
        match self.ty.kind {
            Kind::Float => Ok(Some(Value::Float(f))),
            _ => no(),
        }
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<Value>, E> {
        match self.ty.kind {
            Kind::String => Ok(Some(Value::str(s))),
            Kind::Date => match parse_date(s) {
                Parsed::Ok(d) => Ok(Some(Value::Date(d))),
                _ => no(),
            },
            // An offset-less time is read in the customer's zone: the general way.
            Kind::DateTime => match parse_offset_datetime(s) {
                Parsed::Ok(t) => Ok(Some(Value::DateTime(t))),
                _ => no(),
            },
            _ => no(),
        }
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let Kind::List(inner) = &self.ty.kind else {
            return no();
        };
        let item = ValueSeed {
            ty: inner,
            optional: false,
            depth: self.depth + 1,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(item)? {
            items.push(v.ok_or_else(|| de::Error::custom(""))?);
        }
        Ok(Some(Value::List(items.into())))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
        let Kind::Record(rec) = &self.ty.kind else {
            return no();
        };
        let seed = RecSeed {
            rec,
            complete: true,
            depth: self.depth + 1,
        };
        seed.visit_map(map).map(|f| Some(Value::Record(f)))
    }
}

struct CustomerSeed<'s>(&'s Rec);

impl<'de> DeserializeSeed<'de> for CustomerSeed<'_> {
    type Value = Customer;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Customer, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CustomerSeed<'_> {
    type Value = Customer;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a customer")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Customer, A::Error> {
        let mut id = None;
        let mut out: Vec<(usize, Value)> = Vec::with_capacity(self.0.fields.len());
        while let Some(key) = map.next_key_seed(Key)? {
            if key == "id" {
                if id.replace(map.next_value_seed(Id)?).is_some() {
                    return no();
                }
                continue;
            }
            let Some((i, f)) = self.0.find(key) else {
                return no();
            };
            let seed = ValueSeed {
                ty: &f.ty,
                optional: f.optional,
                depth: 1,
            };
            if let Some(v) = map.next_value_seed(seed)? {
                out.push((i, v));
            }
        }
        let (Some(id), Some(attrs)) = (id, finish(self.0, out, true)) else {
            return no();
        };
        Ok(Customer { id, attrs })
    }
}

struct EventSeed<'s>(&'s Schema);

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Envelope;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Envelope, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Envelope;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope, A::Error> {
        let plan = &self.0.plan;
        let (mut id, mut name, mut customer, mut at): (
            Option<Option<String>>,
            Option<&(Sym, Rec)>,
            _,
            _,
        ) = (None, None, None, None);
        let (mut data, mut attributes): (Option<Fields>, Option<Fields>) = (None, None);
        while let Some(key) = map.next_key_seed(Key)? {
            let again = match key {
                "id" => id.replace(map.next_value_seed(OptionalId)?).is_some(),
                "name" => {
                    let text = map.next_value_seed(Text)?;
                    let Some(p) = plan.events.get(&*text) else {
                        return no();
                    };
                    name.replace(p).is_some()
                }
                "customer" => customer.replace(map.next_value_seed(Id)?).is_some(),
                "at" => {
                    let text = map.next_value_seed(Text)?;
                    let Parsed::Ok(t) = parse_offset_datetime(&text) else {
                        return no();
                    };
                    at.replace(super::whole_seconds(t)).is_some()
                }
                "data" => {
                    // The payload is read by the event's schema: its name must come first.
                    let Some((_, payload)) = name else {
                        return no();
                    };
                    let seed = RecSeed {
                        rec: payload,
                        complete: true,
                        depth: 1,
                    };
                    data.replace(map.next_value_seed(seed)?).is_some()
                }
                "attributes" => {
                    let seed = RecSeed {
                        rec: &plan.customer,
                        complete: false,
                        depth: 1,
                    };
                    attributes.replace(map.next_value_seed(seed)?).is_some()
                }
                _ => return no(),
            };
            if again {
                return no();
            }
        }
        let (Some((sym, _)), Some(customer), Some(at), Some(data)) = (name, customer, at, data)
        else {
            return no();
        };
        Ok(Envelope {
            id: id.flatten(),
            customer,
            at,
            event: Event {
                name: *sym,
                data,
                attributes: attributes.unwrap_or_default(),
            },
        })
    }
}

/// An event's `id`: an id, or null for none.
struct OptionalId;

impl<'de> DeserializeSeed<'de> for OptionalId {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for OptionalId {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an id")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
        Id.visit_str(s).map(Some)
    }
    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Option<String>, E> {
        Id.visit_i64(i).map(Some)
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Option<String>, E> {
        Id.visit_u64(u).map(Some)
    }
}
