//! Marking notifications read, from a socket's `notifications.read` frame or `POST
//! /api/v1/notifications/read`; and whose notifications a sender may list.

use super::{Commands, Sender};
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use boardroom_actors::policy::{decide, Action, Decision, Resource};
use uuid::Uuid;

impl Commands {
    /// The user whose notifications these are. The policy answers who has notifications
    /// (users; a key is forbidden; a share link, which sees one card and nothing else, is not
    /// found).
    pub fn notification_owner(&self, who: Sender<'_>) -> ApiResult<Uuid> {
        let forbidden = || ApiError::forbidden("only users have notifications");
        match who {
            Sender::Request(Caller::User { user_id }) => Ok(*user_id),
            Sender::Request(Caller::ApiKey(_)) => Err(forbidden()),
            Sender::Session(s) => {
                let p = &s.principal;
                let own_org = Resource::Org { org_id: p.org_id };
                match (decide(p, Action::ReadNotifications, &own_org), p.user_id()) {
                    (Decision::Allow, Some(user)) => Ok(user),
                    (Decision::NotFound, _) => Err(ApiError::not_found("notifications")),
                    _ => Err(forbidden()),
                }
            }
        }
    }

    /// Marks `ids` (or, with `None`, all) of the sender's notifications read; answers how many
    /// are still unread.
    pub async fn mark_read(&self, who: Sender<'_>, ids: Option<&[Uuid]>) -> ApiResult<u64> {
        let user = self.notification_owner(who)?;
        let max = self.max_notification_ids;
        if ids.is_some_and(|ids| ids.len() > max) {
            return Err(ApiError::bad_field(
                "ids",
                format!("at most {max} ids per request (limits.max_notification_ids)"),
            ));
        }
        let unread = self.store.mark_read(user, ids, chrono::Utc::now()).await?;
        Ok(unread.max(0) as u64)
    }
}
