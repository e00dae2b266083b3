//! Field helpers that make the wire rules of PROTOCOL.md explicit.

use serde::{Deserialize, Deserializer};

/// For `Option<Option<T>>` fields: absent -> `None`, `null` -> `Some(None)`, value ->
/// `Some(Some(v))`. Pair with `#[serde(default, skip_serializing_if = "Option::is_none")]`.
///
/// `card.update` needs this because "leave the due date alone" and "clear the due date" are
/// different requests that a plain `Option` would merge.
pub fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For fields that must be present but may be `null` (the `after` of a move): using a
/// `deserialize_with` stops serde from treating a missing `Option` as `None`, so forgetting
/// the field is a `bad_request` instead of silently meaning "top".
pub fn required_nullable<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d)
}
