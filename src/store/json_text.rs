//! JSON kept as the text it was encoded to. An event's payload is encoded once, when its op is
//! applied, and those bytes go to the database as they are: building it as a `serde_json::Value`
//! tree first, serializing that tree into the statement and freeing it was a quarter of the
//! server's CPU at saturation (BENCHMARKS.md, issue 12, "One encoding").

use serde::{de::DeserializeOwned, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// Valid JSON text (guaranteed by construction: it is only made by encoding or by parsing).
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    pub fn encode<T: Serialize + ?Sized>(v: &T) -> serde_json::Result<Self> {
        serde_json::value::to_raw_value(v).map(Self)
    }

    pub fn null() -> Self {
        Self::from(Value::Null)
    }

    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The text parsed as a tree, for readers that look inside (history, audit).
    pub fn value(&self) -> Value {
        self.parse().unwrap_or(Value::Null)
    }

    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.get())
    }
}

impl From<Value> for JsonText {
    fn from(v: Value) -> Self {
        // Encoding a `Value` cannot fail (its map keys are strings).
        Self::encode(&v).unwrap_or_else(|_| Self(RawValue::NULL.to_owned()))
    }
}

impl From<RawValueBox> for JsonText {
    fn from(v: RawValueBox) -> Self {
        Self(v)
    }
}

type RawValueBox = Box<RawValue>;

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.get())
    }
}

/// Equal when the JSON is: the database may give back other spacing or key order (`jsonb`).
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.value() == other.value()
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(Self)
    }
}

/// Stored as `jsonb` (Postgres) or text (SQLite), read back through sqlx's `Json`.
impl<DB: sqlx::Database> sqlx::Type<DB> for JsonText
where
    sqlx::types::Json<JsonText>: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <sqlx::types::Json<JsonText> as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <sqlx::types::Json<JsonText> as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for JsonText
where
    sqlx::types::Json<JsonText>: sqlx::Decode<'r, DB>,
{
    fn decode(v: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <sqlx::types::Json<JsonText> as sqlx::Decode<'r, DB>>::decode(v).map(|j| j.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_once_and_reads_back_as_the_same_json() {
        let v = json!({"card": {"id": "x", "title": "a \"quoted\" title"}, "n": [1, 2]});
        let t = JsonText::encode(&v).unwrap();
        assert_eq!(t.value(), v);
        // Serialized inside another document, the text is embedded as JSON, not as a string.
        assert_eq!(json!({ "data": t }), json!({ "data": v }));
    }

    #[test]
    fn equality_is_of_the_json_not_of_its_spelling() {
        let a: JsonText = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
        let b: JsonText = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, JsonText::from(json!({"a": 1})));
    }
}
