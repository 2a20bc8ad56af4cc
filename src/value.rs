//! Runtime values: customer attributes, event payloads and what expressions
//! compute. Records are compact: a sorted slice of (interned name, value)
//! pairs behind one shared pointer, not a map with a heap string per key, so
//! a million customers and their events fit in memory and clone cheaply.
//! Stored forms name every field (see the `Serialize` impls).

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, OnceLock, RwLock};

/// An interned name: an attribute, a payload field, an event name, and the
/// program's own names (playbooks, versions, steps, channels, templates).
/// Equal names are the same pointer, so comparing two is one pointer
/// compare, and copying one touches no shared counter (threads running
/// customers side by side would contend on one). Names come from the schema
/// and the program (input is checked against the schema before its names
/// are interned), so the table stays small.
#[derive(Clone, Copy)]
pub struct Sym(&'static str);

fn interned() -> &'static RwLock<HashSet<&'static str>> {
    static TABLE: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Sym {
    pub fn new(name: &str) -> Sym {
        let table = interned();
        if let Some(s) = table.read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Sym(s);
        }
        let mut w = table.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = w.get(name) {
            return Sym(s);
        }
        let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
        w.insert(leaked);
        Sym(leaked)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Names the engine itself reads, interned once.
pub mod names {
    use super::Sym;
    use std::sync::OnceLock;

    macro_rules! names {
        ($($f:ident => $s:literal),*) => {$(
            pub fn $f() -> Sym {
                static S: OnceLock<Sym> = OnceLock::new();
                *S.get_or_init(|| Sym::new($s))
            }
        )*};
    }

    names!(
        timezone => "timezone",
        tags => "tags",
        owner => "owner",
        id => "id",
        expires_at => "expires_at",
        granted_at => "granted_at",
        worth => "worth",
        coupons => "coupons",
        tasks => "tasks",
        empty => ""
    );
}

/// Whether two names are equal: the same text in memory (shared names) or equal text.
pub fn same(a: &str, b: &str) -> bool {
    (std::ptr::eq(a.as_ptr(), b.as_ptr()) && a.len() == b.len()) || a == b
}

impl PartialEq for Sym {
    fn eq(&self, other: &Sym) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Sym {}

impl std::hash::Hash for Sym {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (self.0.as_ptr() as usize).hash(h)
    }
}

impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By the name, so every listing is in the same order on every run.
impl Ord for Sym {
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        if self == other {
            std::cmp::Ordering::Equal
        } else {
            self.0.cmp(other.0)
        }
    }
}

impl std::ops::Deref for Sym {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Sym {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl std::fmt::Display for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Debug for Sym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&str> for Sym {
    fn from(s: &str) -> Sym {
        Sym::new(s)
    }
}

impl Default for Sym {
    /// The empty name.
    fn default() -> Sym {
        names::empty()
    }
}

impl From<String> for Sym {
    fn from(s: String) -> Sym {
        Sym::new(&s)
    }
}

impl Serialize for Sym {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Sym {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sym, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Sym::new(&s))
    }
}

/// A record's fields, sorted by name. Copy-on-write: a clone shares the
/// fields until one side changes them.
#[derive(Clone, Default)]
pub struct Fields(Option<Arc<[(Sym, Value)]>>);

impl Fields {
    pub fn new() -> Fields {
        Fields(None)
    }

    fn slice(&self) -> &[(Sym, Value)] {
        self.0.as_deref().unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.slice().is_empty()
    }

    /// The value of a field; null when it is absent.
    pub fn get(&self, key: Sym) -> &Value {
        self.slice()
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&Value::Null, |(_, v)| v)
    }

    /// [`Fields::get`] by a name that may not be interned.
    pub fn get_str(&self, key: &str) -> &Value {
        self.slice()
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map_or(&Value::Null, |(_, v)| v)
    }

    pub fn contains(&self, key: Sym) -> bool {
        self.slice().iter().any(|(k, _)| *k == key)
    }

    /// Follows a dotted path from these fields; a missing step is null.
    pub fn path(&self, segs: &[Sym]) -> &Value {
        match segs.split_first() {
            None => &Value::Null,
            Some((first, rest)) => self.get(*first).path(rest),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (Sym, &Value)> {
        self.slice().iter().map(|(k, v)| (*k, v))
    }

    /// The value of a field already there, to change in place when these
    /// fields are not shared.
    fn get_mut(&mut self, key: Sym) -> Option<&mut Value> {
        let slice = Arc::get_mut(self.0.as_mut()?)?;
        slice.iter_mut().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Sets one field (a copy when the fields are shared).
    pub fn set(&mut self, key: Sym, value: Value) {
        if let Some(slot) = self.get_mut(key) {
            *slot = value;
            return;
        }
        let mut v: Vec<(Sym, Value)> = self.slice().to_vec();
        match v.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => v[i].1 = value,
            Err(i) => v.insert(i, (key, value)),
        }
        self.0 = Some(v.into());
    }

    /// Sets the value at a dotted path, making records on the way (and
    /// replacing a non-record in the way).
    pub fn set_path(&mut self, segs: &[Sym], value: Value) {
        let Some((first, rest)) = segs.split_first() else {
            return;
        };
        if rest.is_empty() {
            self.set(*first, value);
            return;
        }
        let mut inner = match self.get(*first) {
            Value::Record(f) => f.clone(),
            _ => Fields::new(),
        };
        inner.set_path(rest, value);
        self.set(*first, Value::Record(inner));
    }

    /// Replaces the fields `patch` gives, keeping the others.
    pub fn patch(&mut self, patch: &Fields) {
        if patch.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = patch.clone();
            return;
        }
        if patch.iter().all(|(k, _)| self.contains(k))
            && self.0.as_mut().is_some_and(|a| Arc::get_mut(a).is_some())
        {
            for (k, v) in patch.iter() {
                if let Some(slot) = self.get_mut(k) {
                    *slot = v.clone();
                }
            }
            return;
        }
        let mut v: Vec<(Sym, Value)> = self.slice().to_vec();
        for (k, val) in patch.iter() {
            match v.binary_search_by(|(x, _)| x.cmp(&k)) {
                Ok(i) => v[i].1 = val.clone(),
                Err(i) => v.insert(i, (k, val.clone())),
            }
        }
        self.0 = Some(v.into());
    }
}

impl Fields {
    /// Fields already sorted by name, each name once (a reader that fills a
    /// schema's fields in its order has them so).
    pub fn from_sorted(fields: Vec<(Sym, Value)>) -> Fields {
        debug_assert!(fields.windows(2).all(|w| w[0].0 < w[1].0));
        if fields.is_empty() {
            Fields::new()
        } else {
            Fields(Some(fields.into()))
        }
    }
}

impl FromIterator<(Sym, Value)> for Fields {
    /// Sorted by name; a name given twice keeps its last value.
    fn from_iter<I: IntoIterator<Item = (Sym, Value)>>(iter: I) -> Fields {
        let mut v: Vec<(Sym, Value)> = iter.into_iter().collect();
        if v.is_empty() {
            return Fields::new();
        }
        v.sort_by_key(|a| a.0);
        // Keep the last of equal names: reverse, dedup keeps the first.
        v.reverse();
        v.dedup_by(|a, b| a.0 == b.0);
        v.reverse();
        Fields(Some(v.into()))
    }
}

impl<'a> FromIterator<(&'a str, Value)> for Fields {
    fn from_iter<I: IntoIterator<Item = (&'a str, Value)>>(iter: I) -> Fields {
        iter.into_iter().map(|(k, v)| (Sym::new(k), v)).collect()
    }
}

impl PartialEq for Fields {
    fn eq(&self, other: &Fields) -> bool {
        self.slice() == other.slice()
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// Calendar days and elapsed seconds, as written.
    Duration {
        days: i64,
        seconds: i64,
    },
    /// Minutes after midnight.
    Clock(u32),
    List(Arc<[Value]>),
    Record(Fields),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// Writes a string, a number or a date as a template prints it and returns
    /// true; anything else (null, a list, a record, a fraction) writes nothing
    /// and returns false, for the template engine to decide.
    pub fn write_plain(&self, tz: chrono_tz::Tz, out: &mut String) -> bool {
        use std::fmt::Write;
        // Written out by hand: strftime parsing showed in the simulator's profile.
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let _ = write!(out, "{}", *f as i64);
            }
            Value::Date(d) => {
                let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            }
            Value::DateTime(t) => {
                let l = t.with_timezone(&tz);
                let _ = write!(
                    out,
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    l.year(),
                    l.month(),
                    l.day(),
                    l.hour(),
                    l.minute()
                );
            }
            _ => return false,
        }
        true
    }

    pub fn get(&self, key: Sym) -> &Value {
        match self {
            Value::Record(m) => m.get(key),
            _ => &Value::Null,
        }
    }

    /// Follows a dotted path; a missing step is null.
    pub fn path<'a>(&'a self, segs: &[Sym]) -> &'a Value {
        segs.iter().fold(self, |v, s| v.get(*s))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// A condition's truth: null (and anything not `true`) is false.
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The value as a template sees it (dates as `YYYY-MM-DD`, whole floats without `.0`).
    pub fn to_template(&self, tz: chrono_tz::Tz) -> minijinja::Value {
        match self {
            Value::Null => minijinja::Value::from(()),
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => (*f as i64).into(),
            Value::Float(f) => (*f).into(),
            Value::Str(s) => minijinja::Value::from(s.clone()),
            Value::Date(_) | Value::DateTime(_) => {
                let mut s = String::with_capacity(16);
                self.write_plain(tz, &mut s);
                s.into()
            }
            Value::Duration { days, seconds } => format!("{days}d{seconds}s").into(),
            Value::Clock(m) => format!("{:02}:{:02}", m / 60, m % 60).into(),
            Value::List(items) => items
                .iter()
                .map(|v| v.to_template(tz))
                .collect::<Vec<_>>()
                .into(),
            Value::Record(m) => m
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_template(tz)))
                .collect::<BTreeMap<_, _>>()
                .into(),
        }
    }
}

