//! `GET /orgs/{org}/share-links?card=`: the card filter keeps only that card's links, and
//! leaving it out lists them all (one store query serves both).

mod common;

use common::*;
use serde_json::json;

/// The ids a listing returns, sorted (the order is another test's business).
async fn listed(api: &Api, path: &str) -> Vec<String> {
    let got = api.get(path).await;
    assert_eq!(got.0, 200, "{path}: {}", got.1);
    let mut out = ids(&got.1, "share_links");
    out.sort();
    out
}

#[tokio::test]
async fn card_filter_keeps_only_that_cards_links() {
    let (_server, org) = server_with_org("Filter Co").await;
    let board = new_board(&org, json!({"name": "Jobs"})).await;
    let api = &org.owner;
    // Two links on the first card, one on the second.
    let mut made = Vec::new();
    for title in ["Fix the boiler", "Paint the fence"] {
        let card = create_card(api, &board, title).await;
        let count = if made.is_empty() { 2 } else { 1 };
        let mut links = Vec::new();
        for _ in 0..count {
            let link = share_link(api, &card, json!({})).await;
            links.push(link["id"].as_str().expect("link id").to_string());
        }
        links.sort();
        made.push((card, links));
    }
    let path = format!("/api/v1/orgs/{}/share-links", org.id);
    for (card, links) in &made {
        assert_eq!(&listed(api, &format!("{path}?card={card}")).await, links);
    }
    let mut every: Vec<String> = made.into_iter().flat_map(|(_, l)| l).collect();
    every.sort();
    assert_eq!(listed(api, &path).await, every);
}
