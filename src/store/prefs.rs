//! Notification preferences of one org membership (issue 13.4): what a member does not want
//! to hear about. Stored as what is muted, so that a kind added later is on by default.

use boardroom_protocol::NotificationKind;
use chrono::{DateTime, Utc};
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationPrefs {
    pub muted_kinds: Vec<NotificationKind>,
    pub muted_boards: Vec<Uuid>,
    /// When they were last set; `None` = never (everything on).
    pub updated_at: Option<DateTime<Utc>>,
}
