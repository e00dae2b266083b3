//! Boards and cards made through the API, for tests that need something to work on.

use super::*;
use serde_json::{json, Value};
use uuid::Uuid;

/// Creates a board in `org` through the API (`body`: `{name, template?}`); returns it.
pub async fn create_board(api: &Api, org: &str, body: Value) -> Value {
    let (s, board) = api.post(&format!("/api/v1/orgs/{org}/boards"), body).await;
    assert_eq!(s, 201, "creating a board failed: {board}");
    board
}

/// Makes a card in the first column of `board` (a board object as the API returns it), through
/// `POST /api/v1/boards/{board}/ops` (`card.create`). Returns the card id.
pub async fn create_card(api: &Api, board: &Value, title: &str) -> String {
    let board_id = board["id"].as_str().expect("board id");
    let column_id = board["columns"][0]["id"]
        .as_str()
        .expect("board has a column");
    let (s, body) = api
        .post(
            &format!("/api/v1/boards/{board_id}/ops"),
            json!({
                "op_id": Uuid::now_v7(),
                "kind": "card.create",
                "data": {"column_id": column_id, "title": title, "after": null},
            }),
        )
        .await;
    assert_eq!(s, 200, "card.create failed: {body}");
    body["id"]
        .as_str()
        .unwrap_or_else(|| panic!("card.create answered without id: {body}"))
        .to_string()
}
