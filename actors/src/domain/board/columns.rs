//! The column ops: what each one checks and the event it produces.

use super::fields::{color, text};
use super::{Asker, BoardState, Placement, Plan, Planned};
use crate::domain::ctx::ApplyCtx;
use crate::domain::error::OpError;
use boardroom_protocol::event::{ColumnData, ColumnDeleted};
use boardroom_protocol::op::{ColumnCreate, ColumnDelete, ColumnMove, ColumnUpdate};
use boardroom_protocol::{Column, EventBody};

impl BoardState {
    pub(super) fn column_create(&self, by: &Asker, d: &ColumnCreate, ctx: &ApplyCtx) -> Planned {
        self.authorize(by, None)?;
        let name = text("name", &d.name, ctx.limits.column_name_max)?;
        let id = self.new_column_id(d.column_id, ctx)?;
        if self.columns.len() >= ctx.limits.columns_max {
            return Err(OpError::Conflict(format!(
                "a board holds at most {} columns",
                ctx.limits.columns_max
            )));
        }
        let position = self.column_position(Placement::of_optional(d.after), None)?;
        Ok(Plan::quiet(EventBody::ColumnCreated(ColumnData {
            column: Column {
                id,
                name,
                position,
                is_done: d.is_done.unwrap_or(false),
                color: d.color.as_deref().map(color).transpose()?,
            },
        })))
    }

    pub(super) fn column_update(&self, by: &Asker, d: &ColumnUpdate, ctx: &ApplyCtx) -> Planned {
        self.authorize(by, None)?;
        let mut column = self.target_column(d.column_id)?.clone();
        if d.name.is_none() && d.is_done.is_none() && d.color.is_none() {
            return Err(OpError::bad(
                "name",
                "column.update needs at least one of name, is_done, color",
            ));
        }
        if let Some(c) = &d.color {
            column.color = c.as_deref().map(color).transpose()?;
        }
        if let Some(name) = &d.name {
            column.name = text("name", name, ctx.limits.column_name_max)?;
        }
        if let Some(done) = d.is_done {
            column.is_done = done;
        }
        Ok(Plan::quiet(EventBody::ColumnUpdated(ColumnData { column })))
    }

    pub(super) fn column_move(&self, by: &Asker, d: &ColumnMove) -> Planned {
        self.authorize(by, None)?;
        let mut column = self.target_column(d.column_id)?.clone();
        column.position =
            self.column_position(Placement::of_required(d.after), Some(d.column_id))?;
        Ok(Plan::quiet(EventBody::ColumnMoved(ColumnData { column })))
    }

    pub(super) fn column_delete(&self, by: &Asker, d: &ColumnDelete) -> Planned {
        self.authorize(by, None)?;
        self.target_column(d.column_id)?;
        let live = self.cards_in(d.column_id).len();
        if live > 0 {
            return Err(OpError::Conflict(format!(
                "column {} still holds {live} card(s); move or archive them first",
                d.column_id
            )));
        }
        Ok(Plan::quiet(EventBody::ColumnDeleted(ColumnDeleted {
            column_id: d.column_id,
        })))
    }
}