// The stored form. Strings, numbers, booleans, lists and records are written
// as themselves (a record as a map by field name); the values JSON has no type
// for are one-entry maps whose key starts with `$`, which no field name can:
// `{"$date": "2026-12-01"}`, `{"$time": 1764554400}` (Unix seconds),
// `{"$dur": [3, 0]}` (days, seconds), `{"$clock": 600}` (minutes).

const DATE: &str = "$date";
const TIME: &str = "$time";
const DUR: &str = "$dur";
const CLOCK: &str = "$clock";

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(t) => s.serialize_str(t),
            Value::Date(d) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(DATE, &d.format("%Y-%m-%d").to_string())?;
                m.end()
            }
            Value::DateTime(t) => {
                let mut m = s.serialize_map(Some(1))?;
                if t.timestamp_subsec_nanos() == 0 {
                    m.serialize_entry(TIME, &t.timestamp())?;
                } else {
                    m.serialize_entry(TIME, &(t.timestamp_millis() as f64 / 1000.0))?;
                }
                m.end()
            }
            Value::Duration { days, seconds } => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(DUR, &[*days, *seconds])?;
                m.end()
            }
            Value::Clock(c) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(CLOCK, c)?;
                m.end()
            }
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items.iter() {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Record(f) => f.serialize(s),
        }
    }
}

