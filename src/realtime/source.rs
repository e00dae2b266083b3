//! The store as the board actors read it (`BoardSource`): rows turned into the protocol's
//! objects, which are also the domain's state.

use super::convert;
use crate::store::DynStore;
use async_trait::async_trait;
use boardroom_actors::domain::OrgDirectory;
use boardroom_actors::live::ports::{
    BoardHeader, BoardSource, NotificationMutes, OrgPeople, PortError, RecentOp,
};
use boardroom_protocol::{BoardSnapshot, EventFrame};
use uuid::Uuid;

pub struct StoreSource(pub DynStore);

fn clamp(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait]
impl BoardSource for StoreSource {
    async fn board_header(&self, board_id: Uuid) -> Result<Option<BoardHeader>, PortError> {
        let board = self.0.get_board(board_id).await.map_err(PortError::new)?;
        Ok(board.map(|b| BoardHeader {
            org_id: b.org_id,
            archived: b.archived,
        }))
    }

    async fn load_board(&self, board_id: Uuid) -> Result<Option<BoardSnapshot>, PortError> {
        let Some(board) = self.0.get_board(board_id).await.map_err(PortError::new)? else {
            return Ok(None);
        };
        let cards = self.0.list_cards(board_id).await.map_err(PortError::new)?;
        Ok(Some(convert::snapshot(&board, &cards)))
    }

    /// The org's active members (with roles) and customers, as the domain checks
    /// assignments, mentions and customers against them.
    async fn people(&self, org_id: Uuid) -> Result<OrgPeople, PortError> {
        let mut directory = OrgDirectory::default();
        let members = self.0.list_members(org_id).await.map_err(PortError::new)?;
        for m in members.into_iter().filter(|m| m.active) {
            directory = directory.with_member(m.id, m.role);
        }
        let customer_rows = self
            .0
            .list_customers(org_id)
            .await
            .map_err(PortError::new)?;
        for c in &customer_rows {
            directory = match c.user_id {
                Some(u) if directory.members.contains_key(&u) => {
                    directory.with_customer_user(u, c.id)
                }
                _ => directory.with_customer(c.id),
            };
        }
        let customers = customer_rows
            .into_iter()
            .map(|c| (c.id, c.user_id))
            .collect();
        // Loaded with the directory, so the same `DirectoryChanged` reloads both.
        let mutes = self
            .0
            .org_notification_prefs(org_id)
            .await
            .map_err(PortError::new)?
            .into_iter()
            .map(|(user, p)| {
                let m = NotificationMutes {
                    kinds: p.muted_kinds,
                    boards: p.muted_boards,
                };
                (user, m)
            })
            .collect();
        Ok(OrgPeople {
            directory,
            customers,
            mutes,
        })
    }

    async fn recent_ops(&self, board_id: Uuid, limit: usize) -> Result<Vec<RecentOp>, PortError> {
        let ops = self
            .0
            .recent_applied_ops(board_id, clamp(limit))
            .await
            .map_err(PortError::new)?;
        Ok(ops
            .into_iter()
            .map(|o| RecentOp {
                op_id: o.op_id,
                principal_id: o.principal_id,
                seq: o.seq.max(0) as u64,
                result_id: o.result_id,
            })
            .collect())
    }

    async fn applied_op(&self, board_id: Uuid, op_id: Uuid) -> Result<Option<RecentOp>, PortError> {
        let op = self
            .0
            .applied_op(board_id, op_id)
            .await
            .map_err(PortError::new)?;
        Ok(op.map(|o| RecentOp {
            op_id: o.op_id,
            principal_id: o.principal_id,
            seq: o.seq.max(0) as u64,
            result_id: o.result_id,
        }))
    }

    async fn unread_count(&self, user_id: Uuid) -> Result<u64, PortError> {
        let n = self.0.unread_count(user_id).await.map_err(PortError::new)?;
        Ok(n.max(0) as u64)
    }

    async fn events_after(
        &self,
        board_id: Uuid,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<EventFrame>, PortError> {
        let rows = self
            .0
            .events_after(board_id, clamp(after_seq as usize), clamp(limit))
            .await
            .map_err(PortError::new)?;
        rows.iter()
            .map(|r| {
                convert::event_frame(r)
                    .ok_or_else(|| PortError(format!("unreadable event {} in the log", r.seq)))
            })
            .collect()
    }
}
