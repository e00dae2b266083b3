//! The OpenAPI document and the docs page, served by the real binary; and every operation the
//! document names reaches a handler of the real router (the route-table drift test itself is a
//! unit test beside the spec, `http::openapi::tests`).

mod common;

use common::*;
use serde_json::Value;

fn checked_in_spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/http/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the spec")).expect("spec")
}

/// `(method, path)` for every operation of the spec.
fn operations(spec: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_spec_and_the_docs_page_are_served() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let api = server.api();

    let res = api.send("GET", "/api/v1/openapi.json", None).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let spec = checked_in_spec();
    assert_eq!(res.body, spec, "the served spec is the checked-in file");

    let res = api.send("GET", "/api/v1/docs", None).await;
    assert_eq!(res.status, 200);
    assert!(res.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.body.as_str().expect("an HTML page").to_string();
    for (method, path) in operations(&spec) {
        assert!(
            page.contains(&format!("{method}</span> <code>{path}</code>")),
            "the docs page does not list {method} {path}"
        );
    }
}

/// Each operation of the spec, sent to the real server (made-up ids, no credentials, no body),
/// is answered by a handler: neither the router's "no such endpoint" fallback nor a 405.
/// The `/debug/...` operations are routed only with `realtime.debug_endpoints` (dev mode), so
/// this server has them on; that production answers 404 there is `security_edge`'s test.
#[tokio::test]
async fn every_described_operation_is_routed() {
    let server = TestServer::start(
        &fresh_pg_url().await,
        &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")],
    )
    .await;
    let api = server.api();
    let spec = checked_in_spec();
    let ops = operations(&spec);
    assert!(
        ops.len() > 30,
        "the spec lists only {} operations",
        ops.len()
    );
    for (method, path) in ops {
        let concrete: String = path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    random_id()
                } else {
                    seg.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let res = api.send(&method.to_uppercase(), &concrete, None).await;
        assert_ne!(res.status, 405, "{method} {path}: method not allowed");
        let fallback = res.body["error"]["message"] == "no such endpoint";
        assert!(
            !fallback,
            "{method} {path} fell through to the router's fallback: {}",
            res.body
        );
    }
}
