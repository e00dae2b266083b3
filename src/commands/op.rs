//! An op on a board, from a socket's `op` frame or `POST /boards/{id}/ops`.

use super::{Commands, Sender};
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use boardroom_actors::live::board::{BoardMsg, OpReply};
use boardroom_actors::policy::Principal;
use boardroom_protocol::{ErrorCode, Op};
use std::net::IpAddr;
use std::sync::Arc;
use uuid::Uuid;

pub struct OpCommand {
    pub board_id: Uuid,
    pub op_id: Uuid,
    pub op: Op,
    /// The client's address, kept with the op's events for the audit log.
    pub ip: Option<IpAddr>,
}

impl Commands {
    /// Charges, resolves and authorizes the op, then hands it to its board. Every outcome is
    /// answered through `reply`, refusals made here included, so both transports render the
    /// very same answers. `Err(code)` says the op was refused before it reached the board
    /// (a socket counts `rate_limited` refusals to close a client that ignores them).
    pub async fn op(
        &self,
        who: Sender<'_>,
        cmd: OpCommand,
        reply: OpReply,
    ) -> Result<(), ErrorCode> {
        match self.admit_op(who, cmd.board_id).await {
            Ok((principal, name)) => {
                let msg = BoardMsg::Op {
                    principal: Arc::new(principal),
                    name,
                    op_id: cmd.op_id,
                    op: cmd.op,
                    reply,
                    ip: cmd.ip,
                };
                // Always answered, even when the actor stops before it gets to it, or when
                // another node owns the board (it answers through this one).
                self.boards.send(cmd.board_id, msg).await;
                Ok(())
            }
            Err(e) => {
                let code = e.code;
                reply.err(e.into_reply(None));
                Err(code)
            }
        }
    }

    /// Who may send this op to this board, in which name. The budgets are spent before
    /// anything is looked up, so a flood costs as little as possible; refused ops count too.
    async fn admit_op(&self, who: Sender<'_>, board_id: Uuid) -> ApiResult<(Principal, String)> {
        let budgets = &self.credentials.budgets;
        budgets.op(who.budget_key())?;
        // An API key's request budget: an HTTP request spent it when it was authenticated;
        // a socket's op is a request of its own.
        if let (Sender::Session(_), Some(Caller::ApiKey(key))) = (who, who.caller()) {
            budgets.key_request(key.id)?;
        }
        // The org of a running board is known without asking the database: the op path must
        // not wait on it (a slow database is answered by the journal's back-pressure).
        let org_id = match self.boards.org_of(board_id) {
            Some(org) => org,
            None => match self.store.get_board(board_id).await? {
                Some(b) if !b.archived => b.org_id,
                _ => return Err(ApiError::not_found("board")),
            },
        };
        let principal = who
            .principal_in(&self.credentials, org_id)
            .await
            .map_err(|e| e.hide_as("board"))?;
        let name = who.name(&self.credentials).await?;
        Ok((principal, name))
    }
}