impl Serialize for Fields {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k.as_str(), v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        match Value::deserialize(d)? {
            Value::Record(f) => Ok(f),
            Value::Null => Ok(Fields::new()),
            _ => Err(de::Error::custom("expected a map of fields")),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a stored value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom("a whole number beyond 64 bits"))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Value::List(items.into()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields: Vec<(Sym, Value)> = Vec::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if let Some(tag) = key.strip_prefix('$') {
                let bad = |what: &str| de::Error::custom(format!("`${tag}` needs {what}"));
                let v = match tag {
                    "date" => {
                        let s = map.next_value::<std::borrow::Cow<'de, str>>()?;
                        Value::Date(
                            NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                                .map_err(|_| bad("a date YYYY-MM-DD"))?,
                        )
                    }
                    "time" => {
                        let secs = map.next_value::<f64>()?;
                        let millis = (secs * 1000.0).round() as i64;
                        Value::DateTime(
                            DateTime::from_timestamp_millis(millis)
                                .ok_or_else(|| bad("Unix seconds in range"))?,
                        )
                    }
                    "dur" => {
                        let [days, seconds] = map.next_value::<[i64; 2]>()?;
                        Value::Duration { days, seconds }
                    }
                    "clock" => Value::Clock(map.next_value::<u32>()?),
                    _ => return Err(de::Error::custom(format!("unknown stored type `${tag}`"))),
                };
                // A tagged value is the map's only entry.
                while map.next_key::<de::IgnoredAny>()?.is_some() {
                    map.next_value::<de::IgnoredAny>()?;
                }
                return Ok(v);
            }
            let v = map.next_value::<Value>()?;
            fields.push((Sym::new(&key), v));
        }
        Ok(Value::Record(fields.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_interned() {
        let a = Sym::new("name");
        let b = Sym::new(&String::from("name"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()));
        assert!(Sym::new("a") < Sym::new("b"));
    }

    #[test]
    fn fields_stay_sorted_and_patches_replace() {
        let mut f: Fields = [
            ("b", Value::Int(2)),
            ("a", Value::Int(1)),
            ("b", Value::Int(3)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            f.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(f.get(Sym::new("b")), &Value::Int(3));
        let shared = f.clone();
        f.set(Sym::new("c"), Value::Bool(true));
        assert_eq!(shared.len(), 2);
        assert_eq!(f.len(), 3);
        f.set_path(&[Sym::new("pet"), Sym::new("name")], Value::str("咪咪"));
        assert_eq!(
            f.path(&[Sym::new("pet"), Sym::new("name")]),
            &Value::str("咪咪")
        );
        let patch: Fields = [("a", Value::Int(9))].into_iter().collect();
        f.patch(&patch);
        assert_eq!(f.get(Sym::new("a")), &Value::Int(9));
        assert_eq!(f.get(Sym::new("missing")), &Value::Null);
    }

    #[test]
    fn the_stored_form_names_fields_and_reads_back() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let v = Value::Record(
            [
                ("name", Value::str("王姐")),
                ("orders", Value::Int(2)),
                ("amount", Value::Float(89.0)),
                ("paid_at", Value::DateTime(t)),
                (
                    "birthday",
                    Value::Date(NaiveDate::from_ymd_opt(1990, 2, 28).unwrap()),
                ),
                ("tags", Value::List(vec![Value::str("vip")].into())),
                (
                    "wait",
                    Value::Duration {
                        days: 3,
                        seconds: 60,
                    },
                ),
                ("at", Value::Clock(600)),
                ("none", Value::Null),
            ]
            .into_iter()
            .collect(),
        );
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"amount":89.0,"at":{"$clock":600},"birthday":{"$date":"1990-02-28"},"name":"王姐","none":null,"orders":2,"paid_at":{"$time":1796090400},"tags":["vip"],"wait":{"$dur":[3,60]}}"#
        );
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }
}
