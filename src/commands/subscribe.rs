//! A subscription to an organization, board or card topic, from a socket's `subscribe` frame
//! or an SSE stream (`GET /api/v1/stream`, board and card topics only).

use super::Commands;
use crate::auth::session::SessionAuth;
use crate::error::{ApiError, ApiResult};
use boardroom_actors::live::board::{BoardMsg, Owed, SubscribeReq};
use boardroom_actors::live::conn::ConnHandle;
use boardroom_actors::policy::{decide, Action, Decision, Principal, Resource};
use boardroom_protocol::{ErrorCode, Ref, Since, Topic};
use std::sync::Arc;
use uuid::Uuid;

/// What became of a subscribe that was not refused outright.
pub enum Subscription {
    /// Handed to the board: its answer (`ok` with the snapshot or `recovered`, or an `error`)
    /// comes on the connection, with the request's `ref`.
    Board(Uuid),
    /// The board could not take it (restarting, unavailable): the refusal was already sent on
    /// the connection.
    NotTaken,
    /// Who is online in an organization: the transport subscribes its connection to the hub
    /// with this principal as the view.
    Org(Principal),
}

impl Commands {
    /// Resolves the topic (board or card -> board -> org), authorizes the session there and
    /// hands a board or card subscription to its board. A `user:` topic is the session's
    /// own, subscribed when it starts, so it answers `not_found` here.
    pub async fn subscribe(
        &self,
        who: &SessionAuth,
        topic: Topic,
        since: Option<Since>,
        conn: &Arc<ConnHandle>,
        r#ref: Option<Ref>,
    ) -> ApiResult<Subscription> {
        let (org_id, board_id) = match topic {
            Topic::User(_) => return Err(ApiError::not_found("topic")),
            Topic::Org(org_id) => {
                let principal = who.principal_in(&self.credentials, org_id).await?;
                // Who is online is the org's people: not for customers (forbidden) nor share
                // links (not found), as the policy decides.
                return match decide(
                    &principal,
                    Action::ReadOrgPresence,
                    &Resource::Org { org_id },
                ) {
                    Decision::Allow => Ok(Subscription::Org(principal)),
                    Decision::Forbidden => Err(ApiError::forbidden(
                        "customers do not see who is online in the organization",
                    )),
                    Decision::NotFound => Err(ApiError::new(ErrorCode::NotFound, "not found")),
                };
            }
            Topic::Board(id) => match self.store.get_board(id).await? {
                Some(b) if !b.archived => (b.org_id, b.id),
                _ => return Err(ApiError::not_found("topic")),
            },
            Topic::Card(id) => match self.store.card_location(id).await? {
                Some(l) => (l.org_id, l.board_id),
                None => return Err(ApiError::not_found("topic")),
            },
        };
        let principal = who
            .principal_in(&self.credentials, org_id)
            .await
            .map_err(|e| e.hide_as("topic"))?;
        let req = SubscribeReq {
            conn: conn.clone(),
            view: Arc::new(principal),
            name: who.info.name.clone(),
            topic,
            answer: Owed::new(conn.clone(), r#ref),
            since,
            remote: None,
        };
        // Always answered: an `error` when the board cannot take it.
        Ok(
            if self
                .boards
                .send(board_id, BoardMsg::Subscribe(Box::new(req)))
                .await
            {
                Subscription::Board(board_id)
            } else {
                Subscription::NotTaken
            },
        )
    }
}
