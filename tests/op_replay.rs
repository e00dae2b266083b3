//! Issue 15.4: an `op_id` makes retries safe for the one who sent it, and for nobody else. A
//! replay of someone else's `op_id` is authorized like any op, and then refused as a
//! collision; the sender's own retry gets its first answer, also after a restart (the
//! idempotency records are reloaded with their sender from the store).

mod common;

use common::*;
use serde_json::{json, Value};
use uuid::Uuid;

async fn op(api: &Api, board_id: &str, op_id: Uuid, kind: &str, data: Value) -> (u16, Value) {
    api.post(
        &format!("/api/v1/boards/{board_id}/ops"),
        json!({"op_id": op_id, "kind": kind, "data": data}),
    )
    .await
}

/// The card as the owner sees it on the board (archived cards are not listed).
async fn live_card(owner: &Api, board_id: &str, card_id: &str) -> Option<Value> {
    let (s, snap) = owner.get(&format!("/api/v1/boards/{board_id}")).await;
    assert_eq!(s, 200, "{snap}");
    snap["snapshot"]["cards"]
        .as_array()
        .or_else(|| snap["cards"].as_array())
        .unwrap_or_else(|| panic!("no cards in {snap}"))
        .iter()
        .find(|c| c["id"] == json!(card_id))
        .cloned()
}

async fn events_of(db: &str, board_id: &str, op_id: Uuid) -> i64 {
    sql_count(
        db,
        &format!(
            "SELECT count(*) FROM board_events WHERE board_id = '{board_id}' AND op_id = '{op_id}'"
        ),
    )
    .await
}

#[tokio::test]
async fn another_principal_replaying_an_op_id_is_authorized_and_refused() {
    let (server, org) = server_with_org("Replay").await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let (cust_user, cust) = linked_customer(&server, &org.owner, &org.id, "Carla").await;
    let board = create_board(
        &org.owner,
        &org.id,
        json!({"name": "Jobs", "template": "jobs"}),
    )
    .await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let column = board["columns"][0]["id"].clone();
    let (s, created) = op(
        &org.owner,
        &board_id,
        Uuid::now_v7(),
        "card.create",
        json!({"column_id": column, "title": "Fix boiler", "customer_id": cust["id"]}),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let card_id = created["id"].as_str().unwrap().to_string();

    // The owner's op, whose op_id the others will try.
    let x = Uuid::now_v7();
    let (s, first) = op(
        &org.owner,
        &board_id,
        x,
        "card.update",
        json!({"card_id": card_id, "title": "Fix boiler today"}),
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let seq = first["seq"].as_u64().expect("seq");

    let db = server.db_url.clone();
    let check = |owner: Api, customer: Api, member: Api| {
        let (board_id, card_id, db) = (board_id.clone(), card_id.clone(), db.clone());
        async move {
            // The customer may not archive: the replay is refused as the op it is, not
            // answered with the owner's result.
            // A member may archive, but not under the owner's op_id: a collision.
            for (who, status, code) in [(&customer, 403, "forbidden"), (&member, 409, "conflict")] {
                let archive = json!({"card_id": card_id});
                let got = op(who, &board_id, x, "card.archive", archive).await;
                expect_error(&got, status, code);
            }
            let card = live_card(&owner, &board_id, &card_id)
                .await
                .expect("the card was archived by a replay");
            assert_eq!(card["title"], "Fix boiler today", "{card}");
            // The owner's own retry gets its first answer, applied once.
            let (s, again) = op(
                &owner,
                &board_id,
                x,
                "card.update",
                json!({"card_id": card_id, "title": "Fix boiler today"}),
            )
            .await;
            assert_eq!(s, 200, "{again}");
            assert_eq!(again["seq"].as_u64(), Some(seq), "{again}");
            assert_eq!(events_of(&db, &board_id, x).await, 1);
        }
    };
    check(org.owner.clone(), cust_user.api.clone(), member.api.clone()).await;

    // The same after a crash: the board's idempotency records come back from the store with
    // their senders.
    let server = server.kill9_and_restart().await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let customer = server.login(&cust_user.email, PASSWORD).await;
    let member = server.login(&member.email, PASSWORD).await;
    check(owner, customer, member).await;
}
