//! The `ref` a client puts on a request so it can match the reply.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A request reference: a string or an integer, echoed back unchanged.
///
/// Clients correlate replies by comparing refs with `===`, so `7` and `"7"` must stay distinct
/// and come back exactly as sent; this type keeps the two apart instead of normalising them.
/// Integers are limited to the `i64` range (JavaScript clients stay well inside it); a float,
/// `true` or an object is rejected so a client bug shows up as a `bad_request`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref {
    Int(i64),
    Str(String),
}

impl From<i64> for Ref {
    fn from(v: i64) -> Self {
        Ref::Int(v)
    }
}

impl From<&str> for Ref {
    fn from(v: &str) -> Self {
        Ref::Str(v.to_string())
    }
}

impl From<String> for Ref {
    fn from(v: String) -> Self {
        Ref::Str(v)
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::Int(i) => write!(f, "{i}"),
            Ref::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for Ref {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ref::Int(i) => s.serialize_i64(*i),
            Ref::Str(v) => s.serialize_str(v),
        }
    }
}

impl<'de> Deserialize<'de> for Ref {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RefVisitor;

        impl Visitor<'_> for RefVisitor {
            type Value = Ref;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`ref` as a string or an integer")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ref, E> {
                Ok(Ref::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ref, E> {
                i64::try_from(v)
                    .map(Ref::Int)
                    .map_err(|_| E::custom("`ref` integer is out of range"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ref, E> {
                Ok(Ref::Str(v.to_string()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Ref, E> {
                Ok(Ref::Str(v))
            }
        }

        d.deserialize_any(RefVisitor)
    }
}
