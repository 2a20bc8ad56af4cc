//! Value types: the schema's types and the extra ones expressions can have.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    String,
    Int,
    Float,
    Bool,
    Date,
    DateTime,
    Duration,
    Clock,
    List(Box<Type>),
    Record(Record),
    /// An empty list literal: a list of anything.
    EmptyList,
}

/// An attribute or payload field: its type and whether it may be absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub ty: Type,
    pub optional: bool,
}

pub type Record = BTreeMap<String, Field>;

impl Type {
    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    /// Whether a value of `other` can stand where `self` is expected.
    pub fn accepts(&self, other: &Type) -> bool {
        match (self, other) {
            (a, b) if a == b => true,
            (a, b) if a.is_numeric() && b.is_numeric() => true,
            (Type::List(_), Type::EmptyList) | (Type::EmptyList, Type::List(_)) => true,
            (Type::List(a), Type::List(b)) => a.accepts(b),
            _ => false,
        }
    }

    /// Parses a schema type string such as `list<string>` or `date?`.
    pub fn parse_schema(s: &str) -> Option<(Type, bool)> {
        let s = s.trim();
        let (s, optional) = match s.strip_suffix('?') {
            Some(inner) => (inner.trim_end(), true),
            None => (s, false),
        };
        let ty = match s {
            "string" => Type::String,
            "int" => Type::Int,
            "float" => Type::Float,
            "bool" => Type::Bool,
            "date" => Type::Date,
            "datetime" => Type::DateTime,
            _ => {
                let inner = s.strip_prefix("list<")?.strip_suffix('>')?;
                let (t, opt) = Type::parse_schema(inner)?;
                if opt {
                    return None;
                }
                Type::List(Box::new(t))
            }
        };
        Some((ty, optional))
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => write!(f, "string"),
            Type::Int => write!(f, "int"),
            Type::Float => write!(f, "float"),
            Type::Bool => write!(f, "bool"),
            Type::Date => write!(f, "date"),
            Type::DateTime => write!(f, "datetime"),
            Type::Duration => write!(f, "duration"),
            Type::Clock => write!(f, "clock time"),
            Type::List(t) => write!(f, "list<{t}>"),
            Type::Record(_) => write!(f, "table"),
            Type::EmptyList => write!(f, "empty list"),
        }
    }
}
