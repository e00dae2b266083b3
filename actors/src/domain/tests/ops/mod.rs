//! Each op: what it does, and who may do it (owner, admin, member, worker assigned or not,
//! customer, share link, API keys with and without board scope, other orgs). One file per
//! kind of op; the op builders they share with the view tests are in the parent module.

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
