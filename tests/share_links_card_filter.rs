//! `GET /orgs/{org}/share-links?card=`: the card filter keeps only that card's links, and
//! leaving it out lists them all (one query serves both since the store dedupe).

mod common;

use common::*;
use serde_json::{json, Value};

fn link_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["share_links"]
        .as_array()
        .expect("share_links")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn card_filter_keeps_only_that_cards_links() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[]).await;
    let org = new_org(&server, "Filter Co").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let first = create_card(&org.owner, &board, "Fix the boiler").await;
    let second = create_card(&org.owner, &board, "Paint the fence").await;
    let mut of_first = Vec::new();
    for _ in 0..2 {
        let l = org
            .owner
            .post_created(&format!("/api/v1/cards/{first}/share-links"), json!({}))
            .await;
        of_first.push(l["id"].as_str().expect("id").to_string());
    }
    let l = org
        .owner
        .post_created(&format!("/api/v1/cards/{second}/share-links"), json!({}))
        .await;
    let of_second = vec![l["id"].as_str().expect("id").to_string()];
    of_first.sort();

    let path = format!("/api/v1/orgs/{}/share-links", org.id);
    let (s, only_first) = org.owner.get(&format!("{path}?card={first}")).await;
    assert_eq!(s, 200, "{only_first}");
    assert_eq!(link_ids(&only_first), of_first, "{only_first}");
    let (s, only_second) = org.owner.get(&format!("{path}?card={second}")).await;
    assert_eq!(s, 200, "{only_second}");
    assert_eq!(link_ids(&only_second), of_second, "{only_second}");
    let (s, all) = org.owner.get(&path).await;
    assert_eq!(s, 200, "{all}");
    let mut every = [of_first, of_second].concat();
    every.sort();
    assert_eq!(link_ids(&all), every, "{all}");
}
