//! Each op: what it does, and who may do it (owner, admin, member, worker assigned or not,
//! customer, share link, API keys with and without board scope, other orgs). One file per
//! kind of op; the op builders they share are here.

mod cards;
mod checklist_comments;
mod columns;
mod permissions;
mod replay;

use super::*;
use boardroom_protocol::{ErrorCode, NotificationKind, Ref};

fn code(e: &OpError) -> ErrorCode {
    e.code()
}

fn col_create(name: &str) -> Op {
    Op::ColumnCreate(ColumnCreate {
        name: name.into(),
        after: None,
        is_done: None,
        column_id: None,
        color: None,
    })
}

fn update(card: Uuid) -> CardUpdate {
    CardUpdate {
        card_id: card,
        ..CardUpdate::default()
    }
}

fn mv(card: Uuid, column: Uuid, after: Option<Uuid>) -> Op {
    Op::CardMove(CardMove {
        card_id: card,
        column_id: column,
        after,
    })
}

fn comment(card: Uuid, body: &str, mentions: Vec<Uuid>) -> Op {
    Op::CommentAdd(CommentAdd {
        card_id: card,
        body: body.into(),
        mentions,
    })
}

fn toggle(card: Uuid, item: Uuid, done: bool) -> Op {
    Op::ChecklistToggle(ChecklistToggle {
        card_id: card,
        item_id: item,
        done,
    })
}

fn assign(card: Uuid, assignees: Vec<Uuid>) -> Op {
    Op::CardAssign(CardAssign {
        card_id: card,
        assignees,
    })
}

fn item_add(card: Uuid, title: &str, item: Option<Uuid>) -> Op {
    Op::ChecklistAdd(ChecklistAdd {
        card_id: card,
        title: title.into(),
        item_id: item,
    })
}

fn item_remove(card: Uuid, item: Uuid) -> Op {
    Op::ChecklistRemove(ChecklistRemove {
        card_id: card,
        item_id: item,
    })
}

fn column_names(fx: &Fx) -> Vec<String> {
    fx.board.columns().iter().map(|c| c.name.clone()).collect()
}

fn card_titles(fx: &Fx, column: Uuid) -> Vec<String> {
    fx.board
        .cards_in(column)
        .iter()
        .map(|c| c.title.clone())
        .collect()
}
