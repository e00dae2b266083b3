//! Share links over HTTP: create for a card, revoke; who may.

mod common;

use common::*;
use serde_json::{json, Value};

struct Setup {
    server: TestServer,
    org: Org,
    board: Value,
    card: String,
}

async fn setup() -> Setup {
    let (server, org) = server_with_org("Share Co").await;
    let board = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let card = create_card(&org.owner, &board, "Fix the boiler").await;
    Setup {
        server,
        org,
        board,
        card,
    }
}

async fn link_count(db: &str) -> i64 {
    sql_count(db, "SELECT count(*) FROM share_links").await
}

async fn live_link_count(db: &str) -> i64 {
    sql_count(
        db,
        "SELECT count(*) FROM share_links WHERE revoked_at IS NULL",
    )
    .await
}

#[tokio::test]
async fn create_and_revoke() {
    let t = setup().await;
    let api = &t.org.owner;
    let before = chrono::Utc::now();
    let l = share_link(api, &t.card, json!({"expires_in_days": 3})).await;
    assert_uuid(&l["id"]);
    let token = l["token"].as_str().expect("token");
    assert!(token.starts_with("brs_"), "{token}");
    assert!(
        token.len() >= 4 + 32,
        "a share token needs real entropy: {token}"
    );
    let url = l["url"].as_str().expect("url");
    assert!(
        url.starts_with("http://") || url.starts_with("https://"),
        "{url}"
    );
    assert!(url.contains(token), "the link must carry the token: {url}");
    assert_eq!(l["card_id"], json!(t.card));
    let exp = assert_time(&l["expires_at"]);
    let want = before + chrono::Duration::days(3);
    assert!(
        (exp - want).num_seconds().abs() <= 120,
        "expires_at {exp}, want about {want}"
    );
    assert_eq!(live_link_count(&t.server.db_url).await, 1);
    let (s, body) = revoke_link(api, &l).await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(body, Value::Null);
    assert_eq!(live_link_count(&t.server.db_url).await, 0);
    expect_error(
        &api.delete(&format!("/api/v1/share-links/{}", random_id()))
            .await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn default_expiry_is_30_days() {
    let t = setup().await;
    let before = chrono::Utc::now();
    // No body fields at all.
    let l = share_link(&t.org.owner, &t.card, json!({})).await;
    let exp = assert_time(&l["expires_at"]);
    let want = before + chrono::Duration::days(30);
    assert!(
        (exp - want).num_seconds().abs() <= 120,
        "expires_at {exp}, want about {want}"
    );
    // Two links for one card are two different tokens.
    let l2 = share_link(&t.org.owner, &t.card, json!({})).await;
    assert_ne!(l["token"], l2["token"]);
    assert_ne!(l["id"], l2["id"]);
}

#[tokio::test]
async fn who_may_share() {
    let t = setup().await;
    let path = format!("/api/v1/cards/{}/share-links", t.card);
    for role in ["admin", "member"] {
        let m = add_member(&t.server, &t.org.owner, &t.org.id, role).await;
        let (s, l) = m.api.post(&path, json!({})).await;
        assert_eq!(s, 201, "{role}: {l}");
        let (s, body) = revoke_link(&m.api, &l).await;
        assert_eq!(s, 204, "{role} revokes: {body}");
    }
    let (_, keep) = t.org.owner.post(&path, json!({})).await;
    let keep_path = format!("/api/v1/share-links/{}", keep["id"].as_str().unwrap());
    for role in ["worker", "customer"] {
        let m = add_member(&t.server, &t.org.owner, &t.org.id, role).await;
        let n = link_count(&t.server.db_url).await;
        let got = m.api.post(&path, json!({})).await;
        // The card is not theirs, so "not found" is as right as "forbidden".
        expect_refused(&got, &format!("{role} shares"));
        expect_error(
            &got,
            got.0,
            if got.0 == 403 {
                "forbidden"
            } else {
                "not_found"
            },
        );
        let got = m.api.delete(&keep_path).await;
        expect_refused(&got, &format!("{role} revokes"));
        assert_eq!(
            link_count(&t.server.db_url).await,
            n,
            "{role}: refused request made a link"
        );
    }
    assert_eq!(
        sql_count(
            &t.server.db_url,
            &format!(
                "SELECT count(*) FROM share_links WHERE id = '{}' AND revoked_at IS NULL",
                keep["id"].as_str().unwrap()
            )
        )
        .await,
        1,
        "a refused revoke revoked the link"
    );
    let _ = &t.board;
}

#[tokio::test]
async fn share_link_bad_requests() {
    let t = setup().await;
    let api = &t.org.owner;
    expect_error(
        &api.post(
            &format!("/api/v1/cards/{}/share-links", random_id()),
            json!({}),
        )
        .await,
        404,
        "not_found",
    );
    let path = format!("/api/v1/cards/{}/share-links", t.card);
    expect_bad_field(
        &api.post(&path, json!({"expires_in_days": "soon"})).await,
        "expires_in_days",
    );
    expect_bad_field(&api.post(&path, json!({"card": "x"})).await, "card");
    assert_eq!(link_count(&t.server.db_url).await, 0);
}
