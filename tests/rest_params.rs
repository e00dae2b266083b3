//! Path and query parameters the router cannot read are answered in the protocol's JSON error
//! shape (not axum's plain text), on every route of the table; and the SSE stream takes its
//! credential from an `Authorization: Bearer` header as well as from `?token=`.

mod common;

use boardroom::http::routes;
use common::*;
use serde_json::{json, Value};

/// Asserts the body is `{"error":{"code": <code>, "message": <non-empty>}}`.
fn assert_error_shape(what: &str, status: u16, body: &Value, code: &str) {
    assert_eq!(
        body["error"]["code"].as_str(),
        Some(code),
        "{what}: status {status}, body {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: a message: {body}"
    );
}

#[tokio::test]
async fn a_malformed_path_parameter_is_a_json_bad_request_on_every_route() {
    let (_server, org) = server_with_org("Params").await;
    let mut checked = 0;
    for r in routes() {
        // Debug routes are mounted only with `realtime.debug_endpoints` (tests/security_edge).
        if !r.path.contains('{') || r.path.contains("/debug/") {
            continue;
        }
        // Every parameter malformed at once: the first one the router reads is refused.
        let path = r
            .path
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    "not-an-id"
                } else {
                    seg
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let body = match r.verb.as_str() {
            "post" | "patch" => Some(json!({})),
            _ => None,
        };
        let res = org
            .owner
            .send(&r.verb.as_str().to_uppercase(), &path, body)
            .await;
        assert_eq!(
            res.status,
            400,
            "{} {path}: {:?}",
            r.verb.as_str(),
            res.body
        );
        assert_error_shape(&path, res.status, &res.body, "bad_request");
        checked += 1;
    }
    assert!(
        checked > 20,
        "the table has parameterized routes: {checked}"
    );
}

#[tokio::test]
async fn a_malformed_query_string_is_a_json_bad_request() {
    let (_server, org) = server_with_org("Params").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let board_id = board["id"].as_str().expect("board id");
    for path in [
        format!("/api/v1/boards/{board_id}/events?after_seq=yesterday"),
        "/api/v1/notifications?limit=lots".to_string(),
        format!("/api/v1/orgs/{}/share-links?card=not-an-id", org.id),
        "/api/v1/stream?topic=board:x&token=t&unknown=1".to_string(),
    ] {
        let (s, body) = org.owner.get(&path).await;
        assert_eq!(s, 400, "{path}: {body}");
        assert_error_shape(&path, s, &body, "bad_request");
    }
}

/// The first bytes of an SSE response, with the credential as a header.
async fn sse_with_header(server: &TestServer, topic: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(server.url(&format!("/api/v1/stream?topic={topic}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    sse_first_chunk(req).await
}

#[tokio::test]
async fn sse_takes_the_credential_from_the_authorization_header() {
    let (server, org) = server_with_org("Stream").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let topic = format!("board:{}", board["id"].as_str().expect("board id"));
    let token = org.owner.token.clone().expect("owner token");

    let (s, head) = sse_with_header(&server, &topic, Some(&token)).await;
    assert_eq!(s, 200, "{head}");
    assert!(
        head.contains("event: ok"),
        "the stream starts with ok: {head}"
    );

    let (s, head) = sse_with_header(&server, &topic, None).await;
    assert_eq!(s, 401, "no credential at all: {head}");
    let body: Value = serde_json::from_str(&head).expect("a JSON error");
    assert_error_shape("no credential", s, &body, "unauthorized");

    let (s, head) = sse_with_header(&server, &topic, Some("not-a-token")).await;
    assert_eq!(s, 401, "a bad bearer token: {head}");
}
