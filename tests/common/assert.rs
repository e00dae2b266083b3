//! Assertions on API answers: error shapes, ids, timestamps, same-state comparisons.

use serde_json::{json, Value};
use uuid::Uuid;

/// Asserts an error answer `{"error":{"code","message","field"?}}` with this status and code;
/// returns the `error` object.
#[track_caller]
pub fn expect_error(got: &(u16, Value), status: u16, code: &str) -> Value {
    let (s, body) = got;
    assert_eq!(*s, status, "expected {status} {code}, got {s}: {body}");
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("error body lacks \"error\": {body}"));
    assert_eq!(err["code"], json!(code), "wrong error code in {body}");
    let msg = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without message: {body}"));
    assert!(!msg.trim().is_empty(), "empty error message: {body}");
    if let Some(f) = err.get("field") {
        assert!(
            f.is_string() || f.is_null(),
            "field must be a string: {body}"
        );
    }
    err.clone()
}

/// Asserts a 400 `bad_request` naming `field`.
#[track_caller]
pub fn expect_bad_field(got: &(u16, Value), field: &str) {
    let err = expect_error(got, 400, "bad_request");
    assert_eq!(
        err["field"],
        json!(field),
        "400 should name field {field:?}: {}",
        got.1
    );
}

/// Asserts `got` is refused as the client's fault (a 4xx status); `what` names the attempt in
/// the failure message.
#[track_caller]
pub fn expect_client_error(got: &(u16, Value), what: &str) {
    assert!((400..500).contains(&got.0), "{what}: {} {}", got.0, got.1);
}

#[track_caller]
pub fn assert_uuid(v: &Value) {
    let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
    Uuid::parse_str(s).unwrap_or_else(|_| panic!("not a UUID: {s}"));
}

#[track_caller]
pub fn assert_time(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp string: {v}"));
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|_| panic!("not RFC 3339: {s}"))
        .with_timezone(&chrono::Utc)
}

/// The ids of the objects in `body[key]` (a list answer like `{"members":[…]}`).
#[track_caller]
pub fn ids(body: &Value, key: &str) -> Vec<String> {
    body[key]
        .as_array()
        .unwrap_or_else(|| panic!("expected {{\"{key}\":[…]}}, got {body}"))
        .iter()
        .map(|o| {
            o["id"]
                .as_str()
                .unwrap_or_else(|| panic!("object without id: {o}"))
                .to_string()
        })
        .collect()
}

/// A random UUID, for paths that name something that does not exist.
pub fn random_id() -> String {
    Uuid::new_v4().to_string()
}

/// Asserts two JSON objects are the same resource state: equal fields, with `*_at` timestamps
/// compared as instants to the millisecond (a database may keep less precision than the
/// answer that created the row).
#[track_caller]
pub fn assert_same(a: &Value, b: &Value) {
    let (Some(ma), Some(mb)) = (a.as_object(), b.as_object()) else {
        assert_eq!(a, b);
        return;
    };
    let mut ka: Vec<&String> = ma.keys().collect();
    let mut kb: Vec<&String> = mb.keys().collect();
    ka.sort();
    kb.sort();
    assert_eq!(ka, kb, "different fields:\n{a}\n{b}");
    for (k, va) in ma {
        let vb = &mb[k];
        if k.ends_with("_at") && va.is_string() && vb.is_string() {
            let (ta, tb) = (assert_time(va), assert_time(vb));
            assert!(
                (ta - tb).num_microseconds().unwrap_or(i64::MAX).abs() < 1000,
                "{k} differs: {va} vs {vb}"
            );
        } else {
            assert_eq!(va, vb, "{k} differs:\n{a}\n{b}");
        }
    }
}
