//! Boards over HTTP: create from a template, list, archive; who may.

mod common;

use common::*;
use serde_json::{json, Value};

fn path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/boards")
}

/// The path that archives board `id`.
fn archive_path(id: impl std::fmt::Display) -> String {
    format!("/api/v1/boards/{id}/archive")
}

/// Checks the board's columns: names and done flags in order, positions strictly rising
/// bytewise, distinct ids.
#[track_caller]
fn check_columns(board: &Value, want: &[(&str, bool)]) {
    let cols = board["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns: {board}"));
    let got: Vec<(String, bool)> = cols
        .iter()
        .map(|c| {
            assert_uuid(&c["id"]);
            (
                c["name"].as_str().expect("column name").to_string(),
                c["is_done"].as_bool().expect("is_done"),
            )
        })
        .collect();
    let want: Vec<(String, bool)> = want.iter().map(|(n, d)| (n.to_string(), *d)).collect();
    assert_eq!(got, want, "{board}");
    let positions: Vec<&str> = cols
        .iter()
        .map(|c| c["position"].as_str().expect("position string"))
        .collect();
    for w in positions.windows(2) {
        assert!(
            w[0].as_bytes() < w[1].as_bytes(),
            "positions must rise bytewise: {positions:?}"
        );
    }
    let mut idset: Vec<&str> = cols.iter().map(|c| c["id"].as_str().unwrap()).collect();
    idset.sort();
    idset.dedup();
    assert_eq!(idset.len(), cols.len(), "column ids must be distinct");
}

#[tokio::test]
async fn kanban_is_the_default_template() {
    let (_server, org) = server_with_org("Boards Co").await;
    let b = org.create("boards", json!({"name": "Sprint 1"})).await;
    assert_uuid(&b["id"]);
    assert_eq!(b["org_id"], json!(org.id));
    assert_eq!(b["name"], "Sprint 1");
    assert_eq!(b["template"], "kanban");
    assert_eq!(b["archived"], false);
    assert_time(&b["created_at"]);
    check_columns(&b, &[("To do", false), ("Doing", false), ("Done", true)]);

    let b2 = org
        .create("boards", json!({"name": "Explicit", "template": "kanban"}))
        .await;
    assert_eq!(b2["template"], "kanban");
    check_columns(&b2, &[("To do", false), ("Doing", false), ("Done", true)]);
    // Each board has its own columns.
    assert_ne!(b["columns"][0]["id"], b2["columns"][0]["id"]);
}

#[tokio::test]
async fn jobs_template_has_job_statuses() {
    let (_server, org) = server_with_org("Boards Co").await;
    let b = org
        .create("boards", json!({"name": "Call-outs", "template": "jobs"}))
        .await;
    assert_eq!(b["template"], "jobs");
    check_columns(
        &b,
        &[
            ("New", false),
            ("Scheduled", false),
            ("In progress", false),
            ("Done", true),
        ],
    );
}

#[tokio::test]
async fn list_and_archive() {
    let (_server, org) = server_with_org("Boards Co").await;
    let a = org.create("boards", json!({"name": "A"})).await;
    let b = org
        .create("boards", json!({"name": "B", "template": "jobs"}))
        .await;
    let l = org.owner.get_ok(&path(&org.id)).await;
    let mut got = ids(&l, "boards");
    got.sort();
    let mut want = vec![
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    let listed_b = find_in(&l, "boards", |x| x["id"] == b["id"]);
    assert_eq!(listed_b["name"], "B");
    assert_eq!(listed_b["template"], "jobs");
    assert_eq!(listed_b["archived"], false);

    let (s, archived) = org
        .owner
        .post(&archive_path(a["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(s, 200, "{archived}");
    assert_eq!(archived["id"], a["id"]);
    assert_eq!(archived["name"], "A");
    assert_eq!(archived["archived"], true);
    let l = org.owner.get_ok(&path(&org.id)).await;
    assert_eq!(
        ids(&l, "boards"),
        vec![b["id"].as_str().unwrap().to_string()]
    );

    expect_error(
        &org.owner.post(&archive_path(random_id()), json!({})).await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn archive_without_a_body() {
    let (_server, org) = server_with_org("Boards Co").await;
    let a = org.create("boards", json!({"name": "A"})).await;
    // A POST with no body at all is a natural way to call an action endpoint.
    let r = org
        .owner
        .request("POST", &archive_path(a["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(ids(&org.owner.get_ok(&path(&org.id)).await, "boards").is_empty());
}

#[tokio::test]
async fn who_may_create_and_archive() {
    let (server, org) = server_with_org("Boards Co").await;
    for role in ["admin", "member"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let (s, b) = m
            .api
            .post(&path(&org.id), json!({"name": format!("by {role}")}))
            .await;
        assert_eq!(s, 201, "{role}: {b}");
        let (s, a) = m
            .api
            .post(&archive_path(b["id"].as_str().unwrap()), json!({}))
            .await;
        assert_eq!(s, 200, "{role}: {a}");
        assert_eq!(a["archived"], true);
    }
    let keep = org.create("boards", json!({"name": "Keep"})).await;
    let keep_archive = archive_path(keep["id"].as_str().unwrap());
    for role in ["worker", "customer"] {
        let m = add_member(&server, &org.owner, &org.id, role).await;
        let before = org.owner.get_ok(&path(&org.id)).await;
        expect_forbidden(&m.api.post(&path(&org.id), json!({"name": "No"})).await);
        let got = m.api.post(&keep_archive, json!({})).await;
        // A worker or customer cannot see a board with none of their cards on it, so 404
        // (it does not exist for them) is as right as 403 here.
        expect_refused(&got, &format!("{role} archiving"));
        assert_eq!(
            org.owner.get_ok(&path(&org.id)).await,
            before,
            "{role}: refused requests changed boards"
        );
        // They may list boards (the ones they may see: none here).
        let (s, l) = m.api.get(&path(&org.id)).await;
        assert_eq!(s, 200, "{role} lists boards: {l}");
        assert!(l["boards"].is_array(), "{l}");
        assert!(
            !l["boards"]
                .as_array()
                .unwrap()
                .iter()
                .any(|b| b["id"] == keep["id"]),
            "{role} sees a board with none of their cards: {l}"
        );
    }
}

#[tokio::test]
async fn board_fields_are_validated() {
    let (_server, org) = server_with_org("Boards Co").await;
    let p = path(&org.id);
    let cases: Vec<(&str, Value)> = vec![
        ("name", json!({})),
        ("name", json!({"name": ""})),
        ("name", json!({"name": "n".repeat(101)})),
        ("name", json!({"name": ["x"]})),
        ("template", json!({"name": "X", "template": "scrum"})),
        ("columns", json!({"name": "X", "columns": ["a"]})),
    ];
    for (field, body) in cases {
        let got = org.owner.post(&p, body.clone()).await;
        assert_eq!(got.0, 400, "{body} -> {} {}", got.0, got.1);
        expect_bad_field(&got, field);
    }
    let r = org.owner.send_raw("POST", &p, b"name=X".to_vec()).await;
    expect_error(&r.pair(), 400, "bad_request");
    assert!(
        ids(&org.owner.get_ok(&path(&org.id)).await, "boards").is_empty(),
        "rejected requests made boards"
    );
    let (s, b) = org.owner.post(&p, json!({"name": "é".repeat(100)})).await;
    assert_eq!(s, 201, "100 characters is allowed: {b}");
}
