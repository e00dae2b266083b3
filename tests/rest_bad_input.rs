//! Bad request bodies on every writing endpoint: malformed JSON, missing and unknown fields,
//! wrong types, bodies over the limit. Each is refused in the protocol's error shape and
//! changes nothing.

mod common;

use common::*;
use serde_json::{json, Value};

/// Everything the org holds, as the owner sees it.
async fn snapshot(api: &Api, org: &str) -> Value {
    let whats = ["members", "customers", "boards", "api-keys"];
    Value::Object(org_lists(api, org, &whats).await)
}

/// A server with an org, and what the org held before the test sent it bad requests.
struct Untouched {
    server: TestServer,
    org: Org,
    before: Value,
}

impl Untouched {
    async fn new(name: &str) -> Untouched {
        let (server, org) = server_with_org(name).await;
        let before = snapshot(&org.owner, &org.id).await;
        Untouched {
            server,
            org,
            before,
        }
    }

    /// Asserts the org holds what it held at the start: `what` changed nothing.
    async fn assert_unchanged(&self, what: &str) {
        assert_eq!(
            snapshot(&self.org.owner, &self.org.id).await,
            self.before,
            "{what} changed something"
        );
    }
}

/// One valid body per writing endpoint of an org, to break in different ways.
fn endpoints(org: &str) -> Vec<(String, Value)> {
    vec![
        (
            format!("/api/v1/orgs/{org}/members"),
            member_body(&unique_email("x"), "X", "member"),
        ),
        (
            format!("/api/v1/orgs/{org}/customers"),
            json!({"name": "X"}),
        ),
        (format!("/api/v1/orgs/{org}/boards"), json!({"name": "X"})),
        (
            format!("/api/v1/orgs/{org}/api-keys"),
            json!({"name": "X", "role": "member"}),
        ),
    ]
}

#[tokio::test]
async fn malformed_json_is_400() {
    let t = Untouched::new("Bad Input").await;
    let (server, org) = (&t.server, &t.org);
    let bodies: [&[u8]; 6] = [
        b"{",
        b"{\"name\": }",
        b"not json",
        b"",
        b"[1,2",
        b"{\"name\": \"X\"} trailing",
    ];
    for (path, _) in endpoints(&org.id) {
        for body in bodies {
            let r = org.owner.send_raw("POST", &path, body.to_vec()).await;
            let got = r.pair();
            assert_eq!(
                got.0,
                400,
                "POST {path} {:?} -> {} {}",
                String::from_utf8_lossy(body),
                got.0,
                got.1
            );
            expect_error(&got, 400, "bad_request");
        }
    }
    // Also on the unauthenticated endpoints.
    for path in ["/api/v1/auth/login", "/api/v1/auth/refresh"] {
        let r = server
            .api()
            .send_raw("POST", path, b"{\"email\"".to_vec())
            .await;
        expect_error(&r.pair(), 400, "bad_request");
    }
    t.assert_unchanged("malformed requests").await;
}

#[tokio::test]
async fn missing_unknown_and_mistyped_fields_are_named() {
    let t = Untouched::new("Bad Fields").await;
    let org = &t.org;
    for (path, good) in endpoints(&org.id) {
        let obj = good.as_object().unwrap();
        // Every required field of the valid body, left out.
        for (field, _) in obj {
            let mut b = obj.clone();
            b.remove(field);
            let got = org.owner.post(&path, Value::Object(b)).await;
            assert_eq!(
                got.0, 400,
                "POST {path} without {field}: {} {}",
                got.0, got.1
            );
            expect_bad_field(&got, field);
        }
        // An unknown field.
        let mut b = obj.clone();
        b.insert("surprise".into(), json!(1));
        expect_bad_field(&org.owner.post(&path, Value::Object(b)).await, "surprise");
        // A wrong type.
        let mut b = obj.clone();
        b.insert("name".into(), json!({"first": "X"}));
        expect_bad_field(&org.owner.post(&path, Value::Object(b)).await, "name");
        // Not an object at all.
        let got = org.owner.post(&path, json!(["name", "X"])).await;
        expect_error(&got, 400, "bad_request");
    }
    t.assert_unchanged("refused requests").await;
}

#[tokio::test]
async fn over_long_strings_are_named() {
    let t = Untouched::new("Long Strings").await;
    let org = &t.org;
    let long = "x".repeat(101);
    for (path, good) in endpoints(&org.id) {
        let mut b = good.as_object().unwrap().clone();
        b.insert("name".into(), json!(long));
        let got = org.owner.post(&path, Value::Object(b)).await;
        assert_eq!(
            got.0, 400,
            "POST {path} with a 101-char name: {} {}",
            got.0, got.1
        );
        expect_bad_field(&got, "name");
    }
    t.assert_unchanged("over-long names").await;
}

#[tokio::test]
async fn bodies_over_the_default_limit_are_413() {
    let t = Untouched::new("Big Bodies").await;
    let (server, org) = (&t.server, &t.org);
    // 70 000 bytes of otherwise valid JSON, over the default 65 536.
    let big = serde_json::to_vec(&json!({"name": "X", "pad": "p".repeat(70_000)})).unwrap();
    for (path, _) in endpoints(&org.id) {
        let got = org.owner.send_raw("POST", &path, big.clone()).await.pair();
        assert_eq!(got.0, 413, "POST {path}: {} {}", got.0, got.1);
        expect_error(&got, 413, "too_large");
    }
    let got = server
        .api()
        .send_raw("POST", "/api/v1/auth/login", big.clone())
        .await
        .pair();
    expect_error(&got, 413, "too_large");
    t.assert_unchanged("bodies over the limit").await;
    // Just under the limit is read (and refused only for its unknown field).
    let mut under = serde_json::to_vec(&json!({"name": "X", "pad": ""})).unwrap();
    let pad = 65_536 - under.len();
    under = serde_json::to_vec(&json!({"name": "X", "pad": "p".repeat(pad)})).unwrap();
    assert_eq!(under.len(), 65_536);
    let got = org
        .owner
        .send_raw("POST", &format!("/api/v1/orgs/{}/boards", org.id), under)
        .await
        .pair();
    expect_bad_field(&got, "pad");
}

#[tokio::test]
async fn body_limit_is_configurable() {
    let (_server, org) = server_with_org_env(
        "Small Bodies",
        &[("BOARDROOM_LIMITS__MAX_BODY_BYTES", "2048")],
    )
    .await;
    let path = format!("/api/v1/orgs/{}/customers", org.id);
    // 3 000 bytes: over this server's limit.
    let body = serde_json::to_vec(&json!({"name": "X", "phone": "1".repeat(3_000)})).unwrap();
    let got = org.owner.send_raw("POST", &path, body).await.pair();
    expect_error(&got, 413, "too_large");
    let (_, l) = org.owner.get(&path).await;
    assert!(
        ids(&l, "customers").is_empty(),
        "an oversized request made a customer"
    );
    // A normal body is fine.
    org.owner.post_created(&path, json!({"name": "X"})).await;
}
