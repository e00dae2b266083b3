//! `/api/v1/orgs/{org}/me/notification-preferences` (issue 13.4): which notification kinds a
//! member wants in this org, and which boards they muted. A muted notification is not created
//! at all (so it is neither pushed nor counted as unread); notifications created before a
//! change stay as they are.

use super::access::{boards_of_org, org_principal};
use super::extract::{Acting, Body};
use super::params::Path;
use crate::app::AppState;
use crate::auth::session::Caller;
use crate::error::{ApiError, ApiResult};
use crate::store::NotificationPrefs;
use axum::Json;
use boardroom_actors::policy::Action;
use boardroom_protocol::NotificationKind;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

/// Every kind a member can choose; a kind added to the protocol is added here.
const ALL_KINDS: [NotificationKind; 3] = [
    NotificationKind::CardAssigned,
    NotificationKind::Mention,
    NotificationKind::JobStatus,
];

/// Most boards one member may mute (an org has far fewer boards than this in practice).
const MAX_MUTED_BOARDS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutPrefs {
    /// The kinds wanted; the others are muted.
    kinds: Vec<NotificationKind>,
    muted_boards: Vec<Uuid>,
}

fn prefs_json(p: &NotificationPrefs) -> Value {
    let kinds: Vec<&str> = ALL_KINDS
        .iter()
        .filter(|k| !p.muted_kinds.contains(k))
        .map(|k| k.as_str())
        .collect();
    json!({
        "kinds": kinds,
        "available_kinds": ALL_KINDS.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        "muted_boards": p.muted_boards,
        "updated_at": p.updated_at,
    })
}

/// The calling user, a member of `org_id` who may have notifications there.
async fn member(state: &AppState, caller: &Caller, org_id: Uuid) -> ApiResult<Uuid> {
    let what = "have notification preferences (users only)";
    org_principal(state, caller, org_id, Action::ReadNotifications, what).await?;
    match caller {
        Caller::User { user_id } => Ok(*user_id),
        Caller::ApiKey(_) => Err(ApiError::forbidden("only users have notifications")),
    }
}

pub async fn get(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let user = member(&state, &caller, org_id).await?;
    let prefs = state.store.notification_prefs(org_id, user).await?;
    Ok(Json(prefs_json(&prefs)))
}

pub async fn put(
    Acting { state, caller, .. }: Acting,
    Path(org_id): Path<Uuid>,
    Body(body): Body<PutPrefs>,
) -> ApiResult<Json<Value>> {
    let user = member(&state, &caller, org_id).await?;
    let mut boards = body.muted_boards;
    boards.sort();
    boards.dedup();
    if boards.len() > MAX_MUTED_BOARDS {
        return Err(ApiError::bad_field(
            "muted_boards",
            format!("at most {MAX_MUTED_BOARDS} boards"),
        ));
    }
    boards_of_org(&state, org_id, "muted_boards", &boards).await?;
    let prefs = NotificationPrefs {
        muted_kinds: ALL_KINDS
            .into_iter()
            .filter(|k| !body.kinds.contains(k))
            .collect(),
        muted_boards: boards,
        updated_at: None,
    };
    let saved = state
        .store
        .set_notification_prefs(org_id, user, &prefs)
        .await?;
    // The org's live boards (on every node) reload what is muted before their next op.
    state.rt.directory_changed(org_id);
    tracing::info!(%org_id, user_id = %user, "notification preferences changed");
    Ok(Json(prefs_json(&saved)))
}
