//! `GET /api/v1/boards/{board}/cards/{card}/history`: who changed what on a card, old → new.
//! Derived on read by replaying the card's events in seq order (each event carries the card
//! after the op; the one before it is the "old"), so nothing extra is written per op.
//!
//! Who may read it: the roles that may read the board's raw event log (owners, admins,
//! members; `Action::ReadBoardEvents`). The history is unfiltered (it names assignees,
//! customers, every earlier title), so a worker or customer, whose board view is filtered,
//! gets 403, and a share link has no way in at all.

use super::access::live_board;
use super::extract::Acting;
use super::params::Path;
use crate::error::{ApiError, ApiResult};
use crate::store::EventRecord;
use axum::Json;
use boardroom_actors::policy::Action;
use serde_json::{json, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// The card fields a history entry compares, in the order they are listed.
const FIELDS: [&str; 8] = [
    "title",
    "description",
    "column_id",
    "assignees",
    "customer_id",
    "labels",
    "due_at",
    "archived",
];

pub async fn history(
    Acting { state, caller, .. }: Acting,
    Path((board_id, card_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<Value>> {
    let what = "read the history of this card";
    let (board, _) = live_board(&state, &caller, board_id, Action::ReadBoardEvents, what).await?;
    let limit = i64::try_from(state.config.limits.card_history_max_events).unwrap_or(i64::MAX);
    let events = state.store.card_events(board_id, card_id, limit).await?;
    if events.is_empty() {
        // A card made outside the op path (the demo seed, an import) has no events yet.
        match state.store.card_location(card_id).await? {
            Some(loc) if loc.board_id == board_id => {}
            _ => return Err(ApiError::not_found("card")),
        }
    }
    let columns: HashMap<Uuid, String> = board
        .columns
        .iter()
        .map(|c| (c.id, c.name.clone()))
        .collect();
    let entries = replay(&events, &columns);
    Ok(Json(json!({
        "card_id": card_id,
        "board_id": board_id,
        "entries": entries,
        "truncated": events.len() as i64 == limit,
    })))
}

/// One entry per event, oldest first: `{seq, at, kind, actor, changes: [{field, old, new}]}`.
fn replay(events: &[EventRecord], columns: &HashMap<Uuid, String>) -> Vec<Value> {
    let mut card: Option<Value> = None;
    // Checklist item titles by id, for toggles and removals that carry only the id.
    let mut items: HashMap<String, String> = HashMap::new();
    let col_name = |v: &Value| -> Value {
        v.as_str()
            .and_then(|s| Uuid::try_parse(s).ok())
            .and_then(|id| columns.get(&id))
            .map(|n| json!(n))
            .unwrap_or_else(|| v.clone())
    };
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let d = &e.data.value();
        let mut changes = Vec::new();
        match e.kind.as_str() {
            "card.created" | "card.updated" | "card.moved" | "card.assigned" | "card.archived" => {
                let new = &d["card"];
                for f in FIELDS {
                    let old = card.as_ref().map(|c| c[f].clone()).unwrap_or(Value::Null);
                    let new_v = new[f].clone();
                    let blank = match &new_v {
                        Value::Null | Value::Bool(false) => true,
                        Value::Array(a) => a.is_empty(),
                        Value::String(s) => s.is_empty(),
                        _ => false,
                    };
                    if old == new_v || (card.is_none() && blank) {
                        continue;
                    }
                    let (old, new_v) = if f == "column_id" {
                        (col_name(&old), col_name(&new_v))
                    } else {
                        (old, new_v)
                    };
                    let field = if f == "column_id" { "column" } else { f };
                    changes.push(json!({ "field": field, "old": old, "new": new_v }));
                }
                card = Some(new.clone());
            }
            "checklist.added" | "checklist.toggled" => {
                let item = &d["item"];
                let id = item["id"].as_str().unwrap_or_default().to_string();
                let title = item["title"].as_str().unwrap_or_default().to_string();
                if e.kind == "checklist.added" {
                    changes.push(json!({ "field": "checklist", "old": null, "new": title }));
                } else {
                    let done = item["done"].as_bool().unwrap_or(false);
                    changes.push(json!({
                        "field": format!("checklist: {title}"),
                        "old": !done,
                        "new": done,
                    }));
                }
                items.insert(id, title);
            }
            "checklist.removed" => {
                let id = d["item_id"].as_str().unwrap_or_default();
                let title = items.remove(id).unwrap_or_default();
                changes.push(json!({ "field": "checklist", "old": title, "new": null }));
            }
            "comment.added" => {
                changes
                    .push(json!({ "field": "comment", "old": null, "new": d["comment"]["body"] }));
            }
            _ => {}
        }
        out.push(json!({
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "actor": e.actor,
            "changes": changes,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: i64, kind: &str, data: Value) -> EventRecord {
        EventRecord {
            org_id: Uuid::nil(),
            board_id: Uuid::nil(),
            epoch: 1,
            seq,
            op_id: Uuid::now_v7(),
            kind: kind.into(),
            data: data.into(),
            actor: json!({"kind": "user", "id": Uuid::nil(), "name": "Ann"}).into(),
            at: chrono::Utc::now(),
            ip: None,
        }
    }

    #[test]
    fn each_entry_holds_the_value_before_and_after() {
        let todo = Uuid::now_v7();
        let done = Uuid::now_v7();
        let cols = HashMap::from([(todo, "Todo".to_string()), (done, "Done".to_string())]);
        let card = |title: &str, col: Uuid| json!({"card": {"id": "c", "title": title, "column_id": col, "labels": []}});
        let out = replay(
            &[
                ev(1, "card.created", card("A", todo)),
                ev(2, "card.updated", card("B", todo)),
                ev(3, "card.moved", card("B", done)),
            ],
            &cols,
        );
        assert_eq!(
            out[1]["changes"],
            json!([{"field": "title", "old": "A", "new": "B"}])
        );
        assert_eq!(
            out[2]["changes"],
            json!([{"field": "column", "old": "Todo", "new": "Done"}])
        );
    }
}
