//! Finding jobs (`GET /api/v1/boards/{board}/cards`) and paging the org's lists (`limit`,
//! `cursor`, `total`, `next_cursor`), against the real server.

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

/// Reads every page of `path` (which has no query yet) `limit` at a time; returns the ids in
/// order and checks every page says the same total.
async fn all_pages(api: &Api, path: &str, key: &str, limit: usize) -> Vec<String> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    for _ in 0..100 {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let (s, body) = api.get(&url).await;
        assert_eq!(s, 200, "{url}: {body}");
        let page = ids(&body, key);
        assert!(page.len() <= limit, "{url}: {body}");
        let t = body["total"].as_u64().expect("total");
        assert_eq!(*total.get_or_insert(t), t, "the same total on every page");
        out.extend(page);
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(out.len() as u64, t, "{path}: all pages hold the total");
                return out;
            }
        }
    }
    panic!("{path}: more than 100 pages");
}

#[tokio::test]
async fn jobs_are_found_by_status_text_and_customer_page_by_page() {
    let (server, org) = server_with_org("Field Co").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let board_id = board["id"].as_str().expect("board id").to_string();
    let columns: Vec<(String, String)> = board["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(columns.len() >= 2, "a jobs board has statuses: {board}");
    let customers = format!("/api/v1/orgs/{}/customers", org.id);
    let acme = org
        .owner
        .post_created(&customers, json!({"name": "Acme"}))
        .await;
    let acme = acme["id"].as_str().expect("customer id").to_string();

    // Seven boiler jobs for Acme in the first column, three fence jobs in the second.
    let mut boiler = Vec::new();
    for i in 0..7 {
        let r = op_ok(
            &org.owner,
            &board_id,
            "card.create",
            json!({"column_id": columns[0].0, "title": format!("Boiler service {i}"), "customer_id": acme}),
        )
        .await;
        boiler.push(r["id"].as_str().expect("card id").to_string());
    }
    for i in 0..3 {
        op_ok(
            &org.owner,
            &board_id,
            "card.create",
            json!({"column_id": columns[1].0, "title": format!("Paint the fence {i}"), "description": "white BOILER-proof paint"}),
        )
        .await;
    }
    let search = format!("/api/v1/boards/{board_id}/cards");

    let (s, all) = org.owner.get(&search).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["total"], 10, "{all}");
    assert!(all["next_cursor"].is_null());

    // Status by name (any case) and by id.
    let name = columns[1].1.to_uppercase();
    let (s, by_name) = org.owner.get(&format!("{search}?status={name}")).await;
    assert_eq!(s, 200, "{by_name}");
    assert_eq!(by_name["total"], 3, "{by_name}");
    let (_, by_id) = org
        .owner
        .get(&format!("{search}?status={}", columns[1].0))
        .await;
    assert_eq!(ids(&by_id, "cards"), ids(&by_name, "cards"));

    // Text in the title or the description; customer.
    let (_, text) = org.owner.get(&format!("{search}?q=boiler")).await;
    assert_eq!(text["total"], 10, "titles and descriptions: {text}");
    let (_, text) = org.owner.get(&format!("{search}?q=boiler%20service")).await;
    assert_eq!(text["total"], 7, "every word must occur: {text}");
    let (_, mine) = org
        .owner
        .get(&format!("{search}?customer={acme}&q=boiler"))
        .await;
    assert_eq!(mine["total"], 7, "{mine}");

    // Pages of three cover the seven in board order, once each.
    let paged = all_pages(&org.owner, &format!("{search}?customer={acme}"), "cards", 3).await;
    assert_eq!(
        paged.iter().collect::<BTreeSet<_>>(),
        boiler.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(paged.len(), 7);

    // A worker finds only the jobs assigned to them.
    let worker = add_member(&server, &org.owner, &org.id, "worker").await;
    op_ok(
        &org.owner,
        &board_id,
        "card.assign",
        json!({"card_id": boiler[2], "assignees": [worker.id]}),
    )
    .await;
    let (s, theirs) = worker.api.get(&format!("{search}?q=boiler")).await;
    assert_eq!(s, 200, "{theirs}");
    assert_eq!(ids(&theirs, "cards"), [boiler[2].clone()]);
    assert_eq!(theirs["total"], 1);

    // Bad input is named; another org does not see the board.
    expect_bad_field(&org.owner.get(&format!("{search}?limit=0")).await, "limit");
    expect_bad_field(
        &org.owner.get(&format!("{search}?cursor=bm9wZQ")).await,
        "cursor",
    );
    expect_error(
        &org.owner.get(&format!("{search}?customer=acme")).await,
        400,
        "bad_request",
    );
    let other = new_org(&server, "Other Co").await;
    expect_error(&other.owner.get(&search).await, 404, "not_found");
}

#[tokio::test]
async fn org_lists_take_limit_and_cursor_and_say_the_total() {
    let (server, org) = server_with_org("Lists Co").await;
    let o = &org.id;
    for i in 0..4 {
        add_member(
            &server,
            &org.owner,
            o,
            if i % 2 == 0 { "member" } else { "worker" },
        )
        .await;
        org.owner
            .post_created(
                &format!("/api/v1/orgs/{o}/customers"),
                json!({"name": format!("Customer {i}")}),
            )
            .await;
        new_board(&org, json!({"name": format!("Board {i}")})).await;
        org.owner
            .post_created(
                &format!("/api/v1/orgs/{o}/api-keys"),
                json!({"name": format!("Key {i}"), "role": "member"}),
            )
            .await;
    }
    let board = new_board(&org, json!({"name": "Shared"})).await;
    let card = create_card(&org.owner, &board, "Shared job").await;
    for _ in 0..3 {
        share_link(&org.owner, &card, json!({})).await;
    }
    for (path, key, expected) in [
        (format!("/api/v1/orgs/{o}/members"), "members", 5),
        (format!("/api/v1/orgs/{o}/people"), "people", 5),
        (format!("/api/v1/orgs/{o}/customers"), "customers", 4),
        (format!("/api/v1/orgs/{o}/boards"), "boards", 5),
        (format!("/api/v1/orgs/{o}/api-keys"), "api_keys", 4),
        (format!("/api/v1/orgs/{o}/share-links"), "share_links", 3),
    ] {
        let (s, whole) = org.owner.get(&path).await;
        assert_eq!(s, 200, "{path}: {whole}");
        assert_eq!(whole["total"], expected, "{path}: {whole}");
        assert!(
            whole["next_cursor"].is_null(),
            "{path}: one page by default"
        );
        let paged = all_pages(&org.owner, &path, key, 2).await;
        assert_eq!(
            paged,
            ids(&whole, key),
            "{path}: pages read in the list's order"
        );
        expect_bad_field(&org.owner.get(&format!("{path}?limit=0")).await, "limit");
        expect_bad_field(
            &org.owner.get(&format!("{path}?cursor=%2A%2A")).await,
            "cursor",
        );
    }
    // A worker's notifications: five assignments, read two at a time, newest first.
    let worker = add_member(&server, &org.owner, o, "worker").await;
    let board_id = board["id"].as_str().expect("board id").to_string();
    for i in 0..5 {
        let card = create_card(&org.owner, &board, &format!("Job {i}")).await;
        op_ok(
            &org.owner,
            &board_id,
            "card.assign",
            json!({"card_id": card, "assignees": [worker.id]}),
        )
        .await;
    }
    let paged = all_pages(&worker.api, "/api/v1/notifications", "notifications", 2).await;
    assert_eq!(paged.len(), 5);
    let (_, whole) = worker.api.get("/api/v1/notifications").await;
    assert_eq!(
        paged,
        ids(&whole, "notifications"),
        "newest first, page after page"
    );
    expect_bad_field(
        &worker.api.get("/api/v1/notifications?cursor=bm9wZQ").await,
        "cursor",
    );
}

/// Priority, estimate and column colour (issue 16.4) go through ops, are kept across a kill -9
/// on both stores, and are not shown to the customer.
async fn planning_fields_survive_a_restart(db: &str) {
    let (server, org) = server_with_org_on(db, "Planning Co", &[]).await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let board_id = board["id"].as_str().expect("board id").to_string();
    let column = board["columns"][0]["id"]
        .as_str()
        .expect("column")
        .to_string();
    let cust = org
        .create(
            "customers",
            json!({"name": "Dana", "address": "7 Pier Lane"}),
        )
        .await;
    let data = json!({"column_id": column, "title": "Leak", "priority": "urgent", "estimate_minutes": 120, "customer_id": cust["id"]});
    let card = text_of(
        &op_ok(&org.owner, &board_id, "card.create", data).await,
        "id",
    );
    op_ok(
        &org.owner,
        &board_id,
        "column.update",
        json!({"column_id": column, "color": "#FF0000"}),
    )
    .await;
    let bad = org
        .owner
        .post(
            &format!("/api/v1/boards/{board_id}/ops"),
            json!({"op_id": Uuid::now_v7(), "kind": "card.update", "data": {"card_id": card, "priority": "whenever"}}),
        )
        .await;
    expect_error(&bad, 400, "bad_request");

    let server = server.kill9_and_restart().await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let (s, snap) = owner.get(&format!("/api/v1/boards/{board_id}")).await;
    assert_eq!(s, 200, "{snap}");
    let c = snap["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .find(|c| c["id"] == card.as_str())
        .expect("the card is back");
    assert_eq!(c["priority"], "urgent", "{c}");
    assert_eq!(c["estimate_minutes"], 120);
    assert_eq!(snap["columns"][0]["color"], "#ff0000", "{snap}");

    // The customer user of that customer sees the job without the team's planning fields.
    let email = unique_email("dana");
    let m = owner
        .post_created(
            &format!("/api/v1/orgs/{}/members", org.id),
            json!({"email": email, "name": "Dana", "password": PASSWORD, "role": "customer"}),
        )
        .await;
    let (s, linked) = owner
        .patch(
            &format!(
                "/api/v1/orgs/{}/customers/{}",
                org.id,
                cust["id"].as_str().expect("id")
            ),
            json!({"user_id": m["id"]}),
        )
        .await;
    assert_eq!(s, 200, "{linked}");
    let customer = server.login(&email, PASSWORD).await;
    let (s, theirs) = customer.get(&format!("/api/v1/boards/{board_id}")).await;
    assert_eq!(s, 200, "{theirs}");
    let c = &theirs["cards"][0];
    assert_eq!(c["id"], card.as_str(), "{theirs}");
    assert!(
        c.get("priority").is_none() && c.get("estimate_minutes").is_none(),
        "{c}"
    );
}

on_both_stores!(
    planning_fields_survive_a_restart_on_sqlite,
    planning_fields_survive_a_restart_on_postgres,
    planning_fields_survive_a_restart
);
